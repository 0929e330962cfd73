/**
 * L3 state machine: owns its definition, a log group with full execution data, X-Ray tracing,
 * a timeout, and alarms on executions that fail, are throttled, aborted or time out.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, type Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  Choice,
  Condition,
  DefinitionBody,
  type IChainable,
  IntegrationPattern,
  JsonPath,
  LogLevel,
  Pass,
  StateMachine,
  StateMachineType,
  TaskInput,
  Timeout,
  Wait,
  WaitTime,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { SignalPhase } from '../../lambdas/core/types.ts';
import type { EnvironmentConfig } from '../config/schema.ts';

/** Every Catch puts `{Error, Cause}` here. */
export const FAILURE_PATH = '$.failure';

/** Properties of {@link GuardianStateMachine}. */
export interface GuardianStateMachineProps {
  /** Physical name, e.g. `guardian-staging-deploy`. */
  readonly stateMachineName: string;
  /** Start state of the definition (JSONPath). */
  readonly definition: IChainable;
  /** Longest an execution may run before Step Functions stops it. */
  readonly timeout: Duration;
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

/** A Standard, logged, traced state machine with alarms on unhealthy executions. */
export class GuardianStateMachine extends Construct {
  /** The state machine. */
  readonly stateMachine: StateMachine;
  /** Where Step Functions writes execution history events (level ALL, with data). */
  readonly logGroup: LogGroup;
  /** Alarms by metric: failed, throttled, aborted, timed out. */
  readonly alarms: Readonly<Record<'failed' | 'throttled' | 'aborted' | 'timedOut', Alarm>>;

