/**
 * "Set image" ("Update service" on ECS): starts the release's rollout on the guarded workload, with
 * a change-cause naming the release, and says by when it must finish.
 */
import * as z from 'zod';
import { deadlineAt } from '../core/context.ts';
import { deploymentContextSchema } from '../core/types.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep } from '../shared/step.ts';

/** The set-image event. */
export const setImageEventSchema = z.object({ deployment: deploymentContextSchema });

/** The set-image step. Setting the same image twice changes nothing, so retries are safe. */
export const step = defineStep('set-image', setImageEventSchema, async ({ deployment: d }, deps) => {
  deps.logger.appendKeys({ deploymentId: d.deploymentId, executionArn: d.executionArn });
  const cause = `guardian deploy ${d.version ?? d.image} (${d.deploymentId})`;
  const workload = await deps.workload.startRollout(d.image, cause);
  // The deadline runs from now, not from preflight: the backup and the metrics baseline before
  // the rollout must not eat into the rollout's own time.
  const rolloutDeadlineAt = deadlineAt(deps.clock.now(), deps.config.rollout.deadlineSeconds);
  return {
    revision: workload.revision,
    rolloutDeadlineAt,
    message: `set ${workload.name} to ${d.image}; the rollout must finish by ${rolloutDeadlineAt}`,
  };
});

/** Lambda entry point: ports and config slice from lambdas/steps.ts. */
export const handler = lambdaHandler(step);
