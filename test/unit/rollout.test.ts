import { describe, expect, it } from 'vitest';
import type { WorkloadState } from '../../lambdas/adapters/cluster.ts';
import { assessRollout } from '../../lambdas/core/rollout.ts';

const IMAGE = 'ghcr.io/buywhere/buywhere-api:v1.2.3';
const now = new Date('2026-05-01T00:05:00Z');
const target = { expectedImage: IMAGE, container: 'api', rolloutDeadlineAt: '2026-05-01T00:10:00.000Z' };

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

describe('assessRollout', () => {
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
      'someone changed the image: deployment "production/buywhere-api" container "api" now runs ghcr.io/buywhere/buywhere-api:hotfix, expected ghcr.io/buywhere/buywhere-api:v1.2.3',
    );
  });

  it('fails when the container is gone, listing the containers', () => {
    const s = assessRollout(workload({ images: { web: IMAGE } }), target, now);
    expect(s).toMatchObject({
      phase: 'failed',
      message: 'deployment "production/buywhere-api" has no container "api" (containers: web)',
    });
  });

  it('fails when the Deployment is paused', () => {
    const s = assessRollout(workload({ paused: true }, { updatedReplicas: 1 }), target, now);
    expect(s.phase).toBe('failed');
    expect(s.message).toMatch(/is paused/);
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
