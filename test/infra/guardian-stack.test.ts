import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { guardianAlarmName, METRIC_ALARM_IDS } from '../../lambdas/core/alarm-catalog.ts';
import { configSlice } from '../../lambdas/shared/wiring.ts';
import { EVENT_STEPS, STEP_IDS, STEPS, type StepId } from '../../lambdas/steps.ts';
import { buildApp, type GuardianApp } from '../../lib/app.ts';
import { type GuardianConfig, LOG_RETENTION_DAYS, type StackConfig } from '../../lib/config/schema.ts';
import { AlarmTopic } from '../../lib/constructs/alarm-topic.ts';
import { GuardianTables } from '../../lib/constructs/guardian-tables.ts';
import { nagFindings } from '../../lib/nag.ts';
import { logRetentionOf } from '../../lib/stacks/guardian-stack.ts';
import { lambdaEnvironmentOf, stepFunctionsOfTemplate, tablesOfTemplate } from '../../lib/template.ts';
import { synthesized, templateOf } from './fixtures.ts';

/** The steps of a Deployment environment's stack (staging, production): every step but promote (blue-green only). */
const DEPLOYMENT_STEPS = STEP_IDS.filter((s) => s !== 'promote');

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

/** The logical id of the only resource of `type` (with `props`) in the template. */
const resourceIdOf = (t: Template, type: string, props: Record<string, unknown> = {}): string => {
  const ids = Object.keys(t.findResources(type, { Properties: Match.objectLike(props) }));
  expect(ids, type).toHaveLength(1);
  return ids[0] as string;
};

/** The dead-letter queue of an EventBridge-invoked step (its function's DeadLetterConfig). */
const stepQueueIdOf = (t: Template, step: StepId): string => {
  const target = t.toJSON().Resources[functionIdOf(t, step)].Properties.DeadLetterConfig?.TargetArn;
  expect(target, `${step} dead-letter queue`).toEqual({ 'Fn::GetAtt': [expect.any(String), 'Arn'] });
  return target['Fn::GetAtt'][0] as string;
};

/** The only EventBridge rule whose target is the function of `step`. */
const ruleIdOf = (t: Template, step: StepId): string => {
  const fn = functionIdOf(t, step);
  const ids = Object.entries(t.findResources('AWS::Events::Rule'))
    .filter(([, r]) =>
      (r.Properties.Targets as { Arn: unknown }[]).some(
        (target) => JSON.stringify(target.Arn) === JSON.stringify({ 'Fn::GetAtt': [fn, 'Arn'] }),
      ),
    )
    .map(([id]) => id);
  expect(ids, `rules targeting ${step}`).toHaveLength(1);
  return ids[0] as string;
};

/** The alarm topic's delivery dead-letter queue (only there when it has subscribers). */
const deliveryQueueIdOf = (t: Template): string => {
  const ids = Object.keys(t.findResources('AWS::SQS::Queue')).filter((id) =>
    id.startsWith('AlarmTopicDeliveryDeadLetters'),
  );
  expect(ids).toHaveLength(1);
  return ids[0] as string;
};

/** One subscriber of every protocol, as config/environments.yaml would list them. */
const SUBSCRIBERS = [
  { protocol: 'email', endpoint: 'devops@buywhere.io' },
  { protocol: 'https', endpoint: 'https://hooks.buywhere.io/guardian' },
  { protocol: 'sqs', endpoint: 'arn:aws:sqs:ap-southeast-1:123456789012:guardian-alarms' },
  { protocol: 'lambda', endpoint: 'arn:aws:lambda:ap-southeast-1:123456789012:function:page-oncall' },
] as const;

let reconfigured: { app: GuardianApp; templates: Record<string, Template> } | undefined;

/**
 * The repository's config with the stack settings turned around: staging has a subscriber of every
 * protocol and keeps everything for ten years, production keeps a week of logs and goes with the stack.
 * Built once (with cdk-nag), like the shipped one.
 */
