/**
 * histogramQuantile against the figures Prometheus's own PromQL tests pin (promql engine tests,
 * `testhistogram_bucket` loaded as 0+5x10 … and evaluated at 50m, i.e. the counts below), and
 * sampleBetween's counter arithmetic, counter resets included.
 */
import { describe, expect, it } from 'vitest';
import {
  type CounterSnapshot,
  type HistogramBucket,
  histogramQuantile,
  sampleBetween,
} from '../../lambdas/core/measurements.ts';

const INF = Number.POSITIVE_INFINITY;
/** Prometheus's `{start="positive"}` histogram at 50m. */
const POSITIVE: HistogramBucket[] = [
  { le: 0.1, count: 50 },
  { le: 0.2, count: 70 },
  { le: 1, count: 110 },
  { le: INF, count: 120 },
];
/** Prometheus's `{start="negative"}` histogram at 50m. */
const NEGATIVE: HistogramBucket[] = [
  { le: -0.2, count: 10 },
  { le: -0.1, count: 20 },
  { le: 0.3, count: 20 },
  { le: INF, count: 30 },
];

describe('histogramQuantile (PromQL histogram_quantile semantics)', () => {
  it.each([
    [0.2, 0.048, -0.2],
    [0.5, 0.15, -0.15],
    [0.8, 0.72, 0.3],
  ])(
    'interpolates the %s quantile linearly inside its bucket as Prometheus does',
    (q, positive, negative) => {
      expect(histogramQuantile(q, POSITIVE)).toBeCloseTo(positive, 12);
      expect(histogramQuantile(q, NEGATIVE)).toBeCloseTo(negative, 12);
    },
  );

  it('starts the lowest bucket at 0 when its bound is positive, and returns a bound ≤ 0 as is', () => {
    expect(histogramQuantile(0, POSITIVE)).toBe(0);
    expect(histogramQuantile(0, NEGATIVE)).toBe(-0.2);
  });

  it('returns the upper bound of the highest finite bucket when the rank falls in +Inf', () => {
    expect(histogramQuantile(1, POSITIVE)).toBe(1);
    expect(histogramQuantile(1, NEGATIVE)).toBe(0.3);
    // 5 of 100 slower than the last finite bucket: p99 is that bucket's bound, never more.
    expect(
      histogramQuantile(0.99, [
        { le: 0.5, count: 95 },
        { le: 2.5, count: 95 },
        { le: INF, count: 100 },
      ]),
    ).toBe(2.5);
  });

  it('answers -Infinity below 0 and Infinity above 1, like Prometheus', () => {
    expect(histogramQuantile(-0.1, POSITIVE)).toBe(Number.NEGATIVE_INFINITY);
    expect(histogramQuantile(1.01, POSITIVE)).toBe(INF);
  });

  it('returns null (Prometheus: NaN) with no observations, one bucket, no +Inf bucket or q NaN', () => {
    expect(
      histogramQuantile(
        0.99,
        POSITIVE.map((b) => ({ ...b, count: 0 })),
      ),
    ).toBeNull();
    expect(histogramQuantile(0.99, [{ le: INF, count: 10 }])).toBeNull();
    expect(histogramQuantile(0.99, POSITIVE.slice(0, 3))).toBeNull();
    expect(histogramQuantile(0.99, [])).toBeNull();
    expect(histogramQuantile(Number.NaN, POSITIVE)).toBeNull();
  });

  it('sorts buckets, adds up buckets with the same bound and forces them monotonic', () => {
    const shuffled = [POSITIVE[3], POSITIVE[1], POSITIVE[0], POSITIVE[2]] as HistogramBucket[];
    expect(histogramQuantile(0.5, shuffled)).toBeCloseTo(0.15, 12);
    // Two series of one histogram (two pods): the sum of both.
    const twoPods = [...POSITIVE, ...POSITIVE];
    expect(histogramQuantile(0.8, twoPods)).toBeCloseTo(0.72, 12);
    // A bucket caught lower than the one before it counts as that one (no negative bucket).
    const torn = [
      { le: 0.1, count: 50 },
      { le: 0.2, count: 40 },
      { le: 1, count: 110 },
      { le: INF, count: 120 },
    ];
    expect(histogramQuantile(0.4, torn)).toBeCloseTo(0.096, 12);
    expect(histogramQuantile(0.5, torn)).toBeCloseTo(0.2 + 0.8 * (10 / 60), 12);
  });
});

function snapshot(at: string, requests: number, errors: number, counts: number[]): CounterSnapshot {
  const les = [0.1, 0.25, 0.5, 1, INF];
  return { at, requests, errors, buckets: counts.map((count, i) => ({ le: les[i] as number, count })) };
}

describe('sampleBetween', () => {
  it('takes the increase of every counter between two scrapes and the p99 of the increase', () => {
    const a = snapshot('2026-12-03T10:00:00Z', 1000, 5, [500, 900, 980, 1000, 1000]);
    const b = snapshot('2026-12-03T10:00:30Z', 1600, 11, [800, 1400, 1560, 1594, 1600]);
    const s = sampleBetween(a, b);
    expect(s).toMatchObject({ start: a.at, end: b.at, requests: 600, errors: 6 });
    // Increase per bucket 300, 500, 580, 594, 600: rank 594 lands exactly on the 1 s bound.
    expect(s.p99Ms).toBeCloseTo(1000, 9);
  });

  it('counts from zero when the process restarted between the scrapes (a counter reset), as rate() does', () => {
    const a = snapshot('2026-12-03T10:00:00Z', 5000, 40, [4000, 4800, 4950, 5000, 5000]);
    // A new process: 200 requests since it started; its 0.1 s bucket (100) is still below the old
    // one, its total (200) too, so every bucket is a count since the restart.
    const restarted = snapshot('2026-12-03T10:00:30Z', 200, 3, [100, 180, 196, 200, 200]);
    const s = sampleBetween(a, restarted);
    expect(s.requests).toBe(200);
    expect(s.errors).toBe(3);
    // The histogram restarted too: its own counts, not negative differences.
    expect(s.p99Ms).toBeCloseTo(500 + 500 * ((198 - 196) / 4), 9);
  });

  it('takes a restarted histogram whole even where a low bucket outgrew its old count', () => {
    const a = snapshot('2026-12-03T10:00:00Z', 50, 0, [10, 20, 30, 40, 50]);
    // The new process already served 40 requests, 30 of them fast: more than the old 10 in that
    // bucket, yet a restart (the total fell), so 30 is since the restart, not 30 - 10.
    const b = snapshot('2026-12-03T10:00:30Z', 40, 0, [30, 35, 38, 40, 40]);
    const s = sampleBetween(a, b);
    expect(s.requests).toBe(40);
    // rank 39.6 in (0.5, 1]: 38 → 40.
    expect(s.p99Ms).toBeCloseTo((0.5 + 0.5 * (1.6 / 2)) * 1000, 9);
  });

  it('has no p99 when no request was served between the scrapes', () => {
    const a = snapshot('2026-12-03T10:00:00Z', 10, 0, [10, 10, 10, 10, 10]);
    const s = sampleBetween(a, { ...a, at: '2026-12-03T10:00:30Z' });
    expect(s).toMatchObject({ requests: 0, errors: 0, p99Ms: null });
  });

  it('refuses snapshots passed newest first', () => {
    const a = snapshot('2026-12-03T10:00:30Z', 10, 0, [10, 10, 10, 10, 10]);
    expect(() => sampleBetween(a, { ...a, at: '2026-12-03T10:00:00Z' })).toThrow(/taken before the first/);
  });
});
