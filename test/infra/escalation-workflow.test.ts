/**
 * The Escalation workflow in the production stack (GuardianStack's `Escalation`): its ASL, the
 * least privilege of the escalation steps, and cdk-nag.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { STEP_IDS, STEPS, type StepId } from '../../lambdas/steps.ts';
import { escalationTimeoutOf } from '../../lib/constructs/escalation-workflow.ts';
import { nagFindings } from '../../lib/nag.ts';
import {
  type AslDefinition,
  type AslState,
  stateMachineDefinitions,
  stepFunctionsOfTemplate,
} from '../../lib/template.ts';
import { aslValidator, synthesized, templateOf } from './fixtures.ts';

type Statement = { Effect: string; Action: string | string[]; Resource: unknown };

/** The production stack (nag applied), its environment and its template. */
function build() {
  const { config, app } = synthesized();
  const stack = app.stacks.production;
  const env = config.environments.production;
  if (!stack || !env) throw new Error('no production stack');
  return { stack, escalation: stack.escalation, env, template: templateOf('production') };
}
const built = build();
const t: Template = built.template;
/** Whether the step table gives `step` the `port`. */
const hasPort = (step: StepId, port: string): boolean =>
  (STEPS[step].ports as readonly string[]).includes(port);

const definition: AslDefinition = (() => {
  const found = Object.values(stateMachineDefinitions(t)).find(
    (m) => m.name === 'guardian-production-escalation',
  );
  if (!found) throw new Error('no escalation state machine');
  return found.definition;
})();
const state = (name: string): AslState => {
  const s = definition.States[name];
  if (!s) throw new Error(`no state '${name}'`);
  return s;
};

function statementsOf(step: StepId): Statement[] {
  const entry = Object.entries(stepFunctionsOfTemplate(t)).find(([, s]) => s === step);
  if (!entry) throw new Error(`no function for ${step}`);
  const roleId = t.toJSON().Resources[entry[0]].Properties.Role['Fn::GetAtt'][0] as string;
  return Object.values(t.findResources('AWS::IAM::Policy'))
    .filter((p) =>
      (p.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleId })),
    )
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}
const actionsOf = (s: Statement[]) => s.flatMap((x) => (Array.isArray(x.Action) ? x.Action : [x.Action]));
const withAction = (s: Statement[], prefix: string) =>
  s.filter((x) => actionsOf([x]).some((a) => a.startsWith(prefix)));

/** An ARN as CloudFormation renders it: `arn:${Partition}:service:${Region}:${Account}:rest`. */
const arnJoin = (service: string, rest: string) => ({
  'Fn::Join': [
    '',
    ['arn:', { Ref: 'AWS::Partition' }, `:${service}:ap-southeast-1:`, { Ref: 'AWS::AccountId' }, `:${rest}`],
  ],
});

describe('Escalation workflow', () => {
  it('is valid ASL, JSONPath only', () => {
    const result = aslValidator(definition, { checkPaths: true, checkArn: true });
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
    expect(JSON.stringify(definition)).not.toContain('JSONata');
  });

  it('pages a level, then waits for the acknowledgement until the next level is due', () => {
    expect(definition.StartAt).toBe('Start escalation');
    expect(Object.keys(definition.States).sort()).toEqual(
      [
        'Announce closure',
        'Escalation ended',
        'Last level?',
        'Next level',
        'Page level',
        'Start escalation',
        'Still open?',
        'Wait for acknowledgement',
      ].sort(),
    );
    expect(state('Start escalation')).toMatchObject({
      Type: 'Pass',
      Parameters: { 'incidentId.$': '$.incidentId', level: 0 },
      Next: 'Page level',
    });
    // payloadResponseOnly: the function ARN as Resource, the payload as Parameters.
    expect(state('Page level')).toMatchObject({
      Type: 'Task',
      Resource: expect.stringMatching(/:function:StepsEscalationNotifyFunction/),
      Parameters: {
        action: 'page',
        'incidentId.$': '$.incidentId',
        'level.$': '$.level',
        'execution.$': '$$.Execution',
      },
      ResultPath: '$.page',
      Next: 'Still open?',
    });
    expect(state('Still open?')).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.page.open', BooleanEquals: true, Next: 'Wait for acknowledgement' }],
      Default: 'Announce closure',
    });
  });

  it('waits with a task token parked by escalation-wait, timing out when the next level is due', () => {
    const wait = state('Wait for acknowledgement');
    expect(wait).toMatchObject({
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      Parameters: {
        Payload: { 'incidentId.$': '$.incidentId', 'level.$': '$.level', 'taskToken.$': '$$.Task.Token' },
      },
      TimeoutSecondsPath: '$.page.waitSeconds',
      ResultPath: '$.ack',
      Next: 'Announce closure',
    });
    expect(wait).not.toHaveProperty('TimeoutSeconds');
    // The local executor reads TimeoutSecondsPath from the raw input: no InputPath beside Parameters.
    expect(wait).not.toHaveProperty('InputPath');
    expect(wait.Catch).toEqual([
      { ErrorEquals: ['States.Timeout'], ResultPath: '$.timeout', Next: 'Last level?' },
      { ErrorEquals: ['IncidentClosedError'], ResultPath: '$.closed', Next: 'Announce closure' },
    ]);
    expect((wait.Retry as { ErrorEquals: string[] }[]).map((r) => r.ErrorEquals)).toContainEqual([
      'TransientError',
    ]);
  });

  it('pages the next level on timeout and announces the end after the last one', () => {
    expect(state('Last level?')).toMatchObject({
      Choices: [{ Variable: '$.page.last', BooleanEquals: true, Next: 'Announce closure' }],
      Default: 'Next level',
    });
    // The state is replaced, not grown, at every level.
    expect(state('Next level')).toMatchObject({
      Type: 'Pass',
      Parameters: { 'incidentId.$': '$.incidentId', 'level.$': '$.page.nextLevel' },
      Next: 'Page level',
    });
    expect(state('Announce closure')).toMatchObject({
      Resource: expect.stringMatching(/:function:StepsEscalationNotifyFunction/),
      Parameters: { action: 'close', 'incidentId.$': '$.incidentId', 'execution.$': '$$.Execution' },
      Next: 'Escalation ended',
    });
    expect(state('Escalation ended').Type).toBe('Succeed');
  });

  it('outlives the longest wait: a week of maxOpenHours or a next-business-day level, plus an hour', () => {
    expect(escalationTimeoutOf(built.env).toSeconds()).toBe(8 * 86_400 + 3600);
    expect(definition.TimeoutSeconds).toBe(8 * 86_400 + 3600);
    const timed = {
      ...built.env.escalation,
      policy: { ...built.env.escalation.policy, P3: [{ contact: 'on-call', afterMinutes: 0 }] },
    };
    expect(escalationTimeoutOf({ escalation: timed }).toSeconds()).toBe(168 * 3600 + 3600);
  });

  it('is a logged, traced Standard state machine that may invoke only the escalation functions', () => {
    t.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: 'guardian-production-escalation',
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
    });
    const smRole = Object.entries(t.findResources('AWS::IAM::Role')).find(([id]) =>
      id.startsWith('EscalationWorkflowStateMachineRole'),
    );
    expect(smRole).toBeDefined();
    const policies = Object.values(t.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.Roles).includes(smRole?.[0] ?? '?'),
    );
    const invoked = policies
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[])
      .filter((s) => actionsOf([s]).includes('lambda:InvokeFunction'))
      .flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]))
      .map((r) => JSON.stringify(r));
    const fnIds = Object.entries(stepFunctionsOfTemplate(t))
      .filter(([, s]) => s === 'escalation-notify' || s === 'escalation-wait')
      .map(([id]) => id);
    expect(invoked.length).toBeGreaterThan(0);
    for (const r of invoked)
      expect(
        fnIds.some((id) => r.includes(id)),
        r,
      ).toBe(true);
  });
});

