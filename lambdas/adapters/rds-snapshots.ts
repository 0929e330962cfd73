/**
 * The database snapshots of the pre-deployment backup (issue 10) on Amazon RDS: DB snapshots for a
 * DB instance, DB cluster snapshots for an Aurora cluster. Errors: a database or snapshot RDS does
 * not know becomes NotFoundError naming it; throttles, 5xx and network failures TransientError;
 * anything else (AccessDenied, InvalidDBInstanceState, ...) passes through as it is.
 */
import {
  CreateDBClusterSnapshotCommand,
  CreateDBSnapshotCommand,
  type DBClusterSnapshot,
  type DBSnapshot,
  DeleteDBClusterSnapshotCommand,
  DeleteDBSnapshotCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBSnapshotsCommand,
  paginateDescribeDBClusterSnapshots,
  paginateDescribeDBSnapshots,
  RDSClient,
  RestoreDBClusterFromSnapshotCommand,
  RestoreDBInstanceFromDBSnapshotCommand,
  type Tag,
} from '@aws-sdk/client-rds';
import {
  BACKUP_TAGS,
  type BackupDatabase,
  type DatabaseKind,
  type DatabaseSnapshots,
  type RestoredDatabase,
  type RestorePlan,
  SNAPSHOT_PREFIX,
  type SnapshotInfo,
} from '../core/backup.ts';
import { ConflictError, NotFoundError, TransientError } from '../core/errors.ts';
import { isTransientAwsError } from './transient.ts';

/**
 * RDS "not found" errors. The SDK names them by its exception class (`DBInstanceNotFoundFault`);
 * an error code it has no class for keeps the wire code (`DBInstanceNotFound`), so both count.
 */
const NOT_FOUND = new Set([
  'DBInstanceNotFound',
  'DBInstanceNotFoundFault',
  'DBClusterNotFoundFault',
  'DBSnapshotNotFound',
  'DBSnapshotNotFoundFault',
  'DBClusterSnapshotNotFoundFault',
]);
const ALREADY_EXISTS = new Set([
  'DBSnapshotAlreadyExists',
  'DBSnapshotAlreadyExistsFault',
  'DBClusterSnapshotAlreadyExistsFault',
]);

const errorName = (err: unknown): string => String((err as { name?: unknown } | null)?.name ?? '');

/** Whether RDS said the database or snapshot does not exist. */
export function isRdsNotFound(err: unknown): boolean {
  return NOT_FOUND.has(errorName(err));
}

/** NotFoundError naming `resource`, TransientError for a retryable failure, else `err` unchanged. */
function classify(err: unknown, action: string, resource: string, hint = ''): unknown {
  const e = err as { name?: string; message?: string };
  if (isRdsNotFound(err)) {
    return new NotFoundError(`RDS: ${resource} does not exist (${action}: ${e.name}).${hint}`, {
      cause: err,
    });
  }
  if (isTransientAwsError(err)) {
    return new TransientError(
      `RDS: ${action} for ${resource} failed (${e.name}): ${e.message ?? ''}; retrying is safe`,
      {
        cause: err,
      },
    );
  }
  return err;
}

const what = (kind: DatabaseKind) => (kind === 'instance' ? 'DB instance' : 'DB cluster');
const snapshotWhat = (kind: DatabaseKind) => (kind === 'instance' ? 'DB snapshot' : 'DB cluster snapshot');

function tagsOf(list: readonly Tag[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of list ?? []) if (t.Key !== undefined) out[t.Key] = t.Value ?? '';
  return out;
}

const toTagList = (tags: Readonly<Record<string, string>>): Tag[] =>
  Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));

function fromInstanceSnapshot(s: DBSnapshot): SnapshotInfo {
  return {
    id: s.DBSnapshotIdentifier ?? '',
    kind: 'instance',
    databaseIdentifier: s.DBInstanceIdentifier ?? '',
    status: s.Status ?? 'unknown',
    ...(s.SnapshotCreateTime ? { createdAt: s.SnapshotCreateTime.toISOString() } : {}),
    tags: tagsOf(s.TagList),
  };
}

function fromClusterSnapshot(s: DBClusterSnapshot): SnapshotInfo {
  return {
    id: s.DBClusterSnapshotIdentifier ?? '',
    kind: 'cluster',
    databaseIdentifier: s.DBClusterIdentifier ?? '',
    status: s.Status ?? 'unknown',
    ...(s.SnapshotCreateTime ? { createdAt: s.SnapshotCreateTime.toISOString() } : {}),
    tags: tagsOf(s.TagList),
  };
}

