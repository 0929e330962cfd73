import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { HealthCheckFailedError, InvalidInputError } from '../../lambdas/core/errors.ts';
import { parseConfigSlice, RuntimeEnvError } from '../../lambdas/core/runtime-env.ts';
import { step as executionEnded } from '../../lambdas/execution-ended/handler.ts';
import { step as healthCheck, handler as healthCheckHandler } from '../../lambdas/health-check/handler.ts';
import { handler as preflightHandler } from '../../lambdas/preflight/handler.ts';
import { lambdaHandler } from '../../lambdas/shared/lambda.ts';
import { configKeysOf, configSlice, MissingPortError, portsOf } from '../../lambdas/shared/wiring.ts';
import { STEP_IDS } from '../../lambdas/steps.ts';
import { loadConfig } from '../../lib/config/load.ts';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';

function environment(name: string): EnvironmentConfig {
  const env = loadConfig().environments[name];
  if (!env) throw new Error(`config/environments.yaml has no environment '${name}'`);
  return env;
}

const staging = environment('staging');
/** The same environment on a platform this guardian does not drive yet. */
/** An environment on a platform the guardian does not know (a config built around the loader). */
const stagingOnNomad: EnvironmentConfig = { ...staging, platform: 'nomad' as EnvironmentConfig['platform'] };

/** A stand-in for the staging API: healthy until `api.degraded` is set. */
const api = { degraded: false, paths: [] as string[], userAgents: new Set<string>() };
let server: Server;
let apiUrl: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    api.paths.push(req.url ?? '');
    api.userAgents.add(req.headers['user-agent'] ?? '');
    const json = (body: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/health') {
      json({
        status: api.degraded ? 'degraded' : 'ok',
        database: 'connected',
        redis: 'connected',
        pgbouncer: 'connected',
        pool: { size: 20, active: 2, idle: 18, waiting: 0 },
        pgbouncer_pool: { cl_waiting: 0, maxwait_seconds: 0 },
      });
    } else if (req.url === '/ready') json({ ready: true });
    else if (req.url === '/metrics') res.end('# HELP up 1\nup 1\n');
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

beforeEach(() => {
  // No AWS credentials and no instance metadata: the startup read fails at once, without a network call.
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'])
    vi.stubEnv(name, undefined);
  vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
  vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/aws-config');
  vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent/aws-credentials');
});

/**
 * How a health check ends here when the API is fine: every API check passes and the startup check,
 * reading the pods through the workload port's EKS adapter, fails for want of AWS credentials.
 */
const STARTUP_UNREADABLE =
  /: 1 of 11 health checks failed: Startup time: pod startup times could not be read: Could not load credentials/;

afterEach(() => {
  vi.unstubAllEnvs();
  api.degraded = false;
  api.paths = [];
});

/** The health-check function's slice as the bundler bakes it, pointing at the local API. */
function healthSlice(): string {
  return JSON.stringify(configSlice('health-check', { ...staging, apiUrl }));
}

const event = {
  target: {
    environment: 'staging',
    workload: 'deployment "staging/buywhere-api"',
    expectedImage: 'ghcr.io/buywhere/buywhere-api:v1.2.3',
    rolloutDeadlineAt: '2026-05-01T00:10:00.000Z',
  },
};

