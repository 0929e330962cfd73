/**
 * The local RDS double of the pre-deployment backup (issue 10): DB instances and Aurora DB clusters
 * with their manual snapshots, behind the same {@link DatabaseSnapshots} port as the RDS adapter
 * (lambdas/adapters/rds-snapshots.ts), and failing the same way: a database or snapshot it does not
 * know is a NotFoundError with the adapter's text, a snapshot id taken by another deployment a
 * ConflictError, a restore over an existing identifier RDS's `DB…AlreadyExistsFault`.
 * test/integration/rds-contract.test.ts runs the same scenarios against both.
 *
 * Time comes from a Clock, never a timer: a snapshot is `creating` and `available`
 * {@link DEFAULT_SNAPSHOT_SECONDS} after it was taken; a restored database is `creating` and
 * `available` {@link DEFAULT_RESTORE_SECONDS} after the restore began. The database identifier is
 * the knob, as image tags are for the cluster simulator (lib/local/image-behaviour.ts):
 * a database whose identifier contains `stuck` never finishes a snapshot (it stays `creating`:
 * the backup step's deadline runs out); one containing `failing` ends every snapshot `failed`.
 *
 * State is plain JSON, loaded, changed and saved on every call when a persistence is given (the
 * local runner keeps it in `<state>/rds-<env>.json`), so commands in other processes see it.
 */
import { readFileSync } from 'node:fs';
import * as z from 'zod';
import {
  BACKUP_TAGS,
  type BackupDatabase,
  type DatabaseKind,
  type DatabaseSnapshots,
  type RestoredDatabase,
  type RestorePlan,
  SNAPSHOT_PREFIX,
  type SnapshotInfo,
} from '../../lambdas/core/backup.ts';
import { ConflictError, NotFoundError } from '../../lambdas/core/errors.ts';
import type { Clock } from '../../lambdas/core/ports.ts';
import { damaged, withFileLock, writeFileAtomic } from './state-files.ts';

/** Seconds from CreateDBSnapshot to `available` (a small database; RDS takes minutes). */
export const DEFAULT_SNAPSHOT_SECONDS = 30;
/** Seconds from a restore to the new database being `available`. */
export const DEFAULT_RESTORE_SECONDS = 120;

/** Where the double keeps its JSON between calls (a file of the local state folder). */
export interface RdsSimPersistence {
  /** The saved JSON, or undefined before the first save. */
  read(): string | undefined;
  write(json: string): void;
  /** Named in the error when the saved JSON is damaged. @default 'the local RDS double' */
  readonly label?: string;
  /** Runs one load-change-save under a lock (a file several local commands share). @default none */
  transaction?<T>(fn: () => T): T;
}

/** How the double behaves. */
export interface RdsSimOptions {
  readonly clock: Clock;
  /** @default in memory */
  readonly persistence?: RdsSimPersistence;
  /** @default {@link DEFAULT_SNAPSHOT_SECONDS} */
  readonly snapshotSeconds?: number;
  /** @default {@link DEFAULT_RESTORE_SECONDS} */
  readonly restoreSeconds?: number;
}

const kindSchema = z.enum(['instance', 'cluster']);
const databaseSchema = z.object({
  kind: kindSchema,
  identifier: z.string(),
  /** When it began to exist: seeded databases are available at once, restored ones after a while. */
  createdAt: z.string(),
  /** The snapshot it was restored from. */
  restoredFrom: z.string().optional(),
  tags: z.record(z.string(), z.string()).default({}),
});
const snapshotSchema = z.object({
  id: z.string(),
  kind: kindSchema,
  databaseIdentifier: z.string(),
  createdAt: z.string(),
  tags: z.record(z.string(), z.string()),
});
const stateSchema = z.object({
  databases: z.array(databaseSchema),
  snapshots: z.array(snapshotSchema),
});
/** The double's whole state, as saved. */
export type RdsSimState = z.infer<typeof stateSchema>;
/** A database as the double reports it. */
export interface SimDatabase {
  readonly kind: DatabaseKind;
  readonly identifier: string;
  /** `available`, or `creating` while a restore is under way. */
  readonly status: string;
  readonly restoredFrom?: string;
  readonly tags: Readonly<Record<string, string>>;
}

const what = (kind: DatabaseKind) => (kind === 'instance' ? 'DB instance' : 'DB cluster');
const snapshotWhat = (kind: DatabaseKind) => (kind === 'instance' ? 'DB snapshot' : 'DB cluster snapshot');

/**
 * The adapter's NotFoundError for `resource` (see `classify` in rds-snapshots.ts), with the name the
 * SDK gives RDS's error: the same sentence whichever adapter the operator meets.
 */
function notFound(resource: string, action: string, sdkName: string, hint = ''): NotFoundError {
  return new NotFoundError(`RDS: ${resource} does not exist (${action}: ${sdkName}).${hint}`);
}

