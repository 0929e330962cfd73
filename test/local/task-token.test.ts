/**
 * `.waitForTaskToken` tasks, Task time limits and StopExecution in the local executor, on small
 * state machines synthesized by the CDK (JSONPath), the way the escalation chain (page, wait for
 * an acknowledgement up to N minutes, next level) and the post-deployment monitoring phase
 * (ended by an alarm failing the token it waits on) will use them. Assertions are on the
 * execution's outcome, its events and the simulated clock.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config/load.ts';
import { SimulatedClock } from '../../lib/local/clock.ts';
import {
  type LocalExecutionResult,
  LocalExecutor,
  type LocalExecutorOptions,
  type LocalTaskHandler,
  StopExecutionError,
  TaskTokenError,
} from '../../lib/local/executor.ts';
import { LocalGuardian } from '../../lib/local/guardian.ts';
import { connectStateService, stopStateService } from '../../lib/local/state-service.ts';
import { serveWorkflows } from '../../lib/local/task-relay.ts';
import { localLambdaArn, stateMachineDefinitions } from '../../lib/template.ts';

const START = new Date('2026-03-02T09:00:00Z');
const at = (seconds: number) => new Date(START.getTime() + seconds * 1000);

/** A CDK stack with one `Page` function and one state machine built by `build`. */
function synthesize(build: (scope: Stack, page: lambda.IFunction) => sfn.IChainable): {
  definition: Record<string, unknown>;
  pageArn: string;
} {
  const stack = new Stack(new App(), 'TokenTest', {
    env: { account: '000000000000', region: 'ap-southeast-1' },
  });
  const page = new lambda.Function(stack, 'Page', {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => ({});'),
  });
  new sfn.StateMachine(stack, 'Machine', {
    stateMachineName: 'token-test',
    definitionBody: sfn.DefinitionBody.fromChainable(build(stack, page)),
  });
  const template = Template.fromStack(stack);
  const [machine] = Object.values(stateMachineDefinitions(template));
  const [pageId] = Object.keys(template.findResources('AWS::Lambda::Function'));
  if (!machine || !pageId) throw new Error('the test stack has no state machine or function');
  return { definition: machine.definition, pageArn: localLambdaArn(pageId) };
}

/** The escalation's shape: page with a token, wait for the acknowledgement up to `timeout`. */
function pageAndWait(
  scope: Stack,
  page: lambda.IFunction,
  id: string,
  props: Partial<tasks.LambdaInvokeProps> = {},
): tasks.LambdaInvoke {
  return new tasks.LambdaInvoke(scope, id, {
    lambdaFunction: page,
    integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
    payload: sfn.TaskInput.fromObject({
      token: sfn.JsonPath.taskToken,
      level: id,
      incident: sfn.JsonPath.stringAt('$.incident'),
    }),
    resultPath: '$.ack',
    ...props,
  });
}

/** What the `Page` function was given, one entry per call, and a way to await the next call. */
function pager() {
  const pages: { token: string; level: string; incident: string; simSeconds: number }[] = [];
  const waiters: ((page: (typeof pages)[number]) => void)[] = [];
  let clock: SimulatedClock | undefined;
  const handler: LocalTaskHandler = async (input) => {
    const p = input as { token: string; level: string; incident: string };
    const page = { ...p, simSeconds: clock ? (clock.now().getTime() - START.getTime()) / 1000 : 0 };
    pages.push(page);
    for (const w of waiters.splice(0)) w(page);
    return { paged: p.level };
  };
  return {
    pages,
    handler,
    /** Resolves with the next page (or the `n`-th, counting from 1, if already made). */
    page: (n: number) =>
      pages[n - 1]
        ? Promise.resolve(pages[n - 1] as (typeof pages)[number])
        : new Promise<(typeof pages)[number]>((resolve) => {
            const check = () =>
              pages[n - 1] ? resolve(pages[n - 1] as (typeof pages)[number]) : waiters.push(check);
            waiters.push(check);
          }),
    useClock: (c: SimulatedClock) => {
      clock = c;
    },
  };
}

/** An executor on a fresh simulated clock at START running one synthesized state machine. */
function local(
  synthesized: { definition: Record<string, unknown>; pageArn: string },
  page: LocalTaskHandler,
  more: Partial<LocalExecutorOptions> = {},
) {
  const clock = new SimulatedClock(START);
  const executor = new LocalExecutor({
    clock,
    lambdas: new Map([[synthesized.pageArn, page]]),
    stateMachines: [
      {
        name: 'token-test',
        arn: 'arn:aws:states:ap-southeast-1:000000000000:stateMachine:token-test',
        definition: synthesized.definition,
      },
    ],
    ...more,
  });
  return { clock, executor };
}

