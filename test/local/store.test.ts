import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStore } from '../../lambdas/adapters/dynamo-store.ts';
import { ConflictError, NotFoundError, TransientError } from '../../lambdas/core/errors.ts';
import { buildLock } from '../../lambdas/core/lock.ts';
import type { DeploymentRecord } from '../../lambdas/core/types.ts';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.ts';

let db: LocalDynamo;
beforeAll(async () => {
  db = await startLocalDynamo();
});
afterAll(async () => {
  await db?.close();
});

const t0 = new Date('2026-05-01T00:00:00Z');
const at = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);

function record(
  environment: string,
  id: string,
  startedAt: string,
  over: Partial<DeploymentRecord> = {},
): DeploymentRecord {
  return {
    environment,
    id,
    kind: 'deploy',
    status: 'in-progress',
    executionArn: `arn:exec:${id}`,
    trigger: 'ci',
    requestedBy: 'ci-bot',
    image: 'repo/api:v2',
    rollbackPoint: {
      platform: 'kubernetes',
      revision: 1,
      image: 'repo/api:v1',
      // Nested maps, lists, numbers and booleans: the store keeps a pod template as written.
      podTemplate: {
        metadata: { labels: { app: 'api' }, annotations: {} },
        spec: {
          containers: [{ name: 'api', image: 'repo/api:v1', ports: [{ containerPort: 8080 }] }],
          terminationGracePeriodSeconds: 30,
          automountServiceAccountToken: false,
        },
      },
    },
    startedAt,
    ...over,
  };
}

describe('DynamoStore records', () => {
  it('creates, reads and updates a record', async () => {
    const r = record('rec', 'd1', t0.toISOString(), { ciRunUrl: 'https://ci.example/run/1' });
    await db.store.putRecord(r);
    expect(await db.store.getRecord('rec', 'd1')).toEqual(r);
    const updated = await db.store.updateRecord('rec', 'd1', {
      status: 'succeeded',
      revision: 2,
      finishedAt: at(5).toISOString(),
    });
    expect(updated).toEqual({ ...r, status: 'succeeded', revision: 2, finishedAt: at(5).toISOString() });
    expect(await db.store.getRecord('rec', 'd1')).toEqual(updated);
  });

  it('treats a retried put by the same execution as done', async () => {
    const r = record('rec', 'd2', t0.toISOString());
    await db.store.putRecord(r);
    await db.store.updateRecord('rec', 'd2', { status: 'succeeded' });
    await expect(db.store.putRecord(r)).resolves.toBeUndefined();
    expect((await db.store.getRecord('rec', 'd2'))?.status).toBe('succeeded');
  });

  it('refuses a second record with the same id from another execution', async () => {
    await db.store.putRecord(record('rec', 'd3', t0.toISOString()));
    const clash = record('rec', 'd3', t0.toISOString(), { executionArn: 'arn:exec:other' });
    await expect(db.store.putRecord(clash)).rejects.toThrow(ConflictError);
    await expect(db.store.putRecord(clash)).rejects.toThrow(/already exists for execution arn:exec:d3/);
  });

  it('refuses to update a record that does not exist, and does not create it', async () => {
    await expect(db.store.updateRecord('rec', 'missing', { status: 'succeeded' })).rejects.toThrow(
      NotFoundError,
    );
    expect(await db.store.getRecord('rec', 'missing')).toBeUndefined();
  });

  it('never changes the keys through an update and ignores undefined fields', async () => {
    await db.store.putRecord(record('rec', 'd4', t0.toISOString()));
    const u = await db.store.updateRecord('rec', 'd4', {
      id: 'other',
      environment: 'x',
      reason: undefined,
      status: 'failed',
    });
    expect(u).toMatchObject({ environment: 'rec', id: 'd4', status: 'failed' });
    expect(u.reason).toBeUndefined();
    expect(await db.store.updateRecord('rec', 'd4', {})).toEqual(u);
  });

  it('lists history newest first, limited, and per environment', async () => {
    for (const [id, minute] of [
      ['h-b', 2],
      ['h-a', 1],
      ['h-d', 4],
      ['h-c', 3],
    ] as const) {
      await db.store.putRecord(record('hist', id, at(minute).toISOString()));
    }
    await db.store.putRecord(record('other-env', 'h-x', at(9).toISOString()));
    expect((await db.store.listRecords('hist', 10)).map((r) => r.id)).toEqual(['h-d', 'h-c', 'h-b', 'h-a']);
    expect((await db.store.listRecords('hist', 2)).map((r) => r.id)).toEqual(['h-d', 'h-c']);
    expect(await db.store.listRecords('hist', 0)).toEqual([]);
    expect(await db.store.listRecords('empty', 5)).toEqual([]);
  });
});

