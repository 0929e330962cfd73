/**
 * The demo API's metrics (issue 9): a healthy release, one that serves more 5xx and one with a
 * higher p99 — the last two healthy on /health — read through the real scrape adapter over HTTP,
 * interval by interval with sampleBetween, on the simulated clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { scrapeMetrics } from '../../lambdas/adapters/metrics-scrape.ts';
import { type IntervalSample, sampleBetween } from '../../lambdas/core/measurements.ts';
import { metricsSchema, type ScrapeMetricsConfig } from '../../lib/config/metrics-schema.ts';
import { SimulatedClock } from '../../lib/local/clock.ts';
import { type DemoApi, startDemoApi } from '../../lib/local/demo-api.ts';
import { trafficOf } from '../../lib/local/image-behaviour.ts';
import { binomial, latencyCdf, mulberry32 } from '../../lib/local/traffic.ts';

const REPO = 'ghcr.io/buywhere/buywhere-api';
const config = metricsSchema.parse({ provider: 'scrape' }) as ScrapeMetricsConfig;
let apis: DemoApi[] = [];
afterEach(async () => {
  await Promise.all(apis.map((a) => a.close()));
  apis = [];
});

/** Serves `image` on a fresh demo API and reads `intervals` samples of 30 s of `version`. */
async function serve(image: string, intervals = 10, seed = 1) {
  const clock = new SimulatedClock(new Date('2026-12-03T10:00:00Z'));
  let served = image;
  const api = await startDemoApi({ clock, resolveImage: () => served, seed });
  apis.push(api);
  const source = scrapeMetrics(config, { apiUrl: api.url, clock });
  if (source.kind !== 'scrape') throw new Error('scrape');
  const version = image.split(':')[1] as string;
  const samples: IntervalSample[] = [];
  let before = await source.scrape({ version });
  for (let i = 0; i < intervals; i++) {
    clock.advance(30);
    const after = await source.scrape({ version });
    samples.push(sampleBetween(before, after));
    before = after;
  }
  const health = await fetch(`${api.url}/health`);
  return {
    samples,
    health: health.status,
    source,
    clock,
    swap: (next: string) => {
      served = next;
    },
  };
}

const total = (samples: IntervalSample[], k: 'requests' | 'errors') =>
  samples.reduce((n, s) => n + (s[k] ?? 0), 0);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

describe('demo API traffic', () => {
  it('serves a healthy release at about 0.5 % 5xx and a p99 near 300 ms, with noise between intervals', async () => {
    const { samples, health } = await serve(`${REPO}:v1.2.3`);
    expect(health).toBe(200);
    expect(samples.every((s) => s.requests === 600)).toBe(true);
    const rate = total(samples, 'errors') / total(samples, 'requests');
    expect(rate).toBeGreaterThan(0.001);
    expect(rate).toBeLessThan(0.012);
    const p99s = samples.map((s) => s.p99Ms as number);
    expect(median(p99s)).toBeGreaterThan(250);
    expect(median(p99s)).toBeLessThan(360);
    // Real traffic is noisy: not every interval has the same count of 5xx or the same p99.
    expect(new Set(samples.map((s) => s.errors)).size).toBeGreaterThan(1);
    expect(new Set(p99s).size).toBeGreaterThan(1);
  });

  it('serves 3–5× the 5xx for an `errors` release while /health stays 200', async () => {
    const { samples, health } = await serve(`${REPO}:v1.3.0-errors`);
    expect(health).toBe(200);
    const rate = total(samples, 'errors') / total(samples, 'requests');
    expect(rate).toBeGreaterThan(0.012);
    expect(rate).toBeLessThan(0.03);
    expect(median(samples.map((s) => s.p99Ms as number))).toBeLessThan(360);
  });

  it('serves a p99 60 % or more above the healthy one for a `latency` release while /health stays 200', async () => {
    const { samples, health } = await serve(`${REPO}:v1.3.0-latency`);
    expect(health).toBe(200);
    expect(median(samples.map((s) => s.p99Ms as number))).toBeGreaterThan(430);
    expect(total(samples, 'errors') / total(samples, 'requests')).toBeLessThan(0.012);
  });

  it('labels traffic with the serving release, so the new release is read apart from the old', async () => {
    const run = await serve(`${REPO}:v1.2.3`, 2);
    run.swap(`${REPO}:v1.3.0-errors`);
    if (run.source.kind !== 'scrape') throw new Error('scrape');
    const old = await run.source.scrape({ version: 'v1.2.3' });
    const fresh = await run.source.scrape({ version: 'v1.3.0-errors' });
    run.clock.advance(60);
    const oldLater = await run.source.scrape({ version: 'v1.2.3' });
    const freshLater = await run.source.scrape({ version: 'v1.3.0-errors' });
    expect(sampleBetween(old, oldLater).requests).toBe(0);
    expect(sampleBetween(fresh, freshLater).requests).toBe(1200);
    const all = await run.source.scrape();
    expect(all.requests).toBe(oldLater.requests + freshLater.requests);
  });

  it('repeats the same traffic for the same seed and clock steps', async () => {
    const a = await serve(`${REPO}:v1.2.3`, 4, 42);
    const b = await serve(`${REPO}:v1.2.3`, 4, 42);
    const c = await serve(`${REPO}:v1.2.3`, 4, 43);
    expect(b.samples).toEqual(a.samples);
    expect(c.samples).not.toEqual(a.samples);
  });

  it("draws latencies from a lognormal whose p99 is the profile's, and binomial counts around the rate", () => {
    for (const image of [`${REPO}:v1`, `${REPO}:v1-latency`, `${REPO}:v1-bad`]) {
      const profile = trafficOf(image);
      expect(latencyCdf(profile, profile.p99Seconds)).toBeCloseTo(0.99, 6);
    }
    const rng = mulberry32(9);
    for (const [n, p] of [
      [150, 0.02],
      [5000, 0.005],
      [100_000, 0.4],
    ] as const) {
      const draws = Array.from({ length: 400 }, () => binomial(n, p, rng));
      const mean = draws.reduce((x, y) => x + y, 0) / draws.length;
      expect(Math.abs(mean - n * p)).toBeLessThan(4 * Math.sqrt((n * p * (1 - p)) / draws.length));
      expect(draws.every((k) => k >= 0 && k <= n)).toBe(true);
    }
  });
});
