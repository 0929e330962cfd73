/**
 * Executes synthesized state machine definitions locally with aws-local-stepfunctions: Task
 * states run the real step handlers in-process, nested `startExecution.sync` tasks run the
 * child state machine here too, and Wait states and retry pauses advance the simulated clock
 * instead of sleeping (a Wait by `Seconds`/`SecondsPath`, or up to `Timestamp`/`TimestampPath`
 * read on the simulated clock — "page the lead at 09:00 next business day" — with plain paths).
 *
 * Task resources are served by one table of integrations ({@link INTEGRATIONS}); a definition
 * using any other resource is refused when the executor is built, not when an execution gets
 * there.
 *
 * Time limits, as in AWS:
 * - A Task's `TimeoutSeconds` counts from the start of each attempt; `HeartbeatSeconds` counts
 *   from that start and again from each `sendTaskHeartbeat` (a task that cannot send heartbeats,
 *   such as a Lambda, simply must end within it). Either one running out fails the attempt with
 *   `States.Timeout`, which Retry and Catch handle like any error except that
 *   `States.TaskFailed` does not match it. The work the attempt started is told to stop: a
 *   nested execution is stopped, a task token stops being accepted (a Lambda already called
 *   runs on, as in AWS).
 * - A state machine's top-level `TimeoutSeconds` counts from the start of the execution; when
 *   it runs out the execution stops where it is and ends `TIMED_OUT`.
 * - `TimeoutSecondsPath` and `HeartbeatSecondsPath` are read from the state's input (before
 *   InputPath and Parameters, as in AWS's own example) when the attempt starts; a path that does
 *   not select a whole number ≥ 1 fails the execution with `States.Runtime`, which no Retry or
 *   Catch handles.
 * - Without `realTime` these are measured on the simulated clock: a limit runs out at the move of
 *   the clock that reaches it — a Wait or retry pause (of this or any other execution on the same
 *   clock), a handler advancing the clock, a test calling `advance`. When every execution of the
 *   executor has nothing left to do but wait (for a task token, or a nested execution that waits)
 *   and one of them has a limit running, the executor moves the clock to the next timer on it, as
 *   a Wait would: a task whose token never comes times out after exactly its limit in simulated
 *   time and in (almost) no wall time, and a test's `clock.at` timer set earlier fires first, at
 *   its own time. Waits and pauses move the clock in one jump when they start, so a limit that
 *   falls inside one is noticed at that jump: the outcome is the same as in AWS, the clock may
 *   just read later than the limit. With `realTime`, limits are real timers.
 *
 * Task tokens (`$$.Task.Token`) are 64 URL-safe base64 characters, fresh for each attempt. Like
 * Step Functions, `sendTask*` answers `InvalidToken` for a string that is not one,
 * `TaskDoesNotExist` for one this executor never issued and `TaskTimedOut` for one whose task has
 * ended (completed, failed, timed out, or its execution stopped). `stopExecution` ends a running
 * execution ABORTED with the error and cause given, stopping its nested executions.
 *
 * aws-local-stepfunctions measures Task timeouts itself in wall time (60 s when the definition
 * gives none) and the top-level timeout too; it is handed a copy of each definition without
 * either so that only the rules above apply.
 */
import './polyfills.ts';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  ExecutionAbortedError,
  ExecutionError,
  type RunOptions,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import type { Clock } from '../../lambdas/core/ports.ts';
import type { SimulatedClock } from './clock.ts';
import {
  type IssuedTaskToken,
  malformedTaskToken,
  newTaskToken,
  StopExecutionError,
  type StopExecutionResult,
  TaskTokenError,
} from './task-tokens.ts';
import { TEMPLATE_CACHE_DIR } from './template-cache.ts';

export {
  type IssuedTaskToken,
  malformedTaskToken,
  StopExecutionError,
  type StopExecutionResult,
  TASK_TOKEN_PATTERN,
  TaskTokenError,
} from './task-tokens.ts';

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
  /**
   * TIMED_OUT: the state machine's own `TimeoutSeconds` ran out (error `States.Timeout`).
   * ABORTED: stopped by `stopExecution` (its error and cause), or, nested, by its parent task ending.
   */
  readonly status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
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

type Json = Record<string, unknown>;

/** The local stand-ins Task states are served by. */
interface Handlers {
  readonly lambdas: ReadonlyMap<string, LocalTaskHandler>;
  readonly services: ReadonlyMap<string, LocalTaskHandler>;
}

/** What an integration gets to run one attempt of a Task state. */
interface TaskAttempt extends Handlers {
  readonly stateName: string;
  readonly resource: string;
  /** Starts a nested execution and resolves with its end; it is stopped if this attempt is. */
  startExecution(stateMachineArn: string, input: unknown, name: string | undefined): Promise<ExecutionEnd>;
  /**
   * A new task token for this attempt and the outcome `sendTask*` will give it. Resolves once
   * the token can be sent from anywhere it may be sent from (see `onTaskToken`).
   */
  issueToken(): Promise<{ readonly token: string; readonly outcome: Promise<unknown> }>;
  /**
   * Awaits something the executor itself moves on (a token, a nested execution): while it
   * waits, this attempt does not keep the executor from moving an idle simulated clock.
   */
  waitFor<T>(promise: Promise<T>): Promise<T>;
}

/** One kind of Task resource the executor runs locally. */
interface Integration {
  /** How a refusal lists it. */
  readonly describe: string;
  /** Whether it serves `resource`. */
  matches(resource: string, handlers: Handlers): boolean;
  /** Why a Task state it serves still cannot run locally, if so (checked when the executor is built). */
  refuse?(state: Json, handlers: Handlers): string | undefined;
  /** Runs one attempt with the state's effective input (after InputPath and Parameters). */
  run(input: unknown, attempt: TaskAttempt): Promise<unknown>;
}

