import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { Pass } from 'aws-cdk-lib/aws-stepfunctions';
import { StateMachine } from 'aws-local-stepfunctions';
import { describe, expect, it } from 'vitest';
import { REFUSAL_ERRORS } from '../../lambdas/core/errors.ts';
import { buildApp } from '../../lib/app.ts';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';
import { deployTimeoutOf } from '../../lib/constructs/deploy-workflow.ts';
import { GuardianStateMachine } from '../../lib/constructs/guardian-state-machine.ts';
import { healthCheckBudgetSeconds, rollbackTimeoutOf } from '../../lib/constructs/rollback-workflow.ts';
import {
  type AslDefinition,
  type AslState,
  localStateMachineArn,
  resolveIntrinsics,
  stackTemplateInfo,
  stateMachineDefinitions,
  stepFunctionsOfTemplate,
} from '../../lib/template.ts';
import { aslValidator, synthesized, templateOf } from './fixtures.ts';

const DEPLOY_STATES = [
  'Preflight checks',
  'Deployment refused',
  'Preflight failed',
  'Dry run?',
  'Dry run complete',
  // The pre-deployment backup (issue 10): a snapshot, polled until available, before anything changes.
  'Back up database',
  'Wait for snapshot',
  'Check snapshot',
  'Snapshot available?',
  'Backup failed',
  'Set image',
  'Wait for rollout',
  'Check rollout status',
  'Rollout complete?',
  'Rollout failed',
  'Enhanced health check',
  // Canary analysis (issue 9): the baseline before the rollout, a judged round every interval, the hold.
  'Metrics baseline',
  'Capture metrics baseline',
  'Metrics baseline failed',
  'Baseline complete?',
  'Wait for next baseline scrape',
  'Canary analysis',
  'Canary round',
  'Canary verdict?',
  'Wait for next canary round',
  'Canary failed',
  'Hold for operator decision',
  'Hold expired',
  'Post-deployment monitoring',
  'Wait for next monitoring round',
  'Monitoring round',
  'Monitoring verdict?',
  'Monitoring failed',
  'Record deployment',
  'Deployment succeeded',
  'Roll back to previous revision',
  'Record failed rollback',
  'Rollback failed',
  'Deployment rolled back',
];

const ROLLBACK_STATES = [
  'Prepare rollback',
  'Rollback refused',
  'Start rollback',
  'Undo to previous revision',
  'Wait for rollback',
  'Check rollback status',
  'Rollback complete?',
  'Rollback did not complete',
  'Verify health after rollback',
  'Record rollback',
  'Rolled back',
  'Record rollback failure',
  'Rollback failed',
];

const ENVIRONMENTS = ['staging', 'production'] as const;

/** aws-local-stepfunctions does not export its JSON type. */
type JSONValue = Parameters<StateMachine['run']>[0];

function definitionOf(env: string, kind: 'deploy' | 'rollback'): AslDefinition {
  const found = Object.values(stateMachineDefinitions(templateOf(env))).find(
    (m) => m.name === `guardian-${env}-${kind}`,
  );
  if (!found) throw new Error(`no ${kind} state machine for ${env}`);
  return found.definition;
}

function stateOf(definition: AslDefinition, name: string): AslState {
  const state = definition.States[name];
  if (!state) throw new Error(`no state '${name}'`);
  return state;
}

const lambdaTasks = (d: AslDefinition): [string, AslState][] =>
  Object.entries(d.States).filter(([, s]) => s.Type === 'Task' && String(s.Resource).includes(':lambda:'));

