/**
 * Argo Rollouts blue-green (issue 11) executed locally end to end: the synthesized state
 * machines of the shipped config's production-argo environment, the real steps, dynalite, the
 * cluster simulator's Rollout kind (driven through the same Argo Rollouts API client the Lambda
 * uses) and two demo APIs, one behind the active Service and one behind the preview Service, so
 * the health check and the canary judge see each side separately.
 */
import { randomUUID } from 'node:crypto';
import fetch from 'node-fetch';
import { afterEach, describe, expect, it } from 'vitest';
import type { RolloutsPort } from '../../lambdas/adapters/rollouts.ts';
import type { AlarmHandlerResult } from '../../lambdas/alarm-handler/handler.ts';
import type { DeploymentRecord } from '../../lambdas/core/types.ts';
import { loadConfig } from '../../lib/config/load.ts';
import type { EnvironmentConfig, GuardianConfig } from '../../lib/config/schema.ts';
import type { LocalExecutionResult } from '../../lib/local/executor.ts';
import { LocalGuardian } from '../../lib/local/guardian.ts';
import { rolloutServices } from '../../lib/local/seed.ts';
import { alarmFixture } from '../helpers/alarm-events.ts';

const ENV = 'production-argo';
const REPO = 'ghcr.io/buywhere/buywhere-api';
const STABLE = `${REPO}:v1.4.2`;
let guardian: LocalGuardian | undefined;

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };

/** The shipped config with production-argo changed by `edit` (no backup: tested with ECS). */
function argoWith(edit: (env: Mutable<EnvironmentConfig>) => void = () => undefined): GuardianConfig {
  const config = structuredClone(loadConfig()) as Mutable<GuardianConfig>;
  const env = config.environments[ENV];
  if (!env) throw new Error(`config/environments.yaml has no ${ENV} environment`);
  env.backup.database = 'none';
  env.changeFreezes = [];
  // The local images carry their behaviour in a pre-release suffix (v1.6.0-errors), which
  // production's version rule refuses.
  env.requireVersionTag = false;
  edit(env);
  return config as GuardianConfig;
}

async function start(
  config: GuardianConfig = argoWith(),
  onEvent?: (e: import('../../lib/local/executor.ts').LocalEvent) => void,
): Promise<LocalGuardian> {
  guardian = await LocalGuardian.start({
    config,
    seedImages: { [ENV]: STABLE },
    startTime: new Date('2026-11-20T02:00:00Z'), // 10:00 in Singapore, a Friday
    ...(onEvent ? { onEvent } : {}),
  });
  return guardian;
}

/** A real-format HighErrorRate ALARM of the environment at `at`. */
function highErrorRate(at: Date): Record<string, unknown> {
  const e = alarmFixture('guardian-high-error-rate-alarm');
  const alarmName = `guardian-${ENV}-HighErrorRate`;
  const detail = e.detail as Record<string, Record<string, unknown>>;
  e.id = randomUUID();
  e.time = at.toISOString().replace(/\.\d+Z$/, 'Z');
  e.resources = [`arn:aws:cloudwatch:ap-southeast-1:123456789012:alarm:${alarmName}`];
  (detail as Record<string, unknown>).alarmName = alarmName;
  detail.alarmTags = { environment: ENV, service: 'buywhere-api-bluegreen', severity: 'critical' };
  detail.state = {
    ...detail.state,
    value: 'ALARM',
    timestamp: at.toISOString().replace('Z', '+0000'),
    reason: 'HighErrorRate crossed its threshold',
  };
  detail.previousState = { ...detail.previousState, value: 'OK' };
  return e;
}

afterEach(async () => {
  await guardian?.close();
  guardian = undefined;
});

const deploy = (g: LocalGuardian, image: string) =>
  g.deploy({ environment: ENV, image, trigger: 'ci', requestedBy: 'github-actions' });

function statesOf(result: LocalExecutionResult): string[] {
  return result.events
    .filter((e) => e.type === 'StateEntered' && e.execution === result.name)
    .map((e) => e.state ?? '');
}

async function recordOf(g: LocalGuardian, id: string): Promise<DeploymentRecord> {
  const record = await g.store(ENV).getRecord(ENV, id);
  if (!record) throw new Error(`no record of ${id}`);
  return record;
}

/** The Rollout's namespace and name, and the Rollouts API of the simulator. */
async function rolloutOf(g: LocalGuardian): Promise<{ api: RolloutsPort; ns: string; name: string }> {
  const env = g.environment(ENV);
  return { api: await g.rollouts(), ns: env.namespace as string, name: env.workload };
}