const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';
const LAMBDA_INVOKE_CALLBACK = `${LAMBDA_INVOKE}.waitForTaskToken`;
const SYNC_START = /^arn:aws:states:::states:startExecution\.sync(:2)?$/;
/** `arn:<partition>:states:::<service>:<action>`, optionally `.waitForTaskToken`. */
const SERVICE_TASK = /^arn:[a-z-]+:states:::([a-z0-9-]+):([A-Za-z0-9]+)(\.waitForTaskToken)?$/;

/**
 * What `$$.Task.Token` reads while Parameters are built (aws-local-stepfunctions has no task
 * tokens); the callback integration replaces it with the attempt's real token.
 */
const TASK_TOKEN_PLACEHOLDER = '<task token of this attempt>';

/** The handler of a Lambda `FunctionName`: an ARN (qualified or not) or a bare function name. */
function lambdaOf(
  lambdas: ReadonlyMap<string, LocalTaskHandler>,
  name: unknown,
): LocalTaskHandler | undefined {
  if (typeof name !== 'string') return undefined;
  const exact = lambdas.get(name);
  if (exact) return exact;
  const unqualified = /^(arn:[^:]+:lambda:[^:]*:[^:]*:function:[^:]+):[^:]+$/.exec(name)?.[1];
  if (unqualified) return lambdas.get(unqualified);
  for (const [arn, handler] of lambdas) if (arn.endsWith(`:function:${name}`)) return handler;
  return undefined;
}

/** The `<service>:<action>` of a service integration resource, and whether it waits for a token. */
function serviceOf(resource: string): { readonly key: string; readonly callback: boolean } | undefined {
  const m = SERVICE_TASK.exec(resource);
  return m ? { key: `${m[1]}:${m[2]}`, callback: m[3] !== undefined } : undefined;
}

/** Refusal of a callback task whose Parameters never hand out `$$.Task.Token`. */
function refuseTokenless(state: Json): string | undefined {
  return JSON.stringify(state.Parameters ?? null).includes('$$.Task.Token')
    ? undefined
    : 'never passes $$.Task.Token, so nothing could complete it; put it in Parameters';
}

/** Refusal of a `lambda:invoke` state whose static FunctionName has no handler. */
function refuseFunctionName(state: Json, { lambdas }: Handlers): string | undefined {
  const params = (state.Parameters ?? {}) as Json;
  if ('FunctionName.$' in params) return undefined; // known only at run time
  if (!('FunctionName' in params)) return 'has no Parameters.FunctionName';
  if (lambdaOf(lambdas, params.FunctionName)) return undefined;
  return `invokes function ${String(params.FunctionName)}, which has no local handler; add it to lambdas`;
}

/** Runs the function a `lambda:invoke` input names, as the optimised integration does. */
async function invokeNamed(input: unknown, lambdas: ReadonlyMap<string, LocalTaskHandler>): Promise<unknown> {
  const { FunctionName, Payload } = (input ?? {}) as { FunctionName?: unknown; Payload?: unknown };
  const handler = lambdaOf(lambdas, FunctionName);
  if (!handler) {
    throw namedError(
      'Lambda.ResourceNotFoundException',
      `Function not found: ${String(FunctionName)} (no local handler)`,
    );
  }
  return handler(Payload ?? {});
}

function namedError(name: string, message: string): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}

/** `value` with every task token placeholder replaced by `token`. */
function withToken(value: unknown, token: string): unknown {
  if (typeof value === 'string') return value.replaceAll(TASK_TOKEN_PLACEHOLDER, token);
  if (Array.isArray(value)) return value.map((v) => withToken(v, token));
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withToken(v, token)]));
  return value;
}

/** The Task resources the local executor runs; any other is refused. */
const INTEGRATIONS: readonly Integration[] = [
  {
    describe: 'a Lambda function ARN given in lambdas',
    matches: (resource, { lambdas }) => lambdas.has(resource),
    run: (input, { resource, lambdas }) => (lambdas.get(resource) as LocalTaskHandler)(input),
  },
  {
    describe: `${LAMBDA_INVOKE} (Parameters.FunctionName given in lambdas; returns {Payload})`,
    matches: (resource) => resource === LAMBDA_INVOKE,
    refuse: refuseFunctionName,
    run: async (input, { lambdas }) => ({
      ExecutedVersion: '$LATEST',
      Payload: (await invokeNamed(input, lambdas)) ?? null,
      StatusCode: 200,
    }),
  },
  {
    describe: `${LAMBDA_INVOKE_CALLBACK} (the task waits for sendTaskSuccess/sendTaskFailure with the $$.Task.Token the function got)`,
    matches: (resource) => resource === LAMBDA_INVOKE_CALLBACK,
    refuse: (state, handlers) => refuseTokenless(state) ?? refuseFunctionName(state, handlers),
    run: async (input, attempt) => {
      // The token exists before the function runs: it may answer before it returns.
      const { token, outcome } = await attempt.issueToken();
      await invokeNamed(withToken(input, token), attempt.lambdas);
      return attempt.waitFor(outcome);
    },
  },
  {
    describe:
      'arn:aws:states:::states:startExecution.sync and .sync:2 (a state machine of this executor, run nested)',
    matches: (resource) => SYNC_START.test(resource),
    run: async (input, { resource, startExecution, waitFor }) => {
      const p = (input ?? {}) as { StateMachineArn?: unknown; Input?: unknown; Name?: unknown };
      // Let the parent's event consumer catch up so the output reads in order.
      await new Promise((resolve) => setTimeout(resolve, 1));
      const childInput = p.Input ?? {};
      // The child's own states count as its activity; the parent task only waits for them.
      const end = await waitFor(
        startExecution(
          String(p.StateMachineArn),
          childInput,
          typeof p.Name === 'string' ? p.Name : undefined,
        ),
      );
      if (end.status !== 'SUCCEEDED') {
        throw namedError(
          'States.TaskFailed',
          JSON.stringify({
            ExecutionArn: end.executionArn,
            Status: end.status,
            Error: end.error,
            Cause: end.cause,
          }),
        );
      }
      // `.sync:2` returns Input and Output as JSON, plain `.sync` as JSON text.
      const json = resource.endsWith(':2') ? (v: unknown) => v : (v: unknown) => JSON.stringify(v);
      return {
        ExecutionArn: end.executionArn,
        StateMachineArn: String(p.StateMachineArn),
        Name: end.name,
        Status: 'SUCCEEDED',
        Input: json(childInput),
        Output: json(end.output ?? null),
      };
    },
  },
  {
    describe:
      'arn:aws:states:::<service>:<action> and its .waitForTaskToken form (<service>:<action> given in services; the callback form waits for sendTaskSuccess/sendTaskFailure with the $$.Task.Token it was given)',
    matches: (resource, { services }) => {
      const service = serviceOf(resource);
      return service !== undefined && services.has(service.key);
    },
    refuse: (state) => (serviceOf(String(state.Resource))?.callback ? refuseTokenless(state) : undefined),
    run: async (input, attempt) => {
      const { key, callback } = serviceOf(attempt.resource) as { key: string; callback: boolean };
      const call = attempt.services.get(key) as LocalTaskHandler;
      if (!callback) return call(input);
      const { token, outcome } = await attempt.issueToken();
      await call(withToken(input, token));
      return attempt.waitFor(outcome);
    },
  },
];

