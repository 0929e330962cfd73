/**
 * The ECS Workload adapter against the in-process ECS double on a simulated clock: rollouts that
 * complete, fail by ECS's circuit breaker (with ECS's own rollback), restores, history, and the
 * bad-input cases, each of which must change nothing in the double.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { CHANGE_CAUSE_TAG, EcsWorkload, ecsTagValue } from '../../lambdas/adapters/ecs-workload.ts';
import { InvalidInputError, NotFoundError } from '../../lambdas/core/errors.ts';
import { judgeRollout } from '../../lambdas/core/rollout.ts';
import type { RollbackPoint } from '../../lambdas/core/workload.ts';
import { SimulatedClock } from '../../lib/local/clock.ts';
import {
  BAKE_SECONDS,
  circuitBreakerThreshold,
  DEREGISTRATION_DELAY_SECONDS,
  EcsSim,
  HEALTH_CHECK_FAILURE_SECONDS,
} from '../../lib/local/ecs-sim.ts';

const CLUSTER = 'buywhere-staging';
const SERVICE = 'buywhere-api';
const CONTAINER = 'api';
const V1 = 'ghcr.io/buywhere/buywhere-api:v1.2.2';
const V2 = 'ghcr.io/buywhere/buywhere-api:v1.2.3';
const NEVER = 'ghcr.io/buywhere/buywhere-api:v1.2.5-never-ready';
const BAD = 'ghcr.io/buywhere/buywhere-api:v1.2.6-bad';
const TD1 = 'arn:aws:ecs:ap-southeast-1:123456789012:task-definition/buywhere-api:1';
const TD2 = 'arn:aws:ecs:ap-southeast-1:123456789012:task-definition/buywhere-api:2';
const CONFIG = { cluster: CLUSTER, workload: SERVICE, container: CONTAINER, name: 'staging', alarms: {} };

let clock: SimulatedClock;
let sim: EcsSim;
let workload: EcsWorkload;
let warnings: { message: string; extra: Record<string, unknown> }[];

beforeEach(() => {
  clock = new SimulatedClock(new Date('2026-12-03T12:00:00Z'));
  sim = new EcsSim(clock);
  sim.seed({
    cluster: CLUSTER,
    service: SERVICE,
    container: CONTAINER,
    family: 'buywhere-api',
    image: V1,
    desiredCount: 3,
  });
  warnings = [];
  workload = new EcsWorkload(sim, CONFIG, { warn: (message, extra) => warnings.push({ message, extra }) });
});

/** Advances the clock in poll-sized steps until the observation satisfies `done` (at most `max` s). */
async function pollUntil(done: (phase: string, image: string) => boolean, max = 900, step = 10) {
  for (let t = 0; t <= max; t += step) {
    const o = await workload.observe();
    if (done(o.rollout.phase, o.image)) return o;
    clock.advance(step);
  }
  throw new Error(`not done after ${max} s: ${JSON.stringify(await workload.observe())}`);
}

async function service() {
  const out = await sim.describeServices({ cluster: CLUSTER, services: [SERVICE] });
  const s = out.services?.[0];
  if (s === undefined) throw new Error('no service');
  return s;
}

