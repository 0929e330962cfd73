/**
 * cdk-nag (AwsSolutions + Serverless packs) for the guardian's stacks. Findings we accept on
 * purpose are listed in ACCEPTED_FINDINGS with their reason and acknowledged on the construct
 * that raised them; anything else fails synthesis.
 */

import { type App, Stack, Validations } from 'aws-cdk-lib';
import { CfnPolicy } from 'aws-cdk-lib/aws-iam';
import { CfnEventInvokeConfig, CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { CfnSubscription } from 'aws-cdk-lib/aws-sns';
import { CfnQueue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks, type NagPack, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { STEP_IDS, STEPS } from '../lambdas/steps.ts';
import { pascalCase } from './constructs/step-function.ts';

/** A finding the guardian accepts: which rule, on which constructs, and why. */
export interface AcceptedFinding {
  /** Matches the rule id, including a finding suffix such as `[Resource::*]`. */
  readonly rule: RegExp;
  /** Matches the construct path relative to the stack (`Steps/Preflight/Role/DefaultPolicy/Resource`). */
  readonly path: RegExp;
  /** Why the finding is acceptable, recorded with the acknowledgement. */
  readonly reason: string;
  /**
   * Further condition on the construct: the finding is acknowledged only when this returns
   * true, so the reason cannot cover something it does not describe.
   */
  readonly holds?: (construct: IConstruct) => boolean;
}

/** Actions X-Ray active tracing needs; they support no resource-level permissions. */
export const XRAY_ACTIONS: readonly string[] = [
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  'xray:GetSamplingRules',
  'xray:GetSamplingTargets',
];

/** What the alarms port may do on `*`: read alarm states (composite alarms need `*`). */
export const ALARM_READ_ACTIONS: readonly string[] = ['cloudwatch:DescribeAlarms'];

/**
 * What the workflows port may do on `*` (issue 8): end a waiting task by its token, which is all
 * SendTaskSuccess and SendTaskFailure name (lambdas/ports/table.ts `workflows`).
 */
export const TASK_TOKEN_ACTIONS: readonly string[] = ['states:SendTaskFailure', 'states:SendTaskSuccess'];

/** What the metrics port may do on `*` (issue 9): read metric values (GetMetricData has no resource-level permissions). */
export const METRIC_READ_ACTIONS: readonly string[] = ['cloudwatch:GetMetricData'];

/**
 * What the ECS workload adapter may do on `*` (issue 10): task definitions support no
 * resource-level permissions for these; PassRole on `*` is limited to ECS tasks by condition.
 */
export const ECS_TASK_DEFINITION_ACTIONS: readonly string[] = [
  'ecs:DescribeTaskDefinition',
  'ecs:RegisterTaskDefinition',
  'ecs:ListTaskDefinitions',
  'iam:PassRole',
];

/** Actions a state machine needs to deliver its execution logs to CloudWatch Logs. */
export const LOG_DELIVERY_ACTIONS: readonly string[] = [
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
];

type PolicyStatementJson = { Effect?: string; Action?: unknown; NotAction?: unknown; Resource?: unknown };

const asList = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/**
 * Actions of `construct` (an IAM policy) granted on `Resource: "*"` that are not in `allowed`,
 * or `['(not an IAM policy)']` when it is none. NotAction on `*` is never allowed.
 */
export function unexpectedWildcardActions(construct: IConstruct, allowed: readonly string[]): string[] {
  if (!(construct instanceof CfnPolicy)) return ['(not an IAM policy)'];
  const document = Stack.of(construct).resolve(construct.policyDocument) as { Statement?: unknown };
  const unexpected: string[] = [];
  for (const statement of asList(document.Statement) as PolicyStatementJson[]) {
    if (!asList(statement.Resource).includes('*')) continue;
    if (statement.NotAction !== undefined) unexpected.push('(NotAction)');
    for (const action of asList(statement.Action)) {
      if (typeof action !== 'string' || !allowed.includes(action)) unexpected.push(String(action));
    }
  }
  return unexpected;
}

/** True when every `Resource: "*"` statement of the policy grants only `allowed` actions. */
const onlyOnWildcard =
  (allowed: readonly string[]) =>
  (construct: IConstruct): boolean =>
    unexpectedWildcardActions(construct, allowed).length === 0;

const STEP_POLICY = /^Steps\/[A-Za-z]+\/Role\/DefaultPolicy\/Resource$/;
/** Policies of the steps with the alarms port (the only ones that may read alarms on `*`). */
const ALARMS_STEP_POLICY = new RegExp(
  `^Steps/(${STEP_IDS.filter((s) => (STEPS[s].ports as readonly string[]).includes('alarms'))
    .map(pascalCase)
    .join('|')})/Role/DefaultPolicy/Resource$`,
);
/** Policies of the steps with the workflows port (the only ones that may end waiting tasks, on `*`). */
const WORKFLOWS_STEP_POLICY = new RegExp(
  `^Steps/(${STEP_IDS.filter((s) => (STEPS[s].ports as readonly string[]).includes('workflows'))
    .map(pascalCase)
    .join('|')})/Role/DefaultPolicy/Resource$`,
);
/** Whether the step whose role policy `construct` is has `port` (false for any other construct). */
function policyStepHasPort(construct: IConstruct, port: string): boolean {
  const pascal = /\/Steps\/([A-Za-z]+)\/Role\//.exec(construct.node.path)?.[1];
  const step = STEP_IDS.find((s) => pascalCase(s) === pascal);
  return step !== undefined && (STEPS[step].ports as readonly string[]).includes(port);
}

/** Policies of the steps with the metrics port (the only ones that may read metric values, on `*`). */
const METRICS_STEP_POLICY = new RegExp(
  `^Steps/(${STEP_IDS.filter((s) => (STEPS[s].ports as readonly string[]).includes('measurements'))
    .map(pascalCase)
    .join('|')})/Role/DefaultPolicy/Resource$`,
);
/** Policies of the steps with the snapshots port (issue 10: the backup step). */
const SNAPSHOTS_STEP_POLICY = new RegExp(
  `^Steps/(${STEP_IDS.filter((s) => (STEPS[s].ports as readonly string[]).includes('snapshots'))
    .map(pascalCase)
    .join('|')})/Role/DefaultPolicy/Resource$`,
);
/** Policies of the steps with the workload port (issue 10: on ECS, task definitions and PassRole). */
const WORKLOAD_STEP_POLICY = new RegExp(
  `^Steps/(${STEP_IDS.filter((s) => (STEPS[s].ports as readonly string[]).includes('workload'))
    .map(pascalCase)
    .join('|')})/Role/DefaultPolicy/Resource$`,
);
const WORKFLOW_POLICY =
  /^(Deploy|Rollback|Escalation)\/Workflow\/StateMachine\/Role\/DefaultPolicy\/Resource$/;
const STEP_FUNCTION = /^Steps\/[A-Za-z]+\/Function\/Resource$/;
const STEP_ASYNC_INVOKE_CONFIG = /^Steps\/[A-Za-z]+\/Function\/EventInvokeConfig\/Resource$/;
const STEP_DEAD_LETTERS = /^Steps\/[A-Za-z]+\/DeadLetters\/Resource$/;
const ALARM_TOPIC_DEAD_LETTERS = /^AlarmTopic\/DeliveryDeadLetters\/Resource$/;

/** True when the construct is an SQS queue that some construct `deadLetterTargetOf` points at. */
function isDeadLetterQueueOf(construct: IConstruct, deadLetterTargetOf: (c: IConstruct) => unknown): boolean {
  if (!(construct instanceof CfnQueue)) return false;
  const stack = Stack.of(construct);
  const arn = JSON.stringify(stack.resolve(construct.attrArn));
  return stack.node.findAll().some((c) => {
    const target = deadLetterTargetOf(c);
    return target !== undefined && JSON.stringify(stack.resolve(target)) === arn;
  });
}

/** True when the construct is an SQS queue some Lambda function uses as its dead-letter queue. */
function isLambdaDeadLetterQueue(construct: IConstruct): boolean {
  return isDeadLetterQueueOf(construct, (c) =>
    c instanceof CfnFunction
      ? (c.deadLetterConfig as { targetArn?: unknown } | undefined)?.targetArn
      : undefined,
  );
}

/** True when the construct is the asynchronous invoke config of a function that has a dead-letter queue. */
function isInvokeConfigOfFunctionWithDeadLetters(construct: IConstruct): boolean {
  if (!(construct instanceof CfnEventInvokeConfig)) return false;
  // CfnEventInvokeConfig <- EventInvokeConfig <- the function, whose default child is its CfnFunction.
  const fn = construct.node.scope?.node.scope?.node.defaultChild;
  return fn instanceof CfnFunction && fn.deadLetterConfig !== undefined;
}

/** True when the construct is an SQS queue some SNS subscription redrives undelivered messages to. */
function isSubscriptionDeadLetterQueue(construct: IConstruct): boolean {
  return isDeadLetterQueueOf(construct, (c) =>
    c instanceof CfnSubscription
      ? (c.redrivePolicy as { deadLetterTargetArn?: unknown } | undefined)?.deadLetterTargetArn
      : undefined,
  );
}

/** Every finding the guardian accepts, with its reason. */
export const ACCEPTED_FINDINGS: readonly AcceptedFinding[] = [
  {
    rule: /^AwsSolutions-IAM5\[Resource::\*\]$/,
    path: STEP_POLICY,
    reason:
      'xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing) support no resource-level permissions.',
    holds: onlyOnWildcard(XRAY_ACTIONS),
  },
  // Alarms port (issue 8): preflight reads the composite alarm's state.
  {
    rule: /^AwsSolutions-IAM5\[Resource::\*\]$/,
    path: ALARMS_STEP_POLICY,
    reason:
      'cloudwatch:DescribeAlarms returns composite alarms only to a caller granted it on * (CloudWatch API reference, DescribeAlarms); preflight reads the state of the environment composite alarm with it, and it changes nothing. X-Ray tracing actions support no resource-level permissions.',
    holds: onlyOnWildcard([...XRAY_ACTIONS, ...ALARM_READ_ACTIONS]),
  },
  // Workflows port (issue 8): the alarm handler ends the task a deployment or an escalation waits on.
  {
    rule: /^AwsSolutions-IAM5\[Resource::\*\]$/,
    path: WORKFLOWS_STEP_POLICY,
    reason:
      "states:SendTaskFailure and states:SendTaskSuccess name no resource in the request, only a callback task's token, which is the capability: the alarm handler reads tokens only from this environment's own records (the deployment's signal, the incident's escalation). StartExecution stays scoped to this environment's Rollback and Escalation state machines. X-Ray tracing actions support no resource-level permissions.",
    holds: onlyOnWildcard([...XRAY_ACTIONS, ...TASK_TOKEN_ACTIONS]),
  },
  // Metrics port (issue 9): canary analysis and monitoring read CloudWatch metrics.
  {
    rule: /^AwsSolutions-IAM5\[Resource::\*\]$/,
    path: METRICS_STEP_POLICY,
    reason:
      'cloudwatch:GetMetricData supports no resource-level permissions (Service Authorization Reference: no resource type, no condition keys), so it can only be granted on *; it reads metric values and changes nothing. X-Ray tracing actions support no resource-level permissions.',
    // A step may hold the alarms or workflows port as well (preflight reads a metrics baseline and
    // the composite alarm): their own `*` actions, with their reasons above, are allowed beside.
    holds: (construct) =>
      onlyOnWildcard([
        ...XRAY_ACTIONS,
        ...METRIC_READ_ACTIONS,
        ...(policyStepHasPort(construct, 'alarms') ? ALARM_READ_ACTIONS : []),
        ...(policyStepHasPort(construct, 'workflows') ? TASK_TOKEN_ACTIONS : []),
      ])(construct),
  },
  // Snapshots port (issue 10): the backup step's snapshots are named guardian-<env>-<version>-<time>.
  {
    rule: /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:rds:[a-z0-9-]+:<AWS::AccountId>:(cluster-)?snapshot:guardian-([a-z0-9-]+-)?\*\]$/,
    path: SNAPSHOTS_STEP_POLICY,
    reason:
      "The backup step creates, describes and deletes (retention) the snapshots it names: guardian-<environment>-<version>-<time>, so the names are known only by their prefix; the database itself is named exactly. Restoring is an operator's act, never the step's.",
  },
  // ECS workload (issue 10): the environment's service exactly; task definitions by family revision.
  {
    rule: /^AwsSolutions-IAM5\[Resource::\*\]$/,
    path: WORKLOAD_STEP_POLICY,
    reason:
      "ecs:RegisterTaskDefinition, ecs:DescribeTaskDefinition and ecs:ListTaskDefinitions support no resource-level permissions (Service Authorization Reference); iam:PassRole on * is conditioned on iam:PassedToService ecs-tasks.amazonaws.com, so the step can only hand the task definition's own roles to ECS tasks. UpdateService and DescribeServices stay scoped to the environment's service. X-Ray tracing actions support no resource-level permissions.",
    holds: (construct) =>
      onlyOnWildcard([
        ...XRAY_ACTIONS,
        ...ECS_TASK_DEFINITION_ACTIONS,
        ...(policyStepHasPort(construct, 'alarms') ? ALARM_READ_ACTIONS : []),
      ])(construct),
  },
  {
    rule: /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:ecs:[a-z0-9-]+:<AWS::AccountId>:(task-definition\/\*|container-instance\/[A-Za-z0-9_-]+\/\*|task\/[A-Za-z0-9_-]+\/\*)\]$/,
    path: WORKLOAD_STEP_POLICY,
    reason:
      "Task definition revisions the step registers (TagResource), and the tasks of the environment's own cluster (ListTasks, DescribeTasks: a failed deployment's stopped tasks, the running tasks' start times); their ids are not known in advance.",
  },
  {
    rule: /^AwsSolutions-IAM5\[Resource::\*\]$/,
    path: WORKFLOW_POLICY,
    reason:
      'X-Ray tracing and CloudWatch Logs delivery (logs:CreateLogDelivery, logs:DescribeResourcePolicies, ...) for state machines support no resource-level permissions.',
    holds: onlyOnWildcard([...XRAY_ACTIONS, ...LOG_DELIVERY_ACTIONS]),
  },
  {
    rule: /^AwsSolutions-IAM5\[Resource::<TablesDeployments[A-Za-z0-9]+\.Arn>\/index\/\*\]$/,
    path: STEP_POLICY,
    reason:
      'History is read through the byStartedAt GSI of the Deployments table; index/* covers only that table.',
  },
  {
    rule: /^AwsSolutions-IAM5\[Resource::<Steps[A-Za-z]+Function[A-F0-9]+\.Arn>:\*\]$/,
    path: WORKFLOW_POLICY,
    reason:
      "lambda:InvokeFunction on the step's own function and its versions/aliases (ARN:*), as granted by the LambdaInvoke task.",
  },
  {
    rule: /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:states:[a-z0-9-]+:(<AWS::AccountId>|\d{12}):execution:.*RollbackWorkflowStateMachine[A-F0-9]+.*\*\]$/,
    path: /^Deploy\/Workflow\/StateMachine\/Role\/DefaultPolicy\/Resource$/,
    reason:
      'startExecution.sync polls and stops the child executions of the Rollback state machine only; execution names are not known in advance.',
  },
  {
    rule: /^(AwsSolutions-L1|Serverless-LambdaLatestVersion)$/,
    path: STEP_FUNCTION,
    reason:
      'Node.js 22 is the runtime the guardian is built and tested for (product requirement); moving is a deliberate upgrade.',
  },
  {
    rule: /^Serverless-LambdaDLQ$/,
    path: STEP_FUNCTION,
    reason:
      'Steps are invoked synchronously by Step Functions, whose Retry/Catch handle failures (the PagerDuty webhook by its Function URL: PagerDuty retries a 5xx); a DLQ only applies to asynchronous invocations.',
    holds: (construct) => !(construct instanceof CfnFunction) || construct.deadLetterConfig === undefined,
  },
  {
    rule: /^Serverless-LambdaAsyncFailureDestination$/,
    path: STEP_ASYNC_INVOKE_CONFIG,
    reason:
      "The invoke config only bounds Lambda's asynchronous retries and event age; failed and expired events already go to the function's dead-letter queue (DeadLetterConfig, alarmed). An on-failure destination as well would deliver each failure twice.",
    holds: isInvokeConfigOfFunctionWithDeadLetters,
  },
  {
    rule: /^Serverless-SQSRedrivePolicy$/,
    path: STEP_DEAD_LETTERS,
    reason:
      'This queue is itself the dead-letter queue of an EventBridge-invoked step (and of its rule target): an event that lands here waits for an operator, there is nowhere further to redrive it.',
    holds: isLambdaDeadLetterQueue,
  },
  {
    rule: /^(AwsSolutions-SQS3|Serverless-SQSRedrivePolicy)$/,
    path: ALARM_TOPIC_DEAD_LETTERS,
    reason:
      "This queue is itself the dead-letter queue of the alarm topic's subscriptions: a notification SNS could not deliver waits here for an operator (its own alarm notifies the topic); there is nowhere further to redrive it.",
    holds: isSubscriptionDeadLetterQueue,
  },
];