/** The end of an execution, nested or not. */
type ExecutionEnd = LocalExecutionResult;

/** A Task state bound to its integration, with its limits. */
interface BoundTask {
  readonly stateName: string;
  readonly resource: string;
  readonly integration: Integration;
  readonly timeoutSeconds: number | undefined;
  readonly heartbeatSeconds: number | undefined;
  /**
   * Whether its limits come from `TimeoutSecondsPath`/`HeartbeatSecondsPath`: the library's copy
   * then hands the attempt `{input, limits}` (see {@link withLimitsFromInput}).
   */
  readonly limitsFromInput: boolean;
}

/** What the library's copy of a Task with limit paths hands its attempt. */
interface InputWithLimits {
  readonly input: unknown;
  readonly limits: { readonly timeout?: unknown; readonly heartbeat?: unknown };
}

/**
 * The library's copy of a Task whose limits are paths into the state's input: its effective
 * input becomes `{input, limits}`, the limits read from the raw state input by the library's own
 * JSONPath (a path that selects nothing fails with States.Runtime there, as in AWS) and the
 * original input built exactly as before. Parameters are evaluated after InputPath, so with both
 * InputPath and Parameters the raw input is out of reach: such a state is refused.
 */
function withLimitsFromInput(state: Json, where: string): Json {
  const { TimeoutSecondsPath, HeartbeatSecondsPath, InputPath, Parameters, ...copy } = state;
  const limits: Json = {};
  if (TimeoutSecondsPath !== undefined) limits['timeout.$'] = TimeoutSecondsPath;
  if (HeartbeatSecondsPath !== undefined) limits['heartbeat.$'] = HeartbeatSecondsPath;
  let input: [string, unknown];
  if (Parameters !== undefined) {
    if (InputPath !== undefined && InputPath !== '$') {
      throw new UnsupportedDefinitionError(
        `${where} has InputPath and Parameters besides TimeoutSecondsPath/HeartbeatSecondsPath, which the local runner cannot read from the raw state input then; drop InputPath and select in Parameters`,
      );
    }
    input = ['input', Parameters];
  } else if (InputPath === null) input = ['input', {}];
  else input = ['input.$', InputPath ?? '$'];
  return { ...copy, Parameters: { [input[0]]: input[1], limits } };
}

/** A state machine checked and prepared once, run many times. */
interface Prepared {
  readonly sm: LocalStateMachine;
  readonly machine: StateMachine;
  /** Every state by name, including those inside Parallel branches and Map iterators. */
  readonly states: ReadonlyMap<string, Json>;
  readonly tasks: readonly BoundTask[];
  readonly timeoutSeconds: number | undefined;
}

function statesOf(definition: Json): Record<string, Json> {
  return (definition.States ?? {}) as Record<string, Json>;
}

/** The definitions nested in a state: Parallel branches, a Map's item processor. */
function nestedOf(state: Json): Json[] {
  return [
    ...((state.Branches as Json[] | undefined) ?? []),
    ...(state.ItemProcessor ? [state.ItemProcessor as Json] : []),
    ...(state.Iterator ? [state.Iterator as Json] : []),
  ];
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
    for (const nested of nestedOf(state)) assertJsonPathOnly(`${name} / ${stateName}`, nested);
  }
}

/** Every state of a definition by name (ASL names are unique across the whole state machine). */
function flatStates(name: string, definition: Json, into = new Map<string, Json>()): Map<string, Json> {
  for (const [stateName, state] of Object.entries(statesOf(definition))) {
    if (into.has(stateName)) {
      throw new UnsupportedDefinitionError(
        `state machine ${name} has two states named '${stateName}'; state names must be unique, nested ones included`,
      );
    }
    into.set(stateName, state);
    for (const nested of nestedOf(state)) flatStates(name, nested, into);
  }
  return into;
}

/** A positive whole number of seconds, or undefined when absent. */
function seconds(value: unknown, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new UnsupportedDefinitionError(
      `${what} is ${JSON.stringify(value)}; it must be a whole number ≥ 1`,
    );
  }
  return value;
}

/** Longest timer Node keeps (ms); aws-local-stepfunctions' own Task timer is set to it. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The definition handed to aws-local-stepfunctions: no time limit it would enforce in wall time,
 * and limit paths turned into input the attempt reads (see {@link withLimitsFromInput}).
 */
function forLibrary(name: string, definition: Json): Json {
  const { TimeoutSeconds: _, ...rest } = definition;
  const withStates = (def: Json): Json => ({
    ...def,
    States: Object.fromEntries(
      Object.entries(statesOf(def)).map(([stateName, state]) => {
        let copy: Json = { ...state };
        if (state.Type === 'Task' && ('TimeoutSecondsPath' in state || 'HeartbeatSecondsPath' in state)) {
          copy = withLimitsFromInput(state, `state '${stateName}' of ${name}`);
        }
        if (state.Type === 'Task') copy.TimeoutSeconds = Math.floor(MAX_TIMER_MS / 1000);
        if (Array.isArray(state.Branches)) copy.Branches = (state.Branches as Json[]).map(withStates);
        if (state.ItemProcessor) copy.ItemProcessor = withStates(state.ItemProcessor as Json);
        if (state.Iterator) copy.Iterator = withStates(state.Iterator as Json);
        return [stateName, copy];
      }),
    ),
  });
  return withStates(rest);
}