function reconfiguredApp(): NonNullable<typeof reconfigured> {
  if (!reconfigured) {
    const shipped = synthesized().config;
    // Two stacks are enough for these tests (one of each retention), and synthesize faster.
    const { staging: s, production: p } = shipped.environments;
    const config = {
      ...shipped,
      environments: { staging: s, production: p } as GuardianConfig['environments'],
    };
    const stacks: Record<string, StackConfig> = {
      staging: {
        alarmTopic: { subscriptions: [...SUBSCRIBERS] },
        retention: { logRetentionDays: 3653, removalPolicy: 'retain' },
      },
      production: {
        alarmTopic: { subscriptions: [] },
        retention: { logRetentionDays: 7, removalPolicy: 'destroy' },
      },
    };
    const app = buildApp({ config: { ...config, stacks } satisfies GuardianConfig, bundle: false });
    const templates: Record<string, Template> = {};
    for (const [name, stack] of Object.entries(app.stacks)) templates[name] = Template.fromStack(stack);
    reconfigured = { app, templates };
  }
  return reconfigured;
}

const reconfiguredTemplateOf = (env: 'staging' | 'production'): Template =>
  reconfiguredApp().templates[env] as Template;

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
    expect(Object.keys(stacks)).toHaveLength(Object.keys(synthesized().config.environments).length);
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

  it('takes their removal policy from config, not from the environment name', () => {
    reconfiguredTemplateOf('production').allResources('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Delete',
      UpdateReplacePolicy: 'Delete',
      Properties: Match.objectLike({ DeletionProtectionEnabled: false }),
    });
    reconfiguredTemplateOf('staging').allResources('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({ DeletionProtectionEnabled: true }),
    });
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
    expect(steps.sort()).toEqual([...DEPLOYMENT_STEPS].sort());
  });

  it.each(DEPLOYMENT_STEPS)(
    'runs %s on nodejs22.x arm64 with tracing, 256 MB and its own log group',
    (step) => {
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
    },
  );

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
    // The health check reads its release's pods (startup time) through the workload port.
    expect(keysOf('health-check')).toEqual([
      'apiUrl',
      'cluster',
      'container',
      'healthCheck',
      'name',
      'namespace',
      'platform',
      'region',
      'workload',
    ]);
    expect(keysOf('execution-ended')).toEqual(['name', 'platform']);
    // rollout: the deadline starts when the rollout does (issue 10).
    expect(keysOf('set-image')).toEqual([
      'cluster',
      'container',
      'name',
      'namespace',
      'platform',
      'region',
      'rollout',
      'workload',
    ]);
    // The backup step: its database and retention, nothing of the cluster.
    expect(keysOf('backup')).toEqual(['backup', 'name', 'platform', 'region']);
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

  it.each(DEPLOYMENT_STEPS.filter((s) => !hasPort(s, 'store')))(
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

  it('takes the retention and removal policy of every log group (steps and workflows) from config', () => {
    const production = reconfiguredTemplateOf('production');
    // One per step and one per state machine (Deploy, Rollback, Escalation).
    expect(Object.keys(production.findResources('AWS::Logs::LogGroup'))).toHaveLength(
      DEPLOYMENT_STEPS.length + 3,
    );
    production.allResources('AWS::Logs::LogGroup', {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({ RetentionInDays: 7 }),
    });
    reconfiguredTemplateOf('staging').allResources('AWS::Logs::LogGroup', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ RetentionInDays: 3653 }),
    });
  });

  it('maps every retention period the config accepts to the same CloudWatch Logs retention', () => {
    const cdkPeriods = Object.values(RetentionDays).filter(
      (d): d is RetentionDays => typeof d === 'number' && d !== RetentionDays.INFINITE,
    );
    expect([...LOG_RETENTION_DAYS].sort((a, b) => a - b)).toEqual(cdkPeriods.sort((a, b) => a - b));
    for (const days of LOG_RETENTION_DAYS) {
      expect(logRetentionOf({ logRetentionDays: days, removalPolicy: 'retain' })).toBe(days);
    }
    expect(() => logRetentionOf({ logRetentionDays: 31, removalPolicy: 'retain' })).toThrow(
      /logRetentionDays 31 is not a retention period CloudWatch Logs accepts/,
    );
  });
});

