// biome-ignore-all lint/suspicious/noTemplateCurlyInString: PromQL templates name their ${variables} in plain strings.
/**
 * The Metrics port on the Prometheus HTTP API: `/api/v1/query_range` for a window of intervals,
 * `/api/v1/query` for a single one. Each configured template (requests, errors, p99 in ms) is one
 * query evaluated at the end of every interval, `${window}` being the interval, so one answer per
 * interval. The documented envelope is parsed strictly: `{"status":"error","errorType","error"}`
 * becomes an error naming the query and the URL; "NaN" and "±Inf" values and missing steps become
 * null (no data), never 0.
 */

import type { PrometheusMetricsConfig } from '../../lib/config/metrics-schema.ts';
import { MetricsQueryError, TransientError } from '../core/errors.ts';
import type { IntervalSample, MetricsSource, ReleaseSelector, SampleQuery } from '../core/measurements.ts';
import { isTimeoutError, isTransientHttpStatus, transientNetworkCode } from './transient.ts';

/** Largest answer read: a window of 3 single series is a few kB; a runaway query must not fill memory. */
export const MAX_PROMETHEUS_RESPONSE_BYTES = 4 * 1024 * 1024;
/** Most intervals one read may ask for (Prometheus itself refuses more than 11,000 points per series). */
export const MAX_INTERVALS = 11_000;

/** The measures and their templates' keys. */
const MEASURES = ['requests', 'errors', 'p99Ms'] as const;
type Measure = (typeof MEASURES)[number];

/** A value as the API encodes it: a string, with "NaN", "+Inf" and "-Inf" for the specials. */
export function parsePrometheusValue(text: unknown): number {
  if (typeof text !== 'string') return Number.NaN;
  if (text === '+Inf' || text === 'Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === 'NaN' || text.trim() === '') return Number.NaN;
  return Number(text);
}

/** A string as a PromQL double-quoted string literal's content (backslash and quote escaped). */
function promqlStringContent(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** `seconds` as a PromQL duration (`30s`). */
export function promqlDuration(seconds: number): string {
  return `${Math.round(seconds)}s`;
}

/**
 * The template with its `${version}`, `${image}` and `${window}` replaced. The release's values
 * are escaped for a PromQL string literal, so a tag cannot break out of the label matcher.
 * MetricsQueryError when the template needs a release value the read did not give.
 */
export function renderQuery(
  template: string,
  release: ReleaseSelector | undefined,
  stepSeconds: number,
): string {
  return template.replace(/\$\{([^}]*)\}/g, (_m, name: string) => {
    if (name === 'window') return promqlDuration(stepSeconds);
    const value = name === 'version' ? release?.version : name === 'image' ? release?.image : undefined;
    if (value === undefined) {
      throw new MetricsQueryError(
        `the query ${template} names \${${name}}, but this read ${release ? 'has no image for the release' : 'is for the whole service'}; fix metrics.queries in config/environments.yaml`,
      );
    }
    return promqlStringContent(value);
  });
}

/** One series of a query answer. */
interface PromSeries {
  readonly metric?: Record<string, string>;
  readonly values?: [number, string][];
  readonly value?: [number, string];
}

/** How the adapter reaches Prometheus. */
export interface PrometheusDeps {
  /** The bearer token, read per request from its secret (cached by the Secrets port). */
  readonly bearerToken?: () => Promise<string>;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

/** A Prometheus HTTP API client: the two query endpoints, with the envelope checked. */
export class PrometheusClient {
  readonly #base: string;
  readonly #timeoutMs: number;
  readonly #deps: PrometheusDeps;

  constructor(url: string, timeoutMs: number, deps: PrometheusDeps = {}) {
    this.#base = url.replace(/\/+$/, '');
    this.#timeoutMs = timeoutMs;
    this.#deps = deps;
  }

  /** An instant query (`/api/v1/query`) at `time`: its vector or scalar as series. */
  async query(expr: string, time: Date): Promise<PromSeries[]> {
    const data = await this.#post('/api/v1/query', expr, { time: (time.getTime() / 1000).toString() });
    if (data.resultType === 'scalar') {
      return [{ metric: {}, value: data.result as [number, string] }];
    }
    if (data.resultType !== 'vector') throw this.#error(expr, `answered a ${data.resultType}, not a vector`);
    return data.result as PromSeries[];
  }

  /** A range query (`/api/v1/query_range`): its matrix. */
  async queryRange(expr: string, start: Date, end: Date, stepSeconds: number): Promise<PromSeries[]> {
    const data = await this.#post('/api/v1/query_range', expr, {
      start: (start.getTime() / 1000).toString(),
      end: (end.getTime() / 1000).toString(),
      step: stepSeconds.toString(),
    });
    if (data.resultType !== 'matrix') throw this.#error(expr, `answered a ${data.resultType}, not a matrix`);
    return data.result as PromSeries[];
  }

  #error(expr: string, what: string): MetricsQueryError {
    return new MetricsQueryError(`Prometheus at ${this.#base} ${what} for the query ${expr}`);
  }

  async #post(
    path: string,
    expr: string,
    params: Record<string, string>,
  ): Promise<{ resultType: string; result: unknown }> {
    const url = `${this.#base}${path}`;
    // POST with a form body (supported by /query and /query_range): long queries stay out of URLs and logs.
    const body = new URLSearchParams({ query: expr, ...params, timeout: `${this.#timeoutMs / 1000}s` });
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
      'user-agent': 'deployment-guardian',
    };
    if (this.#deps.bearerToken) headers.authorization = `Bearer ${await this.#deps.bearerToken()}`;
    let res: Response;
    let text: string;
    try {
      res = await (this.#deps.fetch ?? fetch)(url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      text = await readCapped(res, MAX_PROMETHEUS_RESPONSE_BYTES, () =>
        this.#error(expr, `answered more than ${MAX_PROMETHEUS_RESPONSE_BYTES} bytes`),
      );
    } catch (err) {
      if (err instanceof MetricsQueryError) throw err;
      if (isTimeoutError(err)) {
        throw new TransientError(
          `Prometheus at ${url} did not answer within ${this.#timeoutMs} ms (query ${expr})`,
          {
            cause: err,
          },
        );
      }
      const code = transientNetworkCode(err);
      throw new TransientError(
        `Prometheus at ${url} could not be reached (${code ?? (err as Error).message}) for the query ${expr}`,
        { cause: err },
      );
    }
    let envelope: { status?: unknown; data?: unknown; errorType?: unknown; error?: unknown };
    try {
      envelope = JSON.parse(text) as typeof envelope;
    } catch {
      const what = `answered HTTP ${res.status} with a body that is not the API's JSON (${text.slice(0, 120)})`;
      throw isTransientHttpStatus(res.status)
        ? new TransientError(`Prometheus at ${url} ${what} for the query ${expr}`)
        : this.#error(expr, what);
    }
    if (envelope.status === 'error' || !res.ok) {
      const what = `refused with HTTP ${res.status} ${String(envelope.errorType ?? 'error')}: ${String(envelope.error ?? text.slice(0, 200))}`;
      // 503: the query timed out or was aborted in Prometheus (API docs); 429/5xx: try again.
      if (isTransientHttpStatus(res.status)) {
        throw new TransientError(`Prometheus at ${url} ${what} (query ${expr})`);
      }
      throw this.#error(expr, what);
    }
    const data = envelope.data as { resultType?: unknown; result?: unknown } | undefined;
    if (
      envelope.status !== 'success' ||
      typeof data?.resultType !== 'string' ||
      !Array.isArray(data.result)
    ) {
      if (data?.resultType === 'scalar' && Array.isArray(data.result)) {
        return { resultType: 'scalar', result: data.result };
      }
      throw this.#error(expr, 'answered without status "success" and a data.result');
    }
    return { resultType: data.resultType, result: data.result };
  }
}

