/** "Record deployment": the record succeeds with the final revision, the breaker's count resets, the lock is released. */
import * as z from 'zod';
import { eksClusterFromEnv } from '../adapters/aws-cluster.ts';
import { dynamoStoreFromEnv } from '../adapters/aws-store.ts';
import { breakerOnSuccess } from '../core/breaker.ts';
import { deploymentContextSchema } from '../core/types.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep } from '../shared/step.ts';

/** The record-deployment event; `health` is the last health report, kept for the log. */
export const recordDeploymentEventSchema = z.object({
  deployment: deploymentContextSchema,
  health: z.looseObject({ summary: z.string().optional() }).optional(),
});

/** The record-deployment step. Every write is idempotent, so a retry repeats it harmlessly. */
export const step = defineStep(
  'record-deployment',
  recordDeploymentEventSchema,
  async ({ deployment: d, health }, deps) => {
    const { config, store, clock, logger } = deps;
    logger.appendKeys({ deploymentId: d.deploymentId, executionArn: d.executionArn });
    const now = clock.now();
    const workload = await (await deps.cluster()).getWorkload(d.namespace, d.workload);
    await store.updateRecord(config.name, d.deploymentId, {
      status: 'succeeded',
      revision: workload.revision,
      finishedAt: now.toISOString(),
    });
    await store.putBreaker(breakerOnSuccess(await store.getBreaker(config.name), d.deploymentId, now));
    const released = await store.releaseLock(config.name, d.deploymentId);
    if (!released)
      logger.warn('the lock was no longer held by this deployment', { deploymentId: d.deploymentId });
    const message = `${config.name} now runs ${d.image}${d.version ? ` (${d.version})` : ''} at revision ${workload.revision}; deployment ${d.deploymentId} recorded as succeeded and the ${config.name} lock released.`;
    logger.info(message, { health: health?.summary });
    return { message };
  },
);

/** Lambda entry point, wired with the AWS ports this step uses (see STEP_ACCESS). */
export const handler = lambdaHandler(step, { store: dynamoStoreFromEnv, cluster: eksClusterFromEnv });