/** The rule packs the guardian is held to. */
export function nagPacks(): NagPack[] {
  return [new AwsSolutionsChecks(), new ServerlessChecks()];
}

/** One finding of a rule pack. */
export interface NagFinding {
  /** Rule id, with the finding suffix if any (`AwsSolutions-IAM5[Resource::*]`). */
  readonly rule: string;
  /** `error` or `warning`. */
  readonly severity: string;
  /** Construct path of the resource. */
  readonly path: string;
  /** What the rule checks. */
  readonly description: string;
}

/** Runs the packs over `scope` and returns every finding that is not acknowledged. */
export function nagFindings(scope: IConstruct): NagFinding[] {
  const findings: NagFinding[] = [];
  for (const pack of nagPacks()) {
    for (const v of pack.validateScope(scope).violations) {
      for (const r of v.violatingResources) {
        findings.push({
          rule: v.ruleName,
          severity: v.severity ?? 'error',
          path: r.constructPath ?? '(unknown)',
          description: v.description,
        });
      }
    }
  }
  return findings;
}

/** Acknowledges each finding of `stack` that ACCEPTED_FINDINGS covers, on the construct that raised it. */
export function acknowledgeFindings(stack: Stack): void {
  const prefix = `${stack.node.path}/`;
  const byPath = new Map(stack.node.findAll().map((c) => [c.node.path, c] as const));
  for (const finding of nagFindings(stack)) {
    const relative = finding.path.startsWith(prefix) ? finding.path.slice(prefix.length) : finding.path;
    const candidates = ACCEPTED_FINDINGS.filter((a) => a.rule.test(finding.rule) && a.path.test(relative));
    if (candidates.length === 0) continue;
    const construct = byPath.get(finding.path);
    if (!construct)
      throw new Error(`cdk-nag: cannot find construct ${finding.path} to acknowledge ${finding.rule}`);
    // Left unacknowledged when its condition fails, so the finding fails synthesis.
    const accepted = candidates.find((a) => a.holds?.(construct) ?? true);
    if (!accepted) continue;
    Validations.of(construct).acknowledge({ id: finding.rule, reason: accepted.reason });
  }
}

/** Acknowledges the accepted findings of each stack and registers the packs on `app`. */
export function applyNag(app: App, stacks: readonly Stack[]): void {
  for (const stack of stacks) acknowledgeFindings(stack);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
}
