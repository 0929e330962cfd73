/**
 * The Wilcoxon rank-sum (Mann-Whitney) test of two independent samples with the confidence
 * interval and Hodges-Lehmann estimate of the location shift x − y (canary minus baseline), with
 * the semantics of R's `wilcox.test(x, y, conf.int = TRUE, conf.level = c)` (two-sided, mu = 0,
 * correct = TRUE), checked against R 4.2 in test/fixtures/wilcox-reference.json.
 *
 * Branches, as R chooses them:
 * - exact (both samples under 50 and no ties among the pooled values): p-value from the exact null
 *   distribution of W, the interval from its quantiles (order statistics of the n·m pairwise
 *   differences), the estimate the median of those differences;
 * - asymptotic (otherwise): normal approximation of W with tie correction and continuity
 *   correction; the interval bounds and the estimate are roots in d of
 *   W(d) = (dz(d) − correction)/σ(d) − z_q, where dz(d) is the centred rank sum of x − d among y.
 *
 * Root finding on the asymptotic branch. W(d) is a step function of d (it only changes where
 * x_i − d crosses some y_j, i.e. at the pairwise differences), so its "root" is a jump point.
 * - `rootFinder: 'uniroot'` ports R's `uniroot` (Brent's zeroin, `R_zeroin2`) with R's
 *   `tol.root = 1e-4`: the returned point is within about 1e-4 of the jump (absolute, whatever the
 *   scale of the data). Kayenta computed its interval the same way (through R at first; its Java
 *   port uses commons-math's BracketingNthOrderBrentSolver with absolute accuracy 1e-6, and it
 *   always takes the asymptotic branch, even for small samples without ties).
 * - `rootFinder: 'exact'` (the default) finds the jump itself. Between two pairwise differences
 *   only within-sample ties remain, so σ is constant there and W(d) ≤ z_q exactly when the count
 *   U(d) = #{x_i − d > y_j} is at most an integer computable from z_q·σ: the bound is the pairwise
 *   difference (an order statistic of the n·m differences) where U drops to it, found by selection
 *   (a dozen or so counting passes of O(n + m), never materialising the differences). The
 *   estimate is the median of the pairwise differences, the Hodges-Lehmann estimator by
 *   definition, found the same way.
 * Where they differ (figures from the 14 asymptotic cases of test/fixtures/wilcox-reference.json):
 * - interval bounds: R's are within 8.4e-5 of the exact jump (tolerance 1e-4, absolute). Nothing
 *   for latencies in ms, but on error rates kept as fractions (≈ 0.01) it is up to 0.7 % of the value,
 *   and it can flip the tolerance test (lowerCI > tolerance·|estimate|) when the estimate is itself
 *   of order 1e-4; the exact bound is always one of the pairwise differences;
 * - the estimate: without continuity correction W(d) is exactly 0 across the whole gap between the
 *   two middle pairwise differences (n·m even), and uniroot stops at the first point it lands on
 *   there: up to 4.3e-3 ms from the median of the differences on the 200-vs-200 latency case,
 *   1.3e-4..2.2e-4 on the others; the exact estimate is that median, the Hodges-Lehmann estimator.
 * Kayenta's Java port (BracketingNthOrderBrentSolver, absolute accuracy 1e-6) lands closer to the
 * jump than R's 1e-4, but has the same flat-zero ambiguity for the estimate.
 *
 * Degenerate inputs never throw:
 * - all pooled values equal (identical constant samples): R returns p = NaN and stops on the
 *   interval; here p = 1, estimate 0 and interval [0, 0] (no evidence of any shift);
 * - both samples constant but different (a ≠ b): R stops ("cannot compute confidence interval when
 *   all observations are tied"), Kayenta adds Gaussian noise; here the interval is [a − b, a − b]
 *   and the estimate a − b, the only pairwise difference there is (p from the normal approximation
 *   with ties, as R computes it);
 * - an empty sample (after removing non-finite values, as R does): a RangeError, the caller
 *   classifies that as no data before it gets here.
 */
