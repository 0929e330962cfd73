/** "Set image": `kubectl set image` on the guarded Deployment, with a change-cause naming the release. */
import * as z from 'zod';
import { eksClusterFromEnv } from '../adapters/aws-cluster.ts';
import { deploymentContextSchema } from '../core/types.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep } from '../shared/step.ts';

/** The set-image event. */
export const setImageEventSchema = z.object({ deployment: deploymentContextSchema });

/** The set-image step. Setting the same image twice is a no-op in Kubernetes, so retries are safe. */
export const step = defineStep('set-image', setImageEventSchema, async ({ deployment: d }, deps) => {
  deps.logger.appendKeys({ deploymentId: d.deploymentId, executionArn: d.executionArn });
  const cause = `guardian deploy ${d.version ?? d.image} (${d.deploymentId})`;
  const workload = await (await deps.cluster()).setImage(
    d.namespace,
    d.workload,
    d.container,
    d.image,
    cause,
  );
  return {
    revision: workload.revision,
    generation: workload.generation,
    message: `set ${d.namespace}/${d.workload} container ${d.container} to ${d.image} (generation ${workload.generation}); the rollout must finish by ${d.rolloutDeadlineAt}`,
  };
});

/** Lambda entry point, wired with the AWS ports this step uses (see STEP_ACCESS). */
export const handler = lambdaHandler(step, { cluster: eksClusterFromEnv });
