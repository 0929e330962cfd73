/**
 * The real steps on dynalite, an in-memory cluster and a real HTTP server for health checks.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { httpGet } from '../../lambdas/adapters/http.ts';
import type { Clock } from '../../lambdas/adapters/ports.ts';
import { buildLock } from '../../lambdas/core/lock.ts';
import type { DeploymentContext, RollbackContext, RolloutStatus } from '../../lambdas/core/types.ts';
import { step as healthCheck } from '../../lambdas/health-check/handler.ts';
import { step as preflight } from '../../lambdas/preflight/handler.ts';
import { step as recordDeployment } from '../../lambdas/record-deployment/handler.ts';
import { STEPS } from '../../lambdas/registry.ts';
import { step as rollbackApply } from '../../lambdas/rollback-apply/handler.ts';
import { step as rollbackFinish } from '../../lambdas/rollback-finish/handler.ts';
import { step as rollbackPrepare } from '../../lambdas/rollback-prepare/handler.ts';
import { step as rolloutStatus } from '../../lambdas/rollout-status/handler.ts';
import { step as setImage } from '../../lambdas/set-image/handler.ts';
import type { StepDeps } from '../../lambdas/shared/step.ts';
import { loadConfig } from '../../lib/config/load.ts';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.ts';
import { MemoryCluster } from '../helpers/memory-cluster.ts';

const REPO = 'ghcr.io/buywhere/buywhere-api';
const V1 = `${REPO}:v1.0.0`;
const V2 = `${REPO}:v1.1.0`;
const V3 = `${REPO}:v1.2.0`;
const ENV = 'production';

let api: Server;
let apiUrl: string;
let apiHealthy = true;
let db: LocalDynamo;
let cluster: MemoryCluster;
let current: Date;
let deps: StepDeps;
let config: EnvironmentConfig;
let seq = 0;

const clock: Clock = { now: () => current };
const logger = new Logger({ serviceName: 'steps-test', logLevel: 'SILENT' });

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
  cluster = new MemoryCluster(ENV, 'buywhere-api', 'buywhere-api', [V1, V2]);
  current = new Date('2026-05-01T02:00:00Z');
  apiHealthy = true;
  const prod = loadConfig().environments[ENV];
  if (!prod) throw new Error('config/environments.yaml has no production');
  config = { ...prod, apiUrl, healthCheck: { ...prod.healthCheck, timeoutMs: 2000 } };
  deps = { config, store: db.store, cluster: async () => cluster, httpGet, clock, logger };
});

afterEach(async () => {
  await db.close();
});

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
  expect(cluster.writes).toEqual([]);
}

async function deployUntilRolledOut(): Promise<DeploymentContext> {
  const deployment = (await preflight.run(deployEvent(), deps)) as DeploymentContext;
  await setImage.run({ deployment }, deps);
  return deployment;
}

async function rollback(
  input: Record<string, unknown>,
  name = `production-rollback-${String(++seq).padStart(8, '0')}`,
) {
  const ctx = (await rollbackPrepare.run(
    { input: { environment: ENV, ...input }, execution: execution(name) },
    deps,
  )) as RollbackContext;
  await rollbackApply.run({ rollback: ctx }, deps);
  return ctx;
}

describe('preflight', () => {
  it('takes the lock and records the deployment with its rollback state', async () => {
    const ctx = await preflight.run(deployEvent({}, 'production-v1-2-0-aaaaaaaa'), deps);
    expect(ctx).toMatchObject({
      environment: ENV,
      deploymentId: 'production-v1-2-0-aaaaaaaa',
      image: V3,
      expectedImage: V3,
      version: 'v1.2.0',
      previousImage: V2,
      previousRevision: 2,
      dryRun: false,
      startedAt: current.toISOString(),
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
      previousImage: V2,
      previousRevision: 2,
      startedAt: current.toISOString(),
    });
    expect(await db.store.getLock(ENV)).toMatchObject({
      holder: 'production-v1-2-0-aaaaaaaa',
      expiresAt: '2026-05-01T03:30:00.000Z',
    });
    expect(cluster.writes).toEqual([]);
  });

  it('can be retried by the same execution without failing or duplicating', async () => {
    const event = deployEvent({}, 'production-v1-2-0-bbbbbbbb');
    await preflight.run(event, deps);
    current = new Date(current.getTime() + 2000);
    await expect(preflight.run(event, deps)).resolves.toMatchObject({
      deploymentId: 'production-v1-2-0-bbbbbbbb',
    });
    expect(await db.store.listRecords(ENV, 10)).toHaveLength(1);
  });

  it('refuses during a configured change freeze and changes nothing', async () => {
    current = new Date('2026-12-25T00:00:00Z');
    await expect(preflight.run(deployEvent(), deps)).rejects.toMatchObject({
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
    await expect(preflight.run(deployEvent(), deps)).rejects.toMatchObject({
      name: 'ChangeFreezeError',
      message: expect.stringMatching(/ad-hoc change freeze 'db-migration' set by bolt/),
    });
    await expectNothingChanged();
  });

  it('refuses while the circuit breaker is open and changes nothing', async () => {
    await db.store.putBreaker({
      environment: ENV,
      state: 'open',
      consecutiveFailures: 2,
      reason: 'two bad releases',
    });
    await expect(preflight.run(deployEvent(), deps)).rejects.toMatchObject({
      name: 'CircuitOpenError',
      message: expect.stringMatching(
        /circuit breaker for production is open: two bad releases.*circuit-breaker --reset/,
      ),
    });
    await expectNothingChanged();
  });

  it('refuses while another deployment holds the lock, naming it, and leaves its lock alone', async () => {
    const held = buildLock(
      ENV,
      'production-v1-1-9-cccccccc',
      'arn:other',
      new Date('2026-05-01T01:50:00Z'),
      5400,
    );
    await db.store.acquireLock(held, current);
    await expect(preflight.run(deployEvent(), deps)).rejects.toMatchObject({
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
    await expect(preflight.run(deployEvent(over), deps)).rejects.toMatchObject({
      name: 'InvalidInputError',
      message: expect.stringMatching(message),
    });
    await expectNothingChanged();
  });

  it('gives the lock back when the workload is missing', async () => {
    deps = { ...deps, config: { ...config, workload: 'no-such-api' } };
    await expect(preflight.run(deployEvent(), deps)).rejects.toMatchObject({ name: 'NotFoundError' });
    await expectNothingChanged();
  });

  it('returns the plan on a dry run and changes nothing', async () => {
    const ctx = (await preflight.run(deployEvent({ dryRun: true }), deps)) as DeploymentContext;
    expect(ctx.dryRun).toBe(true);
    expect(ctx.plan).toContain(
      `set production/buywhere-api container buywhere-api from ${V2} (revision 2) to ${V3}`,
    );
    expect(ctx.plan).toContain('the production lock is free (a dry run does not take it)');
    await expectNothingChanged();
  });

  it('refuses a dry run while the lock is held, and still changes nothing', async () => {
    const held = buildLock(ENV, 'other-deploy', 'arn:other', current, 3600);
    await db.store.acquireLock(held, current);
    await expect(preflight.run(deployEvent({ dryRun: true }), deps)).rejects.toMatchObject({
      name: 'LockHeldError',
    });
    expect(await db.store.getLock(ENV)).toEqual(held);
    expect(await db.store.listRecords(ENV, 10)).toEqual([]);
  });
});

describe('deploy steps', () => {
  it('records success with the final revision, resets the breaker count and releases the lock', async () => {
    await db.store.putBreaker({ environment: ENV, state: 'closed', consecutiveFailures: 1 });
    const deployment = await deployUntilRolledOut();
    const status = (await rolloutStatus.run({ target: deployment }, deps)) as RolloutStatus;
    expect(status).toMatchObject({ phase: 'complete', revision: 3 });
    const health = await healthCheck.run({ target: deployment }, deps);
    expect(health).toMatchObject({
      healthy: true,
      summary: 'all 3 health checks passed (GET /health, GET /ready, GET /metrics)',
    });
    const out = await recordDeployment.run({ deployment, health }, deps);
    expect(out).toEqual({
      message: `production now runs ${V3} (v1.2.0) at revision 3; deployment ${deployment.deploymentId} recorded as succeeded and the production lock released.`,
    });
    expect(await db.store.getRecord(ENV, deployment.deploymentId)).toMatchObject({
      status: 'succeeded',
      revision: 3,
      finishedAt: current.toISOString(),
    });
    expect((await db.store.getBreaker(ENV)).consecutiveFailures).toBe(0);
    expect(await db.store.getLock(ENV)).toBeUndefined();
    // A retried record step is harmless.
    await expect(recordDeployment.run({ deployment, health }, deps)).resolves.toEqual(out);
  });

  it('reports a stuck rollout as progressing, then failed at the deadline', async () => {
    cluster.behaviour = 'stuck';
    const deployment = await deployUntilRolledOut();
    expect(await rolloutStatus.run({ target: deployment }, deps)).toMatchObject({
      phase: 'progressing',
      message: expect.stringMatching(/1 out of 3 new replicas/),
    });
    current = new Date(deployment.rolloutDeadlineAt);
    expect(await rolloutStatus.run({ target: deployment }, deps)).toMatchObject({
      phase: 'failed',
      message: expect.stringMatching(/guardian's deadline/),
    });
  });

  it('fails the health check naming the endpoint and the field', async () => {
    apiHealthy = false;
    const deployment = await deployUntilRolledOut();
    await expect(healthCheck.run({ target: deployment }, deps)).rejects.toMatchObject({
      name: 'HealthCheckFailedError',
      message: expect.stringMatching(
        /2 of 3 health checks failed: GET \/health: field status is "degraded", expected "ok"; GET \/ready: field ready is false, expected true/,
      ),
    });
  });

  it('names a refused connection in the health check failure', async () => {
    const deployment = await deployUntilRolledOut();
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    deps = { ...deps, config: { ...config, apiUrl: `http://127.0.0.1:${port}` } };
    await expect(healthCheck.run({ target: deployment }, deps)).rejects.toMatchObject({
      name: 'HealthCheckFailedError',
      message: expect.stringMatching(/GET \/health: no response after \d+ ms: connection refused/),
    });
  });
});

describe('rollback steps', () => {
  it('rolls a failed deployment back to its captured revision under the deployment lock', async () => {
    const deployment = await deployUntilRolledOut();
    const ctx = await rollback({
      deploymentId: deployment.deploymentId,
      trigger: 'deploy-failure',
      reason: 'health check failed',
    });
    expect(ctx).toMatchObject({
      lockHolder: deployment.deploymentId,
      fromImage: V3,
      fromRevision: 3,
      toRevision: 2,
      expectedImage: V2,
    });
    expect(cluster.images['buywhere-api']).toBe(V2);
    expect(await rolloutStatus.run({ target: ctx }, deps)).toMatchObject({ phase: 'complete', revision: 4 });
    const out = (await rollbackFinish.run({ rollback: ctx, outcome: 'rolled-back' }, deps)) as {
      message: string;
    };
    expect(out.message).toMatch(
      /^Rolled deployment production-v1-2-0-\d+ back to revision 2 .* because: health check failed\. circuit breaker closed \(1 of 2 consecutive failures\); the lock is released\.$/,
    );
    expect(await db.store.getRecord(ENV, ctx.rollbackId)).toMatchObject({
      kind: 'rollback',
      status: 'rolled-back',
      deploymentId: deployment.deploymentId,
      image: V2,
      previousImage: V3,
      previousRevision: 3,
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
    const ctx = await rollback({ deploymentId: deployment.deploymentId, trigger: 'deploy-failure' });
    await rollbackFinish.run({ rollback: ctx, outcome: 'rolled-back' }, deps);
    await rollbackFinish.run({ rollback: ctx, outcome: 'rolled-back' }, deps);
    expect((await db.store.getBreaker(ENV)).consecutiveFailures).toBe(1);
  });

  it('opens the breaker after the configured consecutive failures, which blocks deploys but not an operator rollback', async () => {
    for (let i = 0; i < config.thresholds.consecutive_failures_for_rollback; i++) {
      const deployment = await deployUntilRolledOut();
      const ctx = await rollback({
        deploymentId: deployment.deploymentId,
        trigger: 'deploy-failure',
        reason: `bad release ${i}`,
      });
      await rollbackFinish.run({ rollback: ctx, outcome: 'rolled-back' }, deps);
    }
    expect(await db.store.getBreaker(ENV)).toMatchObject({
      state: 'open',
      reason: '2 consecutive failed releases (threshold 2); last: bad release 1',
    });
    await expect(preflight.run(deployEvent(), deps)).rejects.toMatchObject({ name: 'CircuitOpenError' });
    const ctx = await rollback({
      trigger: 'operator',
      requestedBy: 'bolt',
      revision: 1,
      reason: 'back to the known-good v1.0.0',
    });
    expect(cluster.images['buywhere-api']).toBe(V1);
    expect(ctx.lockHolder).toBe(ctx.rollbackId);
  });

  it('records a failed rollback, opens the breaker at once and releases the lock', async () => {
    const deployment = await deployUntilRolledOut();
    const ctx = await rollback({ deploymentId: deployment.deploymentId, trigger: 'deploy-failure' });
    const failure = {
      Error: 'RolloutFailedError',
      Cause: 'deployment "production/buywhere-api" exceeded its progress deadline (600s)',
    };
    const out = (await rollbackFinish.run({ rollback: ctx, outcome: 'rollback-failed', failure }, deps)) as {
      message: string;
    };
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

  it('takes the lock for an operator rollback and refuses while another execution holds it', async () => {
    const held = buildLock(ENV, 'production-v9-9-9-dddddddd', 'arn:busy', current, 3600);
    await db.store.acquireLock(held, current);
    await expect(rollback({ trigger: 'operator' })).rejects.toMatchObject({
      name: 'LockHeldError',
      message: expect.stringMatching(/locked by production-v9-9-9-dddddddd/),
    });
    expect(await db.store.getLock(ENV)).toEqual(held);
    expect(cluster.writes).toEqual([]);
  });

  it('refuses a named revision that does not exist, listing them, and gives the lock back', async () => {
    await expect(rollback({ revision: 7 })).rejects.toMatchObject({
      name: 'NotFoundError',
      message: expect.stringMatching(/revision 7 .* not found; available revisions: 1, 2/),
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
    const deployment = await deployUntilRolledOut();
    const ctx = await rollback({ deploymentId: deployment.deploymentId, trigger: 'alarm' });
    await rollbackFinish.run({ rollback: ctx, outcome: 'rolled-back' }, deps);
    await expect(rollback({ deploymentId: deployment.deploymentId, trigger: 'alarm' })).rejects.toMatchObject(
      {
        name: 'InvalidInputError',
        message: expect.stringMatching(`already rolled back by ${ctx.rollbackId}`),
      },
    );
  });

  it('treats a retried undo as already applied', async () => {
    const deployment = await deployUntilRolledOut();
    const ctx = await rollback({ deploymentId: deployment.deploymentId, trigger: 'deploy-failure' });
    const again = (await rollbackApply.run({ rollback: ctx }, deps)) as { message: string; revision: number };
    expect(again.message).toMatch(/already runs .*v1\.1\.0 \(revision 4\); the undo was applied earlier/);
    expect(cluster.writes.filter((w) => w.startsWith('undo'))).toHaveLength(1);
  });

  it('rolls back to the previous revision by default, like kubectl rollout undo', async () => {
    const ctx = await rollback({ trigger: 'operator', reason: 'error rate up' });
    expect(ctx).toMatchObject({ fromRevision: 2, toRevision: 1, expectedImage: V1 });
    expect(await db.store.getLock(ENV)).toMatchObject({ holder: ctx.rollbackId });
  });
});

describe('registry', () => {
  it('maps every step id to its handler module', async () => {
    for (const [id, load] of Object.entries(STEPS)) {
      expect((await load()).step.name).toBe(id);
    }
  });
});