const failedAt = (result: LocalExecutionResult, state: string) =>
  result.events.filter((e) => e.type === 'StateFailed' && e.state === state).map((e) => e.simSeconds);

describe('waitForTaskToken tasks in the local executor', () => {
  it('resumes with the output sent for the token its function was given', async () => {
    const p = pager();
    const { executor } = local(
      synthesize((scope, page) => pageAndWait(scope, page, 'PageOnCall')),
      p.handler,
    );
    const running = executor.run('token-test', { incident: 'inc-1' });
    const { token, level, incident } = await p.page(1);
    expect(token).toMatch(/^[A-Za-z0-9_-]{64}$/);
    expect({ level, incident }).toEqual({ level: 'PageOnCall', incident: 'inc-1' });
    executor.sendTaskSuccess(token, { acknowledgedBy: 'alice' });
    const result = await running;
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toEqual({ incident: 'inc-1', ack: { acknowledgedBy: 'alice' } });
  });

  it('goes to the Catch when the token is failed, as an alarm ends the monitoring phase', async () => {
    const p = pager();
    const { executor } = local(
      synthesize((scope, page) =>
        pageAndWait(scope, page, 'Monitor')
          .addCatch(new sfn.Pass(scope, 'RollBack'), { errors: ['AlarmFired'], resultPath: '$.alarm' })
          .next(new sfn.Succeed(scope, 'Promoted')),
      ),
      p.handler,
    );
    const running = executor.run('token-test', { incident: 'inc-2' });
    executor.sendTaskFailure((await p.page(1)).token, 'AlarmFired', 'HighErrorRate went to ALARM');
    const result = await running;
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toEqual({
      incident: 'inc-2',
      alarm: { Error: 'AlarmFired', Cause: 'HighErrorRate went to ALARM' },
    });
    expect(result.events.filter((e) => e.type === 'StateEntered').map((e) => e.state)).toEqual([
      'Monitor',
      'RollBack',
    ]);
  });

  it('times out after exactly its TimeoutSeconds of simulated time, and Retry and Catch see States.Timeout', async () => {
    const p = pager();
    const { executor, clock } = local(
      synthesize((scope, page) =>
        pageAndWait(scope, page, 'PageOnCall', { taskTimeout: sfn.Timeout.duration(Duration.minutes(10)) })
          .addRetry({ errors: ['States.TaskFailed'], maxAttempts: 5 })
          .addRetry({ errors: ['States.Timeout'], maxAttempts: 1, interval: Duration.seconds(30) })
          .addCatch(pageAndWait(scope, page, 'PageLead'), {
            errors: ['States.Timeout'],
            resultPath: '$.expired',
          }),
      ),
      p.handler,
    );
    p.useClock(clock);
    const running = executor.run('token-test', { incident: 'inc-3' });
    // The lead's page has no limit: it waits until acknowledged.
    executor.sendTaskSuccess((await p.page(3)).token, { by: 'lead' });
    const result = await running;
    expect(result.status).toBe('SUCCEEDED');
    expect(p.pages.map((x) => [x.level, x.simSeconds])).toEqual([
      ['PageOnCall', 0],
      ['PageOnCall', 630],
      ['PageLead', 1230],
    ]);
    expect(failedAt(result, 'PageOnCall')).toEqual([600, 1230]);
    expect(result.output).toMatchObject({ expired: { Error: 'States.Timeout' }, ack: { by: 'lead' } });
  }, 20_000);

  it('reads TimeoutSecondsPath from the state input and fails with States.Runtime when it selects no whole number', async () => {
    const synthesized = synthesize((scope, page) =>
      pageAndWait(scope, page, 'PageOnCall', {
        taskTimeout: sfn.Timeout.at('$.policy.ackWithinSeconds'),
      }).addCatch(new sfn.Pass(scope, 'Escalate'), { errors: ['States.ALL'], resultPath: '$.expired' }),
    );
    const p = pager();
    const { executor, clock } = local(synthesized, p.handler);
    const result = await executor.run('token-test', {
      incident: 'inc-4',
      policy: { ackWithinSeconds: 1800 },
    });
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({ expired: { Error: 'States.Timeout' } });
    expect(clock.now()).toEqual(at(1800));
    // The function got the Parameters as the definition builds them, not the limits.
    expect(p.pages[0]).toMatchObject({ level: 'PageOnCall', incident: 'inc-4' });

    const bad = await local(synthesized, p.handler).executor.run('token-test', {
      incident: 'inc-5',
      policy: { ackWithinSeconds: '30 minutes' },
    });
    expect(bad.status).toBe('FAILED');
    expect(bad.error).toBe('States.Runtime');
    expect(bad.cause).toContain('TimeoutSecondsPath');
  });

  it('waits longer for a task that sends heartbeats in time, and times it out when they stop', async () => {
    const p = pager();
    const { executor, clock } = local(
      synthesize((scope, page) =>
        pageAndWait(scope, page, 'Soak', {
          heartbeatTimeout: sfn.Timeout.duration(Duration.seconds(60)),
          taskTimeout: sfn.Timeout.duration(Duration.hours(1)),
        }),
      ),
      p.handler,
    );
    const running = executor.run('token-test', { incident: 'inc-6' });
    const { token } = await p.page(1);
    // Heartbeats at 50, 100 and 150 s (each within 60 s of the last), then silence.
    for (const s of [50, 100, 150]) clock.at(at(s), () => executor.sendTaskHeartbeat(token));
    const result = await running;
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('States.Timeout');
    expect(result.cause).toContain('HeartbeatSeconds (60 s)');
    expect(failedAt(result, 'Soak')).toEqual([210]);
  });

  it('lets an acknowledgement at 5 minutes stop the chain before the 10-minute limit', async () => {
    const p = pager();
    const { executor, clock } = local(
      synthesize((scope, page) =>
        pageAndWait(scope, page, 'PageOnCall', {
          taskTimeout: sfn.Timeout.duration(Duration.minutes(10)),
        }).addCatch(pageAndWait(scope, page, 'PageLead'), { errors: ['States.Timeout'] }),
      ),
      p.handler,
    );
    const running = executor.run('token-test', { incident: 'inc-7' });
    const { token } = await p.page(1);
    clock.at(at(300), () => executor.sendTaskSuccess(token, { by: 'on-call' }));
    const result = await running;
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({ ack: { by: 'on-call' } });
    expect(p.pages.map((x) => x.level)).toEqual(['PageOnCall']);
    expect(clock.now()).toEqual(at(300));
  });

  it('keeps two waiting tasks with different tokens apart', async () => {
    const p = pager();
    const { executor } = local(
      synthesize((scope, page) =>
        new sfn.Parallel(scope, 'Both', { resultPath: '$.acks' })
          .branch(pageAndWait(scope, page, 'PageSlack', { resultSelector: { 'slack.$': '$' } }))
          .branch(pageAndWait(scope, page, 'PagePagerDuty', { resultSelector: { 'pagerduty.$': '$' } })),
      ),
      p.handler,
    );
    const first = executor.run('token-test', { incident: 'inc-8' });
    const second = executor.run('token-test', { incident: 'inc-9' });
    await p.page(4);
    const tokenOf = (incident: string, level: string) =>
      p.pages.find((x) => x.incident === incident && x.level === level)?.token as string;
    expect(new Set(p.pages.map((x) => x.token)).size).toBe(4);
    executor.sendTaskSuccess(tokenOf('inc-9', 'PagePagerDuty'), 'pd-9');
    executor.sendTaskSuccess(tokenOf('inc-8', 'PageSlack'), 'slack-8');
    executor.sendTaskFailure(tokenOf('inc-9', 'PageSlack'), 'SlackDown', 'webhook answered 500');
    executor.sendTaskSuccess(tokenOf('inc-8', 'PagePagerDuty'), 'pd-8');
    const [one, two] = await Promise.all([first, second]);
    expect(one.status).toBe('SUCCEEDED');
    expect(one.output).toMatchObject({
      acks: [{ ack: { slack: 'slack-8' } }, { ack: { pagerduty: 'pd-8' } }],
    });
    expect(two.status).toBe('FAILED');
    expect(two.error).toBe('SlackDown');
  });

  it('refuses a token sent twice, one never issued and one that is not a token, with the Step Functions error names', async () => {
    const p = pager();
    const { executor } = local(
      synthesize((scope, page) => pageAndWait(scope, page, 'PageOnCall')),
      p.handler,
    );
    const running = executor.run('token-test', { incident: 'inc-10' });
    const { token } = await p.page(1);
    executor.sendTaskSuccess(token, { by: 'alice' });
    const errorOf = (send: () => void) => {
      try {
        send();
      } catch (err) {
        expect(err).toBeInstanceOf(TaskTokenError);
        return (err as Error).name;
      }
      return 'accepted';
    };
    expect(errorOf(() => executor.sendTaskSuccess(token, { by: 'bob' }))).toBe('TaskTimedOut');
    expect(errorOf(() => executor.sendTaskFailure(token, 'Late', 'after the ack'))).toBe('TaskTimedOut');
    expect(errorOf(() => executor.sendTaskHeartbeat('A'.repeat(64)))).toBe('TaskDoesNotExist');
    expect(errorOf(() => executor.sendTaskSuccess('not-a-token', {}))).toBe('InvalidToken');
    expect((await running).output).toMatchObject({ ack: { by: 'alice' } });
  });

  it('runs the generic <service>:<action>.waitForTaskToken form with the service stand-in it is given', async () => {
    const sent: unknown[] = [];
    let executor: LocalExecutor | undefined;
    const synthesized = synthesize(
      (scope) =>
        new tasks.SqsSendMessage(scope, 'AskApprover', {
          queue: new sqs.Queue(scope, 'Approvals'),
          integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
          messageBody: sfn.TaskInput.fromObject({
            token: sfn.JsonPath.taskToken,
            release: sfn.JsonPath.stringAt('$.release'),
          }),
          resultPath: '$.approval',
        }),
    );
    ({ executor } = local(synthesized, async () => ({}), {
      services: new Map([
        [
          'sqs:sendMessage',
          async (input) => {
            const body = (input as { MessageBody: { token: string } }).MessageBody;
            sent.push(body);
            // The consumer answers at once, before the send returns.
            executor?.sendTaskSuccess(body.token, { approved: true });
            return { MessageId: 'm-1' };
          },
        ],
      ]),
    }));
    const result = await executor.run('token-test', { release: 'v1.5.0' });
    expect(result.status).toBe('SUCCEEDED');
    expect(sent).toEqual([{ token: expect.stringMatching(/^[A-Za-z0-9_-]{64}$/), release: 'v1.5.0' }]);
    expect(result.output).toEqual({ release: 'v1.5.0', approval: { approved: true } });
  });
});

