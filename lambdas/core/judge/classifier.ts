/**
 * Per-metric classification with the semantics of Kayenta's NetflixACAJudge and its
 * MannWhitneyClassifier: NaNs removed or replaced by 0, optional IQR outlier removal, then the
 * Mann-Whitney confidence interval of the shift canary − baseline at `confidence` (default 0.98),
 * compared with a tolerance band of ±tolerance·|Hodges-Lehmann estimate| (default 0.25); the effect
 * size (mean ratio, or CLES) must also reach `allowedIncrease` / `allowedDecrease`, and a critical
 * metric fails the whole canary only when it reaches `criticalIncrease` / `criticalDecrease`.
 *
 * Where this departs from Kayenta, on purpose:
 * - both samples constant but different: Kayenta adds Gaussian noise (a random verdict at the
 *   margin); here the shift is exactly a − b with a degenerate interval (see mann-whitney.ts);
 * - baseline mean 0: Kayenta's mean ratio is then 1.0, which hides an error rate going from 0 to
 *   anything; here it is +Infinity when the canary's mean is above 0 (reported as null in JSON);
 * - the interval's roots are exact by default (`rootFinder: 'uniroot'` gives R's/Kayenta's).
 * Pure: plain data in, plain data and the sentence an operator reads out.
 */
import { type RootFinder, type WilcoxResult, wilcoxTestSorted } from './mann-whitney.ts';

/** Which change of a metric is bad. */
export type Direction = 'increase' | 'decrease' | 'either';

/** A metric's classification (Kayenta's labels). */
export type Classification = 'Pass' | 'High' | 'Low' | 'Nodata' | 'NodataFailMetric' | 'Error';

/** How big the change is, beyond significance. */
export interface EffectSizeSpec {
  /** Mean ratio canary/baseline, or CLES = P(canary > baseline) + ½·P(tie). @default 'meanRatio' */
  readonly measure?: 'meanRatio' | 'cles';
  /** High needs effect ≥ this. @default 1 (meanRatio), 0.5 (cles) */
  readonly allowedIncrease?: number;
  /** Low needs effect ≤ this. @default 1 (meanRatio), 0.5 (cles) */
  readonly allowedDecrease?: number;
  /** A critical metric's High fails the canary only when effect ≥ this. @default as allowedIncrease's default */
  readonly criticalIncrease?: number;
  /** A critical metric's Low fails the canary only when effect ≤ this. @default as allowedDecrease's default */
  readonly criticalDecrease?: number;
}

/** Outlier handling before the test (Kayenta's IQRDetector with reduced sensitivity). */
export interface OutlierSpec {
  /** @default 'keep' */
  readonly strategy: 'remove' | 'keep';
  /** Tukey fence factor k: outside [Q1 − k·IQR, Q3 + k·IQR] (and beyond the 1st/99th percentile). @default 3 */
  readonly outlierFactor?: number;
}

/** How one metric is judged. */
export interface MetricSpec {
  readonly name: string;
  /** @default 'either' (Kayenta's default) */
  readonly direction?: Direction;
  /** A failing critical metric fails the canary whatever the score. @default false */
  readonly critical?: boolean;
  /** Missing points: dropped, or counted as 0. @default 'remove' */
  readonly nanStrategy?: 'remove' | 'replace';
  /** No data is NodataFailMetric (counts as a failure) rather than Nodata. @default false */
  readonly mustHaveData?: boolean;
  readonly effectSize?: EffectSizeSpec;
  readonly outliers?: OutlierSpec;
  /** Scoring group. @default the metric's name */
  readonly group?: string;
  /** The group's weight in the score (percent; unweighted groups share what is left of 100). */
  readonly weight?: number;
  /** Classified and reported, never counted. @default false */
  readonly dryRun?: boolean;
  /** Unit shown in the reason (`ms`, `%`). */
  readonly unit?: string;
}

/** Judge-wide classifier settings. */
export interface ClassifierOptions {
  /** Confidence level of the interval. @default 0.98 */
  readonly confidence?: number;
  /** Tolerance band as a fraction of |estimate|. @default 0.25 */
  readonly tolerance?: number;
  /** @default 'exact' */
  readonly rootFinder?: RootFinder;
}