describe('state machines', () => {
  it.each(ENVIRONMENTS)('makes %s deploy and rollback STANDARD, traced and fully logged', (env) => {
    const t = templateOf(env);
    for (const kind of ['deploy', 'rollback']) {
      t.hasResourceProperties('AWS::StepFunctions::StateMachine', {
        StateMachineName: `guardian-${env}-${kind}`,
        StateMachineType: 'STANDARD',
        TracingConfiguration: { Enabled: true },
        LoggingConfiguration: {
          Level: 'ALL',
          IncludeExecutionData: true,
          Destinations: [
            {
              CloudWatchLogsLogGroup: {
                LogGroupArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('Logs'), 'Arn'] },
              },
            },
          ],
        },
      });
      t.hasResourceProperties('AWS::Logs::LogGroup', {
        LogGroupName: `/aws/vendedlogs/states/guardian-${env}-${kind}`,
      });
    }
  });

  it.each(ENVIRONMENTS)('alarms on failed, throttled, aborted and timed-out %s executions', (env) => {
    const alarms = Object.values(templateOf(env).findResources('AWS::CloudWatch::Alarm'));
    for (const kind of ['deploy', 'rollback']) {
      const metrics = alarms
        .filter((a) => String(a.Properties.AlarmName).startsWith(`guardian-${env}-${kind}-`))
        .map((a) => a.Properties.MetricName)
        .sort();
      expect(metrics).toEqual([
        'ExecutionThrottled',
        'ExecutionsAborted',
        'ExecutionsFailed',
        'ExecutionsTimedOut',
      ]);
    }
    // The stack's other alarm watches the janitor's dead-letter queue (guardian-stack.test.ts).
    const workflowAlarms = alarms.filter((a) => /-(deploy|rollback)-/.test(String(a.Properties.AlarmName)));
    expect(workflowAlarms).toHaveLength(8);
    expect(
      workflowAlarms.every((a) => a.Properties.Namespace === 'AWS/States' && a.Properties.Threshold === 1),
    ).toBe(true);
  });

  it('gives every execution a timeout that fits a rollout, a health check and a rollback', () => {
    const deploy = definitionOf('production', 'deploy');
    const rollback = definitionOf('production', 'rollback');
    expect(rollback.TimeoutSeconds).toBeGreaterThan(600);
    expect(deploy.TimeoutSeconds).toBeGreaterThan((rollback.TimeoutSeconds ?? 0) + 600);
  });

  it('budgets one health-check invocation plus the retry interval for each attempt', () => {
    const staging = synthesized().config.environments.staging as EnvironmentConfig;
    // 3 attempts x (5 s endpoint timeout + 10 s margin + 10 s interval).
    expect(healthCheckBudgetSeconds(staging)).toBe(75);
    const noInterval = {
      ...staging,
      healthCheck: { ...staging.healthCheck, intervalSeconds: 0, attempts: 2 },
    };
    // Step Functions waits at least 1 s between attempts.
    expect(healthCheckBudgetSeconds(noInterval)).toBe(2 * (15 + 1));
    expect(rollbackTimeoutOf(staging).toSeconds()).toBe(300 + 75 + 600);
    // + canary analysis: the baseline's one call (30 s), 180 s / 30 s = 6 rounds and the start of
    // (30 s wait + 30 s step), the 1800 s hold; + monitoring: 300 s / 30 s = 10 rounds of (30 s
    // wait + 15 s health-check invocation).
    // + backup: the 1800 s deadline, one 30 s poll and two step timeouts (start, last check).
    expect(deployTimeoutOf(staging, rollbackTimeoutOf(staging)).toSeconds()).toBe(
      1800 + 30 + 2 * 30 + 300 + 75 + (30 + 7 * (30 + 30) + 1800) + 10 * (30 + 15) + 975 + 600,
    );
  });

  it.each(ENVIRONMENTS)('keeps the %s lock for longer than a Deploy execution may run', (env) => {
    const ttl = synthesized().config.environments[env]?.lock.ttlSeconds ?? 0;
    expect(definitionOf(env, 'deploy').TimeoutSeconds).toBeLessThanOrEqual(ttl);
  });

  it('refuses a lock TTL shorter than a Deploy execution, naming the key and the minimum', () => {
    const staging = synthesized().config.environments.staging as EnvironmentConfig;
    const withTtl = (ttlSeconds: number) => () =>
      buildApp({
        config: { ...synthesized().config, environments: { staging: { ...staging, lock: { ttlSeconds } } } },
        bundle: false,
        nag: false,
      });
    expect(withTtl(6539)).toThrow(
      /environments\.staging\.lock\.ttlSeconds: the lock expires after 6539 s.*at least 6540/,
    );
    expect(withTtl(6540)).not.toThrow();
  });

  it('refuses a state machine name Step Functions would reject', () => {
    const stack = new Stack(new App(), 'S');
    expect(
      () =>
        new GuardianStateMachine(stack, 'M', {
          stateMachineName: 'guardian staging deploy',
          definition: new Pass(stack, 'P'),
          timeout: Duration.minutes(5),
        }),
    ).toThrow(/1-80 characters/);
  });
});