/** Reads at most `max` bytes of the body; past that, the error from `tooLarge`. */
export async function readCapped(res: Response, max: number, tooLarge: () => Error): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/** The one series a query must answer with (none: no data); more is a query that forgot to aggregate. */
function singleSeries(series: PromSeries[], expr: string, url: string): PromSeries | undefined {
  if (series.length > 1) {
    const labels = series
      .slice(0, 3)
      .map((s) => JSON.stringify(s.metric ?? {}))
      .join(', ');
    throw new MetricsQueryError(
      `Prometheus at ${url} answered ${series.length} series (${labels}${series.length > 3 ? ', …' : ''}) for the query ${expr}; aggregate it (sum(...), sum by (le) (...)) so that it answers one`,
    );
  }
  return series[0];
}

/** A finite value, or null (NaN, ±Inf and unparsable values are no data). */
function finite(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

/** The Metrics port on Prometheus. */
export function prometheusMetrics(config: PrometheusMetricsConfig, deps: PrometheusDeps = {}): MetricsSource {
  const client = new PrometheusClient(config.url, config.timeoutMs, deps);
  return {
    kind: 'history',
    async samples(query: SampleQuery): Promise<IntervalSample[]> {
      const step = query.stepSeconds;
      if (!(step > 0)) throw new RangeError(`stepSeconds must be positive, got ${step}`);
      const startMs = query.start.getTime();
      const count = Math.floor((query.end.getTime() - startMs) / (step * 1000));
      if (count <= 0) return [];
      if (count > MAX_INTERVALS) {
        throw new RangeError(`${count} intervals of ${step} s asked for; at most ${MAX_INTERVALS} per read`);
      }
      const templates = query.release ? config.queries : config.serviceQueries;
      // Each interval (start + i·step, start + (i+1)·step] is read at its end: `[${window}]` looks back one step.
      const firstEval = startMs + step * 1000;
      const lastEval = startMs + count * step * 1000;
      const columns = await Promise.all(
        MEASURES.map(async (measure: Measure) => {
          const expr = renderQuery(templates[measure], query.release, step);
          const values: (number | null)[] = new Array(count).fill(null);
          if (count === 1) {
            const s = singleSeries(await client.query(expr, new Date(firstEval)), expr, config.url);
            if (s?.value) values[0] = finite(parsePrometheusValue(s.value[1]));
            return values;
          }
          const s = singleSeries(
            await client.queryRange(expr, new Date(firstEval), new Date(lastEval), step),
            expr,
            config.url,
          );
          for (const [ts, raw] of s?.values ?? []) {
            // Some Prometheus-compatible APIs align steps; a point belongs to the nearest interval end.
            const i = Math.round((ts * 1000 - firstEval) / (step * 1000));
            if (
              i >= 0 &&
              i < count &&
              Math.abs(ts * 1000 - (firstEval + i * step * 1000)) < (step * 1000) / 2
            ) {
              values[i] = finite(parsePrometheusValue(raw));
            }
          }
          return values;
        }),
      );
      const [requests, errors, p99] = columns as [(number | null)[], (number | null)[], (number | null)[]];
      return Array.from({ length: count }, (_, i) => ({
        start: new Date(startMs + i * step * 1000).toISOString(),
        end: new Date(startMs + (i + 1) * step * 1000).toISOString(),
        requests: requests[i] ?? null,
        // No 5xx series at all (none since the process started) answers nothing: with requests
        // measured in the interval, that is 0 errors, not a gap.
        errors: errors[i] ?? (requests[i] != null ? 0 : null),
        p99Ms: p99[i] ?? null,
      }));
    },
  };
}
