/**
 * Rollout assessment: `kubectl rollout status` plus the guardian's own deadline. Pure.
 * kubectl waits for the controller to observe the spec, fails on ProgressDeadlineExceeded, then
 * waits until every replica is updated, old ones are gone and updated ones are available.
 * The guardian also fails when the template no longer runs the expected image (someone else
 * changed it), when the Deployment is paused, and when its own deadline has passed.
 */
import type { WorkloadState } from '../adapters/ports.ts';
import type { RolloutStatus } from './types.ts';

/** What the assessment compares the Deployment with. */
export interface RolloutExpectation {
  readonly expectedImage: string;
  readonly container: string;
  /** ISO time at which the guardian stops waiting (inclusive: at that instant it fails). */
  readonly rolloutDeadlineAt: string;
}

/** Judges a Deployment's rollout at `now`: progressing, complete or failed, with kubectl's wording. */
export function assessRollout(workload: WorkloadState, target: RolloutExpectation, now: Date): RolloutStatus {
  const s = workload.status;
  const name = `deployment "${workload.namespace}/${workload.name}"`;
  const result = (phase: RolloutStatus['phase'], message: string): RolloutStatus => ({
    phase,
    message,
    revision: workload.revision,
    replicas: workload.replicas,
    updatedReplicas: s.updatedReplicas,
    readyReplicas: s.readyReplicas,
    availableReplicas: s.availableReplicas,
    checkedAt: now.toISOString(),
  });

  const actual = workload.images[target.container];
  if (actual === undefined) {
    const containers = Object.keys(workload.images).join(', ') || 'none';
    return result('failed', `${name} has no container "${target.container}" (containers: ${containers})`);
  }
  if (actual !== target.expectedImage) {
    return result(
      'failed',
      `someone changed the image: ${name} container "${target.container}" now runs ${actual}, expected ${target.expectedImage}`,
    );
  }
  if (workload.paused) {
    return result('failed', `${name} is paused; resume it (kubectl rollout resume) or roll back`);
  }
  const progressing = workload.conditions.find((c) => c.type === 'Progressing');
  if (
    workload.observedGeneration >= workload.generation &&
    progressing?.reason === 'ProgressDeadlineExceeded'
  ) {
    return result(
      'failed',
      `${name} exceeded its progress deadline (${workload.progressDeadlineSeconds}s)${progressing.message ? `: ${progressing.message}` : ''}`,
    );
  }

  let waiting: string | undefined;
  if (workload.observedGeneration < workload.generation) {
    waiting = `waiting for the controller to observe the spec update (generation ${workload.generation}, observed ${workload.observedGeneration})`;
  } else if (workload.replicas === 0) {
    // Like kubectl: not done while the old pods are still going away.
    if (s.replicas === 0) return result('complete', `${name} is scaled to 0 replicas; nothing to roll out`);
    waiting = `${s.replicas} old replicas are pending termination (scaled to 0)`;
  } else if (s.updatedReplicas < workload.replicas) {
    waiting = `${s.updatedReplicas} out of ${workload.replicas} new replicas have been updated`;
  } else if (s.replicas > s.updatedReplicas) {
    waiting = `${s.replicas - s.updatedReplicas} old replicas are pending termination`;
  } else if (s.availableReplicas < s.updatedReplicas) {
    waiting = `${s.availableReplicas} of ${s.updatedReplicas} updated replicas are available`;
  }
  if (waiting === undefined) return result('complete', `${name} successfully rolled out`);

  const deadline = Date.parse(target.rolloutDeadlineAt);
  if (!Number.isFinite(deadline) || now.getTime() >= deadline) {
    return result(
      'failed',
      `${name} did not finish rolling out by the guardian's deadline ${target.rolloutDeadlineAt}: ${waiting}`,
    );
  }
  return result('progressing', `Waiting for ${name} rollout to finish: ${waiting}`);
}
