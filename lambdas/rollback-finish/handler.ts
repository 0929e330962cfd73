/**
 * "Record rollback" / "Record rollback failure": records the outcome on the rollback and on the
 * deployment it undid, moves the circuit breaker, and releases the environment lock. The breaker
 * counts a release rolled back after a failed deployment or an alarm as one failed release; an
 * operator's rollback that succeeds is not counted; a failed rollback opens it at once.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import * as z from 'zod';
import {
  breakerOnFailure,
  breakerOnRollbackFailure,
  breakerSummary,
  countsAsFailedRelease,
} from '../core/breaker.ts';
import { compensateOnFailure } from '../core/compensation.ts';
import { failureText, secondsSince } from '../core/context.ts';
import { finishableFrom, undoneFrom } from '../core/records.ts';
import { type BreakerState, failureSchema, rollbackContextSchema } from '../core/types.ts';
import { describePoint } from '../core/workload.ts';
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

/**
 * The rollback-finish step. Breaker transitions carry the id of what they count (the deployment
 * undone, else the rollback), so a retry counts once.
 */
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
    // What the breaker counts: the deployment undone (its image), else what the workload ran
    // before (a rollback that succeeded) or what it failed to restore (one that failed).
    const release = { id: r.deploymentId ?? r.rollbackId, image: r.deploymentImage ?? r.from.image };
    const counted = countsAsFailedRelease(r.trigger);
    // A TransientError is retried by the state machine, whose retry releases the lock; any other
    // failure ends the execution, so the environment is given back now rather than at the lock's expiry.
    const breaker: BreakerState = await compensateOnFailure(
      async () => {
        // The breaker first: it is what keeps the next deployment out.
        const b = await store.updateBreaker(config.name, (before) =>
          failed
            ? breakerOnRollbackFailure(
                before,
                { id: r.rollbackId, image: r.deploymentImage ?? r.to.image },
                why ?? 'unknown failure',
                now,
              )
            : counted
              ? breakerOnFailure(before, release, threshold, r.reason, now)
              : before,
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
        return b;
      },
      () => store.releaseLock(config.name, r.lockHolder),
      'unless-retried',
      (e) => logger.error('could not release the lock after a failed record write', e as Error),
    );
    await store.releaseLock(config.name, r.lockHolder);

    const undone = r.deploymentId ? `deployment ${r.deploymentId}` : r.workload;
    const message = failed
      ? `Rollback ${r.rollbackId} of ${undone} FAILED (${why}); ${config.name} may still run ${r.from.image}. Check ${r.workload} by hand; ${breakerSummary(breaker, threshold)}. The lock is released.`
      : `Rolled ${undone} back to ${describePoint(r.to)} because: ${r.reason}. ${counted ? '' : `An operator's rollback is not counted as a failed release; `}${breakerSummary(breaker, threshold)}; the lock is released.`;
    logger.info(message);
    deps.metrics.addMetric(failed ? 'RollbackFailed' : 'RollbackSucceeded', MetricUnit.Count, 1);
    deps.metrics.addMetric('RollbackDuration', MetricUnit.Seconds, secondsSince(r.startedAt, now));
    return { message };
  },
);

/** Lambda entry point: ports and config slice from lambdas/steps.ts. */
export const handler = lambdaHandler(step);
