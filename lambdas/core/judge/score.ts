/**
 * The canary score and verdict, as Kayenta's WeightedSumScorer and ThresholdScoreClassifier do it:
 * each group scores passes / (Pass + High + Low + NodataFailMetric) × 100; the summary is the
 * weighted mean of the groups' scores; a critical failure, or Nodata on half the metrics or more,
 * makes it 0; score ≥ pass → pass, ≥ marginal → marginal, else fail (defaults 95 / 75).
 *
 * Where this departs from Kayenta: weights are normalised (Kayenta sums score × weight/100, so
 * weights that do not add up to 100 shift the scale), and a group with no classified metric is
 * left out of the mean instead of counting as 100. `dryRun` metrics are classified and reported
 * but never counted. With no deciding metric at all the verdict is fail: nothing was judged.
 */
import type { Classification, MetricResult } from './classifier.ts';

/** Score thresholds. */
export interface ScoreThresholds {
  /** @default 95 */
  readonly pass: number;
  /** @default 75 */
  readonly marginal: number;
}

/** Kayenta's default score thresholds. */
export const DEFAULT_SCORE_THRESHOLDS: ScoreThresholds = { pass: 95, marginal: 75 };

/** The overall verdict of the classifier stage. */
export type ScoreVerdict = 'pass' | 'marginal' | 'fail';

/** One group's score. */
export interface GroupScore {
  readonly name: string;
  /** 0..100, or null when no metric of the group was classified Pass/High/Low/NodataFailMetric. */
  readonly score: number | null;
  readonly weight: number;
  readonly metrics: number;
}

/** The score, the verdict and why. */
export interface ScoreResult {
  readonly score: number;
  readonly verdict: ScoreVerdict;
  readonly groups: readonly GroupScore[];
  readonly reason: string;
}

const COUNTED: ReadonlySet<Classification> = new Set(['Pass', 'High', 'Low', 'NodataFailMetric']);

/** Scores classified metrics. `weights` overrides group weights (percent); metric `weight`s fill the rest. */
export function scoreMetrics(
  results: readonly (Pick<
    MetricResult,
    'name' | 'classification' | 'critical' | 'group' | 'dryRun' | 'reason'
  > & {
    readonly weight?: number;
  })[],
  thresholds: ScoreThresholds = DEFAULT_SCORE_THRESHOLDS,
  weights: Readonly<Record<string, number>> = {},
): ScoreResult {
  const deciding = results.filter((r) => !r.dryRun);
  const verdictOf = (score: number): ScoreVerdict =>
    score >= thresholds.pass ? 'pass' : score >= thresholds.marginal ? 'marginal' : 'fail';

  const groupWeights = new Map<string, number>(Object.entries(weights));
  for (const r of deciding) {
    // The first metric that names a weight sets its group's.
    if (r.weight !== undefined && !groupWeights.has(r.group)) groupWeights.set(r.group, r.weight);
  }
  const names = [...new Set(deciding.map((r) => r.group))];
  const unweighted = names.filter((g) => !groupWeights.has(g));
  const given = names.reduce((s, g) => s + (groupWeights.get(g) ?? 0), 0);
  const share = unweighted.length > 0 ? Math.max(0, 100 - given) / unweighted.length : 0;
  const groups: GroupScore[] = names.map((name) => {
    const members = deciding.filter((r) => r.group === name);
    const counted = members.filter((r) => COUNTED.has(r.classification));
    const passes = counted.filter((r) => r.classification === 'Pass').length;
    return {
      name,
      score: counted.length === 0 ? null : (passes / counted.length) * 100,
      weight: groupWeights.get(name) ?? share,
      metrics: members.length,
    };
  });

  if (deciding.length === 0) {
    return {
      score: 0,
      verdict: 'fail',
      groups,
      reason: 'no metric decides (none given, or all are dryRun): fail',
    };
  }
  const criticalFailure = deciding.find((r) => r.critical && r.classification !== 'Pass');
  if (criticalFailure) {
    return {
      score: 0,
      verdict: 'fail',
      groups,
      reason: `critical metric ${criticalFailure.name} failed: ${criticalFailure.reason}`,
    };
  }
  const nodata = deciding.filter((r) => r.classification === 'Nodata').length;
  if ((nodata / deciding.length) * 100 >= 50) {
    return {
      score: 0,
      verdict: 'fail',
      groups,
      reason: `${nodata} of ${deciding.length} metrics have no data (50% or more): fail`,
    };
  }
  const scored = groups.filter((g) => g.score !== null && g.weight > 0);
  const totalWeight = scored.reduce((s, g) => s + g.weight, 0);
  const raw =
    totalWeight > 0 ? scored.reduce((s, g) => s + (g.score as number) * g.weight, 0) / totalWeight : 0;
  const score = Math.round(raw * 100) / 100;
  const verdict = verdictOf(score);
  const failing = deciding.filter((r) => COUNTED.has(r.classification) && r.classification !== 'Pass');
  const reason =
    failing.length === 0
      ? `score ${score} (every metric passed; pass ≥ ${thresholds.pass}): ${verdict}`
      : `score ${score} (pass ≥ ${thresholds.pass}, marginal ≥ ${thresholds.marginal}); failing: ${failing
          .map((r) => `${r.name} ${r.classification}`)
          .join(', ')}: ${verdict}`;
  return { score, verdict, groups, reason };
}
