import { App } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { configSlice } from '../../lambdas/shared/wiring.ts';
import { STEP_IDS, STEPS, type StepId } from '../../lambdas/steps.ts';
import { buildApp } from '../../lib/app.ts';
import { GuardianTables } from '../../lib/constructs/guardian-tables.ts';
import { lambdaEnvironmentOf, stepFunctionsOfTemplate, tablesOfTemplate } from '../../lib/template.ts';
import { synthesized, templateOf } from './fixtures.ts';

type Statement = { Effect: string; Action: string | string[]; Resource: unknown };

/** Whether the step table gives `step` the `port`. */
const hasPort = (step: StepId, port: 'store' | 'workload' | 'http'): boolean =>
  (STEPS[step].ports as readonly string[]).includes(port);

function functionIdOf(template: Template, step: StepId): string {
  const entry = Object.entries(stepFunctionsOfTemplate(template)).find(([, s]) => s === step);
  if (!entry) throw new Error(`no function for step ${step}`);
  return entry[0];
}

/** Every statement of every policy attached to the step's execution role. */
function statementsOf(template: Template, step: StepId): Statement[] {
  const fn = template.toJSON().Resources[functionIdOf(template, step)];
  const roleId = fn.Properties.Role['Fn::GetAtt'][0] as string;
  const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
    (p.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleId })),
  );
  const role = template.toJSON().Resources[roleId];
  expect(role.Properties.ManagedPolicyArns ?? []).toEqual([]);
  return policies.flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}

const actionsOf = (statements: Statement[]): string[] =>
  statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));

describe('buildApp', () => {
  it('creates one Guardian<Env> stack per environment in its region', () => {
    const { app, config } = synthesized();
    expect(Object.keys(app.stacks).sort()).toEqual(Object.keys(config.environments).sort());
    expect(app.stacks.staging?.stackName).toBe('GuardianStaging');
    expect(app.stacks.production?.stackName).toBe('GuardianProduction');
    expect(app.stacks.production?.region).toBe(config.environments.production?.region);
  });

  it('takes the account from CDK_DEFAULT_ACCOUNT when it is set', () => {
    const before = process.env.CDK_DEFAULT_ACCOUNT;
    process.env.CDK_DEFAULT_ACCOUNT = '123456789012';
    try {
      const { stacks } = buildApp({ config: synthesized().config, bundle: false, nag: false });
      expect(stacks.staging?.account).toBe('123456789012');
    } finally {
      if (before === undefined) delete process.env.CDK_DEFAULT_ACCOUNT;
      else process.env.CDK_DEFAULT_ACCOUNT = before;
    }
  });

  it('turns bundling off for every stack when bundle is false', () => {
    const { stacks } = buildApp({ config: synthesized().config, bundle: false, nag: false });
    expect(Object.keys(stacks)).toHaveLength(2);
    for (const stack of Object.values(stacks)) expect(stack.bundlingRequired).toBe(false);
  });
});

describe('tables', () => {
  it('builds the Deployments table with its keys, the byStartedAt GSI, PITR and encryption', () => {
    templateOf('staging').hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'guardian-staging-deployments',
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: 'environment', KeyType: 'HASH' },
        { AttributeName: 'id', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        Match.objectLike({
          IndexName: 'byStartedAt',
          KeySchema: [
            { AttributeName: 'environment', KeyType: 'HASH' },
            { AttributeName: 'startedAt', KeyType: 'RANGE' },
          ],
        }),
      ],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });

  it('builds the Control table with pk/sk keys and TTL on ttl', () => {
    templateOf('production').hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'guardian-production-control',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });

  it('retains production tables and lets staging tables go with the stack', () => {
    templateOf('production').allResources('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ DeletionProtectionEnabled: true }),
    });
    templateOf('staging').allResources('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete' });
  });

  it('describes the tables by role for the local runner', () => {
    const tables = Object.values(tablesOfTemplate(templateOf('staging')));
    expect(tables.map((t) => t.role).sort()).toEqual(['control', 'deployments']);
    const control = tables.find((t) => t.role === 'control');
    expect(control?.ttlAttribute).toBe('ttl');
    expect(control?.TableName).toBe('guardian-staging-control');
  });

  it('refuses an environment name that cannot be part of a table name', () => {
    expect(() => new GuardianTables(new App(), 'T', { environment: 'Prod_1' })).toThrow(/lowercase name/);
  });
});