/** Checks one state machine against what runs locally and binds its Task states. */
function prepare(sm: LocalStateMachine, handlers: Handlers): Prepared {
  assertJsonPathOnly(sm.name, sm.definition);
  const states = flatStates(sm.name, sm.definition);
  const tasks: BoundTask[] = [];
  for (const [stateName, state] of states) {
    const where = `state '${stateName}' of ${sm.name}`;
    for (const handler of [...((state.Retry as Json[]) ?? []), ...((state.Catch as Json[]) ?? [])]) {
      if (((handler.ErrorEquals as string[] | undefined) ?? []).includes('States.HeartbeatTimeout')) {
        throw new UnsupportedDefinitionError(
          `${where} handles States.HeartbeatTimeout, which the local runner reports as States.Timeout only; handle States.Timeout`,
        );
      }
    }
    if (state.Type === 'Wait') {
      for (const field of ['InputPath', 'SecondsPath', 'TimestampPath']) {
        const value = state[field];
        if (
          value !== undefined &&
          value !== null &&
          !(typeof value === 'string' && SIMPLE_PATH.test(value))
        ) {
          throw new UnsupportedDefinitionError(
            `${where} has ${field} ${JSON.stringify(value)}, which the local runner cannot read to move its simulated clock; use a plain path such as $.a.b`,
          );
        }
      }
    }
    if (state.Type !== 'Task') continue;
    const resource = String(state.Resource);
    const integration = INTEGRATIONS.find((i) => i.matches(resource, handlers));
    if (!integration) {
      throw new UnsupportedDefinitionError(
        `${where} uses resource ${resource}, which has no local handler; the local runner supports: ${INTEGRATIONS.map((i) => i.describe).join('; ')}`,
      );
    }
    const problem = integration.refuse?.(state, handlers);
    if (problem) throw new UnsupportedDefinitionError(`${where} (${resource}) ${problem}`);
    for (const field of ['TimeoutSeconds', 'HeartbeatSeconds']) {
      if (field in state && `${field}Path` in state) {
        throw new UnsupportedDefinitionError(`${where} has both ${field} and ${field}Path; AWS allows one`);
      }
    }
    const limitsFromInput = 'TimeoutSecondsPath' in state || 'HeartbeatSecondsPath' in state;
    const timeoutSeconds = seconds(state.TimeoutSeconds, `TimeoutSeconds of ${where}`);
    const heartbeatSeconds = seconds(state.HeartbeatSeconds, `HeartbeatSeconds of ${where}`);
    if (
      heartbeatSeconds !== undefined &&
      timeoutSeconds !== undefined &&
      heartbeatSeconds >= timeoutSeconds
    ) {
      throw new UnsupportedDefinitionError(
        `${where} has HeartbeatSeconds ${heartbeatSeconds} ≥ TimeoutSeconds ${timeoutSeconds}; AWS requires it to be smaller`,
      );
    }
    tasks.push({ stateName, resource, integration, timeoutSeconds, heartbeatSeconds, limitsFromInput });
  }
  const definition = forLibrary(sm.name, sm.definition) as unknown as StateMachineDefinition;
  // The library validates a definition against the ASL schema each time it is built, which costs
  // more than a whole local deployment; a definition that validated once is marked by its hash.
  const validated = path.join(
    TEMPLATE_CACHE_DIR,
    '..',
    'asl-validated',
    createHash('sha256').update(JSON.stringify(definition)).digest('hex').slice(0, 32),
  );
  const known = existsSync(validated);
  const machine = new StateMachine(definition, {
    validationOptions: known ? { noValidate: true } : { checkArn: false },
  });
  if (!known) {
    try {
      mkdirSync(path.dirname(validated), { recursive: true });
      writeFileSync(validated, '');
    } catch {
      // A read-only install validates every time.
    }
  }
  const timeoutSeconds = seconds(sm.definition.TimeoutSeconds, `TimeoutSeconds of state machine ${sm.name}`);
  return { sm, machine, states, tasks, timeoutSeconds };
}

let statesTimeoutClass: Promise<new () => Error> | undefined;

/**
 * The class of aws-local-stepfunctions' own `States.Timeout` error. It is not exported, but the
 * library's `States.TaskFailed` matches every Task error except an instance of it — as AWS's
 * matches everything but States.Timeout — so our timeouts must be instances. It is taken once
 * from a throwaway task that times out after 1 ms.
 */
function libraryStatesTimeout(): Promise<new () => Error> {
  statesTimeoutClass ??= (async () => {
    const probe = new StateMachine(
      { StartAt: 'T', States: { T: { Type: 'Task', Resource: 'probe', TimeoutSeconds: 0.001, End: true } } },
      { validationOptions: { noValidate: true } },
    );
    const never = () => new Promise<never>(() => undefined);
    try {
      await probe.run({}, { overrides: { taskResourceLocalHandlers: { T: never } } }).result;
    } catch (err) {
      const cause = err instanceof ExecutionError ? (err.cause as Error | undefined) : undefined;
      if (cause?.name === 'States.Timeout') return cause.constructor as new () => Error;
    }
    // Another library version: a plain error of that name (only States.TaskFailed would differ).
    return class extends Error {
      override readonly name = 'States.Timeout';
    };
  })();
  return statesTimeoutClass;
}

