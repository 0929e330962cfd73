import { describe, expect, it } from 'vitest';
import type { WorkloadState } from '../../lambdas/adapters/cluster.ts';
import {
  containerImage,
  deploymentRollout,
  observeDeployment,
} from '../../lambdas/adapters/kubernetes-workload.ts';
import { NotFoundError } from '../../lambdas/core/errors.ts';
import { judgeRollout, type RolloutExpectation } from '../../lambdas/core/rollout.ts';
import type { WorkloadObservation } from '../../lambdas/core/workload.ts';

const IMAGE = 'ghcr.io/buywhere/buywhere-api:v1.2.3';
const now = new Date('2026-05-01T00:05:00Z');
const target: RolloutExpectation = { expectedImage: IMAGE, rolloutDeadlineAt: '2026-05-01T00:10:00.000Z' };

/** What the rollout-status step does: observe the Deployment's `api` container, then judge it. */
function assessRollout(ws: WorkloadState, t: RolloutExpectation, at: Date) {
  return judgeRollout(observeDeployment(ws, 'api'), t, at);
}

function workload(
  over: Partial<WorkloadState> = {},
  status: Partial<WorkloadState['status']> = {},
): WorkloadState {
  return {
    namespace: 'production',
    name: 'buywhere-api',
    generation: 4,
    observedGeneration: 4,
    replicas: 3,
    paused: false,
    progressDeadlineSeconds: 600,
    podTemplate: { spec: { containers: [{ name: 'api', image: IMAGE }] } },
    revision: 7,
    images: { api: IMAGE },
    status: {
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      unavailableReplicas: 0,
      ...status,
    },
    conditions: [{ type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' }],
    ...over,
  };
}

describe('judgeRollout of a Deployment (observeDeployment + judgeRollout)', () => {
  it('is complete when every replica is updated and available', () => {
    const s = assessRollout(workload(), target, now);
    expect(s).toEqual({
      phase: 'complete',
      message: 'deployment "production/buywhere-api" successfully rolled out',
      revision: 7,
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      checkedAt: now.toISOString(),
    });
  });

  it('waits for the controller to observe a new generation', () => {
    const s = assessRollout(workload({ generation: 5 }), target, now);
    expect(s.phase).toBe('progressing');
    expect(s.message).toMatch(
      /waiting for the controller to observe the spec update \(generation 5, observed 4\)/,
    );
  });

  it('fails on ProgressDeadlineExceeded with the controller message', () => {
    const s = assessRollout(
      workload(
        {
          conditions: [
            {
              type: 'Progressing',
              status: 'False',
              reason: 'ProgressDeadlineExceeded',
              message: 'ReplicaSet "x" has timed out progressing.',
            },
          ],
        },
        { availableReplicas: 1 },
      ),
      target,
      now,
    );
    expect(s.phase).toBe('failed');
    expect(s.message).toBe(
      'deployment "production/buywhere-api" exceeded its progress deadline (600s): ReplicaSet "x" has timed out progressing.',
    );
  });

  it('ignores a stale ProgressDeadlineExceeded until the controller observed the new generation', () => {
    const s = assessRollout(
      workload({
        generation: 5,
        conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
      }),
      target,
      now,
    );
    expect(s.phase).toBe('progressing');
  });

  it.each([
    [
      { updatedReplicas: 1 },
      'Waiting for deployment "production/buywhere-api" rollout to finish: 1 out of 3 new replicas have been updated',
    ],
    [
      { replicas: 4 },
      'Waiting for deployment "production/buywhere-api" rollout to finish: 1 old replicas are pending termination',
    ],
    [
      { availableReplicas: 2 },
      'Waiting for deployment "production/buywhere-api" rollout to finish: 2 of 3 updated replicas are available',
    ],
  ])('reports progress like kubectl for %j', (status, message) => {
    const s = assessRollout(workload({}, status), target, now);
    expect(s).toMatchObject({ phase: 'progressing', message });
  });

  it('fails when someone changed the image', () => {
    const s = assessRollout(
      workload({ images: { api: 'ghcr.io/buywhere/buywhere-api:hotfix' } }),
      target,
      now,
    );
    expect(s.phase).toBe('failed');
    expect(s.message).toBe(
      'someone changed the image: deployment "production/buywhere-api" now runs ghcr.io/buywhere/buywhere-api:hotfix, expected ghcr.io/buywhere/buywhere-api:v1.2.3',
    );
  });

  it('reports a changed image before anything else, even a finished or paused rollout', () => {
    const hotfix = { images: { api: 'ghcr.io/buywhere/buywhere-api:hotfix' } };
    for (const w of [workload(hotfix), workload({ ...hotfix, paused: true })]) {
      expect(assessRollout(w, target, now).message).toMatch(/^someone changed the image/);
    }
  });

  it('refuses to observe a Deployment whose container is gone, listing the containers', () => {
    const observe = () => observeDeployment(workload({ images: { web: IMAGE, envoy: 'envoy' } }), 'api');
    expect(observe).toThrow(NotFoundError);
    expect(observe).toThrow(
      'deployment "production/buywhere-api" has no container "api" (containers: web, envoy); fix \'container\' in environments.yaml',
    );
  });

  it('fails when the Deployment is paused, saying how to resume it', () => {
    const s = assessRollout(workload({ paused: true }, { updatedReplicas: 1 }), target, now);
    expect(s.phase).toBe('failed');
    expect(s.message).toBe(
      'deployment "production/buywhere-api" is paused (kubectl rollout resume deployment/buywhere-api -n production); resume it or roll back',
    );
  });

  it('fails a paused Deployment even before the deadline and even when all replicas are ready', () => {
    expect(assessRollout(workload({ paused: true }), target, now).phase).toBe('failed');
  });

  it('fails at the deadline instant with the progress so far, not a millisecond before', () => {
    const w = workload({}, { availableReplicas: 2 });
    expect(assessRollout(w, target, new Date('2026-05-01T00:09:59.999Z')).phase).toBe('progressing');
    const s = assessRollout(w, target, new Date('2026-05-01T00:10:00.000Z'));
    expect(s.phase).toBe('failed');
    expect(s.message).toBe(
      'deployment "production/buywhere-api" did not finish rolling out by the guardian\'s deadline 2026-05-01T00:10:00.000Z: 2 of 3 updated replicas are available',
    );
  });

  it('fails past the deadline while the controller has not even observed the spec', () => {
    const s = assessRollout(workload({ generation: 5 }), target, new Date('2026-05-01T01:00:00Z'));
    expect(s.phase).toBe('failed');
    expect(s.message).toMatch(/deadline .*waiting for the controller/);
  });

  it('is complete past the deadline when the rollout did finish', () => {
    expect(assessRollout(workload(), target, new Date('2026-05-01T01:00:00Z')).phase).toBe('complete');
  });

  it('is complete for a Deployment scaled to zero', () => {
    const s = assessRollout(
      workload({ replicas: 0 }, { replicas: 0, updatedReplicas: 0, readyReplicas: 0, availableReplicas: 0 }),
      target,
      now,
    );
    expect(s).toMatchObject({
      phase: 'complete',
      message: 'deployment "production/buywhere-api" is scaled to 0 replicas; nothing to roll out',
    });
  });

  it('keeps waiting for a Deployment scaled to zero while its old pods terminate, like kubectl', () => {
    const s = assessRollout(
      workload({ replicas: 0 }, { replicas: 2, updatedReplicas: 0, readyReplicas: 2, availableReplicas: 2 }),
      target,
      now,
    );
    expect(s).toMatchObject({
      phase: 'progressing',
      message:
        'Waiting for deployment "production/buywhere-api" rollout to finish: 2 old replicas are pending termination (scaled to 0)',
    });
    // Its own (updated) pods going away count too.
    expect(
      assessRollout(
        workload(
          { replicas: 0 },
          { replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 },
        ),
        target,
        now,
      ).phase,
    ).toBe('progressing');
  });

  it('fails a scale-to-zero whose pods are still terminating at the deadline', () => {
    const s = assessRollout(
      workload({ replicas: 0 }, { replicas: 1, updatedReplicas: 0, readyReplicas: 1, availableReplicas: 1 }),
      target,
      new Date(target.rolloutDeadlineAt),
    );
    expect(s).toMatchObject({ phase: 'failed', message: expect.stringMatching(/pending termination/) });
  });

  it('treats an unreadable deadline as passed rather than waiting for ever', () => {
    expect(
      assessRollout(workload({}, { updatedReplicas: 0 }), { ...target, rolloutDeadlineAt: 'soon' }, now)
        .phase,
    ).toBe('failed');
  });
});

describe('deploymentRollout', () => {
  it('reports a paused Deployment as paused with the resume command, before anything else', () => {
    const w = workload({
      paused: true,
      generation: 5,
      conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
    });
    expect(deploymentRollout(w)).toEqual({
      phase: 'paused',
      message:
        'deployment "production/buywhere-api" is paused (kubectl rollout resume deployment/buywhere-api -n production)',
    });
  });

  it('reports a progress deadline without a controller message', () => {
    const w = workload({
      conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
    });
    expect(deploymentRollout(w)).toEqual({
      phase: 'failed',
      message: 'deployment "production/buywhere-api" exceeded its progress deadline (600s)',
    });
  });
});

describe('observeDeployment', () => {
  it("maps a Deployment to the core's platform-neutral observation", () => {
    const w = workload(
      { images: { api: IMAGE, envoy: 'envoy:1' } },
      { updatedReplicas: 2, readyReplicas: 1, availableReplicas: 1 },
    );
    expect(observeDeployment(w, 'api')).toEqual({
      name: 'deployment "production/buywhere-api"',
      platform: 'kubernetes',
      image: IMAGE,
      revision: 7,
      rollout: {
        phase: 'progressing',
        message: '2 out of 3 new replicas have been updated',
      },
      replicas: { desired: 3, updated: 2, ready: 1, available: 1 },
    });
    expect(observeDeployment(w, 'envoy').image).toBe('envoy:1');
  });

  it('says "none" when the Deployment has no containers at all', () => {
    expect(() => observeDeployment(workload({ images: {} }), 'api')).toThrow(/\(containers: none\)/);
  });
});

describe('containerImage', () => {
  it('reads the container image or lists the containers, naming where it looked', () => {
    const images = { api: 'repo/api:v1', sidecar: 'envoy' };
    expect(containerImage(images, 'api', 'deployment "ns/api"')).toBe('repo/api:v1');
    expect(() => containerImage(images, 'web', 'deployment "ns/api"')).toThrow(NotFoundError);
    expect(() => containerImage(images, 'web', 'deployment "ns/api"')).toThrow(
      'deployment "ns/api" has no container "web" (containers: api, sidecar); fix \'container\' in environments.yaml',
    );
  });
});

describe('judgeRollout', () => {
  const observation = (
    rollout: WorkloadObservation['rollout'],
    over: Partial<WorkloadObservation> = {},
  ): WorkloadObservation => ({
    name: 'service "staging/api"',
    platform: 'ecs',
    image: IMAGE,
    revision: 12,
    rollout,
    replicas: { desired: 4, updated: 2, ready: 2, available: 1 },
    ...over,
  });

  it('fails a paused rollout, keeping the platform sentence', () => {
    const s = judgeRollout(observation({ phase: 'paused', message: 'paused by ops' }), target, now);
    expect(s).toEqual({
      phase: 'failed',
      message: 'paused by ops; resume it or roll back',
      revision: 12,
      replicas: 4,
      updatedReplicas: 2,
      readyReplicas: 2,
      availableReplicas: 1,
      checkedAt: now.toISOString(),
    });
  });

  it("passes a failed rollout's message through unchanged", () => {
    const s = judgeRollout(
      observation({ phase: 'failed', message: 'tasks failed to start: CannotPullContainerError' }),
      target,
      now,
    );
    expect(s).toMatchObject({ phase: 'failed', message: 'tasks failed to start: CannotPullContainerError' });
  });

  it('fails a failed rollout at once, before the deadline', () => {
    const s = judgeRollout(observation({ phase: 'failed', message: 'x' }), target, new Date(0));
    expect(s.phase).toBe('failed');
  });

  it("passes a complete rollout's message through", () => {
    expect(
      judgeRollout(
        observation({ phase: 'complete', message: 'service "staging/api" is steady' }),
        target,
        now,
      ),
    ).toMatchObject({ phase: 'complete', message: 'service "staging/api" is steady' });
  });

  it('keeps waiting while progressing before the deadline', () => {
    expect(
      judgeRollout(observation({ phase: 'progressing', message: '2 of 4 tasks running' }), target, now),
    ).toMatchObject({
      phase: 'progressing',
      message: 'Waiting for service "staging/api" rollout to finish: 2 of 4 tasks running',
    });
  });

  it('fails a rollout still progressing past the deadline, with the progress so far', () => {
    const s = judgeRollout(
      observation({ phase: 'progressing', message: '2 of 4 tasks running' }),
      target,
      new Date('2026-05-01T00:10:00.001Z'),
    );
    expect(s).toMatchObject({
      phase: 'failed',
      message:
        'service "staging/api" did not finish rolling out by the guardian\'s deadline 2026-05-01T00:10:00.000Z: 2 of 4 tasks running',
    });
  });

  it('honours a deadline given with an offset', () => {
    const t = { ...target, rolloutDeadlineAt: '2026-05-01T08:10:00+08:00' };
    const running = observation({ phase: 'progressing', message: 'm' });
    expect(judgeRollout(running, t, new Date('2026-05-01T00:09:59Z')).phase).toBe('progressing');
    expect(judgeRollout(running, t, new Date('2026-05-01T00:10:00Z')).phase).toBe('failed');
  });

  it('fails when the workload was moved to another image', () => {
    const s = judgeRollout(
      observation(
        { phase: 'complete', message: 'done' },
        { image: 'ghcr.io/buywhere/buywhere-api:v0.9', platform: 'kubernetes' },
      ),
      target,
      now,
    );
    expect(s).toMatchObject({
      phase: 'failed',
      message:
        'someone changed the image: service "staging/api" now runs ghcr.io/buywhere/buywhere-api:v0.9, expected ghcr.io/buywhere/buywhere-api:v1.2.3',
    });
  });

  it("fails with ECS's own reason when its circuit breaker put the service back on the old task definition", () => {
    const s = judgeRollout(
      observation(
        {
          phase: 'progressing',
          message:
            'ECS deployment circuit breaker: tasks failed to start; ECS rolled back to buywhere-api:6 (stopped tasks: Task failed ELB health checks)',
        },
        { image: 'ghcr.io/buywhere/buywhere-api:v0.9' },
      ),
      target,
      now,
    );
    expect(s.phase).toBe('failed');
    expect(s.message).toBe(
      'service "staging/api" no longer runs ghcr.io/buywhere/buywhere-api:v1.2.3 (it runs ghcr.io/buywhere/buywhere-api:v0.9): ECS deployment circuit breaker: tasks failed to start; ECS rolled back to buywhere-api:6 (stopped tasks: Task failed ELB health checks)',
    );
  });
});
