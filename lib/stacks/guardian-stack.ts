/**
 * One environment's guardian: tables, step functions, the Deploy, Rollback and Escalation
 * workflows, the alarm handler's EventBridge rule, and the alarm topic their alarms notify.
 */
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { type FunctionUrl, FunctionUrlAuthType } from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { AlarmTopicConfig, EnvironmentConfig, RetentionConfig } from '../config/schema.ts';
import { alarmEventPattern } from '../constructs/alarm-event-pattern.ts';
import { AlarmTopic } from '../constructs/alarm-topic.ts';
import { DeadLetterAlarm } from '../constructs/dead-letter-alarm.ts';
import { DeployWorkflow } from '../constructs/deploy-workflow.ts';
import { EscalationWorkflow } from '../constructs/escalation-workflow.ts';
import { GuardianAlarms } from '../constructs/guardian-alarms.ts';
import { GuardianTables } from '../constructs/guardian-tables.ts';
import { RollbackWorkflow } from '../constructs/rollback-workflow.ts';
import { GuardianLambdaSteps } from '../constructs/step-function.ts';
import { STACK_OUTPUTS } from './outputs.ts';

/**
 * How hard EventBridge tries to hand an ended execution to the janitor before the event goes to its
 * dead-letter queue; the lock TTL is the last resort after that.
 */
export const EXECUTION_ENDED_DELIVERY = { retryAttempts: 8, maxEventAge: Duration.hours(2) } as const;

/**
 * How EventBridge hands an alarm state change to the alarm handler (issue 8). A retry is cheap (the
 * handler drops a duplicate by its event id), so the count is generous and the age bounds it. An
 * hour: by then the runbook's P1 chain would have paged the CTO twice over and CloudWatch sends no
 * second event for an alarm that stays in ALARM, so a person must see the event instead (it goes to
 * the dead-letter queue, whose alarm notifies the topic). A late event is still decided on when it
 * fired, not when it arrived, so retrying within the hour cannot roll back a later release.
 */
export const ALARM_HANDLER_DELIVERY = { retryAttempts: 12, maxEventAge: Duration.hours(1) } as const;

/**
 * Lambda's own asynchronous retries of a failed alarm-handler invocation (its default, made explicit)
 * and the same one-hour bound instead of Lambda's six: after that the event waits in the dead-letter queue.
 */
export const ALARM_HANDLER_ASYNC_INVOKE = { retryAttempts: 2, maxEventAge: Duration.hours(1) } as const;

/** Stack output naming the alarm topic, for operators who subscribe by hand. */
export const ALARM_TOPIC_OUTPUT = 'AlarmTopicArn';

/** Stack output naming the alarm handler's function, to hand it a dead-lettered event again (issue 8). */
export const ALARM_HANDLER_OUTPUT = STACK_OUTPUTS.alarmHandlerFunctionName;

/** Stack output with the PagerDuty webhook's URL, when its signing secret is configured (issue 8). */
export const PAGERDUTY_WEBHOOK_URL_OUTPUT = 'PagerDutyWebhookUrl';

/** Stack outputs naming the composite `guardian-<env>-Degraded` alarm preflight reads (issue 8). */
export const DEGRADED_ALARM_OUTPUTS = { name: 'DegradedAlarmName', arn: 'DegradedAlarmArn' } as const;

const REMOVAL_POLICIES: Readonly<Record<RetentionConfig['removalPolicy'], RemovalPolicy>> = {
  retain: RemovalPolicy.RETAIN,
  destroy: RemovalPolicy.DESTROY,
};

/** The CDK removal policy of a config's `retention.removalPolicy`. */
export function removalPolicyOf(retention: RetentionConfig): RemovalPolicy {
  return REMOVAL_POLICIES[retention.removalPolicy];
}

/** The CDK retention of a config's `retention.logRetentionDays` (the schema allows only CloudWatch's values). */
export function logRetentionOf(retention: RetentionConfig): RetentionDays {
  const days = retention.logRetentionDays;
  if (days === RetentionDays.INFINITE || !Object.values(RetentionDays).includes(days)) {
    throw new Error(
      `GuardianStack: retention.logRetentionDays ${days} is not a retention period CloudWatch Logs accepts`,
    );
  }
  return days as RetentionDays;
}