/** A few numbers about one side's series, as judged (after NaN handling and outlier removal). */
export interface SeriesSummary {
  /** Points given. */
  readonly points: number;
  /** Points judged. */
  readonly count: number;
  /** Missing points (null or not finite). */
  readonly missing: number;
  /** Points dropped as outliers. */
  readonly outliers: number;
  readonly mean: number | null;
  readonly median: number | null;
  readonly min: number | null;
  readonly max: number | null;
}

/** One metric's classification and the figures behind it (plain JSON, non-finite numbers as null). */
export interface MetricResult {
  readonly name: string;
  readonly classification: Classification;
  /** Hodges-Lehmann estimate of canary − baseline. */
  readonly estimate: number | null;
  readonly lowerCI: number | null;
  readonly upperCI: number | null;
  readonly pValue: number | null;
  readonly effectSize: number | null;
  readonly effectSizeMeasure: 'meanRatio' | 'cles';
  /** Whether this result fails the canary on its own (a critical metric's failure). */
  readonly critical: boolean;
  readonly reason: string;
  readonly group: string;
  readonly dryRun: boolean;
  readonly direction: Direction;
  readonly baseline: SeriesSummary;
  readonly canary: SeriesSummary;
}

const finiteOrNull = (v: number | null | undefined): number | null =>
  v !== null && v !== undefined && Number.isFinite(v) ? v : null;

/**
 * Commons-math's default percentile estimate (Kayenta's StatUtils.percentile): position
 * p·(n + 1)/100, linear between neighbours, clamped to the ends.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  if (n === 1) return sorted[0] as number;
  const pos = (p * (n + 1)) / 100;
  if (pos < 1) return sorted[0] as number;
  if (pos >= n) return sorted[n - 1] as number;
  const f = Math.floor(pos);
  const lower = sorted[f - 1] as number;
  const upper = sorted[f] as number;
  return lower + (pos - f) * (upper - lower);
}

/**
 * Kayenta's IQRDetector(factor, reduceSensitivity = true): the values that are not outliers. The
 * fences never cut inside the 1st..99th percentile range, so with fewer than 100 points (where the
 * 1st and 99th percentiles are the extremes) nothing is removed.
 */
export function removeOutliers(values: readonly number[], factor: number): number[] {
  if (values.length < 2) return [...values];
  const sorted = Float64Array.from(values).sort();
  const q1 = percentile(sorted, 25);
  const q3 = percentile(sorted, 75);
  const iqr = q3 - q1;
  // Reduced sensitivity: the fences never cut inside the 1st..99th percentile range.
  const lowerFence = Math.min(percentile(sorted, 1), q1 - factor * iqr);
  const upperFence = Math.max(percentile(sorted, 99), q3 + factor * iqr);
  return values.filter((v) => v >= lowerFence && v <= upperFence);
}

function mean(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] as number;
  return s / v.length;
}

function summarise(points: number, missing: number, outliers: number, sorted: Float64Array): SeriesSummary {
  if (sorted.length === 0) {
    return { points, count: 0, missing, outliers, mean: null, median: null, min: null, max: null };
  }
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return {
    points,
    count: sorted.length,
    missing,
    outliers,
    mean: finiteOrNull(mean(sorted)),
    median,
    min: sorted[0] as number,
    max: sorted[sorted.length - 1] as number,
  };
}

/** NaN strategy then outlier removal: the values judged (also sorted), and the summary of one side. */
function prepare(
  raw: readonly (number | null)[],
  spec: MetricSpec,
): { values: number[]; sorted: Float64Array; summary: SeriesSummary } {
  const present: number[] = [];
  let missing = 0;
  for (const v of raw) {
    if (v === null || !Number.isFinite(v)) {
      missing++;
      if (spec.nanStrategy === 'replace') present.push(0);
    } else present.push(v);
  }
  const values =
    spec.outliers?.strategy === 'remove'
      ? removeOutliers(present, spec.outliers.outlierFactor ?? 3)
      : present;
  const sorted = Float64Array.from(values).sort();
  return { values, sorted, summary: summarise(raw.length, missing, present.length - values.length, sorted) };
}

