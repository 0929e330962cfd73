/**
 * Real Prometheus (Debian's package) scraping the demo API every second, read through the metrics
 * port's Prometheus adapter with the default PromQL of config: a healthy release's per-interval
 * requests, 5xx and p99 are plausible, and once an `errors` release serves, its own 5xx (selected
 * by its version label) rise well above the healthy one's. The demo API runs on the real clock
 * here: Prometheus scrapes in real time, so its counters must grow in real time too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prometheusMetrics } from '../../lambdas/adapters/metrics-prometheus.ts';
import type { IntervalSample, MetricsSource } from '../../lambdas/core/measurements.ts';
import { systemClock } from '../../lambdas/core/ports.ts';
import { metricsSchema, type PrometheusMetricsConfig } from '../../lib/config/metrics-schema.ts';
import { type DemoApi, startDemoApi } from '../../lib/local/demo-api.ts';
import { type RunningPrometheus, startPrometheus } from '../helpers/prometheus.ts';

const REPO = 'ghcr.io/buywhere/buywhere-api';
const HEALTHY = `${REPO}:v1.2.3`;
const ERRORS = `${REPO}:v1.3.0-errors`;
/** Requests per second of the demo API: enough that 10 s hold ~2,000 requests. */
const RPS = 200;
/** Interval of the samples. */
const STEP = 10;

let demo: DemoApi;
let prometheus: RunningPrometheus;
let source: MetricsSource;
let served = HEALTHY;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until Prometheus has scraped `version`'s counters for at least `seconds`. */
async function scrapedFor(version: string, seconds: number): Promise<void> {
  const deadline = Date.now() + (seconds + 30) * 1000;
  while (Date.now() < deadline) {
    const [r] = await prometheus.query(
      `count_over_time(http_requests_total{status="200",version="${version}"}[${seconds}s])`,
    );
    if (Number(r?.value[1] ?? 0) >= seconds - 1) return;
    await sleep(500);
  }
  throw new Error(`Prometheus did not scrape ${version} for ${seconds} s`);
}

/** The last `count` whole intervals of `version`, ending a scrape before now. */
async function lastIntervals(version: string, count: number): Promise<IntervalSample[]> {
  if (source.kind !== 'history') throw new Error('the Prometheus adapter keeps history');
  // Whole seconds, one scrape interval back: the newest scrape may not be in the TSDB yet.
  const end = new Date(Math.floor(Date.now() / 1000) * 1000 - 2000);
  const start = new Date(end.getTime() - count * STEP * 1000);
  return source.samples({ release: { version, image: `${REPO}:${version}` }, start, end, stepSeconds: STEP });
}

beforeAll(async () => {
  demo = await startDemoApi({
    clock: systemClock,
    resolveImage: () => served,
    requestsPerSecond: RPS,
    seed: 7,
  });
  prometheus = await startPrometheus({ targets: [new URL(demo.url).host] });
  source = prometheusMetrics(
    metricsSchema.parse({ provider: 'prometheus', url: prometheus.url }) as PrometheusMetricsConfig,
  );
});

afterAll(async () => {
  await prometheus?.stop();
  await demo?.close();
});

describe('metrics from a real Prometheus scraping the demo API', () => {
  let healthy: IntervalSample[] = [];

  it('reads plausible per-interval requests, 5xx and p99 of the healthy release by its version label', async () => {
    await scrapedFor('v1.2.3', 2 * STEP + 4);
    healthy = await lastIntervals('v1.2.3', 2);
    expect(healthy).toHaveLength(2);
    for (const s of healthy) {
      // increase() extrapolates to the window's edges: close to RPS × STEP, not exactly.
      expect(s.requests).toBeGreaterThan(RPS * STEP * 0.7);
      expect(s.requests).toBeLessThan(RPS * STEP * 1.3);
      expect(s.errors).not.toBeNull();
      expect((s.errors as number) / (s.requests as number)).toBeLessThan(0.015);
      // histogram_quantile over the demo's buckets, in ms: the healthy p99 is about 300 ms.
      expect(s.p99Ms).toBeGreaterThan(200);
      expect(s.p99Ms).toBeLessThan(420);
    }
    expect(Date.parse(healthy[1]?.start ?? '') - Date.parse(healthy[0]?.start ?? '')).toBe(STEP * 1000);
  });

  it('sees the 5xx of an `errors` release rise above the healthy one, its /health still 200', async () => {
    served = ERRORS;
    expect((await fetch(`${demo.url}/health`)).status).toBe(200);
    await scrapedFor('v1.3.0-errors', 2 * STEP + 4);
    const canary = await lastIntervals('v1.3.0-errors', 2);
    const rate = (xs: IntervalSample[]) =>
      xs.reduce((n, s) => n + (s.errors ?? 0), 0) / xs.reduce((n, s) => n + (s.requests ?? 0), 0);
    expect(canary.every((s) => (s.requests ?? 0) > RPS * STEP * 0.7)).toBe(true);
    // 2 % against 0.5 %: over ~4,000 requests each, far beyond the binomial noise.
    expect(rate(canary)).toBeGreaterThan(0.012);
    expect(rate(canary)).toBeGreaterThan(2 * rate(healthy));
    // The old release serves nothing any more: its counters stand still.
    const old = await lastIntervals('v1.2.3', 1);
    expect(old[0]?.requests ?? 0).toBeLessThan(RPS);
  });
});
