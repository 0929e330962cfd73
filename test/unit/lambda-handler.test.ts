import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import type { Store } from '../../lambdas/core/ports.ts';
import { RuntimeEnvError, type RuntimeEnvWithTables } from '../../lambdas/core/runtime-env.ts';
import { lambdaHandler, MissingPortError } from '../../lambdas/shared/lambda.ts';
import { defineStep } from '../../lambdas/shared/step.ts';
import { loadConfig } from '../../lib/config/load.ts';

const staging = loadConfig().environments.staging;
const configOnly = { GUARDIAN_ENV_CONFIG: JSON.stringify(staging) };
const withTables = { ...configOnly, DEPLOYMENTS_TABLE: 'deployments', CONTROL_TABLE: 'control' };

const usesStore = defineStep('probe-store', z.object({}), async (_e, deps) => deps.store.getLock('staging'));
const usesCluster = defineStep('probe-cluster', z.object({}), async (_e, deps) => deps.cluster());
const usesConfig = defineStep('probe-config', z.object({ n: z.number() }), async (e, deps) => ({
  env: deps.config.name,
  n: e.n,
}));

describe('lambdaHandler', () => {
  it('runs a step without ports on the config alone', async () => {
    const handler = lambdaHandler(usesConfig, {}, configOnly);
    await expect(handler({ n: 3 })).resolves.toEqual({ env: 'staging', n: 3 });
    expect(handler.ports).toEqual({ store: false, cluster: false });
  });

  it('refuses a store call of a step wired without a store, naming the step and the call', async () => {
    const handler = lambdaHandler(usesStore, {}, withTables);
    const err = await handler({}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingPortError);
    expect((err as Error).message).toMatch(/^step probe-store has no store access \(called getLock\)/);
  });

  it('refuses the cluster to a step wired without one, naming the step', async () => {
    const handler = lambdaHandler(usesCluster, {}, configOnly);
    await expect(handler({})).rejects.toThrow(/^step probe-cluster has no cluster access/);
  });

  it('names the missing table variable of a step wired with a store', async () => {
    const handler = lambdaHandler(usesStore, { store: () => ({}) as Store }, configOnly);
    const err = await handler({}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeEnvError);
    expect((err as Error).message).toMatch(/DEPLOYMENTS_TABLE is not set/);
  });

  it('builds the ports once per container from the function environment', async () => {
    const seen: RuntimeEnvWithTables[] = [];
    let clusters = 0;
    const store = { getLock: async () => undefined } as unknown as Store;
    const handler = lambdaHandler(
      usesStore,
      {
        store: (env) => {
          seen.push(env);
          return store;
        },
        cluster: () => {
          clusters++;
          return async () => {
            throw new Error('not used');
          };
        },
      },
      withTables,
    );
    await handler({});
    await handler({});
    expect(seen).toEqual([{ config: staging, deploymentsTable: 'deployments', controlTable: 'control' }]);
    expect(clusters).toBe(1);
    expect(handler.ports).toEqual({ store: true, cluster: true });
  });

  it('rejects an invalid event with the field path', async () => {
    const handler = lambdaHandler(usesConfig, {}, configOnly);
    await expect(handler({ n: 'x' })).rejects.toThrow(/invalid probe-config event: n: /);
  });
});
