/**
 * The canary verdict: the classifier, the count test, the seed's thresholds with N intervals in a
 * row, and the evidence rules that make too little data `inconclusive` rather than a pass.
 */
import { describe, expect, it } from 'vitest';
import {
  analyseCanary,
  type CanarySpec,
  errorRatePercent,
  MAX_SERIES_POINTS,
  seedLimits,
} from '../../lambdas/core/judge/canary.ts';
import type { IntervalSample } from '../../lambdas/core/measurements.ts';
import { canarySchema } from '../../lib/config/canary-schema.ts';

const T0 = Date.UTC(2026, 11, 3, 10, 0, 0);

/** `n` 30 s intervals with `requests` each, about `rate` errors and `p99` ms, varied deterministically. */
function samples(
  n: number,
  opts: {
    requests?: number;
    rate?: number;
    p99?: number | null;
    offset?: number;
    at?: (i: number) => Partial<IntervalSample>;
  } = {},
): IntervalSample[] {
  const requests = opts.requests ?? 3000;
  const rate = opts.rate ?? 0.01;
  return Array.from({ length: n }, (_, i) => {
    const wobble = ((i * 7 + (opts.offset ?? 0)) % 10) / 10 - 0.45; // −0.45 … +0.45
    return {
      start: new Date(T0 + i * 30_000).toISOString(),
      end: new Date(T0 + (i + 1) * 30_000).toISOString(),
      requests,
      errors: Math.max(0, Math.round(requests * rate * (1 + 0.2 * wobble))),
      p99Ms: opts.p99 === null ? null : (opts.p99 ?? 300) * (1 + 0.03 * wobble),
      ...opts.at?.(i),
    };
  });
}

const spec = (canary: Record<string, unknown> = {}): CanarySpec => ({
  config: canarySchema.parse(canary),
  limits: seedLimits({ error_rate_threshold: 5, latency_p99_threshold_ms: 1500 }),
});
const FINAL = { elapsedSeconds: 300, final: true } as const;

