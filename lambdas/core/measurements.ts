/**
 * What the canary judge and post-deployment monitoring measure (issue 9), and the Metrics port
 * through which a step reads it. Providers (lambdas/adapters/metrics-*.ts): the Prometheus HTTP
 * API and CloudWatch GetMetricData keep history, so one call returns a whole window of interval
 * samples; a direct scrape of `/metrics` has no history, so the step takes a snapshot of the
 * cumulative counters each interval and `sampleBetween` turns two snapshots into one sample.
 * Pure: types and arithmetic only (and the counters' JSON form between rounds).
 */
import * as z from 'zod';

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
      /**
       * The counters now, of `release` when given (series with another version label are
       * skipped), from the active Service (default) or a blue-green environment's preview.
       */
      scrape(release?: ReleaseSelector, service?: 'active' | 'preview'): Promise<CounterSnapshot>;
    };

// --- Arithmetic over scrapes and histograms (issue 9: metric providers). ---

/**
 * The increase of a counter from `before` to `after`. A smaller value means the process restarted
 * and the counter began again at 0, so everything it counts now happened since: the increase is
 * `after` itself (what Prometheus's rate() and increase() assume of a counter reset).
 */
function counterIncrease(before: number, after: number): number {
  return after < before ? after : after - before;
}

/**
 * The `q` quantile (0 ≤ q ≤ 1) of a cumulative histogram, in the histogram's unit, with the
 * semantics of PromQL's histogram_quantile over classic buckets (promql/quantile.go
 * bucketQuantile): buckets are sorted and coalesced by `le`, made monotonic, and the rank
 * `q × observations` is interpolated linearly inside the bucket it falls into; the lowest bucket
 * starts at 0 (or, with an upper bound ≤ 0, returns that bound); a rank in the `+Inf` bucket returns
 * the upper bound of the highest finite bucket. Where Prometheus returns NaN — no observations,
 * fewer than two buckets, no `+Inf` bucket, q NaN — this returns null: nothing to judge.
 * q < 0 gives -Infinity and q > 1 Infinity, as in Prometheus.
 */
export function histogramQuantile(q: number, buckets: readonly HistogramBucket[]): number | null {
  if (Number.isNaN(q)) return null;
  if (q < 0) return Number.NEGATIVE_INFINITY;
  if (q > 1) return Number.POSITIVE_INFINITY;
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  if (sorted.length === 0 || sorted[sorted.length - 1]?.le !== Number.POSITIVE_INFINITY) return null;
  // Coalesce: series of one histogram that differ only in labels other than `le` add up.
  const merged: { le: number; count: number }[] = [];
  for (const b of sorted) {
    const last = merged[merged.length - 1];
    if (last && last.le === b.le) last.count += b.count;
    else merged.push({ le: b.le, count: b.count });
  }
  // A scrape can catch buckets mid-update; Prometheus forces them monotonic rather than fail.
  let max = Number.NEGATIVE_INFINITY;
  for (const b of merged) {
    if (b.count < max) b.count = max;
    else max = b.count;
  }
  if (merged.length < 2) return null;
  const observations = merged[merged.length - 1]?.count ?? 0;
  if (!(observations > 0)) return null;
  let rank = q * observations;
  // The first bucket (the +Inf one excluded) whose count reaches the rank; none: the +Inf bucket.
  let b = merged.findIndex((bucket, i) => i < merged.length - 1 && bucket.count >= rank);
  if (b === -1) b = merged.length - 1;
  if (b === merged.length - 1) return merged[merged.length - 2]?.le ?? null;
  const bucket = merged[b] as { le: number; count: number };
  if (b === 0 && bucket.le <= 0) return bucket.le;
  let start = 0;
  let count = bucket.count;
  if (b > 0) {
    const previous = merged[b - 1] as { le: number; count: number };
    start = previous.le;
    count -= previous.count;
    rank -= previous.count;
  }
  return start + (bucket.le - start) * (rank / count);
}

/**
 * One interval sample from two scrapes of the same process's cumulative counters: requests and
 * errors are the counters' increases (a counter reset counts from 0, see {@link counterIncrease}),
 * p99 the 0.99 quantile of the histogram's increase per bucket, in milliseconds (null when no
 * request was observed in between). RangeError when `after` was taken before `before`.
 */
export function sampleBetween(before: CounterSnapshot, after: CounterSnapshot): IntervalSample {
  const from = Date.parse(before.at);
  const to = Date.parse(after.at);
  if (!(to >= from)) {
    throw new RangeError(
      `the second scrape (${after.at}) was taken before the first (${before.at}); snapshots must be passed oldest first`,
    );
  }
  const earlier = new Map(before.buckets.map((b) => [b.le, b.count]));
  // One process restart resets every bucket at once: judged on the total (`+Inf`), so that a
  // restarted process whose low buckets already outgrew the old values is not taken for a
  // continuation of the old one.
  const total = (s: CounterSnapshot) => s.buckets.find((b) => b.le === Number.POSITIVE_INFINITY)?.count ?? 0;
  const restarted = total(after) < total(before);
  const buckets = after.buckets.map((b) => ({
    le: b.le,
    count: restarted ? b.count : counterIncrease(earlier.get(b.le) ?? 0, b.count),
  }));
  const p99 = histogramQuantile(0.99, buckets);
  return {
    start: before.at,
    end: after.at,
    requests: counterIncrease(before.requests, after.requests),
    errors: counterIncrease(before.errors, after.errors),
    p99Ms: p99 === null || !Number.isFinite(p99) ? null : p99 * 1000,
  };
}

// --- end metric arithmetic ---

/**
 * A scrape's counters as they travel through the workflow's JSON between rounds: JSON has no
 * Infinity, so the `+Inf` histogram bucket is the string '+Inf' there.
 */
export const counterSnapshotJsonSchema = z.object({
  at: z.string(),
  requests: z.number(),
  errors: z.number(),
  buckets: z.array(z.object({ le: z.number().or(z.literal('+Inf')), count: z.number() })),
});
/** A scrape's counters in the workflow's JSON. */
export type CounterSnapshotJson = z.infer<typeof counterSnapshotJsonSchema>;

/** The counters from their JSON form ('+Inf' back to Infinity). */
export function snapshotFromJson(s: CounterSnapshotJson): CounterSnapshot {
  return {
    ...s,
    buckets: s.buckets.map((b) => ({
      le: b.le === '+Inf' ? Number.POSITIVE_INFINITY : b.le,
      count: b.count,
    })),
  };
}

/** The counters in their JSON form (Infinity as '+Inf'). */
export function snapshotToJson(s: CounterSnapshot): CounterSnapshotJson {
  return {
    ...s,
    buckets: s.buckets.map((b) => ({ le: Number.isFinite(b.le) ? b.le : '+Inf', count: b.count })),
  };
}