describe('IAM', () => {
  it.each(DEPLOYMENT_STEPS.filter((s) => !hasPort(s, 'store')))(
    'gives %s no DynamoDB action at all',
    (step) => {
      const actions = actionsOf(statementsOf(templateOf('staging'), step));
      expect(actions.filter((a) => a.startsWith('dynamodb:'))).toEqual([]);
    },
  );

  it.each(DEPLOYMENT_STEPS.filter((s) => hasPort(s, 'store')))(
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

  it.each(DEPLOYMENT_STEPS)(
    'scopes eks:DescribeCluster of %s to the environment cluster, or gives none',
    (step) => {
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
    },
  );

  it('outputs the role ARN of every step that talks to Kubernetes, for the EKS access entry', () => {
    const outputs = templateOf('staging').findOutputs('*');
    const kubernetesSteps = DEPLOYMENT_STEPS.filter((s) => hasPort(s, 'workload'));
    expect(Object.keys(outputs).filter((k) => k.endsWith('RoleArn'))).toHaveLength(kubernetesSteps.length);
    templateOf('staging').hasOutput('SetImageRoleArn', {
      Description: Match.stringLikeRegexp('EKS access entry'),
      Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^StepsSetImageRole'), 'Arn'] },
    });
  });
});

describe('execution-ended janitor', () => {
  it('sends failed, timed-out and aborted Deploy and Rollback executions, and only those, to the step', () => {
    const t = templateOf('staging');
    const deploy = resourceIdOf(t, 'AWS::StepFunctions::StateMachine', {
      StateMachineName: 'guardian-staging-deploy',
    });
    const rollback = resourceIdOf(t, 'AWS::StepFunctions::StateMachine', {
      StateMachineName: 'guardian-staging-rollback',
    });
    const fn = functionIdOf(t, 'execution-ended');
    const dlq = stepQueueIdOf(t, 'execution-ended');
    const rule = t.toJSON().Resources[ruleIdOf(t, 'execution-ended')];
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
      SourceArn: { 'Fn::GetAtt': [ruleIdOf(t, 'execution-ended'), 'Arn'] },
    });
  });

  it('keeps undeliverable and failed events in an encrypted, TLS-only queue for 14 days', () => {
    const t = templateOf('production');
    const dlq = stepQueueIdOf(t, 'execution-ended');
    expect(t.toJSON().Resources[dlq]).toMatchObject({
      // retention.removalPolicy of production in config/environments.yaml
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

  it('lets the step touch only the two tables, its log group, its dead-letter queue, and start an escalation (a failed rollback pages)', () => {
    const t = templateOf('staging');
    const dlq = stepQueueIdOf(t, 'execution-ended');
    const statements = statementsOf(t, 'execution-ended');
    const other = statements.filter(
      (s) => !actionsOf([s]).every((a) => /^(dynamodb|xray|logs):/.test(a) || a.startsWith('states:')),
    );
    expect(other).toEqual([
      { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [dlq, 'Arn'] } },
    ]);
    const states = statements.filter((s) => actionsOf([s]).some((a) => a.startsWith('states:')));
    expect(actionsOf(states).sort()).toEqual([
      'states:SendTaskFailure',
      'states:SendTaskSuccess',
      'states:StartExecution',
    ]);
    const started = JSON.stringify(
      states.find((s) => actionsOf([s]).includes('states:StartExecution'))?.Resource,
    );
    expect(started).toContain('stateMachine:guardian-staging-escalation');
    expect(started).not.toContain('guardian-production');
    expect(actionsOf(statements).filter((a) => a.startsWith('eks:'))).toEqual([]);
    expect(lambdaEnvironmentOf(t, functionIdOf(t, 'execution-ended'))).toMatchObject({
      DEPLOYMENTS_TABLE: 'guardian-staging-deployments',
      CONTROL_TABLE: 'guardian-staging-control',
    });
  });

  it('is no Task state of any workflow, and no step but the EventBridge-invoked ones gets a dead-letter queue', () => {
    const t = templateOf('staging');
    for (const step of EVENT_STEPS) {
      const fn = functionIdOf(t, step);
      for (const sm of Object.values(t.findResources('AWS::StepFunctions::StateMachine'))) {
        expect(JSON.stringify(sm.Properties.DefinitionString), step).not.toContain(fn);
      }
    }
    expect([...EVENT_STEPS].sort()).toEqual(['alarm-handler', 'execution-ended']);
    for (const step of DEPLOYMENT_STEPS.filter((s) => !EVENT_STEPS.includes(s))) {
      expect(t.toJSON().Resources[functionIdOf(t, step)].Properties.DeadLetterConfig, step).toBeUndefined();
    }
  });
});

describe('alarm topic', () => {
  /** The logical id of the stack's alarm topic. */
  const topicIdOf = (t: Template): string => resourceIdOf(t, 'AWS::SNS::Topic');

  it('is one topic per environment, encrypted with a rotated customer managed key', () => {
    for (const env of ['staging', 'production'] as const) {
      const t = templateOf(env);
      const key = resourceIdOf(t, 'AWS::KMS::Key');
      t.hasResourceProperties('AWS::SNS::Topic', {
        TopicName: `guardian-${env}-alarms`,
        KmsMasterKeyId: { 'Fn::GetAtt': [key, 'Arn'] },
      });
      t.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    }
  });

  it('lets CloudWatch alarms use the key, so they can publish to the encrypted topic', () => {
    templateOf('staging').hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          {
            Sid: 'CloudWatchAlarmsPublishToTheTopic',
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Resource: '*',
          },
        ]),
      },
    });
  });

  it("refuses publishing without TLS and lets only this account's CloudWatch alarms publish", () => {
    const t = templateOf('production');
    const topic = { Ref: topicIdOf(t) };
    t.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [topic],
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Effect: 'Deny',
            Principal: '*',
            Action: 'sns:Publish',
            Resource: topic,
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: topic,
            Condition: {
              ArnLike: {
                'aws:SourceArn': {
                  'Fn::Join': [
                    '',
                    [
                      'arn:',
                      { Ref: 'AWS::Partition' },
                      ':cloudwatch:ap-southeast-1:',
                      { Ref: 'AWS::AccountId' },
                      ':alarm:*',
                    ],
                  ],
                },
              },
              StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
            },
          }),
        ],
      },
    });
  });

  it('outputs the topic ARN so operators can subscribe', () => {
    for (const env of ['staging', 'production'] as const) {
      const t = templateOf(env);
      t.hasOutput('AlarmTopicArn', {
        Value: { Ref: topicIdOf(t) },
        Description: Match.stringLikeRegexp(`\\(${env}\\)`),
      });
    }
  });

  it('has no subscription and no delivery queue when config lists no subscriber', () => {
    const t = templateOf('staging');
    t.resourceCountIs('AWS::SNS::Subscription', 0);
    // The dead-letter queues of the janitor and the alarm handler only.
    t.resourceCountIs('AWS::SQS::Queue', EVENT_STEPS.length);
  });

  it('subscribes every endpoint from config with its protocol, redriving failed deliveries to a queue', () => {
    const t = reconfiguredTemplateOf('staging');
    const topic = { Ref: topicIdOf(t) };
    const deliveryQueue = deliveryQueueIdOf(t);
    t.resourceCountIs('AWS::SNS::Subscription', SUBSCRIBERS.length);
    for (const { protocol, endpoint } of SUBSCRIBERS) {
      t.hasResourceProperties('AWS::SNS::Subscription', {
        TopicArn: topic,
        Protocol: protocol,
        Endpoint: endpoint,
        RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [deliveryQueue, 'Arn'] } },
      });
    }
    expect(t.toJSON().Resources[deliveryQueue]).toMatchObject({
      DeletionPolicy: 'Retain',
      Properties: { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 },
    });
    t.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: deliveryQueue }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow',
            Action: 'sqs:SendMessage',
            Principal: { Service: 'sns.amazonaws.com' },
            Condition: { ArnEquals: { 'aws:SourceArn': topic } },
          }),
        ]),
      },
    });
  });

  it("keeps subscribers and retention out of the functions' environment variables", () => {
    const t = reconfiguredTemplateOf('staging');
    for (const id of Object.keys(stepFunctionsOfTemplate(t))) {
      const config = JSON.parse(lambdaEnvironmentOf(t, id).GUARDIAN_ENV_CONFIG ?? '{}');
      expect(config).not.toHaveProperty('alarmTopic');
      expect(config).not.toHaveProperty('retention');
      expect(JSON.stringify(config)).not.toContain('devops@buywhere.io');
    }
  });

  it('alarms on undelivered notifications, and tells the other subscribers', () => {
    const t = reconfiguredTemplateOf('staging');
    const topic = { Ref: topicIdOf(t) };
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'guardian-staging-alarms-undelivered',
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [deliveryQueueIdOf(t), 'QueueName'] } }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: [topic],
      OKActions: [topic],
    });
  });

  it('follows the removal policy from config with its key and topic', () => {
    for (const [env, policy] of [
      ['staging', 'Retain'],
      ['production', 'Delete'],
    ] as const) {
      const t = reconfiguredTemplateOf(env);
      for (const type of ['AWS::SNS::Topic', 'AWS::KMS::Key']) {
        expect(t.toJSON().Resources[resourceIdOf(t, type)], `${env} ${type}`).toMatchObject({
          DeletionPolicy: policy,
          UpdateReplacePolicy: policy,
        });
      }
    }
    const queues = reconfiguredTemplateOf('production').findResources('AWS::SQS::Queue');
    for (const queue of Object.values(queues)) expect(queue.DeletionPolicy).toBe('Delete');
  });

  it('refuses the same subscriber twice and an environment name that cannot be part of the topic name', () => {
    const email = { protocol: 'email', endpoint: 'devops@buywhere.io' } as const;
    expect(
      () =>
        new AlarmTopic(new Stack(new App(), 'S'), 'T', {
          environment: 'staging',
          subscriptions: [email, email],
        }),
    ).toThrow(/lists email devops@buywhere\.io twice/);
    expect(() => new AlarmTopic(new Stack(new App(), 'S'), 'T', { environment: 'Prod_1' })).toThrow(
      /lowercase name/,
    );
  });

  it('leaves no cdk-nag finding unacknowledged with a subscriber of every protocol', () => {
    for (const stack of Object.values(reconfiguredApp().app.stacks)) expect(nagFindings(stack)).toEqual([]);
  });
});