describe('definitions', () => {
  it.each(ENVIRONMENTS)(
    'never names a parameter with a doubled .$ in %s (a path CDK suffixed twice reads nothing)',
    (env) => {
      for (const kind of ['deploy', 'rollback'] as const) {
        const doubled = JSON.stringify(definitionOf(env, kind)).match(/"[^"]*\.\$\.\$"/g) ?? [];
        expect(doubled, `${env} ${kind}`).toEqual([]);
      }
    },
  );

  it.each(ENVIRONMENTS)('has exactly the documented Deploy states in %s', (env) => {
    const d = definitionOf(env, 'deploy');
    expect(Object.keys(d.States).sort()).toEqual([...DEPLOY_STATES].sort());
    expect(d.StartAt).toBe('Preflight checks');
  });

  it.each(ENVIRONMENTS)('has exactly the documented Rollback states in %s', (env) => {
    const d = definitionOf(env, 'rollback');
    expect(Object.keys(d.States).sort()).toEqual([...ROLLBACK_STATES].sort());
    expect(d.StartAt).toBe('Prepare rollback');
  });

  it.each(ENVIRONMENTS)('passes amazon states language validation in %s', (env) => {
    for (const kind of ['deploy', 'rollback'] as const) {
      // asl-validator fills in QueryLanguage on the object it is given.
      const result = aslValidator(structuredClone(definitionOf(env, kind)));
      expect(result.errorsText('\n')).toBe('');
      expect(result.isValid).toBe(true);
    }
  });

  it('uses JSONPath everywhere, never JSONata', () => {
    for (const env of ENVIRONMENTS) {
      for (const kind of ['deploy', 'rollback'] as const) {
        const d = definitionOf(env, kind);
        expect(d.QueryLanguage ?? 'JSONPath').toBe('JSONPath');
        for (const state of Object.values(d.States))
          expect(state.QueryLanguage ?? 'JSONPath').toBe('JSONPath');
      }
    }
  });

  it('retries TransientError with backoff and keeps the Lambda service retries on every Lambda task', () => {
    for (const env of ENVIRONMENTS) {
      for (const kind of ['deploy', 'rollback'] as const) {
        const tasks = lambdaTasks(definitionOf(env, kind));
        expect(tasks.length).toBeGreaterThanOrEqual(5);
        for (const [, task] of tasks) {
          const retry = task.Retry as { ErrorEquals: string[] }[];
          expect(retry).toContainEqual({
            ErrorEquals: ['TransientError'],
            IntervalSeconds: 2,
            BackoffRate: 2,
            MaxAttempts: 5,
          });
          expect(retry.some((r) => r.ErrorEquals.includes('Lambda.ServiceException'))).toBe(true);
        }
      }
    }
  });

  it('puts every caught failure in $.failure (the failed-rollback record keeps the original one)', () => {
    for (const env of ENVIRONMENTS) {
      for (const kind of ['deploy', 'rollback'] as const) {
        // A signal wait's States.Timeout is its normal end, not a failure: it carries nothing.
        const catches = Object.entries(definitionOf(env, kind).States)
          .filter(([name]) => name !== 'Record failed rollback')
          .flatMap(([, s]) => (s.Catch as { ErrorEquals: string[]; ResultPath: string }[] | undefined) ?? [])
          .filter((c) => c.ErrorEquals.join() !== 'States.Timeout');
        expect(catches.length).toBeGreaterThan(3);
        for (const c of catches) expect(c.ResultPath).toBe('$.failure');
      }
    }
  });

  it('routes Deploy failures as the workflow contract says', () => {
    const d = definitionOf('staging', 'deploy');
    expect(stateOf(d, 'Preflight checks').Catch).toEqual([
      { ErrorEquals: [...REFUSAL_ERRORS], ResultPath: '$.failure', Next: 'Deployment refused' },
      { ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'Preflight failed' },
    ]);
    for (const name of ['Set image', 'Check rollout status', 'Enhanced health check', 'Canary round']) {
      expect(stateOf(d, name).Catch).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'Roll back to previous revision' },
      ]);
    }
    expect(stateOf(d, 'Rollout failed')).toMatchObject({
      Type: 'Pass',
      Parameters: { Error: 'RolloutFailedError', 'Cause.$': '$.rollout.message' },
      ResultPath: '$.failure',
      Next: 'Roll back to previous revision',
    });
    expect(stateOf(d, 'Rollout complete?')).toMatchObject({
      Choices: [
        { Variable: '$.rollout.phase', StringEquals: 'complete', Next: 'Enhanced health check' },
        { Variable: '$.rollout.phase', StringEquals: 'failed', Next: 'Rollout failed' },
      ],
      Default: 'Wait for rollout',
    });
    expect(stateOf(d, 'Dry run?')).toMatchObject({
      Choices: [{ Variable: '$.deployment.dryRun', BooleanEquals: true, Next: 'Dry run complete' }],
      Default: 'Back up database',
    });
    // The backup comes first (the runbook's step 1); failing or timing out ends the deployment
    // before anything changes, and an available snapshot leads on to the metrics baseline.
    for (const name of ['Back up database', 'Check snapshot']) {
      expect(stateOf(d, name).Catch).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'Backup failed' },
      ]);
    }
    expect(stateOf(d, 'Back up database').Next).toBe('Wait for snapshot');
    expect(stateOf(d, 'Snapshot available?')).toMatchObject({
      Choices: [{ Variable: '$.backup.outcome', StringEquals: 'available', Next: 'Metrics baseline' }],
      Default: 'Wait for snapshot',
    });
    expect(stateOf(d, 'Wait for snapshot')).toMatchObject({
      Type: 'Wait',
      Seconds: 30,
      Next: 'Check snapshot',
    });
    // The baseline is read before anything changes; failing to read it ends the deployment there.
    expect(stateOf(d, 'Capture metrics baseline').Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'Metrics baseline failed' },
    ]);
    expect(stateOf(d, 'Baseline complete?')).toMatchObject({
      Choices: [{ Variable: '$.baseline.outcome', StringEquals: 'ready', Next: 'Set image' }],
      Default: 'Wait for next baseline scrape',
    });
    expect(stateOf(d, 'Enhanced health check').Next).toBe('Canary analysis');
    expect(stateOf(d, 'Canary verdict?')).toMatchObject({
      Choices: [
        { Variable: '$.canary.outcome', StringEquals: 'continue', Next: 'Wait for next canary round' },
        { Variable: '$.canary.outcome', StringEquals: 'pass', Next: 'Post-deployment monitoring' },
        { Variable: '$.canary.outcome', StringEquals: 'inconclusive', Next: 'Hold for operator decision' },
      ],
      // fail, marginal: roll back with the per-metric explanation.
      Default: 'Canary failed',
    });
    expect(stateOf(d, 'Canary failed')).toMatchObject({
      Type: 'Pass',
      Parameters: { Error: 'CanaryFailedError', 'Cause.$': '$.canary.reason' },
      ResultPath: '$.failure',
      Next: 'Roll back to previous revision',
    });
    // The hold: an approval (task success) goes on to monitoring, a rejection (task failure) rolls
    // back, and no decision in time rolls back too.
    const hold = stateOf(d, 'Hold for operator decision');
    expect(hold).toMatchObject({ TimeoutSeconds: 1800, Next: 'Post-deployment monitoring' });
    expect(hold.Catch).toEqual([
      { ErrorEquals: ['States.Timeout'], ResultPath: '$.failure', Next: 'Hold expired' },
      { ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'Roll back to previous revision' },
    ]);
    expect(stateOf(d, 'Hold expired')).toMatchObject({ Next: 'Roll back to previous revision' });
    expect(stateOf(d, 'Deployment rolled back')).toMatchObject({
      Type: 'Fail',
      Error: 'DeploymentRolledBack',
      CausePath: '$.failure.Cause',
    });
    expect(stateOf(d, 'Deployment refused')).toMatchObject({
      Type: 'Fail',
      ErrorPath: '$.failure.Error',
      CausePath: '$.failure.Cause',
    });
  });

  it('runs the Rollback state machine as a linked child execution and waits for it', () => {
    const d = definitionOf('production', 'deploy');
    expect(stateOf(d, 'Roll back to previous revision')).toEqual({
      Type: 'Task',
      Resource: 'arn:aws:states:::states:startExecution.sync:2',
      Parameters: {
        StateMachineArn: localStateMachineArn('guardian-production-rollback'),
        // The child execution is named after the deployment (ROLLBACK_CHILD_SUFFIX).
        'Name.$': "States.Format('{}-rollback', $$.Execution.Name)",
        Input: {
          'environment.$': '$.deployment.environment',
          'deploymentId.$': '$.deployment.deploymentId',
          'reason.$': '$.failure.Cause',
          trigger: 'deploy-failure',
          requestedBy: 'guardian',
          'AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$': '$$.Execution.Id',
        },
      },
      ResultPath: '$.rollbackExecution',
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'Record failed rollback' }],
      Next: 'Deployment rolled back',
    });
    expect(stateOf(d, 'Record failed rollback')).toMatchObject({
      Parameters: { 'deployment.$': '$.deployment', outcome: 'rollback-failed', 'failure.$': '$.failure' },
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.recordFailure', Next: 'Rollback failed' }],
      Next: 'Rollback failed',
    });
  });

  it('routes Rollback failures to the failure record', () => {
    const d = definitionOf('staging', 'rollback');
    expect(stateOf(d, 'Prepare rollback').Catch).toEqual([
      { ErrorEquals: [...REFUSAL_ERRORS], ResultPath: '$.failure', Next: 'Rollback refused' },
      { ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'Rollback refused' },
    ]);
    for (const name of [
      'Undo to previous revision',
      'Check rollback status',
      'Verify health after rollback',
    ]) {
      expect(stateOf(d, name).Catch).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'Record rollback failure' },
      ]);
    }
    expect(stateOf(d, 'Prepare rollback').Next).toBe('Start rollback');
    expect(stateOf(d, 'Start rollback')).toEqual({
      Type: 'Pass',
      Result: {},
      ResultPath: '$.rollout',
      Next: 'Undo to previous revision',
    });
    expect(stateOf(d, 'Rollback did not complete')).toMatchObject({ Next: 'Record rollback failure' });
    expect(stateOf(d, 'Record rollback failure')).toMatchObject({ Next: 'Rollback failed' });
    expect(stateOf(d, 'Record rollback')).toMatchObject({ Next: 'Rolled back' });
  });

  it.each([
    ['staging', 10],
    ['production', 15],
  ] as const)('waits the configured poll interval between rollout checks in %s (%i s)', (env, seconds) => {
    // The Deploy's wait is one an alarm can end: the await-signal task, timing out after the interval.
    expect(stateOf(definitionOf(env, 'deploy'), 'Wait for rollout')).toMatchObject({
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      TimeoutSeconds: seconds,
    });
    expect(stateOf(definitionOf(env, 'rollback'), 'Wait for rollback').Seconds).toBe(seconds);
  });

  it('retries a failed health check at the configured interval until the attempts are spent', () => {
    const hc = synthesized().config.environments.staging?.healthCheck;
    for (const [kind, name] of [
      ['deploy', 'Enhanced health check'],
      ['rollback', 'Verify health after rollback'],
    ] as const) {
      expect(stateOf(definitionOf('staging', kind), name).Retry).toContainEqual({
        ErrorEquals: ['HealthCheckFailedError'],
        IntervalSeconds: hc?.intervalSeconds,
        MaxAttempts: (hc?.attempts ?? 0) - 1,
        BackoffRate: 1,
      });
    }
  });

  it('hands each step exactly its documented event and binds the task to that step', () => {
    const t = templateOf('staging');
    const stepOf = stepFunctionsOfTemplate(t);
    const expected: Record<string, [string, Record<string, unknown>, string | undefined]> = {
      'Preflight checks': ['preflight', { 'input.$': '$', 'execution.$': '$$.Execution' }, '$.deployment'],
      'Set image': ['set-image', { 'deployment.$': '$.deployment' }, '$.setImage'],
      'Back up database': ['backup', { 'deployment.$': '$.deployment', phase: 'start' }, '$.backup'],
      'Check snapshot': ['backup', { 'deployment.$': '$.deployment', phase: 'check' }, '$.backup'],
      'Check rollout status': [
        'rollout-status',
        { 'target.$': '$.deployment', 'rolloutDeadlineAt.$': '$.setImage.rolloutDeadlineAt' },
        '$.rollout',
      ],
      'Enhanced health check': ['health-check', { 'target.$': '$.deployment' }, '$.health'],
      'Wait for rollout': [
        'await-signal',
        { 'deployment.$': '$.deployment', 'token.$': '$$.Task.Token', phase: 'rollout' },
        undefined,
      ],
      'Wait for next monitoring round': [
        'await-signal',
        { 'deployment.$': '$.deployment', 'token.$': '$$.Task.Token', phase: 'monitoring' },
        undefined,
      ],
      'Capture metrics baseline': [
        'canary-round',
        { 'deployment.$': '$.deployment', phase: 'baseline', 'canary.$': '$.baseline.state' },
        '$.baseline',
      ],
      'Canary round': [
        'canary-round',
        {
          'deployment.$': '$.deployment',
          phase: 'canary',
          'canary.$': '$.canary.state',
          'baseline.$': '$.baseline.state',
        },
        '$.canary',
      ],
      'Wait for next canary round': [
        'await-signal',
        { 'deployment.$': '$.deployment', 'token.$': '$$.Task.Token', phase: 'canary' },
        undefined,
      ],
      'Hold for operator decision': [
        'await-signal',
        { 'deployment.$': '$.deployment', 'token.$': '$$.Task.Token', phase: 'hold' },
        undefined,
      ],
      'Monitoring round': [
        'monitor-round',
        { 'deployment.$': '$.deployment', 'monitoring.$': '$.monitoring.state' },
        '$.monitoring',
      ],
      'Record deployment': [
        'record-deployment',
        { 'deployment.$': '$.deployment', 'rollout.$': '$.rollout', 'health.$': '$.health' },
        '$.record',
      ],
      'Record failed rollback': [
        'record-deployment',
        { 'deployment.$': '$.deployment', outcome: 'rollback-failed', 'failure.$': '$.failure' },
        '$.record',
      ],
      'Prepare rollback': [
        'rollback-prepare',
        { 'input.$': '$', 'execution.$': '$$.Execution' },
        '$.rollback',
      ],
      'Undo to previous revision': ['rollback-apply', { 'rollback.$': '$.rollback' }, '$.apply'],
      'Check rollback status': ['rollout-status', { 'target.$': '$.rollback' }, '$.rollout'],
      'Verify health after rollback': ['health-check', { 'target.$': '$.rollback' }, '$.health'],
      'Record rollback': [
        'rollback-finish',
        { 'rollback.$': '$.rollback', outcome: 'rolled-back', 'rollout.$': '$.rollout' },
        '$.record',
      ],
      'Record rollback failure': [
        'rollback-finish',
        {
          'rollback.$': '$.rollback',
          outcome: 'rollback-failed',
          'rollout.$': '$.rollout',
          'failure.$': '$.failure',
        },
        '$.record',
      ],
    };
    const tasks = [
      ...lambdaTasks(definitionOf('staging', 'deploy')),
      ...lambdaTasks(definitionOf('staging', 'rollback')),
    ];
    expect(tasks.map(([n]) => n).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, task] of tasks) {
      const [step, parameters, resultPath] = expected[name] ?? [];
      // A `.waitForTaskToken` task names its function and payload in Parameters; its result is discarded.
      const waits = String(task.Resource).endsWith('.waitForTaskToken');
      const p = task.Parameters as { FunctionName?: string; Payload?: unknown } | undefined;
      const logicalId = String(waits ? p?.FunctionName : task.Resource).split(':function:')[1] ?? '';
      expect(stepOf[logicalId], name).toBe(step);
      expect(waits ? p?.Payload : task.Parameters, name).toEqual(parameters);
      expect(task.ResultPath ?? undefined, name).toBe(resultPath);
    }
  });
});

