/**
 * "Record deployment": the record succeeds with the final revision, the breaker's count resets,
 * the lock is released. "Record failed rollback": the deployment's automatic rollback could not
 * even run (refused or crashed before recording itself); the record says so, the breaker opens
 * and the lock is released, so an operator sees it in `guardian status` and clears it.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import * as z from 'zod';
import { breakerOnRollbackFailure, breakerOnSuccess, breakerSummary } from '../core/breaker.ts';
import { compensateOnFailure } from '../core/compensation.ts';
import { failureText, secondsSince } from '../core/context.ts';
import { AlarmFiredError, ConflictError } from '../core/errors.ts';
import { finishableFrom } from '../core/records.ts';
import { type AlarmMark, deploymentContextSchema, failureSchema } from '../core/types.ts';
import { describePoint } from '../core/workload.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep } from '../shared/step.ts';

/** The record-deployment event; `health` is the last health report, kept for the log. */
export const recordDeploymentEventSchema = z.object({
  deployment: deploymentContextSchema,
  outcome: z.enum(['succeeded', 'rollback-failed']).default('succeeded'),
  /** The last rollout status: its revision is the one the release ended on. */
  rollout: z.looseObject({ revision: z.number().int().nonnegative() }).optional(),
  health: z.looseObject({ summary: z.string().optional() }).optional(),
  failure: failureSchema.optional(),
});

/** The record-deployment step. Every write is idempotent, so a retry repeats it harmlessly. */
export const step = defineStep(
  'record-deployment',
  recordDeploymentEventSchema,
  async ({ deployment: d, outcome, rollout, health, failure }, deps) => {
    const { config, store, clock, logger } = deps;
    logger.appendKeys({ deploymentId: d.deploymentId, executionArn: d.executionArn });
    const now = clock.now();
    const finishedAt = now.toISOString();
    if (outcome === 'rollback-failed') {
      const why = failureText(failure);
      const record = await store.getRecord(config.name, d.deploymentId);
      // The Rollback execution records its own failure when it gets that far; count it once.
      const alreadyRecorded = record?.status === 'rollback-failed' || record?.status === 'rolled-back';
      let breaker = await store.getBreaker(config.name);
      if (!alreadyRecorded) {
        // The breaker first: it keeps the next deployment out even if the record write fails.
        breaker = await store.updateBreaker(config.name, (b) =>
          breakerOnRollbackFailure(b, { id: d.deploymentId, image: d.image }, why, now),
        );
        await compensateOnFailure(
          () =>
            store.updateRecord(
              config.name,
              d.deploymentId,
              { status: 'rollback-failed', finishedAt, reason: `automatic rollback did not run: ${why}` },
              { status: finishableFrom('rollback-failed') },
            ),
          () => store.releaseLock(config.name, d.deploymentId),
          'unless-retried',
        );
      }
      await store.releaseLock(config.name, d.deploymentId);
      const threshold = config.thresholds.consecutive_failures_for_rollback;
      const message = `Deployment ${d.deploymentId} failed and its automatic rollback did not complete (${why}); ${config.name} may still run ${d.image} instead of ${describePoint(d.rollbackPoint)}. Roll back by hand (guardian rollback --env ${config.name} --revision ${d.rollbackPoint.revision}); ${breakerSummary(breaker, threshold)}.`;
      logger.error(message);
      deps.metrics.addMetric('RollbackFailed', MetricUnit.Count, 1);
      return { message };
    }
    const revision = rollout?.revision;
    // A critical alarm the handler put on the record fails the deployment, even now: the
    // deployment keeps its lock and rolls back through its own path.
    let alarmed: AlarmMark | undefined;
    await compensateOnFailure(
      async () => {
        try {
          await store.updateRecord(
            config.name,
            d.deploymentId,
            { status: 'succeeded', ...(revision !== undefined && { revision }), finishedAt },
            { status: finishableFrom('succeeded'), unset: ['alarm'] },
          );
        } catch (err) {
          if (err instanceof ConflictError) {
            alarmed = (await store.getRecord(config.name, d.deploymentId))?.alarm;
            if (alarmed) return;
          }
          throw err;
        }
      },
      () => store.releaseLock(config.name, d.deploymentId),
      'unless-retried',
    );
    if (alarmed) throw new AlarmFiredError(`alarm ${alarmed.name} fired: ${alarmed.reason}`);
    await store.updateBreaker(config.name, (b) => breakerOnSuccess(b, d.deploymentId, now));
    const released = await store.releaseLock(config.name, d.deploymentId);
    if (!released)
      logger.warn('the lock was no longer held by this deployment', { deploymentId: d.deploymentId });
    const at =
      revision !== undefined
        ? `at revision ${revision}`
        : '(revision unknown: the rollout status carried none, so the record has no revision)';
    const message = `${config.name} now runs ${d.image}${d.version ? ` (${d.version})` : ''} ${at}; deployment ${d.deploymentId} recorded as succeeded and the ${config.name} lock released.`;
    logger.info(message, { health: health?.summary });
    deps.metrics.addMetric('DeploymentSucceeded', MetricUnit.Count, 1);
    deps.metrics.addMetric('DeploymentDuration', MetricUnit.Seconds, secondsSince(d.startedAt, now));
    return { message };
  },
);

/** Lambda entry point: ports and config slice from lambdas/steps.ts. */
export const handler = lambdaHandler(step);