describe('escalation IAM', () => {
  it('lets escalation-notify read only the two secrets config names', () => {
    const secrets = withAction(statementsOf('escalation-notify'), 'secretsmanager:');
    expect(secrets).toEqual([
      {
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: [
          arnJoin('secretsmanager', 'secret:guardian/production/pagerduty-routing-key-??????'),
          arnJoin('secretsmanager', 'secret:guardian/production/slack-webhook-??????'),
        ],
      },
    ]);
  });

  it('lets escalation-notify publish only to the stack topic, with only its key', () => {
    const statements = statementsOf('escalation-notify');
    const topicId = Object.keys(t.findResources('AWS::SNS::Topic'))[0];
    const keyId = Object.keys(t.findResources('AWS::KMS::Key'))[0];
    expect(withAction(statements, 'sns:')).toEqual([
      { Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: topicId } },
    ]);
    expect(withAction(statements, 'kms:')).toEqual([
      {
        Effect: 'Allow',
        Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
        Resource: { 'Fn::GetAtt': [keyId, 'Arn'] },
      },
    ]);
    const fnId =
      Object.entries(stepFunctionsOfTemplate(t)).find(([, s]) => s === 'escalation-notify')?.[0] ?? '';
    expect(t.toJSON().Resources[fnId].Properties.Environment.Variables.ESCALATION_TOPIC_ARN).toEqual({
      Ref: topicId,
    });
  });

  it('gives escalation-wait the store and nothing of the channels', () => {
    const actions = actionsOf(statementsOf('escalation-wait'));
    expect(actions.filter((a) => /^(secretsmanager|sns|kms):/.test(a))).toEqual([]);
    expect(actions.some((a) => a.startsWith('dynamodb:'))).toBe(true);
  });

  it.each(STEP_IDS.filter((s) => !hasPort(s, 'workflows') && s !== 'promote'))(
    'gives %s no states:SendTask*: only the workflows port (the alarm handler) and whoever acknowledges need it',
    (step) => {
      expect(actionsOf(statementsOf(step)).filter((a) => a.startsWith('states:'))).toEqual([]);
    },
  );

  it('gives no function a secret, channel or topic it does not use', () => {
    const channelSteps = STEP_IDS.filter((s) => hasPort(s, 'secrets') || hasPort(s, 'notifier'));
    expect(channelSteps.sort()).toEqual(['alarm-handler', 'escalation-notify']);
    // The PagerDuty webhook reads its signing secret only (test/infra/pagerduty-webhook-stack.test.ts).
    for (const step of STEP_IDS.filter(
      (s) => !channelSteps.includes(s) && !hasPort(s, 'signingSecret') && s !== 'promote',
    )) {
      expect(
        actionsOf(statementsOf(step)).filter((a) => /^(secretsmanager|sns|kms):/.test(a)),
        step,
      ).toEqual([]);
    }
  });

  it('leaves cdk-nag nothing unacknowledged with the workflow in the stack', () => {
    expect(nagFindings(built.stack)).toEqual([]);
  });
});
