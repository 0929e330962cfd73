/**
 * The alarm handler and the Escalation workflow in the synthesized stacks (issue 8): the
 * AlarmStateChange rule's exact pattern, its delivery (retries, age, dead-letter queue), the
 * dead-letter alarm, the state machines the handler starts by name, and the handler's least
 * privilege. Whether the pattern matches real events is proven against EventBridge's matcher in
 * test/integration/alarm-rule-aws.test.ts.
 */
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { DEGRADED_ALARM_ID, guardianAlarmName, METRIC_ALARM_IDS } from '../../lambdas/core/alarm-catalog.ts';
import { ENV_VARS } from '../../lambdas/ports/table.ts';
import type { StepId } from '../../lambdas/steps.ts';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';
import {
  ALARM_EVENT_SOURCE,
  ALARM_STATE_CHANGE,
  alarmEventPattern,
  EVENT_PATTERN_MAX_CHARS,
  watchedAlarmNames,
} from '../../lib/constructs/alarm-event-pattern.ts';
import { lambdaEnvironmentOf, stepFunctionsOfTemplate } from '../../lib/template.ts';
import { synthesized, templateOf } from './fixtures.ts';

type Statement = { Effect: string; Action: string | string[]; Resource: unknown };
type Env = 'staging' | 'production';
const ENVIRONMENTS: readonly Env[] = ['staging', 'production'];

const environmentOf = (env: Env): EnvironmentConfig => {
  const e = synthesized().config.environments[env];
  if (!e) throw new Error(`no ${env} environment`);
  return e;
};

function functionIdOf(t: Template, step: StepId): string {
  const entry = Object.entries(stepFunctionsOfTemplate(t)).find(([, s]) => s === step);
  if (!entry) throw new Error(`no function for step ${step}`);
  return entry[0];
}

/** The logical id of the only resource of `type` matching `props`. */
function idOf(t: Template, type: string, props: Record<string, unknown>): string {
  const ids = Object.keys(t.findResources(type, { Properties: Match.objectLike(props) }));
  expect(ids, `${type} ${JSON.stringify(props)}`).toHaveLength(1);
  return ids[0] as string;
}

const ruleOf = (t: Template) =>
  t.toJSON().Resources[idOf(t, 'AWS::Events::Rule', { EventPattern: { source: [ALARM_EVENT_SOURCE] } })];

/** Every statement of the policies on `step`'s execution role. */
function statementsOf(t: Template, step: StepId): Statement[] {
  const roleId = t.toJSON().Resources[functionIdOf(t, step)].Properties.Role['Fn::GetAtt'][0] as string;
  return Object.values(t.findResources('AWS::IAM::Policy'))
    .filter((p) =>
      (p.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleId })),
    )
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}
const actionsOf = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

/** An ARN as CloudFormation renders it for the stack's region and account. */
const arnJoin = (service: string, rest: string) => ({
  'Fn::Join': [
    '',
    ['arn:', { Ref: 'AWS::Partition' }, `:${service}:ap-southeast-1:`, { Ref: 'AWS::AccountId' }, `:${rest}`],
  ],
});

/** The alarm names a pattern's `alarmName` branch lists. */
const namesIn = (pattern: { detail?: { $or?: { alarmName?: string[] }[] } }): string[] =>
  pattern.detail?.$or?.flatMap((branch) => branch.alarmName ?? []) ?? [];

