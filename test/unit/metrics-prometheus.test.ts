// biome-ignore-all lint/suspicious/noTemplateCurlyInString: PromQL templates name their ${variables}.
/**
 * The Prometheus adapter against a real HTTP server on 127.0.0.1 that answers in the HTTP API's
 * documented JSON (prometheus.io/docs/prometheus/latest/querying/api: the envelope
 * `{"status","data":{"resultType","result"}}`, matrix `values` as `[unixSeconds, "string"]`, the
 * error object `{"status":"error","errorType","error"}` with 400 / 422 / 503).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  parsePrometheusValue,
  prometheusMetrics,
  renderQuery,
} from '../../lambdas/adapters/metrics-prometheus.ts';
import { MetricsQueryError, TransientError } from '../../lambdas/core/errors.ts';
import type { MetricsSource } from '../../lambdas/core/measurements.ts';
import { metricsSchema, type PrometheusMetricsConfig } from '../../lib/config/metrics-schema.ts';

interface Seen {
  readonly path: string;
  readonly params: URLSearchParams;
  readonly authorization: string | undefined;
}
type Answer = { status: number; body: string } | 'hang';
let server: Server;
let url = '';
let seen: Seen[] = [];
let answer: (path: string, params: URLSearchParams) => Answer;

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const params = new URLSearchParams(await body(req));
    seen.push({ path, params, authorization: req.headers.authorization });
    const a = answer(path, params);
    if (a === 'hang') return; // never answers: the client's timeout must end it
    res.writeHead(a.status, { 'content-type': 'application/json' });
    res.end(a.body);
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
beforeEach(() => {
  seen = [];
});

function config(extra: Partial<PrometheusMetricsConfig> = {}): PrometheusMetricsConfig {
  return { ...(metricsSchema.parse({ provider: 'prometheus', url }) as PrometheusMetricsConfig), ...extra };
}
const ok = (resultType: string, result: unknown) => ({
  status: 200,
  body: JSON.stringify({ status: 'success', data: { resultType, result } }),
});
const matrix = (values: [number, string][]) => ok('matrix', [{ metric: {}, values }]);
const T0 = Date.parse('2026-12-03T10:00:00Z') / 1000;
const release = { version: 'v1.2.3', image: 'ghcr.io/buywhere/buywhere-api:v1.2.3' };

async function samples(source: MetricsSource, start: number, end: number, step = 30, rel = release) {
  if (source.kind !== 'history') throw new Error('expected a history source');
  return source.samples({
    release: rel,
    start: new Date(start * 1000),
    end: new Date(end * 1000),
    stepSeconds: step,
  });
}

describe('Prometheus adapter', () => {
  it('reads one sample per interval from three range queries evaluated at each interval end', async () => {
    answer = (_path, p) => {
      const q = p.get('query') ?? '';
      if (q.startsWith('histogram_quantile'))
        return matrix([
          [T0 + 30, '287.5'],
          [T0 + 60, 'NaN'],
          [T0 + 90, '310'],
        ]);
      if (q.includes('5..'))
        return matrix([
          [T0 + 30, '3'],
          [T0 + 90, '2.0000000001'],
        ]);
      return matrix([
        [T0 + 30, '600'],
        [T0 + 60, '0'],
        [T0 + 90, '612.5'],
      ]);
    };
    const out = await samples(prometheusMetrics(config()), T0, T0 + 90);
    expect(out).toEqual([
      {
        start: '2026-12-03T10:00:00.000Z',
        end: '2026-12-03T10:00:30.000Z',
        requests: 600,
        errors: 3,
        p99Ms: 287.5,
      },
      // No request in the interval: histogram_quantile answers NaN (no data); no 5xx series point: 0.
      {
        start: '2026-12-03T10:00:30.000Z',
        end: '2026-12-03T10:01:00.000Z',
        requests: 0,
        errors: 0,
        p99Ms: null,
      },
      {
        start: '2026-12-03T10:01:00.000Z',
        end: '2026-12-03T10:01:30.000Z',
        requests: 612.5,
        errors: 2.0000000001,
        p99Ms: 310,
      },
    ]);
    expect(seen.map((s) => s.path)).toEqual(Array(3).fill('/api/v1/query_range'));
    const requests = seen.find(
      (s) => !s.params.get('query')?.includes('5..') && !s.params.get('query')?.startsWith('h'),
    );
    expect(requests?.params.get('query')).toBe('sum(increase(http_requests_total{version="v1.2.3"}[30s]))');
    expect(requests?.params.get('start')).toBe(String(T0 + 30));
    expect(requests?.params.get('end')).toBe(String(T0 + 90));
    expect(requests?.params.get('step')).toBe('30');
  });

  it('answers nulls for an interval Prometheus has no point for, and for an empty result', async () => {
    answer = (_p, params) =>
      params.get('query')?.includes('5..') ? ok('matrix', []) : matrix([[T0 + 60, '+Inf']]);
    const out = await samples(prometheusMetrics(config()), T0, T0 + 90);
    expect(out.map((s) => [s.requests, s.errors, s.p99Ms])).toEqual([
      [null, null, null],
      // "+Inf" parses, but an infinite count or latency is no measurement.
      [null, null, null],
      [null, null, null],
    ]);
    expect(parsePrometheusValue('+Inf')).toBe(Number.POSITIVE_INFINITY);
    expect(parsePrometheusValue('-Inf')).toBe(Number.NEGATIVE_INFINITY);
    expect(parsePrometheusValue('NaN')).toBeNaN();
    expect(parsePrometheusValue('1e3')).toBe(1000);
  });

  it('uses an instant query for a single interval, evaluated at its end', async () => {
    answer = (_p, params) =>
      ok('vector', [{ metric: {}, value: [T0 + 30, params.get('query')?.startsWith('h') ? '250' : '40'] }]);
    const out = await samples(prometheusMetrics(config()), T0, T0 + 30);
    expect(out).toEqual([
      {
        start: '2026-12-03T10:00:00.000Z',
        end: '2026-12-03T10:00:30.000Z',
        requests: 40,
        errors: 40,
        p99Ms: 250,
      },
    ]);
    expect(seen.every((s) => s.path === '/api/v1/query' && s.params.get('time') === String(T0 + 30))).toBe(
      true,
    );
  });

  it('reads the whole service with the service queries when no release is given', async () => {
    answer = () => matrix([]);
    const source = prometheusMetrics(config());
    if (source.kind !== 'history') throw new Error('history');
    await source.samples({ start: new Date(T0 * 1000), end: new Date((T0 + 60) * 1000), stepSeconds: 30 });
    expect(seen.map((s) => s.params.get('query')).sort()).toEqual([
      'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[30s]))) * 1000',
      'sum(increase(http_requests_total[30s]))',
      'sum(increase(http_requests_total{status=~"5.."}[30s]))',
    ]);
  });

  it("fails naming the query, the URL and Prometheus's errorType when the query is refused (422)", async () => {
    answer = () => ({
      status: 422,
      body: JSON.stringify({
        status: 'error',
        errorType: 'execution',
        error: 'expanding series: query processing would load too many samples into memory',
      }),
    });
    const err = await samples(prometheusMetrics(config()), T0, T0 + 90).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetricsQueryError);
    expect((err as Error).message).toContain(url);
    expect((err as Error).message).toMatch(/422 execution: expanding series/);
    expect((err as Error).message).toMatch(/http_requests_total/);
  });

  it('fails on bad PromQL (400 bad_data) and asks for an aggregate when a query answers several series', async () => {
    answer = () => ({
      status: 400,
      body: JSON.stringify({
        status: 'error',
        errorType: 'bad_data',
        error: 'invalid parameter "query": 1:14: parse error: unexpected "}"',
      }),
    });
    await expect(samples(prometheusMetrics(config()), T0, T0 + 90)).rejects.toThrow(
      /400 bad_data: invalid parameter/,
    );
    answer = () =>
      ok('matrix', [
        { metric: { pod: 'a' }, values: [[T0 + 30, '1']] },
        { metric: { pod: 'b' }, values: [[T0 + 30, '2']] },
      ]);
    await expect(samples(prometheusMetrics(config()), T0, T0 + 90)).rejects.toThrow(
      /answered 2 series .*"pod":"a".*aggregate it/,
    );
  });

  it('retries later (TransientError) when Prometheus times out the query (503) or does not answer in time', async () => {
    answer = () => ({
      status: 503,
      body: JSON.stringify({
        status: 'error',
        errorType: 'timeout',
        error: 'query timed out in expression evaluation',
      }),
    });
    await expect(samples(prometheusMetrics(config()), T0, T0 + 90)).rejects.toBeInstanceOf(TransientError);
    answer = () => 'hang';
    const err = await samples(prometheusMetrics(config({ timeoutMs: 200 })), T0, T0 + 90).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toMatch(/did not answer within 200 ms/);
  });

  it('refuses an answer larger than the bound instead of buffering it', async () => {
    const huge = Array.from({ length: 200_000 }, (_, i) => [T0 + i, '123456789.123456']);
    answer = () => ok('matrix', [{ metric: {}, values: huge }]);
    await expect(samples(prometheusMetrics(config()), T0, T0 + 90)).rejects.toThrow(
      /more than 4194304 bytes/,
    );
  });

  it('sends the bearer token from its secret and escapes the release into the PromQL string', async () => {
    answer = () => matrix([]);
    const source = prometheusMetrics(config(), { bearerToken: async () => 'tok-123' });
    await samples(source, T0, T0 + 60, 30, { version: 'v1"} or vector(1) #', image: 'x' });
    expect(seen.every((s) => s.authorization === 'Bearer tok-123')).toBe(true);
    expect(seen.map((s) => s.params.get('query'))).toContain(
      'sum(increase(http_requests_total{version="v1\\"} or vector(1) #"}[30s]))',
    );
  });

  it('renders ${image} and refuses a release variable in a read without a release', () => {
    expect(renderQuery('up{image="${image}"}[${window}]', release, 60)).toBe(
      'up{image="ghcr.io/buywhere/buywhere-api:v1.2.3"}[60s]',
    );
    expect(() => renderQuery('up{version="${version}"}', undefined, 30)).toThrow(/whole service/);
  });
});
