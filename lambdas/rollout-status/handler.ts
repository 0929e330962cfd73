/** "Check rollout status": `kubectl rollout status` once, judged against the guardian's deadline. */
import * as z from 'zod';
import { eksClusterFromEnv } from '../adapters/aws-cluster.ts';
import { assessRollout } from '../core/rollout.ts';
import { rolloutTargetSchema } from '../core/types.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep } from '../shared/step.ts';

/** The rollout-status event (deploy or rollback target). */
export const rolloutStatusEventSchema = z.object({ target: rolloutTargetSchema });

/** The rollout-status step; a failed rollout is a result (the Choice state routes it), not an error. */
export const step = defineStep('rollout-status', rolloutStatusEventSchema, async ({ target }, deps) => {
  const workload = await (await deps.cluster()).getWorkload(target.namespace, target.workload);
  const status = assessRollout(workload, target, deps.clock.now());
  deps.logger.info('rollout status', { phase: status.phase, message: status.message });
  return status;
});

/** Lambda entry point, wired with the AWS ports this step uses (see STEP_ACCESS). */
export const handler = lambdaHandler(step, { cluster: eksClusterFromEnv });
