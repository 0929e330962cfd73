/**
 * The Deploy workflow's backup phase (issue 10), pure: which snapshot a deployment takes (named at
 * preflight, so the dry-run plan and the record name the same one), the plan line an operator
 * reads, what the record keeps, and which of the environment's snapshots retention may delete
 * (never one a deployment record still points at).
 */
import * as z from 'zod';
import { type BackupDatabase, snapshotIdentifier } from './backup.ts';

/** The snapshot a deployment takes before its rollout (`$.deployment.backup`). */
export const plannedBackupSchema = z.strictObject({
  snapshotId: z.string().min(1).max(255),
  kind: z.enum(['instance', 'cluster']),
  /** The DB instance or cluster identifier. */
  identifier: z.string().min(1),
  /** How long the workflow waits for `available`. */
  deadlineSeconds: z.number().int().positive(),
});
/** The snapshot a deployment takes before its rollout. */
export type PlannedBackup = z.infer<typeof plannedBackupSchema>;

/** What the backup step did, as the deployment record keeps it. */
export interface BackupMark {
  readonly snapshotId: string;
  readonly kind: BackupDatabase['kind'];
  readonly identifier: string;
  /**
   * planned: named at preflight, not started; creating: started, not available yet; available:
   * done; failed: the deployment stopped before anything changed.
   */
  readonly status: 'planned' | 'creating' | 'available' | 'failed';
  readonly startedAt: string;
  /** When it was seen available, or failed. */
  readonly finishedAt?: string;
  /** The failure, or the retention summary after it became available. */
  readonly detail?: string;
}

/**
 * The snapshot a deployment of `release` takes, or undefined when the environment has no database
 * (`backup.database: none`). Named from the environment, the version (or the image tag) and the
 * deployment's start, so the name is known before anything is created.
 */
export function planBackup(
  environment: string,
  database: BackupDatabase | undefined,
  deadlineSeconds: number,
  release: { readonly version?: string | undefined; readonly image: string },
  startedAt: Date,
): PlannedBackup | undefined {
  if (!database) return undefined;
  const version = release.version ?? tagOf(release.image);
  return {
    snapshotId: snapshotIdentifier(environment, version, startedAt),
    kind: database.kind,
    identifier: database.identifier,
    deadlineSeconds,
  };
}

/** The tag of `repo:tag` (or the digest, or `release` when there is neither). */
function tagOf(image: string): string {
  const at = image.indexOf('@');
  if (at >= 0) return image.slice(at + 1, at + 20);
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  return colon > slash ? image.slice(colon + 1) : 'release';
}

/** What a database is called in operator sentences: `DB instance buywhere-prod`. */
export function databaseName(db: Pick<BackupDatabase, 'kind' | 'identifier'>): string {
  return `${db.kind === 'instance' ? 'DB instance' : 'DB cluster'} ${db.identifier}`;
}

/** The dry-run plan's line for the backup (or for its absence). */
export function backupPlanLine(backup: PlannedBackup | undefined): string {
  if (!backup) return 'no database backup: backup.database is none for this environment';
  return `back up ${databaseName(backup)} as snapshot ${backup.snapshotId} and wait up to ${backup.deadlineSeconds} s for it to be available; a failed or late backup stops the deployment before anything changes`;
}

/**
 * The snapshot ids deployment records still point at, which retention keeps whatever their age:
 * every deployment still in progress (its backup is the way back), the newest deployment that
 * succeeded (the database state the running release started from) and the newest one rolled back
 * or failed (its release may have migrated the database before it was undone). Older records keep
 * their snapshot id for the audit trail; retention's keepLast and maxAgeDays decide for those.
 */
export function protectedSnapshotIds(
  records: readonly {
    readonly kind: string;
    readonly status: string;
    readonly startedAt: string;
    readonly backup?: { readonly snapshotId?: string } | undefined;
  }[],
): string[] {
  const deploys = records
    .filter((r) => r.kind === 'deploy' && r.backup?.snapshotId !== undefined)
    .sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  const ids = new Set<string>();
  const add = (r: (typeof deploys)[number] | undefined) => {
    if (r?.backup?.snapshotId !== undefined) ids.add(r.backup.snapshotId);
  };
  for (const r of deploys) if (r.status === 'in-progress') add(r);
  add(deploys.find((r) => r.status === 'succeeded'));
  add(deploys.find((r) => r.status !== 'succeeded' && r.status !== 'in-progress'));
  return [...ids];
}
