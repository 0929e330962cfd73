/**
 * The CloudWatch adapter's reading of GetMetricData answers shaped as the CloudWatch API reference
 * documents them (MetricDataResult: Id, Label, Timestamps, Values, StatusCode Complete |
 * PartialData | Forbidden | InternalError, NextToken). The service itself is moto in the
 * integration tier (test/integration/metrics-cloudwatch-aws.test.ts); here the client's `send`
 * answers from a script and records the requests, so paging and alignment are pinned exactly.
 */
import type { GetMetricDataCommand, GetMetricDataCommandOutput } from '@aws-sdk/client-cloudwatch';
import { describe, expect, it } from 'vitest';
import { type CloudWatchSend, cloudWatchMetrics } from '../../lambdas/adapters/metrics-cloudwatch.ts';
import { MetricsQueryError, TransientError } from '../../lambdas/core/errors.ts';
import type { SampleQuery } from '../../lambdas/core/measurements.ts';
import { type CloudWatchMetricsConfig, metricsSchema } from '../../lib/config/metrics-schema.ts';

const LB = { LoadBalancer: 'app/buywhere-api-production/3c9e1a7b5d2f8e4a' };
const config = metricsSchema.parse({
  provider: 'cloudwatch',
  requests: { dimensions: LB },
  errors: { dimensions: LB },
  latencyP99: { dimensions: LB },
}) as CloudWatchMetricsConfig;
const T0 = Date.parse('2026-12-03T10:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);
const query: SampleQuery = { start: at(0), end: at(3), stepSeconds: 60, release: { version: 'v1.2.3' } };

function scripted(pages: Partial<GetMetricDataCommandOutput>[] | Error) {
  const sent: GetMetricDataCommand[] = [];
  const client = {
    send: async (command: GetMetricDataCommand) => {
      sent.push(command);
      if (pages instanceof Error) throw pages;
      return { $metadata: {}, ...pages[sent.length - 1] } as GetMetricDataCommandOutput;
    },
  } as unknown as CloudWatchSend;
  return { client, sent };
}

async function samples(source: ReturnType<typeof cloudWatchMetrics>, q: SampleQuery = query) {
  if (source.kind !== 'history') throw new Error('history');
  return source.samples(q);
}

describe('CloudWatch adapter', () => {
  it('reads Sum of requests and 5xx and p99 latency per interval, following NextToken, in milliseconds', async () => {
    const { client, sent } = scripted([
      {
        MetricDataResults: [
          {
            Id: 'requests',
            Label: 'RequestCount',
            Timestamps: [at(0), at(1)],
            Values: [1800, 1750],
            StatusCode: 'PartialData',
          },
          {
            Id: 'errors',
            Label: 'HTTPCode_Target_5XX_Count',
            Timestamps: [at(0)],
            Values: [9],
            StatusCode: 'PartialData',
          },
          {
            Id: 'p99',
            Label: 'TargetResponseTime',
            Timestamps: [at(0), at(1)],
            Values: [0.31, 0.295],
            StatusCode: 'PartialData',
          },
        ],
        NextToken: 'page-2',
      },
      {
        MetricDataResults: [
          { Id: 'requests', Timestamps: [at(2)], Values: [1790], StatusCode: 'Complete' },
          { Id: 'errors', Timestamps: [], Values: [], StatusCode: 'Complete' },
          { Id: 'p99', Timestamps: [at(2)], Values: [0.4], StatusCode: 'Complete' },
        ],
      },
    ]);
    const out = await samples(cloudWatchMetrics(config, client, 'ap-southeast-1'));
    expect(out.map((s) => [s.start, s.requests, s.errors, s.p99Ms])).toEqual([
      ['2026-12-03T10:00:00.000Z', 1800, 9, 310],
      // The ALB publishes no 5xx datapoint for a minute without one: 0, since requests were counted.
      ['2026-12-03T10:01:00.000Z', 1750, 0, 295],
      ['2026-12-03T10:02:00.000Z', 1790, 0, 400],
    ]);
    expect(sent).toHaveLength(2);
    expect(sent[1]?.input.NextToken).toBe('page-2');
    const input = sent[0]?.input;
    expect(input).toMatchObject({ StartTime: at(0), EndTime: at(3), ScanBy: 'TimestampAscending' });
    expect(input?.MetricDataQueries?.map((q) => [q.Id, q.MetricStat?.Stat, q.MetricStat?.Period])).toEqual([
      ['requests', 'Sum', 60],
      ['errors', 'Sum', 60],
      ['p99', 'p99', 60],
    ]);
    // No releaseDimension: the load balancer's series, whatever release serves it.
    expect(input?.MetricDataQueries?.[0]?.MetricStat?.Metric?.Dimensions).toEqual([
      { Name: 'LoadBalancer', Value: LB.LoadBalancer },
    ]);
  });

  it('leaves intervals without datapoints null and puts misaligned datapoints on the nearest interval', async () => {
    const { client } = scripted([
      {
        MetricDataResults: [
          { Id: 'requests', Timestamps: [new Date(T0 + 5_000)], Values: [40], StatusCode: 'Complete' },
          { Id: 'errors', Timestamps: [], Values: [], StatusCode: 'Complete' },
          { Id: 'p99', Timestamps: [], Values: [], StatusCode: 'Complete' },
        ],
      },
    ]);
    const out = await samples(cloudWatchMetrics(config, client, 'ap-southeast-1'));
    expect(out.map((s) => [s.requests, s.errors, s.p99Ms])).toEqual([
      [40, 0, null],
      [null, null, null],
      [null, null, null],
    ]);
  });

  it('selects the release with releaseDimension and takes milliseconds as they are', async () => {
    const { client, sent } = scripted([
      { MetricDataResults: [{ Id: 'p99', Timestamps: [at(0)], Values: [287], StatusCode: 'Complete' }] },
    ]);
    const cfg = {
      ...config,
      releaseDimension: 'Version',
      latencyP99: { ...config.latencyP99, unit: 'milliseconds' as const },
    };
    const out = await samples(cloudWatchMetrics(cfg, client, 'ap-southeast-1'), { ...query, end: at(1) });
    expect(out[0]?.p99Ms).toBe(287);
    expect(sent[0]?.input.MetricDataQueries?.[2]?.MetricStat?.Metric?.Dimensions).toEqual([
      { Name: 'LoadBalancer', Value: LB.LoadBalancer },
      { Name: 'Version', Value: 'v1.2.3' },
    ]);
  });

  it('fails naming the metric when CloudWatch answers Forbidden, and retries on InternalError', async () => {
    const forbidden = scripted([
      {
        MetricDataResults: [
          {
            Id: 'requests',
            StatusCode: 'Forbidden',
            Messages: [{ Code: 'Forbidden', Value: 'cross-account access denied' }],
          },
        ],
      },
    ]);
    await expect(samples(cloudWatchMetrics(config, forbidden.client, 'ap-southeast-1'))).rejects.toThrow(
      /Forbidden for AWS\/ApplicationELB\/RequestCount\{LoadBalancer=app\/buywhere-api-production\/3c9e1a7b5d2f8e4a\} Sum \(Forbidden: cross-account access denied\)/,
    );
    const internal = scripted([{ MetricDataResults: [{ Id: 'p99', StatusCode: 'InternalError' }] }]);
    await expect(
      samples(cloudWatchMetrics(config, internal.client, 'ap-southeast-1')),
    ).rejects.toBeInstanceOf(TransientError);
  });

  it('fails without retrying when the role may not call GetMetricData, and retries on throttling', async () => {
    const denied = Object.assign(new Error('User is not authorized to perform: cloudwatch:GetMetricData'), {
      name: 'AccessDenied',
      $fault: 'client',
      $metadata: { httpStatusCode: 403 },
    });
    const err = await samples(cloudWatchMetrics(config, scripted(denied).client, 'ap-southeast-1')).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MetricsQueryError);
    expect((err as Error).message).toMatch(/in ap-southeast-1 .* was refused: AccessDenied/);
    const throttled = Object.assign(new Error('Rate exceeded'), {
      name: 'Throttling',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
    });
    await expect(
      samples(cloudWatchMetrics(config, scripted(throttled).client, 'ap-southeast-1')),
    ).rejects.toBeInstanceOf(TransientError);
  });

  it('refuses an interval that is not a whole number of seconds', async () => {
    const { client } = scripted([]);
    await expect(
      samples(cloudWatchMetrics(config, client, 'r'), { ...query, stepSeconds: 0.5 }),
    ).rejects.toThrow(RangeError);
  });
});
