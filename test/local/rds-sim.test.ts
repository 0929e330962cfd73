/**
 * The local RDS double (lib/local/rds-sim.ts) on a simulated clock: snapshots become available
 * after their time, a `stuck` database never finishes one, a `failing` one fails it, restores make
 * a new database and leave the live one alone, and a file keeps it all between processes. The
 * errors it shares with the RDS adapter are pinned against moto in test/integration/rds-contract.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BACKUP_TAGS,
  judgeSnapshot,
  restorePlan,
  snapshotIdentifier,
  snapshotTags,
} from '../../lambdas/core/backup.ts';
import { ConflictError, NotFoundError } from '../../lambdas/core/errors.ts';
import { SimulatedClock } from '../../lib/local/clock.ts';
import { DEFAULT_SNAPSHOT_SECONDS, RdsSim, rdsSimFile } from '../../lib/local/rds-sim.ts';

const START = new Date('2026-12-03T12:00:00Z');
const DB = { kind: 'instance', identifier: 'buywhere-db' } as const;
const TAGS = snapshotTags('staging', 'v1.2.3', 'staging-v1-2-3-0a1b2c3d');

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function seeded(identifier: string = DB.identifier, kind: 'instance' | 'cluster' = 'instance') {
  const clock = new SimulatedClock(START);
  const sim = new RdsSim({ clock });
  sim.seedDatabase({ kind, identifier });
  return { clock, sim };
}

describe('RdsSim', () => {
  it('reports a new snapshot creating, then available once its seconds have passed', async () => {
    const { clock, sim } = seeded();
    const id = snapshotIdentifier('staging', 'v1.2.3', clock.now());
    const created = await sim.create(DB, id, TAGS);
    expect(created).toMatchObject({
      id,
      kind: 'instance',
      databaseIdentifier: 'buywhere-db',
      status: 'creating',
      createdAt: START.toISOString(),
    });
    expect(created.tags[BACKUP_TAGS.deploymentId]).toBe('staging-v1-2-3-0a1b2c3d');
    clock.advance(DEFAULT_SNAPSHOT_SECONDS - 1);
    expect((await sim.describe('instance', id))?.status).toBe('creating');
    clock.advance(1);
    const s = await sim.describe('instance', id);
    expect(s?.status).toBe('available');
    expect(judgeSnapshot(s?.status, START, 1800, clock.now(), id).verdict).toBe('available');
  });

  it('never finishes a snapshot of a database whose identifier says stuck, so the backup deadline runs out', async () => {
    const db = { kind: 'instance', identifier: 'buywhere-stuck-db' } as const;
    const { clock, sim } = seeded(db.identifier);
    const id = snapshotIdentifier('staging', 'v2', clock.now());
    await sim.create(db, id, TAGS);
    clock.advance(1800);
    const s = await sim.describe('instance', id);
    expect(s?.status).toBe('creating');
    const judged = judgeSnapshot(s?.status, START, 1800, clock.now(), id);
    expect(judged.verdict).toBe('failed');
    expect(judged.sentence).toContain('timed out');
  });

  it('fails the snapshots of a database whose identifier says failing', async () => {
    const db = { kind: 'cluster', identifier: 'failing-aurora' } as const;
    const { clock, sim } = seeded(db.identifier, 'cluster');
    const id = snapshotIdentifier('staging', 'v3', clock.now());
    await sim.create(db, id, TAGS);
    expect((await sim.describe('cluster', id))?.status).toBe('creating');
    clock.advance(DEFAULT_SNAPSHOT_SECONDS);
    expect((await sim.describe('cluster', id))?.status).toBe('failed');
  });

  it('refuses a snapshot of a database it does not know with the NotFoundError naming it', async () => {
    const { sim } = seeded();
    const err = await sim
      .create({ kind: 'instance', identifier: 'no-such-db' }, 'guardian-x-v1-20261203t120333z', TAGS)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toBe(
      'RDS: DB instance no-such-db does not exist (CreateDBSnapshot: DBInstanceNotFoundFault). Check backup.database in config/environments.yaml.',
    );
    const cluster = await sim
      .create({ kind: 'cluster', identifier: 'buywhere-db' }, 'guardian-x-v1-20261203t120333z', TAGS)
      .catch((e: unknown) => e);
    expect((cluster as Error).message).toContain('DB cluster buywhere-db does not exist');
  });

  it('returns the snapshot already started to the same deployment and refuses another deployment the id', async () => {
    const { clock, sim } = seeded();
    const id = snapshotIdentifier('staging', 'v1.2.3', clock.now());
    await sim.create(DB, id, TAGS);
    clock.advance(5);
    const again = await sim.create(DB, id, TAGS);
    expect(again.createdAt).toBe(START.toISOString());
    await expect(sim.create(DB, id, snapshotTags('staging', 'v1.2.3', 'someone-else'))).rejects.toThrow(
      ConflictError,
    );
    expect(await sim.list(DB)).toHaveLength(1);
  });

  it("lists only the guardian's snapshots of that database and deletes an available one once", async () => {
    const { clock, sim } = seeded();
    sim.seedDatabase({ kind: 'instance', identifier: 'other-db' });
    const mine = snapshotIdentifier('staging', 'v1', clock.now());
    await sim.create(DB, mine, TAGS);
    await sim.create(DB, 'manual-before-migration', {});
    await sim.create(
      { kind: 'instance', identifier: 'other-db' },
      snapshotIdentifier('x', 'v1', START),
      TAGS,
    );
    expect((await sim.list(DB)).map((s) => s.id)).toEqual([mine]);
    expect(await sim.list({ kind: 'instance', identifier: 'unknown' })).toEqual([]);
    // RDS refuses to delete a snapshot while it is being created.
    await expect(sim.delete('instance', mine)).rejects.toMatchObject({ name: 'InvalidDBSnapshotStateFault' });
    clock.advance(DEFAULT_SNAPSHOT_SECONDS);
    expect(await sim.delete('instance', mine)).toBe(true);
    expect(await sim.delete('instance', mine)).toBe(false);
    expect(await sim.describe('instance', mine)).toBeUndefined();
  });

  it('restores to a new database, leaves the live one as it was and refuses an identifier that exists', async () => {
    const { clock, sim } = seeded();
    const id = snapshotIdentifier('staging', 'v1', clock.now());
    await sim.create(DB, id, TAGS);
    clock.advance(DEFAULT_SNAPSHOT_SECONDS);
    const snapshot = await sim.describe('instance', id);
    if (!snapshot) throw new Error('snapshot missing');
    const plan = restorePlan(snapshot, DB, clock.now());
    const restored = await sim.restore(plan, { [BACKUP_TAGS.environment]: 'staging' });
    expect(restored).toEqual({ kind: 'instance', identifier: plan.newIdentifier, status: 'creating' });
    expect(sim.database('instance', 'buywhere-db')).toMatchObject({ status: 'available' });
    expect(sim.database('instance', 'buywhere-db')?.restoredFrom).toBeUndefined();
    expect(sim.database('instance', plan.newIdentifier)).toMatchObject({
      status: 'creating',
      restoredFrom: id,
      tags: { [BACKUP_TAGS.environment]: 'staging' },
    });
    clock.advance(120);
    expect(sim.database('instance', plan.newIdentifier)?.status).toBe('available');
    await expect(sim.restore(plan)).rejects.toMatchObject({ name: 'DBInstanceAlreadyExistsFault' });
    await expect(sim.restore({ ...plan, newIdentifier: 'buywhere-db' })).rejects.toThrow(
      'refusing to restore over the live DB instance buywhere-db',
    );
    expect(sim.databases().map((d) => d.identifier)).toEqual(['buywhere-db', plan.newIdentifier]);
  });

  it('refuses to restore a snapshot that is still being created or does not exist', async () => {
    const { clock, sim } = seeded();
    const id = snapshotIdentifier('staging', 'v1', clock.now());
    await sim.create(DB, id, TAGS);
    const plan = {
      kind: 'instance',
      snapshotId: id,
      newIdentifier: 'buywhere-db-restored-20261203t120000z',
      liveIdentifier: 'buywhere-db',
      lines: [],
    } as const;
    await expect(sim.restore(plan)).rejects.toMatchObject({ name: 'InvalidDBSnapshotStateFault' });
    const err = await sim
      .restore({ ...plan, snapshotId: 'guardian-gone-v1-20261203t120333z' })
      .catch((e) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toBe(
      "RDS: DB snapshot guardian-gone-v1-20261203t120333z does not exist (RestoreDBInstanceFromDBSnapshot: DBSnapshotNotFoundFault). List the environment's snapshots with `guardian backup list`.",
    );
    expect(sim.databases()).toHaveLength(1);
  });

  it('keeps its state in a file that a second double on the same file reads back', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'guardian-rds-'));
    dirs.push(dir);
    const file = path.join(dir, 'rds-staging.json');
    const clock = new SimulatedClock(START);
    const first = new RdsSim({ clock, persistence: rdsSimFile(file) });
    first.seedDatabase(DB);
    const id = snapshotIdentifier('staging', 'v1', clock.now());
    await first.create(DB, id, TAGS);
    clock.advance(DEFAULT_SNAPSHOT_SECONDS);

    const second = new RdsSim({ clock, persistence: rdsSimFile(file) });
    expect(await second.describe('instance', id)).toMatchObject({ status: 'available', tags: TAGS });
    const plan = restorePlan((await second.describe('instance', id)) as never, DB, clock.now());
    await second.restore(plan);
    // The first double reads the file again on every call: it sees the second one's restore.
    expect(first.database('instance', plan.newIdentifier)?.restoredFrom).toBe(id);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { snapshots: unknown[]; databases: unknown[] };
    expect(saved.snapshots).toHaveLength(1);
    expect(saved.databases).toHaveLength(2);
    // Seeding again writes nothing new.
    second.seedDatabase(DB);
    expect(JSON.parse(readFileSync(file, 'utf8')).databases).toHaveLength(2);
  });

  it('names a damaged state file and the way out', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'guardian-rds-'));
    dirs.push(dir);
    const file = path.join(dir, 'rds-staging.json');
    writeFileSync(file, '{"databases": [');
    const sim = new RdsSim({ clock: new SimulatedClock(START), persistence: rdsSimFile(file) });
    await expect(sim.list(DB)).rejects.toThrow(`local state ${file} (the local RDS double) is damaged`);
    writeFileSync(file, '{"databases": 3}');
    await expect(sim.list(DB)).rejects.toThrow('unexpected content');
  });
});
