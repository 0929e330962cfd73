/**
 * The legacy ECS platform and the pre-deployment backup (issue 10) executed locally end to end:
 * the synthesized state machines of the shipped config's staging-ecs environment, the real steps,
 * dynalite, the ECS double (rollout progress, circuit breaker, ECS's own rollback) with the demo
 * API following the image its healthy tasks serve, and the RDS double the backup snapshots.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeploymentRecord } from '../../lambdas/core/types.ts';
import { loadConfig } from '../../lib/config/load.ts';
import type { EnvironmentConfig, GuardianConfig } from '../../lib/config/schema.ts';
import type { LocalExecutionResult } from '../../lib/local/executor.ts';
import { LocalGuardian } from '../../lib/local/guardian.ts';

const ENV = 'staging-ecs';
const REPO = 'ghcr.io/buywhere/buywhere-api';
const STABLE = `${REPO}:v1.4.2`;
let guardian: LocalGuardian | undefined;

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };

/** The shipped config with staging-ecs changed by `edit`; the canary analysis off unless kept. */
function ecsWith(edit: (env: Mutable<EnvironmentConfig>) => void = () => undefined): GuardianConfig {
  const config = structuredClone(loadConfig()) as Mutable<GuardianConfig>;
  const env = config.environments[ENV];
  if (!env) throw new Error(`config/environments.yaml has no ${ENV} environment`);
  delete env.canary;
  edit(env);
  return config as GuardianConfig;
}

