/**
 * Rollback target selection on any platform's rollback points. Pure. A deployment's own automatic
 * rollback restores the point its preflight captured; an operator's or an alarm's goes to the last
 * known-good release (never one the guardian rolled back), or to a named revision.
 */
import { deadlineAt } from './context.ts';
import {
  InvalidInputError,
  LockHeldError,
  NotFoundError,
  NothingToRollBackError,
  RolledBackReleaseError,
} from './errors.ts';
import { blocks } from './lock.ts';
import { releaseLabel } from './naming.ts';
import type {
  DeploymentRecord,
  ExecutionRef,
  LockInfo,
  RecordStatus,
  RollbackContext,
  RollbackInput,
} from './types.ts';
import { describePoint, type RollbackPoint, rollbackPointSchema } from './workload.ts';

/** How many records (newest first) a rollback reads to find the last known-good release. */
export const ROLLBACK_RECORDS_READ = 100;

/** `1 (v1.0.0), 3 (v7.0.0)`, oldest first; `none`. */
function revisionList(history: readonly RollbackPoint[]): string {
  return history.length === 0
    ? 'none'
    : [...history]
        .sort((a, b) => a.revision - b.revision)
        .map((p) => `${p.revision} (${releaseLabel(p.image)})`)
        .join(', ');
}

/** How an operator names a revision instead, with the revisions there are. */
function nameARevision(environment: string, history: readonly RollbackPoint[]): string {
  return `name the revision to restore: guardian rollback --env ${environment} --revision N (revisions: ${revisionList(history)})`;
}

/** `v7.0.0` (the record's version, else the image's tag or digest). */
function labelOf(record: DeploymentRecord): string {
  return releaseLabel(record.image, record.version);
}