describe('lambdaHandler', () => {
  it('names the step it runs', () => {
    expect(healthCheckHandler.step).toBe('health-check');
    expect(preflightHandler.step).toBe('preflight');
    expect(lambdaHandler(executionEnded).step).toBe('execution-ended');
  });

  it('runs the health-check step against a real HTTP server with only its config slice and no variables, reading startup times through its workload port', async () => {
    const handler = lambdaHandler(healthCheck, { config: healthSlice(), vars: {} });
    const err = await handler(event).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HealthCheckFailedError);
    expect((err as Error).message.startsWith(`${apiUrl}: `)).toBe(true);
    expect((err as Error).message).toMatch(STARTUP_UNREADABLE);
    expect(api.paths.sort()).toEqual(['/health', '/metrics', '/ready']);
    expect([...api.userAgents]).toEqual(['deployment-guardian']);
  });

  it('fails the health check with HealthCheckFailedError naming the API and the failed field', async () => {
    api.degraded = true;
    const handler = lambdaHandler(healthCheck, { config: healthSlice(), vars: {} });
    const err = await handler(event).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HealthCheckFailedError);
    expect((err as Error).message).toMatch(
      `${apiUrl}: 2 of 11 health checks failed: /health status: field status is "degraded", expected "ok"; Startup time: `,
    );
  });

  it('rejects an invalid event with the field path', async () => {
    const handler = lambdaHandler(healthCheck, { config: healthSlice(), vars: {} });
    const err = await handler({ target: { ...event.target, rolloutDeadlineAt: 'soon' } }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toMatch(/^invalid health-check event: target\.rolloutDeadlineAt: /);
    expect(api.paths).toEqual([]);
  });

  it('names GUARDIAN_ENV_CONFIG on every invocation while the slice is missing, and runs once it is there', async () => {
    vi.stubEnv('GUARDIAN_ENV_CONFIG', undefined);
    const handler = lambdaHandler(healthCheck, { vars: {} });
    for (let i = 0; i < 2; i++) {
      const err = await handler(event).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RuntimeEnvError);
      expect((err as Error).message).toMatch(/^GUARDIAN_ENV_CONFIG is not set/);
    }
    expect(api.paths).toEqual([]);
    vi.stubEnv('GUARDIAN_ENV_CONFIG', healthSlice());
    await expect(handler(event)).rejects.toThrow(STARTUP_UNREADABLE);
    expect(api.paths).toHaveLength(3);
  });

  it('keeps the ports and config it built for later invocations in the same container', async () => {
    vi.stubEnv('GUARDIAN_ENV_CONFIG', healthSlice());
    const handler = lambdaHandler(healthCheck, { vars: {} });
    await expect(handler(event)).rejects.toThrow(STARTUP_UNREADABLE);
    vi.stubEnv('GUARDIAN_ENV_CONFIG', '{oops');
    await expect(handler(event)).rejects.toThrow(STARTUP_UNREADABLE);
    expect(api.paths).toHaveLength(6);
  });

  it.each([
    ['not JSON', '{oops', /^GUARDIAN_ENV_CONFIG is not JSON: /],
    ['missing a key of the slice', JSON.stringify({ name: 'staging', platform: 'kubernetes' }), /apiUrl: /],
    // The whole environment is more than the health check's slice: the bundler never bakes that.
    ['wider than the slice', JSON.stringify(staging), /^GUARDIAN_ENV_CONFIG is invalid: .*"rollout"/],
    ['without the base keys', JSON.stringify({ apiUrl, healthCheck: staging.healthCheck }), /name: /],
  ])('names GUARDIAN_ENV_CONFIG on every invocation when the slice is %s', async (_what, config, message) => {
    const handler = lambdaHandler(healthCheck, { config, vars: {} });
    for (let i = 0; i < 2; i++) {
      const err = await handler(event).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RuntimeEnvError);
      expect((err as Error).message).toMatch(/GUARDIAN_ENV_CONFIG/);
      expect((err as Error).message).toMatch(message);
    }
    expect(api.paths).toEqual([]);
  });

  it.each([
    ['DEPLOYMENTS_TABLE', {}],
    ['CONTROL_TABLE', { DEPLOYMENTS_TABLE: 'guardian-staging-deployments' }],
    ['DEPLOYMENTS_TABLE', { DEPLOYMENTS_TABLE: ' ', CONTROL_TABLE: 'guardian-staging-control' }],
  ])('names %s when the store port lacks its table variable (%j)', async (name, vars) => {
    const config = JSON.stringify(configSlice('execution-ended', staging));
    const handler = lambdaHandler(executionEnded, { config, vars });
    for (let i = 0; i < 2; i++) {
      const err = await handler({}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RuntimeEnvError);
      expect((err as Error).message).toBe(
        `environment variable ${name} is not set; the stack sets it on every function with the store port`,
      );
    }
  });

  it('refuses to run a step whose port was left out of its bundle, naming the step and the port', async () => {
    vi.stubEnv('GUARDIAN_PORT_HTTP', 'off');
    const handler = lambdaHandler(healthCheck, { config: healthSlice(), vars: {} });
    const err = await handler(event).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingPortError);
    expect((err as Error).message).toMatch(
      /^step health-check uses the http port, but its function was bundled without it/,
    );
    expect(api.paths).toEqual([]);
  });
});

