/**
 * The distributions the judge's tests need, in plain arithmetic (no dependency, no I/O): the
 * standard normal (pnorm, qnorm), and upper tails of the binomial and hypergeometric laws.
 * Accuracy: pnorm to about 1e-14 relative over the range the judge uses; qnorm is refined by
 * Newton steps on pnorm, so it is as accurate. The discrete tails are sums of probabilities built
 * by ratio recurrences from the mode, so they need no log-gamma and lose no precision to
 * cancellation (a tail below about 1e-280 of the mode's mass comes out as 0).
 */

const SQRT_PI = Math.sqrt(Math.PI);

/** erfc(t) for t ≥ 0: the positive series of erf for small t, Lentz's continued fraction beyond. */
function erfcNonNegative(t: number): number {
  if (t === 0) return 1;
  if (t < 2) {
    // erf(t) = 2/√π · e^{-t²} · Σ (2t²)^n · t / (2n+1)!!: every term positive, so no cancellation.
    const t2 = 2 * t * t;
    let term = t;
    let sum = t;
    for (let n = 1; n < 500; n++) {
      term *= t2 / (2 * n + 1);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    return 1 - (2 / SQRT_PI) * Math.exp(-t * t) * sum;
  }
  if (t > 27) return 0;
  // erfc(t) = e^{-t²}/√π · 1/(t + (1/2)/(t + 1/(t + (3/2)/(t + …)))), modified Lentz.
  const tiny = 1e-300;
  let f = t;
  let c = f;
  let d = 0;
  for (let i = 1; i < 1000; i++) {
    const a = i / 2;
    d = t + a * d;
    d = Math.abs(d) < tiny ? 1 / tiny : 1 / d;
    c = t + a / c;
    if (Math.abs(c) < tiny) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-t * t) / SQRT_PI / f;
}

/** The standard normal density. */
export function dnorm(x: number): number {
  return Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
}

/** P(Z ≤ x) for a standard normal Z (R's `pnorm(x)`); `upper`: P(Z > x). */
export function pnorm(x: number, upper = false): number {
  if (Number.isNaN(x)) return Number.NaN;
  const z = upper ? -x : x;
  if (z === Number.POSITIVE_INFINITY) return 1;
  if (z === Number.NEGATIVE_INFINITY) return 0;
  const t = Math.abs(z) / Math.SQRT2;
  const tail = 0.5 * erfcNonNegative(t);
  return z < 0 ? tail : 1 - tail;
}

/** The standard normal quantile (R's `qnorm(p)`), for 0 < p < 1. */
export function qnorm(p: number): number {
  if (Number.isNaN(p) || p < 0 || p > 1) return Number.NaN;
  if (p === 0) return Number.NEGATIVE_INFINITY;
  if (p === 1) return Number.POSITIVE_INFINITY;
  if (p === 0.5) return 0;
  // Abramowitz & Stegun 26.2.23 (error < 4.5e-4) as the start, then Newton steps on pnorm.
  const q = p < 0.5 ? p : 1 - p;
  const t = Math.sqrt(-2 * Math.log(q));
  let x =
    t -
    (2.515517 + 0.802853 * t + 0.010328 * t * t) / (1 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t ** 3);
  if (p < 0.5) x = -x;
  for (let i = 0; i < 50; i++) {
    // Newton on the smaller tail, so the residual keeps its relative precision.
    const step = p < 0.5 ? (pnorm(x) - p) / dnorm(x) : -(pnorm(x, true) - q) / dnorm(x);
    x -= step;
    if (Math.abs(step) <= 1e-15 * Math.max(1, Math.abs(x))) break;
  }
  return x;
}

/** Weights below this (relative to the mode's 1) are dropped: subnormal arithmetic is very slow. */
const NEGLIGIBLE = 1e-280;

/**
 * P(X ≥ x) for a discrete law on [lo, hi] given by its mode and `ratio(k)` = P(k+1)/P(k): the
 * unnormalised probabilities are built outward from the mode (weight 1) until they underflow, so
 * only the span that carries mass is visited and no log-gamma is needed.
 */
function shareAtLeast(lo: number, hi: number, mode: number, ratio: (k: number) => number, x: number): number {
  let total = 1;
  let tail = mode >= x ? 1 : 0;
  let w = 1;
  for (let k = mode; k < hi; k++) {
    w *= ratio(k);
    if (!(w > NEGLIGIBLE)) break;
    total += w;
    if (k + 1 >= x) tail += w;
  }
  w = 1;
  for (let k = mode; k > lo; k--) {
    const r = ratio(k - 1);
    w = r > 0 ? w / r : 0;
    if (!(w > NEGLIGIBLE) || !Number.isFinite(w)) break;
    total += w;
    if (k - 1 >= x) tail += w;
  }
  return tail / total;
}

/** P(X ≥ x) for X ~ Binomial(n, p) (R's `pbinom(x - 1, n, p, lower.tail = FALSE)`). */
export function binomialUpperTail(x: number, n: number, p: number): number {
  if (x <= 0) return 1;
  if (x > n) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  const mode = Math.min(n, Math.floor((n + 1) * p));
  const odds = p / (1 - p);
  return shareAtLeast(0, n, mode, (k) => ((n - k) / (k + 1)) * odds, x);
}

/**
 * P(X ≥ x) for X hypergeometric: `k` draws from an urn of `m` white and `n` black balls, X the
 * white ones drawn (R's `phyper(x - 1, m, n, k, lower.tail = FALSE)`).
 */
export function hypergeometricUpperTail(x: number, m: number, n: number, k: number): number {
  const lo = Math.max(0, k - n);
  const hi = Math.min(k, m);
  if (x <= lo) return 1;
  if (x > hi) return 0;
  const mode = Math.min(hi, Math.max(lo, Math.floor(((k + 1) * (m + 1)) / (m + n + 2))));
  return shareAtLeast(lo, hi, mode, (j) => ((m - j) * (k - j)) / ((j + 1) * (n - k + j + 1)), x);
}
