/**
 * Rollback target selection, like `kubectl rollout undo [--to-revision]`, on any platform's
 * rollback points. Pure. A deployment's rollback restores the point its preflight captured; an
 * operator's names a revision from the workload's history or takes the previous one.
 */
import { deadlineAt } from './context.ts';
import { InvalidInputError, LockHeldError, NotFoundError } from './errors.ts';
import { blocks } from './lock.ts';
import type { DeploymentRecord, ExecutionRef, LockInfo, RollbackContext, RollbackInput } from './types.ts';
import { type RollbackPoint, rollbackPointSchema } from './workload.ts';

function available(revisions: readonly RollbackPoint[]): string {
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
  revisions: readonly RollbackPoint[],
  currentRevision: number,
  requested?: number,
  workload = 'the workload',
): RollbackPoint {
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
  let best: RollbackPoint | undefined;
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
 * The rollback point a deployment's record captured. A record written before rollback points
 * existed (or by hand) has none: the operator names a revision instead.
 */
export function capturedPoint(record: DeploymentRecord): RollbackPoint {
  const parsed = rollbackPointSchema.safeParse((record as { rollbackPoint?: unknown }).rollbackPoint);
  if (!parsed.success) {
    throw new InvalidInputError(
      `deployment ${record.id} has no usable rollback point on its record (recorded by an older guardian?); roll back by naming a revision: guardian rollback --env ${record.environment} --revision N (see guardian history)`,
    );
  }
  return parsed.data;
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
 * Whether the restore still has to change the workload: it is not yet meant to run the target's
 * image. Compares images, not revision numbers: a revision number lags a desired state the
 * platform has not acted on yet (a paused Deployment, say).
 */
export function restoreNeeded(currentImage: string, target: RollbackPoint): boolean {
  return currentImage !== target.image;
}

/** What a rollback's context is built from. */
export interface RollbackFacts {
  readonly input: RollbackInput;
  readonly execution: ExecutionRef;
  readonly environment: string;
  /** The workload as an operator names it. */
  readonly workload: string;
  /** The state now (what the rollback moves away from). */
  readonly from: RollbackPoint;
  /** The state to restore. */
  readonly to: RollbackPoint;
  readonly deploymentId?: string;
  /** The operator-readable reason. */
  readonly reason: string;
  readonly lockHolder: string;
  readonly deadlineSeconds: number;
  readonly now: Date;
}

/** The rollback's context (`$.rollback`). */
export function rollbackContext(f: RollbackFacts): RollbackContext {
  const { input, execution, now } = f;
  return {
    environment: f.environment,
    workload: f.workload,
    expectedImage: f.to.image,
    rolloutDeadlineAt: deadlineAt(now, f.deadlineSeconds),
    rollbackId: execution.Name,
    executionArn: execution.Id,
    ...(f.deploymentId !== undefined && { deploymentId: f.deploymentId }),
    from: f.from,
    to: f.to,
    reason: f.reason,
    ...(input.annotate !== undefined && { annotate: input.annotate }),
    trigger: input.trigger,
    requestedBy: input.requestedBy,
    lockHolder: f.lockHolder,
    startedAt: now.toISOString(),
  };
}

/** The in-progress record of a rollback. */
export function rollbackRecord(c: RollbackContext): DeploymentRecord {
  return {
    environment: c.environment,
    id: c.rollbackId,
    kind: 'rollback',
    status: 'in-progress',
    executionArn: c.executionArn,
    trigger: c.trigger,
    requestedBy: c.requestedBy,
    image: c.to.image,
    rollbackPoint: c.from,
    ...(c.deploymentId !== undefined && { deploymentId: c.deploymentId }),
    reason: c.reason,
    ...(c.annotate !== undefined && { annotation: c.annotate }),
    startedAt: c.startedAt,
  };
}
