/**
 * The Metrics port on CloudWatch GetMetricData: the Sum of the request and 5xx counts and the p99
 * extended statistic of the latency, one datapoint per interval (Period = the interval), pages
 * followed through NextToken. Datapoints are put on the interval they start; an interval without
 * one is null (CloudWatch emits no datapoint where nothing was recorded), except 5xx while requests
 * were counted: an ALB publishes HTTPCode_Target_5XX_Count only when it is not zero, so that is 0.
 */
import {
  type CloudWatchClient,
  type Dimension,
  GetMetricDataCommand,
  type GetMetricDataCommandOutput,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import type { CloudWatchMetricsConfig } from '../../lib/config/metrics-schema.ts';
import { MetricsQueryError, TransientError } from '../core/errors.ts';
import type { IntervalSample, MetricsSource, ReleaseSelector, SampleQuery } from '../core/measurements.ts';
import { isTimeoutError, isTransientAwsError } from './transient.ts';

/** Most pages followed for one read (each page holds up to 100,800 datapoints: far more than a window). */
const MAX_PAGES = 20;
/** Most intervals one read asks for, 3 metrics each, within GetMetricData's 100,800 datapoints per call. */
export const MAX_CLOUDWATCH_INTERVALS = 33_600;

/** The client part the adapter uses (a CloudWatchClient; tests may hand in another `send`). */
export type CloudWatchSend = Pick<CloudWatchClient, 'send'>;

/** The query of one metric of the config for `release`. */
function metricQuery(
  id: string,
  metric: {
    readonly namespace: string;
    readonly name: string;
    readonly dimensions: Readonly<Record<string, string>>;
  },
  stat: string,
  period: number,
  release: ReleaseSelector | undefined,
  releaseDimension: string | undefined,
): MetricDataQuery {
  const dimensions: Dimension[] = Object.entries(metric.dimensions).map(([Name, Value]) => ({ Name, Value }));
  if (release && releaseDimension) dimensions.push({ Name: releaseDimension, Value: release.version });
  return {
    Id: id,
    MetricStat: {
      Metric: { Namespace: metric.namespace, MetricName: metric.name, Dimensions: dimensions },
      Period: period,
      Stat: stat,
    },
    ReturnData: true,
  };
}

/** A readable name of a query's metric, for errors. */
function describeQuery(q: MetricDataQuery): string {
  const m = q.MetricStat?.Metric;
  const dims = (m?.Dimensions ?? []).map((d) => `${d.Name}=${d.Value}`).join(',');
  return `${m?.Namespace}/${m?.MetricName}{${dims}} ${q.MetricStat?.Stat}`;
}

/**
 * The Metrics port on CloudWatch. `region` is named in errors only: the client carries it.
 * GetMetricData needs Period to be 60 s or a multiple (standard resolution), or 1, 5, 10, 30 s for
 * high-resolution metrics.
 */
export function cloudWatchMetrics(
  config: CloudWatchMetricsConfig,
  client: CloudWatchSend,
  region: string,
): MetricsSource {
  return {
    kind: 'history',
    async samples(query: SampleQuery): Promise<IntervalSample[]> {
      const step = query.stepSeconds;
      if (!(step > 0 && Number.isInteger(step))) {
        throw new RangeError(`stepSeconds must be a whole number of seconds for CloudWatch, got ${step}`);
      }
      const startMs = query.start.getTime();
      const stepMs = step * 1000;
      const count = Math.floor((query.end.getTime() - startMs) / stepMs);
      if (count <= 0) return [];
      if (count > MAX_CLOUDWATCH_INTERVALS) {
        throw new RangeError(`${count} intervals asked for; at most ${MAX_CLOUDWATCH_INTERVALS} per read`);
      }
      const queries = [
        metricQuery('requests', config.requests, 'Sum', step, query.release, config.releaseDimension),
        metricQuery('errors', config.errors, 'Sum', step, query.release, config.releaseDimension),
        metricQuery('p99', config.latencyP99, 'p99', step, query.release, config.releaseDimension),
      ];
      const columns: Record<string, (number | null)[]> = {
        requests: new Array(count).fill(null),
        errors: new Array(count).fill(null),
        p99: new Array(count).fill(null),
      };
      let nextToken: string | undefined;
      let pages = 0;
      do {
        let out: GetMetricDataCommandOutput;
        try {
          out = await client.send(
            new GetMetricDataCommand({
              MetricDataQueries: queries,
              StartTime: new Date(startMs),
              EndTime: new Date(startMs + count * stepMs),
              ScanBy: 'TimestampAscending',
              NextToken: nextToken,
            }),
            { abortSignal: AbortSignal.timeout(config.timeoutMs) },
          );
        } catch (err) {
          const what = `CloudWatch GetMetricData in ${region} (${queries.map(describeQuery).join('; ')})`;
          if (isTimeoutError(err)) {
            throw new TransientError(`${what} did not answer within ${config.timeoutMs} ms`, { cause: err });
          }
          if (isTransientAwsError(err)) {
            throw new TransientError(`${what} failed: ${(err as Error).message}`, { cause: err });
          }
          throw new MetricsQueryError(
            `${what} was refused: ${(err as Error).name}: ${(err as Error).message}`,
            { cause: err },
          );
        }
        for (const result of out.MetricDataResults ?? []) {
          const column = columns[result.Id ?? ''];
          if (!column) continue;
          if (result.StatusCode === 'Forbidden' || result.StatusCode === 'InternalError') {
            const q = queries.find((x) => x.Id === result.Id) as MetricDataQuery;
            const messages = (result.Messages ?? []).map((m) => `${m.Code}: ${m.Value}`).join('; ');
            const what = `CloudWatch GetMetricData in ${region} answered ${result.StatusCode} for ${describeQuery(q)}${messages ? ` (${messages})` : ''}`;
            throw result.StatusCode === 'InternalError'
              ? new TransientError(what)
              : new MetricsQueryError(what);
          }
          const timestamps = result.Timestamps ?? [];
          const values = result.Values ?? [];
          timestamps.forEach((ts, k) => {
            // A datapoint's timestamp is the start of its period; CloudWatch may align periods
            // differently from the window's start, so a point goes to the nearest interval start.
            const offset = new Date(ts).getTime() - startMs;
            const i = Math.round(offset / stepMs);
            const value = values[k];
            if (i < 0 || i >= count || Math.abs(offset - i * stepMs) >= stepMs / 2) return;
            column[i] = typeof value === 'number' && Number.isFinite(value) ? value : null;
          });
        }
        nextToken = out.NextToken;
        pages += 1;
      } while (nextToken && pages < MAX_PAGES);
      const toMs = config.latencyP99.unit === 'seconds' ? 1000 : 1;
      return Array.from({ length: count }, (_, i) => {
        const requests = columns.requests?.[i] ?? null;
        const p99 = columns.p99?.[i] ?? null;
        return {
          start: new Date(startMs + i * stepMs).toISOString(),
          end: new Date(startMs + (i + 1) * stepMs).toISOString(),
          requests,
          errors: columns.errors?.[i] ?? (requests !== null ? 0 : null),
          p99Ms: p99 === null ? null : p99 * toMs,
        };
      });
    },
  };
}
