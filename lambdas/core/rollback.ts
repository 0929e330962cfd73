/**
 * Rollback target selection, like `kubectl rollout undo [--to-revision]`. Pure.
 * Revisions are a Deployment's ReplicaSets; an undo moves the chosen ReplicaSet to a new,
 * highest revision number, so a captured revision number can disappear after a rollback.
 */
import type { RevisionInfo, WorkloadState } from '../adapters/ports.ts';
import { InvalidInputError, LockHeldError, NotFoundError } from './errors.ts';
import { blocks } from './lock.ts';
import type { DeploymentRecord, LockInfo } from './types.ts';

function available(revisions: readonly RevisionInfo[]): string {
  return revisions.length === 0
    ? 'none'
    : [...revisions]
        .sort((a, b) => a.revision - b.revision)
        .map((r) => String(r.revision))
        .join(', ');
}

/**
 * The revision an operator's rollback goes to. Without `requested`: the newest revision older
 * than the current one (kubectl's default). With it: that revision, which must exist and must
 * not be the current one.
 */
export function selectRollbackTarget(
  revisions: readonly RevisionInfo[],
  currentRevision: number,
  requested?: number,
  workload = 'the Deployment',
): RevisionInfo {
  if (requested !== undefined) {
    if (requested === currentRevision) {
      throw new InvalidInputError(
        `revision ${requested} is the current revision of ${workload}; nothing to roll back (available revisions: ${available(revisions)})`,
      );
    }
    const named = revisions.find((r) => r.revision === requested);
    if (!named) {
      throw new NotFoundError(
        `revision ${requested} of ${workload} not found; available revisions: ${available(revisions)}`,
      );
    }
    return named;
  }
  let best: RevisionInfo | undefined;
  for (const r of revisions) {
    if (r.revision < currentRevision && (best === undefined || r.revision > best.revision)) best = r;
  }
  if (!best) {
    throw new NotFoundError(
      `no revision of ${workload} older than the current revision ${currentRevision} to roll back to (available revisions: ${available(revisions)})`,
    );
  }
  return best;
}

/**
 * The revision a failed deployment rolls back to: the `previousRevision` captured by preflight
 * if it still runs `previousImage` in `container`; otherwise (the number moved, e.g. after an
 * undo) the newest revision running `previousImage`. The result may be the current revision
 * when the deployment never changed anything; the apply step then has nothing to do.
 */
export function selectCapturedRevision(
  revisions: readonly RevisionInfo[],
  captured: { readonly previousRevision: number; readonly previousImage: string },
  container: string,
  workload = 'the Deployment',
): RevisionInfo {
  const exact = revisions.find(
    (r) => r.revision === captured.previousRevision && r.images[container] === captured.previousImage,
  );
  if (exact) return exact;
  let best: RevisionInfo | undefined;
  for (const r of revisions) {
    if (
      r.images[container] === captured.previousImage &&
      (best === undefined || r.revision > best.revision)
    ) {
      best = r;
    }
  }
  if (!best) {
    throw new NotFoundError(
      `cannot find the pre-deployment state of ${workload}: no revision runs ${captured.previousImage} in container "${container}" (captured revision ${captured.previousRevision}; available revisions: ${available(revisions)})`,
    );
  }
  return best;
}

/** How a rollback holds the environment lock. */
export type RollbackLockPlan =
  /** The deployment's own child: it keeps the deployment's lock (released when the rollback is recorded). */
  | { readonly kind: 'inherit'; readonly holder: string }
  /** Any other rollback takes the lock under its own id (the store refuses while someone else holds it). */
  | { readonly kind: 'acquire'; readonly holder: string };

/** What planRollback decides from. */
export interface RollbackRequest {
  /** This rollback's id (its execution name). */
  readonly rollbackId: string;
  /** The deployment the request names, as recorded (absent: a plain operator/alarm rollback). */
  readonly record?: DeploymentRecord;
  /** `AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID` of the Rollback execution, if a parent started it. */
  readonly startedBy?: string;
  /** The environment's lock as stored (possibly expired). */
  readonly lock?: LockInfo;
  readonly now: Date;
}

/**
 * Whether a rollback may run and how it holds the lock. Only the deployment's own child (started
 * by that Deploy execution) inherits its lock: any other rollback naming a deployment that still
 * holds the lock would race it (the deploy could record success and release the lock mid-undo).
 */
export function planRollback(req: RollbackRequest): RollbackLockPlan {
  const { record, lock, now, rollbackId } = req;
  if (!record) return { kind: 'acquire', holder: rollbackId };
  if (record.kind !== 'deploy') {
    throw new InvalidInputError(
      `${record.id} is a rollback, not a deployment; pass the id of the deployment to undo`,
    );
  }
  if (record.status === 'rolled-back') {
    throw new InvalidInputError(
      `deployment ${record.id} was already rolled back by ${record.rolledBackBy ?? 'an earlier rollback'}`,
    );
  }
  const heldByDeployment = lock !== undefined && lock.holder === record.id;
  if (req.startedBy !== undefined && req.startedBy === record.executionArn) {
    // Nobody took the deployment's lock over (an expired one too): the child keeps it.
    return heldByDeployment
      ? { kind: 'inherit', holder: record.id }
      : { kind: 'acquire', holder: rollbackId };
  }
  if (heldByDeployment && blocks(lock, rollbackId, now)) {
    throw new LockHeldError(
      `deployment ${record.id} is still running: it holds the ${lock.environment} lock (execution ${lock.executionArn}) until ${lock.expiresAt}. Stop that execution first (it rolls itself back when it fails), or wait for it to finish and then roll it back.`,
    );
  }
  return { kind: 'acquire', holder: rollbackId };
}

/**
 * Whether the undo still has to change the Deployment: its pod template does not yet run the
 * target revision's image in `container`. Compares images, not revision numbers: the revision
 * annotation lags the template while the controller has not acted (e.g. a paused Deployment).
 */
export function undoNeeded(workload: WorkloadState, container: string, targetImage: string): boolean {
  return workload.images[container] !== targetImage;
}