/** Properties of {@link GuardianStack}. */
export interface GuardianStackProps extends StackProps {
  /** The environment this stack guards. */
  readonly environment: EnvironmentConfig;
  /** Who the alarm topic notifies (`alarmTopic` of the environment in config/environments.yaml). */
  readonly alarmTopic: AlarmTopicConfig;
  /**
   * Log retention and removal policy of the tables, log groups, queues and alarm topic
   * (`retention` of the environment in config/environments.yaml).
   */
  readonly retention: RetentionConfig;
  /**
   * Folder holding `<step>/handler.ts`.
   * @default the repository's `lambdas/`
   */
  readonly handlersDir?: string;
}

/** The guardian of one environment (`GuardianStaging`, `GuardianProduction`, ...). */
export class GuardianStack extends Stack {
  /** The environment this stack guards. */
  readonly environmentConfig: EnvironmentConfig;
  /** Deployments and Control tables. */
  readonly tables: GuardianTables;
  /** The step functions. */
  readonly steps: GuardianLambdaSteps;
  /** `guardian-<env>-deploy`. */
  readonly deploy: DeployWorkflow;
  /** `guardian-<env>-rollback`. */
  readonly rollback: RollbackWorkflow;
  /** `guardian-<env>-escalation`: one execution per incident (issue 8). */
  readonly escalation: EscalationWorkflow;
  /** Sends the environment's alarm state changes to the `alarm-handler` step (issue 8). */
  readonly alarmStateChangeRule: Rule;
  /** Events waiting in the alarm handler's dead-letter queue. */
  readonly alarmHandlerDeadLetterAlarm: DeadLetterAlarm;
  /** Sends every failed, timed-out or aborted Deploy/Rollback execution to the `execution-ended` step. */
  readonly executionEndedRule: Rule;
  /** `guardian-<env>-alarms`: every alarm of this stack notifies it, in ALARM and back to OK. */
  readonly alarmTopic: AlarmTopic;
  /** Events waiting in the janitor's dead-letter queue. */
  readonly executionEndedDeadLetterAlarm: DeadLetterAlarm;
  /** The workload's alarms (runbook alerts and rollback criteria) and the composite Degraded alarm. */
  readonly workloadAlarms: GuardianAlarms;
  /**
   * The URL PagerDuty's v3 webhook subscription posts to (issue 8).
   * @default none: only with `escalation.channels.pagerduty.webhookSecret` configured
   */
  readonly pagerDutyWebhookUrl?: FunctionUrl;

