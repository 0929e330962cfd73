/**
 * The pre-deployment database backup (issue 10; the runbook's `pre-deploy-backup.sh backup`,
 * `list` and `restore`): how a snapshot is named, when it is ready, which old ones retention
 * deletes and how a restore is planned. Pure: callers supply the clock and the snapshots.
 */
import { InvalidInputError } from './errors.ts';
import { quote } from './text.ts';

/** Prefix of every snapshot the guardian makes; retention never touches one without it. */
export const SNAPSHOT_PREFIX = 'guardian-';
/**
 * Longest identifier used for snapshots and restored databases: DB snapshots allow 255 characters,
 * but DB cluster snapshots and the instance/cluster a restore creates allow only 63.
 */
export const MAX_IDENTIFIER = 63;

/** Tags the guardian puts on every snapshot it makes. */
export const BACKUP_TAGS = {
  /** Marks the snapshot as the guardian's: retention deletes nothing without it. */
  managedBy: 'guardian:managed-by',
  /** The deployment (execution name) the snapshot was taken for. */
  deploymentId: 'guardian:deployment-id',
  environment: 'guardian:environment',
  version: 'guardian:version',
} as const;
/** Value of the `guardian:managed-by` tag. */
export const MANAGED_BY_VALUE = 'deployment-guardian';

/** A DB instance (RDS) or a DB cluster (Aurora): they have separate snapshot APIs. */
export type DatabaseKind = 'instance' | 'cluster';

/** One snapshot as the RDS adapter reports it. */
export interface SnapshotInfo {
  readonly id: string;
  readonly kind: DatabaseKind;
  /** The instance or cluster it was taken of. */
  readonly databaseIdentifier: string;
  /** RDS status: `creating`, `available`, `failed`, `incompatible-restore`, ... */
  readonly status: string;
  /** ISO time RDS took it; absent while RDS has not reported one yet. */
  readonly createdAt?: string | undefined;
  readonly tags: Readonly<Record<string, string>>;
}

/** The tags for a snapshot taken before `deploymentId` rolls out `version` to `environment`. */
export function snapshotTags(
  environment: string,
  version: string,
  deploymentId: string,
): Record<string, string> {
  return {
    [BACKUP_TAGS.managedBy]: MANAGED_BY_VALUE,
    [BACKUP_TAGS.deploymentId]: deploymentId,
    [BACKUP_TAGS.environment]: environment,
    [BACKUP_TAGS.version]: version,
  };
}

