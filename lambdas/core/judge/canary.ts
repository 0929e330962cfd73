/**
 * The canary verdict (issue 9): a new release's interval samples against its baseline's, judged by
 * - the seed's thresholds (`deployment-thresholds.yaml`: error rate %, p99 ms) as a hard rule that
 *   needs `thresholdIntervals` breached intervals in a row, never a single sample;
 * - Kayenta's classifier on the per-interval error rate (%) and p99 series, scored into
 *   pass / marginal / fail;
 * - a count test on the window's errors/requests (counts.ts), which a rank test on rates misses at
 *   low traffic;
 * - evidence rules: pass or marginal need both `minDurationSeconds` of analysis and `minRequests`
 *   canary requests; short of either the outcome is `inconclusive` (hold and page), never pass.
 * Before the last interval the outcome is `continue` unless the release already fails: the hard
 * rule, or a critical failure at the stricter `earlyFailConfidence` (judging every interval at the
 * final level would multiply the chances of a false rollback).
 *
 * Pure: plain data in, a plain JSON verdict out, bounded in size for the deployment record.
 */
import type { CanaryConfig, CanaryMetricConfig } from '../../../lib/config/canary-schema.ts';
import type { IntervalSample } from '../measurements.ts';
import { classifyMetric, formatNumber, type MetricResult, type MetricSpec } from './classifier.ts';
import { type CountsResult, compareErrorCounts } from './counts.ts';

/** Classifications of a metric that had data to judge (an interim score counts only with all of them). */
const DECIDED: ReadonlySet<string> = new Set(['Pass', 'High', 'Low']);

import { type ScoreResult, scoreMetrics } from './score.ts';

/** The seed's per-environment thresholds the hard rule applies. */
export interface SeedLimits {
  /** `error_rate_threshold`, percent. */
  readonly errorRatePercent: number;
  /** `latency_p99_threshold_ms`. */
  readonly latencyP99Ms: number;
}

/** Everything the canary judge needs to know about the environment. */
export interface CanarySpec {
  /** The environment's `canary:` block, parsed with canarySchema. */
  readonly config: CanaryConfig;
  readonly limits: SeedLimits;
  /**
   * What ends the analysis before its last interval. `fail` (default): the hard rule or a critical
   * failure. `marginal` (blue-green, issue 11: the preview serves no production traffic, so
   * stopping it early costs nothing): also a marginal-or-worse score, once every deciding metric
   * has data and the canary has served `minRequests`, at the stricter `earlyFailConfidence`.
   */
  readonly endEarly?: 'fail' | 'marginal';
}

/** The seed's `deployment-thresholds.yaml` block as the hard rule's limits. */
export function seedLimits(thresholds: {
  readonly error_rate_threshold: number;
  readonly latency_p99_threshold_ms: number;
}): SeedLimits {
  return {
    errorRatePercent: thresholds.error_rate_threshold,
    latencyP99Ms: thresholds.latency_p99_threshold_ms,
  };
}

/** What the canary analysis decided. */
export type CanaryOutcome = 'pass' | 'marginal' | 'fail' | 'inconclusive' | 'continue';

/** The longest series kept on the record, per side and measurement. */
export const MAX_SERIES_POINTS = 60;

/** One side's measurements over the window. */
export interface MeasurementSummary {
  readonly intervals: number;
  /** Intervals with a request count. */
  readonly intervalsWithData: number;
  readonly requests: number;
  readonly errors: number;
  /** errors / requests × 100 over the window, null without requests. */
  readonly errorRatePercent: number | null;
  readonly p99MsMedian: number | null;
  readonly p99MsMax: number | null;
  readonly start: string | null;
  readonly end: string | null;
  /** Per-interval error rate % and p99 ms, the last {@link MAX_SERIES_POINTS} intervals. */
  readonly series: {
    readonly errorRatePercent: readonly (number | null)[];
    readonly p99Ms: readonly (number | null)[];
    /** Whether older intervals were left out. */
    readonly truncated: boolean;
  };
}