  constructor(scope: Construct, id: string, props: GuardianStackProps) {
    super(scope, id, props);
    const env = props.environment;
    this.environmentConfig = env;
    const removalPolicy = removalPolicyOf(props.retention);
    const logRetention = logRetentionOf(props.retention);

    this.tables = new GuardianTables(this, 'Tables', { environment: env.name, removalPolicy });
    // Created before the steps: the escalation's SNS channel may publish to it (`topic: stack`).
    this.alarmTopic = new AlarmTopic(this, 'AlarmTopic', {
      environment: env.name,
      subscriptions: props.alarmTopic.subscriptions,
      removalPolicy,
    });
    this.steps = new GuardianLambdaSteps(this, 'Steps', {
      environment: env,
      tables: this.tables,
      alarmTopic: { arn: this.alarmTopic.topic.topicArn, keyArn: this.alarmTopic.key.keyArn },
      logRetention,
      removalPolicy,
      ...(props.handlersDir ? { handlersDir: props.handlersDir } : {}),
    });
    const functions = {
      preflight: this.steps.functionOf('preflight'),
      'set-image': this.steps.functionOf('set-image'),
      'rollout-status': this.steps.functionOf('rollout-status'),
      'health-check': this.steps.functionOf('health-check'),
      'await-signal': this.steps.functionOf('await-signal'),
      'monitor-round': this.steps.functionOf('monitor-round'),
      'record-deployment': this.steps.functionOf('record-deployment'),
      'rollback-prepare': this.steps.functionOf('rollback-prepare'),
      'rollback-apply': this.steps.functionOf('rollback-apply'),
      'rollback-finish': this.steps.functionOf('rollback-finish'),
      'escalation-notify': this.steps.functionOf('escalation-notify'),
      'escalation-wait': this.steps.functionOf('escalation-wait'),
      ...(env.canary ? { 'canary-round': this.steps.functionOf('canary-round') } : {}),
      ...(env.backup.database !== 'none' ? { backup: this.steps.functionOf('backup') } : {}),
      ...(env.platform === 'argo-rollouts' ? { promote: this.steps.functionOf('promote') } : {}),
    };
    this.rollback = new RollbackWorkflow(this, 'Rollback', {
      environment: env,
      functions,
      logRetention,
      removalPolicy,
    });
    this.deploy = new DeployWorkflow(this, 'Deploy', {
      environment: env,
      functions,
      rollback: this.rollback.workflow.stateMachine,
      rollbackTimeout: this.rollback.timeout,
      logRetention,
      removalPolicy,
    });

    // An execution that ends without recording its outcome must not leave the lock held or its
    // record in progress (a Lambda timeout, the execution timeout, StopExecution): the janitor cleans up.
    const janitor = this.steps.step('execution-ended');
    if (!janitor.deadLetterQueue) throw new Error('the execution-ended step has no dead-letter queue');
    this.executionEndedRule = new Rule(this, 'ExecutionEnded', {
      description: `Deployment Guardian (${env.name}): clean up after Deploy and Rollback executions that end unrecorded`,
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          stateMachineArn: [
            this.deploy.workflow.stateMachine.stateMachineArn,
            this.rollback.workflow.stateMachine.stateMachineArn,
          ],
          status: ['FAILED', 'TIMED_OUT', 'ABORTED'],
        },
      },
    });
    this.executionEndedRule.addTarget(
      new LambdaFunction(janitor.function, {
        retryAttempts: EXECUTION_ENDED_DELIVERY.retryAttempts,
        maxEventAge: EXECUTION_ENDED_DELIVERY.maxEventAge,
        deadLetterQueue: janitor.deadLetterQueue,
      }),
    );

    for (const workflow of [this.deploy.workflow, this.rollback.workflow]) {
      for (const alarm of Object.values(workflow.alarms)) this.alarmTopic.notify(alarm);
    }
    this.executionEndedDeadLetterAlarm = new DeadLetterAlarm(this, 'ExecutionEndedDeadLettersAlarm', {
      queue: janitor.deadLetterQueue,
      alarmName: `guardian-${env.name}-execution-ended-dead-letters`,
      description:
        `Deployment Guardian (${env.name}): ended Deploy/Rollback executions the execution-ended janitor ` +
        'could not clean up wait in its dead-letter queue; their lock may still be held and their record ' +
        `in progress. Read the messages, check \`guardian status --env ${env.name}\`, release a stale lock ` +
        `with \`guardian lock --env ${env.name} --release --holder ID\`, then purge the queue.`,
    });
    this.alarmTopic.notify(this.executionEndedDeadLetterAlarm);
    new CfnOutput(this, ALARM_TOPIC_OUTPUT, {
      value: this.alarmTopic.topic.topicArn,
      description: `SNS topic the guardian's alarms notify (${env.name}); subscribe operators here or in config/environments.yaml`,
    });

    // The runbook's alerts and rollback criteria; the alarm handler reacts to their state changes.
    this.workloadAlarms = new GuardianAlarms(this, 'WorkloadAlarms', {
      environment: env.name,
      service: env.service,
      thresholds: env.thresholds,
      alarms: env.alarms,
    });
    new CfnOutput(this, DEGRADED_ALARM_OUTPUTS.name, {
      value: this.workloadAlarms.degradedAlarmName,
      description: `Composite alarm that is in ALARM while ${env.name} is degraded; preflight refuses deployments then`,
    });
    new CfnOutput(this, DEGRADED_ALARM_OUTPUTS.arn, { value: this.workloadAlarms.degradedAlarmArn });

    // --- Alarm handler and Escalation (issue 8) ---
    // One execution per incident. The alarm handler starts it (and Rollback) by the ARN it builds
    // from the state machine's name (lambdas/ports/table.ts `workflows`), not from a token of this
    // construct, so the functions do not depend on the state machines that invoke them.
    this.escalation = new EscalationWorkflow(this, 'Escalation', {
      environment: env,
      functions,
      logRetention,
      removalPolicy,
    });
    for (const alarm of Object.values(this.escalation.workflow.alarms)) this.alarmTopic.notify(alarm);

    const alarmHandler = this.steps.step('alarm-handler');
    if (!alarmHandler.deadLetterQueue) throw new Error('the alarm-handler step has no dead-letter queue');
    this.alarmStateChangeRule = new Rule(this, 'AlarmStateChange', {
      description: `Deployment Guardian (${env.name}): hand the environment's CloudWatch alarm state changes to the alarm handler`,
      eventPattern: alarmEventPattern(env),
    });
    this.alarmStateChangeRule.addTarget(
      new LambdaFunction(alarmHandler.function, {
        retryAttempts: ALARM_HANDLER_DELIVERY.retryAttempts,
        maxEventAge: ALARM_HANDLER_DELIVERY.maxEventAge,
        deadLetterQueue: alarmHandler.deadLetterQueue,
      }),
    );
    alarmHandler.function.configureAsyncInvoke({
      retryAttempts: ALARM_HANDLER_ASYNC_INVOKE.retryAttempts,
      maxEventAge: ALARM_HANDLER_ASYNC_INVOKE.maxEventAge,
    });
    this.alarmHandlerDeadLetterAlarm = new DeadLetterAlarm(this, 'AlarmHandlerDeadLettersAlarm', {
      queue: alarmHandler.deadLetterQueue,
      alarmName: `guardian-${env.name}-alarm-handler-dead-letters`,
      description:
        `Deployment Guardian (${env.name}): CloudWatch alarm state changes the alarm handler could not ` +
        'handle (not delivered within an hour, or failing after its retries) wait in its dead-letter queue: ' +
        'they may not have been rolled back, escalated or resolved in full. Read each message (the EventBridge event; ' +
        "the handler's log has why it failed), check the alarm's state now, " +
        `\`guardian status --env ${env.name}\` and \`guardian incidents --env ${env.name}\`, ` +
        'then act by hand, or hand the saved event to the handler again with `guardian alarm replay event.json` ' +
        `(it invokes the function named by the stack output ${ALARM_HANDLER_OUTPUT}), and purge the queue.`,
    });
    this.alarmTopic.notify(this.alarmHandlerDeadLetterAlarm);
    // --- end alarm handler and Escalation ---

    // --- PagerDuty webhook (issue 8): acknowledging in PagerDuty stops the chain ---
    // Only with the signing secret configured (the step has no function otherwise). Auth NONE:
    // PagerDuty cannot sign with SigV4; each delivery is authenticated by its X-PagerDuty-Signature
    // (HMAC of the body with the subscription's secret), checked before anything is read.
    const webhook = this.steps.steps['pagerduty-webhook'];
    if (webhook) {
      this.pagerDutyWebhookUrl = webhook.function.addFunctionUrl({ authType: FunctionUrlAuthType.NONE });
      new CfnOutput(this, PAGERDUTY_WEBHOOK_URL_OUTPUT, {
        value: this.pagerDutyWebhookUrl.url,
        description: `URL of the ${env.name} guardian's PagerDuty v3 webhook subscription (incident.acknowledged, incident.resolved); its signing secret goes into Secrets Manager as ${env.escalation.channels.pagerduty?.webhookSecret}`,
      });
    }
    // --- end PagerDuty webhook ---

    // CI and the `guardian` CLI find the workflows and tables by these outputs.
    const outputs: Record<keyof typeof STACK_OUTPUTS, string> = {
      deployStateMachineArn: this.deploy.workflow.stateMachine.stateMachineArn,
      rollbackStateMachineArn: this.rollback.workflow.stateMachine.stateMachineArn,
      escalationStateMachineArn: this.escalation.workflow.stateMachine.stateMachineArn,
      deploymentsTableName: this.tables.deployments.tableName,
      controlTableName: this.tables.control.tableName,
      // `guardian alarm replay FILE` (in AWS) invokes the deployed handler by this name (a
      // dead-lettered event is handed to it again that way).
      alarmHandlerFunctionName: this.steps.functionOf('alarm-handler').functionName,
    };
    for (const [key, value] of Object.entries(outputs)) {
      new CfnOutput(this, STACK_OUTPUTS[key as keyof typeof STACK_OUTPUTS], { value });
    }
  }
}