describe('AlarmStateChange rule', () => {
  it.each(ENVIRONMENTS)(
    'hands %s alarm state changes to the alarm handler by exact name or environment tag',
    (env) => {
      const rule = ruleOf(templateOf(env));
      expect(rule.Properties.State).toBe('ENABLED');
      expect(rule.Properties.EventPattern).toEqual({
        source: ['aws.cloudwatch'],
        'detail-type': ['CloudWatch Alarm State Change'],
        detail: {
          $or: [
            {
              alarmName: [
                `guardian-${env}-HighErrorRate`,
                `guardian-${env}-APIServiceDown`,
                `guardian-${env}-HighLatencyP99`,
                `guardian-${env}-PodsBelowReplicas`,
                `guardian-${env}-NoLogsReceived`,
                `guardian-${env}-Degraded`,
              ],
            },
            { alarmTags: { environment: [env] } },
          ],
        },
      });
    },
  );

  it.each(ENVIRONMENTS)(
    'lists exactly the alarms of %s the stack creates and tags (and no prefix)',
    (env) => {
      const t = templateOf(env);
      const tagged = (r: { [key: string]: { Tags?: { Key: string; Value: string }[] } }) =>
        r.Properties?.Tags?.some((tag) => tag.Key === 'environment' && tag.Value === env) ?? false;
      const created = [
        ...Object.values(t.findResources('AWS::CloudWatch::Alarm')),
        ...Object.values(t.findResources('AWS::CloudWatch::CompositeAlarm')),
      ]
        .filter(tagged)
        .map((r) => (r.Properties.AlarmName ?? r.Properties.CompositeAlarmName) as string);
      const listed = namesIn(ruleOf(t).Properties.EventPattern);
      expect([...listed].sort()).toEqual([...created].sort());
      expect(JSON.stringify(ruleOf(t).Properties.EventPattern)).not.toContain('prefix');
    },
  );

  it.each(ENVIRONMENTS)(
    "leaves the guardian's own dead-letter, delivery and workflow alarms of %s out of the rule",
    (env) => {
      const t = templateOf(env);
      const pattern = ruleOf(t).Properties.EventPattern;
      const own = Object.values(t.findResources('AWS::CloudWatch::Alarm'))
        .map((a) => a.Properties)
        // Those without the workload's tags: the alarms about the guardian itself.
        .filter((p) => !(p.Tags ?? []).some((tag: { Key: string }) => tag.Key === 'environment'));
      const names = own.map((p) => p.AlarmName as string);
      expect(names).toContain(`guardian-${env}-alarm-handler-dead-letters`);
      expect(names).toContain(`guardian-${env}-execution-ended-dead-letters`);
      expect(names).toContain(`guardian-${env}-escalation-failed`);
      for (const p of own) {
        expect(namesIn(pattern), p.AlarmName).not.toContain(p.AlarmName);
        // Without tag propagation their events carry no alarmTags, so the tag branch cannot match them.
        expect(p.ActionConfiguration, p.AlarmName).toBeUndefined();
      }
    },
  );

  it('retries delivery for an hour at most, then dead-letters the event in the handler queue', () => {
    const t = templateOf('production');
    const fn = functionIdOf(t, 'alarm-handler');
    const rule = ruleOf(t);
    const queue = t.toJSON().Resources[fn].Properties.DeadLetterConfig.TargetArn;
    expect(queue['Fn::GetAtt'][0]).toMatch(/^StepsAlarmHandlerDeadLetters/);
    expect(rule.Properties.Targets).toEqual([
      {
        Id: 'Target0',
        Arn: { 'Fn::GetAtt': [fn, 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 12, MaximumEventAgeInSeconds: 3600 },
        DeadLetterConfig: { Arn: queue },
      },
    ]);
    const ruleId = idOf(t, 'AWS::Events::Rule', { EventPattern: { source: ['aws.cloudwatch'] } });
    t.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [fn, 'Arn'] },
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
    });
    // EventBridge may write to the queue; the handler's role may too (Lambda's own failures).
    t.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queue['Fn::GetAtt'][0] }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow',
            Action: 'sqs:SendMessage',
            Principal: { Service: 'events.amazonaws.com' },
          }),
        ]),
      },
    });
  });

  it("bounds Lambda's own retries of a failing invocation to two and an hour, not six", () => {
    const t = templateOf('staging');
    t.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: functionIdOf(t, 'alarm-handler') },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 3600,
    });
    t.resourceCountIs('AWS::Lambda::EventInvokeConfig', 1);
  });

  it.each(ENVIRONMENTS)("alarms on the first event in the %s alarm handler's dead-letter queue", (env) => {
    const t = templateOf(env);
    const topic = { Ref: Object.keys(t.findResources('AWS::SNS::Topic'))[0] };
    const queue =
      t.toJSON().Resources[functionIdOf(t, 'alarm-handler')].Properties.DeadLetterConfig.TargetArn;
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: `guardian-${env}-alarm-handler-dead-letters`,
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queue['Fn::GetAtt'][0], 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 60,
      EvaluationPeriods: 1,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [topic],
      OKActions: [topic],
    });
    const alarm = Object.values(t.findResources('AWS::CloudWatch::Alarm')).find(
      (a) => a.Properties.AlarmName === `guardian-${env}-alarm-handler-dead-letters`,
    );
    const description = String(alarm?.Properties.AlarmDescription);
    // CloudWatch's limit on an alarm description.
    expect(description.length).toBeLessThanOrEqual(1024);
    expect(description).toContain(`guardian incidents --env ${env}`);
    expect(description).toContain('AlarmHandlerFunctionName');
    t.hasOutput('AlarmHandlerFunctionName', { Value: { Ref: functionIdOf(t, 'alarm-handler') } });
  });
});