/** Lowercase letters, digits and single inner hyphens: what RDS identifiers allow. */
function sanitize(part: string): string {
  return part
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** FNV-1a, 8 hex digits: keeps two long names apart after they are cut to the same prefix. */
function shortHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** `part` in at most `max` characters; a cut part ends in a hash of the whole so it stays unique. */
function fitTo(part: string, max: number): string {
  if (part.length <= max) return part;
  const hash = shortHash(part);
  const head = part.slice(0, Math.max(0, max - hash.length - 1)).replace(/-+$/, '');
  return head ? `${head}-${hash}` : hash.slice(0, max);
}

/** `2026-12-03T12:03:33.456Z` as `20261203t120333z` (RDS stores identifiers lowercase). */
export function compactTimestamp(at: Date): string {
  if (Number.isNaN(at.getTime())) throw new InvalidInputError('the snapshot time is not a valid date');
  return `${at.toISOString().slice(0, 19).replace(/[-:]/g, '')}z`.toLowerCase();
}

/** Room for `<env>-<version>` between the prefix and `-<timestamp>` (16 characters). */
const NAME_ROOM = MAX_IDENTIFIER - SNAPSHOT_PREFIX.length - 1 - 16;

/**
 * `guardian-<environment>-<version>-<yyyymmddthhmmssz>`, e.g.
 * `guardian-production-v7-1-0-20261203t120333z`: valid as a DB snapshot and a DB cluster snapshot
 * identifier for any input (letters, digits, single hyphens, a letter first, no trailing hyphen,
 * at most 63 characters). Deterministic and unique per second; two versions that differ only in
 * punctuation (`1.2.3`, `1-2-3`) get the same name, which is harmless because the environment lock
 * lets only one deployment per environment take a backup at a time. Long parts are cut and end in
 * a hash of the whole part.
 */
export function snapshotIdentifier(environment: string, version: string, at: Date): string {
  const env = sanitize(environment) || 'env';
  const ver = sanitize(version) || 'release';
  // A long version still leaves the environment half the room; a short one lets it use the rest.
  const envPart = fitTo(
    env,
    Math.min(env.length, Math.max(Math.floor(NAME_ROOM / 2), NAME_ROOM - ver.length - 1)),
  );
  const verPart = fitTo(ver, NAME_ROOM - envPart.length - 1);
  return `${SNAPSHOT_PREFIX}${envPart}-${verPart}-${compactTimestamp(at)}`;
}

/**
 * An IAM resource-name pattern every snapshot {@link snapshotIdentifier} names for `environment`
 * matches: `guardian-<environment>-*` while the environment's name always fits whole (up to half
 * the room), else `guardian-*` (a long name may be cut to fit a long version).
 */
export function snapshotNamePattern(environment: string): string {
  const env = sanitize(environment) || 'env';
  return env.length <= Math.floor(NAME_ROOM / 2) ? `${SNAPSHOT_PREFIX}${env}-*` : `${SNAPSHOT_PREFIX}*`;
}

/** Whether `id` satisfies RDS's identifier rules, up to `max` characters. */
export function isValidRdsIdentifier(id: string, max = MAX_IDENTIFIER): boolean {
  return (
    id.length >= 1 && id.length <= max && /^[a-zA-Z](?:[a-zA-Z0-9]|-(?!-))*$/.test(id) && !id.endsWith('-')
  );
}

/** Whether the guardian made `snapshot`: its name prefix and its managed-by tag. */
export function isGuardianSnapshot(snapshot: SnapshotInfo): boolean {
  return snapshot.id.startsWith(SNAPSHOT_PREFIX) && snapshot.tags[BACKUP_TAGS.managedBy] === MANAGED_BY_VALUE;
}

/** How many snapshots to keep (config `backup.retention`). */
export interface RetentionPolicy {
  /** The newest this many guardian snapshots are always kept. */
  readonly keepLast: number;
  /** Older than this many days, a snapshot outside the newest `keepLast` is deleted. */
  readonly maxAgeDays: number;
}

/** Why retention keeps or deletes a snapshot. */
export type RetentionReason =
  | 'not-guardian'
  | 'not-available'
  | 'protected'
  | 'newest'
  | 'recent'
  | 'unknown-age'
  | 'expired';

/** Retention's verdict on one snapshot. */
export interface RetentionDecision {
  readonly id: string;
  readonly action: 'keep' | 'delete';
  readonly reason: RetentionReason;
  /** What an operator reads in `guardian backup list` and the logs. */
  readonly sentence: string;
}

/** Every snapshot's verdict (newest first) and the ids to delete. */
export interface RetentionPlan {
  readonly decisions: readonly RetentionDecision[];
  readonly deleteIds: readonly string[];
  readonly summary: string;
}

const DAY_MS = 86_400_000;

function createdMs(s: SnapshotInfo): number {
  const t = s.createdAt === undefined ? Number.NaN : Date.parse(s.createdAt);
  return Number.isFinite(t) ? t : Number.NaN;
}

/**
 * Which snapshots retention deletes: only the guardian's own, only `available` ones, never one a
 * recorded deployment still points at (`protectedIds`), never one of the newest `keepLast` of the
 * guardian's available snapshots, and only when older than `maxAgeDays`. A snapshot whose time is
 * unknown or in the future (clock skew) is kept: deleting a backup is the one mistake that cannot
 * be undone.
 */
export function retentionPlan(
  snapshots: readonly SnapshotInfo[],
  policy: RetentionPolicy,
  protectedIds: ReadonlySet<string> | readonly string[],
  now: Date,
): RetentionPlan {
  if (!Number.isInteger(policy.keepLast) || policy.keepLast < 0) {
    throw new InvalidInputError(
      `retention keepLast must be a whole number of at least 0, not ${policy.keepLast}`,
    );
  }
  if (!(policy.maxAgeDays >= 0)) {
    throw new InvalidInputError(`retention maxAgeDays must be at least 0, not ${policy.maxAgeDays}`);
  }
  const guarded = new Set(protectedIds);
  // Newest first; unknown times sort last, ties by id so the plan is deterministic.
  const ordered = [...snapshots].sort((a, b) => {
    const ta = createdMs(a);
    const tb = createdMs(b);
    if (Number.isNaN(ta) !== Number.isNaN(tb)) return Number.isNaN(ta) ? 1 : -1;
    if (ta !== tb && !Number.isNaN(ta)) return tb - ta;
    return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
  });
  let newestSeen = 0;
  const decisions = ordered.map((s): RetentionDecision => {
    const keep = (reason: RetentionReason, sentence: string): RetentionDecision => ({
      id: s.id,
      action: 'keep',
      reason,
      sentence: `${s.id}: kept, ${sentence}`,
    });
    if (!isGuardianSnapshot(s))
      return keep('not-guardian', 'not made by the guardian (name or tag), never touched');
    if (s.status !== 'available')
      return keep('not-available', `its status is '${s.status}', not 'available'`);
    // Counted before "protected" so a protected snapshot still takes one of the keepLast places.
    newestSeen++;
    if (guarded.has(s.id)) return keep('protected', 'a recorded deployment still points at it');
    if (newestSeen <= policy.keepLast) return keep('newest', `one of the newest ${policy.keepLast}`);
    const t = createdMs(s);
    if (Number.isNaN(t)) return keep('unknown-age', 'its creation time is unknown');
    const ageDays = (now.getTime() - t) / DAY_MS;
    if (ageDays <= policy.maxAgeDays) {
      return keep('recent', `${Math.max(0, Math.floor(ageDays))} day(s) old, within ${policy.maxAgeDays}`);
    }
    return {
      id: s.id,
      action: 'delete',
      reason: 'expired',
      sentence: `${s.id}: deleted, ${Math.floor(ageDays)} days old (more than ${policy.maxAgeDays}) and not one of the newest ${policy.keepLast}`,
    };
  });
  const deleteIds = decisions.filter((d) => d.action === 'delete').map((d) => d.id);
  return {
    decisions,
    deleteIds,
    summary:
      deleteIds.length === 0
        ? `retention: nothing to delete among ${snapshots.length} snapshot(s)`
        : `retention: deleting ${deleteIds.length} of ${snapshots.length} snapshot(s): ${deleteIds.join(', ')}`,
  };
}

/** The live database a restore is for (config `backup.database`). */
export interface RestoreTarget {
  readonly kind: DatabaseKind;
  /** The live instance or cluster; a restore never writes to it. */
  readonly identifier: string;
}

/** What `guardian backup restore` does and what the operator does next. */
export interface RestorePlan {
  readonly kind: DatabaseKind;
  readonly snapshotId: string;
  /** The new instance or cluster to create; never the live one. */
  readonly newIdentifier: string;
  readonly liveIdentifier: string;
  /** The operator's next steps, one line each. */
  readonly lines: readonly string[];
}

const RESTORED_INFIX = '-restored-';

/**
 * Restores `snapshot` to a new `<live>-restored-<yyyymmddthhmmssz>` instance or cluster (cut to
 * RDS's 63 characters, a hash keeping cut names apart), never over the live database, and says
 * what an operator does next. Refuses a snapshot that is not available, of the other kind, or of
 * another database.
 */
export function restorePlan(snapshot: SnapshotInfo, target: RestoreTarget, now: Date): RestorePlan {
  if (snapshot.kind !== target.kind) {
    throw new InvalidInputError(
      `snapshot ${quote(snapshot.id)} is a DB ${snapshot.kind} snapshot but the environment's database is a DB ${target.kind}`,
    );
  }
  if (snapshot.databaseIdentifier !== target.identifier) {
    throw new InvalidInputError(
      `snapshot ${quote(snapshot.id)} was taken of ${quote(snapshot.databaseIdentifier)}, not of the environment's database ${quote(target.identifier)}`,
    );
  }
  if (snapshot.status !== 'available') {
    throw new InvalidInputError(
      `snapshot ${quote(snapshot.id)} is '${snapshot.status}'; only an 'available' snapshot can be restored`,
    );
  }
  const stamp = compactTimestamp(now);
  const live = sanitize(target.identifier);
  // RDS identifiers start with a letter; config validates that, this keeps the plan valid anyway.
  const base = fitTo(
    /^[a-z]/.test(live) ? live : `db-${live}`.replace(/-$/, ''),
    MAX_IDENTIFIER - RESTORED_INFIX.length - stamp.length,
  );
  const newIdentifier = `${base}${RESTORED_INFIX}${stamp}`;
  const what = target.kind === 'instance' ? 'DB instance' : 'DB cluster';
  return {
    kind: target.kind,
    snapshotId: snapshot.id,
    newIdentifier,
    liveIdentifier: target.identifier,
    lines: [
      `Restoring snapshot ${snapshot.id} to a new ${what} ${newIdentifier}; the live ${what} ${target.identifier} is not touched.`,
      `1. Wait until ${newIdentifier} is 'available' (aws rds describe-db-${target.kind === 'instance' ? 'instances --db-instance-identifier' : 'clusters --db-cluster-identifier'} ${newIdentifier}).${target.kind === 'cluster' ? ' A restored cluster has no instances: add one (create-db-instance --db-cluster-identifier) before connecting.' : ''}`,
      `2. Check its security groups, parameter group and subnet group match ${target.identifier}'s; a restore takes the defaults where the snapshot does not say.`,
      `3. Verify the data (row counts, the latest records) against what you expect from ${snapshot.createdAt ?? 'the snapshot time'}.`,
      `4. Point the application at ${newIdentifier}'s endpoint, or rename ${target.identifier} away and ${newIdentifier} to ${target.identifier} so the endpoint stays the same.`,
      `5. Keep ${target.identifier} (stopped, or with a final snapshot) until you are sure the restored data is right; delete it only then.`,
    ],
  };
}

/** Where a snapshot being taken stands. */
export type SnapshotVerdict = 'waiting' | 'available' | 'failed';

/** The verdict and the sentence an operator reads. */
export interface SnapshotJudgement {
  readonly verdict: SnapshotVerdict;
  readonly sentence: string;
}

/** RDS snapshot statuses that never become `available`. */
function isFailedStatus(status: string): boolean {
  return (
    status === 'failed' || status.startsWith('incompatible-') || status === 'deleting' || status === 'deleted'
  );
}

/**
 * Whether the snapshot started at `startedAt` is ready: `available` wins even past the deadline,
 * `failed` / `incompatible-*` / deleted fail at once, anything else (`creating`, or not yet visible,
 * `undefined`) waits until `deadlineSeconds` have passed and then fails.
 */
export function judgeSnapshot(
  status: string | undefined,
  startedAt: Date | string,
  deadlineSeconds: number,
  now: Date,
  snapshotId = 'the snapshot',
): SnapshotJudgement {
  if (status === 'available') return { verdict: 'available', sentence: `${snapshotId} is available` };
  if (status !== undefined && isFailedStatus(status)) {
    return {
      verdict: 'failed',
      sentence: `${snapshotId} is '${status}': the backup failed, so the deployment stops before anything changes. Check the database's events (aws rds describe-events) and deploy again.`,
    };
  }
  const started = new Date(startedAt).getTime();
  if (Number.isNaN(started))
    throw new InvalidInputError(`the snapshot start time ${quote(String(startedAt))} is not a date`);
  const elapsed = Math.max(0, Math.floor((now.getTime() - started) / 1000));
  const shown = status ?? 'not visible yet';
  if (elapsed >= deadlineSeconds) {
    return {
      verdict: 'failed',
      sentence: `${snapshotId} is still '${shown}' after ${elapsed}s (deadline ${deadlineSeconds}s): the backup timed out, so the deployment stops before anything changes. Raise backup.deadlineSeconds or check the database, then deploy again.`,
    };
  }
  return {
    verdict: 'waiting',
    sentence: `${snapshotId} is '${shown}' after ${elapsed}s of ${deadlineSeconds}s`,
  };
}

/** The database the backup step snapshots (config `backup.database` when not `none`). */
export interface BackupDatabase {
  readonly kind: DatabaseKind;
  readonly identifier: string;
}

/** Where a restore's new database landed. */
export interface RestoredDatabase {
  readonly kind: DatabaseKind;
  readonly identifier: string;
  readonly status: string;
}

/**
 * Snapshots of one environment's database (RDS DB snapshots or Aurora DB cluster snapshots).
 * Implemented by lambdas/adapters/rds-snapshots.ts; not yet a port in lambdas/ports/table.ts.
 */
export interface DatabaseSnapshots {
  /** Starts a snapshot; a repeat for the same deployment returns the one already started. */
  create(
    db: BackupDatabase,
    snapshotId: string,
    tags: Readonly<Record<string, string>>,
  ): Promise<SnapshotInfo>;
  /** The snapshot, or undefined when RDS does not know it (yet, or any more). */
  describe(kind: DatabaseKind, snapshotId: string): Promise<SnapshotInfo | undefined>;
  /** The guardian-prefixed manual snapshots of `db`, every page. */
  list(db: BackupDatabase): Promise<SnapshotInfo[]>;
  /** Deletes the snapshot; false when it was already gone. */
  delete(kind: DatabaseKind, snapshotId: string): Promise<boolean>;
  /** Starts restoring the plan's snapshot to its new identifier. */
  restore(plan: RestorePlan, tags?: Readonly<Record<string, string>>): Promise<RestoredDatabase>;
}
