/**
 * The Metrics port as a direct scrape of the API's `/metrics` (Prometheus text format 0.0.4), for
 * an environment without a Prometheus: the cumulative counters of now, which the step turns into
 * interval samples with `sampleBetween`. Parsing is parse-prometheus-text-format's (line syntax,
 * label escapes, NaN/±Inf, timestamps); the sums by release and status class are ours.
 */
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';
import type { ScrapeMetricsConfig } from '../../lib/config/metrics-schema.ts';
import { MetricsQueryError, TransientError } from '../core/errors.ts';
import type {
  CounterSnapshot,
  HistogramBucket,
  MetricsSource,
  ReleaseSelector,
} from '../core/measurements.ts';
import type { Clock } from '../core/ports.ts';
import { parsePrometheusValue, readCapped } from './metrics-prometheus.ts';
import { isTimeoutError, isTransientHttpStatus, transientNetworkCode } from './transient.ts';

/** Largest exposition read; a service's `/metrics` is tens of kB, a runaway one must not fill memory. */
export const MAX_SCRAPE_BYTES = 4 * 1024 * 1024;

/**
 * The text with the TYPE lines of histograms and summaries taken out. parse-prometheus-text-format
 * folds a histogram family into one set of buckets and drops every label but `le` (its open issue
 * #13): two releases' series would be merged. Untyped, each `_bucket` series keeps its labels and
 * is summed here per release.
 */
export function withoutHistogramTypes(text: string): string {
  return text.replace(/^[ \t]*#[ \t]+TYPE[ \t]+\S+[ \t]+(histogram|summary)[ \t]*$/gim, '');
}

/** The counters of `text` (one scrape) of `release`, or of every release without one. */
export function countersOf(
  text: string,
  config: ScrapeMetricsConfig,
  release: ReleaseSelector | undefined,
  at: Date,
  source: string,
): CounterSnapshot {
  let families: ParsedFamily[];
  try {
    families = parsePrometheusTextFormat(withoutHistogramTypes(text));
  } catch (err) {
    throw new MetricsQueryError(`${source} is not in the Prometheus text format: ${(err as Error).message}`, {
      cause: err,
    });
  }
  // A metric declared (HELP/TYPE) without series yet — no request served — exists, at zero.
  const family = (name: string, declaredAs = name) => {
    const samples = families.filter((f) => f.name === name).flatMap((f) => f.metrics);
    if (samples.length === 0 && !families.some((f) => f.name === name || f.name === declaredAs)) {
      throw new MetricsQueryError(
        `${source} has no ${name}; the API must expose it, or metrics in config/environments.yaml must name the metric it does expose`,
      );
    }
    return samples.filter((s) => !release || s.labels?.[config.versionLabel] === release.version);
  };
  const value = (raw: string | undefined) => {
    const v = parsePrometheusValue(raw);
    return Number.isFinite(v) ? v : 0;
  };
  let requests = 0;
  let errors = 0;
  for (const s of family(config.requestsMetric)) {
    const v = value(s.value);
    requests += v;
    if ((s.labels?.[config.statusLabel] ?? '').startsWith('5')) errors += v;
  }
  // Series of several pods or label sets add up per bound, as `sum by (le)` would.
  const byBound = new Map<number, number>();
  for (const s of family(`${config.latencyHistogram}_bucket`, config.latencyHistogram)) {
    const le = parsePrometheusValue(s.labels?.le);
    if (Number.isNaN(le)) continue;
    byBound.set(le, (byBound.get(le) ?? 0) + value(s.value));
  }
  const buckets: HistogramBucket[] = [...byBound]
    .map(([le, count]) => ({ le, count }))
    .sort((a, b) => a.le - b.le);
  return { at: at.toISOString(), requests, errors, buckets };
}

/** What the scrape adapter is built from. */
export interface ScrapeDeps {
  /** The environment's API (`apiUrl`); the path comes from config. */
  readonly apiUrl: string;
  /** Blue-green (issue 11): the preview Service's URL (`argo.previewUrl`). */
  readonly previewUrl?: string;
  readonly clock: Clock;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

/** The Metrics port as a scrape of `apiUrl` + `path`. */
export function scrapeMetrics(config: ScrapeMetricsConfig, deps: ScrapeDeps): MetricsSource {
  const urlOf = (base: string) => new URL(config.path, base.endsWith('/') ? base : `${base}/`).toString();
  return {
    kind: 'scrape',
    async scrape(
      release?: ReleaseSelector,
      service: 'active' | 'preview' = 'active',
    ): Promise<CounterSnapshot> {
      if (service === 'preview' && deps.previewUrl === undefined) {
        throw new MetricsQueryError('the preview cannot be scraped: the environment has no argo.previewUrl');
      }
      const url = urlOf(service === 'preview' ? (deps.previewUrl as string) : deps.apiUrl);
      let text: string;
      let status: number;
      try {
        const res = await (deps.fetch ?? fetch)(url, {
          headers: { accept: 'text/plain;version=0.0.4;q=1,*/*;q=0.1', 'user-agent': 'deployment-guardian' },
          signal: AbortSignal.timeout(config.timeoutMs),
        });
        status = res.status;
        text = await readCapped(
          res,
          MAX_SCRAPE_BYTES,
          () => new MetricsQueryError(`${url} answered more than ${MAX_SCRAPE_BYTES} bytes`),
        );
      } catch (err) {
        if (err instanceof MetricsQueryError) throw err;
        const why = isTimeoutError(err)
          ? `did not answer within ${config.timeoutMs} ms`
          : `could not be reached (${transientNetworkCode(err) ?? (err as Error).message})`;
        throw new TransientError(`the scrape of ${url} ${why}`, { cause: err });
      }
      if (status !== 200) {
        const what = `the scrape of ${url} answered HTTP ${status}: ${text.slice(0, 120)}`;
        throw isTransientHttpStatus(status) ? new TransientError(what) : new MetricsQueryError(what);
      }
      // The moment of the scrape is the clock's (simulated locally), as for every step.
      return countersOf(text, config, release, deps.clock.now(), url);
    },
  };
}
