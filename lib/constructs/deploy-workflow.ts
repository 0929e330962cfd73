/**
 * The Deploy workflow (docs/workflows.md): preflight, set image, wait for the rollout, enhanced
 * health check, post-deployment monitoring, record; any failure after the rollout began (an
 * alarm that ends a wait included) runs the Rollback workflow as a linked child execution.
 */
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  Choice,
  Condition,
  Fail,
  IntegrationPattern,
  type IStateMachine,
  JsonPath,
  Pass,
  Result,
  Succeed,
  TaskInput,
} from 'aws-cdk-lib/aws-stepfunctions';
import { StepFunctionsStartExecution } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { REFUSAL_ERRORS } from '../../lambdas/core/errors.ts';
import { ROLLBACK_CHILD_SUFFIX, stateMachineName } from '../../lambdas/core/naming.ts';
import type { TaskStepId } from '../../lambdas/steps.ts';
import type { EnvironmentConfig } from '../config/schema.ts';
import { deployTimeoutSeconds, lockTtlProblem } from '../config/timeouts.ts';
import {
  FAILURE_PATH,
  GuardianStateMachine,
  lambdaStepTask,
  signalWait,
  watchRollout,
} from './guardian-state-machine.ts';
import { platformStates } from './platform-states.ts';

/**
 * Longest a Deploy execution of `env` may run: the rollout deadline and the health-check budget,
 * then a full Rollback execution, plus slack for retries and cold starts (`lib/config/timeouts.ts`).
 */
export function deployTimeoutOf(env: EnvironmentConfig, rollbackTimeout: Duration): Duration {
  return Duration.seconds(deployTimeoutSeconds(env, rollbackTimeout.toSeconds()));
}

/**
 * Throws unless the environment lock outlives a Deploy execution: a lock that expires mid-rollout
 * lets a second deployment in while the first may still roll back. `loadConfig` refuses such a
 * config with its file and line; this is the backstop for configs built in code.
 */
export function assertLockOutlastsDeploy(env: EnvironmentConfig, rollbackTimeout: Duration): void {
  const problem = lockTtlProblem(env, rollbackTimeout.toSeconds());
  if (problem === undefined) return;
  throw new Error(`DeployWorkflow: environments.${env.name}.lock.ttlSeconds: ${problem}`);
}

/** Properties of {@link DeployWorkflow}. */
export interface DeployWorkflowProps {
  /** The stack's environment: poll interval, health-check retries, deadlines. */
  readonly environment: EnvironmentConfig;
  /** Step functions by step id. */
  readonly functions: Readonly<Record<TaskStepId, IFunction>>;
  /** The Rollback state machine, run to completion on any failure after the rollout began. */
  readonly rollback: IStateMachine;
  /** How long a Rollback execution may take (added to this workflow's timeout). */
  readonly rollbackTimeout: Duration;
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

/** `guardian-<env>-deploy`. */
export class DeployWorkflow extends Construct {
  /** The L3 state machine (definition, logs, tracing, alarms). */
  readonly workflow: GuardianStateMachine;
  /** The timeout given to the state machine; the environment lock outlasts it. */
  readonly timeout: Duration;