/** The hard rule's finding. */
export interface ThresholdFinding {
  readonly errorRatePercent: number;
  readonly latencyP99Ms: number;
  readonly consecutiveIntervals: number;
  /** Longest run of canary intervals over the error-rate threshold. */
  readonly errorRateRun: number;
  /** Longest run of canary intervals over the p99 threshold. */
  readonly p99Run: number;
  readonly breached: boolean;
  readonly reason: string;
}

/** The evidence rules' finding. */
export interface EvidenceFinding {
  readonly elapsedSeconds: number;
  readonly minDurationSeconds: number;
  readonly canaryRequests: number;
  readonly minRequests: number;
  readonly sufficient: boolean;
  /** What was short, in words (empty when sufficient). */
  readonly short: readonly string[];
}

/** The canary verdict: plain JSON, every figure and every metric's reason. */
export interface CanaryVerdict {
  readonly outcome: CanaryOutcome;
  /** The sentence an operator reads. */
  readonly reason: string;
  /** Whether this was the last interval's judgement. */
  readonly final: boolean;
  /** The whole analysis runs in shadow: recorded, not acted on. */
  readonly dryRun: boolean;
  readonly score: number;
  readonly scoreVerdict: ScoreResult['verdict'];
  readonly scoreReason: string;
  readonly groups: ScoreResult['groups'];
  readonly evidence: EvidenceFinding;
  readonly thresholds: ThresholdFinding;
  readonly errorCounts: CountsResult | null;
  readonly metrics: readonly MetricResult[];
  readonly measurements: { readonly baseline: MeasurementSummary; readonly canary: MeasurementSummary };
}

const hasCount = (v: number | null): v is number => v !== null && Number.isFinite(v) && v >= 0;

/** Per-interval error rate in percent; null when the interval has no request count, no error count or no requests. */
export function errorRatePercent(s: IntervalSample): number | null {
  if (!hasCount(s.requests) || !hasCount(s.errors) || s.requests === 0) return null;
  return (s.errors / s.requests) * 100;
}

const p99Of = (s: IntervalSample): number | null =>
  s.p99Ms !== null && Number.isFinite(s.p99Ms) && s.p99Ms >= 0 ? s.p99Ms : null;

/** The k-th smallest (0-based) of `a`, reordering it: Hoare's quickselect, O(n) on average. */
function select(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1] as number;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((a[i] as number) < pivot) i++;
      while ((a[j] as number) > pivot) j--;
      if (i <= j) {
        const t = a[i] as number;
        a[i] = a[j] as number;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k] as number;
  }
  return a[k] as number;
}

/** Median without sorting (the series can be 10,000 points long). */
function medianOf(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const a = Float64Array.from(values);
  const m = a.length >> 1;
  const upper = select(a, m);
  if (a.length % 2) return upper;
  // After selecting m, everything left of it is ≤ it: the lower middle is their maximum.
  let lower = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < m; i++) if ((a[i] as number) > lower) lower = a[i] as number;
  return (lower + upper) / 2;
}

/** Requests and errors summed over intervals that have both counts. */
function totals(samples: readonly IntervalSample[]): { requests: number; errors: number; intervals: number } {
  let requests = 0;
  let errors = 0;
  let intervals = 0;
  for (const s of samples) {
    if (!hasCount(s.requests) || !hasCount(s.errors)) continue;
    // A provider's rounding can put errors a hair above requests; a rate above 100% is not a fact.
    requests += Math.round(s.requests);
    errors += Math.min(Math.round(s.errors), Math.round(s.requests));
    intervals++;
  }
  return { requests, errors, intervals };
}

function summarise(samples: readonly IntervalSample[]): MeasurementSummary {
  const t = totals(samples);
  const p99s = samples.map(p99Of).filter((v): v is number => v !== null);
  const last = samples.slice(-MAX_SERIES_POINTS);
  return {
    intervals: samples.length,
    intervalsWithData: t.intervals,
    requests: t.requests,
    errors: t.errors,
    errorRatePercent: t.requests > 0 ? (t.errors / t.requests) * 100 : null,
    p99MsMedian: medianOf(p99s),
    p99MsMax: p99s.reduce<number | null>((m, v) => (m === null || v > m ? v : m), null),
    start: samples[0]?.start ?? null,
    end: samples[samples.length - 1]?.end ?? null,
    series: {
      errorRatePercent: last.map(errorRatePercent),
      p99Ms: last.map(p99Of),
      truncated: samples.length > MAX_SERIES_POINTS,
    },
  };
}

