/**
 * Per-metric classification with Kayenta's NetflixACAJudge semantics, and the reason an operator
 * reads for each outcome.
 */
import { describe, expect, it } from 'vitest';
import { classifyMetric, percentile, removeOutliers } from '../../lambdas/core/judge/classifier.ts';

const BASELINE_P99 = [300, 310, 295, 305, 290, 301, 299, 302, 298, 304];
const SLOWER_P99 = [410, 415, 405, 420, 400, 412, 408, 411, 409, 414];

describe('classifyMetric', () => {
  it('classifies a slower canary as High and says by how much', () => {
    const r = classifyMetric(
      { name: 'p99 latency', direction: 'increase', unit: 'ms' },
      BASELINE_P99,
      SLOWER_P99,
    );
    expect(r.classification).toBe('High');
    expect(r.estimate).toBe(110);
    expect(r.reason).toBe(
      'p99 latency: canary 410 ms vs baseline 300 ms (+37%, CI +104..+116 ms at 98%): High',
    );
    expect(r.effectSize).toBeCloseTo(410.4 / 300.4, 12);
    expect(r.critical).toBe(false);
  });

  it('classifies a faster canary as Low when decreases are judged, and passes it when only increases are', () => {
    expect(classifyMetric({ name: 'm', direction: 'either' }, SLOWER_P99, BASELINE_P99).classification).toBe(
      'Low',
    );
    expect(
      classifyMetric({ name: 'm', direction: 'decrease' }, SLOWER_P99, BASELINE_P99).classification,
    ).toBe('Low');
    const up = classifyMetric({ name: 'm', direction: 'increase' }, SLOWER_P99, BASELINE_P99);
    expect(up.classification).toBe('Pass');
    expect(up.reason).toMatch(/\(lower, but only an increase is judged\)$/);
  });

  it('passes identical data without a test, as Kayenta does', () => {
    const r = classifyMetric({ name: 'm' }, [1, 2, 3], [3, 2, 1]);
    expect(r).toMatchObject({ classification: 'Pass', estimate: null, effectSize: 1 });
    expect(r.reason).toContain('identical');
  });

  it('passes when the shift is inside the tolerance band of ±25% of |estimate|', () => {
    // Overlapping samples: the interval reaches below 0.25 × the estimate.
    const r = classifyMetric(
      { name: 'm', direction: 'increase' },
      [10, 11, 12, 13, 14, 15],
      [11, 12, 13, 14, 15, 16],
    );
    expect(r.classification).toBe('Pass');
    expect(r.lowerCI as number).toBeLessThan(0.25 * Math.abs(r.estimate as number));
  });

  it('needs the effect size to reach allowedIncrease before it says High', () => {
    const spec = { name: 'm', direction: 'increase' as const, effectSize: { allowedIncrease: 1.5 } };
    const r = classifyMetric(spec, BASELINE_P99, SLOWER_P99);
    expect(r.classification).toBe('Pass');
    expect(r.reason).toMatch(/\(higher, but effect ×1\.37 is under the allowed ×1\.5\)$/);
  });

  it('fails the canary on a critical metric only beyond criticalIncrease', () => {
    const critical = classifyMetric(
      { name: 'm', direction: 'increase', critical: true },
      BASELINE_P99,
      SLOWER_P99,
    );
    expect(critical).toMatchObject({ classification: 'High', critical: true });
    expect(critical.reason).toMatch(/High \(critical\)$/);
    const below = classifyMetric(
      { name: 'm', direction: 'increase', critical: true, effectSize: { criticalIncrease: 2 } },
      BASELINE_P99,
      SLOWER_P99,
    );
    expect(below).toMatchObject({ classification: 'High', critical: false });
  });

  it('measures the effect as CLES when asked: the share of canary points above baseline ones', () => {
    const r = classifyMetric(
      { name: 'm', direction: 'increase', effectSize: { measure: 'cles' } },
      BASELINE_P99,
      SLOWER_P99,
    );
    expect(r.effectSize).toBe(1);
    expect(r.effectSizeMeasure).toBe('cles');
    expect(r.reason).toContain('P(canary > baseline) 1');
    const blocked = classifyMetric(
      { name: 'm', direction: 'increase', effectSize: { measure: 'cles', allowedIncrease: 0.6 } },
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 10.5],
    );
    expect(blocked.classification).toBe('Pass');
    expect(blocked.effectSize).toBe(0.55);
  });

  it('calls an error rate rising from 0 High, where Kayenta’s mean ratio would read 1.0', () => {
    const r = classifyMetric(
      { name: 'error rate', direction: 'increase', unit: '%', effectSize: { allowedIncrease: 1.2 } },
      [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      [2, 3, 2.5, 2, 3, 2.2, 2.8, 2.1, 2.9, 2.4],
    );
    expect(r.classification).toBe('High');
    expect(r.effectSize).toBeNull(); // +Infinity, kept JSON-safe
    expect(r.reason).toContain('baseline mean 0');
  });

  it('judges two different constant series deterministically instead of adding noise', () => {
    const r = classifyMetric({ name: 'm', direction: 'increase' }, Array(10).fill(2), Array(10).fill(3));
    expect(r).toMatchObject({ classification: 'High', estimate: 1, lowerCI: 1, upperCI: 1 });
    const same = classifyMetric({ name: 'm', direction: 'increase' }, Array(10).fill(2), Array(12).fill(2));
    expect(same.classification).toBe('Pass');
  });

  it('says Nodata without data, NodataFailMetric when the metric must have data, critical when critical', () => {
    const none = classifyMetric({ name: 'p99' }, [null, null], [1, 2]);
    expect(none.classification).toBe('Nodata');
    expect(none.reason).toBe(
      'p99: no baseline data (canary 2 points, 0 missing; baseline 2 points, 2 missing): Nodata',
    );
    expect(classifyMetric({ name: 'p99', mustHaveData: true }, [], [1]).classification).toBe(
      'NodataFailMetric',
    );
    expect(classifyMetric({ name: 'p99', mustHaveData: true, critical: true }, [], [1])).toMatchObject({
      classification: 'Nodata',
      critical: true,
    });
  });

  it('removes missing points, or counts them as 0 with nanStrategy replace', () => {
    const removed = classifyMetric({ name: 'm' }, [1, null, 3], [1, 2, 3]);
    expect(removed.baseline).toMatchObject({ points: 3, count: 2, missing: 1, mean: 2 });
    const replaced = classifyMetric({ name: 'm', nanStrategy: 'replace' }, [1, null, 3], [1, 2, 3]);
    expect(replaced.baseline).toMatchObject({ points: 3, count: 3, missing: 1, mean: 4 / 3 });
  });

  it('drops IQR outliers when asked, so one spike does not decide', () => {
    const baseline = [...Array.from({ length: 199 }, (_, i) => 290 + (i % 21)), 5000];
    const kept = classifyMetric({ name: 'm' }, baseline, BASELINE_P99);
    expect(kept.baseline).toMatchObject({ outliers: 0, max: 5000 });
    const removed = classifyMetric(
      { name: 'm', outliers: { strategy: 'remove', outlierFactor: 3 } },
      baseline,
      BASELINE_P99,
    );
    expect(removed.baseline).toMatchObject({ outliers: 1, max: 310 });
  });

  it('will not claim a change from too few points for the confidence level', () => {
    // 1 canary point above all 10 baseline points: at best p = 2/11.
    const r = classifyMetric({ name: 'm', direction: 'increase' }, BASELINE_P99, [900]);
    expect(r.classification).toBe('Pass');
    expect(r.reason).toContain('too few points for a 98% interval (1 vs 10 reach at most 81.8%)');
  });

  it('keeps the dryRun flag and the group', () => {
    const r = classifyMetric({ name: 'm', dryRun: true, group: 'latency' }, BASELINE_P99, SLOWER_P99);
    expect(r).toMatchObject({ dryRun: true, group: 'latency', classification: 'High' });
    expect(classifyMetric({ name: 'm' }, [1], [1]).group).toBe('m');
  });
});

describe('outlier detection (Kayenta IQRDetector, commons-math percentiles)', () => {
  it('estimates percentiles at p·(n+1)/100, clamped to the ends', () => {
    const s = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(s, 25)).toBe(2.75);
    expect(percentile(s, 75)).toBe(8.25);
    expect(percentile(s, 1)).toBe(1);
    expect(percentile(s, 99)).toBe(10);
  });

  it('keeps values inside the fences and drops the far ones', () => {
    const values = [...Array.from({ length: 120 }, (_, i) => 10 + (i % 11)), 100];
    expect(removeOutliers(values, 3)).toEqual(values.slice(0, -1));
    expect(removeOutliers(values, 30)).toEqual(values);
  });

  it('never cuts inside the 1st..99th percentile: under 100 points the extremes stay (reduced sensitivity)', () => {
    const values = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 100];
    expect(removeOutliers(values, 3)).toEqual(values);
  });
});