  constructor(scope: Construct, id: string, props: GuardianStateMachineProps) {
    super(scope, id);
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(props.stateMachineName)) {
      throw new Error(
        `GuardianStateMachine: stateMachineName '${props.stateMachineName}' must be 1-80 characters of A-Z, a-z, 0-9, - and _`,
      );
    }
    if (props.timeout.toSeconds() < 60) {
      throw new Error(
        `GuardianStateMachine: timeout of ${props.stateMachineName} must be at least 60 seconds`,
      );
    }
    this.logGroup = new LogGroup(this, 'Logs', {
      // The vendedlogs prefix keeps the account's CloudWatch Logs resource policy small.
      logGroupName: `/aws/vendedlogs/states/${props.stateMachineName}`,
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromChainable(props.definition),
      timeout: props.timeout,
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: LogLevel.ALL, includeExecutionData: true },
    });
    const alarm = (name: string, metric: Metric, what: string): Alarm =>
      new Alarm(this, name, {
        alarmName: `${props.stateMachineName}-${name.toLowerCase()}`,
        alarmDescription: `${props.stateMachineName}: ${what}`,
        metric: metric.with({ period: Duration.minutes(1), statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
    this.alarms = {
      failed: alarm('Failed', this.stateMachine.metricFailed(), 'an execution failed'),
      throttled: alarm('Throttled', this.stateMachine.metricThrottled(), 'executions were throttled'),
      aborted: alarm('Aborted', this.stateMachine.metricAborted(), 'an execution was aborted'),
      timedOut: alarm('TimedOut', this.stateMachine.metricTimedOut(), 'an execution timed out'),
    };
  }
}

/** Options of {@link lambdaStepTask}. */
export interface LambdaStepTaskOptions {
  /** The step's event: literal values, or `key.$` JSONPath references. */
  readonly payload: Record<string, unknown>;
  /** Where the step's result goes in the state. */
  readonly resultPath?: string;
}

/**
 * A Task state invoking a step function with the payload only. Keeps CDK's Lambda
 * service-exception retries and adds the workflow contract's TransientError backoff.
 */
export function lambdaStepTask(
  scope: Construct,
  stateName: string,
  fn: IFunction,
  options: LambdaStepTaskOptions,
): LambdaInvoke {
  const task = new LambdaInvoke(scope, stateName, {
    lambdaFunction: fn,
    payload: TaskInput.fromObject(options.payload),
    payloadResponseOnly: true,
    retryOnServiceExceptions: true,
    ...(options.resultPath ? { resultPath: options.resultPath } : {}),
  });
  task.addRetry({
    errors: ['TransientError'],
    interval: Duration.seconds(2),
    backoffRate: 2,
    maxAttempts: 5,
  });
  return task;
}

/**
 * Adds the health check's Retry: one Lambda invocation per attempt, `intervalSeconds` apart.
 * Step Functions needs at least one second between attempts, so an interval of 0 means 1 s.
 */
export function addHealthCheckRetry(
  task: LambdaInvoke,
  healthCheck: { readonly attempts: number; readonly intervalSeconds: number },
): void {
  if (healthCheck.attempts <= 1) return;
  task.addRetry({
    errors: ['HealthCheckFailedError'],
    interval: Duration.seconds(Math.max(1, healthCheck.intervalSeconds)),
    maxAttempts: healthCheck.attempts - 1,
    backoffRate: 1,
  });
}

/** Console names of a watched rollout's states, as the runbook words them. */
/** Options of {@link signalWait}. */
export interface SignalWaitOptions {
  /** The `await-signal` step's function. */
  readonly awaitSignal: IFunction;
  /** JSONPath of the deployment context (`$.deployment`). */
  readonly deploymentPath: string;
  /** Which wait it is, kept on the record beside the token. */
  readonly phase: SignalPhase;
  /** How long it waits when nothing ends it sooner. */
  readonly seconds: number;
  /** Where the wait goes when its time is up (and when a token is sent back as success). */
  readonly next: IChainable;
  /**
   * Where the wait goes when its time is up, if not `next` (the hold of an inconclusive canary
   * analysis: no decision in time rolls back). `$.failure` is set to the States.Timeout error.
   * @default next
   */
  readonly onTimeout?: IChainable;
  /** Where any failure goes (an alarm fails the token with AlarmFiredError), with `$.failure` set. */
  readonly onFailure: IChainable;
}

/**
 * A wait an alarm can end at once: a `.waitForTaskToken` Lambda task whose step keeps the task
 * token on the deployment record and whose TimeoutSeconds is the wait. The alarm handler fails the
 * token (AlarmFiredError); the timeout (States.Timeout) is the normal way out.
 */
export function signalWait(scope: Construct, stateName: string, o: SignalWaitOptions): LambdaInvoke {
  const task = new LambdaInvoke(scope, stateName, {
    lambdaFunction: o.awaitSignal,
    integrationPattern: IntegrationPattern.WAIT_FOR_TASK_TOKEN,
    payload: TaskInput.fromObject({
      'deployment.$': o.deploymentPath,
      token: JsonPath.taskToken,
      phase: o.phase,
    }),
    taskTimeout: Timeout.duration(Duration.seconds(o.seconds)),
    resultPath: JsonPath.DISCARD,
    retryOnServiceExceptions: true,
  });
  task.addRetry({
    errors: ['TransientError'],
    interval: Duration.seconds(2),
    backoffRate: 2,
    maxAttempts: 5,
  });
  task.addCatch(
    o.onTimeout ?? o.next,
    o.onTimeout
      ? { errors: ['States.Timeout'], resultPath: FAILURE_PATH }
      : { errors: ['States.Timeout'], resultPath: JsonPath.DISCARD },
  );
  task.addCatch(o.onFailure, { errors: ['States.ALL'], resultPath: FAILURE_PATH });
  task.next(o.next);
  return task;
}

export interface WatchRolloutNames {
  readonly wait: string;
  readonly check: string;
  readonly complete: string;
  readonly failed: string;
  readonly health: string;
}

/** Properties of {@link watchRollout}. */
export interface WatchRolloutProps {
  readonly names: WatchRolloutNames;
  /** JSONPath of the RolloutTarget the steps watch (`$.deployment` or `$.rollback`). */
  readonly targetPath: string;
  /**
   * JSONPath of the deadline set when the rollout started, where it is not the target's own.
   * @default the target's rolloutDeadlineAt
   */
  readonly deadlinePath?: string;
  readonly rolloutStatus: IFunction;
  readonly healthCheck: IFunction;
  readonly environment: EnvironmentConfig;
  /** Where every failure goes, with `$.failure` set. */
  readonly onFailure: IChainable;
  /** What follows a complete, healthy rollout. */
  readonly onHealthy: IChainable;
  /**
   * The `await-signal` step: when given, the poll wait is a {@link signalWait} an alarm can end.
   * @default a plain Wait state
   */
  readonly awaitSignal?: IFunction;
  /**
   * What the loop waits for: `release` (default) the whole workload on the image; `preview`
   * (blue-green) the new revision available behind the preview Service, which the health check
   * then calls instead of the active one.
   */
  readonly stage?: 'release' | 'preview';
}

/**
 * The loop Deploy and Rollback share, like `kubectl rollout status` then the enhanced health
 * check: Wait → check status → complete? → health check → `onHealthy`; a failed rollout, a step
 * failure or a failed health check go to `onFailure`. Returns the Wait, where the loop starts.
 */
export function watchRollout(scope: Construct, p: WatchRolloutProps): Wait | LambdaInvoke {
  const catchAll = { errors: ['States.ALL'], resultPath: FAILURE_PATH };
  const status = lambdaStepTask(scope, p.names.check, p.rolloutStatus, {
    payload: {
      'target.$': p.targetPath,
      ...(p.deadlinePath ? { 'rolloutDeadlineAt.$': p.deadlinePath } : {}),
      ...(p.stage === 'preview' ? { stage: 'preview' } : {}),
    },
    resultPath: '$.rollout',
  });
  const seconds = p.environment.rollout.pollIntervalSeconds;
  const wait = p.awaitSignal
    ? signalWait(scope, p.names.wait, {
        awaitSignal: p.awaitSignal,
        deploymentPath: p.targetPath,
        phase: 'rollout',
        seconds,
        next: status,
        onFailure: p.onFailure,
      })
    : new Wait(scope, p.names.wait, { time: WaitTime.duration(Duration.seconds(seconds)) });
  if (wait instanceof Wait) wait.next(status);
  status.addCatch(p.onFailure, catchAll);
  const failed = new Pass(scope, p.names.failed, {
    parameters: { Error: 'RolloutFailedError', 'Cause.$': '$.rollout.message' },
    resultPath: FAILURE_PATH,
  });
  failed.next(p.onFailure);
  const health = lambdaStepTask(scope, p.names.health, p.healthCheck, {
    payload: { 'target.$': p.targetPath, ...(p.stage === 'preview' ? { service: 'preview' } : {}) },
    resultPath: '$.health',
  });
  addHealthCheckRetry(health, p.environment.healthCheck);
  health.addCatch(p.onFailure, catchAll);
  status.next(
    new Choice(scope, p.names.complete)
      .when(Condition.stringEquals('$.rollout.phase', 'complete'), health.next(p.onHealthy))
      .when(Condition.stringEquals('$.rollout.phase', 'failed'), failed)
      .otherwise(wait),
  );
  return wait;
}
