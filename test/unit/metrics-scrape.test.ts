/**
 * The scrape adapter against a real HTTP server on 127.0.0.1 serving the Prometheus text
 * exposition format (version 0.0.4) as client libraries write it: HELP/TYPE lines, counters by
 * status and version, a histogram with a `version` label next to `le`, escapes, NaN and +Inf.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countersOf, scrapeMetrics } from '../../lambdas/adapters/metrics-scrape.ts';
import { MetricsQueryError, TransientError } from '../../lambdas/core/errors.ts';
import { type CounterSnapshot, sampleBetween } from '../../lambdas/core/measurements.ts';
import { metricsSchema, type ScrapeMetricsConfig } from '../../lib/config/metrics-schema.ts';
import { SimulatedClock } from '../../lib/local/clock.ts';

const EXPOSITION = `# HELP http_requests_total Requests served, by HTTP status.
# TYPE http_requests_total counter
http_requests_total{method="GET",status="200",version="v1.2.3"} 9950
http_requests_total{method="GET",status="404",version="v1.2.3"} 20
http_requests_total{method="GET",status="500",version="v1.2.3"} 25
http_requests_total{method="POST",status="503",version="v1.2.3"} 5
http_requests_total{method="GET",status="200",version="v1.3.0-errors"} 970
http_requests_total{method="GET",status="502",version="v1.3.0-errors"} 30
# HELP http_request_duration_seconds Request latency.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.1",version="v1.2.3"} 4000
http_request_duration_seconds_bucket{le="0.25",version="v1.2.3"} 9000
http_request_duration_seconds_bucket{le="0.5",version="v1.2.3"} 9990
http_request_duration_seconds_bucket{le="+Inf",version="v1.2.3"} 10000
http_request_duration_seconds_sum{version="v1.2.3"} 1432.5
http_request_duration_seconds_count{version="v1.2.3"} 10000
http_request_duration_seconds_bucket{le="0.1",version="v1.3.0-errors"} 100
http_request_duration_seconds_bucket{le="0.25",version="v1.3.0-errors"} 500
http_request_duration_seconds_bucket{le="0.5",version="v1.3.0-errors"} 900
http_request_duration_seconds_bucket{le="+Inf",version="v1.3.0-errors"} 1000
http_request_duration_seconds_sum{version="v1.3.0-errors"} 300
http_request_duration_seconds_count{version="v1.3.0-errors"} 1000
# A gauge with escapes and a NaN, which the parser must get past.
# TYPE buywhere_build_info gauge
buywhere_build_info{image="ghcr.io/buywhere/buywhere-api:v1.2.3",note="say \\"hi\\"\\n"} 1
process_cpu_seconds_total NaN
`;

let server: Server;
let url = '';
let body = EXPOSITION;
let status = 200;
beforeAll(async () => {
  server = createServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(
  () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
);

const config = metricsSchema.parse({ provider: 'scrape' }) as ScrapeMetricsConfig;
const clock = new SimulatedClock(new Date('2026-12-03T10:00:00Z'));

async function scrape(release?: { version: string }): Promise<CounterSnapshot> {
  const source = scrapeMetrics(config, { apiUrl: url, clock });
  if (source.kind !== 'scrape') throw new Error('expected a scrape source');
  return source.scrape(release);
}

describe('scrape adapter', () => {
  it("sums one release's requests, its 5xx and its histogram buckets, leaving other versions out", async () => {
    status = 200;
    body = EXPOSITION;
    expect(await scrape({ version: 'v1.2.3' })).toEqual({
      at: '2026-12-03T10:00:00.000Z',
      requests: 10_000,
      errors: 30,
      buckets: [
        { le: 0.1, count: 4000 },
        { le: 0.25, count: 9000 },
        { le: 0.5, count: 9990 },
        { le: Number.POSITIVE_INFINITY, count: 10_000 },
      ],
    });
    const canary = await scrape({ version: 'v1.3.0-errors' });
    expect(canary).toMatchObject({ requests: 1000, errors: 30 });
    expect(canary.buckets.at(-1)).toEqual({ le: Number.POSITIVE_INFINITY, count: 1000 });
  });

  it('sums every release without a selector (the whole service)', async () => {
    const all = await scrape();
    expect(all).toMatchObject({ requests: 11_000, errors: 60 });
    expect(all.buckets[0]).toEqual({ le: 0.1, count: 4100 });
  });

  it('turns two scrapes into an interval sample with sampleBetween', async () => {
    const before = countersOf(
      EXPOSITION,
      config,
      { version: 'v1.2.3' },
      new Date('2026-12-03T10:00:00Z'),
      'x',
    );
    const later = EXPOSITION.replace(
      'status="200",version="v1.2.3"} 9950',
      'status="200",version="v1.2.3"} 10550',
    )
      .replace('le="0.1",version="v1.2.3"} 4000', 'le="0.1",version="v1.2.3"} 4300')
      .replace('le="0.25",version="v1.2.3"} 9000', 'le="0.25",version="v1.2.3"} 9580')
      .replace('le="0.5",version="v1.2.3"} 9990', 'le="0.5",version="v1.2.3"} 10588')
      .replace('le="+Inf",version="v1.2.3"} 10000', 'le="+Inf",version="v1.2.3"} 10600');
    const after = countersOf(later, config, { version: 'v1.2.3' }, new Date('2026-12-03T10:00:30Z'), 'x');
    const s = sampleBetween(before, after);
    expect(s).toMatchObject({ requests: 600, errors: 0 });
    // Increases 300, 580, 598, 600: rank 594 falls in (0.25, 0.5], 14 of 18 into it.
    expect(s.p99Ms).toBeCloseTo((0.25 + 0.25 * (14 / 18)) * 1000, 9);
  });

  it('counts a release with no series yet as zero, but fails naming a metric the API does not expose', async () => {
    expect(await scrape({ version: 'v9.9.9' })).toMatchObject({ requests: 0, errors: 0, buckets: [] });
    body = '<html><body>Welcome to nginx</body></html>';
    const err = await scrape().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetricsQueryError);
    expect((err as Error).message).toMatch(new RegExp(`${url}/metrics has no http_requests_total`));
    body = 'http_requests_total{status="200" 12\n';
    await expect(scrape()).rejects.toThrow(/not in the Prometheus text format/);
  });

  it('retries later when the API answers 503 (no ready pod), and fails on 404', async () => {
    body = '{"error":"no healthy upstream"}';
    status = 503;
    await expect(scrape()).rejects.toBeInstanceOf(TransientError);
    status = 404;
    await expect(scrape()).rejects.toThrow(/answered HTTP 404/);
    status = 200;
    body = EXPOSITION;
  });
});
