/**
 * What the canary judge and post-deployment monitoring measure (issue 9), and the Metrics port
 * through which a step reads it. Providers (lambdas/adapters/metrics-*.ts): the Prometheus HTTP
 * API and CloudWatch GetMetricData keep history, so one call returns a whole window of interval
 * samples; a direct scrape of `/metrics` has no history, so the step takes a snapshot of the
 * cumulative counters each interval and `sampleBetween` turns two snapshots into one sample.
 * Pure: types and arithmetic only.
 */

/** One analysis interval of one release, as a provider measured it. `null`: no data for it. */
export interface IntervalSample {
  /** Start of the interval (ISO 8601). */
  readonly start: string;
  /** End of the interval (ISO 8601). */
  readonly end: string;
  /** Requests served in the interval. */
  readonly requests: number | null;
  /** Requests answered 5xx in the interval. */
  readonly errors: number | null;
  /** 99th percentile latency over the interval, in milliseconds. */
  readonly p99Ms: number | null;
}

/**
 * Whose metrics: the release's identity, substituted into the configured queries (`${version}`,
 * `${image}`). Undefined selector: the whole service, whatever release serves it.
 */
export interface ReleaseSelector {
  /** The version label / dimension value (the image tag unless the deployment names one). */
  readonly version: string;
  /** The full image reference. */
  readonly image?: string;
}

/** A window of interval samples to read from a provider with history. */
export interface SampleQuery {
  readonly release?: ReleaseSelector;
  readonly start: Date;
  readonly end: Date;
  /** Length of each interval (the analysis interval), in seconds. */
  readonly stepSeconds: number;
}

/** One bucket of a cumulative latency histogram: requests that took at most `le` seconds. */
export interface HistogramBucket {
  /** Upper bound in seconds (`Infinity` for `+Inf`). */
  readonly le: number;
  readonly count: number;
}

/** The cumulative counters one scrape of `/metrics` read (a process's totals since it started). */
export interface CounterSnapshot {
  /** When the scrape was taken (ISO 8601). */
  readonly at: string;
  readonly requests: number;
  readonly errors: number;
  /** The latency histogram's cumulative buckets, ascending by `le`, `+Inf` last. */
  readonly buckets: readonly HistogramBucket[];
}

/** The Metrics port: the provider the environment's config chooses. */
export type MetricsSource =
  | {
      /** Prometheus HTTP API or CloudWatch GetMetricData: history is there to be read. */
      readonly kind: 'history';
      /** Samples of the window, one per `stepSeconds`, oldest first (missing intervals as nulls). */
      samples(query: SampleQuery): Promise<IntervalSample[]>;
    }
  | {
      /** A direct scrape of `/metrics`: only the counters of now. */
      readonly kind: 'scrape';
      /** The counters now, of `release` when given (series with another version label are skipped). */
      scrape(release?: ReleaseSelector): Promise<CounterSnapshot>;
    };
