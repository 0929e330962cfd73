import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../lib/local/clock.ts';
import {
  type LocalExecutionResult,
  LocalExecutor,
  type LocalStateMachine,
  type LocalTaskHandler,
  TaskTokenError,
  UnsupportedDefinitionError,
} from '../../lib/local/executor.ts';

const FN = 'arn:aws:lambda:ap-southeast-1:000000000000:function:Step';
const CHILD = 'arn:aws:states:ap-southeast-1:000000000000:stateMachine:child';
const PARENT = 'arn:aws:states:ap-southeast-1:000000000000:stateMachine:parent';

const child = {
  StartAt: 'Work',
  States: {
    Work: { Type: 'Task', Resource: FN, End: true },
  },
};

const parent = {
  StartAt: 'Pause',
  States: {
    Pause: { Type: 'Wait', Seconds: 30, Next: 'Flaky' },
    Flaky: {
      Type: 'Task',
      Resource: FN,
      ResultPath: '$.flaky',
      Retry: [{ ErrorEquals: ['TransientError'], IntervalSeconds: 2, BackoffRate: 2, MaxAttempts: 3 }],
      Next: 'Child',
    },
    Child: {
      Type: 'Task',
      Resource: 'arn:aws:states:::states:startExecution.sync:2',
      Parameters: { StateMachineArn: CHILD, 'Input.$': '$.childInput' },
      ResultPath: '$.child',
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'ChildFailed' }],
      End: true,
    },
    ChildFailed: { Type: 'Fail', ErrorPath: '$.failure.Error', CausePath: '$.failure.Cause' },
  },
};

const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';
const CALLBACK = 'arn:aws:states:::lambda:invoke.waitForTaskToken';

/** An executor for one hand-written definition, its only Lambda being `FN`. */
function single(
  definition: Record<string, unknown>,
  handler: LocalTaskHandler = async () => ({}),
  options: { clock?: SimulatedClock; realTime?: boolean; more?: LocalStateMachine[] } = {},
) {
  return new LocalExecutor({
    clock: options.clock ?? new SimulatedClock(new Date(0)),
    ...(options.realTime ? { realTime: true } : {}),
    lambdas: new Map([[FN, handler]]),
    stateMachines: [{ name: 'sm', arn: PARENT, definition }, ...(options.more ?? [])],
  });
}

/** A callback task that hands `$$.Task.Token` to FN and waits for it. */
function approval(extra: Record<string, unknown> = {}) {
  return {
    Type: 'Task',
    Resource: CALLBACK,
    Parameters: { FunctionName: FN, Payload: { 'token.$': '$$.Task.Token', 'release.$': '$.release' } },
    ResultPath: '$.approval',
    ...extra,
  };
}

/** A Lambda stand-in that records the token it is given and lets the test await it. */
function tokenInbox() {
  const tokens: string[] = [];
  let notify: (token: string) => void = () => undefined;
  let next = new Promise<string>((resolve) => {
    notify = resolve;
  });
  return {
    tokens,
    /** Resolves with the next token handed out. */
    next: () => next,
    handler: async (input: unknown) => {
      const token = (input as { token: string }).token;
      tokens.push(token);
      const done = notify;
      next = new Promise<string>((resolve) => {
        notify = resolve;
      });
      done(token);
      return { queued: true };
    },
  };
}

function stateEvents(result: LocalExecutionResult, type: string) {
  return result.events.filter((e) => e.type === type).map((e) => e.state);
}

function executor(handler: (input: unknown) => Promise<unknown>, clock = new SimulatedClock(new Date(0))) {
  return new LocalExecutor({
    clock,
    lambdas: new Map([[FN, handler]]),
    stateMachines: [
      { name: 'parent', arn: PARENT, definition: parent },
      { name: 'child', arn: CHILD, definition: child },
    ],
  });
}

