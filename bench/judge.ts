/**
 * Issue 9's canary judge benchmarks, run by `npm run bench -- judge judge-sim` (bench/run.ts):
 * printed, never asserted.
 * - judge: analyseCanary on 2 metrics × 10,000 interval samples per side (median of repetitions),
 *   and the Mann-Whitney test alone on 10,000 vs 10,000 points with each root finder.
 * - judge-sim: simulated traffic, 30 s samples, a 5-minute analysis judged every interval as the
 *   workflow does (early end on a fail), baseline error rate 1 % and p99 300 ms (per-request
 *   latency lognormal with that p99, errors Bernoulli per request): how often an unchanged release
 *   is rolled back, and how often 2× and 3× error rates and +30 % p99 are caught, by analyseCanary
 *   with the default config, by the seed's plain threshold rule (any single 30 s sample over the
 *   production thresholds) and by a plain Mann-Whitney (Kayenta's classifier on the final series);
 *   at 100 req/s and at 2 req/s. A seeded PRNG makes every run print the same table.
 */

import { analyseCanary, type CanarySpec, errorRatePercent } from '../lambdas/core/judge/canary.ts';
import { classifyMetric } from '../lambdas/core/judge/classifier.ts';
import { wilcoxTest } from '../lambdas/core/judge/mann-whitney.ts';
import type { IntervalSample } from '../lambdas/core/measurements.ts';
import { canarySchema } from '../lib/config/canary-schema.ts';

/** xoshiro128**: small, fast, seedable. */
export function rng(seed: number): () => number {
  let a = seed >>> 0 || 1;
  let b = 0x9e3779b9;
  let c = 0x243f6a88;
  let d = 0xb7e15162;
  const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k));
  const next = () => {
    const r = Math.imul(rotl(Math.imul(b, 5), 7), 9);
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return (r >>> 0) / 4294967296;
  };
  for (let i = 0; i < 20; i++) next();
  return next;
}

