/**
 * `guardian backup list|restore` (issue 10): the runbook's `pre-deploy-backup.sh list` and
 * `restore` on the snapshots the Deploy workflow takes before each rollout. `list` shows them newest
 * first with the release and deployment they were taken for and the deployment record that points
 * at one; `restore` restores one to a *new* instance or cluster (restorePlan in lambdas/core/backup.ts)
 * and prints what the operator does next. It never writes to the live database.
 * Exit codes: 0 done; 1 no database configured, an unknown snapshot, or a restore refused (another
 * database's snapshot, one not available); 2 bad usage.
 */
import {
  BACKUP_TAGS,
  type BackupDatabase,
  type DatabaseSnapshots,
  isValidRdsIdentifier,
  MANAGED_BY_VALUE,
  restorePlan,
  type SnapshotInfo,
} from '../../lambdas/core/backup.ts';
import { InvalidInputError } from '../../lambdas/core/errors.ts';
import { printable, quote, shorten } from '../../lambdas/core/text.ts';
import type { DeploymentRecord } from '../../lambdas/core/types.ts';
import { backupConfigOf } from '../config/backup-schema.ts';
import type { EnvironmentConfig, GuardianConfig } from '../config/schema.ts';
import { type ParsedArgs, refuseForeignOptions, requireString, UsageError } from './args.ts';
import type { CommandContext } from './command-context.ts';
import { bold, jsonDocument, type Output } from './format.ts';
import { CommandRefusedError } from './report.ts';

/** What the backup commands borrow from commands.ts. */
export type BackupCommandContext = CommandContext;

/** Where the commands find snapshots, deployment records and the time. */
interface BackupBackend {
  readonly snapshots: DatabaseSnapshots;
  /** The environment's newest deployment records (the ones a snapshot can be pointed at by). */
  records(): Promise<readonly DeploymentRecord[]>;
  now(): Date;
}

/** One row of `guardian backup list`, and one element of its `--json` array. */
export interface BackupListEntry {
  readonly id: string;
  readonly kind: SnapshotInfo['kind'];
  readonly database: string;
  readonly status: string;
  readonly createdAt: string | null;
  readonly version: string | null;
  readonly deploymentId: string | null;
  /** The deployment record whose `backup.snapshotId` is this snapshot, if any. */
  readonly recordId: string | null;
}

/** The `--json` document of `guardian backup restore`. */
export interface BackupRestoreOutput {
  readonly environment: string;
  readonly kind: SnapshotInfo['kind'];
  readonly snapshotId: string;
  readonly newIdentifier: string;
  readonly liveIdentifier: string;
  /** The new database's status as RDS answered the restore (`creating`). */
  readonly status: string;
  /** What happened and the operator's next steps, one line each. */
  readonly lines: readonly string[];
}

/** Deployment records read to find which one points at a snapshot (retention keeps those). */
const RECORDS_READ = 500;

/** Options each subcommand accepts (besides --json, --help, --config-dir). */
const ACCEPTS: Record<string, readonly string[]> = {
  list: ['env', 'local', 'state-dir'],
  restore: ['env', 'requested-by', 'local', 'state-dir'],
};

/**
 * The rows of `guardian backup list`, newest first (unknown times last, ties by id as retention
 * orders them), each with the newest record that points at it.
 */