/** The hard rule: `n` canary intervals in a row over a seed threshold. */
function thresholdRule(
  canary: readonly IntervalSample[],
  limits: SeedLimits,
  n: number,
  minIntervalRequests: number,
): ThresholdFinding {
  let errRun = 0;
  let p99Run = 0;
  let errBest = 0;
  let p99Best = 0;
  for (const s of canary) {
    // An interval with too few requests says nothing about a rate or a p99: it breaks no run but extends none.
    const enough = hasCount(s.requests) && s.requests >= minIntervalRequests;
    const rate = enough ? errorRatePercent(s) : null;
    const p99 = enough ? p99Of(s) : null;
    errRun = rate !== null && rate > limits.errorRatePercent ? errRun + 1 : rate === null ? errRun : 0;
    p99Run = p99 !== null && p99 > limits.latencyP99Ms ? p99Run + 1 : p99 === null ? p99Run : 0;
    errBest = Math.max(errBest, errRun);
    p99Best = Math.max(p99Best, p99Run);
  }
  const breaches: string[] = [];
  if (errBest >= n)
    breaches.push(`error rate above ${limits.errorRatePercent}% for ${errBest} intervals in a row`);
  if (p99Best >= n) breaches.push(`p99 above ${limits.latencyP99Ms} ms for ${p99Best} intervals in a row`);
  return {
    errorRatePercent: limits.errorRatePercent,
    latencyP99Ms: limits.latencyP99Ms,
    consecutiveIntervals: n,
    errorRateRun: errBest,
    p99Run: p99Best,
    breached: breaches.length > 0,
    reason: breaches.length
      ? `deployment thresholds breached: ${breaches.join('; ')} (${n} in a row fail)`
      : `within deployment thresholds (error rate ≤ ${limits.errorRatePercent}%, p99 ≤ ${limits.latencyP99Ms} ms; ${n} breached intervals in a row fail)`,
  };
}

/** The classifier's spec of a configured metric. */
function metricSpecOf(m: CanaryMetricConfig, nodataDefault: 'fail' | 'ignore'): MetricSpec {
  const nodata = m.nodata ?? nodataDefault;
  return {
    name: m.name,
    direction: m.direction,
    critical: m.critical,
    nanStrategy: m.nanStrategy,
    mustHaveData: nodata === 'fail',
    ...(m.effectSize ? { effectSize: m.effectSize } : {}),
    ...(m.outliers ? { outliers: m.outliers } : {}),
    ...(m.group ? { group: m.group } : {}),
    ...(m.weight !== undefined ? { weight: m.weight } : {}),
    dryRun: m.dryRun,
    unit: m.measurement === 'errorRate' ? '%' : 'ms',
  };
}

/** Classifies every configured metric at `confidence`. */
function classifyAll(
  baseline: readonly IntervalSample[],
  canary: readonly IntervalSample[],
  config: CanaryConfig,
  confidence: number,
): MetricResult[] {
  return config.metrics.map((m) => {
    const series = m.measurement === 'errorRate' ? errorRatePercent : p99Of;
    const spec = metricSpecOf(m, config.nodata);
    const r = classifyMetric(spec, baseline.map(series), canary.map(series), {
      confidence,
      tolerance: config.classifier.tolerance,
      rootFinder: config.classifier.rootFinder,
    });
    // nodata: ignore — missing data neither fails the metric nor, through `critical`, the canary.
    if ((m.nodata ?? config.nodata) === 'ignore' && r.classification === 'Nodata')
      return { ...r, critical: false };
    return r;
  });
}

/** Whether a result is a statistical failure (High/Low), as opposed to missing data. */
const statisticalFailure = (r: MetricResult) => r.classification === 'High' || r.classification === 'Low';

/**
 * Judges the canary so far. Call it every interval with all samples up to now; `final` on the last
 * interval. `baseline`: the same service's samples in the window before the deployment.
 */
