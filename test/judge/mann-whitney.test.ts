/**
 * The Wilcoxon rank-sum test against R 4.2's `wilcox.test(x, y, conf.int = TRUE, conf.level = c)`
 * (test/fixtures/wilcox-reference.json, made by tools/r/wilcox-reference.R), and the properties a
 * location-shift estimate must have.
 */
import { describe, expect, it } from 'vitest';
import { pwilcox, qwilcox, wilcoxTest } from '../../lambdas/core/judge/mann-whitney.ts';
import reference from '../fixtures/wilcox-reference.json' with { type: 'json' };

interface RCase {
  readonly name: string;
  readonly x: number[];
  readonly y: number[];
  readonly confLevel: number;
  readonly method?: string;
  readonly statistic?: number;
  readonly pValue?: number;
  readonly estimate?: number;
  readonly lower?: number;
  readonly upper?: number;
  readonly achievedConfLevel?: number;
  readonly error?: string;
  readonly warnings: string[];
}

const cases = reference.wilcox as RCase[];
const computed = cases.filter((c) => c.error === undefined);

/** |a − b| within `abs` + `rel`·|b|. */
function near(a: number, b: number, rel: number, abs = 0): boolean {
  return Math.abs(a - b) <= abs + rel * Math.abs(b);
}

/** Deterministic pseudo-random numbers (Park-Miller), so failures reproduce. */
function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647;
  };
}

describe('wilcoxTest against R', () => {
  it('covers the exact and asymptotic branches, ties, constant series and three confidence levels', () => {
    expect(reference.rVersion).toMatch(/^R version 4\./);
    expect(cases.length).toBeGreaterThanOrEqual(25);
    expect(new Set(cases.map((c) => c.confLevel))).toEqual(new Set([0.95, 0.98, 0.99]));
    expect(computed.some((c) => c.method?.includes('exact'))).toBe(true);
    expect(computed.some((c) => c.method?.includes('continuity'))).toBe(true);
    expect(cases.filter((c) => c.error !== undefined)).toHaveLength(2);
  });

  for (const c of computed) {
    it(`matches R with uniroot roots: ${c.name}`, () => {
      const r = wilcoxTest(c.x, c.y, { confLevel: c.confLevel, rootFinder: 'uniroot' });
      expect(r.method).toBe(c.method?.includes('exact') ? 'exact' : 'asymptotic');
      expect(r.statistic).toBe(c.statistic);
      // p-values: pnorm here is accurate to ~1e-14 relative; exact ones are sums of counts.
      expect(near(r.pValue, c.pValue as number, 1e-9, 1e-15)).toBe(true);
      // Same arithmetic and the same Brent iteration as R: agreement to rounding.
      expect(near(r.estimate, c.estimate as number, 1e-9, 1e-12)).toBe(true);
      expect(near(r.lower, c.lower as number, 1e-9, 1e-12)).toBe(true);
      expect(near(r.upper, c.upper as number, 1e-9, 1e-12)).toBe(true);
      expect(r.confLevel).toBeCloseTo(c.achievedConfLevel as number, 12);
      expect(r.warnings.filter((w) => !w.startsWith('all observations'))).toEqual(c.warnings);
    });

    it(`matches R with exact roots, within R's uniroot tolerance: ${c.name}`, () => {
      const r = wilcoxTest(c.x, c.y, { confLevel: c.confLevel });
      expect(r.statistic).toBe(c.statistic);
      expect(near(r.pValue, c.pValue as number, 1e-9, 1e-15)).toBe(true);
      if (r.method === 'exact') {
        // No root finding on the exact branch: order statistics, identical to R.
        expect(r.estimate).toBe(c.estimate);
        expect(r.lower).toBe(c.lower);
        expect(r.upper).toBe(c.upper);
      } else {
        // uniroot (tol 1e-4) stops within about 1e-4 of the jump the exact root finds.
        expect(Math.abs(r.lower - (c.lower as number))).toBeLessThan(2e-4);
        expect(Math.abs(r.upper - (c.upper as number))).toBeLessThan(2e-4);
      }
    });
  }

  it('gives the degenerate interval where R stops because every observation is tied', () => {
    const equal = cases.find((c) => c.name.startsWith('both constant, equal')) as RCase;
    const different = cases.find((c) => c.name.startsWith('both constant, different')) as RCase;
    expect(equal.error).toBe('missing value where TRUE/FALSE needed');
    const e = wilcoxTest(equal.x, equal.y);
    expect(e).toMatchObject({ method: 'degenerate', estimate: 0, lower: 0, upper: 0, pValue: 1 });
    const d = wilcoxTest(different.x, different.y);
    expect(d).toMatchObject({ method: 'degenerate', estimate: 1, lower: 1, upper: 1 });
    expect(d.pValue).toBeLessThan(0.01);
  });
});