describe('Rollback definition run locally', () => {
  /** Runs the synthesized staging Rollback definition with local stand-ins for its Lambda tasks. */
  async function runRollback(
    handlers: Record<string, (input: JSONValue) => JSONValue>,
  ): Promise<{ finish: JSONValue[]; error?: unknown }> {
    const finish: JSONValue[] = [];
    const record = (input: JSONValue): JSONValue => {
      finish.push(input);
      return { message: 'recorded' };
    };
    const machine = new StateMachine(structuredClone(definitionOf('staging', 'rollback')) as never, {
      validationOptions: { checkArn: false },
    });
    const { result } = machine.run(
      { environment: 'staging', trigger: 'manual', reason: 'bad release', requestedBy: 'alice' },
      {
        overrides: {
          taskResourceLocalHandlers: {
            'Prepare rollback': () => ({ rollbackId: 'rb-1' }),
            'Record rollback': record,
            'Record rollback failure': record,
            ...handlers,
          },
          waitTimeOverrides: { 'Wait for rollback': 0 },
        },
      },
    );
    try {
      await result;
      return { finish };
    } catch (error) {
      return { finish, error };
    }
  }

  it('records a failed undo with an empty rollout status instead of failing on the missing path', async () => {
    const { finish, error } = await runRollback({
      'Undo to previous revision': () => {
        throw new Error('cluster unreachable');
      },
    });
    // The execution ends in "Rollback failed", not in a States.Runtime error on `$.rollout`.
    expect((error as Error | undefined)?.cause).toMatchObject({
      name: 'RollbackFailed',
      message: expect.stringContaining('cluster unreachable'),
    });
    expect(finish).toEqual([
      {
        rollback: { rollbackId: 'rb-1' },
        outcome: 'rollback-failed',
        rollout: {},
        failure: expect.objectContaining({ Cause: expect.stringContaining('cluster unreachable') }),
      },
    ]);
  });

  it('hands the last rollout status to the rollback record', async () => {
    const rollout = { phase: 'complete', revision: 7, message: 'rolled out' };
    const { finish, error } = await runRollback({
      'Undo to previous revision': () => ({ message: 'undone', revision: 7 }),
      'Check rollback status': () => rollout,
      'Verify health after rollback': () => ({ healthy: true }),
    });
    expect(error).toBeUndefined();
    expect(finish).toEqual([{ rollback: { rollbackId: 'rb-1' }, outcome: 'rolled-back', rollout }]);
  });
});

