/**
 * The real steps on dynalite, the embedded cluster simulator (through the real Kubernetes adapter)
 * and a real HTTP server for health checks. Each step gets exactly the ports and config slice the
 * step and port tables give its function, built the way the local runner builds them.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { AppsV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CloudWatchAlarmStates } from '../../lambdas/adapters/cloudwatch-alarms.ts';
import type { RevisionInfo, WorkloadState } from '../../lambdas/adapters/cluster.ts';
import { KubernetesCluster } from '../../lambdas/adapters/kubernetes.ts';
import { deploymentRollout } from '../../lambdas/adapters/kubernetes-workload.ts';
import { ConflictError, InvalidInputError, NotFoundError } from '../../lambdas/core/errors.ts';
import { buildLock } from '../../lambdas/core/lock.ts';
import type { Workflows } from '../../lambdas/core/ports.ts';
import type { DeploymentContext } from '../../lambdas/core/types.ts';
import { step as executionEnded } from '../../lambdas/execution-ended/handler.ts';
import { step as healthCheck } from '../../lambdas/health-check/handler.ts';
import { ENV_VARS } from '../../lambdas/ports/table.ts';
import { step as preflight } from '../../lambdas/preflight/handler.ts';
import { step as recordDeployment } from '../../lambdas/record-deployment/handler.ts';
import { STEP_MODULES } from '../../lambdas/registry.ts';
import { step as rollbackApply } from '../../lambdas/rollback-apply/handler.ts';
import { step as rollbackFinish } from '../../lambdas/rollback-finish/handler.ts';
import { step as rollbackPrepare } from '../../lambdas/rollback-prepare/handler.ts';
import { step as rolloutStatus } from '../../lambdas/rollout-status/handler.ts';
import { step as setImage } from '../../lambdas/set-image/handler.ts';
import type { Step, StepDeps } from '../../lambdas/shared/step.ts';
import { buildStepDeps, configSlice } from '../../lambdas/shared/wiring.ts';
import type { StepId } from '../../lambdas/steps.ts';
import { loadConfig } from '../../lib/config/load.ts';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';
import { SimulatedClock } from '../../lib/local/clock.ts';
import { type ClusterSimulator, startClusterSimulator } from '../../lib/local/cluster-sim/index.ts';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.ts';

const REPO = 'ghcr.io/buywhere/buywhere-api';
const V1 = `${REPO}:v1.0.0`;
const V2 = `${REPO}:v1.1.0`;
const V3 = `${REPO}:v1.2.0`;
const ENV = 'production';
/** When each scenario starts (the simulator's seeding happens a minute earlier). */
const START = new Date('2026-05-01T02:00:00Z');

const prod = loadConfig().environments[ENV];
if (!prod) throw new Error('config/environments.yaml has no production');
const NS = prod.namespace as string;
const NAME = prod.workload;
const CONTAINER = prod.container;

let api: Server;
let apiUrl: string;
let apiHealthy = true;
let db: LocalDynamo;
let clock: SimulatedClock;
let sim: ClusterSimulator;
/** The real Kubernetes adapter on the simulator: what the steps' workload port drives. */
let cluster: KubernetesCluster;
let apps: AppsV1Api;
let config: EnvironmentConfig;
let seq = 0;

const logger = new Logger({ serviceName: 'steps-test', logLevel: 'SILENT' });

/** What the cluster looked like at {@link markCluster}. */
interface ClusterMark {
  readonly requests: number;
  readonly workload: WorkloadState;
  readonly revisions: RevisionInfo[];
}
let mark: ClusterMark;

beforeAll(async () => {
  api = createServer((req, res) => {
    const json = (body: unknown, status = 200) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/health') {
      json({
        status: apiHealthy ? 'ok' : 'degraded',
        database: 'connected',
        redis: 'connected',
        pgbouncer: 'connected',
        pool: { size: 20, active: 2, idle: 18, waiting: 0 },
        pgbouncer_pool: { cl_waiting: 0, maxwait_seconds: 0 },
      });
    } else if (req.url === '/ready') json({ ready: apiHealthy });
    else if (req.url === '/metrics') res.end('http_requests_total 1\n');
    else json({ error: 'not found' }, 404);
  });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
});

afterAll(async () => {
  api.closeAllConnections();
  await new Promise((resolve) => api.close(resolve));
});

beforeEach(async () => {
  db = await startLocalDynamo();
  // The production Deployment with two revisions: v1.0.0 (1), then v1.1.0 (2), fully rolled out.
  clock = new SimulatedClock(new Date(START.getTime() - 60_000));
  sim = await startClusterSimulator({
    clock,
    seed: [{ namespace: NS, name: NAME, container: CONTAINER, image: V1, replicas: 3 }],
  });
  cluster = new KubernetesCluster(sim.kubeConfig());
  apps = sim.kubeConfig().makeApiClient(AppsV1Api);
  await cluster.setImage(NS, NAME, CONTAINER, V2, 'deploy v1.1.0');
  await rollOut();
  clock.catchUp(START);
  apiHealthy = true;
  config = { ...prod, apiUrl, healthCheck: { ...prod.healthCheck, timeoutMs: 2000 } };
  await markCluster();
});

afterEach(async () => {
  started.length = 0;
  await sim.close();
  await db.close();
});

/**
 * Step `id`'s dependencies as the local runner builds them: its config slice and exactly its
 * ports from the port table's local adapters (DynamoDB on dynalite, the workload on the simulator).
 */
async function depsFor<S extends StepId>(id: S, over: Partial<EnvironmentConfig> = {}): Promise<StepDeps<S>> {
  const env = { ...config, ...over };
  return buildStepDeps(
    id,
    {
      config: configSlice(id, env) as EnvironmentConfig,
      vars: {
        [ENV_VARS.deploymentsTable]: db.tables.deploymentsTable,
        [ENV_VARS.controlTable]: db.tables.controlTable,
      },
      clock,
    },
    { kind: 'local', context: { dynamo: db.doc, kubernetes: async () => cluster, clock, workflows } },
    { clock, logger, metrics: new Metrics({ namespace: 'steps-test', serviceName: 'steps-test' }) },
  );
}

/**
 * Step Functions as these steps see it: a double that records executions started (names refused
 * twice, as Step Functions does) and tasks ended. Step Functions itself is exercised by the
 * local executor tests and, against moto, by the integration tier.
 */
const started: { kind: string; name: string; input: unknown }[] = [];
const workflows: Workflows = {
  async start(kind, name, input) {
    const executionArn = `arn:aws:states:ap-southeast-1:000000000000:execution:guardian-staging-${kind}:${name}`;
    if (started.some((s) => s.kind === kind && s.name === name)) return { executionArn, started: false };
    started.push({ kind, name, input });
    return { executionArn, started: true };
  },
  failTask: async () => false,
  succeedTask: async () => false,
};

/**
 * Runs `step` with its ports; `over` changes the environment's config for this call. The result
 * comes back as JSON, as a Lambda's does (what the next state gets has no `undefined` fields).
 */
