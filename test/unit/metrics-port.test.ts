/**
 * The metrics port's entry in the port table: the IAM it asks for per provider, and the adapter
 * its factories build from the environment's `metrics` block (config as loaded, plus the block).
 */
import { describe, expect, it } from 'vitest';
import { PORTS, type StackResources } from '../../lambdas/ports/table.ts';
import { loadConfig } from '../../lib/config/load.ts';
import { metricsSchema } from '../../lib/config/metrics-schema.ts';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';
import { SimulatedClock } from '../../lib/local/clock.ts';

const prod = loadConfig().environments.production as EnvironmentConfig;
const withMetrics = (metrics: unknown) =>
  ({ ...prod, metrics: metricsSchema.parse(metrics) }) as EnvironmentConfig;
const resources = {
  arn: (service: string, resource: string, name: string, sep = '/') =>
    `arn:aws:${service}:ap-southeast-1:123456789012:${resource}${sep}${name}`,
} as unknown as StackResources;
const LB = { LoadBalancer: 'app/buywhere-api-production/3c9e1a7b5d2f8e4a' };

describe('metrics port', () => {
  it('grants GetMetricData on * for CloudWatch (no resource-level permissions) and nothing else', () => {
    const env = withMetrics({
      provider: 'cloudwatch',
      requests: { dimensions: LB },
      errors: { dimensions: LB },
      latencyP99: { dimensions: LB },
    });
    expect(PORTS.measurements.grants?.(resources, env)).toEqual([
      { actions: ['cloudwatch:GetMetricData'], resources: ['*'] },
    ]);
  });

  it("grants reading the Prometheus bearer token's secret only, and nothing for a scrape", () => {
    const env = withMetrics({
      provider: 'prometheus',
      url: 'https://prometheus.internal.buywhere.io',
      bearerTokenSecret: 'guardian/production/prometheus-token',
    });
    expect(PORTS.measurements.grants?.(resources, env)).toEqual([
      {
        actions: ['secretsmanager:GetSecretValue'],
        resources: [
          'arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:guardian/production/prometheus-token-??????',
        ],
      },
    ]);
    expect(
      PORTS.measurements.grants?.(resources, withMetrics({ provider: 'prometheus', url: 'http://p:9090' })),
    ).toEqual([]);
    expect(PORTS.measurements.grants?.(resources, withMetrics({ provider: 'scrape' }))).toEqual([]);
  });

  it("builds the configured provider's adapter locally, and refuses an environment without a metrics block", async () => {
    const clock = new SimulatedClock();
    const local = { clock } as never;
    const scrape = await PORTS.measurements.local(
      { config: withMetrics({ provider: 'scrape' }), vars: {}, clock },
      local,
    );
    expect(scrape?.kind).toBe('scrape');
    const prom = await PORTS.measurements.local(
      { config: withMetrics({ provider: 'prometheus', url: 'http://127.0.0.1:9' }), vars: {}, clock },
      local,
    );
    expect(prom?.kind).toBe('history');
    // Whatever the shipped config says: an environment without the block.
    const { metrics: _none, ...bare } = prod as EnvironmentConfig & { metrics?: unknown };
    await expect(
      PORTS.measurements.local({ config: bare as EnvironmentConfig, vars: {}, clock }, local),
    ).rejects.toThrow(/environment 'production' has no metrics block/);
    expect(PORTS.measurements.config).toEqual(['metrics', 'apiUrl', 'argo']);
  });
});