describe('EcsWorkload against the ECS double', () => {
  it('captures the PRIMARY task definition as the rollback point', async () => {
    const { observation, point } = await workload.capture();
    expect(point).toEqual({ platform: 'ecs', taskDefinitionArn: TD1, revision: 1, image: V1 });
    expect(observation).toMatchObject({
      name: `ECS service "${CLUSTER}/${SERVICE}"`,
      platform: 'ecs',
      image: V1,
      revision: 1,
      rollout: { phase: 'complete' },
      replicas: { desired: 3, updated: 3, ready: 3, available: 3 },
    });
  });

  it('completes a healthy rollout: a new revision with only the image changed, circuit breaker and alarm on', async () => {
    const before = await sim.describeTaskDefinition({ taskDefinition: TD1 });
    const started = await workload.startRollout(
      V2,
      'guardian deploy v1.2.3 (execution staging-v1-2-3-0a1b2c3d)',
    );
    expect(started).toMatchObject({ image: V2, revision: 2, rollout: { phase: 'progressing' } });

    const registered = await sim.describeTaskDefinition({ taskDefinition: TD2, include: ['TAGS'] });
    const {
      taskDefinitionArn: _a,
      revision: _r,
      registeredAt: _t,
      ...newBody
    } = registered.taskDefinition ?? {};
    const { taskDefinitionArn: _b, revision: _s, registeredAt: _u, ...oldBody } = before.taskDefinition ?? {};
    const oldContainer = oldBody.containerDefinitions?.[0];
    expect(newBody).toEqual({ ...oldBody, containerDefinitions: [{ ...oldContainer, image: V2 }] });
    expect(registered.tags).toEqual([
      { key: 'service', value: SERVICE },
      { key: CHANGE_CAUSE_TAG, value: 'guardian deploy v1.2.3 _execution staging-v1-2-3-0a1b2c3d_' },
    ]);
    expect(warnings).toEqual([]);

    const s = await service();
    expect(s.taskDefinition).toBe(TD2);
    expect(s.deploymentConfiguration).toEqual({
      maximumPercent: 200,
      minimumHealthyPercent: 100,
      deploymentCircuitBreaker: { enable: true, rollback: true },
      alarms: { alarmNames: ['guardian-staging-Degraded'], enable: true, rollback: true },
    });

    // Healthy after 5 s, the old tasks drain 30 s, then ECS bakes with the alarm 60 s.
    clock.advance(5 + DEREGISTRATION_DELAY_SECONDS + BAKE_SECONDS - 1);
    expect((await workload.observe()).rollout.phase).toBe('progressing');
    clock.advance(1);
    const done = await workload.observe();
    expect(done).toMatchObject({ image: V2, revision: 2, rollout: { phase: 'complete' } });
    expect(done.rollout.message).toContain('rollout COMPLETED, 3 of 3 tasks running');
    expect(sim.servedImage(CLUSTER, SERVICE)).toBe(V2);
    expect(
      judgeRollout(
        done,
        { expectedImage: V2, rolloutDeadlineAt: '2026-12-03T12:10:00Z' } as never,
        clock.now(),
      ).phase,
    ).toBe('complete');
  });

  it('fails a never-ready image by the circuit breaker, with the stopped reasons, and shows ECS rolling back', async () => {
    await workload.startRollout(NEVER, 'guardian deploy v1.2.5');
    expect(circuitBreakerThreshold(3)).toBe(3);
    // Before the tasks fail their ELB health checks the rollout is only progressing.
    clock.advance(HEALTH_CHECK_FAILURE_SECONDS);
    expect((await workload.observe()).rollout.phase).toBe('progressing');
    clock.advance(5);

    const during = await workload.observe();
    // ECS rolled back by itself: the service's desired state is revision 1 again, still rolling out.
    expect(during).toMatchObject({ image: V1, revision: 1, rollout: { phase: 'progressing' } });
    expect(during.rollout.message).toContain(
      "ECS's deployment circuit breaker failed the deployment: ECS deployment circuit breaker: tasks failed to start.",
    );
    expect(during.rollout.message).toContain('ECS rolled back to buywhere-api:1 (rollback in progress');
    expect(during.rollout.message).toMatch(
      // ECS launched a replacement after each of the first two failures; the trip stopped those.
      /5 tasks stopped: Task failed ELB health checks in \(target-group arn:aws:elasticloadbalancing:[^)]+\) \(×3\); Scaling activity initiated by \(deployment ecs-svc\/\d+\) \(×2\)/,
    );
    const s = await service();
    expect(s.deployments?.map((d) => [d.status, d.taskDefinition, d.rolloutState])).toEqual([
      ['PRIMARY', TD1, 'IN_PROGRESS'],
      ['ACTIVE', TD2, 'FAILED'],
    ]);
    expect(s.deployments?.[0]?.rolloutStateReason).toMatch(/rolling back to deploymentId ecs-svc\/\d{19}\./);
    expect(sim.servedImage(CLUSTER, SERVICE)).toBe(V1);

    // The Deploy workflow's judgement: the service no longer runs what it deployed.
    expect(
      judgeRollout(
        during,
        { expectedImage: NEVER, rolloutDeadlineAt: '2026-12-03T12:10:00Z' } as never,
        clock.now(),
      ).phase,
    ).toBe('failed');

    const after = await pollUntil((phase) => phase === 'complete');
    expect(after).toMatchObject({ image: V1, revision: 1 });
    expect((await service()).deployments).toHaveLength(1);
  });

  it('fails a bad image whose container exits, naming the exit', async () => {
    const noAlarms = new EcsWorkload(sim, { ...CONFIG, alarms: undefined });
    await noAlarms.startRollout(BAD, 'guardian deploy v1.2.6');
    expect((await service()).deploymentConfiguration?.alarms).toBeUndefined();
    clock.advance(5 + 10);
    const o = await noAlarms.observe();
    expect(o.rollout.message).toContain(
      'tasks stopped: Essential container in task exited — container api: exited with code 1 (×3)',
    );
    expect(o.image).toBe(V1);
  });

  it('reports FAILED when ECS has nothing to roll back to, with the stopped reasons', async () => {
    // A service whose first deployment fails: no earlier COMPLETED deployment for ECS to return to.
    sim.seed({
      cluster: CLUSTER,
      service: 'fresh',
      container: CONTAINER,
      family: 'fresh',
      image: NEVER,
      desiredCount: 2,
    });
    const fresh = new EcsWorkload(sim, { ...CONFIG, workload: 'fresh' });
    await sim.updateService({
      cluster: CLUSTER,
      service: 'fresh',
      deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: false } },
      forceNewDeployment: true,
    });
    clock.advance(2 + HEALTH_CHECK_FAILURE_SECONDS);
    // Two tasks failed; the threshold is 3, so ECS launches replacements and keeps trying.
    expect((await fresh.observe()).rollout.phase).toBe('progressing');
    clock.advance(HEALTH_CHECK_FAILURE_SECONDS + 2);
    const o = await fresh.observe();
    expect(o.rollout.phase).toBe('failed');
    expect(o.rollout.message).toContain("ECS's deployment circuit breaker failed the deployment");
    expect(o.rollout.message).toContain("ECS's own rollback is off; the guardian rolls back");
    expect(o.rollout.message).toMatch(/\d tasks stopped: Task failed ELB health checks/);
  });

  it('restores the captured task definition with a new deployment, and a second restore changes nothing', async () => {
    const { point } = await workload.capture();
    await workload.startRollout(V2, 'guardian deploy v1.2.3');
    await pollUntil((phase, image) => phase === 'complete' && image === V2);

    const restored = await workload.restore(point, 'guardian rollback to revision 1');
    expect(restored).toMatchObject({ image: V1, revision: 1, rollout: { phase: 'progressing' } });
    const s = await service();
    expect(s.taskDefinition).toBe(TD1);
    expect(s.deployments?.[0]).toMatchObject({
      status: 'PRIMARY',
      taskDefinition: TD1,
      rolloutState: 'IN_PROGRESS',
    });

    const before = sim.dump();
    const again = await workload.restore(point, 'guardian rollback to revision 1');
    expect(again.image).toBe(V1);
    expect(sim.dump()).toBe(before);

    await pollUntil((phase) => phase === 'complete');
    const idle = sim.dump();
    await workload.restore(point, 'guardian rollback to revision 1');
    expect(sim.dump()).toBe(idle);
  });

  it('does not restore over ECS rolling back to the same revision by itself', async () => {
    const { point } = await workload.capture();
    await workload.startRollout(NEVER, 'guardian deploy v1.2.5');
    clock.advance(HEALTH_CHECK_FAILURE_SECONDS + 5);
    const before = sim.dump();
    const o = await workload.restore(point, 'guardian rollback');
    expect(o.image).toBe(V1);
    expect(sim.dump()).toBe(before);
  });

  it('lists the family ACTIVE revisions oldest first as history, the newest ten', async () => {
    for (let i = 0; i < 11; i++) {
      await workload.startRollout(`ghcr.io/buywhere/buywhere-api:v2.0.${i}`, `release ${i}`);
    }
    // A family the prefix also matches does not count.
    sim.seed({
      cluster: CLUSTER,
      service: 'worker',
      container: CONTAINER,
      family: 'buywhere-api-worker',
      image: V1,
      desiredCount: 1,
    });
    const history = await workload.history();
    expect(history.map((p) => p.revision)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(history.at(-1)).toEqual({
      platform: 'ecs',
      taskDefinitionArn: 'arn:aws:ecs:ap-southeast-1:123456789012:task-definition/buywhere-api:12',
      revision: 12,
      image: 'ghcr.io/buywhere/buywhere-api:v2.0.10',
    });
  });

  it('reports the PRIMARY tasks start and ready times', async () => {
    await workload.startRollout('ghcr.io/buywhere/buywhere-api:v1.2.4-slow', 'slow');
    clock.advance(10);
    const pending = await workload.podStartup();
    expect(pending).toHaveLength(3);
    expect(pending.every((p) => p.readyAt === undefined)).toBe(true);
    clock.advance(240);
    const ready = await workload.podStartup();
    expect(ready).toHaveLength(3);
    for (const p of ready) {
      expect(Date.parse(p.readyAt ?? '') - Date.parse(p.createdAt)).toBe(240_000);
    }
  });

  it('refuses a task definition without the configured container and registers nothing', async () => {
    const before = sim.dump();
    const wrong = new EcsWorkload(sim, { ...CONFIG, container: 'web' });
    const err = await wrong.startRollout(V2, 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toContain(`task definition ${TD1} has no container 'web' (it has: 'api')`);
    expect(sim.dump()).toBe(before);
    await expect(wrong.observe()).rejects.toThrow(NotFoundError);
  });

  it('refuses a service that does not exist, naming it and the config key, and changes nothing', async () => {
    const before = sim.dump();
    const missing = new EcsWorkload(sim, { ...CONFIG, workload: 'buywhere-apx' });
    for (const attempt of [
      () => missing.startRollout(V2, 'x'),
      () => missing.capture(),
      () => missing.observe(),
    ]) {
      const err = await attempt().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotFoundError);
      expect((err as Error).message).toMatch(
        /ECS service 'buywhere-apx' does not exist in cluster 'buywhere-staging' .*'workload'.*config\/environments\.yaml/,
      );
    }
    const restoreErr = await missing
      .restore({ platform: 'ecs', taskDefinitionArn: TD1, revision: 1, image: V1 }, 'x')
      .catch((e: unknown) => e);
    expect(restoreErr).toBeInstanceOf(NotFoundError);
    expect(sim.dump()).toBe(before);
  });

  it('refuses a cluster that does not exist, naming it, and changes nothing', async () => {
    const before = sim.dump();
    const missing = new EcsWorkload(sim, { ...CONFIG, cluster: 'buywhere-stagin' });
    const err = await missing.startRollout(V2, 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toMatch(/ECS cluster 'buywhere-stagin' does not exist .*'cluster'/);
    expect(sim.dump()).toBe(before);
  });

  it('refuses to restore a task definition that does not exist, and leaves the service as it was', async () => {
    const before = sim.dump();
    const gone: RollbackPoint = {
      platform: 'ecs',
      taskDefinitionArn: 'arn:aws:ecs:ap-southeast-1:123456789012:task-definition/buywhere-api:9',
      revision: 9,
      image: V1,
    };
    const err = await workload.restore(gone, 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toContain(
      "ECS task definition 'arn:aws:ecs:ap-southeast-1:123456789012:task-definition/buywhere-api:9' does not exist",
    );
    expect(sim.dump()).toBe(before);
  });

  it('refuses a Kubernetes rollback point', async () => {
    const k8s: RollbackPoint = { platform: 'kubernetes', revision: 1, image: V1, podTemplate: {} };
    await expect(workload.restore(k8s, 'x')).rejects.toThrow(InvalidInputError);
  });

  it('keeps its state in the persistence it is given, so another instance continues the rollout', async () => {
    let stored: string | undefined;
    const persistence = {
      read: () => stored,
      write: (json: string) => {
        stored = json;
      },
    };
    const first = new EcsSim(clock, { persistence });
    first.seed({ cluster: 'c', service: 's', container: CONTAINER, family: 'f', image: V1, desiredCount: 2 });
    await new EcsWorkload(first, { ...CONFIG, cluster: 'c', workload: 's' }).startRollout(V2, 'x');
    expect(JSON.parse(stored ?? '{}')).toMatchObject({ version: 1 });
    clock.advance(600);
    const second = new EcsWorkload(new EcsSim(clock, { persistence }), {
      ...CONFIG,
      cluster: 'c',
      workload: 's',
    });
    expect(await second.observe()).toMatchObject({ image: V2, rollout: { phase: 'complete' } });
  });
});

describe('ecsTagValue', () => {
  it('keeps the characters ECS accepts in a tag and cuts at 256', () => {
    expect(ecsTagValue('deploy v1.2.3 by ci@example.com: ok=1+2/3 (#42)')).toBe(
      'deploy v1.2.3 by ci@example.com: ok=1+2/3 __42_',
    );
    expect([...ecsTagValue('é'.repeat(300))]).toHaveLength(256);
  });
});