describe('wilcoxTest exact roots', () => {
  it('estimates the shift as the median of all pairwise differences (Hodges-Lehmann)', () => {
    const r = lcg(11);
    for (const [n, m] of [
      [60, 70],
      [55, 80],
      [101, 99],
    ] as const) {
      const x = Array.from({ length: n }, () => Math.round(r() * 1000) / 10);
      const y = Array.from({ length: m }, () => Math.round(r() * 900) / 10);
      const diffs = x.flatMap((a) => y.map((b) => a - b)).sort((a, b) => a - b);
      const mid = diffs.length / 2;
      const median =
        diffs.length % 2
          ? (diffs[Math.floor(mid)] as number)
          : ((diffs[mid - 1] as number) + (diffs[mid] as number)) / 2;
      expect(wilcoxTest(x, y, { confLevel: 0.98 }).estimate).toBe(median);
    }
  });

  it('puts each bound on a pairwise difference, where uniroot only gets within its tolerance', () => {
    const r = lcg(5);
    const x = Array.from({ length: 80 }, () => 300 + 100 * r());
    const y = Array.from({ length: 80 }, () => 290 + 100 * r());
    const diffs = new Set(x.flatMap((a) => y.map((b) => a - b)));
    const exact = wilcoxTest(x, y, { confLevel: 0.98 });
    const uniroot = wilcoxTest(x, y, { confLevel: 0.98, rootFinder: 'uniroot' });
    expect(diffs.has(exact.lower)).toBe(true);
    expect(diffs.has(exact.upper)).toBe(true);
    expect(Math.abs(uniroot.lower - exact.lower)).toBeLessThan(1e-4);
    expect(Math.abs(uniroot.upper - exact.upper)).toBeLessThan(1e-4);
  });

  it("differs from R's uniroot by a visible share of an error rate kept as a fraction", () => {
    // Figures for the doc comment: on error rates near 0.01 (fractions), R's absolute tolerance of
    // 1e-4 is about 1% of the value; the exact bound is a pairwise difference.
    const c = cases.find((k) => k.name.startsWith('error-rate fractions with ties')) as RCase;
    const exact = wilcoxTest(c.x, c.y, { confLevel: 0.98 });
    const gap = Math.abs(exact.lower - (c.lower as number));
    expect(gap).toBeGreaterThan(1e-6);
    expect(gap).toBeLessThan(1e-4);
    expect(gap / Math.abs(exact.estimate)).toBeGreaterThan(0.001);
  });

  it('moves the estimate and the interval by +d when the canary is shifted by +d', () => {
    const r = lcg(3);
    const x = Array.from({ length: 70 }, () => 100 * r());
    const y = Array.from({ length: 65 }, () => 100 * r());
    const base = wilcoxTest(x, y, { confLevel: 0.98 });
    for (const d of [0.5, 7.25, -12]) {
      const shifted = wilcoxTest(
        x.map((v) => v + d),
        y,
        { confLevel: 0.98 },
      );
      expect(shifted.estimate).toBeCloseTo(base.estimate + d, 9);
      expect(shifted.lower).toBeCloseTo(base.lower + d, 9);
      expect(shifted.upper).toBeCloseTo(base.upper + d, 9);
    }
  });

  it('flips the sign of the estimate and the interval when the samples are swapped', () => {
    const r = lcg(8);
    for (const [n, m] of [
      [12, 9],
      [70, 60],
    ] as const) {
      const x = Array.from({ length: n }, () => 50 + 10 * r());
      const y = Array.from({ length: m }, () => 47 + 10 * r());
      const a = wilcoxTest(x, y, { confLevel: 0.95 });
      const b = wilcoxTest(y, x, { confLevel: 0.95 });
      expect(b.estimate).toBeCloseTo(-a.estimate, 12);
      expect(b.lower).toBeCloseTo(-a.upper, 12);
      expect(b.upper).toBeCloseTo(-a.lower, 12);
      expect(b.pValue).toBeCloseTo(a.pValue, 12);
    }
  });

  it('drops non-finite values as R does and refuses an empty sample', () => {
    const a = wilcoxTest([1, 2, Number.NaN, 3, Number.POSITIVE_INFINITY], [0, 1, 0.5]);
    const b = wilcoxTest([1, 2, 3], [0, 1, 0.5]);
    expect(a).toEqual(b);
    expect(() => wilcoxTest([], [1, 2])).toThrow(RangeError);
    expect(() => wilcoxTest([Number.NaN], [1, 2])).toThrow(/'x' observations/);
  });
});

describe('exact null distribution of W', () => {
  it('is symmetric and sums to one', () => {
    for (const [m, n] of [
      [3, 4],
      [10, 12],
      [49, 49],
    ] as const) {
      expect(pwilcox(m * n, m, n)).toBe(1);
      expect(pwilcox(-1, m, n)).toBe(0);
      for (const q of [0, 1, Math.floor((m * n) / 3)]) {
        // P(W ≤ q) = P(W ≥ mn − q) = 1 − P(W ≤ mn − q − 1)
        expect(pwilcox(q, m, n)).toBeCloseTo(1 - pwilcox(m * n - q - 1, m, n), 12);
      }
    }
  });

  it('has the textbook small cases: 2 vs 2 has 6 equally likely arrangements', () => {
    expect(pwilcox(0, 2, 2)).toBeCloseTo(1 / 6, 15);
    expect(pwilcox(1, 2, 2)).toBeCloseTo(2 / 6, 15);
    expect(pwilcox(2, 2, 2)).toBeCloseTo(4 / 6, 15);
    expect(qwilcox(0.3, 2, 2)).toBe(1);
    expect(qwilcox(0.9, 2, 2)).toBe(4);
    expect(qwilcox(0.8, 2, 2)).toBe(3);
  });
});