describe('step functions', () => {
  it('creates exactly one function per step, tagged with guardian:step metadata', () => {
    const steps = Object.values(stepFunctionsOfTemplate(templateOf('staging')));
    expect(steps.sort()).toEqual([...STEP_IDS].sort());
  });

  it.each(STEP_IDS)('runs %s on nodejs22.x arm64 with tracing, 256 MB and its own log group', (step) => {
    const t = templateOf('staging');
    const fn = t.toJSON().Resources[functionIdOf(t, step)];
    expect(fn.Metadata['guardian:step']).toBe(step);
    expect(fn.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: 256,
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: { LogGroup: { Ref: expect.any(String) } },
    });
  });

  it('bakes each function its own config slice (metadata records it) and keeps config out of its environment', () => {
    const { templates, config } = synthesized();
    for (const env of ['staging', 'production']) {
      const t = templates[env] as Template;
      const full = config.environments[env];
      if (!full) throw new Error(`no ${env} environment`);
      for (const [id, step] of Object.entries(stepFunctionsOfTemplate(t))) {
        const vars = lambdaEnvironmentOf(t, id);
        expect(vars.POWERTOOLS_SERVICE_NAME).toBe('deployment-guardian');
        expect(vars, step).not.toHaveProperty('GUARDIAN_ENV_CONFIG');
        const slice = t.toJSON().Resources[id].Metadata['guardian:config'];
        expect(slice, step).toEqual(JSON.parse(JSON.stringify(configSlice(step, full))));
        expect(slice.name, step).toBe(env);
      }
    }
  });

  it('gives each function only the config its step and ports read', () => {
    const t = templateOf('production');
    const keysOf = (step: StepId) =>
      Object.keys(t.toJSON().Resources[functionIdOf(t, step)].Metadata['guardian:config']).sort();
    expect(keysOf('health-check')).toEqual(['apiUrl', 'healthCheck', 'name', 'platform']);
    expect(keysOf('execution-ended')).toEqual(['name', 'platform']);
    expect(keysOf('set-image')).toEqual(['cluster', 'container', 'name', 'namespace', 'platform', 'region', 'workload']);
    expect(keysOf('record-deployment')).toEqual(['name', 'platform', 'thresholds']);
    expect(keysOf('preflight')).toContain('changeFreezes');
  });

  it('wires the table names into exactly the functions with table access', () => {
    const { templates } = synthesized();
    for (const env of ['staging', 'production']) {
      const t = templates[env] as Template;
      for (const [id, step] of Object.entries(stepFunctionsOfTemplate(t))) {
        const vars = lambdaEnvironmentOf(t, id);
        if (hasPort(step as StepId, 'store')) {
          expect(vars.DEPLOYMENTS_TABLE, step).toBe(`guardian-${env}-deployments`);
          expect(vars.CONTROL_TABLE, step).toBe(`guardian-${env}-control`);
        } else {
          expect(Object.keys(vars).sort(), step).toEqual(['POWERTOOLS_SERVICE_NAME']);
        }
      }
    }
  });

  it.each(STEP_IDS.filter((s) => !hasPort(s, 'store')))(
    'gives %s no table environment variables',
    (step) => {
      const t = templateOf('production');
      const vars = lambdaEnvironmentOf(t, functionIdOf(t, step));
      expect(vars).not.toHaveProperty('DEPLOYMENTS_TABLE');
      expect(vars).not.toHaveProperty('CONTROL_TABLE');
      expect(Object.values(vars)).not.toContain('guardian-production-deployments');
      expect(Object.values(vars)).not.toContain('guardian-production-control');
    },
  );

  it('gives one health-check invocation (one attempt, endpoints in parallel) the endpoint timeout plus margin', () => {
    const t = templateOf('production');
    const env = synthesized().config.environments.production;
    if (!env) throw new Error('no production environment');
    const fn = t.toJSON().Resources[functionIdOf(t, 'health-check')];
    // The state machine's Retry makes the further attempts, so neither attempts nor endpoints count here.
    expect(env.healthCheck.timeoutMs).toBe(5000);
    expect(fn.Properties.Timeout).toBe(5 + 10);
  });

  it('keeps the log groups of production for a year and retains them', () => {
    templateOf('production').allResources('AWS::Logs::LogGroup', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ RetentionInDays: 365 }),
    });
    templateOf('staging').allResources('AWS::Logs::LogGroup', {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({ RetentionInDays: 30 }),
    });
  });
});

