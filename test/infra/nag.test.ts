import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../lib/app.ts';
import { ACCEPTED_FINDINGS, acknowledgeFindings, applyNag, nagFindings } from '../../lib/nag.ts';
import { synthesized } from './fixtures.ts';

describe('cdk-nag', () => {
  it.each(['staging', 'production'])('finds nothing unacknowledged in the %s stack', (env) => {
    const stack = synthesized().app.stacks[env];
    if (!stack) throw new Error(`no ${env} stack`);
    expect(nagFindings(stack)).toEqual([]);
  });

  it('reports findings once the acknowledgements are left out', () => {
    const { stacks } = buildApp({ config: synthesized().config, bundle: false, nag: false });
    const rules = new Set(
      nagFindings(stacks.staging as NonNullable<typeof stacks.staging>).map((f) => f.rule),
    );
    expect(rules).toContain('Serverless-LambdaDLQ');
    expect(rules).toContain('AwsSolutions-IAM5[Resource::*]');
    // Fixed rather than acknowledged: no managed policy on any role.
    expect([...rules].filter((r) => r.startsWith('AwsSolutions-IAM4'))).toEqual([]);
  });

  it('fails synthesis when a resource breaks a rule nobody acknowledged', () => {
    const outdir = mkdtempSync(path.join(tmpdir(), 'guardian-nag-'));
    const { app, stacks } = buildApp({ config: synthesized().config, bundle: false, outdir });
    new Queue(stacks.staging as NonNullable<typeof stacks.staging>, 'Unguarded');
    try {
      expect(() => app.synth()).toThrow(/AwsSolutions-SQS(3|4)/);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  it('fails synthesis when a step policy grants more than X-Ray on every resource', () => {
    const outdir = mkdtempSync(path.join(tmpdir(), 'guardian-nag-'));
    const { app, stacks } = buildApp({ config: synthesized().config, bundle: false, nag: false, outdir });
    const stack = stacks.staging as NonNullable<typeof stacks.staging>;
    stack.steps
      .functionOf('set-image')
      .addToRolePolicy(new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: ['*'] }));
    applyNag(app, [stack]);
    try {
      expect(nagFindings(stack)).toEqual([
        expect.objectContaining({
          rule: 'AwsSolutions-IAM5[Resource::*]',
          path: 'GuardianStaging/Steps/SetImage/Role/DefaultPolicy/Resource',
        }),
      ]);
      expect(() => app.synth()).toThrow(/AwsSolutions-IAM5\[Resource::\*\]/);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  it('leaves a wildcard finding on a state machine policy unacknowledged when it is not X-Ray or log delivery', () => {
    const { stacks } = buildApp({ config: synthesized().config, bundle: false, nag: false });
    const stack = stacks.production as NonNullable<typeof stacks.production>;
    stack.deploy.workflow.stateMachine.addToRolePolicy(
      new PolicyStatement({ actions: ['xray:PutTraceSegments', 's3:GetObject'], resources: ['*'] }),
    );
    acknowledgeFindings(stack);
    expect(nagFindings(stack)).toEqual([
      expect.objectContaining({
        rule: 'AwsSolutions-IAM5[Resource::*]',
        path: 'GuardianProduction/Deploy/Workflow/StateMachine/Role/DefaultPolicy/Resource',
      }),
    ]);
  });

  it("leaves a wildcard beyond task tokens and X-Ray on the alarm handler's policy unacknowledged", () => {
    const { stacks } = buildApp({ config: synthesized().config, bundle: false, nag: false });
    const stack = stacks.staging as NonNullable<typeof stacks.staging>;
    stack.steps
      .functionOf('alarm-handler')
      .addToRolePolicy(new PolicyStatement({ actions: ['states:StopExecution'], resources: ['*'] }));
    acknowledgeFindings(stack);
    expect(nagFindings(stack)).toEqual([
      expect.objectContaining({
        rule: 'AwsSolutions-IAM5[Resource::*]',
        path: 'GuardianStaging/Steps/AlarmHandler/Role/DefaultPolicy/Resource',
      }),
    ]);
  });

  it('accepts no asynchronous invoke config without a failure destination on a function without dead letters', () => {
    const { stacks } = buildApp({ config: synthesized().config, bundle: false, nag: false });
    const stack = stacks.staging as NonNullable<typeof stacks.staging>;
    stack.steps.functionOf('set-image').configureAsyncInvoke({ retryAttempts: 0 });
    acknowledgeFindings(stack);
    expect(nagFindings(stack)).toEqual([
      expect.objectContaining({
        rule: 'Serverless-LambdaAsyncFailureDestination',
        path: 'GuardianStaging/Steps/SetImage/Function/EventInvokeConfig/Resource',
      }),
    ]);
  });

  it('states a reason for every accepted finding', () => {
    for (const accepted of ACCEPTED_FINDINGS) expect(accepted.reason.length).toBeGreaterThan(40);
  });
});
