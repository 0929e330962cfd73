/**
 * The pre-deployment backup's pure core (lambdas/core/backup.ts) and its config block
 * (lib/config/backup-schema.ts). Identifier rules are AWS's CreateDBSnapshot /
 * CreateDBClusterSnapshot constraints: 1-255 (cluster snapshots and restored databases: 1-63)
 * letters, digits or hyphens, a letter first, no two consecutive hyphens, no trailing hyphen.
 */
import { describe, expect, it } from 'vitest';
import {
  BACKUP_TAGS,
  isGuardianSnapshot,
  isValidRdsIdentifier,
  judgeSnapshot,
  MANAGED_BY_VALUE,
  restorePlan,
  retentionPlan,
  type SnapshotInfo,
  snapshotIdentifier,
  snapshotTags,
} from '../../lambdas/core/backup.ts';
import { InvalidInputError } from '../../lambdas/core/errors.ts';
import { backupSchema } from '../../lib/config/backup-schema.ts';

/** mulberry32: a seeded generator so every property run is reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = 'abcXYZ019.-_/:+ ---..éß😀\u0000\t';
function randomString(r: () => number, max: number): string {
  const n = Math.floor(r() * (max + 1));
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(r() * ALPHABET.length)];
  return s;
}

const AT = new Date('2026-12-03T12:03:33.456Z');

describe('snapshotIdentifier', () => {
  it('names the snapshot after the environment, version and second', () => {
    expect(snapshotIdentifier('production', 'v7.1.0', AT)).toBe(
      'guardian-production-v7-1-0-20261203t120333z',
    );
  });

  it('gives a valid RDS identifier of at most 63 characters for any environment and version', () => {
    const r = rng(10);
    for (let i = 0; i < 2000; i++) {
      const env = randomString(r, 90);
      const version = randomString(r, 140);
      const at = new Date(Math.floor(r() * 4102444800000));
      const id = snapshotIdentifier(env, version, at);
      expect(isValidRdsIdentifier(id), `${JSON.stringify([env, version, at])} -> ${id}`).toBe(true);
      expect(id.startsWith('guardian-')).toBe(true);
      expect(id).toBe(id.toLowerCase());
    }
  });

  it('gives the same name for the same input and different names for different seconds', () => {
    const r = rng(11);
    for (let i = 0; i < 500; i++) {
      const env = randomString(r, 40);
      const version = randomString(r, 120);
      const t = Math.floor(r() * 4102444800) * 1000;
      const a = snapshotIdentifier(env, version, new Date(t));
      expect(snapshotIdentifier(env, version, new Date(t + 999))).toBe(a);
      expect(snapshotIdentifier(env, version, new Date(t + 1000))).not.toBe(a);
    }
  });

  it('keeps two long versions apart when both are cut to the same length', () => {
    const long = 'v1.2.3-build.'.padEnd(120, 'x');
    const a = snapshotIdentifier('production', `${long}a`, AT);
    const b = snapshotIdentifier('production', `${long}b`, AT);
    expect(a).not.toBe(b);
    expect(a.length).toBeLessThanOrEqual(63);
    expect(a.startsWith('guardian-production-v1-2-3-build-')).toBe(true);
  });

  it('keeps the version readable when the environment name is very long', () => {
    const id = snapshotIdentifier('e'.repeat(80), 'v2.0.0', AT);
    expect(id).toContain('-v2-0-0-20261203t120333z');
    expect(isValidRdsIdentifier(id)).toBe(true);
  });

  it('names an empty environment and version with placeholders', () => {
    expect(snapshotIdentifier('', '...', AT)).toBe('guardian-env-release-20261203t120333z');
  });

  it('refuses an invalid date', () => {
    expect(() => snapshotIdentifier('production', 'v1', new Date(Number.NaN))).toThrow(InvalidInputError);
  });
});

describe('isValidRdsIdentifier', () => {
  it.each([
    ['a', true],
    ['my-snapshot-id', true],
    ['1abc', false],
    ['a--b', false],
    ['abc-', false],
    ['', false],
    ['a_b', false],
    ['a'.repeat(63), true],
    ['a'.repeat(64), false],
  ])('judges %s as %s', (id, ok) => {
    expect(isValidRdsIdentifier(id)).toBe(ok);
  });
});

const DAY = 86_400_000;
const NOW = new Date('2026-12-03T12:00:00Z');
const tags = snapshotTags('production', 'v1', 'production-v1-0a1b2c3d');
function snap(id: string, daysOld: number | undefined, extra: Partial<SnapshotInfo> = {}): SnapshotInfo {
  return {
    id,
    kind: 'instance',
    databaseIdentifier: 'buywhere-db',
    status: 'available',
    ...(daysOld === undefined ? {} : { createdAt: new Date(NOW.getTime() - daysOld * DAY).toISOString() }),
    tags,
    ...extra,
  };
}

describe('retentionPlan', () => {
  it('deletes snapshots older than maxAgeDays beyond the newest keepLast', () => {
    const snaps = [40, 1, 35, 2, 3, 50].map((d) => snap(`guardian-p-v-${String(d).padStart(2, '0')}`, d));
    const plan = retentionPlan(snaps, { keepLast: 3, maxAgeDays: 30 }, [], NOW);
    expect(plan.decisions.map((d) => [d.id, d.action, d.reason])).toEqual([
      ['guardian-p-v-01', 'keep', 'newest'],
      ['guardian-p-v-02', 'keep', 'newest'],
      ['guardian-p-v-03', 'keep', 'newest'],
      ['guardian-p-v-35', 'delete', 'expired'],
      ['guardian-p-v-40', 'delete', 'expired'],
      ['guardian-p-v-50', 'delete', 'expired'],
    ]);
    expect(plan.deleteIds).toEqual(['guardian-p-v-35', 'guardian-p-v-40', 'guardian-p-v-50']);
    expect(plan.summary).toContain('deleting 3 of 6');
    expect(plan.decisions[3]?.sentence).toBe(
      'guardian-p-v-35: deleted, 35 days old (more than 30) and not one of the newest 3',
    );
  });

  it('keeps old snapshots while there are no more than keepLast of them', () => {
    const snaps = [100, 200].map((d) => snap(`guardian-p-v-${d}`, d));
    expect(retentionPlan(snaps, { keepLast: 7, maxAgeDays: 30 }, [], NOW).deleteIds).toEqual([]);
  });

  it('keeps snapshots beyond keepLast that are younger than maxAgeDays', () => {
    const snaps = [1, 2, 3, 4].map((d) => snap(`guardian-p-v-${d}`, d));
    const plan = retentionPlan(snaps, { keepLast: 1, maxAgeDays: 30 }, [], NOW);
    expect(plan.deleteIds).toEqual([]);
    expect(plan.decisions.map((d) => d.reason)).toEqual(['newest', 'recent', 'recent', 'recent']);
    expect(plan.summary).toBe('retention: nothing to delete among 4 snapshot(s)');
  });

  it('never deletes a snapshot a recorded deployment still points at', () => {
    const snaps = [1, 60, 90].map((d) => snap(`guardian-p-v-${d}`, d));
    const plan = retentionPlan(snaps, { keepLast: 1, maxAgeDays: 30 }, new Set(['guardian-p-v-90']), NOW);
    expect(plan.deleteIds).toEqual(['guardian-p-v-60']);
    expect(plan.decisions.find((d) => d.id === 'guardian-p-v-90')).toMatchObject({
      action: 'keep',
      reason: 'protected',
    });
  });

  it('counts a protected snapshot among the newest keepLast', () => {
    const snaps = [40, 50].map((d) => snap(`guardian-p-v-${d}`, d));
    const plan = retentionPlan(snaps, { keepLast: 1, maxAgeDays: 30 }, ['guardian-p-v-40'], NOW);
    expect(plan.deleteIds).toEqual(['guardian-p-v-50']);
  });

  it('never touches a snapshot without the guardian prefix or tag', () => {
    const snaps = [
      snap('manual-before-migration', 400),
      snap('guardian-p-v-untagged', 400, { tags: {} }),
      snap('guardian-p-v-othertool', 400, { tags: { [BACKUP_TAGS.managedBy]: 'someone-else' } }),
      snap('guardian-p-v-1', 1),
    ];
    const plan = retentionPlan(snaps, { keepLast: 1, maxAgeDays: 30 }, [], NOW);
    expect(plan.deleteIds).toEqual([]);
    expect(
      plan.decisions
        .filter((d) => d.reason === 'not-guardian')
        .map((d) => d.id)
        .sort(),
    ).toEqual(['guardian-p-v-othertool', 'guardian-p-v-untagged', 'manual-before-migration']);
  });

  it('never deletes a snapshot that is not available, nor counts it among the newest', () => {
    const snaps = [
      snap('guardian-p-v-creating', 0, { status: 'creating' }),
      snap('guardian-p-v-failed', 90, { status: 'failed' }),
      snap('guardian-p-v-40', 40),
      snap('guardian-p-v-50', 50),
    ];
    const plan = retentionPlan(snaps, { keepLast: 1, maxAgeDays: 30 }, [], NOW);
    expect(plan.deleteIds).toEqual(['guardian-p-v-50']);
    expect(plan.decisions.find((d) => d.id === 'guardian-p-v-failed')?.sentence).toBe(
      "guardian-p-v-failed: kept, its status is 'failed', not 'available'",
    );
  });

  it('keeps a snapshot whose creation time is unknown', () => {
    const plan = retentionPlan(
      [snap('guardian-p-v-1', 1), snap('guardian-p-v-x', undefined)],
      { keepLast: 1, maxAgeDays: 1 },
      [],
      NOW,
    );
    expect(plan.decisions.map((d) => [d.id, d.reason])).toEqual([
      ['guardian-p-v-1', 'newest'],
      ['guardian-p-v-x', 'unknown-age'],
    ]);
  });

  it('keeps a snapshot dated in the future (clock skew) as recent', () => {
    const plan = retentionPlan(
      [snap('guardian-p-v-a', 1), snap('guardian-p-v-future', -2)],
      { keepLast: 1, maxAgeDays: 30 },
      [],
      NOW,
    );
    expect(plan.decisions.map((d) => [d.id, d.reason])).toEqual([
      ['guardian-p-v-future', 'newest'],
      ['guardian-p-v-a', 'recent'],
    ]);
  });

  it('orders snapshots taken at the same time by id, so the plan does not depend on input order', () => {
    const a = [snap('guardian-p-v-a', 40), snap('guardian-p-v-b', 40), snap('guardian-p-v-c', 40)];
    const p1 = retentionPlan(a, { keepLast: 1, maxAgeDays: 30 }, [], NOW);
    const p2 = retentionPlan([...a].reverse(), { keepLast: 1, maxAgeDays: 30 }, [], NOW);
    expect(p1).toEqual(p2);
    expect(p1.deleteIds).toEqual(['guardian-p-v-b', 'guardian-p-v-a']);
  });

  it('plans nothing for no snapshots', () => {
    expect(retentionPlan([], { keepLast: 7, maxAgeDays: 30 }, [], NOW)).toEqual({
      decisions: [],
      deleteIds: [],
      summary: 'retention: nothing to delete among 0 snapshot(s)',
    });
  });

  it('refuses a negative keepLast', () => {
    expect(() => retentionPlan([], { keepLast: -1, maxAgeDays: 30 }, [], NOW)).toThrow(InvalidInputError);
  });

  it('never deletes a protected, foreign, unavailable or newest snapshot, whatever the mix', () => {
    const r = rng(12);
    for (let round = 0; round < 300; round++) {
      const snaps: SnapshotInfo[] = [];
      const n = Math.floor(r() * 12);
      for (let i = 0; i < n; i++) {
        const foreign = r() < 0.15;
        snaps.push(
          snap(`${foreign ? 'manual' : 'guardian'}-s${i}`, Math.floor(r() * 90) - 2, {
            status: r() < 0.15 ? 'creating' : 'available',
            tags: r() < 0.1 ? {} : tags,
          }),
        );
      }
      const protectedIds = snaps.filter(() => r() < 0.2).map((s) => s.id);
      const policy = { keepLast: Math.floor(r() * 4), maxAgeDays: Math.floor(r() * 40) };
      const plan = retentionPlan(snaps, policy, protectedIds, NOW);
      const eligible = snaps
        .filter((s) => isGuardianSnapshot(s) && s.status === 'available')
        .sort(
          (a, b) => Date.parse(b.createdAt ?? '') - Date.parse(a.createdAt ?? '') || (a.id < b.id ? 1 : -1),
        );
      const newest = new Set(eligible.slice(0, policy.keepLast).map((s) => s.id));
      for (const id of plan.deleteIds) {
        const s = snaps.find((x) => x.id === id) as SnapshotInfo;
        expect(protectedIds).not.toContain(id);
        expect(isGuardianSnapshot(s)).toBe(true);
        expect(s.status).toBe('available');
        expect(newest.has(id)).toBe(false);
        expect(NOW.getTime() - Date.parse(s.createdAt ?? '')).toBeGreaterThan(policy.maxAgeDays * DAY);
      }
      expect(plan.decisions).toHaveLength(snaps.length);
    }
  });
});

describe('restorePlan', () => {
  const ready = snap('guardian-production-v7-1-0-20261203t120333z', 1);

  it('restores to a new instance named after the live one and the time, never the live one', () => {
    const plan = restorePlan(ready, { kind: 'instance', identifier: 'buywhere-db' }, AT);
    expect(plan.newIdentifier).toBe('buywhere-db-restored-20261203t120333z');
    expect(plan.newIdentifier).not.toBe(plan.liveIdentifier);
    expect(plan.lines[0]).toBe(
      'Restoring snapshot guardian-production-v7-1-0-20261203t120333z to a new DB instance buywhere-db-restored-20261203t120333z; the live DB instance buywhere-db is not touched.',
    );
    expect(plan.lines.join('\n')).toMatch(/Point the application at buywhere-db-restored-20261203t120333z/);
    expect(plan.lines.join('\n')).toMatch(/Keep buywhere-db .* until you are sure/);
    expect(plan.lines.join('\n')).toMatch(/Verify the data/);
  });

  it('tells the operator a restored cluster needs an instance', () => {
    const plan = restorePlan(
      { ...ready, kind: 'cluster' },
      { kind: 'cluster', identifier: 'buywhere-db' },
      AT,
    );
    expect(plan.lines.join('\n')).toContain('A restored cluster has no instances');
  });

  it('keeps the new identifier within 63 characters for a long live identifier', () => {
    const live = `a${'b-'.repeat(31)}c`;
    const plan = restorePlan(
      { ...ready, databaseIdentifier: live },
      { kind: 'instance', identifier: live },
      AT,
    );
    expect(isValidRdsIdentifier(plan.newIdentifier)).toBe(true);
    expect(plan.newIdentifier.endsWith('-restored-20261203t120333z')).toBe(true);
  });

  it('refuses a snapshot of another database', () => {
    expect(() => restorePlan(ready, { kind: 'instance', identifier: 'other-db' }, AT)).toThrow(
      /was taken of 'buywhere-db', not of the environment's database 'other-db'/,
    );
  });

  it('refuses a cluster snapshot for an instance database', () => {
    expect(() =>
      restorePlan({ ...ready, kind: 'cluster' }, { kind: 'instance', identifier: 'buywhere-db' }, AT),
    ).toThrow(InvalidInputError);
  });

  it('refuses a snapshot that is not available', () => {
    expect(() =>
      restorePlan({ ...ready, status: 'creating' }, { kind: 'instance', identifier: 'buywhere-db' }, AT),
    ).toThrow(/is 'creating'; only an 'available' snapshot can be restored/);
  });
});

describe('judgeSnapshot', () => {
  const started = '2026-12-03T12:00:00Z';
  const at = (s: number) => new Date(Date.parse(started) + s * 1000);

  it('waits while the snapshot is creating within the deadline', () => {
    expect(judgeSnapshot('creating', started, 1800, at(600), 'snap-1')).toEqual({
      verdict: 'waiting',
      sentence: "snap-1 is 'creating' after 600s of 1800s",
    });
  });

  it('waits while the snapshot is not visible yet', () => {
    expect(judgeSnapshot(undefined, started, 1800, at(5)).verdict).toBe('waiting');
  });

  it('passes when the snapshot is available, even after the deadline', () => {
    expect(judgeSnapshot('available', started, 60, at(600)).verdict).toBe('available');
  });

  it.each(['failed', 'incompatible-restore', 'incompatible-parameters', 'deleted'])(
    'fails at once when the status is %s',
    (status) => {
      const j = judgeSnapshot(status, started, 1800, at(1), 'snap-1');
      expect(j.verdict).toBe('failed');
      expect(j.sentence).toContain(`snap-1 is '${status}'`);
      expect(j.sentence).toContain('stops before anything changes');
    },
  );

  it('fails when the deadline passes', () => {
    const j = judgeSnapshot('creating', started, 1800, at(1800), 'snap-1');
    expect(j).toEqual({
      verdict: 'failed',
      sentence:
        "snap-1 is still 'creating' after 1800s (deadline 1800s): the backup timed out, so the deployment stops before anything changes. Raise backup.deadlineSeconds or check the database, then deploy again.",
    });
  });

  it('counts a clock behind the start time as no time elapsed', () => {
    expect(judgeSnapshot('creating', started, 60, at(-30)).sentence).toContain('after 0s');
  });
});

describe('backupSchema', () => {
  it('defaults to no database, a 1800 s deadline, keep 7 and 30 days', () => {
    expect(backupSchema.parse(undefined)).toEqual({
      database: 'none',
      deadlineSeconds: 1800,
      pollIntervalSeconds: 30,
      retention: { keepLast: 7, maxAgeDays: 30 },
    });
  });

  it('accepts an Aurora cluster', () => {
    expect(
      backupSchema.parse({ database: { kind: 'cluster', identifier: 'buywhere-aurora' } }).database,
    ).toEqual({
      kind: 'cluster',
      identifier: 'buywhere-aurora',
    });
  });

  it.each([
    [{ database: { kind: 'instance', identifier: 'db--1' } }, 'single hyphens'],
    [{ database: { kind: 'instance', identifier: '1db' } }, 'must start with a letter'],
    [{ database: { kind: 'instance', identifier: 'db-' } }, 'must not end with a hyphen'],
    [{ database: { kind: 'table', identifier: 'db' } }, "must be 'instance'"],
    [{ database: 'none', retention: { keepLast: 0 } }, 'keepLast must be at least 1'],
    [{ database: 'none', deadlineSeconds: 10 }, 'deadlineSeconds must be at least 60'],
    [{ database: 'none', extra: 1 }, 'extra'],
  ])('refuses %j with a message saying what is wrong', (input, message) => {
    const r = backupSchema.safeParse(input);
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain(message);
  });

  it('tags a snapshot with the deployment id and the managed-by marker', () => {
    expect(snapshotTags('production', 'v1', 'dep-1')).toEqual({
      'guardian:managed-by': MANAGED_BY_VALUE,
      'guardian:deployment-id': 'dep-1',
      'guardian:environment': 'production',
      'guardian:version': 'v1',
    });
  });
});