import { pnorm, qnorm } from './distributions.ts';

/** How the interval's roots are found on the asymptotic branch. */
export type RootFinder = 'exact' | 'uniroot';

/** Options of {@link wilcoxTest}. */
export interface WilcoxOptions {
  /** Confidence level of the interval. @default 0.95 */
  readonly confLevel?: number;
  /** @default 'exact' */
  readonly rootFinder?: RootFinder;
  /** Tolerance of the uniroot finder (R's `tol.root`). @default 1e-4 */
  readonly tol?: number;
  /** Force (true) or forbid (false) the exact branch; R's `exact`. @default both n < 50 */
  readonly exact?: boolean;
}

/** The test's result. */
export interface WilcoxResult {
  /** R's W: the rank sum of x minus n_x(n_x+1)/2 (the Mann-Whitney U of x). */
  readonly statistic: number;
  /** Two-sided p-value. */
  readonly pValue: number;
  /** Hodges-Lehmann estimate of the shift x − y. */
  readonly estimate: number;
  readonly lower: number;
  readonly upper: number;
  /** The level the interval achieves (the exact branch cannot always reach the one asked for). */
  readonly confLevel: number;
  readonly method: 'exact' | 'asymptotic' | 'degenerate';
  readonly nx: number;
  readonly ny: number;
  /** What R would warn about (ties on the exact branch, an unreachable level). */
  readonly warnings: readonly string[];
}

const EPS = 2.220446049250313e-16;

// --- Exact null distribution of W (R's cwilcox), cached per (m, n). -----------------------------

const countCache = new Map<string, Float64Array>();

/**
 * Counts c(k) of arrangements with W = k, k = 0..m·n, by the recursion
 * c(k; m, n) = c(k − n; m − 1, n) + c(k; m, n − 1): additions of non-negative numbers only, so the
 * counts (up to C(98, 49) ≈ 2.5e28) keep full relative precision in doubles.
 */
function wilcoxCounts(m: number, n: number): Float64Array {
  const key = `${m},${n}`;
  const hit = countCache.get(key);
  if (hit) return hit;
  // prev[i] holds c(·; i, n' − 1) while building column n'; start with n' = 0: W is 0 in one way.
  let prev: Float64Array[] = Array.from({ length: m + 1 }, () => Float64Array.of(1));
  for (let nn = 1; nn <= n; nn++) {
    const cur: Float64Array[] = [Float64Array.of(1)];
    for (let mm = 1; mm <= m; mm++) {
      const size = mm * nn + 1;
      const c = new Float64Array(size);
      const left = prev[mm] as Float64Array; // c(k; mm, nn − 1)
      const down = cur[mm - 1] as Float64Array; // c(k − nn; mm − 1, nn)
      for (let k = 0; k < size; k++) {
        const a = k < left.length ? (left[k] as number) : 0;
        const j = k - nn;
        const b = j >= 0 && j < down.length ? (down[j] as number) : 0;
        c[k] = a + b;
      }
      cur.push(c);
    }
    prev = cur;
  }
  const counts = prev[m] as Float64Array;
  countCache.set(key, counts);
  return counts;
}

/** P(W ≤ q) under H0 (R's `pwilcox(q, m, n)`). */
export function pwilcox(q: number, m: number, n: number): number {
  const qq = Math.floor(q + 1e-7);
  if (qq < 0) return 0;
  if (qq >= m * n) return 1;
  const c = wilcoxCounts(m, n);
  let total = 0;
  for (const v of c) total += v;
  let p = 0;
  if (qq <= (m * n) / 2) {
    for (let i = 0; i <= qq; i++) p += c[i] as number;
    return p / total;
  }
  for (let i = 0; i < m * n - qq; i++) p += c[i] as number;
  return 1 - p / total;
}