describe('alarm actions', () => {
  const WORKFLOW_ALARMS = ['failed', 'throttled', 'aborted', 'timedout'].flatMap((a) => [
    `deploy-${a}`,
    `rollback-${a}`,
    `escalation-${a}`,
  ]);

  it.each(['staging', 'production'] as const)(
    'notifies the %s topic when any alarm of the stack fires and when it recovers',
    (env) => {
      const t = templateOf(env);
      const topic = { Ref: resourceIdOf(t, 'AWS::SNS::Topic') };
      // The workload's alarms (GuardianAlarms) reach people through the alarm handler, not this topic.
      const workload = new Set(METRIC_ALARM_IDS.map((id) => guardianAlarmName(env, id)));
      const alarms = Object.values(t.findResources('AWS::CloudWatch::Alarm')).filter(
        (a) => !workload.has(a.Properties.AlarmName),
      );
      // Four per workflow and one per dead-letter queue (the janitor's, the alarm handler's).
      expect(alarms.map((a) => a.Properties.AlarmName).sort()).toEqual(
        [
          ...WORKFLOW_ALARMS.map((a) => `guardian-${env}-${a}`),
          `guardian-${env}-execution-ended-dead-letters`,
          `guardian-${env}-alarm-handler-dead-letters`,
        ].sort(),
      );
      for (const alarm of alarms) {
        expect(alarm.Properties).toMatchObject({ AlarmActions: [topic], OKActions: [topic] });
      }
    },
  );

  it.each(WORKFLOW_ALARMS)('gives the %s alarm the topic as alarm and OK action', (alarm) => {
    const t = templateOf('staging');
    const topic = { Ref: resourceIdOf(t, 'AWS::SNS::Topic') };
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: `guardian-staging-${alarm}`,
      Namespace: 'AWS/States',
      AlarmActions: [topic],
      OKActions: [topic],
    });
  });

  it("alarms on the first event in the janitor's dead-letter queue", () => {
    const t = templateOf('production');
    const topic = { Ref: resourceIdOf(t, 'AWS::SNS::Topic') };
    const dlq = stepQueueIdOf(t, 'execution-ended');
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'guardian-production-execution-ended-dead-letters',
      AlarmDescription: Match.stringLikeRegexp('guardian lock --env production --release'),
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq, 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 60,
      EvaluationPeriods: 1,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [topic],
      OKActions: [topic],
    });
  });
});