/** Options of a {@link LocalExecutor}. */
export interface LocalExecutorOptions {
  readonly stateMachines: readonly LocalStateMachine[];
  /** Lambda function ARN -> local handler. */
  readonly lambdas: ReadonlyMap<string, LocalTaskHandler>;
  /**
   * `<service>:<action>` (e.g. `sqs:sendMessage`) -> local stand-in for that API call, serving
   * `arn:aws:states:::<service>:<action>` and its `.waitForTaskToken` form with the state's
   * effective input (`$$.Task.Token` resolved). @default none
   */
  readonly services?: ReadonlyMap<string, LocalTaskHandler>;
  /**
   * The simulated clock that Wait states and retry pauses advance (they take ~no wall time), or,
   * with `realTime`, any clock: waits and retries then really pause, as in AWS — what a real
   * cluster needs, whose controllers move in real time. Time limits are measured on the same
   * time (see the file's comment).
   */
  readonly clock: SimulatedClock | Clock;
  /** Pause for real instead of advancing a simulated clock. @default false */
  readonly realTime?: boolean;
  /**
   * On the simulated clock, move it to its next timer when every execution only waits and a
   * limit is running (see the file's comment); off, such a task waits until something else moves
   * the clock. @default true
   */
  readonly advanceWhenIdle?: boolean;
  /**
   * Told of each task token before the task's function gets it (awaited), so that it can be
   * made reachable from elsewhere — another process, through the local state service.
   */
  readonly onTaskToken?: (issued: IssuedTaskToken) => Promise<void> | void;
  /** Called for every event as it happens (progress output). */
  readonly onEvent?: (event: LocalEvent) => void;
}

/** Shared by an execution and its nested ones. */
interface Trace {
  readonly events: LocalEvent[];
  readonly wallStart: number;
  readonly simStart: number;
  transitions: number;
}

/** A task waiting for its token. */
interface PendingToken {
  succeed(output: unknown): void;
  fail(error: Error): void;
  heartbeat(): void;
}

/**
 * How long (wall ms) an executor with nothing running must stay quiet before it moves an idle
 * simulated clock: longer than the 1 ms pauses that stand in for Waits and retries, so a state
 * about to start is never overtaken.
 */
const IDLE_SETTLE_MS = 5;

/** A States.Runtime error: it fails the execution, and no Retry or Catch matches it (as in AWS). */
function statesRuntime(message: string): Error {
  const err = new Error(message);
  err.name = 'States.Runtime';
  Object.defineProperties(err, { isRetryable: { value: false }, isCatchable: { value: false } });
  return err;
}

/** What an attempt needs of its execution. */
interface AttemptContext {
  readonly executionArn: string;
  /** States whose last attempt failed: the next attempt of one may be a retry. */
  readonly failed: Set<string>;
  readonly stopped: AbortSignal;
  readonly timeoutError: new () => Error;
  startExecution(
    arn: string,
    input: unknown,
    name: string | undefined,
    stop: AbortSignal,
  ): Promise<ExecutionEnd>;
}

/** Runs state machines of one synthesized app locally. */
export class LocalExecutor {
  private readonly byArn = new Map<string, Prepared>();
  private readonly pending = new Map<string, PendingToken>();
  private readonly closedTokens = new Set<string>();
  /** Running executions (nested ones included) by ARN: how to stop each. */
  private readonly running = new Map<
    string,
    (error: string | undefined, cause: string | undefined) => void
  >();
  /** Ended executions by ARN: when they ended. */
  private readonly ended = new Map<string, Date>();
  /** Attempts and execution starts doing work of their own (not waiting on the executor). */
  private busy = 0;
  /** See {@link LocalExecutorOptions.advanceWhenIdle}; {@link setAdvanceWhenIdle} changes it. */
  private advancesWhenIdle = true;

  /**
   * Turns moving an idle simulated clock on or off from now on (the demo lets a deployment's
   * waits run out at once, then holds the clock while an escalation waits for a person).
   */
  setAdvanceWhenIdle(on: boolean): void {
    this.advancesWhenIdle = on;
    if (on) this.touch();
  }

  /** Counts every change; an idle check that sees it move knows something happened. */
  private activity = 0;
  /** The simulated-clock limits running (task, heartbeat and execution timeouts). */
  private readonly limits = new Set<object>();
  private idleCheck: ReturnType<typeof setTimeout> | undefined;
  /** Keeps the process alive while a task waits for a token that only something else can send. */
  private keepAlive: ReturnType<typeof setInterval> | undefined;
  private readonly handlers: Handlers;

  constructor(private readonly options: LocalExecutorOptions) {
    this.handlers = { lambdas: options.lambdas, services: options.services ?? new Map() };
    this.advancesWhenIdle = options.advanceWhenIdle !== false;
    for (const sm of options.stateMachines) this.byArn.set(sm.arn, prepare(sm, this.handlers));
  }

  /** The state machine with `name`, or an error naming the known ones. */
  stateMachine(name: string): LocalStateMachine {
    for (const p of this.byArn.values()) if (p.sm.name === name) return p.sm;
    throw new Error(
      `no state machine named ${name}; known: ${[...this.byArn.values()].map((p) => p.sm.name).join(', ')}`,
    );
  }

  /** Starts an execution and waits for its end. Never throws for a failed, timed-out or stopped execution. */
  async run(stateMachineName: string, input: unknown, name?: string): Promise<LocalExecutionResult> {
    const sm = this.stateMachine(stateMachineName);
    const trace: Trace = {
      events: [],
      wallStart: performance.now(),
      simStart: this.options.clock.now().getTime(),
      transitions: 0,
    };
    return this.execute(this.byArn.get(sm.arn) as Prepared, input, name, 0, trace, undefined);
  }

  /** Completes the task waiting for `taskToken` with `output` (a JSON value), as SendTaskSuccess. */
  sendTaskSuccess(taskToken: string, output: unknown): void {
    this.waiting(taskToken).succeed(JSON.parse(JSON.stringify(output ?? null)));
  }

  /** Fails the task waiting for `taskToken` with `error` (matched by Retry/Catch) and `cause`, as SendTaskFailure. */
  sendTaskFailure(taskToken: string, error: string, cause?: string): void {
    this.waiting(taskToken).fail(namedError(error, cause ?? ''));
  }