describe('IAM', () => {
  it.each(STEP_IDS.filter((s) => !hasPort(s, 'store')))('gives %s no DynamoDB action at all', (step) => {
    const actions = actionsOf(statementsOf(templateOf('staging'), step));
    expect(actions.filter((a) => a.startsWith('dynamodb:'))).toEqual([]);
  });

  it.each(STEP_IDS.filter((s) => hasPort(s, 'store')))(
    'grants %s exactly the DynamoDB actions the store uses, table by table',
    (step) => {
      const t = templateOf('staging');
      const tableIdOf = (role: string) =>
        Object.entries(tablesOfTemplate(t)).find(([, table]) => table.role === role)?.[0];
      const deploymentsArn = { 'Fn::GetAtt': [tableIdOf('deployments'), 'Arn'] };
      const controlArn = { 'Fn::GetAtt': [tableIdOf('control'), 'Arn'] };
      const dynamo = statementsOf(t, step)
        .filter((s) => actionsOf([s]).some((a) => a.startsWith('dynamodb:')))
        .map((s) => ({ ...s, Action: actionsOf([s]).sort() }));
      const byJson = (a: unknown, b: unknown) => JSON.stringify(a).localeCompare(JSON.stringify(b));
      expect(dynamo.sort(byJson)).toEqual(
        [
          {
            Effect: 'Allow',
            Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
            Resource: deploymentsArn,
          },
          {
            Effect: 'Allow',
            Action: ['dynamodb:Query'],
            Resource: { 'Fn::Join': ['', [deploymentsArn, '/index/*']] },
          },
          {
            Effect: 'Allow',
            Action: [
              'dynamodb:DeleteItem',
              'dynamodb:GetItem',
              'dynamodb:PutItem',
              'dynamodb:Query',
              'dynamodb:UpdateItem',
            ],
            Resource: controlArn,
          },
        ].sort(byJson),
      );
    },
  );

  it.each(STEP_IDS)('scopes eks:DescribeCluster of %s to the environment cluster, or gives none', (step) => {
    const t = templateOf('production');
    const eks = statementsOf(t, step).filter((s) => actionsOf([s]).some((a) => a.startsWith('eks:')));
    if (!hasPort(step, 'workload')) {
      expect(eks).toEqual([]);
      return;
    }
    expect(eks).toEqual([
      {
        Effect: 'Allow',
        Action: 'eks:DescribeCluster',
        Resource: {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':eks:ap-southeast-1:',
              { Ref: 'AWS::AccountId' },
              ':cluster/buywhere-prod',
            ],
          ],
        },
      },
    ]);
  });

  it('outputs the role ARN of every step that talks to Kubernetes, for the EKS access entry', () => {
    const outputs = templateOf('staging').findOutputs('*');
    const kubernetesSteps = STEP_IDS.filter((s) => hasPort(s, 'workload'));
    expect(Object.keys(outputs).filter((k) => k.endsWith('RoleArn'))).toHaveLength(kubernetesSteps.length);
    templateOf('staging').hasOutput('SetImageRoleArn', {
      Description: Match.stringLikeRegexp('EKS access entry'),
      Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^StepsSetImageRole'), 'Arn'] },
    });
  });
});