describe('wiring', () => {
  it("gives the health check exactly its slice: name, platform, apiUrl, argo, healthCheck and the workload port's placement", () => {
    expect(configKeysOf('health-check', staging)).toEqual([
      'apiUrl',
      'argo',
      'cluster',
      'container',
      'healthCheck',
      'name',
      'namespace',
      'platform',
      'region',
      'workload',
    ]);
    expect(configSlice('health-check', staging)).toEqual({
      name: 'staging',
      platform: 'kubernetes',
      apiUrl: staging.apiUrl,
      healthCheck: staging.healthCheck,
      cluster: staging.cluster,
      region: staging.region,
      namespace: staging.namespace,
      workload: staging.workload,
      container: staging.container,
    });
  });

  it("adds the kubernetes workload port's keys to preflight's own", () => {
    const keys = configKeysOf('preflight', staging);
    expect(keys).toEqual(expect.arrayContaining(['cluster', 'region', 'namespace', 'workload', 'container']));
    expect(keys).toEqual(
      expect.arrayContaining(['name', 'platform', 'image', 'requireVersionTag', 'changeFreezes', 'lock']),
    );
    expect(keys).toEqual([...keys].sort());
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('keeps the cluster out of functions without the workload port', () => {
    for (const step of [
      'monitor-round',
      'record-deployment',
      'rollback-finish',
      'execution-ended',
    ] as const) {
      expect(configKeysOf(step, staging), step).not.toContain('cluster');
    }
    expect(configKeysOf('execution-ended', staging)).toEqual(['name', 'platform']);
  });

  it('resolves each step to exactly its ports, the workload port to its platform', () => {
    expect(portsOf('health-check', staging).map(([name]) => name)).toEqual(['http', 'workload']);
    expect(portsOf('monitor-round', staging).map(([name]) => name)).toEqual(['http', 'measurements']);
    expect(portsOf('canary-round', staging).map(([name]) => name)).toEqual([
      'store',
      'measurements',
      'workflows',
    ]);
    expect(portsOf('execution-ended', staging).map(([name]) => name)).toEqual(['store', 'workflows']);
    const preflight = portsOf('preflight', staging);
    expect(preflight.map(([name]) => name)).toEqual(['store', 'workload', 'alarms']);
    expect(preflight[1]?.[1]).toMatchObject({
      flag: 'GUARDIAN_PORT_WORKLOAD_KUBERNETES',
      config: ['cluster', 'region', 'namespace', 'workload', 'container'],
    });
  });

  it('refuses an environment on a platform that is not built yet, naming the platform', () => {
    for (const step of [
      'preflight',
      'set-image',
      'rollout-status',
      'rollback-prepare',
      'rollback-apply',
      'health-check',
    ] as const) {
      expect(() => portsOf(step, stagingOnNomad), step).toThrow(RuntimeEnvError);
      expect(() => configKeysOf(step, stagingOnNomad), step).toThrow(
        "environment 'staging' runs on platform 'nomad', which this guardian cannot drive yet (it drives: kubernetes, argo-rollouts, ecs)",
      );
    }
  });

  it('still wires steps that never touch the workload on such a platform', () => {
    expect(portsOf('monitor-round', stagingOnNomad).map(([name]) => name)).toEqual(['http', 'measurements']);
    expect(configSlice('execution-ended', stagingOnNomad)).toEqual({
      name: 'staging',
      platform: 'nomad',
    });
  });

  it.each(STEP_IDS)("bakes a slice that the %s handler's exact parse accepts unchanged", (step) => {
    const keys = configKeysOf(step, staging);
    const slice = configSlice(step, staging);
    expect(Object.keys(slice).sort()).toEqual(keys);
    expect(parseConfigSlice(JSON.stringify(slice), keys)).toEqual(slice);
  });
});