describe('LocalExecutor', () => {
  it('advances the simulated clock by each Wait instead of sleeping', async () => {
    const clock = new SimulatedClock(new Date(0));
    const seen: number[] = [];
    const ex = executor(async () => {
      seen.push(clock.now().getTime());
      return { ok: true };
    }, clock);
    const result = await ex.run('parent', { childInput: { fail: false } });
    expect(result.status).toBe('SUCCEEDED');
    expect(seen[0]).toBe(30_000);
    expect(result.simSeconds).toBeGreaterThanOrEqual(30);
    expect(result.wallMs).toBeLessThan(30_000);
  });

  it('retries a TransientError and runs the nested execution to its output', async () => {
    let calls = 0;
    const ex = executor(async (input) => {
      calls++;
      if (calls === 1) {
        const err = new Error('throttled');
        err.name = 'TransientError';
        throw err;
      }
      return { echoed: input };
    });
    const result = await ex.run('parent', { childInput: { hello: 'world' } }, 'run-1');
    expect(result.status).toBe('SUCCEEDED');
    expect(result.events.some((e) => e.type === 'StateRetried' && e.state === 'Flaky')).toBe(true);
    const out = result.output as { child: { Status: string; Output: { echoed: unknown } } };
    expect(out.child.Status).toBe('SUCCEEDED');
    expect(out.child.Output.echoed).toEqual({ hello: 'world' });
    expect(result.events.some((e) => e.depth === 1 && e.state === 'Work')).toBe(true);
  });

  it('fails the parent task with States.TaskFailed when the child execution fails', async () => {
    const ex = executor(async (input) => {
      if ((input as { boom?: boolean }).boom) {
        const err = new Error('cluster unreachable');
        err.name = 'RolloutFailedError';
        throw err;
      }
      return {};
    });
    const result = await ex.run('parent', { childInput: { boom: true } });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('States.TaskFailed');
    expect(result.cause).toContain('RolloutFailedError');
  });

  it('refuses a JSONata definition instead of running it with JSONPath semantics', () => {
    expect(
      () =>
        new LocalExecutor({
          clock: new SimulatedClock(),
          lambdas: new Map(),
          stateMachines: [
            { name: 'x', arn: PARENT, definition: { QueryLanguage: 'JSONata', StartAt: 'A', States: {} } },
          ],
        }),
    ).toThrow(UnsupportedDefinitionError);
    expect(
      () =>
        new LocalExecutor({
          clock: new SimulatedClock(),
          lambdas: new Map(),
          stateMachines: [
            {
              name: 'x',
              arn: PARENT,
              definition: {
                StartAt: 'A',
                States: { A: { Type: 'Pass', QueryLanguage: 'JSONata', End: true } },
              },
            },
          ],
        }),
    ).toThrow(/state 'A' of x uses QueryLanguage JSONata/);
  });

  it('refuses a Task whose resource has no local handler', () => {
    expect(
      () =>
        new LocalExecutor({
          clock: new SimulatedClock(),
          lambdas: new Map(),
          stateMachines: [{ name: 'child', arn: CHILD, definition: child }],
        }),
    ).toThrow(/no local handler/);
  });

  it('really waits in real time and leaves the clock alone', async () => {
    const clock = new SimulatedClock(new Date(0));
    const ex = new LocalExecutor({
      clock,
      realTime: true,
      lambdas: new Map([[FN, async () => ({})]]),
      stateMachines: [
        {
          name: 'short',
          arn: PARENT,
          definition: { StartAt: 'Pause', States: { Pause: { Type: 'Wait', Seconds: 1, End: true } } },
        },
      ],
    });
    const result = await ex.run('short', {});
    expect(result.status).toBe('SUCCEEDED');
    // A real one-second pause (a lower bound, not a performance limit), and no simulated time.
    expect(result.wallMs).toBeGreaterThanOrEqual(990);
    expect(clock.now().getTime()).toBe(0);
  });

  it('refuses an unsupported Task resource, naming the state, the state machine, the resource and what runs', () => {
    const queue = 'arn:aws:states:::sqs:sendMessage';
    const build = () =>
      single({
        StartAt: 'Notify',
        States: { Notify: { Type: 'Task', Resource: queue, Parameters: { MessageBody: 'hi' }, End: true } },
      });
    expect(build).toThrow(UnsupportedDefinitionError);
    expect(build).toThrow(`state 'Notify' of sm uses resource ${queue}, which has no local handler`);
    expect(build).toThrow(
      /supports: a Lambda function ARN given in lambdas; arn:aws:states:::lambda:invoke .*waitForTaskToken.*startExecution\.sync/,
    );
  });

  it('refuses an unsupported resource nested in a Parallel branch before any execution starts', () => {
    expect(() =>
      single({
        StartAt: 'Both',
        States: {
          Both: {
            Type: 'Parallel',
            Branches: [
              { StartAt: 'Ok', States: { Ok: { Type: 'Task', Resource: FN, End: true } } },
              {
                StartAt: 'Publish',
                States: { Publish: { Type: 'Task', Resource: 'arn:aws:states:::sns:publish', End: true } },
              },
            ],
            End: true,
          },
        },
      }),
    ).toThrow(/state 'Publish' of sm uses resource arn:aws:states:::sns:publish/);
  });

  it('invokes a local Lambda through lambda:invoke and returns its result as Payload, as AWS does', async () => {
    const seen: unknown[] = [];
    const ex = single(
      {
        StartAt: 'Invoke',
        States: {
          Invoke: {
            Type: 'Task',
            Resource: LAMBDA_INVOKE,
            Parameters: { FunctionName: `${FN}:$LATEST`, 'Payload.$': '$.request' },
            ResultSelector: { 'answer.$': '$.Payload', 'status.$': '$.StatusCode' },
            ResultPath: '$.invoked',
            End: true,
          },
        },
      },
      async (input) => {
        seen.push(input);
        return { doubled: (input as { n: number }).n * 2 };
      },
    );
    const result = await ex.run('sm', { request: { n: 21 } });
    expect(result.status).toBe('SUCCEEDED');
    expect(seen).toEqual([{ n: 21 }]);
    expect(result.output).toEqual({ request: { n: 21 }, invoked: { answer: { doubled: 42 }, status: 200 } });
  });

  it('refuses lambda:invoke of a function that has no local handler', () => {
    expect(() =>
      single({
        StartAt: 'Invoke',
        States: {
          Invoke: {
            Type: 'Task',
            Resource: LAMBDA_INVOKE,
            Parameters: { FunctionName: 'arn:aws:lambda:ap-southeast-1:000000000000:function:Other' },
            End: true,
          },
        },
      }),
    ).toThrow(/state 'Invoke' of sm .*invokes function .*:function:Other, which has no local handler/);
  });

  it('returns a plain startExecution.sync child output as JSON text and .sync:2 as JSON', async () => {
    const start = (resource: string) => ({
      StartAt: 'Child',
      States: {
        Child: {
          Type: 'Task',
          Resource: resource,
          Parameters: { StateMachineArn: CHILD, Input: { n: 1 } },
          End: true,
        },
      },
    });
    const child = {
      name: 'child',
      arn: CHILD,
      definition: { StartAt: 'P', States: { P: { Type: 'Pass', End: true } } },
    };
    const plain = await single(start('arn:aws:states:::states:startExecution.sync'), undefined, {
      more: [child],
    }).run('sm', {});
    const v2 = await single(start('arn:aws:states:::states:startExecution.sync:2'), undefined, {
      more: [child],
    }).run('sm', {});
    expect(plain.output).toMatchObject({ Status: 'SUCCEEDED', Input: '{"n":1}', Output: '{"n":1}' });
    expect(v2.output).toMatchObject({ Status: 'SUCCEEDED', Input: { n: 1 }, Output: { n: 1 } });
  });

  it('pauses a waitForTaskToken task until sendTaskSuccess with the token its function received', async () => {
    const inbox = tokenInbox();
    const ex = single({ StartAt: 'Approve', States: { Approve: approval({ End: true }) } }, inbox.handler);
    const running = ex.run('sm', { release: 'v2' });
    const token = await inbox.next();
    expect(token).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    ex.sendTaskSuccess(token, { approvedBy: 'alice' });
    const result = await running;
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toEqual({ release: 'v2', approval: { approvedBy: 'alice' } });
    // The task has ended: its token is no longer accepted, and a made-up one never was.
    expect(() => ex.sendTaskSuccess(token, {})).toThrow(TaskTokenError);
    expect(() => ex.sendTaskHeartbeat(token)).toThrow(expect.objectContaining({ name: 'TaskTimedOut' }));
    expect(() => ex.sendTaskSuccess('made-up', {})).toThrow(
      expect.objectContaining({ name: 'InvalidToken' }),
    );
  });

  it('fails a waitForTaskToken task with the error and cause given to sendTaskFailure, which a Catch handles', async () => {
    const inbox = tokenInbox();
    const ex = single(
      {
        StartAt: 'Approve',
        States: {
          Approve: approval({
            Catch: [{ ErrorEquals: ['ApprovalDenied'], ResultPath: '$.denied', Next: 'Denied' }],
            End: true,
          }),
          Denied: { Type: 'Fail', ErrorPath: '$.denied.Error', CausePath: '$.denied.Cause' },
        },
      },
      inbox.handler,
    );
    const running = ex.run('sm', { release: 'v2' });
    ex.sendTaskFailure(await inbox.next(), 'ApprovalDenied', 'change freeze until Monday');
    const result = await running;
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('ApprovalDenied');
    expect(result.cause).toBe('change freeze until Monday');
    expect(stateEvents(result, 'StateCaught')).toEqual(['Approve']);
  });

  it('times out a waitForTaskToken task that gets no token while a Wait elsewhere moves the clock', async () => {
    const inbox = tokenInbox();
    const ex = single(
      {
        StartAt: 'Both',
        States: {
          Both: {
            Type: 'Parallel',
            Branches: [
              {
                StartAt: 'Approve',
                States: {
                  Approve: approval({
                    TimeoutSeconds: 300,
                    Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: '$.expired', Next: 'Expired' }],
                    End: true,
                  }),
                  Expired: { Type: 'Pass', End: true },
                },
              },
              {
                StartAt: 'Settle',
                States: {
                  Settle: { Type: 'Wait', Seconds: 1, Next: 'Soak' },
                  Soak: { Type: 'Wait', Seconds: 600, End: true },
                },
              },
            ],
            End: true,
          },
        },
      },
      inbox.handler,
    );
    const result = await ex.run('sm', { release: 'v2' });
    expect(result.status).toBe('SUCCEEDED');
    const [approved] = result.output as [{ expired: { Error: string; Cause: string } }];
    expect(approved.expired.Error).toBe('States.Timeout');
    expect(approved.expired.Cause).toContain('TimeoutSeconds (300 s)');
    expect(result.events.find((e) => e.type === 'StateFailed')).toMatchObject({
      state: 'Approve',
      error: 'States.Timeout',
    });
    expect(result.simSeconds).toBe(601);
    expect(result.wallMs).toBeLessThan(300_000);
    expect(() => ex.sendTaskSuccess(inbox.tokens[0] as string, {})).toThrow(
      expect.objectContaining({ name: 'TaskTimedOut' }),
    );
  });

  it('keeps a waitForTaskToken task alive on heartbeats and times it out when they stop', async () => {
    const clock = new SimulatedClock(new Date(0));
    const inbox = tokenInbox();
    const ex = single(
      {
        StartAt: 'Approve',
        States: { Approve: approval({ HeartbeatSeconds: 60, TimeoutSeconds: 3600, End: true }) },
      },
      inbox.handler,
      { clock },
    );
    const running = ex.run('sm', { release: 'v2' });
    const token = await inbox.next();
    for (let i = 0; i < 3; i++) {
      clock.advance(50);
      ex.sendTaskHeartbeat(token); // still waiting at 50, 100, 150 s: each heartbeat was in time
    }
    clock.advance(59);
    ex.sendTaskHeartbeat(token);
    clock.advance(60); // 60 s of silence: the limit, reached
    const result = await running;
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('States.Timeout');
    expect(result.cause).toContain('HeartbeatSeconds (60 s)');
    expect(result.events.find((e) => e.type === 'StateFailed')?.simSeconds).toBe(269);
    expect(() => ex.sendTaskHeartbeat(token)).toThrow(expect.objectContaining({ name: 'TaskTimedOut' }));
  });

  it('fails a Task that takes longer than its TimeoutSeconds with States.Timeout, retried and caught but not as States.TaskFailed', async () => {
    const clock = new SimulatedClock(new Date(0));
    let attempts = 0;
    const ex = single(
      {
        StartAt: 'Slow',
        States: {
          Slow: {
            Type: 'Task',
            Resource: FN,
            TimeoutSeconds: 60,
            Retry: [{ ErrorEquals: ['States.Timeout'], MaxAttempts: 1, IntervalSeconds: 5 }],
            Catch: [
              { ErrorEquals: ['States.TaskFailed'], Next: 'Wrong' },
              { ErrorEquals: ['States.Timeout'], ResultPath: '$.timeout', Next: 'TimedOut' },
            ],
            Next: 'Wrong',
          },
          Wrong: { Type: 'Fail', Error: 'Unexpected' },
          TimedOut: { Type: 'Succeed' },
        },
      },
      async () => {
        attempts++;
        clock.advance(90); // the step "takes" 90 simulated seconds
        return { done: true };
      },
      { clock },
    );
    const result = await ex.run('sm', {});
    expect(result.status).toBe('SUCCEEDED');
    expect(attempts).toBe(2);
    expect(stateEvents(result, 'StateRetried')).toEqual(['Slow']);
    expect(stateEvents(result, 'StateCaught')).toEqual(['Slow']);
    expect(result.output).toMatchObject({ timeout: { Error: 'States.Timeout' } });
    expect(result.simSeconds).toBe(185);
  });

  it('ends an execution that outlasts the state machine TimeoutSeconds TIMED_OUT, where it stood', async () => {
    const ex = single({
      TimeoutSeconds: 100,
      StartAt: 'First',
      States: {
        First: { Type: 'Wait', Seconds: 60, Next: 'Second' },
        Second: { Type: 'Wait', Seconds: 60, Next: 'Done' },
        Done: { Type: 'Succeed' },
      },
    });
    const result = await ex.run('sm', {}, 'slow-1');
    expect(result.status).toBe('TIMED_OUT');
    expect(result.error).toBe('States.Timeout');
    expect(result.cause).toContain('TimeoutSeconds (100 s)');
    expect(stateEvents(result, 'StateEntered')).toEqual(['First', 'Second']);
    expect(result.events.at(-1)).toMatchObject({ type: 'ExecutionTimedOut', execution: 'slow-1', depth: 0 });
    expect(result.events.some((e) => e.type === 'ExecutionSucceeded' || e.type === 'ExecutionFailed')).toBe(
      false,
    );
  });

  it('stops the nested execution when the parent execution times out', async () => {
    const slowChild = {
      name: 'child',
      arn: CHILD,
      definition: {
        StartAt: 'Soak',
        States: {
          Soak: { Type: 'Wait', Seconds: 60, Next: 'Again' },
          Again: { Type: 'Wait', Seconds: 60, End: true },
        },
      },
    };
    const ex = single(
      {
        TimeoutSeconds: 100,
        StartAt: 'Child',
        States: {
          Child: {
            Type: 'Task',
            Resource: 'arn:aws:states:::states:startExecution.sync:2',
            Parameters: { StateMachineArn: CHILD, Name: 'nested-1' },
            End: true,
          },
        },
      },
      undefined,
      { more: [slowChild] },
    );
    const result = await ex.run('sm', {});
    expect(result.status).toBe('TIMED_OUT');
    const ends = result.events.filter((e) => e.type.startsWith('Execution') && e.type !== 'ExecutionStarted');
    expect(ends.map((e) => [e.type, e.execution, e.depth])).toEqual([
      ['ExecutionAborted', 'nested-1', 1],
      ['ExecutionTimedOut', result.name, 0],
    ]);
  });

  it('times out a Task on real timers in real time', async () => {
    const clock = new SimulatedClock(new Date(0));
    const ex = single(
      { StartAt: 'Hang', States: { Hang: { Type: 'Task', Resource: FN, TimeoutSeconds: 1, End: true } } },
      () => new Promise(() => undefined),
      { clock, realTime: true },
    );
    const result = await ex.run('sm', {});
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('States.Timeout');
    // A real one-second limit (a lower bound, not a performance limit), and no simulated time.
    expect(result.wallMs).toBeGreaterThanOrEqual(990);
    expect(clock.now().getTime()).toBe(0);
  });
});