/** An error as the SDK raises RDS's own: its `name` is the exception class. */
function rdsError(name: string, message: string): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}

/** The RDS double: {@link DatabaseSnapshots} on a clock, with databases seeded by the caller. */
export class RdsSim implements DatabaseSnapshots {
  private memory: RdsSimState = { databases: [], snapshots: [] };
  private readonly snapshotMs: number;
  private readonly restoreMs: number;

  constructor(private readonly options: RdsSimOptions) {
    this.snapshotMs = (options.snapshotSeconds ?? DEFAULT_SNAPSHOT_SECONDS) * 1000;
    this.restoreMs = (options.restoreSeconds ?? DEFAULT_RESTORE_SECONDS) * 1000;
  }

  /** Makes `db` exist (available at once); seeding one that exists changes nothing. */
  seedDatabase(db: BackupDatabase): void {
    this.change((state) => {
      if (state.databases.some((d) => d.kind === db.kind && d.identifier === db.identifier)) return false;
      state.databases.push({
        kind: db.kind,
        identifier: db.identifier,
        createdAt: new Date(0).toISOString(),
        tags: {},
      });
      return true;
    });
  }

  /** The database, with its status now, or undefined when RDS would not know it. */
  database(kind: DatabaseKind, identifier: string): SimDatabase | undefined {
    const d = this.load().databases.find((x) => x.kind === kind && x.identifier === identifier);
    if (!d) return undefined;
    const ready = Date.parse(d.createdAt) + (d.restoredFrom ? this.restoreMs : 0);
    return {
      kind: d.kind,
      identifier: d.identifier,
      status: this.options.clock.now().getTime() >= ready ? 'available' : 'creating',
      ...(d.restoredFrom ? { restoredFrom: d.restoredFrom } : {}),
      tags: { ...d.tags },
    };
  }

  /** Every database the double knows, live and restored. */
  databases(): SimDatabase[] {
    return this.load()
      .databases.map((d) => this.database(d.kind, d.identifier))
      .filter((d): d is SimDatabase => d !== undefined);
  }

  async create(
    db: BackupDatabase,
    snapshotId: string,
    tags: Readonly<Record<string, string>>,
  ): Promise<SnapshotInfo> {
    return this.locked(() => this.createNow(db, snapshotId, tags));
  }

  private createNow(
    db: BackupDatabase,
    snapshotId: string,
    tags: Readonly<Record<string, string>>,
  ): SnapshotInfo {
    const state = this.load();
    if (!state.databases.some((d) => d.kind === db.kind && d.identifier === db.identifier)) {
      throw notFound(
        `${what(db.kind)} ${db.identifier}`,
        db.kind === 'instance' ? 'CreateDBSnapshot' : 'CreateDBClusterSnapshot',
        db.kind === 'instance' ? 'DBInstanceNotFoundFault' : 'DBClusterNotFoundFault',
        ' Check backup.database in config/environments.yaml.',
      );
    }
    const existing = state.snapshots.find((s) => s.kind === db.kind && s.id === snapshotId);
    if (existing) {
      // As the adapter: a retried step finds its own snapshot; anyone else's is a clash.
      const mine = tags[BACKUP_TAGS.deploymentId];
      if (
        existing.databaseIdentifier === db.identifier &&
        mine !== undefined &&
        existing.tags[BACKUP_TAGS.deploymentId] === mine
      ) {
        return this.info(existing);
      }
      throw new ConflictError(
        `RDS: ${snapshotWhat(db.kind)} ${snapshotId} already exists and was not taken by deployment ${mine ?? '(none)'}; deploy again to take a snapshot under a new name`,
      );
    }
    const snapshot = {
      id: snapshotId,
      kind: db.kind,
      databaseIdentifier: db.identifier,
      createdAt: this.options.clock.now().toISOString(),
      tags: { ...tags },
    };
    state.snapshots.push(snapshot);
    this.save(state);
    return this.info(snapshot);
  }

  async describe(kind: DatabaseKind, snapshotId: string): Promise<SnapshotInfo | undefined> {
    const s = this.load().snapshots.find((x) => x.kind === kind && x.id === snapshotId);
    return s ? this.info(s) : undefined;
  }

  async list(db: BackupDatabase): Promise<SnapshotInfo[]> {
    // RDS answers an empty list for a database it does not know; the adapter filters by prefix.
    return this.load()
      .snapshots.filter(
        (s) =>
          s.kind === db.kind && s.databaseIdentifier === db.identifier && s.id.startsWith(SNAPSHOT_PREFIX),
      )
      .map((s) => this.info(s));
  }

  async delete(kind: DatabaseKind, snapshotId: string): Promise<boolean> {
    return this.locked(() => this.deleteNow(kind, snapshotId));
  }