describe('stopExecution in the local executor', () => {
  it('ends an execution waiting on a token ABORTED with the error and cause given, and closes its token', async () => {
    const p = pager();
    const { executor } = local(
      synthesize((scope, page) =>
        pageAndWait(scope, page, 'Monitor', { taskTimeout: sfn.Timeout.duration(Duration.hours(1)) }),
      ),
      p.handler,
      { advanceWhenIdle: false },
    );
    const running = executor.run('token-test', { incident: 'inc-11' }, 'deploy-1');
    const { token } = await p.page(1);
    const arn = 'arn:aws:states:ap-southeast-1:000000000000:execution:token-test:deploy-1';
    await executor.stopExecution(arn, 'AlarmFired', 'HighErrorRate went to ALARM');
    const result = await running;
    expect(result.status).toBe('ABORTED');
    expect({ error: result.error, cause: result.cause }).toEqual({
      error: 'AlarmFired',
      cause: 'HighErrorRate went to ALARM',
    });
    expect(result.events.at(-1)?.type).toBe('ExecutionAborted');
    expect(() => executor.sendTaskSuccess(token, {})).toThrow(
      expect.objectContaining({ name: 'TaskTimedOut' }),
    );
    // Stopping it again leaves it as it ended; an unknown one does not exist.
    await expect(executor.stopExecution(arn)).resolves.toHaveProperty('stopDate');
    await expect(executor.stopExecution(`${arn}-other`)).rejects.toThrow(
      expect.objectContaining({ name: 'ExecutionDoesNotExist' }),
    );
    await expect(executor.stopExecution('deploy-1')).rejects.toBeInstanceOf(StopExecutionError);
  });
});

