/**
 * The states of the workflows that depend on the environment's platform, by the names an operator
 * reads in the Step Functions console (the runbook's words for that platform). Chosen at synth
 * from `platform` in config, as the steps choose their Workload adapter at run time.
 */
import { BUILT_PLATFORMS, type BuiltPlatform, isBuiltPlatform } from '../../lambdas/core/workload.ts';
import type { EnvironmentConfig } from '../config/schema.ts';

/** Console names of a platform's rollout and restore states. */
export interface PlatformStates {
  /** Deploy: start rolling the new release out. */
  readonly startRollout: string;
  /** Rollback: return the workload to its rollback point. */
  readonly restore: string;
}

/** Each platform's states. */
export const PLATFORM_STATES: { readonly [P in BuiltPlatform]: PlatformStates } = {
  // kubectl set image / kubectl rollout undo
  kubernetes: { startRollout: 'Set image', restore: 'Undo to previous revision' },
  // kubectl argo rollouts set image / abort + undo (the desired template back on stable)
  'argo-rollouts': { startRollout: 'Set Rollout image', restore: 'Abort and restore stable revision' },
  // aws ecs register-task-definition + update-service / update-service --task-definition "$PREV_TASK"
  ecs: { startRollout: 'Update service', restore: 'Restore previous task definition' },
};

/** The states of `env`'s platform; an error naming the platform when this guardian cannot drive it. */
export function platformStates(env: Pick<EnvironmentConfig, 'name' | 'platform'>): PlatformStates {
  if (!isBuiltPlatform(env.platform)) {
    throw new Error(
      `environment '${env.name}': platform '${env.platform}' has no workflow states in this guardian (it drives: ${BUILT_PLATFORMS.join(', ')})`,
    );
  }
  return PLATFORM_STATES[env.platform];
}