describe('analyseCanary', () => {
  it('passes an unchanged release after the full analysis with enough requests', () => {
    const v = analyseCanary(samples(10), samples(10, { offset: 3 }), spec(), FINAL);
    expect(v.outcome).toBe('pass');
    expect(v.score).toBe(100);
    expect(v.reason).toBe('score 100 (every metric passed; pass ≥ 95): pass');
    expect(v.metrics.map((m) => [m.name, m.classification])).toEqual([
      ['error-rate', 'Pass'],
      ['p99-latency', 'Pass'],
    ]);
    expect(v.errorCounts?.classification).toBe('Pass');
    expect(v.evidence).toMatchObject({
      sufficient: true,
      canaryRequests: 30_000,
      minRequests: 1000,
      short: [],
    });
    expect(v.measurements.canary).toMatchObject({
      intervals: 10,
      requests: 30_000,
      p99MsMax: expect.any(Number),
    });
    // Plain JSON: what goes on the deployment record comes back the same.
    expect(JSON.parse(JSON.stringify(v))).toEqual(v);
  });

  it('holds a low-traffic release as inconclusive, naming the requests it lacked, never passing it', () => {
    const v = analyseCanary(
      samples(10, { requests: 60 }),
      samples(10, { requests: 60, offset: 3 }),
      spec(),
      FINAL,
    );
    expect(v.outcome).toBe('inconclusive');
    expect(v.reason).toBe('too little data for a verdict: the canary served 600 requests of the 1000 needed');
    expect(v.scoreVerdict).toBe('pass'); // what the score alone would have said
  });

  it('is inconclusive when the analysis ends before its minimum duration', () => {
    const v = analyseCanary(samples(10), samples(4), spec(), { elapsedSeconds: 120, final: true });
    expect(v.outcome).toBe('inconclusive');
    expect(v.evidence.short).toEqual(['analysed 120 s of the 300 s needed']);
  });

  it('continues before the last interval while nothing fails', () => {
    const v = analyseCanary(samples(10), samples(3), spec(), { elapsedSeconds: 90, final: false });
    expect(v.outcome).toBe('continue');
    expect(v.reason).toMatch(
      /^no failure so far \(90 s of 300 s, 9000 canary requests\); score 100 at 99\.9%$/,
    );
  });

  it('fails early on the seed thresholds breached two intervals in a row', () => {
    const canary = samples(4, { at: (i) => (i >= 2 ? { errors: 240 } : {}) }); // 8% > 5%
    const v = analyseCanary(samples(10), canary, spec(), { elapsedSeconds: 120, final: false });
    expect(v.outcome).toBe('fail');
    expect(v.reason).toBe(
      'deployment thresholds breached: error rate above 5% for 2 intervals in a row (2 in a row fail)',
    );
    expect(v.thresholds).toMatchObject({ errorRateRun: 2, breached: true });
  });

  it('does not roll back on a single sample over the thresholds', () => {
    const canary = samples(10, { offset: 3, at: (i) => (i === 4 ? { p99Ms: 2500 } : {}) });
    const v = analyseCanary(samples(10), canary, spec(), FINAL);
    expect(v.thresholds).toMatchObject({ p99Run: 1, breached: false });
    expect(v.outcome).toBe('pass');
    // One interval at 8% errors breaks no threshold either (its 240 errors are for the count test).
    const spike = analyseCanary(
      samples(10),
      samples(10, { at: (i) => (i === 4 ? { errors: 240 } : {}) }),
      spec(),
      FINAL,
    );
    expect(spike.thresholds).toMatchObject({ errorRateRun: 1, breached: false });
  });

  it('ignores intervals with too few requests for the thresholds', () => {
    const canary = samples(4, { at: () => ({ requests: 10, errors: 5 }) });
    const v = analyseCanary(samples(10), canary, spec(), { elapsedSeconds: 120, final: false });
    expect(v.thresholds.errorRateRun).toBe(0);
  });

  it('fails a doubled error rate as a critical failure, with the count test and the rank test both saying why', () => {
    const v = analyseCanary(samples(10), samples(10, { rate: 0.02, offset: 3 }), spec(), FINAL);
    expect(v.outcome).toBe('fail');
    expect(v.reason).toMatch(
      /^critical: error-rate: canary 2% vs baseline 1% \(\+\d+%, CI \+[\d.]+\.\.\+[\d.]+% at 98%\): High \(critical\)$/,
    );
    expect(v.errorCounts?.classification).toBe('High');
    expect(v.score).toBe(0);
  });

  it('ends the analysis early on a tripled error rate, judged at the stricter early level', () => {
    const v = analyseCanary(samples(10), samples(5, { rate: 0.03 }), spec(), {
      elapsedSeconds: 150,
      final: false,
    });
    expect(v.outcome).toBe('fail');
    expect(v.reason).toContain('at 99.9%');
  });

  it('fails a slower release on the score, with the p99 reason', () => {
    const v = analyseCanary(samples(10), samples(10, { p99: 412, offset: 3 }), spec(), FINAL);
    expect(v.outcome).toBe('fail');
    const p99 = v.metrics.find((m) => m.name === 'p99-latency');
    expect(p99?.classification).toBe('High');
    expect(p99?.reason).toMatch(
      /^p99-latency: canary 412 ms vs baseline 300 ms \(\+37%, CI \+\d+\.\.\+\d+ ms at 98%\): High$/,
    );
    expect(v.reason).toBe('score 66.67 (pass ≥ 95, marginal ≥ 75); failing: p99-latency High: fail');
  });

  it('fails a metric without data by default, and ignores it when the config says so', () => {
    const canary = samples(10, { p99: null, offset: 3 });
    const strict = analyseCanary(samples(10), canary, spec(), FINAL);
    expect(strict.metrics[1]?.classification).toBe('NodataFailMetric');
    expect(strict.outcome).toBe('fail');
    const lenient = analyseCanary(samples(10), canary, spec({ nodata: 'ignore' }), FINAL);
    expect(lenient.metrics[1]?.classification).toBe('Nodata');
    expect(lenient.outcome).toBe('pass');
  });

  it('records a dryRun metric that would fail without letting it decide', () => {
    const config = {
      metrics: [
        { name: 'error-rate', measurement: 'errorRate', critical: true },
        { name: 'p99-latency', measurement: 'p99Ms', dryRun: true },
      ],
    };
    const v = analyseCanary(samples(10), samples(10, { p99: 412, offset: 3 }), spec(config), FINAL);
    expect(v.metrics[1]).toMatchObject({ classification: 'High', dryRun: true });
    expect(v.outcome).toBe('pass');
  });

  it('keeps the record bounded: at most 60 points of each series', () => {
    const v = analyseCanary(samples(200), samples(200, { offset: 3 }), spec(), FINAL);
    expect(v.measurements.canary.series.p99Ms).toHaveLength(MAX_SERIES_POINTS);
    expect(v.measurements.canary.series.truncated).toBe(true);
    expect(v.measurements.canary.intervals).toBe(200);
    expect(JSON.stringify(v).length).toBeLessThan(20_000);
  });

  it('reads no error rate from an interval without requests or counts', () => {
    const s = samples(1)[0] as IntervalSample;
    expect(errorRatePercent({ ...s, requests: 0, errors: 0 })).toBeNull();
    expect(errorRatePercent({ ...s, errors: null })).toBeNull();
    expect(errorRatePercent({ ...s, requests: 200, errors: 3 })).toBe(1.5);
  });
});