describe('stopExecution in the local guardian', () => {
  let guardian: LocalGuardian | undefined;
  afterEach(async () => {
    await guardian?.close();
    guardian = undefined;
  });

  it('ends a running Deploy ABORTED, and the janitor releases its lock and fails its record, as when an alarm stops it', async () => {
    const config = loadConfig();
    const repo = 'ghcr.io/buywhere/buywhere-api';
    const name = 'staging-v1-5-0-0000a1a1';
    const arn = `arn:aws:states:${config.environments.staging?.region}:000000000000:execution:guardian-staging-deploy:${name}`;
    let stopped: Promise<unknown> | undefined;
    guardian = await LocalGuardian.start({
      config,
      seedImages: { staging: `${repo}:v1.4.2`, production: `${repo}:v1.4.2` },
      onEvent: (e) => {
        if (!stopped && e.type === 'StateEntered' && e.state === 'Wait for rollout') {
          stopped = guardian?.stopExecution(arn, 'AlarmFired', 'HighErrorRate is in ALARM');
        }
      },
    });
    const result = await guardian.deploy(
      { environment: 'staging', image: `${repo}:v1.5.0`, trigger: 'ci', requestedBy: 'github-actions' },
      name,
    );
    await expect(stopped).resolves.toHaveProperty('stopDate');
    expect(result.status).toBe('ABORTED');
    expect({ error: result.error, cause: result.cause }).toEqual({
      error: 'AlarmFired',
      cause: 'HighErrorRate is in ALARM',
    });
    const store = guardian.store('staging');
    expect(await store.getLock('staging')).toBeUndefined();
    expect((await store.getRecord('staging', name))?.status).toBe('failed');
    await expect(guardian.stopExecution(arn.replace(name, 'never-ran'))).rejects.toThrow(
      expect.objectContaining({ name: 'ExecutionDoesNotExist' }),
    );
    await expect(guardian.sendTaskSuccess('C'.repeat(64), {})).rejects.toThrow(
      expect.objectContaining({ name: 'TaskDoesNotExist' }),
    );
  }, 60_000);
});

