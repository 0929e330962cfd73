/**
 * "Promote" (blue-green, the runbook's `promote` job and `rollback.sh k8s-argo-promote`): once the
 * preview passed its health check and canary analysis, the active Service switches to it, and the
 * promotion must finish by a new deadline.
 */
import * as z from 'zod';
import { deadlineAt } from '../core/context.ts';
import { InvalidInputError } from '../core/errors.ts';
import { deploymentContextSchema } from '../core/types.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep } from '../shared/step.ts';

/** The promote event. */
export const promoteEventSchema = z.object({ deployment: deploymentContextSchema });

/** The promote step. Promoting a promoted Rollout changes nothing, so retries are safe. */
export const step = defineStep('promote', promoteEventSchema, async ({ deployment: d }, deps) => {
  deps.logger.appendKeys({ deploymentId: d.deploymentId, executionArn: d.executionArn });
  const workload = deps.workload;
  if (!workload.promote) {
    throw new InvalidInputError(
      `environment '${deps.config.name}' runs on platform '${deps.config.platform}', which has no promotion`,
    );
  }
  const before = await workload.observe();
  // Never promote what this deployment did not analyse.
  if (before.image !== d.image) {
    throw new InvalidInputError(
      `someone changed the image: ${before.name} now runs ${before.image}, expected ${d.image}; not promoting`,
    );
  }
  const after = await workload.promote();
  const rolloutDeadlineAt = deadlineAt(deps.clock.now(), deps.config.rollout.deadlineSeconds);
  return {
    revision: after.revision,
    rolloutDeadlineAt,
    message: `promoted ${after.name} to ${d.image}; the promotion must finish by ${rolloutDeadlineAt}`,
  };
});

/** Lambda entry point: ports and config slice from lambdas/steps.ts. */
export const handler = lambdaHandler(step);