describe('DynamoStore lock', () => {
  it('lets exactly one of two concurrent racers take the lock', async () => {
    const a = buildLock('race', 'deploy-a', 'arn:a', t0, 3600);
    const b = buildLock('race', 'deploy-b', 'arn:b', t0, 3600);
    const [ra, rb] = await Promise.all([db.store.acquireLock(a, t0), db.store.acquireLock(b, t0)]);
    expect([ra.acquired, rb.acquired].filter(Boolean)).toHaveLength(1);
    const winner = ra.acquired ? 'deploy-a' : 'deploy-b';
    const loser = ra.acquired ? rb : ra;
    expect(loser).toMatchObject({ acquired: false, holder: { holder: winner } });
    expect((await db.store.getLock('race'))?.holder).toBe(winner);
  });

  it('lets exactly one of many concurrent racers win', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        db.store.acquireLock(buildLock('race8', `d${i}`, `arn:${i}`, t0, 3600), t0),
      ),
    );
    expect(results.filter((r) => r.acquired)).toHaveLength(1);
  });

  it('refuses while held and names the holder, then allows takeover exactly at expiry', async () => {
    const first = buildLock('expiry', 'deploy-1', 'arn:1', t0, 3600);
    expect((await db.store.acquireLock(first, t0)).acquired).toBe(true);
    const justBefore = new Date(Date.parse(first.expiresAt) - 1);
    const second = buildLock('expiry', 'deploy-2', 'arn:2', justBefore, 3600);
    expect(await db.store.acquireLock(second, justBefore)).toEqual({ acquired: false, holder: first });
    const atExpiry = new Date(first.expiresAt);
    const third = buildLock('expiry', 'deploy-3', 'arn:3', atExpiry, 3600);
    expect(await db.store.acquireLock(third, atExpiry)).toEqual({ acquired: true, lock: third });
    expect(await db.store.getLock('expiry')).toEqual(third);
  });

  it('lets the holder take its own lock again (a retried step)', async () => {
    const lock = buildLock('reentrant', 'deploy-1', 'arn:1', t0, 3600);
    expect((await db.store.acquireLock(lock, t0)).acquired).toBe(true);
    expect((await db.store.acquireLock(lock, at(1))).acquired).toBe(true);
  });

  it('refuses a release by a non-holder and keeps the lock', async () => {
    const lock = buildLock('release', 'deploy-1', 'arn:1', t0, 3600);
    await db.store.acquireLock(lock, t0);
    expect(await db.store.releaseLock('release', 'deploy-2')).toBe(false);
    expect(await db.store.getLock('release')).toEqual(lock);
    expect(await db.store.releaseLock('release', 'deploy-1')).toBe(true);
    expect(await db.store.getLock('release')).toBeUndefined();
  });

  it('treats releasing an already released lock as a no-op', async () => {
    expect(await db.store.releaseLock('never-locked', 'deploy-1')).toBe(false);
  });
});

describe('DynamoStore breaker and freezes', () => {
  it('reads a never-written breaker as closed and stores updates', async () => {
    expect(await db.store.getBreaker('brk')).toEqual({
      environment: 'brk',
      state: 'closed',
      consecutiveFailures: 0,
    });
    const open = {
      environment: 'brk',
      state: 'open',
      consecutiveFailures: 2,
      reason: 'x',
      updatedAt: t0.toISOString(),
      lastEventId: 'r1',
    } as const;
    expect(await db.store.updateBreaker('brk', () => open)).toEqual({ ...open, version: 1 });
    expect(await db.store.getBreaker('brk')).toEqual({ ...open, version: 1 });
    // Returning the state unchanged writes nothing.
    const same = await db.store.updateBreaker('brk', (b) => b);
    expect(same.version).toBe(1);
  });

  it('counts every concurrent breaker update once: no writer overwrites another', async () => {
    const env = 'brk-race';
    const racers = Array.from({ length: 6 }, (_, i) =>
      db.store.updateBreaker(env, (b) => ({
        ...b,
        consecutiveFailures: b.consecutiveFailures + 1,
        lastEventId: `r${i}`,
      })),
    );
    const results = await Promise.allSettled(racers);
    const written = results.filter((r) => r.status === 'fulfilled').length;
    const breaker = await db.store.getBreaker(env);
    // Each successful write saw the one before it; a writer that lost five races gives up loudly.
    expect(breaker.consecutiveFailures).toBe(written);
    expect(breaker.version).toBe(written);
    for (const r of results) {
      if (r.status === 'rejected') expect((r.reason as Error).name).toBe('TransientError');
    }
  });

  it('stores, lists and deletes ad-hoc freezes per environment', async () => {
    const f = {
      environment: 'frz',
      id: 'f1',
      start: t0.toISOString(),
      end: at(60).toISOString(),
      reason: 'incident',
      createdBy: 'bolt',
    };
    await db.store.putFreeze(f);
    await db.store.putFreeze({ ...f, environment: 'frz-other' });
    expect(await db.store.listFreezes('frz')).toEqual([f]);
    expect(await db.store.deleteFreeze('frz', 'f1')).toBe(true);
    expect(await db.store.deleteFreeze('frz', 'f1')).toBe(false);
    expect(await db.store.listFreezes('frz')).toEqual([]);
  });
});