describe('execution-ended janitor', () => {
  const resourceIdOf = (t: Template, type: string, props: Record<string, unknown> = {}): string => {
    const ids = Object.keys(t.findResources(type, { Properties: Match.objectLike(props) }));
    expect(ids, type).toHaveLength(1);
    return ids[0] as string;
  };

  it('sends failed, timed-out and aborted Deploy and Rollback executions, and only those, to the step', () => {
    const t = templateOf('staging');
    const deploy = resourceIdOf(t, 'AWS::StepFunctions::StateMachine', {
      StateMachineName: 'guardian-staging-deploy',
    });
    const rollback = resourceIdOf(t, 'AWS::StepFunctions::StateMachine', {
      StateMachineName: 'guardian-staging-rollback',
    });
    const fn = functionIdOf(t, 'execution-ended');
    const dlq = resourceIdOf(t, 'AWS::SQS::Queue');
    const rule = t.toJSON().Resources[resourceIdOf(t, 'AWS::Events::Rule')];
    expect(rule.Properties.EventPattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: {
        stateMachineArn: [{ Ref: deploy }, { Ref: rollback }],
        status: ['FAILED', 'TIMED_OUT', 'ABORTED'],
      },
    });
    expect(rule.Properties.State).toBe('ENABLED');
    expect(rule.Properties.Targets).toEqual([
      {
        Id: 'Target0',
        Arn: { 'Fn::GetAtt': [fn, 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 7200 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } },
      },
    ]);
    t.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [fn, 'Arn'] },
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [resourceIdOf(t, 'AWS::Events::Rule'), 'Arn'] },
    });
  });

  it('keeps undeliverable and failed events in an encrypted, TLS-only queue for 14 days', () => {
    const t = templateOf('production');
    const dlq = resourceIdOf(t, 'AWS::SQS::Queue');
    expect(t.toJSON().Resources[dlq]).toMatchObject({
      DeletionPolicy: 'Retain',
      Properties: { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 },
    });
    // Function errors after Lambda's asynchronous retries land in the same queue.
    expect(t.toJSON().Resources[functionIdOf(t, 'execution-ended')].Properties.DeadLetterConfig).toEqual({
      TargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] },
    });
    t.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: dlq }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sqs:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          Match.objectLike({
            Effect: 'Allow',
            Action: 'sqs:SendMessage',
            Principal: { Service: 'events.amazonaws.com' },
          }),
        ]),
      },
    });
  });

  it('lets the step touch only the two tables, its log group and its dead-letter queue', () => {
    const t = templateOf('staging');
    const dlq = resourceIdOf(t, 'AWS::SQS::Queue');
    const statements = statementsOf(t, 'execution-ended');
    const other = statements.filter((s) => !actionsOf([s]).every((a) => /^(dynamodb|xray|logs):/.test(a)));
    expect(other).toEqual([
      { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [dlq, 'Arn'] } },
    ]);
    expect(actionsOf(statements).filter((a) => a.startsWith('eks:'))).toEqual([]);
    expect(lambdaEnvironmentOf(t, functionIdOf(t, 'execution-ended'))).toMatchObject({
      DEPLOYMENTS_TABLE: 'guardian-staging-deployments',
      CONTROL_TABLE: 'guardian-staging-control',
    });
  });

  it('is no Task state of any workflow, and no other step gets a dead-letter queue', () => {
    const t = templateOf('staging');
    const fn = functionIdOf(t, 'execution-ended');
    for (const sm of Object.values(t.findResources('AWS::StepFunctions::StateMachine'))) {
      expect(JSON.stringify(sm.Properties.DefinitionString)).not.toContain(fn);
    }
    for (const step of STEP_IDS.filter((s) => s !== 'execution-ended')) {
      expect(t.toJSON().Resources[functionIdOf(t, step)].Properties.DeadLetterConfig, step).toBeUndefined();
    }
  });
});