  constructor(scope: Construct, id: string, props: DeployWorkflowProps) {
    super(scope, id);
    const env = props.environment;
    assertLockOutlastsDeploy(env, props.rollbackTimeout);
    const fn = props.functions;
    const catchAll = { resultPath: FAILURE_PATH };

    const refused = new Fail(this, 'Deployment refused', {
      errorPath: '$.failure.Error',
      causePath: '$.failure.Cause',
    });
    const preflightFailed = new Fail(this, 'Preflight failed', {
      errorPath: '$.failure.Error',
      causePath: '$.failure.Cause',
    });
    const rollbackFailed = new Fail(this, 'Rollback failed', {
      error: 'RollbackFailed',
      causePath: '$.failure.Cause',
    });
    const rolledBack = new Fail(this, 'Deployment rolled back', {
      error: 'DeploymentRolledBack',
      causePath: '$.failure.Cause',
    });

    const rollBack = new StepFunctionsStartExecution(this, 'Roll back to previous revision', {
      stateMachine: props.rollback,
      integrationPattern: IntegrationPattern.RUN_JOB,
      // Adds AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID so the console links parent and child.
      associateWithParent: true,
      // The child is named after the deployment, so the console shows which release it undid.
      name: JsonPath.format(`{}${ROLLBACK_CHILD_SUFFIX}`, JsonPath.executionName),
      input: TaskInput.fromObject({
        'environment.$': '$.deployment.environment',
        'deploymentId.$': '$.deployment.deploymentId',
        'reason.$': '$.failure.Cause',
        trigger: 'deploy-failure',
        requestedBy: 'guardian',
      }),
      resultPath: '$.rollbackExecution',
    });
    // The child records its own failure when it gets that far; when it is refused or crashes
    // first, this records it on the deployment, opens the breaker and releases the lock.
    const recordFailedRollback = lambdaStepTask(this, 'Record failed rollback', fn['record-deployment'], {
      payload: { 'deployment.$': '$.deployment', outcome: 'rollback-failed', 'failure.$': '$.failure' },
      resultPath: '$.record',
    });
    recordFailedRollback.addCatch(rollbackFailed, { errors: ['States.ALL'], resultPath: '$.recordFailure' });
    recordFailedRollback.next(rollbackFailed);
    rollBack.addCatch(recordFailedRollback, { errors: ['States.ALL'], ...catchAll });
    rollBack.next(rolledBack);

    const preflight = lambdaStepTask(this, 'Preflight checks', fn.preflight, {
      payload: { 'input.$': '$', 'execution.$': '$$.Execution' },
      resultPath: '$.deployment',
    });
    preflight.addCatch(refused, { errors: [...REFUSAL_ERRORS], ...catchAll });
    preflight.addCatch(preflightFailed, { errors: ['States.ALL'], ...catchAll });

    const setImage = lambdaStepTask(this, platformStates(env).startRollout, fn['set-image'], {
      payload: { 'deployment.$': '$.deployment' },
      resultPath: '$.setImage',
    });
    setImage.addCatch(rollBack, { errors: ['States.ALL'], ...catchAll });

    const record = lambdaStepTask(this, 'Record deployment', fn['record-deployment'], {
      payload: { 'deployment.$': '$.deployment', 'rollout.$': '$.rollout', 'health.$': '$.health' },
      resultPath: '$.record',
    });
    // A critical alarm that arrived after the last monitoring round: the release is not promoted.
    record.addCatch(rollBack, { errors: ['AlarmFiredError'], ...catchAll });

    // Post-deployment monitoring (deployment-monitor.sh monitor): a round every interval for the
    // configured duration; the wait between rounds is one an alarm ends at once.
    const succeeded = record.next(new Succeed(this, 'Deployment succeeded'));
    const round = lambdaStepTask(this, 'Monitoring round', fn['monitor-round'], {
      payload: { 'deployment.$': '$.deployment', 'monitoring.$': '$.monitoring.state' },
      resultPath: '$.monitoring',
    });
    round.addCatch(rollBack, { errors: ['States.ALL'], ...catchAll });
    const monitoringFailed = new Pass(this, 'Monitoring failed', {
      parameters: { Error: 'MonitoringFailedError', 'Cause.$': '$.monitoring.reason' },
      resultPath: FAILURE_PATH,
    }).next(rollBack);
    const waitForRound = signalWait(this, 'Wait for next monitoring round', {
      awaitSignal: fn['await-signal'],
      deploymentPath: '$.deployment',
      phase: 'monitoring',
      seconds: env.monitoring.intervalSeconds,
      next: round,
      onFailure: rollBack,
    });
    round.next(
      new Choice(this, 'Monitoring verdict?')
        .when(Condition.stringEquals('$.monitoring.verdict', 'rollback'), monitoringFailed)
        .when(Condition.stringEquals('$.monitoring.verdict', 'complete'), succeeded)
        .otherwise(waitForRound),
    );
    const monitor = new Pass(this, 'Post-deployment monitoring', {
      result: Result.fromObject({ state: null }),
      resultPath: '$.monitoring',
    }).next(waitForRound);

    const watch = watchRollout(this, {
      names: {
        wait: 'Wait for rollout',
        check: 'Check rollout status',
        complete: 'Rollout complete?',
        failed: 'Rollout failed',
        health: 'Enhanced health check',
      },
      targetPath: '$.deployment',
      rolloutStatus: fn['rollout-status'],
      healthCheck: fn['health-check'],
      environment: env,
      onFailure: rollBack,
      onHealthy: monitor,
      awaitSignal: fn['await-signal'],
    });

    const definition = preflight.next(
      new Choice(this, 'Dry run?')
        .when(Condition.booleanEquals('$.deployment.dryRun', true), new Succeed(this, 'Dry run complete'))
        .otherwise(setImage.next(watch)),
    );

    this.timeout = deployTimeoutOf(env, props.rollbackTimeout);
    this.workflow = new GuardianStateMachine(this, 'Workflow', {
      stateMachineName: stateMachineName(env.name, 'deploy'),
      definition,
      timeout: this.timeout,
      ...(props.logRetention ? { logRetention: props.logRetention } : {}),
      ...(props.removalPolicy ? { removalPolicy: props.removalPolicy } : {}),
    });
  }
}