export function backupListEntries(
  snapshots: readonly SnapshotInfo[],
  records: readonly DeploymentRecord[],
): BackupListEntry[] {
  const pointedBy = new Map<string, string>();
  // Records come newest first: the first one seen for a snapshot is the newest.
  for (const r of records) {
    const id = r.backup?.snapshotId;
    if (id !== undefined && !pointedBy.has(id)) pointedBy.set(id, r.id);
  }
  const time = (s: SnapshotInfo) => (s.createdAt === undefined ? Number.NaN : Date.parse(s.createdAt));
  return [...snapshots]
    .sort((a, b) => {
      const ta = time(a);
      const tb = time(b);
      if (Number.isNaN(ta) !== Number.isNaN(tb)) return Number.isNaN(ta) ? 1 : -1;
      if (ta !== tb && !Number.isNaN(ta)) return tb - ta;
      return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
    })
    .map((s) => ({
      id: s.id,
      kind: s.kind,
      database: s.databaseIdentifier,
      status: s.status,
      createdAt: s.createdAt ?? null,
      version: s.tags[BACKUP_TAGS.version] ?? null,
      deploymentId: s.tags[BACKUP_TAGS.deploymentId] ?? null,
      recordId: pointedBy.get(s.id) ?? null,
    }));
}

/** `guardian backup SUBCOMMAND`: refuses what the subcommand does not take, then runs it. */
export async function backupCommand(
  args: ParsedArgs,
  config: GuardianConfig,
  output: Output,
  ctx: BackupCommandContext,
): Promise<number> {
  const sub = args.positionals?.SUBCOMMAND ?? '';
  refuseForeignOptions(args, 'backup', sub, ACCEPTS);
  const snapshotId = args.positionals?.SNAPSHOT;
  if (sub === 'list' && snapshotId !== undefined) {
    throw new UsageError(
      `backup list takes no snapshot (got ${quote(shorten(snapshotId, 60))}); to restore one: guardian backup restore SNAPSHOT --env E`,
      'backup',
    );
  }
  if (sub === 'restore') {
    if (snapshotId === undefined) {
      throw new UsageError(
        'backup restore needs the snapshot to restore: guardian backup restore SNAPSHOT --env E (ids from `guardian backup list`)',
        'backup',
      );
    }
    // DB cluster snapshot ids allow 63 characters, DB snapshot ids 255: the longer rule here.
    if (!isValidRdsIdentifier(snapshotId, 255)) {
      throw new UsageError(
        `${quote(shorten(snapshotId, 80))} is not a snapshot id (letters, digits and single hyphens, a letter first), as \`guardian backup list\` shows them`,
        'backup',
      );
    }
  }
  if (args.values.local !== true && args.values['state-dir'] !== undefined) {
    throw new UsageError('--state-dir needs --local', 'backup');
  }
  const env = await ctx.environmentOf(config, requireString(args, 'env'));
  const { database } = backupConfigOf(env);
  if (database === 'none') {
    throw new CommandRefusedError(
      `${env.name} has no database configured for backups (backup.database: none); set backup.database in config/environments.yaml to snapshot one`,
      'NoDatabase',
      { environment: env.name },
    );
  }
  const run = (b: BackupBackend) =>
    sub === 'list'
      ? list(args, output, env, database, b)
      : restore(args, output, env, database, b, snapshotId as string, ctx.whoAmI(args));
  if (args.values.local === true) {
    return ctx.withLocal(args, config, output, (g) =>
      run({
        snapshots: g.snapshots(env.name),
        records: () => g.store(env.name).listRecords(env.name, RECORDS_READ),
        now: () => g.clock.now(),
      }),
    );
  }
  const [{ RDSClient }, { RdsSnapshots }] = await Promise.all([
    import('@aws-sdk/client-rds'),
    import('../../lambdas/adapters/rds-snapshots.ts'),
  ]);
  return run({
    // The operator's credentials, in the environment's region (the adapter's factory uses the Lambda's).
    snapshots: new RdsSnapshots(new RDSClient({ region: env.region })),
    records: async () => {
      const { awsGuardian } = await import('./aws.ts');
      return (await awsGuardian(env)).store.listRecords(env.name, RECORDS_READ);
    },
    now: () => new Date(),
  });
}

/** RDS's answer to a restore whose new identifier is taken. */
const ALREADY_EXISTS = new Set([
  'DBInstanceAlreadyExists',
  'DBInstanceAlreadyExistsFault',
  'DBClusterAlreadyExistsFault',
]);