/** The smallest q with P(W ≤ q) ≥ x (R's `qwilcox(x, m, n)`, its 10·DBL_EPSILON fuzz included). */
export function qwilcox(x: number, m: number, n: number): number {
  const c = wilcoxCounts(m, n);
  let total = 0;
  for (const v of c) total += v;
  let p = 0;
  let q = 0;
  if (x <= 0.5) {
    const target = x - 10 * EPS;
    for (;;) {
      p += (c[q] as number) / total;
      if (p >= target) return q;
      q++;
    }
  }
  const target = 1 - x + 10 * EPS;
  for (;;) {
    p += (c[q] as number) / total;
    if (p > target) return m * n - q;
    q++;
  }
}

// --- Ranks of x − d among y, in O(n + m) on sorted samples. -------------------------------------

interface RankSum {
  /** Sum of the (mid-)ranks of x − d in the pooled sample. */
  readonly rx: number;
  /** Σ (t³ − t) over groups of tied values. */
  readonly ties: number;
}

/** Rank sum of `xs − d` pooled with `ys` (both ascending), ties given their average rank, as R's `rank`. */
function rankSum(xs: Float64Array, ys: Float64Array, d: number): RankSum {
  const nx = xs.length;
  const ny = ys.length;
  let i = 0;
  let j = 0;
  let pos = 0; // ranks used so far
  let rx = 0;
  let ties = 0;
  while (i < nx || j < ny) {
    const xv = i < nx ? (xs[i] as number) - d : Number.POSITIVE_INFINITY;
    const yv = j < ny ? (ys[j] as number) : Number.POSITIVE_INFINITY;
    const v = i < nx && (j >= ny || xv <= yv) ? xv : yv;
    let cx = 0;
    while (i < nx && (xs[i] as number) - d === v) {
      cx++;
      i++;
    }
    let cy = 0;
    while (j < ny && ys[j] === v) {
      cy++;
      j++;
    }
    const t = cx + cy;
    // Average rank of positions pos+1 … pos+t; cx·(that) is a multiple of 0.5, exact in doubles.
    rx += cx * (pos + (t + 1) / 2);
    if (t > 1) ties += t * t * t - t;
    pos += t;
  }
  return { rx, ties };
}

/** Σ (t³ − t) over groups of equal values within one ascending sample. */
function withinTies(sorted: Float64Array): number {
  let ties = 0;
  let i = 0;
  while (i < sorted.length) {
    let j = i + 1;
    while (j < sorted.length && sorted[j] === sorted[i]) j++;
    const t = j - i;
    if (t > 1) ties += t * t * t - t;
    i = j;
  }
  return ties;
}

/** σ of W under H0 with the tie correction, as R computes it (same operation order). */
function sigmaOf(nx: number, ny: number, ties: number): number {
  return Math.sqrt(((nx * ny) / 12) * (nx + ny + 1 - ties / ((nx + ny) * (nx + ny - 1))));
}

// --- Root finders. -------------------------------------------------------------------------------

/** R's `R_zeroin2` (Brent's method as in R's uniroot), given f at both ends. */
export function zeroin(
  f: (x: number) => number,
  ax: number,
  bx: number,
  fax: number,
  fbx: number,
  tol: number,
  maxit = 1000,
): number {
  let a = ax;
  let b = bx;
  let fa = fax;
  let fb = fbx;
  let c = a;
  let fc = fa;
  if (fa === 0) return a;
  if (fb === 0) return b;
  for (let it = maxit + 1; it > 0; it--) {
    const prevStep = b - a;
    if (Math.abs(fc) < Math.abs(fb)) {
      a = b;
      b = c;
      c = a;
      fa = fb;
      fb = fc;
      fc = fa;
    }
    const tolAct = 2 * EPS * Math.abs(b) + tol / 2;
    let newStep = (c - b) / 2;
    if (Math.abs(newStep) <= tolAct || fb === 0) return b;
    if (Math.abs(prevStep) >= tolAct && Math.abs(fa) > Math.abs(fb)) {
      let p: number;
      let q: number;
      const cb = c - b;
      if (a === c) {
        const t1 = fb / fa;
        p = cb * t1;
        q = 1 - t1;
      } else {
        q = fa / fc;
        const t1 = fb / fc;
        const t2 = fb / fa;
        p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1));
        q = (q - 1) * (t1 - 1) * (t2 - 1);
      }
      if (p > 0) q = -q;
      else p = -p;
      if (p < 0.75 * cb * q - Math.abs(tolAct * q) / 2 && p < Math.abs((prevStep * q) / 2)) newStep = p / q;
    }
    if (Math.abs(newStep) < tolAct) newStep = newStep > 0 ? tolAct : -tolAct;
    a = b;
    fa = fb;
    b += newStep;
    fb = f(b);
    if ((fb > 0 && fc > 0) || (fb < 0 && fc < 0)) {
      c = a;
      fc = fa;
    }
  }
  return b;
}

