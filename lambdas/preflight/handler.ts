/**
 * "Preflight checks": validate the request, refuse during a change freeze or with the breaker
 * open, take the environment lock, capture the rollback state and record the deployment.
 * A dry run makes the same checks (the lock must be free) and changes nothing. A paused
 * Deployment is refused before anything changes (the lock taken for the check is given back).
 */
import * as z from 'zod';
import { eksClusterFromEnv } from '../adapters/aws-cluster.ts';
import { dynamoStoreFromEnv } from '../adapters/aws-store.ts';
import { breakerOpenMessage, breakerSummary } from '../core/breaker.ts';
import { checkEnvironment, checkNotPaused, containerImage, deadlineAt } from '../core/context.ts';
import { ChangeFreezeError, CircuitOpenError, LockHeldError } from '../core/errors.ts';
import { activeFreeze, freezeMessage } from '../core/freeze.ts';
import { validateRelease } from '../core/image.ts';
import { blocks, buildLock, lockHeldMessage } from '../core/lock.ts';
import { checkDeployExecutionName, planLines } from '../core/naming.ts';
import { type DeploymentContext, deployInputSchema, executionRefSchema } from '../core/types.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep } from '../shared/step.ts';

/** The preflight event: the execution input and `$$.Execution`. */
export const preflightEventSchema = z.object({ input: deployInputSchema, execution: executionRefSchema });

/** The preflight step. */
export const step = defineStep('preflight', preflightEventSchema, async ({ input, execution }, deps) => {
  const { config, store, clock, logger } = deps;
  const deploymentId = execution.Name;
  logger.appendKeys({ deploymentId, executionArn: execution.Id });
  checkDeployExecutionName(execution.Name);
  checkEnvironment(config.name, input.environment);
  const release = validateRelease(config, input.image, input.version);
  const now = clock.now();

  const freeze = activeFreeze(config.changeFreezes, await store.listFreezes(config.name), now);
  if (freeze) throw new ChangeFreezeError(freezeMessage(config.name, freeze));
  const breaker = await store.getBreaker(config.name);
  if (breaker.state === 'open') throw new CircuitOpenError(breakerOpenMessage(breaker));

  const lock = buildLock(config.name, deploymentId, execution.Id, now, config.lock.ttlSeconds);
  if (input.dryRun) {
    const current = await store.getLock(config.name);
    if (blocks(current, deploymentId, now)) throw new LockHeldError(lockHeldMessage(current, now));
  } else {
    const taken = await store.acquireLock(lock, now);
    if (!taken.acquired) throw new LockHeldError(lockHeldMessage(taken.holder, now));
  }

  try {
    const workload = await (await deps.cluster()).getWorkload(config.namespace, config.workload);
    checkNotPaused(workload);
    const previousImage = containerImage(workload, config.container);
    const rolloutDeadlineAt = deadlineAt(now, config.rollout.deadlineSeconds);
    const context: DeploymentContext = {
      environment: config.name,
      namespace: config.namespace,
      workload: config.workload,
      container: config.container,
      expectedImage: input.image,
      rolloutDeadlineAt,
      deploymentId,
      executionArn: execution.Id,
      image: input.image,
      ...(release.version !== undefined && { version: release.version }),
      previousImage,
      previousRevision: workload.revision,
      startedAt: now.toISOString(),
      dryRun: input.dryRun,
      plan: planLines({
        environment: config.name,
        namespace: config.namespace,
        workload: config.workload,
        container: config.container,
        image: input.image,
        ...(release.version !== undefined && { version: release.version }),
        previousImage,
        previousRevision: workload.revision,
        deadlineSeconds: config.rollout.deadlineSeconds,
        rolloutDeadlineAt,
        apiUrl: config.apiUrl,
        healthPaths: config.healthCheck.endpoints.map((e) => e.path),
        breakerSummary: breakerSummary(breaker, config.thresholds.consecutive_failures_for_rollback),
        lockSummary: input.dryRun
          ? `the ${config.name} lock is free (a dry run does not take it)`
          : `took the ${config.name} lock until ${lock.expiresAt}`,
      }),
    };
    if (!input.dryRun) {
      await store.putRecord({
        environment: config.name,
        id: deploymentId,
        kind: 'deploy',
        status: 'in-progress',
        executionArn: execution.Id,
        trigger: input.trigger,
        requestedBy: input.requestedBy,
        ...(input.ciRunUrl !== undefined && { ciRunUrl: input.ciRunUrl }),
        image: input.image,
        ...(release.version !== undefined && { version: release.version }),
        previousImage,
        previousRevision: workload.revision,
        startedAt: context.startedAt,
      });
    }
    logger.info(input.dryRun ? 'dry run: preflight passed' : 'preflight passed', { plan: context.plan });
    return context;
  } catch (err) {
    // Nothing changed on the cluster yet: give the environment back before failing.
    if (!input.dryRun) await store.releaseLock(config.name, deploymentId).catch(() => false);
    throw err;
  }
});

/** Lambda entry point, wired with the AWS ports this step uses (see STEP_ACCESS). */
export const handler = lambdaHandler(step, { store: dynamoStoreFromEnv, cluster: eksClusterFromEnv });