/** Options a restore needs beyond the snapshot: where the new database lives. */
export interface RestoreNetwork {
  /** @default the snapshot's, else the default VPC's */
  readonly dbSubnetGroupName?: string;
  /** @default the VPC's default security group */
  readonly vpcSecurityGroupIds?: readonly string[];
}

/** DatabaseSnapshots on the RDS API. */
export class RdsSnapshots implements DatabaseSnapshots {
  constructor(
    private readonly client: RDSClient,
    private readonly network: RestoreNetwork = {},
    /** Records per Describe page (RDS allows 20-100); tests lower it to make paging happen. */
    private readonly pageSize = 100,
  ) {}

  async create(
    db: BackupDatabase,
    snapshotId: string,
    tags: Readonly<Record<string, string>>,
  ): Promise<SnapshotInfo> {
    const resource = `${what(db.kind)} ${db.identifier}`;
    try {
      if (db.kind === 'instance') {
        const out = await this.client.send(
          new CreateDBSnapshotCommand({
            DBInstanceIdentifier: db.identifier,
            DBSnapshotIdentifier: snapshotId,
            Tags: toTagList(tags),
          }),
        );
        if (!out.DBSnapshot) throw new Error(`RDS: CreateDBSnapshot for ${resource} returned no snapshot`);
        return fromInstanceSnapshot(out.DBSnapshot);
      }
      const out = await this.client.send(
        new CreateDBClusterSnapshotCommand({
          DBClusterIdentifier: db.identifier,
          DBClusterSnapshotIdentifier: snapshotId,
          Tags: toTagList(tags),
        }),
      );
      if (!out.DBClusterSnapshot)
        throw new Error(`RDS: CreateDBClusterSnapshot for ${resource} returned no snapshot`);
      return fromClusterSnapshot(out.DBClusterSnapshot);
    } catch (err) {
      if (ALREADY_EXISTS.has(errorName(err))) return this.existing(db, snapshotId, tags, err);
      throw classify(
        err,
        db.kind === 'instance' ? 'CreateDBSnapshot' : 'CreateDBClusterSnapshot',
        resource,
        ' Check backup.database in config/environments.yaml.',
      );
    }
  }

  /**
   * A retried step (Lambda and Step Functions deliver at least once) finds its own snapshot
   * already started: the same deployment id means it is ours, anything else is a real clash.
   */
  private async existing(
    db: BackupDatabase,
    snapshotId: string,
    tags: Readonly<Record<string, string>>,
    err: unknown,
  ): Promise<SnapshotInfo> {
    const found = await this.describe(db.kind, snapshotId);
    const mine = tags[BACKUP_TAGS.deploymentId];
    if (
      found &&
      found.databaseIdentifier === db.identifier &&
      mine !== undefined &&
      found.tags[BACKUP_TAGS.deploymentId] === mine
    ) {
      return found;
    }
    throw new ConflictError(
      `RDS: ${snapshotWhat(db.kind)} ${snapshotId} already exists and was not taken by deployment ${mine ?? '(none)'}; deploy again to take a snapshot under a new name`,
      { cause: err },
    );
  }

