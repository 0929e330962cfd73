/**
 * The Escalation workflow (runbook "Escalation Path"): one execution per incident, named after the
 * incident id so Step Functions refuses a second. For each level of the incident's priority it
 * pages the level's contact on every channel, then waits for an acknowledgement with a
 * `.waitForTaskToken` task whose token is parked on the incident and whose timeout is the time
 * until the next level is due: a timeout pages the next level; SendTaskSuccess (`guardian ack`,
 * the alarm's OK) ends the chain. After the last level it waits until `maxOpenHours`.
 * JSONPath only: the local executor runs these definitions and ignores JSONata.
 */
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  Choice,
  Condition,
  IntegrationPattern,
  JsonPath,
  Pass,
  Succeed,
  TaskInput,
  Timeout,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { stateMachineName } from '../../lambdas/core/naming.ts';
import type { EnvironmentConfig } from '../config/schema.ts';
import { GuardianStateMachine, lambdaStepTask } from './guardian-state-machine.ts';

/** Slack on top of the longest escalation: step retries, cold starts, the closing announcement. */
export const ESCALATION_MARGIN_SECONDS = 3600;
/** Longest a next-business-day level can be away: a week of non-working days plus a day. */
const NEXT_BUSINESS_DAY_MAX_SECONDS = 8 * 86_400;

/** Longest an Escalation execution of `env` may run: its longest path of waits, and slack. */
export function escalationTimeoutOf(env: Pick<EnvironmentConfig, 'escalation'>): Duration {
  const e = env.escalation;
  const levels = Object.values(e.policy).flat();
  const latest = Math.max(
    e.maxOpenHours * 3600,
    ...levels.map((l) => ('afterMinutes' in l ? l.afterMinutes * 60 : NEXT_BUSINESS_DAY_MAX_SECONDS)),
  );
  return Duration.seconds(latest + ESCALATION_MARGIN_SECONDS);
}

/** Properties of {@link EscalationWorkflow}. */
export interface EscalationWorkflowProps {
  /** The stack's environment: its escalation policy bounds the execution's timeout. */
  readonly environment: EnvironmentConfig;
  /** The escalation step functions. */
  readonly functions: {
    readonly 'escalation-notify': IFunction;
    readonly 'escalation-wait': IFunction;
  };
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

/** `guardian-<env>-escalation`. */
export class EscalationWorkflow extends Construct {
  /** The L3 state machine (definition, logs, tracing, alarms). */
  readonly workflow: GuardianStateMachine;
  /** The timeout given to the state machine. */
  readonly timeout: Duration;
  /** "Wait for acknowledgement": the task whose token `guardian ack` sends success to. */
  readonly waitState: LambdaInvoke;

  constructor(scope: Construct, id: string, props: EscalationWorkflowProps) {
    super(scope, id);
    const env = props.environment;
    const fn = props.functions;

    // The whole state is replaced at each level: it stays small however long the chain runs.
    const start = new Pass(this, 'Start escalation', {
      parameters: { 'incidentId.$': '$.incidentId', level: 0 },
    });
    const page = lambdaStepTask(this, 'Page level', fn['escalation-notify'], {
      payload: {
        action: 'page',
        'incidentId.$': '$.incidentId',
        'level.$': '$.level',
        'execution.$': '$$.Execution',
      },
      resultPath: '$.page',
    });
    const announce = lambdaStepTask(this, 'Announce closure', fn['escalation-notify'], {
      payload: { action: 'close', 'incidentId.$': '$.incidentId', 'execution.$': '$$.Execution' },
      resultPath: '$.closure',
    });
    announce.next(new Succeed(this, 'Escalation ended'));

    this.waitState = new LambdaInvoke(this, 'Wait for acknowledgement', {
      lambdaFunction: fn['escalation-wait'],
      integrationPattern: IntegrationPattern.WAIT_FOR_TASK_TOKEN,
      payload: TaskInput.fromObject({
        'incidentId.$': '$.incidentId',
        'level.$': '$.level',
        taskToken: JsonPath.taskToken,
      }),
      // Until the next level is due (or the chain's end after the last one), from "Page level".
      taskTimeout: Timeout.at('$.page.waitSeconds'),
      resultPath: '$.ack',
      retryOnServiceExceptions: true,
    });
    this.waitState.addRetry({
      errors: ['TransientError'],
      interval: Duration.seconds(2),
      backoffRate: 2,
      maxAttempts: 5,
    });
    const next = new Pass(this, 'Next level', {
      parameters: { 'incidentId.$': '$.incidentId', 'level.$': '$.page.nextLevel' },
    });
    next.next(page);
    const lastLevel = new Choice(this, 'Last level?')
      .when(Condition.booleanEquals('$.page.last', true), announce)
      .otherwise(next);
    this.waitState.addCatch(lastLevel, { errors: ['States.Timeout'], resultPath: '$.timeout' });
    this.waitState.addCatch(announce, { errors: ['IncidentClosedError'], resultPath: '$.closed' });
    this.waitState.next(announce);

    const stillOpen = new Choice(this, 'Still open?')
      .when(Condition.booleanEquals('$.page.open', true), this.waitState)
      .otherwise(announce);
    const definition = start.next(page).next(stillOpen);

    this.timeout = escalationTimeoutOf(env);
    this.workflow = new GuardianStateMachine(this, 'Workflow', {
      stateMachineName: stateMachineName(env.name, 'escalation'),
      definition,
      timeout: this.timeout,
      ...(props.logRetention ? { logRetention: props.logRetention } : {}),
      ...(props.removalPolicy ? { removalPolicy: props.removalPolicy } : {}),
    });
  }
}
