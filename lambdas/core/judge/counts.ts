/**
 * A test suited to counts, for the error rate over the whole analysis window: canary errors out of
 * canary requests against baseline errors out of baseline requests. A rank test on per-interval
 * rates throws the counts away; at low traffic most intervals hold 0 or 1 errors and the rates tie,
 * while the totals still carry the evidence.
 *
 * - Significance (one-sided: is the canary's rate higher?): R's `prop.test(c(x1, x2), c(n1, n2),
 *   alternative = "greater", correct = TRUE)` (two-proportion z-test with Yates' continuity
 *   correction, and its one-sided lower confidence bound of the difference), or Fisher's exact test
 *   (`fisher.test(…, alternative = "greater")`) when an expected cell count is under 5, where the
 *   normal approximation is poor.
 * - Practical margin: a difference that is significant but small must not fail a release. The
 *   canary fails only if its rate is also significantly above (1 + allowedRelativeIncrease) times
 *   the baseline's: conditional on the total errors, the canary's share of them is binomial with
 *   p = ρ·n1/(ρ·n1 + n2) when the rate ratio is ρ (exact for Poisson counts, and close for the small
 *   error rates this judges), tested with R's `binom.test(x1, x1 + x2, p, alternative = "greater")`.
 *
 * Where R returns NaN (no errors on either side: every expected error count is 0) the p-value
 * here is 1: no evidence of an increase.
 */
import { binomialUpperTail, hypergeometricUpperTail, pnorm, qnorm } from './distributions.ts';

/** Errors out of requests over a window. */
export interface ErrorCounts {
  readonly errors: number;
  readonly requests: number;
}

/** R's `prop.test` for two groups, alternative "greater", with continuity correction. */
export interface PropTestResult {
  /** Yates-corrected chi-squared statistic (1 degree of freedom). */
  readonly statistic: number;
  readonly pValue: number;
  /** One-sided lower confidence bound of rate1 − rate2. */
  readonly lower: number;
}

/** Two-proportion test that x1/n1 exceeds x2/n2 (R's `prop.test`, one-sided "greater", correct = TRUE). */
export function propTestGreater(
  x1: number,
  n1: number,
  x2: number,
  n2: number,
  confLevel: number,
): PropTestResult {
  const e1 = x1 / n1;
  const e2 = x2 / n2;
  const delta = e1 - e2;
  const inv = 1 / n1 + 1 / n2;
  const yates = Math.min(0.5, Math.abs(delta) / inv);
  const width = qnorm(confLevel) * Math.sqrt((e1 * (1 - e1)) / n1 + (e2 * (1 - e2)) / n2) + yates * inv;
  const lower = Math.max(delta - width, -1);
  const p = (x1 + x2) / (n1 + n2);
  if (p === 0 || p === 1) return { statistic: 0, pValue: 1, lower };
  let statistic = 0;
  for (const [x, n] of [
    [x1, n1],
    [x2, n2],
  ] as const) {
    const cells: [number, number][] = [
      [x, n * p],
      [n - x, n * (1 - p)],
    ];
    for (const [o, e] of cells) statistic += (Math.abs(o - e) - yates) ** 2 / e;
  }
  const z = Math.sign(delta) * Math.sqrt(statistic);
  return { statistic, pValue: pnorm(z, true), lower };
}

/** Fisher's exact test that x1/n1 exceeds x2/n2 (R's `fisher.test(matrix(c(x1, x2, n1 - x1, n2 - x2), 2), alternative = "greater")`). */
export function fisherGreater(x1: number, n1: number, x2: number, n2: number): number {
  // Conditional on the margins, x1 is hypergeometric: n1 draws from x1 + x2 errors and the rest.
  return hypergeometricUpperTail(x1, x1 + x2, n1 - x1 + (n2 - x2), n1);
}

/** Exact binomial test that the success probability exceeds p (R's `binom.test(x, n, p, alternative = "greater")`). */
export function binomTestGreater(x: number, n: number, p: number): number {
  if (n === 0) return 1;
  return binomialUpperTail(x, n, p);
}

/** Options of {@link compareErrorCounts}. */
export interface CountsOptions {
  /** One-sided confidence; the tests must reach p < 1 − confidence. @default 0.98 */
  readonly confidence?: number;
  /** How much higher, relatively, the canary's rate may be before it matters (0.25: 25 %). @default 0.25 */
  readonly allowedRelativeIncrease?: number;
  /** Fisher's exact test replaces the z-test when an expected cell count is under this. @default 5 */
  readonly minExpected?: number;
}