/** C(n, k) in floating point (enough to compare 2/C with a significance level). */
function binomial(n: number, k: number): number {
  let r = 1;
  const kk = Math.min(k, n - k);
  for (let i = 1; i <= kk; i++) r = (r * (n - kk + i)) / i;
  return r;
}

/** CLES: P(canary > baseline) + ½·P(tie), from the Mann-Whitney U of the canary. */
function cles(w: WilcoxResult): number {
  return w.statistic / (w.nx * w.ny);
}

/** A number for a sentence: three significant digits, no exponent for everyday magnitudes. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return v > 0 ? '∞' : v < 0 ? '-∞' : 'NaN';
  const a = Math.abs(v);
  if (a >= 100 || a === 0) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1).replace(/\.0$/, '');
  if (a >= 0.001) return String(Number(v.toPrecision(3)));
  return v.toPrecision(2);
}

const signed = (v: number) => `${v > 0 ? '+' : v < 0 ? '' : '±'}${formatNumber(v)}`;

/**
 * Classifies one metric: canary against baseline, with Kayenta's rules and a reason such as
 * `p99 latency: canary 412 ms vs baseline 300 ms (+37%, CI +80..+130 ms at 98%): High`.
 */
export function classifyMetric(
  spec: MetricSpec,
  baselineRaw: readonly (number | null)[],
  canaryRaw: readonly (number | null)[],
  options: ClassifierOptions = {},
): MetricResult {
  const confidence = options.confidence ?? 0.98;
  const tolerance = options.tolerance ?? 0.25;
  const direction = spec.direction ?? 'either';
  const critical = spec.critical === true;
  const measure = spec.effectSize?.measure ?? 'meanRatio';
  const neutral = measure === 'cles' ? 0.5 : 1;
  const allowedIncrease = spec.effectSize?.allowedIncrease ?? neutral;
  const allowedDecrease = spec.effectSize?.allowedDecrease ?? neutral;
  const criticalIncrease = spec.effectSize?.criticalIncrease ?? neutral;
  const criticalDecrease = spec.effectSize?.criticalDecrease ?? neutral;
  const unit = spec.unit ? (spec.unit === '%' ? '%' : ` ${spec.unit}`) : '';
  const level = `${Math.round(confidence * 1000) / 10}%`;

  const b = prepare(baselineRaw, spec);
  const c = prepare(canaryRaw, spec);
  const result = (
    classification: Classification,
    reason: string,
    extra: { w?: WilcoxResult; effect?: number; critical?: boolean } = {},
  ): MetricResult => ({
    name: spec.name,
    classification,
    estimate: finiteOrNull(extra.w?.estimate),
    lowerCI: finiteOrNull(extra.w?.lower),
    upperCI: finiteOrNull(extra.w?.upper),
    pValue: finiteOrNull(extra.w?.pValue),
    effectSize: finiteOrNull(extra.effect),
    effectSizeMeasure: measure,
    critical: extra.critical ?? false,
    reason,
    group: spec.group ?? spec.name,
    dryRun: spec.dryRun === true,
    direction,
    baseline: b.summary,
    canary: c.summary,
  });

  if (b.values.length === 0 || c.values.length === 0) {
    const side =
      b.values.length === 0 && c.values.length === 0
        ? 'canary and baseline'
        : b.values.length === 0
          ? 'baseline'
          : 'canary';
    const pts = (s: SeriesSummary) => `${s.points} point${s.points === 1 ? '' : 's'}, ${s.missing} missing`;
    const reason = `${spec.name}: no ${side} data (canary ${pts(c.summary)}; baseline ${pts(b.summary)})`;
    if (spec.mustHaveData && !critical) return result('NodataFailMetric', `${reason}: NodataFailMetric`);
    // Kayenta: a critical metric without data carries the critical flag, so it fails the canary.
    return result('Nodata', `${reason}: Nodata${critical ? ' (critical)' : ''}`, { critical });
  }

  const describe = (w: WilcoxResult | undefined, effect: number | undefined) => {
    const means = `canary ${formatNumber(c.summary.mean ?? Number.NaN)}${unit} vs baseline ${formatNumber(b.summary.mean ?? Number.NaN)}${unit}`;
    const parts: string[] = [];
    if (effect !== undefined) {
      if (measure === 'cles') parts.push(`P(canary > baseline) ${formatNumber(effect)}`);
      else if (Number.isFinite(effect)) parts.push(`${signed(Math.round((effect - 1) * 100))}%`);
      else parts.push('baseline mean 0');
    }
    if (w) parts.push(`CI ${signed(w.lower)}..${signed(w.upper)}${unit} at ${level}`);
    return `${spec.name}: ${means}${parts.length ? ` (${parts.join(', ')})` : ''}`;
  };

  if (b.sorted.length === c.sorted.length && b.sorted.every((v, i) => v === c.sorted[i])) {
    return result(
      'Pass',
      `${describe(undefined, undefined)}: the canary and baseline data are identical: Pass`,
      {
        effect: measure === 'cles' ? 0.5 : 1,
      },
    );
  }

  // The most extreme arrangement (every canary point above every baseline point) has two-sided
  // p = 2/C(n+m, n); when even that misses the level, no data of these sizes can show a change,
  // and the normal approximation (taken with ties) would claim one from a single point.
  const achievable = 1 - 2 / binomial(c.values.length + b.values.length, c.values.length);
  if (achievable < confidence) {
    return result(
      'Pass',
      `${describe(undefined, undefined)}: too few points for a ${level} interval (${c.values.length} vs ${b.values.length} reach at most ${formatNumber(Math.max(0, achievable) * 100)}%): Pass`,
    );
  }
  let w: WilcoxResult;
  try {
    w = wilcoxTestSorted(c.sorted, b.sorted, {
      confLevel: confidence,
      rootFinder: options.rootFinder ?? 'exact',
    });
  } catch (err) {
    return result('Error', `${spec.name}: metric classification failed (${(err as Error).message}): Error`);
  }
  const baselineMean = mean(b.sorted);
  const canaryMean = mean(c.sorted);
  const effect =
    measure === 'cles'
      ? cles(w)
      : baselineMean === 0
        ? canaryMean > 0
          ? Number.POSITIVE_INFINITY
          : canaryMean < 0
            ? Number.NEGATIVE_INFINITY
            : 1
        : canaryMean / baselineMean;
  const band = tolerance * Math.abs(w.estimate);
  const significantUp = w.lower > band;
  const significantDown = w.upper < -band;
  const isHigh =
    (direction === 'increase' || direction === 'either') && significantUp && effect >= allowedIncrease;
  const isLow =
    (direction === 'decrease' || direction === 'either') && significantDown && effect <= allowedDecrease;
  const text = describe(w, effect);
  const fx = (v: number) => (measure === 'cles' ? formatNumber(v) : `×${formatNumber(v)}`);
  if (isHigh) {
    const isCritical = critical && effect >= criticalIncrease;
    return result('High', `${text}: High${isCritical ? ' (critical)' : ''}`, {
      w,
      effect,
      critical: isCritical,
    });
  }
  if (isLow) {
    const isCritical = critical && effect <= criticalDecrease;
    return result('Low', `${text}: Low${isCritical ? ' (critical)' : ''}`, {
      w,
      effect,
      critical: isCritical,
    });
  }
  // Say why a visible change still passes, so nobody has to work it out from the figures.
  let why = '';
  if (significantUp && direction === 'decrease') why = ' (higher, but only a decrease is judged)';
  else if (significantDown && direction === 'increase') why = ' (lower, but only an increase is judged)';
  else if (significantUp)
    why = ` (higher, but effect ${fx(effect)} is under the allowed ${fx(allowedIncrease)})`;
  else if (significantDown)
    why = ` (lower, but effect ${fx(effect)} is over the allowed ${fx(allowedDecrease)})`;
  return result('Pass', `${text}: Pass${why}`, { w, effect });
}