  /** Restarts the HeartbeatSeconds countdown of the task waiting for `taskToken`, as SendTaskHeartbeat. */
  sendTaskHeartbeat(taskToken: string): void {
    this.waiting(taskToken).heartbeat();
  }

  /** Whether this executor issued `taskToken` (its task may have ended since). */
  issuedTaskToken(taskToken: string): boolean {
    return this.pending.has(taskToken) || this.closedTokens.has(taskToken);
  }

  /** Whether this executor ran or runs the execution `executionArn`. */
  hasExecution(executionArn: string): boolean {
    return this.running.has(executionArn) || this.ended.has(executionArn);
  }

  /**
   * Stops a running execution, as StopExecution: it ends ABORTED with `error` and `cause`, its
   * waiting tasks' tokens are no longer accepted and its nested executions are stopped too. One
   * that has already ended is left as it ended. Resolves once it has ended.
   */
  async stopExecution(executionArn: string, error?: string, cause?: string): Promise<StopExecutionResult> {
    if (!/^arn:[a-z-]+:states:[^:]*:[^:]*:execution:[^:]+:[^:]+$/.test(executionArn)) {
      throw new StopExecutionError('InvalidArn', `${executionArn} is not an execution ARN`);
    }
    const stop = this.running.get(executionArn);
    if (stop) {
      stop(error, cause);
      // Ends at once: an aborted execution does not wait for the Lambdas it called.
      while (!this.ended.has(executionArn)) await new Promise((resolve) => setImmediate(resolve));
    }
    const stopDate = this.ended.get(executionArn);
    if (!stopDate) {
      throw new StopExecutionError(
        'ExecutionDoesNotExist',
        `this executor runs no execution ${executionArn}`,
      );
    }
    return { stopDate };
  }

  private waiting(taskToken: string): PendingToken {
    const task = this.pending.get(taskToken);
    if (task) return task;
    if (this.closedTokens.has(taskToken))
      throw new TaskTokenError('TaskTimedOut', 'the task of this token has already ended');
    throw (
      malformedTaskToken(taskToken) ??
      new TaskTokenError('TaskDoesNotExist', 'no task was given this token by this executor')
    );
  }

  private get simulated(): SimulatedClock | undefined {
    return this.options.realTime === true ? undefined : (this.options.clock as SimulatedClock);
  }

  /** Calls `fire` after `seconds` on the executor's time (simulated or real); returns a canceller. */
  private after(seconds: number, fire: () => void): () => void {
    const clock = this.simulated;
    if (clock) {
      const limit = {};
      this.limits.add(limit);
      this.touch();
      const cancel = clock.at(new Date(clock.now().getTime() + seconds * 1000), () => {
        this.limits.delete(limit);
        fire();
      });
      return () => {
        this.limits.delete(limit);
        cancel();
      };
    }
    // A longer limit than Node's longest timer cannot run out during a local run.
    if (seconds * 1000 > MAX_TIMER_MS) return () => undefined;
    const timer = setTimeout(fire, seconds * 1000);
    return () => clearTimeout(timer);
  }

  /** Something happened (or stopped happening): check for idleness again once things settle. */
  private touch(): void {
    this.activity++;
    if (this.pending.size > 0) this.keepAlive ??= setInterval(() => undefined, 1 << 30);
    else if (this.keepAlive) {
      clearInterval(this.keepAlive);
      this.keepAlive = undefined;
    }
    if (!this.simulated || !this.advancesWhenIdle || this.idleCheck) return;
    const seen = this.activity;
    this.idleCheck = setTimeout(() => {
      this.idleCheck = undefined;
      if (this.activity !== seen) return this.touch();
      this.advanceIfIdle();
    }, IDLE_SETTLE_MS);
    // Never what keeps a process alive: a waiting task does (keepAlive), a running step does.
    this.idleCheck.unref();
  }

  /** Moves the simulated clock to its next timer if nothing runs and a limit is waiting to run out. */
  private advanceIfIdle(): void {
    const clock = this.simulated;
    if (!clock || this.busy > 0 || this.limits.size === 0) return;
    const next = clock.nextTimer();
    if (next === undefined) return;
    clock.advance(Math.max(0, next.getTime() - clock.now().getTime()) / 1000);
    // The timer may have been someone else's: look again once its effects have settled.
    this.touch();
  }

  /**
   * One attempt of a Task state: its integration raced against its limits and the end of its
   * execution. Settles once; on settling, the work it started is told to stop.
   */
  private attempt(task: BoundTask, input: unknown, execution: AttemptContext): Promise<unknown> {
    return new Promise((resolve, reject) => {
      // A first attempt starts at once, as the state is entered: a Wait in a parallel branch must
      // not move the clock before it. The library calls a retry right after its pause, before the
      // event consumer has charged the pause to the clock: that one starts once it has, so its
      // limits and its step see the time it really starts at.
      if (!execution.failed.delete(task.stateName)) {
        this.startAttempt(task, input, execution, resolve, reject);
        return;
      }
      this.busy++;
      setImmediate(() => {
        this.busy--;
        this.startAttempt(task, input, execution, resolve, reject);
      });
    });
  }