/** The first line of `text`, at most `max` characters. */
function brief(text: string | undefined, max = 100): string {
  const line = (text ?? '').split('\n')[0]?.trim() ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** The rollback point a record carries, if it has a usable one. */
function pointOn(record: DeploymentRecord): RollbackPoint | undefined {
  const parsed = rollbackPointSchema.safeParse((record as { rollbackPoint?: unknown }).rollbackPoint);
  return parsed.success ? parsed.data : undefined;
}

const FINISHED_DEPLOY: readonly RecordStatus[] = ['succeeded', 'rolled-back', 'rollback-failed'];

/**
 * Whether a record changed the workload. Every rollback and every deploy that got as far as an
 * outcome did; a deploy that failed or never finished did only if the workload got a revision
 * running its image after the point it captured (its set-image reached the workload).
 */
export function reachedWorkload(record: DeploymentRecord, history: readonly RollbackPoint[]): boolean {
  if (record.kind === 'rollback' || FINISHED_DEPLOY.includes(record.status)) return true;
  const before = pointOn(record);
  if (before?.image === record.image) return false;
  return history.some((p) => p.image === record.image && p.revision > (before?.revision ?? -1));
}

/**
 * Releases the guardian rolled back, by image (the newest such deployment): a deployment rolled
 * back or whose rollback failed, or one that failed after it changed the workload. Once rolled
 * back, an image stays so for rollbacks even if it is deployed again later: only `--force`
 * restores it (deploying it is still allowed).
 */
export function rolledBackReleases(
  records: readonly DeploymentRecord[],
  history: readonly RollbackPoint[],
): Map<string, DeploymentRecord> {
  const bad = new Map<string, DeploymentRecord>();
  for (const r of records) {
    if (r.kind !== 'deploy' || bad.has(r.image)) continue;
    const rolledBack = r.status === 'rolled-back' || r.status === 'rollback-failed';
    const failedMidway = (r.status === 'failed' || r.status === 'in-progress') && reachedWorkload(r, history);
    if (rolledBack || failedMidway) bad.set(r.image, r);
  }
  return bad;
}

/**
 * The release the workload runs because the guardian deployed it, if nothing changed the
 * workload since: the newest record that reached the workload is a succeeded deployment of the
 * image it runs now. An operator's or alarm's rollback undoes this release.
 */
export function liveRelease(
  records: readonly DeploymentRecord[],
  history: readonly RollbackPoint[],
  currentImage: string,
): DeploymentRecord | undefined {
  const latest = records.find((r) => reachedWorkload(r, history));
  return latest?.kind === 'deploy' && latest.status === 'succeeded' && latest.image === currentImage
    ? latest
    : undefined;
}

/** Why `record`'s release counts as rolled back, e.g. `the guardian rolled back as bad (deployment …)`. */
function rolledBackPhrase(record: DeploymentRecord, records: readonly DeploymentRecord[]): string {
  if (record.status === 'rollback-failed') {
    return `failed in deployment ${record.id} and could not be rolled back automatically`;
  }
  if (record.status !== 'rolled-back') {
    const why = brief(record.reason);
    return `failed in deployment ${record.id} after it changed the workload${why ? ` (${why})` : ''}`;
  }
  const by = records.find((r) => r.id === record.rolledBackBy);
  const operator = by?.trigger === 'operator';
  const why = operator ? `an operator rollback by ${by.requestedBy}` : brief(by?.reason);
  return `the guardian rolled back${operator ? '' : ' as bad'} (deployment ${record.id}, rolled back by ${record.rolledBackBy ?? 'an earlier rollback'}${why ? `: ${why}` : ''})`;
}

/** What chooseRollbackTarget decides from. Plain data: the handler reads it, this decides. */
export interface RollbackChoiceFacts {
  readonly environment: string;
  /** The workload as an operator names it. */
  readonly workload: string;
  /** The environment's records, newest first (`ROLLBACK_RECORDS_READ` of them). */
  readonly records: readonly DeploymentRecord[];
  /** The workload's restorable points (`rollout history`), in any order. */
  readonly history: readonly RollbackPoint[];
  /** What the workload runs now. */
  readonly current: Pick<RollbackPoint, 'revision' | 'image'>;
  /** `--revision N`. */
  readonly requested?: number;
  /** `--force`: restore the named revision even if the guardian rolled its release back. */
  readonly force?: boolean;
  /** The deployment the request names (an alarm's release), which this rollback undoes. */
  readonly undoing?: DeploymentRecord;
}

/** Where a rollback goes, what it undoes, and the sentence that says so. */
export interface RollbackChoice {
  /** The state to restore. */
  readonly to: RollbackPoint;
  /** The deployment this rollback undoes (recorded as rolled back by it), if it undoes one. */
  readonly undoes?: DeploymentRecord;
  /** What is restored and why, as the operator reads it before anything changes. */
  readonly sentence: string;
}

/** The newest restorable point running `image`: the workload's history first, else a point a record captured. */
function restorable(
  image: string,
  history: readonly RollbackPoint[],
  records: readonly DeploymentRecord[],
): { readonly point: RollbackPoint; readonly capturedBy?: DeploymentRecord } | undefined {
  let newest: RollbackPoint | undefined;
  for (const p of history) {
    if (p.image === image && (newest === undefined || p.revision > newest.revision)) newest = p;
  }
  if (newest) return { point: newest };
  for (const r of records) {
    const p = pointOn(r);
    if (p?.image === image) return { point: p, capturedBy: r };
  }
  return undefined;
}

/**
 * Where an operator's or an alarm's rollback goes (a deployment's own automatic rollback restores
 * the point its preflight captured instead: see `capturedPoint`). Pure.
 *
 * Without `requested`: the last known-good release, as the runbook's `rollback.sh quick` does —
 * the newest deployment that succeeded and was not rolled back, whose image the guardian never
 * rolled back, restored from the newest revision running that image (or, once the workload's
 * history has pruned it, from a point a record captured). Never a release the guardian rolled
 * back: a plain rollback does not toggle like `kubectl rollout undo`. The release the workload
 * runs now is what the rollback undoes, if the guardian deployed it and nothing changed the
 * workload since (or the one `undoing` names); when no earlier known-good release is recorded,
 * the state captured before that release is restored. Refused (NothingToRollBackError) when the
 * workload already runs the last known-good release, when none is recorded, and when it can no
 * longer be restored.
 *
 * With `requested`: that revision (NotFoundError if it does not exist); a release the guardian
 * rolled back only with `force` (RolledBackReleaseError otherwise), and the sentence says so. It
 * marks no release undone unless the request names one (`undoing`): the release it moves away
 * from is not judged, so a later plain rollback can return to it.
 */
export function chooseRollbackTarget(f: RollbackChoiceFacts): RollbackChoice {
  const bad = rolledBackReleases(f.records, f.history);
  const live = f.undoing ?? liveRelease(f.records, f.history, f.current.image);
  if (f.requested !== undefined) return namedRevision(f, f.requested, bad);
  return lastKnownGood(f, bad, live);
}

function lastKnownGood(
  f: RollbackChoiceFacts,
  bad: ReadonlyMap<string, DeploymentRecord>,
  live: DeploymentRecord | undefined,
): RollbackChoice {
  const { environment, records, history, current } = f;
  if (f.force) {
    throw new InvalidInputError(
      `--force only goes with --revision N (it restores a named revision the guardian rolled back); without --revision a rollback goes to the last known-good release`,
    );
  }
  const undoing = live ? `; this undoes deployment ${live.id} (${labelOf(live)})` : '';
  const known = records.find(
    (r) => r.kind === 'deploy' && r.status === 'succeeded' && !bad.has(r.image) && r.image !== live?.image,
  );
  if (!known) {
    const before = live && pointOn(live);
    if (live && before && !bad.has(before.image) && before.image !== live.image) {
      return {
        to: before,
        undoes: live,
        sentence: `restoring ${describePoint(before)}, the state captured before deployment ${live.id} (${labelOf(live)}) started: no earlier known-good release is recorded${undoing}`,
      };
    }
    throw new NothingToRollBackError(`${noKnownGood(f, live)}; ${nameARevision(environment, history)}`);
  }
  const when = known.finishedAt ?? known.startedAt;
  const knownText = `${labelOf(known)} (deployment ${known.id} succeeded${when ? ` at ${when}` : ''} and was not rolled back)`;
  if (known.image === current.image) {
    // Records are newest first: a rolled-back release listed before `known` came after it.
    const later = records
      .slice(0, records.indexOf(known))
      .find((r) => r.kind === 'deploy' && bad.get(r.image) === r);
    const after = later ? `; ${labelOf(later)} after it ${rolledBackPhrase(later, records)}` : '';
    throw new NothingToRollBackError(
      `${environment} is already on the last known-good release ${knownText}, revision ${current.revision}${after}: nothing to roll back to. To go further back, ${nameARevision(environment, history)}`,
    );
  }
  const found = restorable(known.image, history, records);
  if (!found) {
    throw new NothingToRollBackError(
      `the last known-good release of ${environment} is ${knownText}, but it can no longer be restored: no revision of ${f.workload} runs ${known.image} any more (the workload's history was pruned) and no record captured it. Deploy it again, or ${nameARevision(environment, history)}`,
    );
  }
  const from = found.capturedBy
    ? ` (from the state captured by ${found.capturedBy.kind} ${found.capturedBy.id}: its revision is gone from the workload's history)`
    : '';
  const runsNow =
    undoing ||
    (bad.has(current.image)
      ? `; ${environment} runs ${releaseLabel(current.image)} now, which ${rolledBackPhrase(bad.get(current.image) as DeploymentRecord, records)}`
      : `; ${environment} runs ${current.image} now`);
  return {
    to: found.point,
    ...(live && { undoes: live }),
    sentence: `restoring ${describePoint(found.point)}, the last known-good release ${knownText}${from}${runsNow}`,
  };
}

/** Why there is no known-good release to go to. */
function noKnownGood(f: RollbackChoiceFacts, live: DeploymentRecord | undefined): string {
  const succeeded = f.records.filter((r) => r.kind === 'deploy' && r.status === 'succeeded');
  const window = f.records.length >= ROLLBACK_RECORDS_READ ? ` in the last ${f.records.length} records` : '';
  if (succeeded.length === 0) {
    return `no successful deployment of ${f.environment} is recorded${window}, so there is no known-good release to roll back to`;
  }
  if (live && succeeded.every((r) => r.image === live.image)) {
    return `${f.environment} runs ${labelOf(live)} (deployment ${live.id}), the only known-good release recorded${window}, and no state before it can be restored: nothing earlier to roll back to`;
  }
  const excluded = [...new Set(succeeded.map(labelOf))].slice(0, 5).join(', ');
  return `no known-good release of ${f.environment} to roll back to${window}: every release that succeeded (${excluded}) was rolled back by the guardian later${live ? ' or is the one being undone' : ''}`;
}

function namedRevision(
  f: RollbackChoiceFacts,
  n: number,
  bad: ReadonlyMap<string, DeploymentRecord>,
): RollbackChoice {
  const { environment, workload, records, history, current } = f;
  if (n === current.revision) {
    throw new NothingToRollBackError(
      `revision ${n} is what ${workload} runs now (${current.image}): nothing to roll back to; ${nameARevision(environment, history)}`,
    );
  }
  const named = history.find((p) => p.revision === n);
  if (!named) {
    throw new NotFoundError(
      `revision ${n} of ${workload} not found; available revisions: ${revisionList(history)}`,
    );
  }
  const badRecord = bad.get(named.image);
  const what = describePoint(named);
  if (badRecord && !f.force) {
    throw new RolledBackReleaseError(
      `${what} is release ${labelOf(badRecord)}, which ${rolledBackPhrase(badRecord, records)}. A rollback restores it only when asked explicitly: guardian rollback --env ${environment} --revision ${n} --force (or deploy a fixed release)`,
    );
  }
  // Only a deployment the request names is marked undone: naming a revision (say, to look at an
  // old release) does not judge the release it moves away from, which stays the known-good one.
  const undoes = f.undoing && f.undoing.image !== named.image ? f.undoing : undefined;
  const undoing = undoes ? `; this undoes deployment ${undoes.id} (${labelOf(undoes)})` : '';
  let why: string;
  if (badRecord) {
    why = `, which ${rolledBackPhrase(badRecord, records)}, because --force`;
  } else {
    const release = records.find((r) => r.kind === 'deploy' && r.image === named.image);
    why = ` as --revision ${n} asks${release ? ` (release ${labelOf(release)}, deployment ${release.id} ${release.status})` : ''}${f.force ? '; --force was not needed: the guardian never rolled this release back' : ''}`;
  }
  return { to: named, ...(undoes && { undoes }), sentence: `restoring ${what}${why}${undoing}` };
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

/**
 * Whether this is a deployment's own automatic rollback: the Deploy execution that made `record`
 * started it and named no revision. It restores the point that deployment's preflight captured,
 * without reading history (the fast path after a failed deployment).
 */
export function isOwnRollback(
  input: Pick<RollbackInput, 'revision' | 'AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID'>,
  record: DeploymentRecord,
): boolean {
  return (
    input.revision === undefined &&
    input.AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID !== undefined &&
    input.AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID === record.executionArn
  );
}

/** A deployment's own rollback: the point its preflight captured, and the sentence that says so. */
export function ownRollbackChoice(record: DeploymentRecord): RollbackChoice {
  const to = capturedPoint(record);
  return {
    to,
    undoes: record,
    sentence: `restoring ${describePoint(to)}, the state captured before deployment ${record.id} (${labelOf(record)}) started`,
  };
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
  /** The deployment this rollback undoes, if any. */
  readonly undoes?: Pick<DeploymentRecord, 'id' | 'image'>;
  /** What is restored and why (the RollbackChoice's sentence). */
  readonly sentence?: string;
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
    ...(f.undoes !== undefined && { deploymentId: f.undoes.id, deploymentImage: f.undoes.image }),
    from: f.from,
    to: f.to,
    ...(f.sentence !== undefined && { plan: [f.sentence] }),
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
    ...(c.plan !== undefined && c.plan.length > 0 && { decision: c.plan.join('; ') }),
    ...(c.annotate !== undefined && { annotation: c.annotate }),
    startedAt: c.startedAt,
  };
}
