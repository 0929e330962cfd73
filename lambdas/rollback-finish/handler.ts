/**
 * "Record rollback" / "Record rollback failure": records the outcome on the rollback and on the
 * deployment it undid, moves the circuit breaker, and releases the environment lock.
 */
import * as z from 'zod';
import { dynamoStoreFromEnv } from '../adapters/aws-store.ts';
import { breakerOnFailure, breakerOnRollbackFailure, breakerSummary } from '../core/breaker.ts';
import { failureText } from '../core/context.ts';
import { TransientError } from '../core/errors.ts';
import { finishableFrom, undoneFrom } from '../core/records.ts';
import { type BreakerState, failureSchema, rollbackContextSchema } from '../core/types.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep } from '../shared/step.ts';

/** The rollback-finish event. */
export const rollbackFinishEventSchema = z.object({
  rollback: rollbackContextSchema,
  outcome: z.enum(['rolled-back', 'rollback-failed']),
  failure: failureSchema.optional(),
  /**
   * The last rollout status (`$.rollout`): its revision is the one the rollback ended on. Absent
   * when the undo itself failed. The step reads nothing from the cluster: on the failure path the
   * cluster may be what is broken, and the outcome must still be recorded and the lock released.
   */
  rollout: z.looseObject({ revision: z.number().int().nonnegative() }).optional(),
});

/** The rollback-finish step. Breaker transitions carry the rollback id, so a retry counts once. */
export const step = defineStep(
  'rollback-finish',
  rollbackFinishEventSchema,
  async ({ rollback: r, outcome, failure, rollout }, deps) => {
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

    const revision = rollout?.revision;
    const threshold = config.thresholds.consecutive_failures_for_rollback;
    let breaker: BreakerState;
    try {
      // The breaker first: it is what keeps the next deployment out.
      breaker = await store.updateBreaker(config.name, (before) =>
        failed
          ? breakerOnRollbackFailure(before, r.rollbackId, why ?? 'unknown failure', now)
          : breakerOnFailure(before, r.rollbackId, threshold, r.reason, now),
      );
      await store.updateRecord(
        config.name,
        r.rollbackId,
        {
          status: outcome,
          finishedAt,
          ...(revision !== undefined && { revision }),
          ...(why !== undefined && { reason: `${r.reason}; rollback failed: ${why}` }),
        },
        { status: finishableFrom(outcome) },
      );
      if (r.deploymentId) {
        await store.updateRecord(
          config.name,
          r.deploymentId,
          { status: outcome, rolledBackBy: r.rollbackId, finishedAt },
          { status: undoneFrom(outcome) },
        );
      }
    } catch (err) {
      // A TransientError is retried by the state machine, whose retry releases the lock; any other
      // failure ends the execution, so give the environment back now rather than at the lock's expiry.
      if (!(err instanceof TransientError)) {
        await store.releaseLock(config.name, r.lockHolder).catch((e: unknown) => {
          logger.error('could not release the lock after a failed record write', e as Error);
        });
      }
      throw err;
    }
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
export const handler = lambdaHandler(step, { store: dynamoStoreFromEnv });
