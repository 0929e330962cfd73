/**
 * "Prepare rollback": choose the revision to return to and hold the environment lock.
 * A deployment's rollback returns to the revision its preflight captured and keeps the
 * deployment's lock; any other rollback takes the lock itself. The circuit breaker and change
 * freezes do not block rollbacks: undoing a bad release is always allowed.
 */
import * as z from 'zod';
import { eksClusterFromEnv } from '../adapters/aws-cluster.ts';
import { dynamoStoreFromEnv } from '../adapters/aws-store.ts';
import { checkEnvironment, containerImage, deadlineAt } from '../core/context.ts';
import { InvalidInputError, LockHeldError, NotFoundError } from '../core/errors.ts';
import { buildLock, lockHeldMessage } from '../core/lock.ts';
import { selectCapturedRevision, selectRollbackTarget } from '../core/rollback.ts';
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
    if (record && record.kind !== 'deploy') {
      throw new InvalidInputError(
        `${record.id} is a rollback, not a deployment; pass the id of the deployment to undo`,
      );
    }
    if (record?.status === 'rolled-back') {
      throw new InvalidInputError(
        `deployment ${record.id} was already rolled back by ${record.rolledBackBy ?? 'an earlier rollback'}`,
      );
    }

    const current = await store.getLock(config.name);
    let lockHolder = rollbackId;
    if (record && current?.holder === record.id) {
      lockHolder = record.id;
    } else {
      const taken = await store.acquireLock(
        buildLock(config.name, rollbackId, execution.Id, now, config.lock.ttlSeconds),
        now,
      );
      if (!taken.acquired) throw new LockHeldError(lockHeldMessage(taken.holder, now));
    }

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
        reason: input.reason,
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
        reason: input.reason,
        ...(input.annotate !== undefined && { annotate: input.annotate }),
        trigger: input.trigger,
        requestedBy: input.requestedBy,
        lockHolder,
        startedAt: now.toISOString(),
      };
      logger.info(`rolling ${where} back from revision ${workload.revision} to ${target.revision}`, {
        reason: input.reason,
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