describe('template helpers', () => {
  it('substitutes pseudo parameters and resource references with local placeholders', () => {
    const t = templateOf('staging');
    const [fnId] = Object.keys(stepFunctionsOfTemplate(t));
    expect(
      resolveIntrinsics(
        {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':x:',
              { Ref: 'AWS::Region' },
              ':',
              { Ref: 'AWS::AccountId' },
            ],
          ],
        },
        t,
        { region: 'eu-west-1' },
      ),
    ).toBe('arn:aws:x:eu-west-1:000000000000');
    expect(resolveIntrinsics({ 'Fn::GetAtt': [fnId, 'Arn'] }, t)).toBe(
      `arn:aws:lambda:ap-southeast-1:000000000000:function:${fnId}`,
    );
  });

  it('gives the local runner a handler ARN for every Lambda task and CreateTable-ready tables', () => {
    const { app } = synthesized();
    const stack = app.stacks.production;
    if (!stack) throw new Error('no production stack');
    const template = app.app.synth().getStackByName(stack.stackName).template as Record<string, unknown>;
    const info = stackTemplateInfo(template, { region: stack.region });
    const arns = new Set(info.functions.map((f) => f.arn));
    const resources = info.stateMachines.flatMap((m) =>
      Object.values(m.definition.States)
        .filter((s) => s.Type === 'Task')
        .map((s) => String(s.Resource)),
    );
    for (const r of resources.filter((x) => x.includes(':function:'))) expect(arns).toContain(r);
    expect(info.stateMachines.map((m) => m.name).sort()).toEqual([
      'guardian-production-deploy',
      'guardian-production-escalation',
      'guardian-production-rollback',
    ]);
    const deployments = info.tables.find((t) => t.role === 'deployments');
    expect(Object.keys(deployments?.properties ?? {}).sort()).toEqual([
      'AttributeDefinitions',
      'BillingMode',
      'GlobalSecondaryIndexes',
      'KeySchema',
      'TableName',
    ]);
    const preflight = info.functions.find((f) => f.stepId === 'preflight');
    expect(preflight?.environment.DEPLOYMENTS_TABLE).toEqual({ Ref: deployments?.logicalId });
  });

  it('names the resource a reference points at when it is not in the template', () => {
    expect(() => resolveIntrinsics({ Ref: 'Nope' }, templateOf('staging'))).toThrow(/no resource 'Nope'/);
  });
});
