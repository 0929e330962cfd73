/**
 * The alarms port in the synthesized stacks: preflight may read alarm states (DescribeAlarms on
 * `*`, which composite alarms require) and nothing else in CloudWatch; no other step may read
 * them; cdk-nag accepts the wildcard only for the steps with the port.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { STEP_IDS, STEPS, type StepId } from '../../lambdas/steps.ts';
import { buildApp } from '../../lib/app.ts';
import { acknowledgeFindings, nagFindings } from '../../lib/nag.ts';
import { stepFunctionsOfTemplate } from '../../lib/template.ts';
import { synthesized, templateOf } from './fixtures.ts';

type Statement = { Effect: string; Action: string | string[]; Resource: unknown };

/** Every statement of the policies attached to `step`'s execution role. */
function statementsOf(template: Template, step: StepId): Statement[] {
  const [fnId] = Object.entries(stepFunctionsOfTemplate(template)).find(([, s]) => s === step) ?? [];
  if (!fnId) throw new Error(`no function for step ${step}`);
  const roleId = template.toJSON().Resources[fnId].Properties.Role['Fn::GetAtt'][0] as string;
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) =>
      (p.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleId })),
    )
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}

const cloudWatchStatements = (template: Template, step: StepId) =>
  statementsOf(template, step).filter((s) =>
    (Array.isArray(s.Action) ? s.Action : [s.Action]).some((a) => a.startsWith('cloudwatch:')),
  );

const hasAlarmsPort = (step: StepId) => (STEPS[step].ports as readonly string[]).includes('alarms');

describe('alarms port IAM', () => {
  it.each(['staging', 'production'])(
    'lets preflight of %s call cloudwatch:DescribeAlarms and nothing more in CloudWatch',
    (env) => {
      expect(hasAlarmsPort('preflight')).toBe(true);
      expect(cloudWatchStatements(templateOf(env), 'preflight')).toEqual([
        { Effect: 'Allow', Action: 'cloudwatch:DescribeAlarms', Resource: '*' },
      ]);
    },
  );

  it.each(STEP_IDS.filter((s) => !hasAlarmsPort(s) && s !== 'promote'))(
    'gives %s no CloudWatch action',
    (step) => {
      expect(cloudWatchStatements(templateOf('production'), step)).toEqual([]);
    },
  );

  it('gives preflight no alarm variable: it derives the composite alarm name from its environment name', () => {
    const t = templateOf('production');
    const [fnId] = Object.entries(stepFunctionsOfTemplate(t)).find(([, s]) => s === 'preflight') ?? [];
    const vars = t.toJSON().Resources[fnId as string].Properties.Environment?.Variables ?? {};
    expect(Object.keys(vars).filter((k) => /ALARM/i.test(k))).toEqual([]);
    expect(synthesized().app.stacks.production?.workloadAlarms.degradedAlarmName).toBe(
      'guardian-production-Degraded',
    );
  });
});

describe('alarms port cdk-nag', () => {
  it.each(['staging', 'production'])(
    "acknowledges preflight's DescribeAlarms on * in %s with its reason",
    (env) => {
      const stack = synthesized().app.stacks[env];
      if (!stack) throw new Error(`no ${env} stack`);
      expect(nagFindings(stack).filter((f) => f.path.includes('/Steps/Preflight/'))).toEqual([]);
    },
  );

  it('leaves DescribeAlarms on * unacknowledged for a step without the alarms port', () => {
    const { stacks } = buildApp({ config: synthesized().config, bundle: false, nag: false });
    const stack = stacks.staging as NonNullable<typeof stacks.staging>;
    stack.steps
      .functionOf('set-image')
      .addToRolePolicy(new PolicyStatement({ actions: ['cloudwatch:DescribeAlarms'], resources: ['*'] }));
    acknowledgeFindings(stack);
    expect(nagFindings(stack)).toEqual([
      expect.objectContaining({
        rule: 'AwsSolutions-IAM5[Resource::*]',
        path: 'GuardianStaging/Steps/SetImage/Role/DefaultPolicy/Resource',
      }),
    ]);
  });

  it('leaves a wildcard beyond DescribeAlarms on the preflight policy unacknowledged', () => {
    const { stacks } = buildApp({ config: synthesized().config, bundle: false, nag: false });
    const stack = stacks.staging as NonNullable<typeof stacks.staging>;
    stack.steps
      .functionOf('preflight')
      .addToRolePolicy(new PolicyStatement({ actions: ['cloudwatch:SetAlarmState'], resources: ['*'] }));
    acknowledgeFindings(stack);
    expect(nagFindings(stack)).toEqual([
      expect.objectContaining({
        rule: 'AwsSolutions-IAM5[Resource::*]',
        path: 'GuardianStaging/Steps/Preflight/Role/DefaultPolicy/Resource',
      }),
    ]);
  });
});
