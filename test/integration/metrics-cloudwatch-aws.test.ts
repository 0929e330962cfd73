/**
 * The metrics port's CloudWatch adapter, built by the port table's AWS factory exactly as in
 * Lambda, against moto server: datapoints put with PutMetricData (as an ALB publishes them, per
 * minute) are read back with GetMetricData as interval samples. Moto gaps: it computes no extended
 * statistics (a p99 query over a period with data makes it answer 500, so no latency is put and
 * p99Ms is null here; p99 and its unit conversion are pinned by test/unit/metrics-cloudwatch.test.ts)
 * and it never pages (no NextToken).
 */
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetricsSource } from '../../lambdas/core/measurements.ts';
import { PORTS } from '../../lambdas/ports/table.ts';
import { loadConfig } from '../../lib/config/load.ts';
import { metricsSchema } from '../../lib/config/metrics-schema.ts';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';
import { SimulatedClock } from '../../lib/local/clock.ts';
import { type Moto, startMoto, useMotoEnvironment } from '../helpers/moto.ts';

const REGION = 'ap-southeast-1';
const LB = { LoadBalancer: 'app/buywhere-api-production/3c9e1a7b5d2f8e4a' };
let moto: Moto | undefined;
let endpoint = '';
let restoreEnv: () => void = () => undefined;

beforeAll(async () => {
  moto = await startMoto();
  endpoint = moto.endpoint;
  // The client the factory builds (`new CloudWatchClient({ region })`) finds moto through these.
  restoreEnv = useMotoEnvironment(endpoint, REGION);
});

afterAll(() => {
  restoreEnv();
  moto?.stop();
});

const prod = loadConfig().environments.production as EnvironmentConfig;
const env = {
  ...prod,
  metrics: metricsSchema.parse({
    provider: 'cloudwatch',
    requests: { dimensions: LB },
    errors: { dimensions: LB },
    latencyP99: { dimensions: LB },
  }),
} as EnvironmentConfig;

describe('metrics port on CloudWatch GetMetricData (moto)', () => {
  it('reads per-minute request and 5xx sums back as interval samples, gaps as null', async () => {
    const cw = new CloudWatchClient({ region: REGION, endpoint });
    // Whole minutes, an hour ago: an ALB publishes one datapoint per metric per minute.
    const t0 = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;
    const minute = (i: number, s = 0) => new Date(t0 + i * 60_000 + s * 1000);
    const put = (name: string, points: [Date, number][], unit: 'Count' | 'Seconds') =>
      cw.send(
        new PutMetricDataCommand({
          Namespace: 'AWS/ApplicationELB',
          MetricData: points.map(([Timestamp, Value]) => ({
            MetricName: name,
            Dimensions: [{ Name: 'LoadBalancer', Value: LB.LoadBalancer }],
            Timestamp,
            Value,
            Unit: unit,
          })),
        }),
      );
    // Two datapoints inside minute 0 add up (Sum); minute 2 has no traffic at all; the 5xx
    // metric has a datapoint in minute 0 only, as an ALB publishes it only when it is not zero.
    await put(
      'RequestCount',
      [
        [minute(0, 5), 1000],
        [minute(0, 35), 800],
        [minute(1, 10), 1750],
        [minute(3, 0), 1790],
      ],
      'Count',
    );
    await put('HTTPCode_Target_5XX_Count', [[minute(0, 20), 9]], 'Count');
    // Moto gap: no latency datapoints. Moto 5.2.5 computes no extended statistic (p99) and fails
    // the whole GetMetricData with a 500 when a period of a p99 query has data (it serialises None).
    // With none, the p99 column is empty, as for an ALB that served nothing.

    const source = (await PORTS.measurements.aws({
      config: env,
      vars: {},
      clock: new SimulatedClock(),
    })) as MetricsSource;
    if (source.kind !== 'history') throw new Error('CloudWatch keeps history');
    const out = await source.samples({ start: minute(0), end: minute(4), stepSeconds: 60 });
    expect(out.map((s) => [s.start, s.requests, s.errors])).toEqual([
      [minute(0).toISOString(), 1800, 9],
      [minute(1).toISOString(), 1750, 0],
      [minute(2).toISOString(), null, null],
      [minute(3).toISOString(), 1790, 0],
    ]);
    expect(out.every((s) => s.p99Ms === null)).toBe(true);
  });

  it('selects nothing of another load balancer', async () => {
    const other = {
      ...env,
      metrics: metricsSchema.parse({
        provider: 'cloudwatch',
        requests: { dimensions: { LoadBalancer: 'app/other/0000000000000000' } },
        errors: { dimensions: { LoadBalancer: 'app/other/0000000000000000' } },
        latencyP99: { dimensions: { LoadBalancer: 'app/other/0000000000000000' } },
      }),
    } as EnvironmentConfig;
    const source = (await PORTS.measurements.aws({
      config: other,
      vars: {},
      clock: new SimulatedClock(),
    })) as MetricsSource;
    if (source.kind !== 'history') throw new Error('history');
    const t0 = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;
    const out = await source.samples({ start: new Date(t0), end: new Date(t0 + 120_000), stepSeconds: 60 });
    expect(out.map((s) => s.requests)).toEqual([null, null]);
  });
});
