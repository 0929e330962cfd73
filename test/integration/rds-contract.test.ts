/**
 * One scenario file, two targets: the RDS adapter on moto server and the local RDS double
 * (lib/local/rds-sim.ts) answer the same DatabaseSnapshots calls the same way, so the double the
 * local runner and `guardian backup --local` use cannot drift from what RDS does. Where moto differs
 * from RDS (snapshots available at once), the scenario waits as the backup step does.
 */
import { CreateDBClusterCommand, CreateDBInstanceCommand, RDSClient } from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RdsSnapshots } from '../../lambdas/adapters/rds-snapshots.ts';
import {
  BACKUP_TAGS,
  type BackupDatabase,
  type DatabaseSnapshots,
  restorePlan,
  type SnapshotInfo,
  snapshotIdentifier,
  snapshotTags,
} from '../../lambdas/core/backup.ts';
import { ConflictError, NotFoundError } from '../../lambdas/core/errors.ts';
import { SimulatedClock } from '../../lib/local/clock.ts';
import { RdsSim } from '../../lib/local/rds-sim.ts';
import { type Moto, startMoto } from '../helpers/moto.ts';

const REGION = 'ap-southeast-1';
const INSTANCE = { kind: 'instance', identifier: 'contract-db' } as const;
const CLUSTER = { kind: 'cluster', identifier: 'contract-aurora' } as const;
const DEPLOYMENT = 'staging-v1-0-0-0a1b2c3d';

interface Target {
  readonly snapshots: DatabaseSnapshots;
  /** Waits until the snapshot is no longer `creating` (moto: at once; the double: its clock). */
  settle(): Promise<void>;
}

let moto: Moto | undefined;
const targets: Record<string, Target> = {};

beforeAll(async () => {
  moto = await startMoto();
  const client = new RDSClient({
    endpoint: moto.endpoint,
    region: REGION,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  await client.send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: INSTANCE.identifier,
      DBInstanceClass: 'db.t4g.micro',
      Engine: 'postgres',
      AllocatedStorage: 20,
      MasterUsername: 'guardian',
      // moto needs a password to create the instance; nothing listens behind it.
      MasterUserPassword: 'not-a-secret-moto-only',
    }),
  );
  await client.send(
    new CreateDBClusterCommand({
      DBClusterIdentifier: CLUSTER.identifier,
      Engine: 'aurora-postgresql',
      MasterUsername: 'guardian',
      MasterUserPassword: 'not-a-secret-moto-only',
    }),
  );
  targets.moto = { snapshots: new RdsSnapshots(client), settle: async () => undefined };
  const clock = new SimulatedClock(new Date('2026-12-03T12:00:00Z'));
  const sim = new RdsSim({ clock });
  sim.seedDatabase(INSTANCE);
  sim.seedDatabase(CLUSTER);
  targets.double = { snapshots: sim, settle: async () => clock.advance(60) };
}, 120_000);

afterAll(() => {
  moto?.stop();
});

const errorOf = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );

/** What a scenario observed, compared between the targets. */
async function scenario(target: Target, db: BackupDatabase, n: number): Promise<Record<string, unknown>> {
  const { snapshots } = target;
  const id = snapshotIdentifier('contract', `v${n}`, new Date(Date.UTC(2026, 11, 3, 12, 0, n)));
  const tags = snapshotTags('contract', `v${n}`, DEPLOYMENT);
  const created = await snapshots.create(db, id, tags);
  const again = await snapshots.create(db, id, tags);
  const clash = await errorOf(snapshots.create(db, id, snapshotTags('contract', `v${n}`, 'another')));
  await target.settle();
  const described = (await snapshots.describe(db.kind, id)) as SnapshotInfo;
  const listed = (await snapshots.list(db)).map((s) => s.id);
  const missingDb = await errorOf(
    snapshots.create({ kind: db.kind, identifier: `no-such-${db.kind}` }, `${id}-x`, tags),
  );
  const plan = restorePlan(described, db, new Date(Date.UTC(2026, 11, 3, 13, 0, n)));
  const restored = await snapshots.restore(plan, { [BACKUP_TAGS.environment]: 'contract' });
  const missingSnapshot = await errorOf(
    snapshots.restore({ ...plan, snapshotId: `${id}-gone`, newIdentifier: `${plan.newIdentifier}x` }),
  );
  const overLive = await errorOf(snapshots.restore({ ...plan, newIdentifier: db.identifier }));
  const deleted = [await snapshots.delete(db.kind, id), await snapshots.delete(db.kind, id)];
  return {
    created: { id: created.id, kind: created.kind, database: created.databaseIdentifier },
    againId: again.id,
    clash: clash && { type: clash.constructor.name, message: clash.message },
    described: {
      status: described.status,
      deployment: described.tags[BACKUP_TAGS.deploymentId],
      version: described.tags[BACKUP_TAGS.version],
      hasTime: typeof described.createdAt === 'string',
    },
    listed: listed.includes(id),
    missingDb: missingDb && { notFound: missingDb instanceof NotFoundError, message: missingDb.message },
    restored: { kind: restored.kind, identifier: restored.identifier === plan.newIdentifier },
    missingSnapshot: missingSnapshot && {
      notFound: missingSnapshot instanceof NotFoundError,
      message: missingSnapshot.message.replace(`${id}-gone`, 'ID'),
    },
    overLive: overLive?.message,
    deleted,
    after: await snapshots.describe(db.kind, id),
  };
}

describe('the RDS double answers as the RDS adapter on moto', () => {
  it.each([
    ['a DB instance', INSTANCE, 1],
    ['an Aurora DB cluster', CLUSTER, 2],
  ] as const)(
    'snapshots, lists, restores and deletes for %s, failing with the same errors',
    async (_, db, n) => {
      const onMoto = await scenario(targets.moto as Target, db, n);
      const onDouble = await scenario(targets.double as Target, db, n);
      expect(onDouble).toEqual(onMoto);
      // What both agree on is what the guardian relies on.
      expect(onMoto).toMatchObject({
        clash: { type: ConflictError.name },
        described: { status: 'available', deployment: DEPLOYMENT },
        listed: true,
        missingDb: { notFound: true },
        missingSnapshot: { notFound: true },
        deleted: [true, false],
      });
      expect(onMoto.missingDb).toMatchObject({
        message: expect.stringContaining(
          `${db.kind === 'instance' ? 'DB instance' : 'DB cluster'} no-such-${db.kind} does not exist`,
        ),
      });
    },
  );
});