describe('canarySchema', () => {
  it('has the runbook and Kayenta defaults', () => {
    const c = canarySchema.parse({});
    expect(c).toMatchObject({
      durationSeconds: 300,
      intervalSeconds: 30,
      minRequests: 1000,
      nodata: 'fail',
      dryRun: false,
      classifier: { confidence: 0.98, tolerance: 0.25, rootFinder: 'exact', earlyFailConfidence: 0.999 },
      thresholds: { pass: 95, marginal: 75 },
      thresholdIntervals: 2,
    });
    expect(c.metrics).toEqual([
      {
        name: 'error-rate',
        measurement: 'errorRate',
        direction: 'increase',
        critical: true,
        nanStrategy: 'remove',
        dryRun: false,
      },
      {
        name: 'p99-latency',
        measurement: 'p99Ms',
        direction: 'increase',
        critical: false,
        nanStrategy: 'remove',
        dryRun: false,
      },
    ]);
  });

  it('names the path and the problem of a bad value', () => {
    const r = canarySchema.safeParse({
      intervalSeconds: 600,
      durationSeconds: 300,
      classifier: { confidence: 98 },
      metrics: [
        { name: 'a', measurement: 'errorRate' },
        { name: 'a', measurement: 'latency' },
      ],
    });
    expect(r.success).toBe(false);
    const problems = r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(problems).toContain(
      'classifier.confidence: classifier.confidence must be below 1 (0.98 means 98%)',
    );
    expect(problems).toContain('metrics.1.measurement: Invalid option: expected one of "errorRate"|"p99Ms"');
    const cross = canarySchema.safeParse({
      intervalSeconds: 600,
      durationSeconds: 300,
      metrics: [
        { name: 'a', measurement: 'p99Ms' },
        { name: 'a', measurement: 'p99Ms' },
      ],
    });
    const crossProblems = cross.success
      ? []
      : cross.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(crossProblems).toEqual([
      'intervalSeconds: must not be longer than durationSeconds',
      'metrics.1.name: duplicate metric a',
    ]);
  });
});

describe('ending early on an interim score (blue-green, issue 11)', () => {
  // 8 of 10 intervals: enough for the rank test at the stricter 99.9 % (5 are not).
  const INTERIM = { elapsedSeconds: 240, final: false } as const;
  // p99 +60 % on every interval: a non-critical metric fails; the error rate is unchanged.
  const baseline = samples(8);
  const slower = samples(8, { offset: 3, p99: 480 });

  it('goes on by default while only a non-critical metric fails', () => {
    const v = analyseCanary(baseline, slower, spec(), INTERIM);
    expect(v.outcome).toBe('continue');
    expect(v.scoreVerdict).not.toBe('pass');
  });

  it('ends with the marginal-or-worse score when asked to, naming the score', () => {
    const v = analyseCanary(baseline, slower, { ...spec(), endEarly: 'marginal' }, INTERIM);
    expect(['marginal', 'fail']).toContain(v.outcome);
    expect(v.outcome).toBe(v.scoreVerdict);
    expect(v.reason).toMatch(/^interim score \d+(\.\d+)? at \d+(\.\d+)?% is (marginal|fail) after 240 s: /);
  });

  it('goes on when the interim score passes, or the canary has not served minRequests yet', () => {
    const same = analyseCanary(
      baseline,
      samples(5, { offset: 3 }),
      { ...spec(), endEarly: 'marginal' },
      INTERIM,
    );
    expect(same.outcome).toBe('continue');
    const few = analyseCanary(
      samples(8, { requests: 50 }),
      samples(8, { requests: 50, offset: 3, p99: 480 }),
      { ...spec({ minRequests: 1000 }), endEarly: 'marginal' },
      INTERIM,
    );
    expect(few.outcome).toBe('continue');
  });
});