describe('Escalation workflow in the stack', () => {
  it.each(ENVIRONMENTS)('is guardian-%s-escalation, output for the CLI, alarms to the topic', (env) => {
    const t = templateOf(env);
    const sm = idOf(t, 'AWS::StepFunctions::StateMachine', {
      StateMachineName: `guardian-${env}-escalation`,
    });
    expect(sm).toMatch(/^EscalationWorkflowStateMachine/);
    t.hasOutput('EscalationStateMachineArn', { Value: { Ref: sm } });
    const topic = { Ref: Object.keys(t.findResources('AWS::SNS::Topic'))[0] };
    for (const kind of ['failed', 'throttled', 'aborted', 'timedout']) {
      t.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `guardian-${env}-escalation-${kind}`,
        AlarmActions: [topic],
        OKActions: [topic],
      });
    }
  });

  it.each(ENVIRONMENTS)(
    'gives the %s alarm handler the ARNs of the state machines by the names they are created with',
    (env) => {
      const t = templateOf(env);
      const vars = lambdaEnvironmentOf(t, functionIdOf(t, 'alarm-handler'));
      const names = Object.values(t.findResources('AWS::StepFunctions::StateMachine')).map(
        (r) => r.Properties.StateMachineName,
      );
      expect(names).toContain(`guardian-${env}-rollback`);
      expect(names).toContain(`guardian-${env}-escalation`);
      // Built from the name, not a Ref: no dependency of the function on the state machines.
      expect(
        t.toJSON().Resources[functionIdOf(t, 'alarm-handler')].Properties.Environment.Variables,
      ).toMatchObject({
        [ENV_VARS.rollbackStateMachine]: arnJoin('states', `stateMachine:guardian-${env}-rollback`),
        [ENV_VARS.escalationStateMachine]: arnJoin('states', `stateMachine:guardian-${env}-escalation`),
      });
      expect(Object.keys(vars)).toEqual(
        expect.arrayContaining([ENV_VARS.rollbackStateMachine, ENV_VARS.escalationStateMachine]),
      );
    },
  );

  it('keeps every state machine out of the alarm handler function and its policy (no dependency cycle)', () => {
    const t = templateOf('production');
    const machines = Object.keys(t.findResources('AWS::StepFunctions::StateMachine'));
    const fnId = functionIdOf(t, 'alarm-handler');
    const fn = t.toJSON().Resources[fnId];
    const roleId = fn.Properties.Role['Fn::GetAtt'][0] as string;
    const policies = Object.values(t.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.Roles).includes(roleId),
    );
    for (const id of machines) {
      expect(JSON.stringify(fn), id).not.toContain(id);
      expect(JSON.stringify(policies), id).not.toContain(id);
    }
  });
});