const what = (kind: BackupDatabase['kind']) => (kind === 'instance' ? 'DB instance' : 'DB cluster');

async function list(
  args: ParsedArgs,
  output: Output,
  env: EnvironmentConfig,
  db: BackupDatabase,
  b: BackupBackend,
): Promise<number> {
  const [snapshots, records] = await Promise.all([b.snapshots.list(db), b.records()]);
  const entries = backupListEntries(snapshots, records);
  if (args.values.json === true) {
    output.out(jsonDocument(entries));
    return 0;
  }
  if (entries.length === 0) {
    output.out(`no guardian snapshots of ${what(db.kind)} ${db.identifier} (${env.name}) yet`);
    return 0;
  }
  output.out(`${env.name}: snapshots of ${what(db.kind)} ${db.identifier}, newest first`);
  const header = ['snapshot', 'status', 'created', 'version', 'deployment', 'record'];
  const rows = entries.map((e) =>
    [e.id, e.status, e.createdAt ?? '-', e.version ?? '-', e.deploymentId ?? '-', e.recordId ?? '-'].map(
      (c) => printable(shorten(c, 80)),
    ),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cols: readonly string[]) =>
    cols
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  output.out(bold(line(header)));
  for (const r of rows) output.out(line(r));
  return 0;
}

async function restore(
  args: ParsedArgs,
  output: Output,
  env: EnvironmentConfig,
  db: BackupDatabase,
  b: BackupBackend,
  snapshotId: string,
  by: string,
): Promise<number> {
  const snapshot = await b.snapshots.describe(db.kind, snapshotId);
  if (!snapshot) {
    throw new CommandRefusedError(
      `no ${db.kind === 'instance' ? 'DB snapshot' : 'DB cluster snapshot'} ${quote(snapshotId)} for ${env.name} (database ${db.identifier}); nothing was restored. List the snapshots with: guardian backup list --env ${env.name}${args.values.local === true ? ' --local' : ''}`,
      'SnapshotNotFound',
      { snapshotId },
    );
  }
  let plan: ReturnType<typeof restorePlan>;
  try {
    plan = restorePlan(snapshot, db, b.now());
  } catch (err) {
    // Another database's snapshot, or one not available: the request was sound, the state says no.
    if (err instanceof InvalidInputError) {
      throw new CommandRefusedError(`${err.message}; nothing was restored`, 'RestoreRefused', { snapshotId });
    }
    throw err;
  }
  const restored = await b.snapshots
    .restore(plan, {
      [BACKUP_TAGS.managedBy]: MANAGED_BY_VALUE,
      [BACKUP_TAGS.environment]: env.name,
      'guardian:restored-from': snapshotId,
      'guardian:requested-by': by,
    })
    .catch((err: unknown) => {
      // The name is per second: a second restore in the same second meets the first one's database.
      if (ALREADY_EXISTS.has((err as Error).name)) {
        throw new CommandRefusedError(
          `${what(plan.kind)} ${plan.newIdentifier} already exists (a restore started in the same second); nothing else was restored. Use it, or restore again a second later`,
          'RestoreTargetExists',
          { snapshotId, newIdentifier: plan.newIdentifier },
        );
      }
      throw err;
    });
  const lines = [
    ...plan.lines.slice(0, 1),
    `${what(restored.kind)} ${restored.identifier} is '${restored.status}'.`,
    'Next:',
    ...plan.lines.slice(1),
  ];
  if (args.values.json === true) {
    output.out(
      jsonDocument({
        environment: env.name,
        kind: plan.kind,
        snapshotId,
        newIdentifier: restored.identifier,
        liveIdentifier: plan.liveIdentifier,
        status: restored.status,
        lines,
      } satisfies BackupRestoreOutput),
    );
    return 0;
  }
  const [first, ...rest] = lines;
  output.out(bold(printable(first ?? '')));
  for (const l of rest) output.out(printable(l));
  return 0;
}