async function start(config: GuardianConfig): Promise<LocalGuardian> {
  guardian = await LocalGuardian.start({ config, seedImages: { [ENV]: STABLE } });
  return guardian;
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

describe('an ECS environment, end to end', () => {
  it('backs up the database, registers a revision with only the image changed and updates the service', async () => {
    const g = await start(ecsWith());
    const before = await g.observeWorkload(ENV);
    const result = await deploy(g, `${REPO}:v1.5.0`);
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(statesOf(result)).toEqual(
      expect.arrayContaining(['Back up database', 'Check snapshot', 'Update service', 'Record deployment']),
    );
    expect(statesOf(result).indexOf('Snapshot available?')).toBeLessThan(
      statesOf(result).indexOf('Update service'),
    );
    const after = await g.observeWorkload(ENV);
    expect(after).toMatchObject({ platform: 'ecs', image: `${REPO}:v1.5.0`, revision: before.revision + 1 });
    expect(after.rollout.phase).toBe('complete');
    // The new revision is the old one with the container's image changed, nothing else.
    const ecs = await g.ecsDouble(ENV);
    const env = g.environment(ENV);
    const service = (await ecs.describeServices({ cluster: env.cluster, services: [env.workload] }))
      .services?.[0];
    expect(service?.deploymentConfiguration?.deploymentCircuitBreaker).toEqual({
      enable: true,
      rollback: true,
    });
    expect(service?.deploymentConfiguration?.alarms).toMatchObject({
      alarmNames: [`guardian-${ENV}-Degraded`],
      enable: true,
      rollback: true,
    });
    const [oldTd, newTd] = await Promise.all(
      [`${env.workload}:${before.revision}`, `${env.workload}:${after.revision}`].map(
        async (td) => (await ecs.describeTaskDefinition({ taskDefinition: td })).taskDefinition,
      ),
    );
    const strip = (td: typeof oldTd) => {
      const { taskDefinitionArn, revision, registeredAt, registeredBy, containerDefinitions, ...rest } =
        td ?? {};
      return { rest, containers: containerDefinitions?.map(({ image, ...c }) => c) };
    };
    expect(strip(newTd)).toEqual(strip(oldTd));
    expect(newTd?.containerDefinitions?.find((c) => c.name === env.container)?.image).toBe(`${REPO}:v1.5.0`);
    // The record names the snapshot, available, and the rollback point is the old task definition.
    const record = await recordOf(g, result.name);
    expect(record.backup).toMatchObject({
      status: 'available',
      kind: 'instance',
      identifier: 'buywhere-staging',
    });
    expect(record.backup?.snapshotId).toMatch(/^guardian-staging-ecs-v1-5-0-\d{8}t\d{6}z$/);
    expect(record.rollbackPoint).toMatchObject({ platform: 'ecs', revision: before.revision, image: STABLE });
    const snapshots = await g.snapshots(ENV).list({ kind: 'instance', identifier: 'buywhere-staging' });
    expect(snapshots.map((s) => [s.id, s.status])).toContainEqual([record.backup?.snapshotId, 'available']);
  });

  it("reports ECS's circuit breaker with the stopped tasks' reasons and restores the captured task definition", async () => {
    const g = await start(ecsWith());
    expect((await deploy(g, `${REPO}:v1.5.0`)).status).toBe('SUCCEEDED');
    const good = await g.observeWorkload(ENV);
    const result = await deploy(g, `${REPO}:v1.6.0-never-ready`);
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('DeploymentRolledBack');
    expect(result.cause).toMatch(/circuit breaker/);
    expect(result.cause).toMatch(/Task failed ELB health checks/);
    const record = await recordOf(g, result.name);
    expect(record.status).toBe('rolled-back');
    const now = await g.observeWorkload(ENV);
    expect(now).toMatchObject({ image: `${REPO}:v1.5.0`, revision: good.revision });
    expect(await g.store(ENV).getLock(ENV)).toBeUndefined();
  });

  it('rolls a healthy release back on request to the task definition it replaced (guardian rollback)', async () => {
    const g = await start(ecsWith());
    const first = await g.observeWorkload(ENV);
    const deployed = await deploy(g, `${REPO}:v1.5.0`);
    expect(deployed.status).toBe('SUCCEEDED');
    const rolledBack = await g.rollback({
      environment: ENV,
      deploymentId: deployed.name,
      reason: 'operator: bad pricing data',
      trigger: 'operator',
      requestedBy: 'rex',
    });
    expect(rolledBack.status, rolledBack.cause).toBe('SUCCEEDED');
    expect(statesOf(rolledBack)).toContain('Restore previous task definition');
    const now = await g.observeWorkload(ENV);
    expect(now.image).toBe(first.image);
    expect(now.rollout.phase).toBe('complete');
    // ECS moved forward to a new deployment of the old revision, as update-service does.
    const history = await g.store(ENV).listRecords(ENV, 5);
    expect(history[0]).toMatchObject({ kind: 'rollback', status: 'rolled-back', image: first.image });
  });
});

describe('bad ECS configuration', () => {
  it.each([
    ['a container the task definition does not have', { container: 'worker' }, /no container 'worker'/],
    ['a service that does not exist', { workload: 'api-v2' }, /api-v2/],
  ])('refuses %s at preflight, naming it, and changes nothing', async (_what, change, named) => {
    // The ECS double is seeded from the shipped config, then the config changes under it.
    const stateDir = mkdtempSync(path.join(tmpdir(), 'guardian-ecs-'));
    try {
      const seeded = await LocalGuardian.start({
        config: ecsWith(),
        stateDir,
        seedImages: { [ENV]: STABLE },
      });
      const before = (await seeded.ecsDouble(ENV)).dump();
      await seeded.close();
      guardian = await LocalGuardian.start({
        config: ecsWith((env) => Object.assign(env, change)),
        stateDir,
      });
      const g = guardian;
      const result = await deploy(g, `${REPO}:v1.5.0`);
      expect(result.status).toBe('FAILED');
      expect(statesOf(result).at(-1)).toMatch(/^(Preflight failed|Deployment refused)$/);
      expect(statesOf(result)).not.toContain('Back up database');
      expect(result.cause).toMatch(named);
      expect(await g.store(ENV).getLock(ENV)).toBeUndefined();
      expect(await g.store(ENV).listRecords(ENV, 5)).toEqual([]);
      expect(await g.snapshots(ENV).list({ kind: 'instance', identifier: 'buywhere-staging' })).toEqual([]);
      // Nothing registered, nothing updated (the double brought up to the same time).
      expect((await g.ecsDouble(ENV)).dump()).toBe(before);
    } finally {
      await guardian?.close();
      guardian = undefined;
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

describe('the pre-deployment backup', () => {
  it('stops a deployment whose snapshot never becomes available before anything changes, and releases the lock', async () => {
    const g = await start(
      ecsWith((env) => {
        env.backup = {
          ...env.backup,
          database: { kind: 'instance', identifier: 'buywhere-stuck' },
          deadlineSeconds: 120,
        };
      }),
    );
    const before = await g.observeWorkload(ENV);
    const result = await deploy(g, `${REPO}:v1.5.0`);
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('BackupFailedError');
    expect(result.cause).toMatch(/still 'creating' after \d+s \(deadline 120s\): the backup timed out/);
    expect(statesOf(result)).toContain('Backup failed');
    expect(statesOf(result)).not.toContain('Update service');
    expect(await g.observeWorkload(ENV)).toMatchObject({ image: before.image, revision: before.revision });
    expect(await g.store(ENV).getLock(ENV)).toBeUndefined();
    const record = await recordOf(g, result.name);
    expect(record.status).toBe('failed');
    expect(record.backup).toMatchObject({ status: 'failed', identifier: 'buywhere-stuck' });
    expect(record.backup?.detail).toMatch(/timed out/);
  });

  it('stops a deployment whose database does not exist, naming it, and changes nothing', async () => {
    const config = ecsWith((env) => {
      // Locally, a database whose identifier says `missing` does not exist (lib/local/guardian.ts).
      env.backup = { ...env.backup, database: { kind: 'cluster', identifier: 'buywhere-missing' } };
    });
    const g = await start(config);
    const before = await g.observeWorkload(ENV);
    const result = await deploy(g, `${REPO}:v1.5.0`);
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('BackupFailedError');
    expect(result.cause).toMatch(/DB cluster buywhere-missing/);
    expect(await g.observeWorkload(ENV)).toMatchObject({ image: before.image, revision: before.revision });
    expect(await g.store(ENV).getLock(ENV)).toBeUndefined();
  });

  it('keeps the newest snapshots and those records point at, and deletes the expired ones of its own environment only', async () => {
    const g = await start(
      ecsWith((env) => {
        env.backup = { ...env.backup, retention: { keepLast: 1, maxAgeDays: 1 } };
      }),
    );
    const db = { kind: 'instance' as const, identifier: 'buywhere-staging' };
    const sim = g.snapshots(ENV);
    const tags = (env: string, id: string) => ({
      'guardian:managed-by': 'deployment-guardian',
      'guardian:deployment-id': id,
      'guardian:environment': env,
      'guardian:version': 'v1.0.0',
    });
    // Old snapshots: two of this environment, one of staging (same database).
    await sim.create(db, 'guardian-staging-ecs-v1-0-0-20260101t000000z', tags(ENV, 'old-1'));
    await sim.create(db, 'guardian-staging-ecs-v1-0-1-20260102t000000z', tags(ENV, 'old-2'));
    await sim.create(db, 'guardian-staging-v1-0-0-20260101t000000z', tags('staging', 'other'));
    // Days later (the simulated clock moves with the deployments' waits).
    const clock = g.clock as { advance?: (ms: number) => void };
    clock.advance?.(3 * 86_400);
    const result = await deploy(g, `${REPO}:v1.5.0`);
    expect(result.status, result.cause).toBe('SUCCEEDED');
    const left = (await sim.list(db)).map((s) => s.id);
    const record = await recordOf(g, result.name);
    expect(left).toContain(record.backup?.snapshotId);
    expect(left).toContain('guardian-staging-v1-0-0-20260101t000000z');
    expect(left).not.toContain('guardian-staging-ecs-v1-0-0-20260101t000000z');
    expect(left).not.toContain('guardian-staging-ecs-v1-0-1-20260102t000000z');
    expect(record.backup?.detail).toMatch(/retention deleted 2 expired snapshot/);
  });

  it('names the snapshot in the dry-run plan and takes none', async () => {
    const g = await start(ecsWith());
    const result = await g.deploy({
      environment: ENV,
      image: `${REPO}:v1.5.0`,
      trigger: 'ci',
      requestedBy: 'github-actions',
      dryRun: true,
    });
    expect(result.status).toBe('SUCCEEDED');
    const plan = (result.output as { deployment: { plan: string[] } }).deployment.plan;
    expect(plan.join('\n')).toMatch(
      /back up DB instance buywhere-staging as snapshot guardian-staging-ecs-v1-5-0-\d{8}t\d{6}z/,
    );
    expect(await g.snapshots(ENV).list({ kind: 'instance', identifier: 'buywhere-staging' })).toEqual([]);
  });
});