/**
 * At a value v, in one two-pointer pass over both ascending samples: how many pairwise differences
 * x_i − y_j are ≤ v, the largest of those and the smallest of the others.
 */
function countAround(
  xs: Float64Array,
  ys: Float64Array,
  v: number,
): { count: number; below: number; above: number } {
  let count = 0;
  let below = Number.NEGATIVE_INFINITY;
  let above = Number.POSITIVE_INFINITY;
  const ny = ys.length;
  let k = 0; // first j with x_i − y_j ≤ v; it only moves up as x_i grows
  for (let i = 0; i < xs.length; i++) {
    const xi = xs[i] as number;
    while (k < ny && xi - (ys[k] as number) > v) k++;
    count += ny - k;
    if (k < ny) {
      const d = xi - (ys[k] as number);
      if (d > below) below = d;
    }
    if (k > 0) {
      const d = xi - (ys[k - 1] as number);
      if (d < above) above = d;
    }
  }
  return { count, below, above };
}

/** A counting pass's result at a value, kept so later searches start from a tighter bracket. */
interface Probe {
  readonly v: number;
  readonly count: number;
  readonly below: number;
  readonly above: number;
}

/**
 * The k-th smallest (1-based) pairwise difference x_i − y_j without materialising the n·m of
 * them. A bracket holds it: every difference ≤ lo is below rank k (there are cLo), `next` is the
 * smallest difference above lo, and hi is a difference of rank ≥ k. Each step counts at a value
 * between them (interpolated on the counts; halfway after a step that did not halve the bracket,
 * so ties cannot stall it) and snaps the bracket to actual differences; when next meets hi that
 * is the answer, and when few differences are left they are listed and sorted. Each step is one
 * O(n + m) pass; `probes` (shared by the searches of one test) start it from the tightest bracket
 * earlier passes found.
 */
function kthDifference(xs: Float64Array, ys: Float64Array, k: number, probes: Probe[] = []): number {
  let lo = Number.NEGATIVE_INFINITY;
  let cLo = 0;
  let next = (xs[0] as number) - (ys[ys.length - 1] as number);
  let hi = (xs[xs.length - 1] as number) - (ys[0] as number);
  let cHi = xs.length * ys.length;
  for (const p of probes) {
    if (p.count < k && p.v > lo) {
      lo = p.v;
      cLo = p.count;
      next = p.above;
    } else if (p.count >= k && p.below < hi) {
      hi = p.below;
      cHi = p.count;
    }
  }
  const small = Math.max(256, (xs.length + ys.length) >> 2);
  let bisect = false;
  for (let step = 0; step < 400; step++) {
    if (next >= hi) return hi;
    const width = cHi - cLo;
    if (width <= small) break;
    const mid = next + (hi - next) / 2;
    let v = bisect ? mid : next + ((hi - next) * (k - cLo)) / width;
    if (!(v >= next && v < hi)) v = mid < hi ? mid : next;
    const r = countAround(xs, ys, v);
    probes.push({ v, ...r });
    if (r.count < k) {
      lo = v;
      cLo = r.count;
      next = r.above;
    } else {
      hi = r.below;
      cHi = r.count;
    }
    // Interpolation that did not halve the bracket's count is followed by one bisection.
    bisect = !bisect && cHi - cLo > width / 2;
  }
  // The differences in (lo, hi]: for each x_i a contiguous run of y_j, both ends moving one way.
  const left = new Float64Array(cHi - cLo);
  let filled = 0;
  let jHi = 0; // first j with x_i − y_j ≤ hi
  let jLo = 0; // first j with x_i − y_j ≤ lo
  for (let i = 0; i < xs.length; i++) {
    const xi = xs[i] as number;
    while (jHi < ys.length && xi - (ys[jHi] as number) > hi) jHi++;
    while (jLo < ys.length && xi - (ys[jLo] as number) > lo) jLo++;
    for (let j = jHi; j < jLo; j++) left[filled++] = xi - (ys[j] as number);
  }
  left.sort();
  return left[k - cLo - 1] as number;
}

