/**
 * "Prepare rollback": choose the rollback point to return to and hold the environment lock.
 * A deployment's own automatic rollback restores the point its preflight captured; an operator's
 * or an alarm's goes to the last known-good release, or to a named revision (one the guardian
 * rolled back only with --force), and says which and why (`chooseRollbackTarget`). Only the
 * rollback the Deploy execution itself started keeps the deployment's lock (see planRollback),
 * any other takes the lock itself and is refused while the deployment still runs. The circuit
 * breaker and change freezes do not block rollbacks: undoing a bad release is always allowed.
 */
import * as z from 'zod';
import { compensateOnFailure } from '../core/compensation.ts';
import { checkEnvironment, reasonText } from '../core/context.ts';
import { LockHeldError, NotFoundError } from '../core/errors.ts';
import { buildLock, lockHeldMessage } from '../core/lock.ts';
import {
  chooseRollbackTarget,
  isOwnRollback,
  ownRollbackChoice,
  planRollback,
  ROLLBACK_RECORDS_READ,
  type RollbackChoice,
  rollbackContext,
  rollbackRecord,
} from '../core/rollback.ts';
import { executionRefSchema, rollbackInputSchema } from '../core/types.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep } from '../shared/step.ts';

/** The rollback-prepare event: the execution input and `$$.Execution`. */
export const rollbackPrepareEventSchema = z.object({
  input: rollbackInputSchema,
  execution: executionRefSchema,
});

/** The rollback-prepare step. */
export const step = defineStep(
  'rollback-prepare',
  rollbackPrepareEventSchema,
  async ({ input, execution }, deps) => {
    const { config, store, clock, logger } = deps;
    const rollbackId = execution.Name;
    logger.appendKeys({ rollbackId, executionArn: execution.Id, deploymentId: input.deploymentId });
    checkEnvironment(config.name, input.environment);
    const now = clock.now();

    const record = input.deploymentId ? await store.getRecord(config.name, input.deploymentId) : undefined;
    if (input.deploymentId && !record) {
      throw new NotFoundError(
        `deployment ${input.deploymentId} is not in the ${config.name} history; check the id with \`guardian history\``,
      );
    }
    const plan = planRollback({
      rollbackId,
      ...(record && { record }),
      ...(input.AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID !== undefined && {
        startedBy: input.AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID,
      }),
      ...(record && { lock: await store.getLock(config.name) }),
      now,
    });
    if (plan.kind === 'acquire') {
      const taken = await store.acquireLock(
        buildLock(config.name, rollbackId, execution.Id, now, config.lock.ttlSeconds),
        now,
      );
      if (!taken.acquired) throw new LockHeldError(lockHeldMessage(taken.holder, now));
    }

    // Only give back a lock this rollback took; a deployment's lock stays until its rollback is recorded.
    return compensateOnFailure(
      async () => {
        const { observation, point: from } = await deps.workload.capture();
        let choice: RollbackChoice;
        if (record && isOwnRollback(input, record)) choice = ownRollbackChoice(record);
        else {
          const [records, history] = await Promise.all([
            store.listRecords(config.name, ROLLBACK_RECORDS_READ),
            deps.workload.history(),
          ]);
          choice = chooseRollbackTarget({
            environment: config.name,
            workload: observation.name,
            records,
            history,
            current: observation,
            ...(input.revision !== undefined && { requested: input.revision }),
            force: input.force,
            ...(record && { undoing: record }),
          });
        }
        const { to, undoes } = choice;
        const context = rollbackContext({
          input,
          execution,
          environment: config.name,
          workload: observation.name,
          from,
          to,
          ...(undoes && { undoes }),
          sentence: choice.sentence,
          // Lambda/child-execution JSON from the Deploy workflow's $.failure.Cause -> a sentence.
          reason: reasonText(input.reason),
          lockHolder: plan.holder,
          deadlineSeconds: config.rollout.deadlineSeconds,
          now,
        });
        await store.putRecord(rollbackRecord(context));
        logger.info(`rolling ${observation.name} back from revision ${from.revision} to ${to.revision}`, {
          reason: context.reason,
          decision: choice.sentence,
        });
        return context;
      },
      async () => plan.holder === rollbackId && store.releaseLock(config.name, rollbackId),
      'always',
    );
  },
);

/** Lambda entry point: ports and config slice from lambdas/steps.ts. */
export const handler = lambdaHandler(step);