export function analyseCanary(
  baseline: readonly IntervalSample[],
  canary: readonly IntervalSample[],
  spec: CanarySpec,
  opts: { readonly elapsedSeconds: number; readonly final: boolean },
): CanaryVerdict {
  const { config, limits } = spec;
  const final = opts.final;
  // Before the last interval only a failure beyond the stricter level may end the analysis.
  const confidence = final ? config.classifier.confidence : config.classifier.earlyFailConfidence;
  const metrics = classifyAll(baseline, canary, config, confidence);
  const canaryTotals = totals(canary);
  const baselineTotals = totals(baseline);
  const counts = config.errorCounts.enabled
    ? compareErrorCounts(canaryTotals, baselineTotals, {
        confidence,
        allowedRelativeIncrease: config.errorCounts.allowedRelativeIncrease,
      })
    : null;
  const countsDecides = counts !== null && counts.classification !== 'Nodata';
  const countsEntry = countsDecides
    ? [
        {
          name: 'error-count',
          classification: counts.classification,
          critical: config.errorCounts.critical && counts.classification === 'High',
          group: 'error-count',
          dryRun: false,
          reason: counts.reason,
        },
      ]
    : [];
  const scored = scoreMetrics([...metrics, ...countsEntry], config.thresholds, {});
  const thresholds = thresholdRule(canary, limits, config.thresholdIntervals, config.minIntervalRequests);
  const minDuration = config.minDurationSeconds ?? config.durationSeconds;
  const short: string[] = [];
  if (opts.elapsedSeconds < minDuration)
    short.push(`analysed ${Math.round(opts.elapsedSeconds)} s of the ${minDuration} s needed`);
  if (canaryTotals.requests < config.minRequests) {
    short.push(`the canary served ${canaryTotals.requests} requests of the ${config.minRequests} needed`);
  }
  const evidence: EvidenceFinding = {
    elapsedSeconds: opts.elapsedSeconds,
    minDurationSeconds: minDuration,
    canaryRequests: canaryTotals.requests,
    minRequests: config.minRequests,
    sufficient: short.length === 0,
    short,
  };
  const criticalStatistical =
    metrics.find((r) => !r.dryRun && r.critical && statisticalFailure(r)) ??
    (countsEntry[0]?.critical ? countsEntry[0] : undefined);

  let outcome: CanaryOutcome;
  let reason: string;
  if (thresholds.breached) {
    outcome = 'fail';
    reason = thresholds.reason;
  } else if (criticalStatistical) {
    outcome = 'fail';
    reason = `critical: ${criticalStatistical.reason}`;
  } else if (
    !final &&
    spec.endEarly === 'marginal' &&
    scored.verdict !== 'pass' &&
    canaryTotals.requests >= config.minRequests &&
    [...metrics, ...countsEntry].every((r) => r.dryRun || DECIDED.has(r.classification))
  ) {
    outcome = scored.verdict;
    reason = `interim score ${scored.score} at ${Math.round(confidence * 1000) / 10}% is ${scored.verdict} after ${Math.round(opts.elapsedSeconds)} s: ${scored.reason}`;
  } else if (!final) {
    outcome = 'continue';
    reason = `no failure so far (${describeProgress(opts.elapsedSeconds, minDuration, canaryTotals.requests)}); score ${scored.score} at ${Math.round(confidence * 1000) / 10}%`;
  } else if (!evidence.sufficient) {
    outcome = 'inconclusive';
    reason = `too little data for a verdict: ${short.join('; ')}`;
  } else {
    outcome = scored.verdict;
    reason = scored.reason;
  }
  return {
    outcome,
    reason,
    final,
    dryRun: config.dryRun,
    score: scored.score,
    scoreVerdict: scored.verdict,
    scoreReason: scored.reason,
    groups: scored.groups,
    evidence,
    thresholds,
    errorCounts: counts,
    metrics,
    measurements: { baseline: summarise(baseline), canary: summarise(canary) },
  };
}

function describeProgress(elapsed: number, needed: number, requests: number): string {
  return `${Math.round(elapsed)} s of ${needed} s, ${formatNumber(requests)} canary requests`;
}
