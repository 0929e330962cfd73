/**
 * The canary score and verdict: Kayenta's weighted groups, critical failures, too much Nodata,
 * score thresholds; dryRun metrics reported and never counted.
 */
import { describe, expect, it } from 'vitest';
import type { Classification } from '../../lambdas/core/judge/classifier.ts';
import { scoreMetrics } from '../../lambdas/core/judge/score.ts';

const m = (
  name: string,
  classification: Classification,
  extra: { critical?: boolean; group?: string; dryRun?: boolean; weight?: number } = {},
) => ({
  name,
  classification,
  critical: extra.critical ?? false,
  group: extra.group ?? name,
  dryRun: extra.dryRun ?? false,
  reason: `${name}: ${classification}`,
  ...(extra.weight !== undefined ? { weight: extra.weight } : {}),
});

describe('scoreMetrics', () => {
  it('passes at 100 when every metric passes', () => {
    const r = scoreMetrics([m('a', 'Pass'), m('b', 'Pass')]);
    expect(r).toMatchObject({ score: 100, verdict: 'pass' });
    expect(r.reason).toBe('score 100 (every metric passed; pass ≥ 95): pass');
  });

  it('scores a group as passes over classified metrics and fails below the marginal threshold', () => {
    const r = scoreMetrics([m('a', 'Pass', { group: 'g' }), m('b', 'High', { group: 'g' })]);
    expect(r.groups).toEqual([{ name: 'g', score: 50, weight: 100, metrics: 2 }]);
    expect(r).toMatchObject({ score: 50, verdict: 'fail' });
    expect(r.reason).toBe('score 50 (pass ≥ 95, marginal ≥ 75); failing: b High: fail');
  });

  it('says marginal between the thresholds', () => {
    const r = scoreMetrics([m('a', 'Pass', { weight: 80 }), m('b', 'Low', { weight: 20 })]);
    expect(r).toMatchObject({ score: 80, verdict: 'marginal' });
    expect(scoreMetrics([m('a', 'Pass'), m('b', 'Low')], { pass: 50, marginal: 25 }).verdict).toBe('pass');
  });

  it('weighs groups, sharing what is left of 100 among the unweighted ones', () => {
    const r = scoreMetrics([m('a', 'High', { weight: 10 }), m('b', 'Pass'), m('c', 'Pass')]);
    expect(r.groups.map((g) => g.weight)).toEqual([10, 45, 45]);
    expect(r.score).toBe(90);
  });

  it('gives 0 and fail when a critical metric fails, whatever the others', () => {
    const r = scoreMetrics([
      m('a', 'High', { critical: true }),
      m('b', 'Pass'),
      m('c', 'Pass'),
      m('d', 'Pass'),
    ]);
    expect(r).toMatchObject({ score: 0, verdict: 'fail' });
    expect(r.reason).toBe('critical metric a failed: a: High');
  });

  it('fails when half the metrics or more have no data', () => {
    const r = scoreMetrics([m('a', 'Nodata'), m('b', 'Pass')]);
    expect(r).toMatchObject({
      score: 0,
      verdict: 'fail',
      reason: '1 of 2 metrics have no data (50% or more): fail',
    });
    expect(scoreMetrics([m('a', 'Nodata'), m('b', 'Pass'), m('c', 'Pass')]).verdict).toBe('pass');
  });

  it('counts NodataFailMetric as a failure and leaves Error out, as Kayenta does', () => {
    expect(
      scoreMetrics([m('a', 'NodataFailMetric', { group: 'g' }), m('b', 'Pass', { group: 'g' })]).score,
    ).toBe(50);
    expect(scoreMetrics([m('a', 'Error', { group: 'g' }), m('b', 'Pass', { group: 'g' })]).score).toBe(100);
  });

  it('reports dryRun metrics but never counts them', () => {
    const r = scoreMetrics([m('a', 'High', { dryRun: true, critical: true }), m('b', 'Pass')]);
    expect(r).toMatchObject({ score: 100, verdict: 'pass' });
    expect(r.groups.map((g) => g.name)).toEqual(['b']);
  });

  it('fails when no metric decides, rather than passing nothing', () => {
    expect(scoreMetrics([m('a', 'Pass', { dryRun: true })])).toMatchObject({ score: 0, verdict: 'fail' });
    expect(scoreMetrics([]).reason).toBe('no metric decides (none given, or all are dryRun): fail');
  });
});