describe('a blue-green Argo Rollout, end to end', () => {
  it('previews, health-checks and analyses the release against stable, then promotes and monitors it', async () => {
    const g = await start();
    const result = await deploy(g, `${REPO}:v1.5.0`);
    expect(result.status, result.cause).toBe('SUCCEEDED');
    const states = statesOf(result);
    const order = [
      'Set Rollout image',
      'Check preview status',
      'Health check preview',
      'Canary round',
      'Promote',
      'Check promotion status',
      'Enhanced health check',
      'Monitoring round',
      'Record deployment',
    ];
    for (const s of order) expect(states, s).toContain(s);
    const at = order.map((s) => states.indexOf(s));
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(states).not.toContain('Capture metrics baseline');

    const after = await g.observeWorkload(ENV);
    expect(after).toMatchObject({ platform: 'argo-rollouts', image: `${REPO}:v1.5.0` });
    expect(after.blueGreen).toMatchObject({ stage: 'stable', stable: { image: `${REPO}:v1.5.0` } });
    const record = await recordOf(g, result.name);
    expect(record.status).toBe('succeeded');
    expect(record.rollbackPoint).toMatchObject({ platform: 'argo-rollouts', image: STABLE });
    // The preview was judged against stable measured over the same window, each side on its own API.
    expect(record.canary?.outcome).toBe('pass');
    expect(record.canary?.samples?.baselineVersion).toBe('v1.4.2');
    const requests = (xs: readonly { requests: number | null }[] | undefined) =>
      (xs ?? []).reduce((n, x) => n + (x.requests ?? 0), 0);
    expect(requests(record.canary?.samples?.baseline)).toBeGreaterThan(1000);
    expect(requests(record.canary?.samples?.canary)).toBeGreaterThan(1000);
  });

  it('stops a preview serving more 5xx before promotion: the active Service never serves it and the template goes back to stable', async () => {
    const g = await start();
    const result = await deploy(g, `${REPO}:v1.6.0-errors`);
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('DeploymentRolledBack');
    const states = statesOf(result);
    expect(states).toContain('Canary failed');
    expect(states).not.toContain('Promote');
    const record = await recordOf(g, result.name);
    expect(record.status).toBe('rolled-back');
    expect(record.canary?.outcome).toBe('fail');
    const after = await g.observeWorkload(ENV);
    // Not a plain abort: the desired template is stable again, so nothing retries the release.
    expect(after.image).toBe(STABLE);
    expect(after.blueGreen).toMatchObject({ stage: 'stable', stable: { image: STABLE } });
    const { api, ns, name } = await rolloutOf(g);
    const rollout = await api.getRollout(ns, name);
    expect(rollout.status.abort).toBe(false);
    expect(rollout.status.currentPodHash).toBe(rollout.status.stableRS);
  });

  it('rolls back a preview that never becomes ready and one whose preview health check fails', async () => {
    const g = await start();
    const never = await deploy(g, `${REPO}:v1.6.1-never-ready`);
    expect(never.error).toBe('DeploymentRolledBack');
    expect(statesOf(never)).toContain('Preview failed');
    expect((await g.observeWorkload(ENV)).blueGreen).toMatchObject({
      stage: 'stable',
      stable: { image: STABLE },
    });
    const bad = await deploy(g, `${REPO}:v1.6.2-bad`);
    expect(bad.error).toBe('DeploymentRolledBack');
    expect(statesOf(bad)).toContain('Health check preview');
    expect(statesOf(bad)).not.toContain('Promote');
    expect(bad.cause).toMatch(/preview|health/i);
    expect((await g.observeWorkload(ENV)).image).toBe(STABLE);
  });

  it('rolls back after promotion when an alarm fires during post-promotion monitoring', async () => {
    let alarmed: Promise<AlarmHandlerResult> | undefined;
    const g = await start(argoWith(), (e) => {
      if (!alarmed && e.type === 'StateEntered' && e.state === 'Monitoring round' && guardian) {
        alarmed = guardian.handleAlarmEvent(highErrorRate(guardian.clock.now()));
      }
    });
    const result = await deploy(g, `${REPO}:v1.5.0`);
    expect(await alarmed).toMatchObject({ action: 'rollback-deployment', deploymentId: result.name });
    expect(result.error).toBe('DeploymentRolledBack');
    // It had been promoted: the active Service served it before the rollback.
    const states = statesOf(result);
    expect(states.indexOf('Promote')).toBeGreaterThan(-1);
    expect(states.indexOf('Promote')).toBeLessThan(states.indexOf('Monitoring round'));
    const after = await g.observeWorkload(ENV);
    expect(after.image).toBe(STABLE);
    expect(after.blueGreen).toMatchObject({ stage: 'stable', stable: { image: STABLE } });
    expect(await recordOf(g, result.name)).toMatchObject({ status: 'rolled-back' });
    expect(await g.store(ENV).getLock(ENV)).toBeUndefined();
  });

  it('rolls a promoted release back to the previous stable revision (guardian rollback)', async () => {
    const g = await start();
    expect((await deploy(g, `${REPO}:v1.5.0`)).status).toBe('SUCCEEDED');
    const promoted = await g.observeWorkload(ENV);
    const result = await g.rollback({
      environment: ENV,
      reason: 'customer reports after promotion',
      trigger: 'operator',
      requestedBy: 'oncall',
    });
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(statesOf(result)).toContain('Abort and restore stable revision');
    const after = await g.observeWorkload(ENV);
    expect(after.image).toBe(STABLE);
    expect(after.blueGreen).toMatchObject({ stage: 'stable', stable: { image: STABLE } });
    expect(after.revision).toBeGreaterThan(promoted.revision);
  });
});