function normal(rand: () => number): number {
  let u = 0;
  while (u === 0) u = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

function poisson(rand: () => number, mean: number): number {
  if (mean > 50) return Math.max(0, Math.round(mean + Math.sqrt(mean) * normal(rand)));
  const l = Math.exp(-mean);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= rand();
  } while (p > l);
  return k - 1;
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

const SIGMA = 0.5; // lognormal shape of per-request latency
const Z99 = 2.3263478740408408;

/** One interval of simulated traffic. */
export function interval(
  rand: () => number,
  i: number,
  reqPerSecond: number,
  errorRate: number,
  p99Ms: number,
  seconds: number,
): IntervalSample {
  const requests = poisson(rand, reqPerSecond * seconds);
  const mu = Math.log(p99Ms) - Z99 * SIGMA;
  const lat = new Float64Array(requests);
  let errors = 0;
  for (let r = 0; r < requests; r++) {
    lat[r] = Math.exp(mu + SIGMA * normal(rand));
    if (rand() < errorRate) errors++;
  }
  lat.sort();
  // Nearest-rank p99 of the interval's requests (no requests: no p99).
  const p99 = requests > 0 ? (lat[Math.max(0, Math.ceil(0.99 * requests) - 1)] as number) : null;
  const start = new Date(Date.UTC(2026, 11, 3, 10, 0, 0) + i * seconds * 1000).toISOString();
  const end = new Date(Date.UTC(2026, 11, 3, 10, 0, 0) + (i + 1) * seconds * 1000).toISOString();
  return { start, end, requests, errors, p99Ms: p99 };
}

/** Judge time: 2 metrics × 10,000 points. */
export function benchJudgeTime(runs = 11): void {
  const rand = rng(7);
  const n = 10_000;
  const base = Array.from({ length: n }, (_, i) => interval(rand, i, 1, 0, 300, 30));
  // Cheap synthetic points (the traffic simulation would dominate the setup time).
  const synth = (rate: number, p99: number): IntervalSample[] =>
    base.map((s, i) => ({
      ...s,
      requests: 3000,
      errors: Math.round(3000 * rate * (1 + 0.2 * normal(rand))),
      p99Ms: p99 * Math.exp(0.05 * normal(rand)) + (i % 7) * 1e-3,
    }));
  const baseline = synth(0.01, 300);
  const canary = synth(0.012, 320);
  const spec: CanarySpec = {
    config: canarySchema.parse({ durationSeconds: 300 }),
    limits: { errorRatePercent: 5, latencyP99Ms: 1500 },
  };
  const times = (fn: () => void) =>
    Array.from({ length: runs }, () => {
      const t = performance.now();
      fn();
      return performance.now() - t;
    });
  analyseCanary(baseline, canary, spec, { elapsedSeconds: 300, final: true }); // warm-up
  const judge = times(() => analyseCanary(baseline, canary, spec, { elapsedSeconds: 300, final: true }));
  const bytes = JSON.stringify(
    analyseCanary(baseline, canary, spec, { elapsedSeconds: 300, final: true }),
  ).length;
  const x = canary.map((s) => s.p99Ms as number);
  const y = baseline.map((s) => s.p99Ms as number);
  const exact = times(() => wilcoxTest(x, y, { confLevel: 0.98 }));
  const uniroot = times(() => wilcoxTest(x, y, { confLevel: 0.98, rootFinder: 'uniroot' }));
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  console.log(
    `judge analyseCanary, 2 metrics × ${n.toLocaleString('en')} points per side: ${ms(median(judge))} median of ${runs} (target ≤ 50 ms); verdict JSON ${(bytes / 1024).toFixed(1)} KB`,
  );
  console.log(
    `judge wilcoxTest ${n.toLocaleString('en')} vs ${n.toLocaleString('en')}: exact roots ${ms(median(exact))}, uniroot ${ms(median(uniroot))} (median of ${runs})`,
  );
}

interface Scenario {
  readonly name: string;
  readonly errorRate: number;
  readonly p99Ms: number;
}

const SCENARIOS: readonly Scenario[] = [
  { name: 'unchanged', errorRate: 0.01, p99Ms: 300 },
  { name: '2x error rate', errorRate: 0.02, p99Ms: 300 },
  { name: '3x error rate', errorRate: 0.03, p99Ms: 300 },
  { name: '+30% p99', errorRate: 0.01, p99Ms: 390 },
];

interface Tally {
  fail: number;
  marginal: number;
  inconclusive: number;
  pass: number;
  threshold: number;
  mannWhitney: number;
}

/** The simulation table. */
export function benchJudgeSim(trials = 1000): void {
  const intervalSeconds = 30;
  const intervals = 10; // 5 minutes
  // The production thresholds of config/deployment-thresholds.yaml.
  const limits = { errorRatePercent: 5, latencyP99Ms: 1500 };
  const config = canarySchema.parse({});
  const spec: CanarySpec = { config, limits };
  const rows: string[] = [];
  const header = `${'traffic'.padEnd(10)}${'release'.padEnd(16)}${'analyseCanary: fail'.padStart(20)}${'marginal'.padStart(10)}${'inconcl.'.padStart(10)}${'pass'.padStart(8)}  ${'threshold rule'.padStart(14)}  ${'plain MW'.padStart(9)}`;
  const t0 = performance.now();
  for (const reqPerSecond of [100, 2]) {
    const tallies = SCENARIOS.map<Tally>(() => ({
      fail: 0,
      marginal: 0,
      inconclusive: 0,
      pass: 0,
      threshold: 0,
      mannWhitney: 0,
    }));
    for (let trial = 0; trial < trials; trial++) {
      const baseRand = rng(1_000_003 * reqPerSecond + trial);
      const baseline = Array.from({ length: intervals }, (_, i) =>
        interval(baseRand, i - intervals, reqPerSecond, 0.01, 300, intervalSeconds),
      );
      for (const [si, sc] of SCENARIOS.entries()) {
        const tally = tallies[si] as Tally;
        const rand = rng(7_919 * (trial + 1) + 104_729 * si + reqPerSecond);
        const canary = Array.from({ length: intervals }, (_, i) =>
          interval(rand, i, reqPerSecond, sc.errorRate, sc.p99Ms, intervalSeconds),
        );
        // analyseCanary, every interval, ending early on a fail.
        let outcome = 'continue';
        for (let k = 1; k <= intervals; k++) {
          const v = analyseCanary(baseline, canary.slice(0, k), spec, {
            elapsedSeconds: k * intervalSeconds,
            final: k === intervals,
          });
          outcome = v.outcome;
          if (outcome === 'fail') break;
        }
        if (outcome === 'fail') tally.fail++;
        else if (outcome === 'marginal') tally.marginal++;
        else if (outcome === 'inconclusive') tally.inconclusive++;
        else tally.pass++;
        // The seed's plain rule: any single sample over a threshold rolls back.
        if (
          canary.some(
            (s) =>
              (errorRatePercent(s) ?? 0) > limits.errorRatePercent || (s.p99Ms ?? 0) > limits.latencyP99Ms,
          )
        ) {
          tally.threshold++;
        }
        // A plain Mann-Whitney (Kayenta's classifier and root finder) on the final series.
        const mw = (series: (s: IntervalSample) => number | null) =>
          classifyMetric({ name: 'm', direction: 'increase' }, baseline.map(series), canary.map(series), {
            confidence: 0.98,
            tolerance: 0.25,
            rootFinder: 'uniroot',
          }).classification === 'High';
        if (mw(errorRatePercent) || mw((s) => s.p99Ms)) tally.mannWhitney++;
      }
    }
    for (const [si, sc] of SCENARIOS.entries()) {
      const t = tallies[si] as Tally;
      const p = (n: number) => `${((n / trials) * 100).toFixed(1)}%`;
      rows.push(
        `${`${reqPerSecond} req/s`.padEnd(10)}${sc.name.padEnd(16)}${p(t.fail).padStart(20)}${p(t.marginal).padStart(10)}${p(t.inconclusive).padStart(10)}${p(t.pass).padStart(8)}  ${p(t.threshold).padStart(14)}  ${p(t.mannWhitney).padStart(9)}`,
      );
    }
  }
  console.log(
    `judge-sim: ${trials} trials per row, 30 s samples, 5-minute analysis judged every interval, baseline 1% errors and p99 300 ms; ` +
      `"fail" is a rollback (false rollback in the unchanged rows, detection in the others; targets ≤ 1% and ≥ 95% at 100 req/s); ` +
      `threshold rule = any single sample over ${limits.errorRatePercent}% / ${limits.latencyP99Ms} ms; plain MW = Kayenta's classifier on the final series (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
  );
  console.log(header);
  for (const r of rows) console.log(r);
}