describe('alarm handler IAM', () => {
  it.each(ENVIRONMENTS)(
    'lets the %s alarm handler start only its Rollback and Escalation, read only its secrets, publish only to its topic',
    (env) => {
      const t = templateOf(env);
      const queue =
        t.toJSON().Resources[functionIdOf(t, 'alarm-handler')].Properties.DeadLetterConfig.TargetArn;
      const topicId = Object.keys(t.findResources('AWS::SNS::Topic'))[0];
      const keyId = Object.keys(t.findResources('AWS::KMS::Key'))[0];
      // Everything but the store (guardian-stack.test.ts pins its DynamoDB actions), logs and X-Ray.
      const other = statementsOf(t, 'alarm-handler').filter(
        (s) =>
          !actionsOf(s).every((a) => /^(dynamodb|logs):/.test(a)) && !actionsOf(s)[0]?.startsWith('xray:'),
      );
      expect(other).toEqual([
        // Lambda sends a failed invocation's event to the dead-letter queue with the function's role.
        { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: queue },
        {
          Effect: 'Allow',
          Action: 'states:StartExecution',
          Resource: [
            arnJoin('states', `stateMachine:guardian-${env}-rollback`),
            arnJoin('states', `stateMachine:guardian-${env}-escalation`),
          ],
        },
        { Effect: 'Allow', Action: ['states:SendTaskFailure', 'states:SendTaskSuccess'], Resource: '*' },
        {
          Effect: 'Allow',
          Action: 'secretsmanager:GetSecretValue',
          Resource: [
            arnJoin('secretsmanager', `secret:guardian/${env}/pagerduty-routing-key-??????`),
            arnJoin('secretsmanager', `secret:guardian/${env}/slack-webhook-??????`),
          ],
        },
        { Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: topicId } },
        {
          Effect: 'Allow',
          Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
          Resource: { 'Fn::GetAtt': [keyId, 'Arn'] },
        },
      ]);
    },
  );

  it('grants nothing on every resource but task tokens and X-Ray', () => {
    const wildcard = statementsOf(templateOf('production'), 'alarm-handler')
      .filter((s) => s.Resource === '*')
      .flatMap(actionsOf)
      .sort();
    expect(wildcard).toEqual([
      'states:SendTaskFailure',
      'states:SendTaskSuccess',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ]);
  });
});

describe('alarm event pattern', () => {
  const alarms = (existing: EnvironmentConfig['alarms']['existing']) => ({
    ...environmentOf('staging').alarms,
    existing,
  });

  it('names the existing alarms and drops the guardian alarm one of them replaces', () => {
    const names = watchedAlarmNames({
      name: 'staging',
      alarms: alarms([
        { name: 'team-api-5xx', severity: 'critical', replaces: 'HighErrorRate' },
        { name: 'team-api-queue-depth', severity: 'warning' },
      ]),
    });
    expect(names).toEqual([
      ...METRIC_ALARM_IDS.filter((id) => id !== 'HighErrorRate').map((id) =>
        guardianAlarmName('staging', id),
      ),
      guardianAlarmName('staging', DEGRADED_ALARM_ID),
      'team-api-5xx',
      'team-api-queue-depth',
    ]);
  });

  it("lists no alarm of prod-eu for an environment named prod (exact names, not a 'guardian-prod-' prefix)", () => {
    const prod = alarmEventPattern({ name: 'prod', alarms: alarms([]) });
    const listed = namesIn(prod as never);
    expect(listed).toEqual(watchedAlarmNames({ name: 'prod', alarms: alarms([]) }));
    for (const name of watchedAlarmNames({ name: 'prod-eu', alarms: alarms([]) })) {
      expect(name.startsWith('guardian-prod-')).toBe(true);
      expect(listed).not.toContain(name);
    }
    expect(JSON.stringify(prod)).not.toMatch(/prefix|wildcard/);
    expect(prod.source).toEqual([ALARM_EVENT_SOURCE]);
    expect(prod.detailType).toEqual([ALARM_STATE_CHANGE]);
  });

  it("refuses a pattern larger than EventBridge's default quota, saying how to shrink it", () => {
    const many = Array.from({ length: 40 }, (_, i) => ({
      name: `team-api-alarm-with-a-rather-long-descriptive-name-${i}`,
      severity: 'warning' as const,
    }));
    expect(() => alarmEventPattern({ name: 'staging', alarms: alarms(many) })).toThrow(
      new RegExp(`more than EventBridge's default quota of ${EVENT_PATTERN_MAX_CHARS}.*environment=staging`),
    );
    expect(() => alarmEventPattern({ name: 'staging', alarms: alarms(many.slice(0, 10)) })).not.toThrow();
  });
});