describe('Wait states on the simulated clock', () => {
  it('waits until a TimestampPath on the simulated clock and for a SecondsPath, as the P3 next-business-day page does', async () => {
    const clock = new SimulatedClock(new Date('2026-03-06T17:30:00Z'));
    const seen: string[] = [];
    const ex = single(
      {
        StartAt: 'Until next business day',
        States: {
          'Until next business day': {
            Type: 'Wait',
            TimestampPath: '$.policy.nextBusinessDay',
            Next: 'Page lead',
          },
          'Page lead': { Type: 'Task', Resource: FN, ResultPath: null, Next: 'Grace' },
          Grace: { Type: 'Wait', InputPath: '$.policy', SecondsPath: '$.graceSeconds', Next: 'Page again' },
          'Page again': { Type: 'Task', Resource: FN, ResultPath: null, End: true },
        },
      },
      async () => {
        seen.push(clock.now().toISOString());
        return {};
      },
      { clock },
    );
    const result = await ex.run('sm', {
      policy: { nextBusinessDay: '2026-03-09T09:00:00Z', graceSeconds: 900 },
    });
    expect(result.status).toBe('SUCCEEDED');
    expect(seen).toEqual(['2026-03-09T09:00:00.000Z', '2026-03-09T09:15:00.000Z']);
  });

  it('refuses a Wait path the local runner cannot read, before any execution starts', () => {
    expect(() =>
      single({
        StartAt: 'W',
        States: { W: { Type: 'Wait', SecondsPath: '$.delays[0]', End: true } },
      }),
    ).toThrow(/state 'W' of sm has SecondsPath "\$\.delays\[0\]"/);
  });
});

describe('SimulatedClock timers', () => {
  it('fire in time order once the clock reaches them, and never once cancelled', () => {
    const clock = new SimulatedClock(new Date(0));
    const fired: string[] = [];
    clock.at(new Date(30_000), () => fired.push('30 s'));
    clock.at(new Date(10_000), () => fired.push('10 s'));
    const cancel = clock.at(new Date(20_000), () => fired.push('20 s'));
    clock.advance(9.999);
    expect(fired).toEqual([]);
    cancel();
    clock.advance(15);
    expect(fired).toEqual(['10 s']);
    clock.catchUp(new Date(30_000));
    expect(fired).toEqual(['10 s', '30 s']);
  });
});