describe('blue-green refusals before anything changes', () => {
  /** Deploys and expects a refusal; the Rollout, the lock and the records are untouched. */
  async function expectRefused(g: LocalGuardian, pattern: RegExp): Promise<void> {
    const { api, ns, name } = await rolloutOf(g);
    const before = await api.getRollout(ns, name);
    const result = await deploy(g, `${REPO}:v1.5.0`);
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InvalidInputError');
    expect(result.cause).toMatch(pattern);
    const after = await api.getRollout(ns, name);
    expect(after.generation).toBe(before.generation);
    expect(after.images).toEqual(before.images);
    expect(await g.store(ENV).getLock(ENV)).toBeUndefined();
    expect(await g.store(ENV).listRecords(ENV, 10)).toEqual([]);
  }

  it('refuses a Rollout paused by someone else', async () => {
    const g = await start();
    const { api, ns, name } = await rolloutOf(g);
    await api.pause(ns, name);
    await expectRefused(g, /paused by someone/);
  });

  it('refuses a Rollout whose preview Service is missing', async () => {
    const g = await start();
    const { ns } = await rolloutOf(g);
    const { previewService } = rolloutServices(g.environment(ENV).workload);
    const sim = g.simulator;
    if (!sim) throw new Error('no simulator');
    await deleteService(sim.kubeConfig(), ns, previewService);
    await expectRefused(
      g,
      new RegExp(`Service .{0,2}${previewService}.{0,2} \\(previewService\\), which does not exist`),
    );
  });

  it('refuses a Rollout that is not blue-green', async () => {
    const g = await start();
    const { ns, name } = await rolloutOf(g);
    const sim = g.simulator;
    if (!sim) throw new Error('no simulator');
    await mergePatchRollout(sim.kubeConfig(), ns, name, {
      spec: { strategy: { blueGreen: null, canary: { steps: [{ setWeight: 20 }] } } },
    });
    await expectRefused(g, /canary strategy; the guardian drives blue-green Rollouts only/);
  });

  it('refuses while someone else has a release in the Rollout', async () => {
    const g = await start();
    const { api, ns, name } = await rolloutOf(g);
    await api.setImage(
      ns,
      name,
      g.environment(ENV).container,
      `${REPO}:v1.4.9`,
      'kubectl argo rollouts set image',
    );
    await expectRefused(g, /already has a release in progress/);
  });
});

/** DELETE a Service through the simulator's API, as kubectl would. */
async function deleteService(
  kc: import('@kubernetes/client-node').KubeConfig,
  ns: string,
  name: string,
): Promise<void> {
  const server = kc.getCurrentCluster()?.server ?? '';
  const init = await kc.applyToFetchOptions({ method: 'DELETE' });
  const res = await fetch(`${server}/api/v1/namespaces/${ns}/services/${name}`, init as never);
  expect(res.status).toBe(200);
}

/** A merge patch of a Rollout through the simulator's API, as kubectl patch --type merge would. */
async function mergePatchRollout(
  kc: import('@kubernetes/client-node').KubeConfig,
  ns: string,
  name: string,
  patch: unknown,
): Promise<void> {
  const server = kc.getCurrentCluster()?.server ?? '';
  const init = await kc.applyToFetchOptions({
    method: 'PATCH',
    headers: { 'content-type': 'application/merge-patch+json' },
  });
  const res = await fetch(`${server}/apis/argoproj.io/v1alpha1/namespaces/${ns}/rollouts/${name}`, {
    ...(init as object),
    body: JSON.stringify(patch),
  } as never);
  expect(res.status).toBe(200);
}
