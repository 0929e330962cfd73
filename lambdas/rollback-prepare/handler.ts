/**
 * "Prepare rollback": choose the revision to return to and hold the environment lock.
 * A deployment's rollback returns to the revision its preflight captured; only the rollback the
 * Deploy execution itself started keeps the deployment's lock (see planRollback), any other takes
 * the lock itself and is refused while the deployment still runs. The circuit breaker and change
 * freezes do not block rollbacks: undoing a bad release is always allowed.
 */
import * as z from 'zod';
import { eksClusterFromEnv } from '../adapters/aws-cluster.ts';
import { dynamoStoreFromEnv } from '../adapters/aws-store.ts';
import { checkEnvironment, containerImage, deadlineAt, reasonText } from '../core/context.ts';
import { LockHeldError, NotFoundError } from '../core/errors.ts';
import { buildLock, lockHeldMessage } from '../core/lock.ts';
import { planRollback, selectCapturedRevision, selectRollbackTarget } from '../core/rollback.ts';
import { executionRefSchema, type RollbackContext, rollbackInputSchema } from '../core/types.ts';
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
    const lockHolder = plan.holder;
    if (plan.kind === 'acquire') {
      const taken = await store.acquireLock(
        buildLock(config.name, rollbackId, execution.Id, now, config.lock.ttlSeconds),
        now,
      );
      if (!taken.acquired) throw new LockHeldError(lockHeldMessage(taken.holder, now));
    }
    // Lambda/child-execution JSON from the Deploy workflow's $.failure.Cause -> a sentence.
    const reason = reasonText(input.reason);

    try {
      const cluster = await deps.cluster();
      const workload = await cluster.getWorkload(config.namespace, config.workload);
      const fromImage = containerImage(workload, config.container);
      const revisions = await cluster.listRevisions(config.namespace, config.workload);
      const where = `deployment ${config.namespace}/${config.workload}`;
      const target =
        record && input.revision === undefined
          ? selectCapturedRevision(revisions, record, config.container, where)
          : selectRollbackTarget(revisions, workload.revision, input.revision, where);
      const toImage = target.images[config.container];
      if (toImage === undefined) {
        throw new NotFoundError(
          `revision ${target.revision} of ${where} has no container '${config.container}'`,
        );
      }
      await store.putRecord({
        environment: config.name,
        id: rollbackId,
        kind: 'rollback',
        status: 'in-progress',
        executionArn: execution.Id,
        trigger: input.trigger,
        requestedBy: input.requestedBy,
        image: toImage,
        previousImage: fromImage,
        previousRevision: workload.revision,
        ...(record && { deploymentId: record.id }),
        reason,
        ...(input.annotate !== undefined && { annotation: input.annotate }),
        startedAt: now.toISOString(),
      });
      const context: RollbackContext = {
        environment: config.name,
        namespace: config.namespace,
        workload: config.workload,
        container: config.container,
        expectedImage: toImage,
        rolloutDeadlineAt: deadlineAt(now, config.rollout.deadlineSeconds),
        rollbackId,
        executionArn: execution.Id,
        ...(record && { deploymentId: record.id }),
        fromImage,
        fromRevision: workload.revision,
        toRevision: target.revision,
        reason,
        ...(input.annotate !== undefined && { annotate: input.annotate }),
        trigger: input.trigger,
        requestedBy: input.requestedBy,
        lockHolder,
        startedAt: now.toISOString(),
      };
      logger.info(`rolling ${where} back from revision ${workload.revision} to ${target.revision}`, {
        reason,
      });
      return context;
    } catch (err) {
      // Only give back a lock this rollback took; a deployment's lock stays until its rollback is recorded.
      if (lockHolder === rollbackId) await store.releaseLock(config.name, rollbackId).catch(() => false);
      throw err;
    }
  },
);

/** Lambda entry point, wired with the AWS ports this step uses (see STEP_ACCESS). */
export const handler = lambdaHandler(step, { store: dynamoStoreFromEnv, cluster: eksClusterFromEnv });
