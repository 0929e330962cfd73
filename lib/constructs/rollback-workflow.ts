/**
 * The Rollback workflow (docs/workflows.md): one path for every trigger — prepare, undo to the
 * captured revision, wait for the rollout, verify health, record the outcome.
 */
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Fail, Pass, Result, Succeed } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { REFUSAL_ERRORS } from '../../lambdas/core/errors.ts';
import { stateMachineName } from '../../lambdas/core/naming.ts';
import type { TaskStepId } from '../../lambdas/steps.ts';
import type { EnvironmentConfig } from '../config/schema.ts';
import { healthCheckBudgetSeconds as healthCheckBudget, rollbackTimeoutSeconds } from '../config/timeouts.ts';
import {
  FAILURE_PATH,
  GuardianStateMachine,
  lambdaStepTask,
  watchRollout,
} from './guardian-state-machine.ts';
import { platformStates } from './platform-states.ts';

/** Longest the enhanced health check can take, retries included (`lib/config/timeouts.ts`). */
export function healthCheckBudgetSeconds(env: EnvironmentConfig): number {
  return healthCheckBudget(env);
}

/** Longest a Rollback execution of `env` may run: its rollout deadline, health check, and slack. */
export function rollbackTimeoutOf(env: EnvironmentConfig): Duration {
  return Duration.seconds(rollbackTimeoutSeconds(env));
}

/** The last rollout status; `{}` until "Check rollback status" has returned one. */
const ROLLOUT_PATH = '$.rollout';

/** Properties of {@link RollbackWorkflow}. */
export interface RollbackWorkflowProps {
  /** The stack's environment: poll interval, health-check retries, deadlines. */
  readonly environment: EnvironmentConfig;
  /** Step functions by step id. */
  readonly functions: Readonly<Record<Exclude<TaskStepId, 'canary-round' | 'backup' | 'promote'>, IFunction>>;
  /**
   * Retention of the execution log group.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * Removal policy of the execution log group.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** `guardian-<env>-rollback`. */
export class RollbackWorkflow extends Construct {
  /** The L3 state machine (definition, logs, tracing, alarms). */
  readonly workflow: GuardianStateMachine;
  /** The timeout given to the state machine. */
  readonly timeout: Duration;

  constructor(scope: Construct, id: string, props: RollbackWorkflowProps) {
    super(scope, id);
    const env = props.environment;
    const fn = props.functions;
    const catchAll = { resultPath: FAILURE_PATH };

    const refused = new Fail(this, 'Rollback refused', {
      errorPath: '$.failure.Error',
      causePath: '$.failure.Cause',
    });

    const recordFailure = lambdaStepTask(this, 'Record rollback failure', fn['rollback-finish'], {
      payload: {
        'rollback.$': '$.rollback',
        outcome: 'rollback-failed',
        'rollout.$': ROLLOUT_PATH,
        'failure.$': FAILURE_PATH,
      },
      resultPath: '$.record',
    });
    recordFailure.next(
      new Fail(this, 'Rollback failed', {
        error: 'RollbackFailed',
        causePath: '$.failure.Cause',
      }),
    );

    const prepare = lambdaStepTask(this, 'Prepare rollback', fn['rollback-prepare'], {
      payload: { 'input.$': '$', 'execution.$': '$$.Execution' },
      resultPath: '$.rollback',
    });
    prepare.addCatch(refused, { errors: [...REFUSAL_ERRORS], ...catchAll });
    prepare.addCatch(refused, { errors: ['States.ALL'], ...catchAll });

    // A `.$` reference to a missing path fails the state, and the failure record may run before
    // any status check (the undo itself failed): start from an empty status.
    const start = new Pass(this, 'Start rollback', {
      result: Result.fromObject({}),
      resultPath: ROLLOUT_PATH,
    });

    const apply = lambdaStepTask(this, platformStates(env).restore, fn['rollback-apply'], {
      payload: { 'rollback.$': '$.rollback' },
      resultPath: '$.apply',
    });
    apply.addCatch(recordFailure, { errors: ['States.ALL'], ...catchAll });

    const record = lambdaStepTask(this, 'Record rollback', fn['rollback-finish'], {
      payload: { 'rollback.$': '$.rollback', outcome: 'rolled-back', 'rollout.$': ROLLOUT_PATH },
      resultPath: '$.record',
    });

    const watch = watchRollout(this, {
      names: {
        wait: 'Wait for rollback',
        check: 'Check rollback status',
        complete: 'Rollback complete?',
        failed: 'Rollback did not complete',
        health: 'Verify health after rollback',
      },
      targetPath: '$.rollback',
      rolloutStatus: fn['rollout-status'],
      healthCheck: fn['health-check'],
      environment: env,
      onFailure: recordFailure,
      onHealthy: record.next(new Succeed(this, 'Rolled back')),
    });

    const definition = prepare.next(start).next(apply).next(watch);

    this.timeout = rollbackTimeoutOf(env);
    this.workflow = new GuardianStateMachine(this, 'Workflow', {
      stateMachineName: stateMachineName(env.name, 'rollback'),
      definition,
      timeout: this.timeout,
      ...(props.logRetention ? { logRetention: props.logRetention } : {}),
      ...(props.removalPolicy ? { removalPolicy: props.removalPolicy } : {}),
    });
  }
}