describe('config that scales', () => {
  it('keeps every function environment small however large the config grows', () => {
    const { config } = synthesized();
    const staging = config.environments.staging;
    const stack = config.stacks.staging;
    if (!staging || !stack) throw new Error('no staging environment');
    const big = {
      ...staging,
      changeFreezes: Array.from({ length: 50 }, (_, i) => ({
        name: `freeze-${i}`,
        start: `2027-0${1 + (i % 9)}-01T00:00:00+08:00`,
        end: `2027-0${1 + (i % 9)}-02T00:00:00+08:00`,
        reason: `Campaign ${i}: ${'peak traffic expected; changes need the on-call lead to approve. '.repeat(3)}`,
      })),
      healthCheck: {
        ...staging.healthCheck,
        endpoints: Array.from({ length: 30 }, (_, i) => ({
          path: `/health/dependency-${i}`,
          expectStatus: 200,
          expectJson: { status: 'ok', database: 'connected', redis: 'connected', region: 'ap-southeast-1' },
        })),
      },
    };
    const bigStack = {
      ...stack,
      alarmTopic: {
        subscriptions: Array.from({ length: 20 }, (_, i) => ({
          protocol: 'email' as const,
          endpoint: `oncall-${i}@buywhere.io`,
        })),
      },
    };
    expect(Buffer.byteLength(JSON.stringify(big))).toBeGreaterThan(20_000);
    const { stacks } = buildApp({
      config: { environments: { staging: big }, stacks: { staging: bigStack } },
      bundle: false,
      nag: false,
    });
    const t = Template.fromStack(stacks.staging as NonNullable<typeof stacks.staging>);
    for (const [id, step] of Object.entries(stepFunctionsOfTemplate(t))) {
      const vars = lambdaEnvironmentOf(t, id);
      // Table names are tokens here; in AWS they are guardian-<env>-<table>, well under 100 bytes.
      expect(Buffer.byteLength(JSON.stringify(vars)), step).toBeLessThan(1024);
      const slice = t.toJSON().Resources[id].Metadata['guardian:config'];
      if (step === 'preflight') expect(slice.changeFreezes).toHaveLength(50);
      else expect(slice, step).not.toHaveProperty('changeFreezes');
      if (step === 'health-check') expect(slice.healthCheck.endpoints).toHaveLength(30);
    }
    expect(t.findResources('AWS::SNS::Subscription')).toSatisfy(
      (subs: object) => Object.keys(subs).length === 20,
    );
  });
});
