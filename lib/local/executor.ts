/**
 * Executes synthesized state machine definitions locally with aws-local-stepfunctions: Task
 * states run the real step handlers in-process, nested `startExecution.sync` tasks run the
 * child state machine here too, and Wait states and retry pauses advance the simulated clock
 * instead of sleeping.
 */
import './polyfills.ts';
import { randomBytes } from 'node:crypto';
import {
  ExecutionError,
  type RunOptions,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import type { Clock } from '../../lambdas/core/ports.ts';
import type { SimulatedClock } from './clock.ts';

/** One state machine as synthesized, with its resolved (token-free) ASL. */
export interface LocalStateMachine {
  readonly name: string;
  readonly arn: string;
  readonly definition: Record<string, unknown>;
}

/** A Lambda task's local stand-in: the real handler run with local ports. */
export type LocalTaskHandler = (input: unknown) => Promise<unknown>;

/** Something that happened during a local execution (a subset of the Step Functions history). */
export interface LocalEvent {
  readonly execution: string;
  readonly type: string;
  readonly state?: string;
  readonly stateType?: string;
  readonly error?: string;
  readonly cause?: string;
  readonly output?: unknown;
  /** For a Task leaving: what the step returned (the value at its ResultPath). */
  readonly result?: unknown;
  /** Wall-clock milliseconds since the top-level execution started. */
  readonly wallMs: number;
  /** Simulated seconds since the top-level execution started. */
  readonly simSeconds: number;
  /** Nesting depth: 0 for the execution CI or the operator started, 1 for its rollback. */
  readonly depth: number;
}

/** The end of a local execution. */
export interface LocalExecutionResult {
  readonly name: string;
  readonly executionArn: string;
  readonly stateMachine: string;
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
  readonly events: readonly LocalEvent[];
  readonly wallMs: number;
  readonly simSeconds: number;
  /** State transitions (StateEntered events) including nested executions. */
  readonly transitions: number;
}

/** A definition uses something the local executor would silently get wrong. */
export class UnsupportedDefinitionError extends Error {
  override readonly name = 'UnsupportedDefinitionError';
}

const SYNC_START = /^arn:aws:states:::states:startExecution\.sync(:2)?$/;

type Json = Record<string, unknown>;

function statesOf(definition: Json): Record<string, Json> {
  return (definition.States ?? {}) as Record<string, Json>;
}

/**
 * Refuses definitions using JSONata: aws-local-stepfunctions 3 ignores `QueryLanguage` and
 * would run such a definition with JSONPath semantics, i.e. wrongly.
 */
export function assertJsonPathOnly(name: string, definition: Json): void {
  if (definition.QueryLanguage === 'JSONata') {
    throw new UnsupportedDefinitionError(
      `state machine ${name} uses QueryLanguage JSONata, which the local runner cannot execute; write it in JSONPath`,
    );
  }
  for (const [stateName, state] of Object.entries(statesOf(definition))) {
    if (state.QueryLanguage === 'JSONata') {
      throw new UnsupportedDefinitionError(
        `state '${stateName}' of ${name} uses QueryLanguage JSONata, which the local runner cannot execute; write it in JSONPath`,
      );
    }
    for (const nested of [
      ...((state.Branches as Json[] | undefined) ?? []),
      ...(state.ItemProcessor ? [state.ItemProcessor as Json] : []),
      ...(state.Iterator ? [state.Iterator as Json] : []),
    ]) {
      assertJsonPathOnly(`${name} / ${stateName}`, nested);
    }
  }
}

/** The value a Task state wrote at its `ResultPath` (a plain `$.a.b` path), if any. */
function resultOf(state: Json | undefined, output: unknown): unknown {
  if (state?.Type !== 'Task') return undefined;
  const resultPath = state.ResultPath;
  if (resultPath === undefined || resultPath === '$') return output;
  if (typeof resultPath !== 'string' || !/^\$(\.[A-Za-z0-9_]+)+$/.test(resultPath)) return undefined;
  let value: unknown = output;
  for (const key of resultPath.slice(2).split('.'))
    value = (value as Record<string, unknown> | undefined)?.[key];
  return value;
}

/** Options of a {@link LocalExecutor}. */
export interface LocalExecutorOptions {
  readonly stateMachines: readonly LocalStateMachine[];
  /** Lambda function ARN -> local handler. */
  readonly lambdas: ReadonlyMap<string, LocalTaskHandler>;
  /**
   * The simulated clock that Wait states and retry pauses advance (they take ~no wall time), or,
   * with `realTime`, any clock: waits and retries then really pause, as in AWS — what a real
   * cluster needs, whose controllers move in real time.
   */
  readonly clock: SimulatedClock | Clock;
  /** Pause for real instead of advancing a simulated clock. @default false */
  readonly realTime?: boolean;
  /** Called for every event as it happens (progress output). */
  readonly onEvent?: (event: LocalEvent) => void;
}

/** Runs state machines of one synthesized app locally. */
export class LocalExecutor {
  private readonly byArn = new Map<string, LocalStateMachine>();

  constructor(private readonly options: LocalExecutorOptions) {
    for (const sm of options.stateMachines) {
      assertJsonPathOnly(sm.name, sm.definition);
      for (const [stateName, state] of Object.entries(statesOf(sm.definition))) {
        if (state.Type !== 'Task') continue;
        const resource = String(state.Resource);
        if (!SYNC_START.test(resource) && !options.lambdas.has(resource)) {
          throw new UnsupportedDefinitionError(
            `state '${stateName}' of ${sm.name} uses resource ${resource}, which has no local handler`,
          );
        }
      }
      this.byArn.set(sm.arn, sm);
    }
  }

  /** The state machine with `name`, or an error naming the known ones. */
  stateMachine(name: string): LocalStateMachine {
    for (const sm of this.byArn.values()) if (sm.name === name) return sm;
    throw new Error(
      `no state machine named ${name}; known: ${[...this.byArn.values()].map((s) => s.name).join(', ')}`,
    );
  }

  /** Starts an execution and waits for its end. Never throws for a failed execution. */
  async run(stateMachineName: string, input: unknown, name?: string): Promise<LocalExecutionResult> {
    const events: LocalEvent[] = [];
    const started = { wall: performance.now(), sim: this.options.clock.now().getTime() };
    const counter = { transitions: 0 };
    return this.execute(this.stateMachine(stateMachineName), input, name, 0, events, started, counter);
  }

  private async execute(
    sm: LocalStateMachine,
    input: unknown,
    requestedName: string | undefined,
    depth: number,
    events: LocalEvent[],
    started: { wall: number; sim: number },
    counter: { transitions: number },
  ): Promise<LocalExecutionResult> {
    const { clock, onEvent } = this.options;
    const name = requestedName ?? randomBytes(8).toString('hex');
    const executionArn = `${sm.arn.replace(':stateMachine:', ':execution:')}:${name}`;
    const states = statesOf(sm.definition);
    const emit = (e: Omit<LocalEvent, 'wallMs' | 'simSeconds' | 'depth' | 'execution'>) => {
      const event: LocalEvent = {
        ...e,
        execution: name,
        depth,
        wallMs: performance.now() - started.wall,
        simSeconds: (clock.now().getTime() - started.sim) / 1000,
      };
      events.push(event);
      onEvent?.(event);
    };

    const lambdaHandlers: Record<string, (input: never) => Promise<never>> = {};
    for (const [stateName, state] of Object.entries(states)) {
      if (state.Type !== 'Task') continue;
      const resource = String(state.Resource);
      if (SYNC_START.test(resource)) {
        lambdaHandlers[stateName] = async (params: unknown): Promise<never> => {
          const p = params as { StateMachineArn?: string; Input?: unknown; Name?: string };
          // Let the parent's event consumer catch up so the output reads in order.
          await new Promise((resolve) => setTimeout(resolve, 1));
          const child = this.byArn.get(String(p.StateMachineArn));
          if (!child)
            throw new Error(`state '${stateName}' starts unknown state machine ${p.StateMachineArn}`);
          const result = await this.execute(
            child,
            p.Input ?? {},
            p.Name,
            depth + 1,
            events,
            started,
            counter,
          );
          if (result.status !== 'SUCCEEDED') {
            const err = new Error(
              JSON.stringify({ ExecutionArn: result.executionArn, Error: result.error, Cause: result.cause }),
            );
            err.name = 'States.TaskFailed';
            throw err;
          }
          return {
            ExecutionArn: result.executionArn,
            StateMachineArn: child.arn,
            Status: 'SUCCEEDED',
            Output: result.output ?? null,
          } as never;
        };
      } else {
        const handler = this.options.lambdas.get(resource);
        if (handler) lambdaHandlers[stateName] = (i: unknown) => handler(i) as Promise<never>;
      }
    }

    // Waits and retry pauses take (almost) no wall time; the event consumer below advances the
    // simulated clock by what they would have slept when it sees the Wait entered or the retry
    // scheduled. The 1 ms override puts a timer between the pause and the next state, so the
    // consumer (microtasks) has always moved the clock before that state runs.
    const waitTimeOverrides: Record<string, number> = {};
    const retryIntervalOverrides: Record<string, number> = {};
    const simulated = this.options.realTime === true ? undefined : (clock as SimulatedClock);
    for (const [stateName, state] of simulated ? Object.entries(states) : []) {
      if (state.Type === 'Wait') waitTimeOverrides[stateName] = 1;
      if (Array.isArray(state.Retry) && state.Retry.length > 0) retryIntervalOverrides[stateName] = 1;
    }

    emit({ type: 'ExecutionStarted' });
    const machine = new StateMachine(sm.definition as unknown as StateMachineDefinition, {
      validationOptions: { checkArn: false },
    });
    const execution = machine.run(input as never, {
      overrides: {
        taskResourceLocalHandlers: lambdaHandlers as unknown as NonNullable<
          NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']
        >,
        waitTimeOverrides,
        retryIntervalOverrides,
      },
      context: {
        Execution: {
          Id: executionArn,
          Name: name,
          StartTime: clock.now().toISOString(),
          Input: input as never,
          RoleArn: 'arn:aws:iam::000000000000:role/local',
        },
        StateMachine: { Id: sm.arn, Name: sm.name },
      },
    });
    const consume = (async () => {
      for await (const e of execution.eventLogs) {
        const ev = e as unknown as {
          type: string;
          state?: { name: string; type: string; output?: unknown };
          Error?: string;
          Cause?: unknown;
          retry?: { retrier: { IntervalSeconds?: number; BackoffRate?: number }; attempt: number };
        };
        if (ev.type === 'StateEntered') counter.transitions++;
        if (simulated && ev.type === 'StateEntered' && ev.state?.type === 'Wait') {
          simulated.advance(Number(states[ev.state.name]?.Seconds ?? 0));
        }
        if (simulated && ev.type === 'StateRetried' && ev.state) {
          // The retry pause was overridden to 0 ms: charge its nominal length to the clock.
          const retrier = ev.retry?.retrier ?? {};
          const attempt = Math.max(0, (ev.retry?.attempt ?? 1) - 1);
          simulated.advance((retrier.IntervalSeconds ?? 1) * (retrier.BackoffRate ?? 2) ** attempt);
        }
        if (ev.type.startsWith('Execution')) continue;
        emit({
          type: ev.type,
          state: ev.state?.name,
          stateType: ev.state?.type,
          error: ev.Error,
          cause: ev.Cause === undefined ? undefined : String(ev.Cause),
          output: ev.type === 'StateExited' ? ev.state?.output : undefined,
          result:
            ev.type === 'StateExited' && ev.state
              ? resultOf(states[ev.state.name], ev.state.output)
              : undefined,
        });
      }
    })();
    let result: LocalExecutionResult;
    const base = { name, executionArn, stateMachine: sm.name, events };
    try {
      const output = await execution.result;
      await consume;
      emit({ type: 'ExecutionSucceeded', output });
      result = { ...base, status: 'SUCCEEDED', output, wallMs: 0, simSeconds: 0, transitions: 0 };
    } catch (err) {
      await consume.catch(() => undefined);
      const cause = err instanceof ExecutionError ? (err.cause as Error) : (err as Error);
      const error = cause?.name ?? 'Error';
      const message = cause?.message ?? String(err);
      emit({ type: 'ExecutionFailed', error, cause: message });
      result = { ...base, status: 'FAILED', error, cause: message, wallMs: 0, simSeconds: 0, transitions: 0 };
    }
    return {
      ...result,
      wallMs: performance.now() - started.wall,
      simSeconds: (clock.now().getTime() - started.sim) / 1000,
      transitions: counter.transitions,
    };
  }
}
