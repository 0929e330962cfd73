/**
 * "Execution ended": the janitor EventBridge invokes when a Deploy or Rollback execution ends
 * FAILED, TIMED_OUT or ABORTED. Such an execution may have stopped before recording its outcome
 * (a preflight Lambda timeout after taking the lock, an execution timeout, StopExecution, a record
 * step out of retries); the janitor gives the lock back if this execution holds it and fails its
 * record if it is still in progress, opening the breaker when it was stopped mid-change. Every
 * write is conditional, so EventBridge's at-least-once delivery repeats it harmlessly.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import * as z from 'zod';
import { breakerOnUnfinished } from '../core/breaker.ts';
import { ConflictError } from '../core/errors.ts';
import { openIncident } from '../core/escalation.ts';
import { isUnfinishedStatus, planExecutionEnded, type UnfinishedStatus } from '../core/execution-ended.ts';
import { stateMachineName } from '../core/naming.ts';
import { rollbackIncident } from '../core/rollback-incident.ts';
import type { DeploymentRecord } from '../core/types.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep, type StepDeps } from '../shared/step.ts';

/** The EventBridge "Step Functions Execution Status Change" event (fields the janitor reads). */
export const executionEndedEventSchema = z.looseObject({
  source: z.literal('aws.states'),
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.looseObject({
    executionArn: z.string().min(1),
    stateMachineArn: z.string().min(1),
    name: z.string().min(1),
    status: z.string().min(1),
    startDate: z.number().nullish(),
    stopDate: z.number().nullish(),
    input: z.string().nullish(),
    output: z.string().nullish(),
    error: z.string().nullish(),
    cause: z.string().nullish(),
  }),
});

/** The execution-ended step. */
export const step = defineStep('execution-ended', executionEndedEventSchema, async ({ detail }, deps) => {
  const { config, store, clock, logger } = deps;
  const { name, executionArn, status } = detail;
  logger.appendKeys({ executionName: name, executionArn, status });
  if (!isUnfinishedStatus(status)) {
    return { message: `execution ${name} ended ${status}: nothing to clean up.` };
  }
  const [lock, record] = await Promise.all([store.getLock(config.name), store.getRecord(config.name, name)]);
  const plan = planExecutionEnded(
    { name, executionArn, status, error: detail.error, cause: detail.cause },
    lock,
    record,
  );
  const now = clock.now();
  const done: string[] = [];
  // The breaker first: it keeps the next deployment off a half-changed workload even if a later write fails.
  if (plan.openBreaker) {
    await store.updateBreaker(config.name, (b) =>
      breakerOnUnfinished(b, { id: name, ...(record && { image: record.image }) }, plan.reason, now),
    );
    done.push(
      `opened the ${config.name} circuit breaker (check the workload, then \`guardian circuit-breaker --env ${config.name} --reset\`)`,
    );
  }
  if (plan.failRecord) {
    try {
      await store.updateRecord(
        config.name,
        name,
        { status: 'failed', finishedAt: now.toISOString(), reason: plan.reason },
        { status: ['in-progress'] },
      );
      done.push(`recorded ${record?.kind ?? 'execution'} ${name} as failed`);
    } catch (err) {
      // Finished by someone else since we read it: theirs is the outcome to keep.
      if (!(err instanceof ConflictError)) throw err;
    }
  }
  if (
    plan.releaseLockHeldBy !== undefined &&
    (await store.releaseLock(config.name, plan.releaseLockHeldBy))
  ) {
    done.push(`released the ${config.name} lock held by ${plan.releaseLockHeldBy}`);
  }
  const kept = plan.keptLock
    ? ` The ${config.name} lock is held by ${plan.keptLock.holder} (execution ${plan.keptLock.executionArn}), not by this execution, and stays.`
    : '';
  const paged = await pageFailedRollback(detail, status, record, deps);
  if (paged) done.push(paged);
  const message = done.length
    ? `Execution ${name}: ${plan.reason}; ${done.join('; ')}.${kept}`
    : `Execution ${name} ended ${status}: nothing left to clean up.${kept}`;
  if (done.length) logger.warn(message);
  else logger.info(message);
  return { message };
});

/**
 * A rollback that itself failed opens a P1 and starts its escalation (both idempotent: the
 * incident is named by the deployment it concerns, the execution by the incident). Returns what
 * it did, or undefined when the ended execution is no failed rollback.
 */
async function pageFailedRollback(
  detail: z.infer<typeof executionEndedEventSchema>['detail'],
  status: UnfinishedStatus,
  record: DeploymentRecord | undefined,
  deps: StepDeps<'execution-ended'>,
): Promise<string | undefined> {
  const { config, store, workflows, clock } = deps;
  const kind = detail.stateMachineArn.endsWith(`:${stateMachineName(config.name, 'rollback')}`)
    ? 'rollback'
    : 'deploy';
  let input: { deploymentId?: string; trigger?: string } = {};
  try {
    const parsed = JSON.parse(detail.input ?? '{}') as Record<string, unknown>;
    input = {
      ...(typeof parsed.deploymentId === 'string' && { deploymentId: parsed.deploymentId }),
      ...(typeof parsed.trigger === 'string' && { trigger: parsed.trigger }),
    };
  } catch {
    // An input that is no JSON names no deployment: the incident is about the execution itself.
  }
  const deploymentId = kind === 'deploy' ? detail.name : input.deploymentId;
  const deployment =
    deploymentId === undefined
      ? undefined
      : deploymentId === record?.id
        ? record
        : await store.getRecord(config.name, deploymentId);
  const plan = rollbackIncident(
    config.name,
    {
      kind,
      name: detail.name,
      status,
      error: detail.error,
      cause: detail.cause,
      startDate: new Date(detail.startDate ?? clock.now().getTime()),
      input,
    },
    deployment,
    kind === 'rollback' ? record : undefined,
  );
  if (!plan.open) {
    deps.logger.info(plan.reason);
    return undefined;
  }
  const { created } = await store.putIncident(openIncident(plan.incident, plan.id, clock.now()));
  const escalation = await workflows.start('escalation', plan.id, { incidentId: plan.id });
  deps.metrics.addMetric('RollbackFailedIncident', MetricUnit.Count, created ? 1 : 0);
  return `${created ? 'opened' : 'found'} P1 incident ${plan.id} (a rollback failed)${escalation.started ? ' and started its escalation' : ''}`;
}

/** Lambda entry point: ports and config slice from lambdas/steps.ts. */
export const handler = lambdaHandler(step);