/** The verdict on the error counts, with the figures behind it. */
export interface CountsResult {
  readonly classification: 'Pass' | 'High' | 'Nodata';
  readonly method: 'two-proportion z-test' | "Fisher's exact test" | 'none';
  readonly canaryRate: number | null;
  readonly baselineRate: number | null;
  /** p-value of "the canary's rate is higher". */
  readonly pValue: number | null;
  /** p-value of "the canary's rate is more than (1 + allowed) times the baseline's". */
  readonly marginPValue: number | null;
  /** z-test only: one-sided lower confidence bound of canary − baseline rate. */
  readonly lowerDifference: number | null;
  readonly canary: ErrorCounts;
  readonly baseline: ErrorCounts;
  readonly reason: string;
}

const pct = (r: number) => `${(r * 100).toPrecision(3).replace(/\.?0+$/, '')}%`;

/** Whether the canary's errors out of its requests are significantly, and materially, above the baseline's. */
export function compareErrorCounts(
  canary: ErrorCounts,
  baseline: ErrorCounts,
  options: CountsOptions = {},
): CountsResult {
  const confidence = options.confidence ?? 0.98;
  const allowed = options.allowedRelativeIncrease ?? 0.25;
  const minExpected = options.minExpected ?? 5;
  const alpha = 1 - confidence;
  const none = (reason: string): CountsResult => ({
    classification: 'Nodata',
    method: 'none',
    canaryRate: canary.requests > 0 ? canary.errors / canary.requests : null,
    baselineRate: baseline.requests > 0 ? baseline.errors / baseline.requests : null,
    pValue: null,
    marginPValue: null,
    lowerDifference: null,
    canary,
    baseline,
    reason,
  });
  for (const [who, c] of [
    ['canary', canary],
    ['baseline', baseline],
  ] as const) {
    if (
      !(Number.isInteger(c.errors) && Number.isInteger(c.requests) && c.errors >= 0 && c.errors <= c.requests)
    ) {
      throw new RangeError(
        `${who} counts must be whole numbers with 0 ≤ errors ≤ requests, got ${c.errors}/${c.requests}`,
      );
    }
  }
  if (canary.requests === 0) return none('error count: the canary served no requests');
  if (baseline.requests === 0) return none('error count: the baseline served no requests');
  const { errors: x1, requests: n1 } = canary;
  const { errors: x2, requests: n2 } = baseline;
  const canaryRate = x1 / n1;
  const baselineRate = x2 / n2;
  const pooled = (x1 + x2) / (n1 + n2);
  const minCell = Math.min(n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled));
  const exact = minCell < minExpected;
  let pValue: number;
  let lowerDifference: number | null = null;
  if (exact) pValue = fisherGreater(x1, n1, x2, n2);
  else {
    const t = propTestGreater(x1, n1, x2, n2, confidence);
    pValue = t.pValue;
    lowerDifference = t.lower;
  }
  const rho = 1 + allowed;
  const marginPValue = binomTestGreater(x1, x1 + x2, (rho * n1) / (rho * n1 + n2));
  const significant = pValue < alpha;
  const material = marginPValue < alpha;
  const high = significant && material;
  const level = `${Math.round(confidence * 1000) / 10}%`;
  const figures = `canary ${x1}/${n1} (${pct(canaryRate)}) vs baseline ${x2}/${n2} (${pct(baselineRate)})`;
  const why = high
    ? `higher by more than the allowed ${Math.round(allowed * 100)}% at ${level} (p ${pValue.toPrecision(2)}, margin p ${marginPValue.toPrecision(2)})`
    : significant
      ? `higher, but not by more than the allowed ${Math.round(allowed * 100)}% at ${level} (margin p ${marginPValue.toPrecision(2)})`
      : `no significant increase at ${level} (p ${pValue.toPrecision(2)})`;
  return {
    classification: high ? 'High' : 'Pass',
    method: exact ? "Fisher's exact test" : 'two-proportion z-test',
    canaryRate,
    baselineRate,
    pValue,
    marginPValue,
    lowerDifference,
    canary,
    baseline,
    reason: `error count: ${figures}, ${exact ? "Fisher's exact test" : 'two-proportion z-test'}: ${why}: ${high ? 'High' : 'Pass'}`,
  };
}
