/**
 * The count test on errors/requests against R 4.2's `prop.test`, `fisher.test` and `binom.test`
 * (test/fixtures/wilcox-reference.json), and the verdicts it gives at high and low traffic.
 */
import { describe, expect, it } from 'vitest';
import {
  binomTestGreater,
  compareErrorCounts,
  fisherGreater,
  propTestGreater,
} from '../../lambdas/core/judge/counts.ts';
import reference from '../fixtures/wilcox-reference.json' with { type: 'json' };

interface CountsCase {
  readonly name: string;
  readonly canaryErrors: number;
  readonly canaryRequests: number;
  readonly baselineErrors: number;
  readonly baselineRequests: number;
  readonly confLevel: number;
  readonly ratio: number;
  readonly propTest: { readonly statistic: number; readonly pValue: number; readonly lower: number };
  readonly fisherPValue: number;
  readonly binomPValue: number;
  readonly binomP: number;
}

const near = (a: number, b: number, rel: number, abs = 0) => Math.abs(a - b) <= abs + rel * Math.abs(b);

describe('count tests against R', () => {
  for (const c of reference.counts as CountsCase[]) {
    it(`matches prop.test, fisher.test and binom.test: ${c.name}`, () => {
      const x1 = c.canaryErrors;
      const n1 = c.canaryRequests;
      const x2 = c.baselineErrors;
      const n2 = c.baselineRequests;
      const t = propTestGreater(x1, n1, x2, n2, c.confLevel);
      expect(near(t.statistic, c.propTest.statistic, 1e-9, 1e-12)).toBe(true);
      expect(near(t.pValue, c.propTest.pValue, 1e-9, 1e-15)).toBe(true);
      expect(near(t.lower, c.propTest.lower, 1e-9, 1e-12)).toBe(true);
      expect(near(fisherGreater(x1, n1, x2, n2), c.fisherPValue, 1e-9, 1e-15)).toBe(true);
      const p = (c.ratio * n1) / (c.ratio * n1 + n2);
      expect(p).toBeCloseTo(c.binomP, 15);
      expect(near(binomTestGreater(x1, x1 + x2, p), c.binomPValue, 1e-9, 1e-15)).toBe(true);
    });
  }
});

describe('compareErrorCounts', () => {
  it('fails a doubled error rate at 100 req/s for 5 minutes', () => {
    const r = compareErrorCounts({ errors: 600, requests: 30_000 }, { errors: 300, requests: 30_000 });
    expect(r.classification).toBe('High');
    expect(r.method).toBe('two-proportion z-test');
    expect(r.reason).toBe(
      'error count: canary 600/30000 (2%) vs baseline 300/30000 (1%), two-proportion z-test: higher by more than the allowed 25% at 98% (p 5.0e-24, margin p 7.0e-12): High',
    );
  });

  it('passes a significant increase that stays within the allowed margin', () => {
    const r = compareErrorCounts(
      { errors: 3_300, requests: 300_000 },
      { errors: 3_000, requests: 300_000 },
      { allowedRelativeIncrease: 0.25 },
    );
    expect(r.pValue).toBeLessThan(0.02);
    expect(r.classification).toBe('Pass');
    expect(r.reason).toContain('higher, but not by more than the allowed 25%');
  });

  it('passes an unchanged release', () => {
    const r = compareErrorCounts({ errors: 310, requests: 30_000 }, { errors: 300, requests: 30_000 });
    expect(r.classification).toBe('Pass');
    expect(r.reason).toContain('no significant increase');
  });

  it("uses Fisher's exact test when expected counts are small", () => {
    const r = compareErrorCounts({ errors: 8, requests: 600 }, { errors: 0, requests: 600 });
    expect(r.method).toBe("Fisher's exact test");
    expect(r.lowerDifference).toBeNull();
    expect(r.classification).toBe('High');
    const few = compareErrorCounts({ errors: 2, requests: 600 }, { errors: 0, requests: 600 });
    expect(few.classification).toBe('Pass');
  });

  it('has no p-value of NaN when neither side had an error (R gives NaN)', () => {
    const r = compareErrorCounts({ errors: 0, requests: 5000 }, { errors: 0, requests: 5000 });
    expect(r.classification).toBe('Pass');
    expect(r.pValue).toBe(1);
    expect(propTestGreater(0, 5000, 0, 5000, 0.98).pValue).toBe(1);
  });

  it('says no data when a side served no requests', () => {
    expect(compareErrorCounts({ errors: 0, requests: 0 }, { errors: 3, requests: 300 })).toMatchObject({
      classification: 'Nodata',
      reason: 'error count: the canary served no requests',
    });
    expect(compareErrorCounts({ errors: 1, requests: 30 }, { errors: 0, requests: 0 }).classification).toBe(
      'Nodata',
    );
  });

  it('refuses counts that are not whole numbers with errors ≤ requests', () => {
    expect(() => compareErrorCounts({ errors: 5, requests: 4 }, { errors: 0, requests: 1 })).toThrow(
      RangeError,
    );
    expect(() => compareErrorCounts({ errors: 1.5, requests: 4 }, { errors: 0, requests: 1 })).toThrow(
      /whole numbers/,
    );
  });
});