describe('DynamoStore failures', () => {
  it('writes records with undefined optional fields through a plain document client', async () => {
    const { DynamoDBDocumentClient } = await import('@aws-sdk/lib-dynamodb');
    const plain = new DynamoStore(DynamoDBDocumentClient.from(db.client), db.tables);
    await plain.putRecord(
      record('plain', 'p1', t0.toISOString(), { ciRunUrl: undefined, version: undefined }),
    );
    expect(await plain.getRecord('plain', 'p1')).not.toHaveProperty('ciRunUrl');
  });

  it('reports an unreachable DynamoDB as a TransientError', async () => {
    const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
    const { DynamoDBDocumentClient } = await import('@aws-sdk/lib-dynamodb');
    const dead = new DynamoDBClient({
      endpoint: 'http://127.0.0.1:9',
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      maxAttempts: 1,
    });
    const store = new DynamoStore(DynamoDBDocumentClient.from(dead), db.tables);
    await expect(store.getBreaker('x')).rejects.toThrow(TransientError);
    dead.destroy();
  });
});

describe('alarm claims and event dedupe', () => {
  const mark = (name: string) => ({ name, reason: `${name} is in ALARM`, at: at(5).toISOString() });

  it('lets exactly one of many concurrent alarms claim a release', async () => {
    const store = new DynamoStore(db.doc, db.tables);
    await store.putRecord(record('claims', 'rel-1', at(0).toISOString(), { status: 'succeeded' }));
    const names = [
      'HighErrorRate',
      'APIServiceDown',
      'LatencyP99',
      'HealthCheckFailing',
      'PodsBelowReplicas',
    ];
    const results = await Promise.allSettled(
      names.map((n) =>
        store.updateRecord(
          'claims',
          'rel-1',
          { alarm: mark(n) },
          { status: ['succeeded'], unset: ['alarm'] },
        ),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const losers = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    for (const l of losers) {
      expect(l.reason).toBeInstanceOf(ConflictError);
      expect((l.reason as Error).message).toMatch(
        /its alarm is already set; another writer claimed it first/,
      );
    }
    const won = (await store.getRecord('claims', 'rel-1'))?.alarm?.name;
    expect(names).toContain(won);
  });

  it('still refuses a claim on a record in another status, naming that status', async () => {
    const store = new DynamoStore(db.doc, db.tables);
    await store.putRecord(record('claims', 'rel-2', at(0).toISOString(), { status: 'rolled-back' }));
    await expect(
      store.updateRecord(
        'claims',
        'rel-2',
        { alarm: mark('X') },
        { status: ['succeeded'], unset: ['alarm'] },
      ),
    ).rejects.toThrow(/it is rolled-back/);
  });

  it('handles an event id once, however often it is delivered', async () => {
    const store = new DynamoStore(db.doc, db.tables);
    const firsts = await Promise.all(
      Array.from({ length: 20 }, () => store.markEventHandled('claims', 'evt-1', at(60))),
    );
    expect(firsts.filter(Boolean)).toHaveLength(1);
    expect(await store.markEventHandled('claims', 'evt-2', at(60))).toBe(true);
    // Event ids are per environment: the same id elsewhere is another event.
    expect(await store.markEventHandled('claims-other', 'evt-1', at(60))).toBe(true);
  });
});