describe('task tokens between processes, through the local state service', () => {
  let stateDir: string | undefined;
  afterEach(async () => {
    if (!stateDir) return;
    await stopStateService(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
    stateDir = undefined;
  });

  /** Runs `sendThroughService` for each request, in order, in a second Node process; returns each outcome. */
  function sendFromAnotherProcess(controlUrl: string, requests: unknown[]): Promise<string[]> {
    const relay = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../lib/local/task-relay.ts');
    const script = `
      const { sendThroughService } = await import(${JSON.stringify(relay)});
      for (const request of ${JSON.stringify(requests)}) {
        try {
          await sendThroughService(${JSON.stringify(controlUrl)}, request);
          console.log('accepted');
        } catch (err) {
          console.log(err.name);
        }
      }`;
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0 ? resolve(out.trim().split('\n')) : reject(new Error(`exited ${code}: ${out}`)),
      );
    });
  }

  it('resumes an execution in this process with a token sent from another process', async () => {
    stateDir = mkdtempSync(path.join(tmpdir(), 'guardian-tokens-'));
    const info = await connectStateService(stateDir);
    const p = pager();
    let relay: Awaited<ReturnType<typeof serveWorkflows>> | undefined;
    const { executor } = local(
      synthesize((scope, page) =>
        pageAndWait(scope, page, 'PageOnCall', { taskTimeout: sfn.Timeout.duration(Duration.minutes(10)) }),
      ),
      p.handler,
      {
        // A real person acknowledges in real time: nothing moves the clock meanwhile.
        advanceWhenIdle: false,
        onTaskToken: async ({ token }) => relay?.registerToken(token),
      },
    );
    relay = await serveWorkflows(info.controlUrl, executor);
    try {
      const running = executor.run('token-test', { incident: 'inc-12' });
      const { token } = await p.page(1);
      expect(
        await sendFromAnotherProcess(info.controlUrl, [
          { op: 'sendTaskSuccess', token, output: { by: 'operator' } },
        ]),
      ).toEqual(['accepted']);
      const result = await running;
      expect(result.status).toBe('SUCCEEDED');
      expect(result.output).toMatchObject({ ack: { by: 'operator' } });

      // An alarm handled in another process stops an execution waiting here.
      const monitoring = executor.run('token-test', { incident: 'inc-13' }, 'monitor-1');
      await p.page(2);
      const arn = 'arn:aws:states:ap-southeast-1:000000000000:execution:token-test:monitor-1';
      const stop = { op: 'stopExecution', executionArn: arn, error: 'AlarmFired', cause: 'HighErrorRate' };
      expect(
        await sendFromAnotherProcess(info.controlUrl, [
          { op: 'sendTaskSuccess', token, output: { by: 'late' } },
          { op: 'sendTaskHeartbeat', token: 'B'.repeat(64) },
          { op: 'sendTaskFailure', token: 'short', error: 'X' },
          stop,
          { ...stop, executionArn: arn.replace('monitor-1', 'monitor-2') },
        ]),
      ).toEqual(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken', 'accepted', 'ExecutionDoesNotExist']);
      expect(await monitoring).toMatchObject({
        status: 'ABORTED',
        error: 'AlarmFired',
        cause: 'HighErrorRate',
      });
    } finally {
      await relay.close();
    }
  }, 60_000);
});