  private startAttempt(
    task: BoundTask,
    input: unknown,
    execution: AttemptContext,
    resolve: (output: unknown) => void,
    reject: (err: unknown) => void,
  ): void {
    if (execution.stopped.aborted) {
      reject(namedError('ExecutionStopped', 'the execution has ended'));
      return;
    }
    const { stateName } = task;
    let effective = input;
    let timeoutSeconds = task.timeoutSeconds;
    let heartbeatSeconds = task.heartbeatSeconds;
    if (task.limitsFromInput) {
      const wrapped = input as InputWithLimits;
      effective = wrapped.input;
      const read = (value: unknown, field: string): number | undefined => {
        if (value === undefined) return undefined;
        if (typeof value === 'number' && Number.isInteger(value) && value >= 1) return value;
        throw statesRuntime(
          `${field} of Task '${stateName}' selected ${JSON.stringify(value)}; it must be a whole number ≥ 1`,
        );
      };
      try {
        timeoutSeconds = read(wrapped.limits.timeout, 'TimeoutSecondsPath');
        heartbeatSeconds = read(wrapped.limits.heartbeat, 'HeartbeatSecondsPath');
      } catch (err) {
        reject(err);
        return;
      }
    }

    const stop = new AbortController();
    const cleanups: (() => void)[] = [];
    let settled = false;
    // Whether this attempt counts as busy: running its integration, not waiting on the executor.
    let counted = true;
    this.busy++;
    this.touch();
    const uncount = () => {
      if (!counted) return;
      counted = false;
      this.busy--;
      this.touch();
    };
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      for (const cleanup of cleanups) cleanup();
      stop.abort();
      uncount();
      finish();
    };
    const timeOut = (message: string) =>
      settle(() => {
        const err = new execution.timeoutError();
        err.message = message;
        execution.failed.add(stateName);
        reject(err);
      });
    const onStopped = () => settle(() => reject(namedError('ExecutionStopped', 'the execution has ended')));
    execution.stopped.addEventListener('abort', onStopped, { once: true });
    cleanups.push(() => execution.stopped.removeEventListener('abort', onStopped));

    if (timeoutSeconds !== undefined) {
      const limit = timeoutSeconds;
      cleanups.push(
        this.after(limit, () =>
          timeOut(`Task '${stateName}' ran longer than its TimeoutSeconds (${limit} s)`),
        ),
      );
    }
    let cancelHeartbeat: () => void = () => undefined;
    const heartbeat = () => {
      if (heartbeatSeconds === undefined || settled) return;
      const limit = heartbeatSeconds;
      cancelHeartbeat();
      cancelHeartbeat = this.after(limit, () =>
        timeOut(`Task '${stateName}' sent no heartbeat for its HeartbeatSeconds (${limit} s)`),
      );
    };
    heartbeat();
    cleanups.push(() => cancelHeartbeat());

