/**
 * The `backup:` block of an environment in `config/environments.yaml` (issue 10): the runbook's
 * `pre-deploy-backup.sh backup` as an RDS snapshot of the environment's database before the
 * rollout. Pure zod, so the Lambda bundles and the CLI share it; mounted as `backup` by schema.ts.
 */
import * as z from 'zod';

/** RDS's rule for instance and cluster identifiers: 1-63 letters, digits, single hyphens, a letter first. */
const rdsIdentifier = z
  .string()
  .min(1, 'must not be empty')
  .max(63, 'must have at most 63 characters (RDS limit)')
  .regex(
    /^[a-zA-Z](?:[a-zA-Z0-9]|-(?!-))*$/,
    'must start with a letter and contain only letters, digits and single hyphens (RDS identifier rules)',
  )
  .refine((s) => !s.endsWith('-'), 'must not end with a hyphen (RDS identifier rules)');

/** The database to snapshot: a DB instance (RDS) or a DB cluster (Aurora). */
export const backupDatabaseSchema = z.strictObject({
  kind: z.enum(['instance', 'cluster'], {
    error: "must be 'instance' (RDS DB instance) or 'cluster' (Aurora DB cluster)",
  }),
  identifier: rdsIdentifier,
});
/** The database to snapshot. */
export type BackupDatabaseConfig = z.infer<typeof backupDatabaseSchema>;

/** Default wait for `available`: 30 minutes covers a snapshot of a busy mid-sized database. */
export const DEFAULT_BACKUP_DEADLINE_SECONDS = 1800;

/** `keep the last M, delete older than N days` (the runbook's retention). */
export const backupRetentionSchema = z
  .strictObject({
    keepLast: z
      .number()
      .int('keepLast must be a whole number')
      .min(1, 'keepLast must be at least 1: the newest backup is what a rollback restores')
      .max(100, 'keepLast must be at most 100 (RDS limits manual snapshots per region)')
      .default(7),
    maxAgeDays: z
      .number()
      .int('maxAgeDays must be a whole number of days')
      .min(1, 'maxAgeDays must be at least 1')
      .max(3650, 'maxAgeDays must be at most 3650')
      .default(30),
  })
  .prefault({});
/** Retention, defaults applied. */
export type BackupRetentionConfig = z.infer<typeof backupRetentionSchema>;

/**
 * The `backup:` block. `database: none` skips the step for environments without a database;
 * a missing block means the same.
 */
export const backupSchema = z
  .strictObject({
    database: z.union([z.literal('none'), backupDatabaseSchema], {
      error: (iss) =>
        iss.input === undefined
          ? "database is required: { kind: instance | cluster, identifier: <RDS identifier> } or 'none'"
          : undefined,
    }),
    deadlineSeconds: z
      .number()
      .int('deadlineSeconds must be a whole number')
      .min(60, 'deadlineSeconds must be at least 60: even a small snapshot takes minutes')
      .max(86_400, 'deadlineSeconds must be at most 86400 (a day)')
      .default(DEFAULT_BACKUP_DEADLINE_SECONDS),
    /** How often the workflow asks RDS whether the snapshot is available. */
    pollIntervalSeconds: z
      .number()
      .int('pollIntervalSeconds must be a whole number')
      .min(5, 'pollIntervalSeconds must be at least 5')
      .max(600, 'pollIntervalSeconds must be at most 600')
      .default(30),
    retention: backupRetentionSchema,
  })
  .prefault({ database: 'none' });
/** The `backup:` block, defaults applied. */
export type BackupConfig = z.infer<typeof backupSchema>;

/** An environment's `backup:` block (defaults applied when the environment was built without one). */
export function backupConfigOf(env: object): BackupConfig {
  return (env as { readonly backup?: BackupConfig }).backup ?? backupSchema.parse(undefined);
}

/** The database an environment backs up before each rollout, or undefined (`database: none`). */
export function backupDatabaseOf(env: object): BackupDatabaseConfig | undefined {
  const { database } = backupConfigOf(env);
  return database === 'none' ? undefined : database;
}