  private deleteNow(kind: DatabaseKind, snapshotId: string): boolean {
    const state = this.load();
    const i = state.snapshots.findIndex((s) => s.kind === kind && s.id === snapshotId);
    const s = state.snapshots[i];
    if (!s) return false;
    if (this.info(s).status === 'creating') {
      throw rdsError(
        kind === 'instance' ? 'InvalidDBSnapshotStateFault' : 'InvalidDBClusterSnapshotStateFault',
        `Cannot delete the snapshot because it is not in available state: ${snapshotId}`,
      );
    }
    state.snapshots.splice(i, 1);
    this.save(state);
    return true;
  }

  async restore(plan: RestorePlan, tags: Readonly<Record<string, string>> = {}): Promise<RestoredDatabase> {
    return this.locked(() => this.restoreNow(plan, tags));
  }

  private restoreNow(plan: RestorePlan, tags: Readonly<Record<string, string>>): RestoredDatabase {
    if (plan.newIdentifier === plan.liveIdentifier) {
      throw new Error(`refusing to restore over the live ${what(plan.kind)} ${plan.liveIdentifier}`);
    }
    const state = this.load();
    const s = state.snapshots.find((x) => x.kind === plan.kind && x.id === plan.snapshotId);
    if (!s) {
      throw notFound(
        `${snapshotWhat(plan.kind)} ${plan.snapshotId}`,
        plan.kind === 'instance' ? 'RestoreDBInstanceFromDBSnapshot' : 'RestoreDBClusterFromSnapshot',
        plan.kind === 'instance' ? 'DBSnapshotNotFoundFault' : 'DBClusterSnapshotNotFoundFault',
        " List the environment's snapshots with `guardian backup list`.",
      );
    }
    const status = this.info(s).status;
    if (status !== 'available') {
      throw rdsError(
        plan.kind === 'instance' ? 'InvalidDBSnapshotStateFault' : 'InvalidDBClusterSnapshotStateFault',
        `Snapshot ${plan.snapshotId} is not available (it is ${status})`,
      );
    }
    if (state.databases.some((d) => d.kind === plan.kind && d.identifier === plan.newIdentifier)) {
      throw plan.kind === 'instance'
        ? rdsError('DBInstanceAlreadyExistsFault', 'DB instance already exists')
        : rdsError('DBClusterAlreadyExistsFault', 'DB Cluster already exists');
    }
    state.databases.push({
      kind: plan.kind,
      identifier: plan.newIdentifier,
      createdAt: this.options.clock.now().toISOString(),
      restoredFrom: plan.snapshotId,
      tags: { ...tags },
    });
    this.save(state);
    return { kind: plan.kind, identifier: plan.newIdentifier, status: 'creating' };
  }

  /** A saved snapshot as RDS reports it now: its status follows from its age and its database. */
  private info(s: RdsSimState['snapshots'][number]): SnapshotInfo {
    const ready = this.options.clock.now().getTime() >= Date.parse(s.createdAt) + this.snapshotMs;
    const id = s.databaseIdentifier.toLowerCase();
    const status = id.includes('stuck')
      ? 'creating'
      : !ready
        ? 'creating'
        : id.includes('failing')
          ? 'failed'
          : 'available';
    return {
      id: s.id,
      kind: s.kind,
      databaseIdentifier: s.databaseIdentifier,
      status,
      createdAt: s.createdAt,
      tags: { ...s.tags },
    };
  }

  private load(): RdsSimState {
    const p = this.options.persistence;
    if (!p) return this.memory;
    const text = p.read();
    if (text === undefined) return { databases: [], snapshots: [] };
    const where = p.label ?? 'the RDS double state';
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw damaged(where, 'the local RDS double', (err as Error).message);
    }
    const parsed = stateSchema.safeParse(value);
    if (!parsed.success) throw damaged(where, 'the local RDS double', 'unexpected content');
    return parsed.data;
  }

  private save(state: RdsSimState): void {
    if (this.options.persistence) this.options.persistence.write(JSON.stringify(state, null, 1));
    else this.memory = state;
  }

  private change(fn: (state: RdsSimState) => boolean): void {
    this.locked(() => {
      const state = this.load();
      if (fn(state)) this.save(state);
    });
  }

  /** One load-change-save, under the persistence's lock when it has one (a shared state file). */
  private locked<T>(fn: () => T): T {
    const p = this.options.persistence;
    return p?.transaction ? p.transaction(fn) : fn();
  }
}

/**
 * Keeps the double in `file` (written atomically; the folder must exist). A damaged file is a
 * LocalStateError naming it and the way out.
 */
export function rdsSimFile(file: string): RdsSimPersistence {
  return {
    label: file,
    read() {
      try {
        return readFileSync(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw damaged(file, 'the local RDS double', (err as Error).message);
      }
    },
    write: (json) => writeFileAtomic(file, json),
    transaction: (fn) => withFileLock(file, fn),
  };
}
