/**
 * The guardian's judgement of a rollout, on any platform. Pure. The platform adapter says what
 * the platform thinks (`kubectl rollout status`'s progressing / complete / failed, or paused);
 * the guardian adds its own rules: the workload must still be meant to run the image this
 * rollout set (someone else may have changed it), a paused rollout is a failed one (nothing
 * would ever finish it), and its own deadline ends the wait.
 */
import type { RolloutStatus } from './types.ts';
import type { WorkloadObservation } from './workload.ts';

/** What the judgement compares the workload with. */
export interface RolloutExpectation {
  readonly expectedImage: string;
  /** ISO time at which the guardian stops waiting (inclusive: at that instant it fails). */
  readonly rolloutDeadlineAt: string;
  /**
   * What counts as done. `release` (default): the workload runs the image everywhere. `preview`
   * (blue-green, before promotion): the new revision is available behind the preview Service and
   * waits for promotion, while the active Service still serves the stable one.
   */
  readonly stage?: 'release' | 'preview';
}

/** Judges a rollout at `now`: progressing, complete or failed, with a sentence for the operator. */
export function judgeRollout(
  workload: WorkloadObservation,
  target: RolloutExpectation,
  now: Date,
): RolloutStatus {
  const result = (phase: RolloutStatus['phase'], message: string): RolloutStatus => ({
    phase,
    message,
    revision: workload.revision,
    replicas: workload.replicas.desired,
    updatedReplicas: workload.replicas.updated,
    readyReplicas: workload.replicas.ready,
    availableReplicas: workload.replicas.available,
    checkedAt: now.toISOString(),
  });
  const { name, rollout } = workload;
  if (workload.image !== target.expectedImage) {
    // ECS's deployment circuit breaker (or its deployment alarm) puts the service back on the
    // previous task definition itself: its message says which, with the stopped tasks' reasons.
    if (workload.platform === 'ecs') {
      return result(
        'failed',
        `${name} no longer runs ${target.expectedImage} (it runs ${workload.image}): ${rollout.message}`,
      );
    }
    return result(
      'failed',
      `someone changed the image: ${name} now runs ${workload.image}, expected ${target.expectedImage}`,
    );
  }
  const bg = workload.blueGreen;
  if (target.stage === 'preview' && bg) {
    switch (bg.stage) {
      case 'preview-ready':
        return result('complete', rollout.message);
      case 'stable':
        // The Rollout already ran this image (a redeploy of the running release): nothing to preview.
        return result(
          'complete',
          `${rollout.message}; it already runs ${target.expectedImage}, nothing to preview`,
        );
      case 'promoting':
        return result(
          'failed',
          `${name} was promoted before the guardian's health check and canary analysis (by someone, or by autoPromotionEnabled): ${rollout.message}`,
        );
      default:
        break;
    }
  }
  switch (rollout.phase) {
    case 'paused':
      return result('failed', `${rollout.message}; resume it or roll back`);
    case 'failed':
      return result('failed', rollout.message);
    case 'complete':
      return result('complete', rollout.message);
    case 'progressing': {
      const deadline = Date.parse(target.rolloutDeadlineAt);
      if (!Number.isFinite(deadline) || now.getTime() >= deadline) {
        return result(
          'failed',
          `${name} did not finish rolling out by the guardian's deadline ${target.rolloutDeadlineAt}: ${rollout.message}`,
        );
      }
      return result('progressing', `Waiting for ${name} rollout to finish: ${rollout.message}`);
    }
  }
}
