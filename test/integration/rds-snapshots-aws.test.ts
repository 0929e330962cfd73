/**
 * The pre-deployment backup's RDS adapter (lambdas/adapters/rds-snapshots.ts) against moto server:
 * a DB instance is created, snapshotted with the guardian's name and tags, described until the
 * core judges it available, listed, restored to a new instance and deleted; a database that does
 * not exist gives a NotFoundError naming it. Moto gaps are named in the tests that meet them.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import {
  CreateDBClusterCommand,
  CreateDBInstanceCommand,
  CreateDBSnapshotCommand,
  DescribeDBInstancesCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RdsSnapshots } from '../../lambdas/adapters/rds-snapshots.ts';
import {
  BACKUP_TAGS,
  judgeSnapshot,
  restorePlan,
  retentionPlan,
  snapshotIdentifier,
  snapshotTags,
} from '../../lambdas/core/backup.ts';
import { ConflictError, NotFoundError, TransientError } from '../../lambdas/core/errors.ts';

const REGION = 'ap-southeast-1';
let moto: ChildProcess | undefined;
let endpoint = '';
let client: RDSClient;

const rdsClient = () =>
  new RDSClient({
    endpoint,
    region: REGION,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
let snapshots: RdsSnapshots;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  const server =
    execFileSync('bash', ['tools/moto/ensure.sh'], { encoding: 'utf8' }).trim().split('\n').pop() ?? '';
  const port = await freePort();
  moto = spawn(server, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  endpoint = `http://127.0.0.1:${port}`;
  let ready = false;
  for (let i = 0; i < 150 && !ready; i++) {
    ready = await fetch(`${endpoint}/moto-api/`).then(
      (r) => r.ok,
      () => false,
    );
    if (!ready) await new Promise((r) => setTimeout(r, 200));
  }
  if (!ready) throw new Error(`moto server did not come up on ${endpoint}`);
  client = rdsClient();
  snapshots = new RdsSnapshots(client);
  await client.send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: 'buywhere-db',
      DBInstanceClass: 'db.t4g.micro',
      Engine: 'postgres',
      AllocatedStorage: 20,
      MasterUsername: 'guardian',
      // moto needs a password to create the instance; nothing listens behind it.
      MasterUserPassword: 'not-a-secret-moto-only',
    }),
  );
});

afterAll(() => {
  moto?.kill();
});

const DB = { kind: 'instance', identifier: 'buywhere-db' } as const;
const DEPLOYMENT = 'production-v7-1-0-0a1b2c3d';

describe('RDS snapshots on moto', () => {
  it('snapshots the instance, waits until available, lists, restores to a new instance and deletes', async () => {
    const started = new Date();
    const id = snapshotIdentifier('production', 'v7.1.0', started);
    const created = await snapshots.create(DB, id, snapshotTags('production', 'v7.1.0', DEPLOYMENT));
    expect(created).toMatchObject({ id, kind: 'instance', databaseIdentifier: 'buywhere-db' });

    // Moto gap: snapshots are 'available' at once (RDS reports 'creating' for minutes); the
    // waiting and timeout paths are pinned by test/unit/backup.test.ts (judgeSnapshot).
    let verdict = 'waiting';
    for (let i = 0; i < 20 && verdict === 'waiting'; i++) {
      const s = await snapshots.describe('instance', id);
      verdict = judgeSnapshot(s?.status, started, 60, new Date(), id).verdict;
      if (verdict === 'waiting') await new Promise((r) => setTimeout(r, 250));
    }
    expect(verdict).toBe('available');

    const described = await snapshots.describe('instance', id);
    expect(described?.tags[BACKUP_TAGS.deploymentId]).toBe(DEPLOYMENT);
    expect(described?.createdAt).toMatch(/^\d{4}-\d\d-\d\dT/);

    const listed = await snapshots.list(DB);
    expect(listed.map((s) => s.id)).toContain(id);

    const plan = restorePlan(described ?? created, DB, new Date());
    const restored = await snapshots.restore(plan, { [BACKUP_TAGS.managedBy]: 'deployment-guardian' });
    expect(restored.identifier).toBe(plan.newIdentifier);
    const instances = await client.send(new DescribeDBInstancesCommand({}));
    expect(instances.DBInstances?.map((d) => d.DBInstanceIdentifier).sort()).toEqual(
      ['buywhere-db', plan.newIdentifier].sort(),
    );

    expect(await snapshots.delete('instance', id)).toBe(true);
    expect(await snapshots.describe('instance', id)).toBeUndefined();
    expect(await snapshots.delete('instance', id)).toBe(false);
  });

  it('returns the snapshot already started when the same deployment creates it again', async () => {
    const id = snapshotIdentifier('production', 'v7.2.0', new Date());
    const tags = snapshotTags('production', 'v7.2.0', DEPLOYMENT);
    await snapshots.create(DB, id, tags);
    const again = await snapshots.create(DB, id, tags);
    expect(again.id).toBe(id);
    await expect(
      snapshots.create(DB, id, snapshotTags('production', 'v7.2.0', 'other-deployment')),
    ).rejects.toThrow(ConflictError);
  });

  it('lists only the guardian-prefixed snapshots of the database, which retention then judges', async () => {
    await client.send(
      new CreateDBSnapshotCommand({
        DBInstanceIdentifier: 'buywhere-db',
        DBSnapshotIdentifier: 'manual-before-migration',
      }),
    );
    const ids = [1, 2, 3].map((n) => snapshotIdentifier('production', `v8.${n}.0`, new Date()));
    for (const id of ids) await snapshots.create(DB, id, snapshotTags('production', 'v8', DEPLOYMENT));
    const listed = await snapshots.list(DB);
    expect(listed.map((s) => s.id)).not.toContain('manual-before-migration');
    expect(listed.map((s) => s.id)).toEqual(expect.arrayContaining(ids));
    // Everything is seconds old, so a 30-day policy deletes nothing.
    expect(retentionPlan(listed, { keepLast: 1, maxAgeDays: 30 }, [], new Date()).deleteIds).toEqual([]);
  });

  it('lists every page when the database has more snapshots than one page holds', async () => {
    // Moto gap: DescribeDBSnapshots ignores MaxRecords and Marker and answers everything at once.
    // So this client cuts moto's real answer into pages as RDS does (Marker = offset), which makes
    // the adapter's paging loop run against moto's data.
    const paging = rdsClient();
    let pages = 0;
    paging.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'DescribeDBSnapshotsCommand') return next(args);
        const input = args.input as { MaxRecords?: number; Marker?: string };
        const size = input.MaxRecords ?? 100;
        const from = Number(input.Marker ?? '0');
        const result = await next({ ...args, input: { ...input, MaxRecords: undefined, Marker: undefined } });
        const all = (result.output as { DBSnapshots?: unknown[] }).DBSnapshots ?? [];
        pages++;
        return {
          ...result,
          output: {
            ...result.output,
            DBSnapshots: all.slice(from, from + size),
            Marker: from + size < all.length ? String(from + size) : undefined,
          },
        };
      },
      { step: 'initialize', name: 'pageLikeRds' },
    );
    const paged = new RdsSnapshots(paging, {}, 20);
    const base = Date.parse('2026-01-01T00:00:00Z');
    const ids = Array.from({ length: 45 }, (_, i) =>
      snapshotIdentifier('paging', 'v1', new Date(base + i * 1000)),
    );
    for (const id of ids) await paged.create(DB, id, snapshotTags('paging', 'v1', DEPLOYMENT));
    const listed = (await paged.list(DB)).map((s) => s.id);
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(listed).toEqual(expect.arrayContaining(ids));
    expect(new Set(listed).size).toBe(listed.length);
    for (const id of ids) await paged.delete('instance', id);
  });

  it('fails with NotFoundError naming a DB instance that does not exist', async () => {
    const err = await snapshots
      .create({ kind: 'instance', identifier: 'no-such-db' }, 'guardian-x-v1-20261203t120333z', {})
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toContain('DB instance no-such-db does not exist');
  });

  it('fails with NotFoundError naming a DB cluster that does not exist', async () => {
    const err = await snapshots
      .create({ kind: 'cluster', identifier: 'no-such-cluster' }, 'guardian-x-v1-20261203t120333z', {})
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toContain('DB cluster no-such-cluster does not exist');
  });

  it('fails with NotFoundError naming a snapshot to restore that does not exist', async () => {
    const plan = {
      kind: 'instance',
      snapshotId: 'guardian-gone-v1-20261203t120333z',
      newIdentifier: 'buywhere-db-restored-20261203t120333z',
      liveIdentifier: 'buywhere-db',
      lines: [],
    } as const;
    const err = await snapshots.restore(plan).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toContain('DB snapshot guardian-gone-v1-20261203t120333z does not exist');
  });

  it('snapshots an Aurora cluster and restores it to a new cluster', async () => {
    await client.send(
      new CreateDBClusterCommand({
        DBClusterIdentifier: 'buywhere-aurora',
        Engine: 'aurora-postgresql',
        MasterUsername: 'guardian',
        MasterUserPassword: 'not-a-secret-moto-only',
      }),
    );
    const cluster = { kind: 'cluster', identifier: 'buywhere-aurora' } as const;
    const id = snapshotIdentifier('production', 'v9.0.0', new Date());
    await snapshots.create(cluster, id, snapshotTags('production', 'v9.0.0', DEPLOYMENT));
    const s = await snapshots.describe('cluster', id);
    expect(s).toMatchObject({
      id,
      kind: 'cluster',
      databaseIdentifier: 'buywhere-aurora',
      status: 'available',
    });
    expect(s?.tags[BACKUP_TAGS.deploymentId]).toBe(DEPLOYMENT);
    expect((await snapshots.list(cluster)).map((x) => x.id)).toContain(id);
    const plan = restorePlan(
      s ?? { id, kind: 'cluster', databaseIdentifier: 'buywhere-aurora', status: 'available', tags: {} },
      cluster,
      new Date(),
    );
    const restored = await snapshots.restore(plan);
    expect(restored).toMatchObject({ kind: 'cluster', identifier: plan.newIdentifier });
    expect(await snapshots.delete('cluster', id)).toBe(true);
  });

  it.each([
    [400, 'Throttling', 'Rate exceeded'],
    [503, 'ServiceUnavailable', 'Service is unavailable'],
  ])('turns a %i %s answer into a TransientError', async (status, code, message) => {
    // Moto cannot throttle, so a server on 127.0.0.1 answers as RDS does (Query protocol XML error).
    const server = createHttpServer((_req, res) => {
      res.writeHead(status, { 'content-type': 'text/xml' });
      res.end(
        `<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>7f2c2a5e-6a2f-4c8e-9a53-0b7e3c1d2e4f</RequestId></ErrorResponse>`,
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const throttled = new RdsSnapshots(
        new RDSClient({
          endpoint: `http://127.0.0.1:${port}`,
          region: REGION,
          maxAttempts: 1,
          credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
        }),
      );
      const err = await throttled.list(DB).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransientError);
      expect((err as Error).message).toContain('DB instance buywhere-db');
    } finally {
      server.close();
    }
  });
});
