/**
 * The PagerDuty webhook in the stack (issue 8): a Function URL exists only when the environment
 * names the webhook subscription's signing secret, its function may read that secret and no other,
 * and cdk-nag has nothing unexplained about a URL without IAM auth.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { STEPS } from '../../lambdas/steps.ts';
import { buildApp } from '../../lib/app.ts';
import type { GuardianConfig } from '../../lib/config/schema.ts';
import { nagFindings } from '../../lib/nag.ts';
import { PAGERDUTY_WEBHOOK_URL_OUTPUT } from '../../lib/stacks/guardian-stack.ts';
import { stepFunctionsOfTemplate } from '../../lib/template.ts';
import { synthesized, templateOf } from './fixtures.ts';

type Statement = { Effect: string; Action: string | string[]; Resource: unknown };

const { config } = synthesized();
const staging = templateOf('staging');

/** The repository's config with staging's webhook secret removed. */
function withoutWebhookSecret(): GuardianConfig {
  const copy = structuredClone(config);
  const pagerduty = copy.environments.staging?.escalation.channels.pagerduty;
  if (!pagerduty?.webhookSecret) throw new Error('config/environments.yaml: staging has no webhookSecret');
  delete (pagerduty as { webhookSecret?: string }).webhookSecret;
  return copy;
}

function functionIdOf(t: Template, step: string): string | undefined {
  return Object.entries(stepFunctionsOfTemplate(t)).find(([, s]) => s === step)?.[0];
}

function statementsOf(t: Template, step: string): Statement[] {
  const id = functionIdOf(t, step);
  if (!id) throw new Error(`no function for ${step}`);
  const roleId = t.toJSON().Resources[id].Properties.Role['Fn::GetAtt'][0] as string;
  return Object.values(t.findResources('AWS::IAM::Policy'))
    .filter((p) =>
      (p.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleId })),
    )
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}
const actionsOf = (s: Statement[]) => s.flatMap((x) => (Array.isArray(x.Action) ? x.Action : [x.Action]));

/** A secret's ARN by name as the port grants it (`name-??????`), rendered by CloudFormation. */
const secretArn = (name: string) => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':secretsmanager:ap-southeast-1:',
      { Ref: 'AWS::AccountId' },
      `:secret:${name}-??????`,
    ],
  ],
});

describe('PagerDuty webhook stack', () => {
  it('serves the webhook step through a Function URL without IAM auth, and outputs the URL', () => {
    const fnId = functionIdOf(staging, 'pagerduty-webhook');
    expect(fnId).toBeDefined();
    const urls = staging.findResources('AWS::Lambda::Url');
    expect(Object.values(urls)).toHaveLength(1);
    const [url] = Object.values(urls);
    expect(url?.Properties).toMatchObject({
      AuthType: 'NONE',
      TargetFunctionArn: { 'Fn::GetAtt': [fnId, 'Arn'] },
    });
    // Anyone may call it (PagerDuty cannot sign SigV4); the function checks PagerDuty's signature.
    staging.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunctionUrl',
      FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] },
      FunctionUrlAuthType: 'NONE',
      Principal: '*',
    });
    const outputs = staging.findOutputs(PAGERDUTY_WEBHOOK_URL_OUTPUT);
    expect(Object.values(outputs)[0]?.Value).toEqual({
      'Fn::GetAtt': [Object.keys(urls)[0], 'FunctionUrl'],
    });
  });

  it('lets the webhook read the signing secret and no other secret', () => {
    const statements = statementsOf(staging, 'pagerduty-webhook');
    const secretStatements = statements.filter((s) =>
      actionsOf([s]).some((a) => a.startsWith('secretsmanager:')),
    );
    expect(secretStatements).toEqual([
      {
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: secretArn('guardian/staging/pagerduty-webhook-signing-secret'),
      },
    ]);
    expect(actionsOf(statements).filter((a) => /^(sns|kms|cloudwatch|eks):/.test(a))).toEqual([]);
  });

  it('keeps the signing secret from the escalation functions', () => {
    for (const step of ['escalation-notify', 'alarm-handler']) {
      const resources = JSON.stringify(
        statementsOf(staging, step)
          .filter((s) => actionsOf([s]).includes('secretsmanager:GetSecretValue'))
          .map((s) => s.Resource),
      );
      expect(resources, step).toContain('pagerduty-routing-key');
      expect(resources, step).not.toContain('webhook-signing-secret');
    }
  });

  it('gives the webhook no dead-letter queue: PagerDuty invokes it synchronously and retries a 5xx itself', () => {
    expect(STEPS['pagerduty-webhook'].invokedBy).toBe('url');
    const fnId = functionIdOf(staging, 'pagerduty-webhook') as string;
    expect(staging.toJSON().Resources[fnId].Properties.DeadLetterConfig).toBeUndefined();
  });

  it('has no webhook function, URL or output when the environment names no signing secret', () => {
    const { stacks } = buildApp({ config: withoutWebhookSecret(), bundle: false, nag: false });
    const stack = stacks.staging;
    if (!stack) throw new Error('no staging stack');
    const t = Template.fromStack(stack);
    expect(functionIdOf(t, 'pagerduty-webhook')).toBeUndefined();
    t.resourceCountIs('AWS::Lambda::Url', 0);
    expect(t.findOutputs(PAGERDUTY_WEBHOOK_URL_OUTPUT)).toEqual({});
    expect(stack.pagerDutyWebhookUrl).toBeUndefined();
    expect(() => stack.steps.functionOf('pagerduty-webhook')).toThrow(/no pagerduty-webhook step/);
  });

  it('leaves cdk-nag nothing unacknowledged with the public URL in the stack', () => {
    const { stacks } = synthesized().app;
    const stack = stacks.staging;
    if (!stack) throw new Error('no staging stack');
    expect(nagFindings(stack)).toEqual([]);
  });
});