    const attempt: TaskAttempt = {
      stateName,
      resource: task.resource,
      ...this.handlers,
      startExecution: (arn, childInput, name) =>
        stop.signal.aborted
          ? Promise.reject(namedError('ExecutionStopped', 'the task has ended'))
          : execution.startExecution(arn, childInput, name, stop.signal),
      issueToken: async () => {
        const token = newTaskToken();
        // A token is used once: the first answer closes it, before the task has even moved on.
        const close = () => {
          if (!this.pending.delete(token)) return;
          this.closedTokens.add(token);
          this.touch();
        };
        const outcome = new Promise<unknown>((succeed, fail) =>
          this.pending.set(token, {
            succeed: (output) => {
              close();
              succeed(output);
            },
            fail: (err) => {
              close();
              fail(err);
            },
            heartbeat,
          }),
        );
        // Not awaited if the function invoked with the token fails first.
        outcome.catch(() => undefined);
        cleanups.push(close);
        if (settled) close();
        this.touch();
        await this.options.onTaskToken?.({ token, executionArn: execution.executionArn, stateName });
        return { token, outcome };
      },
      waitFor: async (promise) => {
        uncount();
        try {
          return await promise;
        } finally {
          if (!settled) {
            counted = true;
            this.busy++;
            this.touch();
          }
        }
      },
    };
    task.integration.run(effective, attempt).then(
      (output) => settle(() => resolve(output)),
      (err: unknown) =>
        settle(() => {
          execution.failed.add(stateName);
          reject(err);
        }),
    );
  }

  private async execute(
    prepared: Prepared,
    input: unknown,
    requestedName: string | undefined,
    depth: number,
    trace: Trace,
    parentStop: AbortSignal | undefined,
  ): Promise<ExecutionEnd> {
    const { clock, onEvent } = this.options;
    const { sm, states } = prepared;
    // Starting is work of its own until the library runs the first state.
    this.busy++;
    let starting = true;
    const started = () => {
      if (!starting) return;
      starting = false;
      this.busy--;
      this.touch();
    };
    const timeoutError = await libraryStatesTimeout();
    const name = requestedName ?? randomBytes(8).toString('hex');
    const executionArn = `${sm.arn.replace(':stateMachine:', ':execution:')}:${name}`;
    const emit = (e: Omit<LocalEvent, 'wallMs' | 'simSeconds' | 'depth' | 'execution'>) => {
      const event: LocalEvent = {
        ...e,
        execution: name,
        depth,
        wallMs: performance.now() - trace.wallStart,
        simSeconds: (clock.now().getTime() - trace.simStart) / 1000,
      };
      trace.events.push(event);
      onEvent?.(event);
    };

    // Aborted when this execution ends: its attempts still running stop, and so do their children.
    const stopped = new AbortController();
    const children = new Set<Promise<ExecutionEnd>>();
    const context: AttemptContext = {
      executionArn,
      failed: new Set(),
      stopped: stopped.signal,
      timeoutError,
      startExecution: (
        arn: string,
        childInput: unknown,
        childName: string | undefined,
        stop: AbortSignal,
      ) => {
        const child = this.byArn.get(arn);
        if (!child) {
          const known = [...this.byArn.keys()].join(', ');
          return Promise.reject(
            namedError(
              'StepFunctions.StateMachineDoesNotExistException',
              `no state machine ${arn}; known: ${known}`,
            ),
          );
        }
        const end = this.execute(child, childInput, childName, depth + 1, trace, stop);
        children.add(end);
        return end;
      },
    };
    const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
    for (const task of prepared.tasks) handlers[task.stateName] = (i) => this.attempt(task, i, context);

    // Waits and retry pauses take (almost) no wall time; the event consumer below advances the
    // simulated clock by what they would have slept when it sees the Wait entered or the retry
    // scheduled. The 1 ms override puts a timer between the pause and the next state, so the
    // consumer (microtasks) has always moved the clock before that state runs.
    const waitTimeOverrides: Record<string, number> = {};
    const retryIntervalOverrides: Record<string, number> = {};
    const simulated = this.simulated;
    for (const [stateName, state] of simulated ? states : []) {
      if (state.Type === 'Wait') waitTimeOverrides[stateName] = 1;
      if (Array.isArray(state.Retry) && state.Retry.length > 0) retryIntervalOverrides[stateName] = 1;
    }

    emit({ type: 'ExecutionStarted' });
    const execution = prepared.machine.run(input as never, {
      overrides: {
        taskResourceLocalHandlers: handlers as unknown as NonNullable<
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
        Task: { Token: TASK_TOKEN_PLACEHOLDER },
      },
    });
    // Why the execution was aborted, if it was: its own TimeoutSeconds, StopExecution, or its parent task stopping.
    let abortedFor: { why: 'TIMED_OUT' } | { why: 'ABORTED'; error?: string; cause?: string } | undefined;
    const abort = (why: NonNullable<typeof abortedFor>) => {
      abortedFor ??= why;
      execution.abort();
    };
    this.running.set(executionArn, (error, cause) =>
      abort({ why: 'ABORTED', ...(error !== undefined && { error }), ...(cause !== undefined && { cause }) }),
    );
    const cancelTimeout =
      prepared.timeoutSeconds === undefined
        ? () => undefined
        : this.after(prepared.timeoutSeconds, () => abort({ why: 'TIMED_OUT' }));
    const onParentStop = () =>
      abort({ why: 'ABORTED', error: 'States.Aborted', cause: 'the parent task stopped' });
    parentStop?.addEventListener('abort', onParentStop, { once: true });
    if (parentStop?.aborted) onParentStop();

    const consume = (async () => {
      for await (const e of execution.eventLogs) {
        started();
        this.touch();
        const ev = e as unknown as {
          type: string;
          state?: { name: string; type: string; output?: unknown };
          Error?: string;
          Cause?: unknown;
          retry?: { retrier: { IntervalSeconds?: number; BackoffRate?: number }; attempt: number };
        };
        if (ev.type === 'StateEntered') trace.transitions++;
        if (simulated && ev.type === 'StateEntered' && ev.state?.type === 'Wait') {
          const entered = ev.state as { name: string; input?: unknown };
          simulated.advance(waitSeconds(states.get(entered.name) ?? {}, entered.input, simulated.now()));
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
              ? resultOf(states.get(ev.state.name), ev.state.output)
              : undefined,
        });
      }
    })();

    const base = { name, executionArn, stateMachine: sm.name, events: trace.events };
    const ended = await execution.result.then(
      (output) => ({ status: 'SUCCEEDED' as const, output }),
      (err: unknown) => {
        if (err instanceof ExecutionAbortedError && abortedFor?.why === 'TIMED_OUT') {
          const cause = `execution ${name} of ${sm.name} ran longer than its TimeoutSeconds (${prepared.timeoutSeconds} s)`;
          return { status: 'TIMED_OUT' as const, error: 'States.Timeout', cause };
        }
        if (err instanceof ExecutionAbortedError && abortedFor?.why === 'ABORTED') {
          const { error, cause } = abortedFor;
          return {
            status: 'ABORTED' as const,
            ...(error !== undefined && { error }),
            ...(cause !== undefined && { cause }),
          };
        }
        const cause = err instanceof ExecutionError ? (err.cause as Error) : (err as Error);
        return {
          status: 'FAILED' as const,
          error: cause?.name ?? 'Error',
          cause: cause?.message ?? String(err),
        };
      },
    );
    started();
    cancelTimeout();
    parentStop?.removeEventListener('abort', onParentStop);
    this.running.delete(executionArn);
    await consume.catch(() => undefined);
    // Nothing of this execution runs on, and nested ones record their end before it does.
    stopped.abort();
    await Promise.allSettled(children);
    if (ended.status === 'SUCCEEDED') emit({ type: 'ExecutionSucceeded', output: ended.output });
    else {
      const type = { FAILED: 'ExecutionFailed', TIMED_OUT: 'ExecutionTimedOut', ABORTED: 'ExecutionAborted' };
      emit({ type: type[ended.status], error: ended.error, cause: ended.cause });
    }
    this.ended.set(executionArn, clock.now());
    this.touch();
    return {
      ...base,
      ...ended,
      wallMs: performance.now() - trace.wallStart,
      simSeconds: (clock.now().getTime() - trace.simStart) / 1000,
      transitions: trace.transitions,
    };
  }
}

/** A plain reference path (`$` or `$.a.b`): what the local runner reads itself. */
const SIMPLE_PATH = /^\$(\.[A-Za-z0-9_-]+)*$/;

/** The value at a plain path (see {@link SIMPLE_PATH}) of `value`. */
function valueAt(value: unknown, plainPath: string): unknown {
  let at = value;
  for (const key of plainPath.split('.').slice(1)) at = (at as Record<string, unknown> | undefined)?.[key];
  return at;
}

/**
 * How long a Wait state entered with `rawInput` waits, in seconds from `now`: `Seconds`,
 * `SecondsPath`, or up to `Timestamp`/`TimestampPath` read on the simulated clock (never less
 * than 0, as a timestamp in the past does not wait). A path selecting nothing usable waits 0 s;
 * the library itself skips reading it once its wait is overridden.
 */
function waitSeconds(state: Json, rawInput: unknown, now: Date): number {
  const input =
    state.InputPath === null ? {} : valueAt(rawInput, (state.InputPath as string | undefined) ?? '$');
  const seconds =
    state.Seconds ?? (typeof state.SecondsPath === 'string' ? valueAt(input, state.SecondsPath) : undefined);
  if (typeof seconds === 'number' && Number.isFinite(seconds)) return Math.max(0, seconds);
  const timestamp =
    state.Timestamp ??
    (typeof state.TimestampPath === 'string' ? valueAt(input, state.TimestampPath) : undefined);
  const at = typeof timestamp === 'string' ? Date.parse(timestamp) : Number.NaN;
  return Number.isFinite(at) ? Math.max(0, (at - now.getTime()) / 1000) : 0;
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
