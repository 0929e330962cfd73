import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../lib/local/clock.ts';
import { LocalExecutor, UnsupportedDefinitionError } from '../../lib/local/executor.ts';

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
});