/** Median of the pairwise differences (the Hodges-Lehmann estimate), without materialising them. */
function medianDifference(xs: Float64Array, ys: Float64Array, probes: Probe[] = []): number {
  const total = xs.length * ys.length;
  const k = Math.floor((total + 1) / 2);
  const a = kthDifference(xs, ys, k, probes);
  if (total % 2 === 1) return a;
  // The (k+1)-th is a again when a is tied, else the next difference above it: one more pass.
  const r = countAround(xs, ys, a);
  return (a + (r.count >= k + 1 ? a : r.above)) / 2;
}

// --- The test. ------------------------------------------------------------------------------------

/**
 * Wilcoxon rank-sum test of x (canary) against y (baseline), two-sided, with the confidence
 * interval and Hodges-Lehmann estimate of the shift x − y. Non-finite values are dropped, as R
 * does; an empty sample is a RangeError.
 */
export function wilcoxTest(
  x: readonly number[],
  y: readonly number[],
  options: WilcoxOptions = {},
): WilcoxResult {
  return wilcoxTestSorted(
    Float64Array.from(x.filter(Number.isFinite)).sort(),
    Float64Array.from(y.filter(Number.isFinite)).sort(),
    options,
  );
}

/**
 * {@link wilcoxTest} on samples already finite and sorted ascending (the classifier has sorted
 * them once; sorting 10,000 points again is most of the test's own cost).
 */
