/** "Set image": `kubectl set image` on the guarded workload, with a change-cause naming the release. */
import * as z from 'zod';
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
  return {
    revision: workload.revision,
    message: `set ${workload.name} to ${d.image}; the rollout must finish by ${d.rolloutDeadlineAt}`,
  };
});

/** Lambda entry point: ports and config slice from lambdas/steps.ts. */
export const handler = lambdaHandler(step);
