/**
 * L3 state machine: owns its definition, a log group with full execution data, X-Ray tracing,
 * a timeout, and alarms on executions that fail, are throttled, aborted or time out.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, type Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  DefinitionBody,
  type IChainable,
  LogLevel,
  StateMachine,
  StateMachineType,
  TaskInput,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';

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