async function run<S extends StepId, E, R>(
  step: Step<S, E, R>,
  event: unknown,
  over: Partial<EnvironmentConfig> = {},
): Promise<R> {
  return asJson(await step.run(event, await depsFor(step.name, over)));
}

/** `value` after a trip through JSON, as it travels between states. */
function asJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Lets simulated time pass until the Deployment's rollout is complete (`kubectl rollout status`). */
async function rollOut(maxSeconds = 120): Promise<WorkloadState> {
  for (let waited = 0; ; waited += 5) {
    const w = await cluster.getWorkload(NS, NAME);
    if (deploymentRollout(w).phase === 'complete') return w;
    if (waited >= maxSeconds)
      throw new Error(`rollout not complete after ${maxSeconds}s: ${JSON.stringify(w)}`);
    clock.advance(5);
  }
}

/** The Deployment as the cluster reports it now. */
function workload(): Promise<WorkloadState> {
  return cluster.getWorkload(NS, NAME);
}

/** The image the Deployment's template runs now. */
async function image(): Promise<string | undefined> {
  return (await workload()).images[CONTAINER];
}

/** `spec.paused` of the Deployment, as `kubectl rollout pause|resume` sets it. */
async function setPaused(paused: boolean): Promise<void> {
  await apps.patchNamespacedDeployment(
    { namespace: NS, name: NAME, body: { spec: { paused } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

/** Remembers the cluster's state and where its request log is, for {@link expectClusterUnchanged}. */
async function markCluster(): Promise<void> {
  mark = {
    requests: sim.requests().length,
    workload: await workload(),
    revisions: await cluster.listRevisions(NS, NAME),
  };
}

/** Every request since {@link markCluster} that could change the cluster. */
function writesSinceMark(): string[] {
  return sim
    .requests()
    .slice(mark.requests)
    .filter((r) => !r.startsWith('GET '));
}

/** No write reached the cluster since {@link markCluster}, and the Deployment is as it was. */
async function expectClusterUnchanged(): Promise<void> {
  expect(writesSinceMark()).toEqual([]);
  expect(await workload()).toEqual(mark.workload);
  expect(await cluster.listRevisions(NS, NAME)).toEqual(mark.revisions);
}

function execution(name: string) {
  return {
    Id: `arn:aws:states:ap-southeast-1:123456789012:execution:GuardianProduction-Deploy:${name}`,
    Name: name,
  };
}

function deployEvent(
  over: Record<string, unknown> = {},
  name = `production-v1-2-0-${String(++seq).padStart(8, '0')}`,
) {
  return {
    input: {
      environment: ENV,
      image: V3,
      version: 'v1.2.0',
      trigger: 'ci',
      requestedBy: 'github-actions',
      ciRunUrl: 'https://github.com/buywhere/buywhere-api/actions/runs/42',
      ...over,
    },
    execution: execution(name),
  };
}

async function expectNothingChanged(): Promise<void> {
  expect(await db.store.listRecords(ENV, 10)).toEqual([]);
  expect(await db.store.getLock(ENV)).toBeUndefined();
  await expectClusterUnchanged();
}

/** Preflight and set-image: the rollout has started. */
async function deployStarted(): Promise<DeploymentContext> {
  const deployment = await run(preflight, deployEvent());
  await run(setImage, { deployment });
  return deployment;
}

/** Preflight and set-image, then the time the controller needs to finish the rollout. */
async function deployUntilRolledOut(): Promise<DeploymentContext> {
  const deployment = await deployStarted();
  await rollOut();
  return deployment;
}

async function rollback(
  input: Record<string, unknown>,
  name = `production-rollback-${String(++seq).padStart(8, '0')}`,
) {
  const ctx = await run(rollbackPrepare, {
    input: { environment: ENV, ...input },
    execution: execution(name),
  });
  await run(rollbackApply, { rollback: ctx });
  return ctx;
}

/** The rollback a Deploy execution starts itself when it fails (Step Functions links them). */
function childRollback(deployment: DeploymentContext, input: Record<string, unknown> = {}) {
  return rollback({
    deploymentId: deployment.deploymentId,
    trigger: 'deploy-failure',
    requestedBy: 'guardian',
    AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: deployment.executionArn,
    ...input,
  });
}

/** A deployment that rolled out, passed its health check and was recorded as succeeded. */
async function succeededDeployment(): Promise<DeploymentContext> {
  const deployment = await deployUntilRolledOut();
  const rollout = await run(rolloutStatus, { target: deployment });
  await run(recordDeployment, { deployment, rollout });
  return deployment;
}

describe('preflight', () => {
  it('takes the lock and records the deployment with its rollback state', async () => {
    const ctx = await run(preflight, deployEvent({}, 'production-v1-2-0-aaaaaaaa'));
    // The rollback point is revision 2 exactly as its ReplicaSet holds it, pod template included.
    const revision2 = mark.revisions.find((r) => r.revision === 2);
    expect(revision2?.images[CONTAINER]).toBe(V2);
    const rollbackPoint = {
      platform: 'kubernetes',
      revision: 2,
      image: V2,
      podTemplate: asJson(revision2?.podTemplate),
    };
    expect(ctx).toMatchObject({
      environment: ENV,
      workload: `deployment "${NS}/${NAME}"`,
      deploymentId: 'production-v1-2-0-aaaaaaaa',
      image: V3,
      expectedImage: V3,
      version: 'v1.2.0',
      rollbackPoint,
      dryRun: false,
      startedAt: clock.now().toISOString(),
      rolloutDeadlineAt: '2026-05-01T02:10:00.000Z',
    });
    expect(await db.store.getRecord(ENV, 'production-v1-2-0-aaaaaaaa')).toEqual({
      environment: ENV,
      id: 'production-v1-2-0-aaaaaaaa',
      kind: 'deploy',
      status: 'in-progress',
      executionArn: execution('production-v1-2-0-aaaaaaaa').Id,
      trigger: 'ci',
      requestedBy: 'github-actions',
      ciRunUrl: 'https://github.com/buywhere/buywhere-api/actions/runs/42',
      image: V3,
      version: 'v1.2.0',
      rollbackPoint,
      startedAt: clock.now().toISOString(),
      // The snapshot the backup step will take, named before it starts.
      backup: {
        snapshotId: 'guardian-production-v1-2-0-20260501t020000z',
        kind: 'instance',
        identifier: 'buywhere-prod',
        status: 'planned',
        startedAt: clock.now().toISOString(),
      },
    });
    expect(await db.store.getLock(ENV)).toMatchObject({
      holder: 'production-v1-2-0-aaaaaaaa',
      expiresAt: '2026-05-01T04:30:00.000Z',
    });
    await expectClusterUnchanged();
  });

  it('can be retried by the same execution without failing or duplicating', async () => {
    const event = deployEvent({}, 'production-v1-2-0-bbbbbbbb');
    await run(preflight, event);
    clock.advance(2);
    await expect(run(preflight, event)).resolves.toMatchObject({
      deploymentId: 'production-v1-2-0-bbbbbbbb',
    });
    expect(await db.store.listRecords(ENV, 10)).toHaveLength(1);
  });

  it('refuses during a configured change freeze and changes nothing', async () => {
    clock.catchUp(new Date('2026-12-25T00:00:00Z'));
    await expect(run(preflight, deployEvent())).rejects.toMatchObject({
      name: 'ChangeFreezeError',
      message: expect.stringMatching(
        /change freeze 'year-end-peak' until 2027-01-01T16:00:00.000Z: Year-end shopping peak/,
      ),
    });
    await expectNothingChanged();
  });

  it('refuses during an ad-hoc freeze and changes nothing', async () => {
    await db.store.putFreeze({
      environment: ENV,
      id: 'db-migration',
      start: '2026-05-01T00:00:00Z',
      end: '2026-05-01T06:00:00Z',
      reason: 'database migration',
      createdBy: 'bolt',
    });
    await expect(run(preflight, deployEvent())).rejects.toMatchObject({
      name: 'ChangeFreezeError',
      message: expect.stringMatching(/ad-hoc change freeze 'db-migration' set by bolt/),
    });
    await expectNothingChanged();
  });

  it('refuses while the circuit breaker is open and changes nothing', async () => {
    await db.store.updateBreaker(ENV, () => ({
      environment: ENV,
      state: 'open',
      consecutiveFailures: 2,
      reason: 'two bad releases',
    }));
    await expect(run(preflight, deployEvent())).rejects.toMatchObject({
      name: 'CircuitOpenError',
      message: expect.stringMatching(
        /circuit breaker for production is open: two bad releases.*circuit-breaker --env production --reset/,
      ),
    });
    await expectNothingChanged();
  });

  // Preflight's alarm check (issue 8): the composite alarm in ALARM, or unreadable.
  it('refuses while the composite alarm is in ALARM and changes nothing', async () => {
    await db.store.putAlarmState(ENV, 'guardian-production-Degraded', {
      value: 'ALARM',
      reason: 'guardian-production-APIServiceDown transitioned to ALARM',
      updatedAt: '2026-05-01T01:48:00Z',
    });
    await expect(run(preflight, deployEvent())).rejects.toMatchObject({
      name: 'AlarmActiveError',
      message: expect.stringMatching(
        /^guardian-production-Degraded is in ALARM since 2026-05-01T01:48:00Z \(12 min ago\): guardian-production-APIServiceDown/,
      ),
    });
    await expectNothingChanged();
  });

  /** Preflight's deps with the real CloudWatch adapter on a port nothing listens on: the state cannot be read. */
  async function unreadableAlarmDeps(over: Partial<EnvironmentConfig> = {}) {
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as AddressInfo;
        s.close(() => resolve(port));
      });
    });
    const client = new CloudWatchClient({
      endpoint: `http://127.0.0.1:${closed}`,
      region: 'ap-southeast-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      maxAttempts: 1,
    });
    return { ...(await depsFor('preflight', over)), alarms: new CloudWatchAlarmStates(client) };
  }

  it('refuses when the composite alarm cannot be read, failing closed by default, and changes nothing', async () => {
    const deps = await unreadableAlarmDeps();
    await expect(preflight.run(deployEvent(), deps)).rejects.toMatchObject({
      name: 'AlarmActiveError',
      message: expect.stringMatching(
        /^the state of guardian-production-Degraded could not be read \(TransientError: CloudWatch: DescribeAlarms.*alarms\.preflightFailClosed is true/,
      ),
    });
    await expectNothingChanged();
  });

  it('goes on when the composite alarm cannot be read and alarms.preflightFailClosed is false', async () => {
    const deps = await unreadableAlarmDeps({ alarms: { ...prod.alarms, preflightFailClosed: false } });
    const ctx = await preflight.run(deployEvent({}, 'production-v1-2-0-failopen'), deps);
    expect(ctx.deploymentId).toBe('production-v1-2-0-failopen');
    expect(await db.store.getLock(ENV)).toMatchObject({ holder: 'production-v1-2-0-failopen' });
  });

  it('refuses while another deployment holds the lock, naming it, and leaves its lock alone', async () => {
    const held = buildLock(
      ENV,
      'production-v1-1-9-cccccccc',
      'arn:other',
      new Date('2026-05-01T01:50:00Z'),
      5400,
    );
    await db.store.acquireLock(held, clock.now());
    await expect(run(preflight, deployEvent())).rejects.toMatchObject({
      name: 'LockHeldError',
      message: expect.stringMatching(
        /locked by production-v1-1-9-cccccccc \(execution arn:other\).*in 80 minutes/,
      ),
    });
    expect(await db.store.getLock(ENV)).toEqual(held);
    expect(await db.store.listRecords(ENV, 10)).toEqual([]);
  });

  it.each([
    [
      'an image from another repository',
      { image: 'docker.io/someone/api:v1.2.0' },
      /from repository 'docker.io\/someone\/api'/,
    ],
    [
      'a tag without vX.Y.Z',
      { image: `${REPO}:main-abc123`, version: undefined },
      /requires a release version vX\.Y\.Z/,
    ],
    ['a tag that differs from the version', { image: `${REPO}:v1.2.1` }, /tag 'v1.2.1' != version 'v1.2.0'/],
    ['another environment', { environment: 'staging' }, /not guarded by this stack/],
    ['a malformed event', { requestedBy: '' }, /invalid preflight event: input.requestedBy/],
  ])('refuses %s before anything changes', async (_what, over, message) => {
    await expect(run(preflight, deployEvent(over))).rejects.toMatchObject({
      name: 'InvalidInputError',
      message: expect.stringMatching(message),
    });
    await expectNothingChanged();
  });

  it('refuses a 72-character execution name, naming the 80-character limit, before it takes the lock', async () => {
    // What CI can start with `aws stepfunctions start-execution --name`: Step Functions accepts
    // it, but the automatic rollback's child (`<name>-rollback`, 81 characters) could not start.
    const name = `production-v1-2-0-${'0'.repeat(54)}`;
    expect(name).toHaveLength(72);
    for (const dryRun of [false, true]) {
      await expect(run(preflight, deployEvent({ dryRun }, name))).rejects.toMatchObject({
        name: 'InvalidInputError',
        message: expect.stringMatching(
          /has 72 characters; a Deploy execution name may have at most 71, because Step Functions limits execution names to 80 characters and the automatic rollback is named '<deploy name>-rollback'/,
        ),
      });
      await expectNothingChanged();
    }
  });

  it('checks the execution name before the lock, so a held lock does not hide a bad name', async () => {
    const held = buildLock(ENV, 'other-deploy', 'arn:other', clock.now(), 3600);
    await db.store.acquireLock(held, clock.now());
    await expect(
      run(preflight, deployEvent({}, `production-v1-2-0-${'0'.repeat(54)}`)),
    ).rejects.toMatchObject({ name: 'InvalidInputError', message: expect.stringMatching(/at most 71/) });
    expect(await db.store.getLock(ENV)).toEqual(held);
  });

  it('accepts a 71-character execution name, whose rollback name fits 80 exactly', async () => {
    const name = `production-v1-2-0-${'0'.repeat(53)}`;
    expect(`${name}-rollback`).toHaveLength(80);
    await expect(run(preflight, deployEvent({}, name))).resolves.toMatchObject({ deploymentId: name });
    expect(await db.store.getLock(ENV)).toMatchObject({ holder: name });
  });

  it('refuses a paused Deployment, saying how to resume it, and changes nothing', async () => {
    await setPaused(true);
    await markCluster();
    for (const dryRun of [false, true]) {
      await expect(run(preflight, deployEvent({ dryRun }))).rejects.toMatchObject({
        name: 'InvalidInputError',
        message:
          'deployment "production/buywhere-api" is paused (kubectl rollout resume deployment/buywhere-api -n production); resume it or deploy after the pause is lifted',
      });
      await expectNothingChanged();
    }
  });

  it('gives the lock back when the workload is missing', async () => {
    await expect(run(preflight, deployEvent(), { workload: 'no-such-api' })).rejects.toMatchObject({
      name: 'NotFoundError',
    });
    await expectNothingChanged();
  });

  it('returns the plan on a dry run and changes nothing', async () => {
    const ctx = await run(preflight, deployEvent({ dryRun: true }));
    expect(ctx.dryRun).toBe(true);
    expect(ctx.plan).toContain(`set deployment "production/buywhere-api" from revision 2 (${V2}) to ${V3}`);
    expect(ctx.plan).toContain('the production lock is free (a dry run does not take it)');
    await expectNothingChanged();
  });

  it('refuses a dry run while the lock is held, and still changes nothing', async () => {
    const held = buildLock(ENV, 'other-deploy', 'arn:other', clock.now(), 3600);
    await db.store.acquireLock(held, clock.now());
    await expect(run(preflight, deployEvent({ dryRun: true }))).rejects.toMatchObject({
      name: 'LockHeldError',
    });
    expect(await db.store.getLock(ENV)).toEqual(held);
    expect(await db.store.listRecords(ENV, 10)).toEqual([]);
  });
});

describe('deploy steps', () => {
  it('records success with the final revision, resets the breaker count and releases the lock', async () => {
    await db.store.updateBreaker(ENV, () => ({ environment: ENV, state: 'closed', consecutiveFailures: 1 }));
    const deployment = await deployUntilRolledOut();
    const status = await run(rolloutStatus, { target: deployment });
    expect(status).toMatchObject({ phase: 'complete', revision: 3 });
    const health = await run(healthCheck, { target: deployment });
    expect(health).toMatchObject({
      healthy: true,
      summary:
        'all 11 health checks passed (GET /health, /health status, GET /ready, /ready ready, GET /metrics, Database, Redis, PgBouncer, Database pool, PgBouncer pool, Startup time)',
    });
    // The startup read went to the simulator: the rollout's pods were Ready 5 s after creation.
    expect(health.checks.at(-1)).toEqual({
      name: 'Startup time',
      ok: true,
      detail: expect.stringMatching(
        /^3 of 3 pods Ready within 5 s of creation \(max 120 s; slowest buywhere-api-/,
      ),
    });
    const out = await run(recordDeployment, { deployment, rollout: status, health });
    expect(out).toEqual({
      message: `production now runs ${V3} (v1.2.0) at revision 3; deployment ${deployment.deploymentId} recorded as succeeded and the production lock released.`,
    });
    expect(await db.store.getRecord(ENV, deployment.deploymentId)).toMatchObject({
      status: 'succeeded',
      revision: 3,
      finishedAt: clock.now().toISOString(),
    });
    expect((await db.store.getBreaker(ENV)).consecutiveFailures).toBe(0);
    expect(await db.store.getLock(ENV)).toBeUndefined();
    // A retried record step is harmless.
    await expect(run(recordDeployment, { deployment, rollout: status, health })).resolves.toEqual(out);
  });

  it('records success without a revision, and says so, when the rollout status carried none', async () => {
    const deployment = await deployUntilRolledOut();
    const out = await run(recordDeployment, { deployment });
    expect(out.message).toMatch(/v1\.2\.0 \(v1\.2\.0\) \(revision unknown: the rollout status carried none/);
    const record = await db.store.getRecord(ENV, deployment.deploymentId);
    expect(record).toMatchObject({ status: 'succeeded' });
    expect(record?.revision).toBeUndefined();
    expect(await db.store.getLock(ENV)).toBeUndefined();
  });

  it('refuses to record success over a rollback, keeping the record, and releases its lock', async () => {
    const deployment = await deployUntilRolledOut();
    await db.store.updateRecord(ENV, deployment.deploymentId, {
      status: 'rolled-back',
      rolledBackBy: 'production-rollback-99999999',
    });
    await expect(run(recordDeployment, { deployment })).rejects.toMatchObject({
      name: 'ConflictError',
      message: expect.stringMatching(
        /cannot mark deployment production\/\S+ as succeeded: it is rolled-back by production-rollback-99999999/,
      ),
    });
    expect(await db.store.getRecord(ENV, deployment.deploymentId)).toMatchObject({ status: 'rolled-back' });
    expect(await db.store.getLock(ENV)).toBeUndefined();
    expect((await db.store.getBreaker(ENV)).lastEventId).toBeUndefined();
  });

  it('reports a stuck rollout as progressing, then failed at the deadline', async () => {
    // A `never-ready` tag is how the simulator's pods never become Ready; production's release
    // rule (vX.Y.Z, no suffix) would refuse that tag, so this deployment is made without it.
    const stuck = `${REPO}:v1.2.0-never-ready`;
    const deployment = await run(preflight, deployEvent({ image: stuck, version: undefined }), {
      requireVersionTag: false,
    });
    await run(setImage, { deployment });
    clock.advance(60);
    expect(await run(rolloutStatus, { target: deployment })).toMatchObject({
      phase: 'progressing',
      message: expect.stringMatching(/1 out of 3 new replicas/),
    });
    clock.catchUp(new Date(deployment.rolloutDeadlineAt));
    expect(await run(rolloutStatus, { target: deployment })).toMatchObject({
      phase: 'failed',
      message: expect.stringMatching(/guardian's deadline/),
    });
  });

  it('fails the health check naming the endpoint and the field', async () => {
    apiHealthy = false;
    const deployment = await deployUntilRolledOut();
    await expect(run(healthCheck, { target: deployment })).rejects.toMatchObject({
      name: 'HealthCheckFailedError',
      message: expect.stringMatching(
        /2 of 11 health checks failed: \/health status: field status is "degraded", expected "ok"; \/ready ready: field ready is false, expected true$/,
      ),
    });
  });

  it("fails the health check when the release's pods took longer than maxStartupSeconds to become Ready", async () => {
    const deployment = await deployUntilRolledOut();
    await expect(
      run(
        healthCheck,
        { target: deployment },
        { healthCheck: { ...config.healthCheck, maxStartupSeconds: 4 } },
      ),
    ).rejects.toMatchObject({
      name: 'HealthCheckFailedError',
      message: expect.stringMatching(
        /1 of 11 health checks failed: Startup time: 3 of 3 pods took longer than 4 s to become Ready \(buywhere-api-\S+ 5 s, /,
      ),
    });
  });

  it('names a refused connection in the health check failure', async () => {
    const deployment = await deployUntilRolledOut();
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(
      run(healthCheck, { target: deployment }, { apiUrl: `http://127.0.0.1:${port}` }),
    ).rejects.toMatchObject({
      name: 'HealthCheckFailedError',
      message: expect.stringMatching(/GET \/health: no response after \d+ ms: connection refused/),
    });
  });
});

describe('rollback steps', () => {
  it('rolls a failed deployment back to its captured revision under the deployment lock', async () => {
    const deployment = await deployUntilRolledOut();
    const ctx = await childRollback(deployment, { reason: 'health check failed' });
    expect(ctx).toMatchObject({
      lockHolder: deployment.deploymentId,
      from: { revision: 3, image: V3 },
      to: deployment.rollbackPoint,
      expectedImage: V2,
    });
    expect(deployment.rollbackPoint).toMatchObject({ revision: 2, image: V2 });
    expect(await image()).toBe(V2);
    await rollOut();
    const rollout = await run(rolloutStatus, { target: ctx });
    expect(rollout).toMatchObject({ phase: 'complete', revision: 4 });
    const out = await run(rollbackFinish, { rollback: ctx, outcome: 'rolled-back', rollout });
    expect(out.message).toMatch(
      /^Rolled deployment production-v1-2-0-\d+ back to revision 2 .* because: health check failed\. circuit breaker closed \(1 of 2 consecutive failed releases: production-v1-2-0-\d+ \(v1\.2\.0\) since [^)]+\); the lock is released\.$/,
    );
    expect(await db.store.getRecord(ENV, ctx.rollbackId)).toMatchObject({
      kind: 'rollback',
      status: 'rolled-back',
      deploymentId: deployment.deploymentId,
      image: V2,
      rollbackPoint: ctx.from,
      revision: 4,
      trigger: 'deploy-failure',
      reason: 'health check failed',
    });
    expect(await db.store.getRecord(ENV, deployment.deploymentId)).toMatchObject({
      status: 'rolled-back',
      rolledBackBy: ctx.rollbackId,
    });
    expect(await db.store.getBreaker(ENV)).toMatchObject({ state: 'closed', consecutiveFailures: 1 });
    expect(await db.store.getLock(ENV)).toBeUndefined();
  });

  it('counts a retried rollback-finish once', async () => {
    const deployment = await deployUntilRolledOut();
    const ctx = await childRollback(deployment);
    await run(rollbackFinish, { rollback: ctx, outcome: 'rolled-back' });
    await run(rollbackFinish, { rollback: ctx, outcome: 'rolled-back' });
    expect((await db.store.getBreaker(ENV)).consecutiveFailures).toBe(1);
  });

  it('opens the breaker after the configured consecutive failures, which blocks deploys but not an operator rollback', async () => {
    for (let i = 0; i < config.thresholds.consecutive_failures_for_rollback; i++) {
      const deployment = await deployUntilRolledOut();
      const ctx = await childRollback(deployment, { reason: `bad release ${i}` });
      await run(rollbackFinish, { rollback: ctx, outcome: 'rolled-back' });
    }
    expect(await db.store.getBreaker(ENV)).toMatchObject({
      state: 'open',
      reason: expect.stringMatching(
        /^2 consecutive failed releases: production-v1-2-0-\d+ \(v1\.2\.0\), production-v1-2-0-\d+ \(v1\.2\.0\) since \S+ \(threshold 2\); last: bad release 1$/,
      ),
    });
    await expect(run(preflight, deployEvent())).rejects.toMatchObject({ name: 'CircuitOpenError' });
    const ctx = await rollback({
      trigger: 'operator',
      requestedBy: 'bolt',
      revision: 1,
      reason: 'back to the known-good v1.0.0',
    });
    expect(await image()).toBe(V1);
    expect(ctx.lockHolder).toBe(ctx.rollbackId);
  });

  it('records a failed rollback, opens the breaker at once and releases the lock', async () => {
    const deployment = await deployUntilRolledOut();
    const ctx = await childRollback(deployment);
    const failure = {
      Error: 'RolloutFailedError',
      Cause: 'deployment "production/buywhere-api" exceeded its progress deadline (600s)',
    };
    const out = await run(rollbackFinish, { rollback: ctx, outcome: 'rollback-failed', failure });
    expect(out.message).toMatch(
      /FAILED \(RolloutFailedError: deployment .* exceeded its progress deadline \(600s\)\).*circuit breaker OPEN/,
    );
    expect(await db.store.getRecord(ENV, ctx.rollbackId)).toMatchObject({
      status: 'rollback-failed',
      reason: expect.stringMatching(/rollback failed: RolloutFailedError/),
    });
    expect(await db.store.getRecord(ENV, deployment.deploymentId)).toMatchObject({
      status: 'rollback-failed',
      rolledBackBy: ctx.rollbackId,
    });
    expect(await db.store.getBreaker(ENV)).toMatchObject({
      state: 'open',
      consecutiveFailures: 1,
      reason: expect.stringMatching(/^rollback \S+ failed: RolloutFailedError/),
    });
    expect(await db.store.getLock(ENV)).toBeUndefined();
  });

  it('records a failed undo without touching the cluster, and without a revision when there is none', async () => {
    const deployment = await deployUntilRolledOut();
    const ctx = await childRollback(deployment);
    // The Kubernetes API is down: any call would fail. rollback-finish must not make one.
    sim.injectFaults({ count: 1000, status: 503 });
    const requestsBefore = sim.requests().length;
    const failure = {
      Error: 'TransientError',
      Cause: JSON.stringify({
        errorType: 'TransientError',
        errorMessage: 'Kubernetes API timed out',
        trace: [],
      }),
    };
    const out = await run(rollbackFinish, { rollback: ctx, outcome: 'rollback-failed', failure });
    expect(out.message).toMatch(/FAILED \(TransientError: Kubernetes API timed out\)/);
    expect(sim.requests()).toHaveLength(requestsBefore);
    const record = await db.store.getRecord(ENV, ctx.rollbackId);
    expect(record).toMatchObject({ status: 'rollback-failed' });
    expect(record?.revision).toBeUndefined();
    expect(await db.store.getLock(ENV)).toBeUndefined();
  });

  it('releases the lock even when recording the outcome fails for good', async () => {
    const deployment = await deployUntilRolledOut();
    const ctx = await childRollback(deployment);
    await run(rollbackFinish, { rollback: ctx, outcome: 'rolled-back' });
    // Someone takes the lock for the same holder again; a contradicting outcome must not be written.
    await db.store.acquireLock(
      buildLock(ENV, ctx.lockHolder, ctx.executionArn, clock.now(), 3600),
      clock.now(),
    );
    await expect(run(rollbackFinish, { rollback: ctx, outcome: 'rollback-failed' })).rejects.toMatchObject({
      name: 'ConflictError',
      message: expect.stringMatching(
        /cannot mark rollback production\/\S+ as rollback-failed: it is rolled-back/,
      ),
    });
    expect(await db.store.getRecord(ENV, ctx.rollbackId)).toMatchObject({ status: 'rolled-back' });
    expect(await db.store.getLock(ENV)).toBeUndefined();
  });

  it('takes the lock for an operator rollback and refuses while another execution holds it', async () => {
    const held = buildLock(ENV, 'production-v9-9-9-dddddddd', 'arn:busy', clock.now(), 3600);
    await db.store.acquireLock(held, clock.now());
    await expect(rollback({ trigger: 'operator' })).rejects.toMatchObject({
      name: 'LockHeldError',
      message: expect.stringMatching(/locked by production-v9-9-9-dddddddd/),
    });
    expect(await db.store.getLock(ENV)).toEqual(held);
    await expectClusterUnchanged();
  });

  it('refuses a named revision that does not exist, listing them, and gives the lock back', async () => {
    await expect(rollback({ revision: 7 })).rejects.toMatchObject({
      name: 'NotFoundError',
      message: expect.stringMatching(
        /revision 7 .* not found; available revisions: 1 \(v1\.0\.0\), 2 \(v1\.1\.0\)/,
      ),
    });
    expect(await db.store.getLock(ENV)).toBeUndefined();
    expect(await db.store.listRecords(ENV, 10)).toEqual([]);
  });

  it('refuses an unknown deployment id', async () => {
    await expect(rollback({ deploymentId: 'production-v0-0-0-eeeeeeee' })).rejects.toMatchObject({
      name: 'NotFoundError',
      message: expect.stringMatching(/not in the production history/),
    });
    await expectNothingChanged();
  });

  it('refuses to roll the same deployment back twice', async () => {
    const deployment = await succeededDeployment();
    const ctx = await rollback({ deploymentId: deployment.deploymentId, trigger: 'alarm' });
    expect(ctx.lockHolder).toBe(ctx.rollbackId);
    await run(rollbackFinish, { rollback: ctx, outcome: 'rolled-back' });
    await expect(rollback({ deploymentId: deployment.deploymentId, trigger: 'alarm' })).rejects.toMatchObject(
      {
        name: 'InvalidInputError',
        message: expect.stringMatching(`already rolled back by ${ctx.rollbackId}`),
      },
    );
    expect(await db.store.getLock(ENV)).toBeUndefined();
  });

  it('refuses an alarm rollback of a deployment that is still running, and changes nothing', async () => {
    const deployment = await deployUntilRolledOut();
    await markCluster();
    const lock = await db.store.getLock(ENV);
    await expect(
      rollback({ deploymentId: deployment.deploymentId, trigger: 'alarm', reason: '5xx rate above 5%' }),
    ).rejects.toMatchObject({
      name: 'LockHeldError',
      message: expect.stringMatching(
        new RegExp(
          `deployment ${deployment.deploymentId} is still running: it holds the production lock \\(execution ${deployment.executionArn}\\).*Stop that execution first`,
        ),
      ),
    });
    expect(await db.store.getLock(ENV)).toEqual(lock);
    await expectClusterUnchanged();
    expect((await db.store.listRecords(ENV, 10)).map((r) => r.kind)).toEqual(['deploy']);
    // The deployment then finishes normally and records its success.
    await expect(
      run(recordDeployment, { deployment, rollout: await run(rolloutStatus, { target: deployment }) }),
    ).resolves.toMatchObject({ message: expect.stringMatching(/recorded as succeeded/) });
  });

  it("does not let another Deploy execution's rollback inherit a deployment's lock", async () => {
    const deployment = await deployUntilRolledOut();
    await expect(
      childRollback(deployment, {
        AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: execution('production-v9-9-9-ffffffff').Id,
      }),
    ).rejects.toMatchObject({ name: 'LockHeldError' });
    expect(await db.store.getLock(ENV)).toMatchObject({ holder: deployment.deploymentId });
  });

  it('undoes a succeeded deployment under its own lock and marks the deployment rolled back', async () => {
    const deployment = await succeededDeployment();
    const ctx = await rollback({
      deploymentId: deployment.deploymentId,
      trigger: 'alarm',
      reason: 'p99 > 2s',
    });
    expect(ctx).toMatchObject({
      lockHolder: ctx.rollbackId,
      to: { revision: 2, image: V2 },
      expectedImage: V2,
    });
    expect(await db.store.getLock(ENV)).toMatchObject({ holder: ctx.rollbackId });
    const rollout = await run(rolloutStatus, { target: ctx });
    await run(rollbackFinish, { rollback: ctx, outcome: 'rolled-back', rollout });
    expect(await db.store.getRecord(ENV, deployment.deploymentId)).toMatchObject({
      status: 'rolled-back',
      rolledBackBy: ctx.rollbackId,
      revision: 3,
    });
    expect(await db.store.getLock(ENV)).toBeUndefined();
  });

  it('records a Lambda error Cause as a sentence and keeps the change-cause short', async () => {
    const deployment = await deployUntilRolledOut();
    const message = `2 of 3 health checks failed: GET /health: ${'upstream timeout; '.repeat(200)}`;
    const cause = JSON.stringify({
      errorType: 'HealthCheckFailedError',
      errorMessage: message,
      trace: [`HealthCheckFailedError: ${message}`, '    at run (file:///var/task/index.mjs:1:4242)'],
    });
    const ctx = await childRollback(deployment, { reason: cause });
    expect(ctx.reason).toBe(`HealthCheckFailedError: ${message.trim()}`);
    expect((await db.store.getRecord(ENV, ctx.rollbackId))?.reason).toBe(ctx.reason);
    const d = await apps.readNamespacedDeployment({ namespace: NS, name: NAME });
    const annotation = d.metadata?.annotations?.['kubernetes.io/change-cause'] ?? '';
    expect(annotation).toMatch(
      /^guardian rollback to revision 2: HealthCheckFailedError: 2 of 3 health checks/,
    );
    expect(annotation).not.toMatch(/errorType|trace|index\.mjs/);
    expect(annotation.endsWith('…')).toBe(true);
    expect(Buffer.byteLength(annotation, 'utf8')).toBeLessThanOrEqual(1024);
  });

  it('treats a retried undo as already applied', async () => {
    const deployment = await deployUntilRolledOut();
    await markCluster();
    const ctx = await childRollback(deployment);
    const again = await run(rollbackApply, { rollback: ctx });
    expect(again.message).toMatch(/already runs .*v1\.1\.0 \(revision 4\); nothing to undo/);
    // One write, the undo: the Deployment's spec changed once.
    expect(writesSinceMark()).toHaveLength(1);
    expect(await workload()).toMatchObject({
      generation: mark.workload.generation + 1,
      revision: 4,
      images: { [CONTAINER]: V2 },
    });
  });

  it('treats an undo the controller has not acted on yet as applied, by image not revision number', async () => {
    const deployment = await deployUntilRolledOut();
    const ctx = await run(rollbackPrepare, {
      input: {
        environment: ENV,
        deploymentId: deployment.deploymentId,
        trigger: 'deploy-failure',
        AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: deployment.executionArn,
      },
      execution: execution('production-rollback-stalled1'),
    });
    // The undo's write lands but the controller does not act on it. The simulator's controller acts
    // on every write at once unless the Deployment is paused, so the undo lands on a paused one.
    await setPaused(true);
    await apps.patchNamespacedDeployment(
      {
        namespace: NS,
        name: NAME,
        body: [
          { op: 'replace', path: '/spec/template', value: (ctx.to as { podTemplate: unknown }).podTemplate },
        ],
      },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    await markCluster();
    // The template runs v1.1.0 again, but the revision annotation still says 3.
    expect(mark.workload).toMatchObject({ revision: 3, images: { [CONTAINER]: V2 } });
    const again = await run(rollbackApply, { rollback: ctx });
    expect(again.message).toMatch(/already runs .*v1\.1\.0 \(revision 3\); nothing to undo/);
    await expectClusterUnchanged();
    // Once the controller acts, the restored template becomes the newest revision.
    await setPaused(false);
    expect(await rollOut()).toMatchObject({ revision: 4, images: { [CONTAINER]: V2 } });
  });

  it('does not call a paused Deployment undone while its template still runs the new image', async () => {
    const deployment = await run(preflight, deployEvent());
    await setPaused(true);
    await run(setImage, { deployment });
    // Paused: the template runs v1.2.0 but the revision annotation still says 2, the target.
    expect(await workload()).toMatchObject({ revision: 2, images: { [CONTAINER]: V3 } });
    const ctx = await run(rollbackPrepare, {
      input: {
        environment: ENV,
        deploymentId: deployment.deploymentId,
        trigger: 'deploy-failure',
        AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: deployment.executionArn,
      },
      execution: execution('production-rollback-paused01'),
    });
    expect(ctx).toMatchObject({ to: deployment.rollbackPoint, expectedImage: V2 });
    expect(ctx.to).toMatchObject({ revision: 2, image: V2 });
    await markCluster();
    await expect(run(rollbackApply, { rollback: ctx })).rejects.toMatchObject({
      name: 'InvalidInputError',
      message: expect.stringMatching(/cannot rollback a paused deployment; resume it first/),
    });
    await expectClusterUnchanged();
    await setPaused(false);
    await expect(run(rollbackApply, { rollback: ctx })).resolves.toMatchObject({
      message: expect.stringMatching(/rolled deployment "production\/buywhere-api" back/),
    });
    expect(await image()).toBe(V2);
  });

  it('refuses a plain rollback when no release is known good, naming the revisions to choose from', async () => {
    await expect(rollback({ trigger: 'operator', reason: 'error rate up' })).rejects.toMatchObject({
      name: 'NothingToRollBackError',
      message: expect.stringMatching(
        /no known-good release.*guardian rollback --env production --revision N \(revisions: 1 \(v1\.0\.0\), 2 \(v1\.1\.0\)\)/,
      ),
    });
    expect(await db.store.getLock(ENV)).toBeUndefined();
    await expectClusterUnchanged();
  });

  it('rolls back to a named older revision, like kubectl rollout undo --to-revision', async () => {
    const ctx = await rollback({ trigger: 'operator', reason: 'error rate up', revision: 1 });
    expect(ctx).toMatchObject({
      from: { revision: 2, image: V2 },
      to: { revision: 1, image: V1 },
      expectedImage: V1,
    });
    expect(await db.store.getLock(ENV)).toMatchObject({ holder: ctx.rollbackId });
  });
});

describe('execution-ended', () => {
  /** The EventBridge event Step Functions sends when `name` ends with `status`. */
  function ended(
    name: string,
    status: string,
    over: {
      error?: string | null;
      cause?: string | null;
      executionArn?: string;
      stateMachine?: 'deploy' | 'rollback';
      input?: Record<string, unknown>;
    } = {},
  ) {
    const executionArn = over.executionArn ?? execution(name).Id;
    return {
      version: '0',
      id: `event-${++seq}`,
      'detail-type': 'Step Functions Execution Status Change',
      source: 'aws.states',
      account: '123456789012',
      time: clock.now().toISOString(),
      region: 'ap-southeast-1',
      resources: [executionArn],
      detail: {
        executionArn,
        stateMachineArn: `arn:aws:states:ap-southeast-1:123456789012:stateMachine:guardian-production-${over.stateMachine ?? 'deploy'}`,
        name,
        status,
        startDate: clock.now().getTime() - 60_000,
        stopDate: clock.now().getTime(),
        input: JSON.stringify(over.input ?? {}),
        output: null,
        error: over.error === undefined ? 'States.Timeout' : over.error,
        cause: over.cause === undefined ? null : over.cause,
      },
    };
  }

  it('opens one P1 and starts its escalation when a rollback fails, from the Deploy and from its child Rollback', async () => {
    const deployment = await run(preflight, deployEvent());
    const id = deployment.deploymentId;
    const parent = await run(
      executionEnded,
      ended(id, 'FAILED', { error: 'RollbackFailed', cause: 'rollout deadline' }),
    );
    const child = await run(
      executionEnded,
      ended(`${id}-rollback`, 'FAILED', {
        error: 'RollbackFailed',
        stateMachine: 'rollback',
        input: { environment: ENV, deploymentId: id, trigger: 'deploy-failure' },
      }),
    );
    expect(started.filter((s) => s.kind === 'escalation')).toHaveLength(1);
    const incidentId = started[0]?.name as string;
    expect(started[0]?.input).toEqual({ incidentId });
    expect(await db.store.getIncident(ENV, incidentId)).toMatchObject({
      priority: 'P1',
      status: 'open',
      alarm: { name: 'RollbackFailed', reason: 'rollout deadline' },
      release: { deploymentId: id },
    });
    expect(parent.message).toContain(`opened P1 incident ${incidentId}`);
    expect(child.message).toContain(`found P1 incident ${incidentId}`);
  });

  it('pages nobody for an operator rollback refused before it changed anything', async () => {
    const r = await run(
      executionEnded,
      ended('production-rollback-0a1b2c3d', 'FAILED', {
        error: 'NothingToRollBackError',
        stateMachine: 'rollback',
        input: { environment: ENV, trigger: 'operator' },
      }),
    );
    expect(started).toEqual([]);
    expect(await db.store.listIncidents(ENV, 5)).toEqual([]);
    expect(r.message).not.toContain('P1');
  });

  it('releases the lock its deployment still holds and fails the in-progress record when it fails', async () => {
    const deployment = await run(preflight, deployEvent());
    const cause = JSON.stringify({ errorType: 'TransientError', errorMessage: 'DynamoDB throttled' });
    const result = await run(
      executionEnded,
      ended(deployment.deploymentId, 'FAILED', { error: 'TransientError', cause }),
    );

    expect(await db.store.getLock(ENV)).toBeUndefined();
    const record = await db.store.getRecord(ENV, deployment.deploymentId);
    expect(record).toMatchObject({
      status: 'failed',
      finishedAt: clock.now().toISOString(),
      reason: 'execution failed before the guardian recorded an outcome (TransientError: DynamoDB throttled)',
    });
    // A FAILED execution ended on a state of its own workflow: the breaker is not the janitor's to open.
    expect((await db.store.getBreaker(ENV)).state).toBe('closed');
    expect(result.message).toContain(`released the ${ENV} lock held by ${deployment.deploymentId}`);
    expect(result.message).toContain(`recorded deploy ${deployment.deploymentId} as failed`);
  });

  it('opens the breaker when a deployment that started its rollout is aborted', async () => {
    const deployment = await deployUntilRolledOut();
    await run(executionEnded, ended(deployment.deploymentId, 'ABORTED', { error: null }));

    expect(await db.store.getLock(ENV)).toBeUndefined();
    expect(await db.store.getRecord(ENV, deployment.deploymentId)).toMatchObject({
      status: 'failed',
      reason: 'execution was aborted before the guardian recorded an outcome (no error reported)',
    });
    const breaker = await db.store.getBreaker(ENV);
    expect(breaker).toMatchObject({ state: 'open', lastEventId: deployment.deploymentId });
    expect(breaker.reason).toContain('aborted before the guardian recorded an outcome');
    await expect(run(preflight, deployEvent())).rejects.toThrow(/circuit breaker for production is open/);
  });

  it("keeps another execution's lock and record when it times out", async () => {
    const holder = await run(preflight, deployEvent());
    const lockBefore = await db.store.getLock(ENV);
    const result = await run(executionEnded, ended('production-v9-9-9-deadbeef', 'TIMED_OUT'));

    expect(await db.store.getLock(ENV)).toEqual(lockBefore);
    expect((await db.store.getRecord(ENV, holder.deploymentId))?.status).toBe('in-progress');
    expect((await db.store.getBreaker(ENV)).state).toBe('closed');
    expect(result.message).toContain(`held by ${holder.deploymentId}`);
    expect(result.message).toContain('stays');
  });

  it('keeps the deployment lock a child rollback inherited when the rollback times out', async () => {
    const deployment = await deployUntilRolledOut();
    const child = await childRollback(deployment);
    await run(executionEnded, ended(child.rollbackId, 'TIMED_OUT'));

    expect((await db.store.getLock(ENV))?.holder).toBe(deployment.deploymentId);
    expect(await db.store.getRecord(ENV, child.rollbackId)).toMatchObject({
      status: 'failed',
      reason: 'execution timed out before the guardian recorded an outcome (States.Timeout)',
    });
    expect((await db.store.getBreaker(ENV)).state).toBe('open');
  });

  it('changes nothing after a deployment that finished its record, and nothing on SUCCEEDED', async () => {
    const deployment = await succeededDeployment();
    const before = await db.store.getRecord(ENV, deployment.deploymentId);
    for (const status of ['FAILED', 'ABORTED', 'SUCCEEDED']) {
      const result = await run(executionEnded, ended(deployment.deploymentId, status));
      expect(result.message).toMatch(/nothing (left )?to clean up/);
    }
    expect(await db.store.getRecord(ENV, deployment.deploymentId)).toEqual(before);
    expect(await db.store.getLock(ENV)).toBeUndefined();
    expect((await db.store.getBreaker(ENV)).state).toBe('closed');
  });

  it('changes nothing when EventBridge delivers the same event twice', async () => {
    const deployment = await deployUntilRolledOut();
    const event = ended(deployment.deploymentId, 'ABORTED');
    await run(executionEnded, event);
    const after = {
      record: await db.store.getRecord(ENV, deployment.deploymentId),
      breaker: await db.store.getBreaker(ENV),
    };
    clock.advance(60);
    // Another deployment takes the free lock before the duplicate arrives.
    await db.store.updateBreaker(ENV, () => ({ ...after.breaker, state: 'closed' }));
    const next = await run(preflight, deployEvent());
    const reopened = await db.store.updateBreaker(ENV, () => after.breaker);
    const lock = await db.store.getLock(ENV);

    const again = await run(executionEnded, event);
    expect(await db.store.getRecord(ENV, deployment.deploymentId)).toEqual(after.record);
    expect(await db.store.getBreaker(ENV)).toEqual(reopened);
    expect(await db.store.getLock(ENV)).toEqual(lock);
    expect(lock?.holder).toBe(next.deploymentId);
    expect(again.message).toContain('nothing left to clean up');
  });

  it('does not fail a record of the same name that another execution wrote', async () => {
    const deployment = await run(preflight, deployEvent());
    const other = `${execution(deployment.deploymentId).Id}-other`;
    await run(executionEnded, ended(deployment.deploymentId, 'FAILED', { executionArn: other }));
    // Same holder name: the lock is released; the record carries another ARN and stays in progress.
    expect((await db.store.getRecord(ENV, deployment.deploymentId))?.status).toBe('in-progress');
  });

  it('refuses a malformed event, naming the field, and changes nothing', async () => {
    const deployment = await run(preflight, deployEvent());
    const event = ended(deployment.deploymentId, 'FAILED');
    const bad = { ...event, detail: { ...event.detail, executionArn: undefined } };
    await expect(run(executionEnded, bad)).rejects.toThrow(InvalidInputError);
    await expect(run(executionEnded, bad)).rejects.toThrow(
      /invalid execution-ended event: detail\.executionArn/,
    );
    await expect(run(executionEnded, { ...event, source: 'aws.lambda' })).rejects.toThrow(/source/);
    expect((await db.store.getLock(ENV))?.holder).toBe(deployment.deploymentId);
    expect((await db.store.getRecord(ENV, deployment.deploymentId))?.status).toBe('in-progress');
  });
});

describe('store: conditional record updates', () => {
  const base = {
    environment: ENV,
    kind: 'deploy',
    executionArn: 'arn:exec:1',
    trigger: 'ci',
    requestedBy: 'ci',
    image: V3,
    rollbackPoint: { platform: 'kubernetes', revision: 2, image: V2, podTemplate: {} },
    startedAt: '2026-05-01T02:00:00.000Z',
  } as const;

  it('finishes an in-progress record, repeats the same outcome, and refuses another', async () => {
    await db.store.putRecord({ ...base, id: 'd1', status: 'in-progress' });
    const allowed = { status: ['in-progress', 'succeeded'] } as const;
    await expect(db.store.updateRecord(ENV, 'd1', { status: 'succeeded' }, allowed)).resolves.toMatchObject({
      status: 'succeeded',
    });
    await expect(db.store.updateRecord(ENV, 'd1', { status: 'succeeded' }, allowed)).resolves.toMatchObject({
      status: 'succeeded',
    });
    await expect(
      db.store.updateRecord(ENV, 'd1', { status: 'rollback-failed' }, { status: ['in-progress'] }),
    ).rejects.toThrow(ConflictError);
    await expect(db.store.updateRecord(ENV, 'd1', {}, { status: ['in-progress'] })).rejects.toThrow(
      'cannot mark deployment production/d1 as updated: it is succeeded (allowed only from in-progress)',
    );
    expect(await db.store.getRecord(ENV, 'd1')).toMatchObject({ status: 'succeeded' });
  });

  it('still reports a missing record as NotFoundError under a condition', async () => {
    await expect(
      db.store.updateRecord(ENV, 'missing', { status: 'succeeded' }, { status: ['in-progress'] }),
    ).rejects.toThrow(NotFoundError);
    expect(await db.store.getRecord(ENV, 'missing')).toBeUndefined();
  });
});

describe('registry', () => {
  it('maps every step id to its handler module', async () => {
    for (const [id, load] of Object.entries(STEP_MODULES)) {
      expect((await load()).step.name).toBe(id);
    }
  });
});
