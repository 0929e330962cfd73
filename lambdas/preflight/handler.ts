/**
 * "Preflight checks": validate the request, refuse during a change freeze, with the breaker
 * open or while the environment's composite alarm is in ALARM (or unreadable, failing closed),
 * take the environment lock, capture the rollback point and record the deployment.
 * A dry run makes the same checks (the lock must be free) and changes nothing. A paused workload
 * is refused before anything changes (the lock taken for the check is given back).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import * as z from 'zod';
import { DEGRADED_ALARM_ID, guardianAlarmName } from '../core/alarm-catalog.ts';
import { type AlarmRead, preflightAlarmCheck } from '../core/alarm-preflight.ts';
import { breakerOpenMessage } from '../core/breaker.ts';
import { compensateOnFailure } from '../core/compensation.ts';
import { checkEnvironment, checkNotPaused } from '../core/context.ts';
import { deploymentContext, deploymentRecord } from '../core/deploy.ts';
import {
  AlarmActiveError,
  ChangeFreezeError,
  CircuitOpenError,
  InvalidInputError,
  LockHeldError,
} from '../core/errors.ts';
import { activeFreeze, freezeMessage } from '../core/freeze.ts';
import { validateRelease } from '../core/image.ts';
import { blocks, buildLock, lockHeldMessage } from '../core/lock.ts';
import { checkDeployExecutionName } from '../core/naming.ts';
import { deployInputSchema, executionRefSchema } from '../core/types.ts';
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

  const refuse = (err: Error): never => {
    deps.metrics.addMetric('DeploymentRefused', MetricUnit.Count, 1);
    throw err;
  };
  const freeze = activeFreeze(config.changeFreezes, await store.listFreezes(config.name), now);
  if (freeze) refuse(new ChangeFreezeError(freezeMessage(config.name, freeze)));
  const breaker = await store.getBreaker(config.name);
  if (breaker.state === 'open') refuse(new CircuitOpenError(breakerOpenMessage(breaker)));
  const alarmName = guardianAlarmName(config.name, DEGRADED_ALARM_ID);
  const alarmRead: AlarmRead = await deps.alarms.stateOf(alarmName).then(
    (state) => ({ ok: true, state }),
    (err: unknown) => ({
      ok: false,
      error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
    }),
  );
  const alarm = preflightAlarmCheck(alarmRead, config.alarms.preflightFailClosed, alarmName, now);
  if (alarm.verdict === 'refuse') refuse(new AlarmActiveError(alarm.message));
  if (alarm.verdict === 'warn') logger.warn(alarm.message);

  const lock = buildLock(config.name, deploymentId, execution.Id, now, config.lock.ttlSeconds);
  if (input.dryRun) {
    const current = await store.getLock(config.name);
    if (blocks(current, deploymentId, now)) refuse(new LockHeldError(lockHeldMessage(current, now)));
  } else {
    const taken = await store.acquireLock(lock, now);
    if (!taken.acquired) refuse(new LockHeldError(lockHeldMessage(taken.holder, now)));
  }

  // Nothing changed on the workload yet: a failure from here on gives the environment back.
  return compensateOnFailure(
    async () => {
      const { observation, point } = await deps.workload.capture();
      checkNotPaused(observation);
      // Blue-green (issue 11): a Rollout that is not blue-green, without its preview Service, that
      // would promote itself, or with a release already in it is refused before anything changes.
      const problems = (await deps.workload.releaseProblems?.()) ?? [];
      if (problems.length > 0) throw new InvalidInputError(problems.join('; '));
      const context = deploymentContext({
        config,
        input,
        release,
        execution,
        observation,
        point,
        breaker,
        lock,
        now,
      });
      if (!input.dryRun) await store.putRecord(deploymentRecord(context, input));
      logger.info(input.dryRun ? 'dry run: preflight passed' : 'preflight passed', { plan: context.plan });
      return context;
    },
    async () => input.dryRun || store.releaseLock(config.name, deploymentId),
    'always',
  );
});

/** Lambda entry point: ports and config slice from lambdas/steps.ts. */
export const handler = lambdaHandler(step);