export function wilcoxTestSorted(
  xs: Float64Array,
  ys: Float64Array,
  options: WilcoxOptions = {},
): WilcoxResult {
  const confLevel = options.confLevel ?? 0.95;
  if (!(confLevel > 0 && confLevel < 1))
    throw new RangeError(`confLevel must be in (0, 1), got ${confLevel}`);
  const nx = xs.length;
  const ny = ys.length;
  if (nx < 1) throw new RangeError("not enough (non-missing) 'x' observations");
  if (ny < 1) throw new RangeError("not enough (non-missing) 'y' observations");
  const warnings: string[] = [];
  const base = rankSum(xs, ys, 0);
  const statistic = base.rx - (nx * (nx + 1)) / 2;
  const hasTies = base.ties > 0;
  const exact = options.exact ?? (nx < 50 && ny < 50);
  const alpha = 1 - confLevel;

  if (exact && !hasTies) {
    // P(W ≥ s) = P(W ≤ nm − s) by symmetry: summing the small tail keeps its relative precision.
    const p = statistic > (nx * ny) / 2 ? pwilcox(nx * ny - statistic, nx, ny) : pwilcox(statistic, nx, ny);
    const pValue = Math.min(2 * p, 1);
    let qu = qwilcox(alpha / 2, nx, ny);
    if (qu === 0) qu = 1;
    const ql = nx * ny - qu;
    const achievedAlpha = 2 * pwilcox(Math.trunc(qu) - 1, nx, ny);
    let achieved = confLevel;
    if (achievedAlpha - alpha > alpha / 2) {
      warnings.push('Requested conf.level not achievable');
      achieved = 1 - achievedAlpha;
    }
    const probes: Probe[] = [];
    const estimate = medianDifference(xs, ys, probes);
    return {
      statistic,
      pValue,
      estimate,
      lower: kthDifference(xs, ys, qu, probes),
      upper: kthDifference(xs, ys, ql + 1, probes),
      confLevel: achieved,
      method: 'exact',
      nx,
      ny,
      warnings,
    };
  }
  if (exact && hasTies) {
    warnings.push(
      'cannot compute exact p-value with ties',
      'cannot compute exact confidence intervals with ties',
    );
  }

  const sigma = sigmaOf(nx, ny, base.ties);
  const z0 = statistic - (nx * ny) / 2;
  const pValue =
    sigma === 0
      ? 1
      : 2 *
        Math.min(pnorm((z0 - Math.sign(z0) * 0.5) / sigma), pnorm((z0 - Math.sign(z0) * 0.5) / sigma, true));
  const mumin = (xs[0] as number) - (ys[ny - 1] as number);
  const mumax = (xs[nx - 1] as number) - (ys[0] as number);
  if (mumin === mumax) {
    // Both samples constant: every pairwise difference is the same, and W(d) has no finite σ at it.
    return {
      statistic,
      pValue,
      estimate: mumin,
      lower: mumin,
      upper: mumin,
      confLevel,
      method: 'degenerate',
      nx,
      ny,
      warnings: [
        ...warnings,
        'all observations are tied after the shift: the interval is the one difference there is',
      ],
    };
  }

  /** R's W(d): the standardised centred rank sum of x − d, with or without continuity correction. */
  const W = (d: number, correct: boolean): number => {
    const r = rankSum(xs, ys, d);
    const dz = r.rx - (nx * (nx + 1)) / 2 - (nx * ny) / 2;
    const corr = correct ? Math.sign(dz) * 0.5 : 0;
    return (dz - corr) / sigmaOf(nx, ny, r.ties);
  };
  const zUpper = qnorm(1 - alpha / 2);
  const zLower = qnorm(alpha / 2);
  const wMin = W(mumin, true);
  const wMax = W(mumax, true);
  const rootFinder = options.rootFinder ?? 'exact';
  const tol = options.tol ?? 1e-4;
  // Between two pairwise differences only within-sample ties remain, so σ is constant there and
  // W(d) − zq ≤ 0 exactly when U(d) = #{x_i − d > y_j} is at most some count: the root is the
  // pairwise difference where U drops to it, an order statistic found by selection.
  const sigma0 = sigmaOf(nx, ny, withinTies(xs) + withinTies(ys));
  const nm = nx * ny;
  const exactRoot = (zq: number): number => {
    const c = zq * sigma0;
    const g = (u: number) => u - nm / 2 - Math.sign(u - nm / 2) * 0.5;
    let u = Math.min(nm, Math.max(0, Math.floor(c + nm / 2 + 0.5)));
    while (u >= 0 && g(u) > c) u--;
    while (u + 1 <= nm && g(u + 1) <= c) u++;
    // U(d) ≤ u ⇔ at least nm − u differences are ≤ d.
    return kthDifference(xs, ys, Math.max(1, nm - u), probes);
  };
  const root = (zq: number): number => {
    const fLower = wMin - zq;
    if (fLower <= 0) return mumin;
    const fUpper = wMax - zq;
    if (fUpper >= 0) return mumax;
    if (rootFinder === 'uniroot') return zeroin((d) => W(d, true) - zq, mumin, mumax, fLower, fUpper, tol);
    return exactRoot(zq);
  };
  // The estimate first: its passes leave probes around the middle that bracket the bounds' searches.
  const probes: Probe[] = [];
  const estimate =
    rootFinder === 'uniroot'
      ? zeroin((d) => W(d, false), mumin, mumax, W(mumin, false), W(mumax, false), tol)
      : medianDifference(xs, ys, probes);
  const lower = root(zUpper);
  const upper = root(zLower);
  return { statistic, pValue, estimate, lower, upper, confLevel, method: 'asymptotic', nx, ny, warnings };
}
