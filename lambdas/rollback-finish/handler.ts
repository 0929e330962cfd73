/**
 * "Record rollback" / "Record rollback failure": records the outcome on the rollback and on the
 * deployment it undid, moves the circuit breaker, and releases the environment lock.
 */
import * as z from 'zod';
import { eksClusterFromEnv } from '../adapters/aws-cluster.ts';
import { dynamoStoreFromEnv } from '../adapters/aws-store.ts';
import { breakerOnFailure, breakerOnRollbackFailure, breakerSummary } from '../core/breaker.ts';
import { failureText } from '../core/context.ts';
import { failureSchema, rollbackContextSchema } from '../core/types.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep } from '../shared/step.ts';

/** The rollback-finish event. */
export const rollbackFinishEventSchema = z.object({
  rollback: rollbackContextSchema,
  outcome: z.enum(['rolled-back', 'rollback-failed']),
  failure: failureSchema.optional(),
});

/** The rollback-finish step. Breaker transitions carry the rollback id, so a retry counts once. */
export const step = defineStep(
  'rollback-finish',
  rollbackFinishEventSchema,
  async ({ rollback: r, outcome, failure }, deps) => {
    const { config, store, clock, logger } = deps;
    logger.appendKeys({
      rollbackId: r.rollbackId,
      executionArn: r.executionArn,
      deploymentId: r.deploymentId,
    });
    const now = clock.now();
    const finishedAt = now.toISOString();
    const failed = outcome === 'rollback-failed';
    const why = failed ? failureText(failure) : undefined;

    let revision: number | undefined;
    try {
      revision = (await (await deps.cluster()).getWorkload(r.namespace, r.workload)).revision;
    } catch (err) {
      // The outcome must be recorded even when the cluster is what failed.
      logger.warn('could not read the final revision', err as Error);
    }
    await store.updateRecord(config.name, r.rollbackId, {
      status: outcome,
      finishedAt,
      ...(revision !== undefined && { revision }),
      ...(why !== undefined && { reason: `${r.reason}; rollback failed: ${why}` }),
    });
    if (r.deploymentId) {
      await store.updateRecord(config.name, r.deploymentId, {
        status: outcome,
        rolledBackBy: r.rollbackId,
        finishedAt,
      });
    }
    const threshold = config.thresholds.consecutive_failures_for_rollback;
    const before = await store.getBreaker(config.name);
    const breaker = failed
      ? breakerOnRollbackFailure(before, r.rollbackId, why ?? 'unknown failure', now)
      : breakerOnFailure(before, r.rollbackId, threshold, r.reason, now);
    await store.putBreaker(breaker);
    await store.releaseLock(config.name, r.lockHolder);

    const undone = r.deploymentId ? `deployment ${r.deploymentId}` : `${r.namespace}/${r.workload}`;
    const message = failed
      ? `Rollback ${r.rollbackId} of ${undone} FAILED (${why}); ${config.name} may still run ${r.fromImage}. Check the Deployment by hand; ${breakerSummary(breaker, threshold)}. The lock is released.`
      : `Rolled ${undone} back to revision ${r.toRevision} (${r.expectedImage}) because: ${r.reason}. ${breakerSummary(breaker, threshold)}; the lock is released.`;
    logger.info(message);
    return { message };
  },
);

/** Lambda entry point, wired with the AWS ports this step uses (see STEP_ACCESS). */
export const handler = lambdaHandler(step, { store: dynamoStoreFromEnv, cluster: eksClusterFromEnv });