  async describe(kind: DatabaseKind, snapshotId: string): Promise<SnapshotInfo | undefined> {
    try {
      if (kind === 'instance') {
        const out = await this.client.send(
          new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: snapshotId }),
        );
        const s = out.DBSnapshots?.find((x) => x.DBSnapshotIdentifier === snapshotId);
        return s ? fromInstanceSnapshot(s) : undefined;
      }
      const out = await this.client.send(
        new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: snapshotId }),
      );
      const s = out.DBClusterSnapshots?.find((x) => x.DBClusterSnapshotIdentifier === snapshotId);
      return s ? fromClusterSnapshot(s) : undefined;
    } catch (err) {
      // "Not yet visible" right after CreateDBSnapshot is a state the judge waits on, not an error.
      if (isRdsNotFound(err)) return undefined;
      throw classify(err, 'Describe snapshot', `${snapshotWhat(kind)} ${snapshotId}`);
    }
  }

  async list(db: BackupDatabase): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    try {
      if (db.kind === 'instance') {
        const pages = paginateDescribeDBSnapshots(
          { client: this.client, pageSize: this.pageSize },
          { DBInstanceIdentifier: db.identifier, SnapshotType: 'manual' },
        );
        for await (const page of pages) out.push(...(page.DBSnapshots ?? []).map(fromInstanceSnapshot));
      } else {
        const pages = paginateDescribeDBClusterSnapshots(
          { client: this.client, pageSize: this.pageSize },
          { DBClusterIdentifier: db.identifier, SnapshotType: 'manual' },
        );
        for await (const page of pages) out.push(...(page.DBClusterSnapshots ?? []).map(fromClusterSnapshot));
      }
    } catch (err) {
      throw classify(err, 'List snapshots', `${what(db.kind)} ${db.identifier}`);
    }
    // RDS filters by database and type only; the prefix narrows to the guardian's (the core checks the tag).
    return out.filter((s) => s.id.startsWith(SNAPSHOT_PREFIX) && s.databaseIdentifier === db.identifier);
  }

  async delete(kind: DatabaseKind, snapshotId: string): Promise<boolean> {
    try {
      if (kind === 'instance') {
        await this.client.send(new DeleteDBSnapshotCommand({ DBSnapshotIdentifier: snapshotId }));
      } else {
        await this.client.send(
          new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: snapshotId }),
        );
      }
      return true;
    } catch (err) {
      // Retention may run twice (at-least-once delivery): already gone is done.
      if (isRdsNotFound(err)) return false;
      throw classify(err, 'Delete snapshot', `${snapshotWhat(kind)} ${snapshotId}`);
    }
  }

  async restore(plan: RestorePlan, tags: Readonly<Record<string, string>> = {}): Promise<RestoredDatabase> {
    if (plan.newIdentifier === plan.liveIdentifier) {
      // restorePlan never produces this; the check keeps the live database safe from any other caller.
      throw new Error(`refusing to restore over the live ${what(plan.kind)} ${plan.liveIdentifier}`);
    }
    const resource = `${snapshotWhat(plan.kind)} ${plan.snapshotId}`;
    const network = {
      ...(this.network.dbSubnetGroupName ? { DBSubnetGroupName: this.network.dbSubnetGroupName } : {}),
      ...(this.network.vpcSecurityGroupIds
        ? { VpcSecurityGroupIds: [...this.network.vpcSecurityGroupIds] }
        : {}),
    };
    try {
      if (plan.kind === 'instance') {
        const out = await this.client.send(
          new RestoreDBInstanceFromDBSnapshotCommand({
            DBInstanceIdentifier: plan.newIdentifier,
            DBSnapshotIdentifier: plan.snapshotId,
            Tags: toTagList(tags),
            ...network,
          }),
        );
        return {
          kind: 'instance',
          identifier: out.DBInstance?.DBInstanceIdentifier ?? plan.newIdentifier,
          status: out.DBInstance?.DBInstanceStatus ?? 'unknown',
        };
      }
      // RestoreDBClusterFromSnapshot requires the engine; the snapshot knows it.
      const snap = await this.client.send(
        new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: plan.snapshotId }),
      );
      const engine = snap.DBClusterSnapshots?.[0]?.Engine;
      if (!engine) throw new NotFoundError(`RDS: ${resource} does not exist or reports no engine`);
      const out = await this.client.send(
        new RestoreDBClusterFromSnapshotCommand({
          DBClusterIdentifier: plan.newIdentifier,
          SnapshotIdentifier: plan.snapshotId,
          Engine: engine,
          Tags: toTagList(tags),
          ...network,
        }),
      );
      return {
        kind: 'cluster',
        identifier: out.DBCluster?.DBClusterIdentifier ?? plan.newIdentifier,
        status: out.DBCluster?.Status ?? 'unknown',
      };
    } catch (err) {
      throw classify(
        err,
        plan.kind === 'instance' ? 'RestoreDBInstanceFromDBSnapshot' : 'RestoreDBClusterFromSnapshot',
        resource,
        " List the environment's snapshots with `guardian backup list`.",
      );
    }
  }
}

/** The adapter as a port table would build it (RDS client from the Lambda's region and role). */
export function rdsSnapshots(network?: RestoreNetwork): DatabaseSnapshots {
  return new RdsSnapshots(new RDSClient({}), network);
}
