/**
 * Executes synthesized state machine definitions locally with aws-local-stepfunctions: Task
 * states run the real step handlers in-process, nested `startExecution.sync` tasks run the
 * child state machine here too, and Wait states and retry pauses advance the simulated clock
 * instead of sleeping.
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
 * - Without `realTime` these are measured on the simulated clock and on nothing else: a limit
 *   runs out at the move of the clock that reaches it — a Wait or retry pause (of this or any
 *   other execution on the same clock), a handler advancing the clock, a test calling
 *   `advance`. A task waiting for its token while nothing moves the clock waits forever, as
 *   time stands still. Waits and pauses move the clock in one jump when they start, so a limit
 *   that falls inside one is noticed at that jump: the outcome is the same as in AWS, the clock
 *   may just read later than the limit. With `realTime`, limits are real timers.
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
import { TEMPLATE_CACHE_DIR } from './template-cache.ts';

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
  /** TIMED_OUT: the state machine's own `TimeoutSeconds` ran out (error `States.Timeout`). */
  readonly status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT';
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

/**
 * A task token the executor does not wait for: `InvalidToken` if it never issued it,
 * `TaskTimedOut` if its task has ended (succeeded, failed, timed out or stopped), as AWS answers.
 */
export class TaskTokenError extends Error {
  constructor(
    override readonly name: 'InvalidToken' | 'TaskTimedOut',
    message: string,
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;

/** What an integration gets to run one attempt of a Task state. */
interface TaskAttempt {
  readonly stateName: string;
  readonly resource: string;
  readonly lambdas: ReadonlyMap<string, LocalTaskHandler>;
  /** Starts a nested execution and resolves with its end; it is stopped if this attempt is. */
  startExecution(stateMachineArn: string, input: unknown, name: string | undefined): Promise<ExecutionEnd>;
  /** A new task token for this attempt and the outcome `sendTask*` will give it. */
  issueToken(): { readonly token: string; readonly outcome: Promise<unknown> };
}

/** One kind of Task resource the executor runs locally. */
interface Integration {
  /** How a refusal lists it. */
  readonly describe: string;
  /** Whether it serves `resource`. */
  matches(resource: string, lambdas: ReadonlyMap<string, LocalTaskHandler>): boolean;
  /** Why a Task state it serves still cannot run locally, if so (checked when the executor is built). */
  refuse?(state: Json, lambdas: ReadonlyMap<string, LocalTaskHandler>): string | undefined;
  /** Runs one attempt with the state's effective input (after InputPath and Parameters). */
  run(input: unknown, attempt: TaskAttempt): Promise<unknown>;
}

const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';
const LAMBDA_INVOKE_CALLBACK = `${LAMBDA_INVOKE}.waitForTaskToken`;
const SYNC_START = /^arn:aws:states:::states:startExecution\.sync(:2)?$/;

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

/** Refusal of a `lambda:invoke` state whose static FunctionName has no handler. */
function refuseFunctionName(state: Json, lambdas: ReadonlyMap<string, LocalTaskHandler>): string | undefined {
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
    matches: (resource, lambdas) => lambdas.has(resource),
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
    refuse: (state, lambdas) =>
      JSON.stringify(state.Parameters ?? null).includes('$$.Task.Token')
        ? refuseFunctionName(state, lambdas)
        : 'never passes $$.Task.Token, so nothing could complete it; put it in Parameters',
    run: async (input, attempt) => {
      // The token exists before the function runs: it may answer before it returns.
      const { token, outcome } = attempt.issueToken();
      await invokeNamed(withToken(input, token), attempt.lambdas);
      return outcome;
    },
  },
  {
    describe:
      'arn:aws:states:::states:startExecution.sync and .sync:2 (a state machine of this executor, run nested)',
    matches: (resource) => SYNC_START.test(resource),
    run: async (input, { resource, startExecution }) => {
      const p = (input ?? {}) as { StateMachineArn?: unknown; Input?: unknown; Name?: unknown };
      // Let the parent's event consumer catch up so the output reads in order.
      await new Promise((resolve) => setTimeout(resolve, 1));
      const childInput = p.Input ?? {};
      const end = await startExecution(
        String(p.StateMachineArn),
        childInput,
        typeof p.Name === 'string' ? p.Name : undefined,
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
];

/** The end of an execution, including one stopped because its parent task stopped. */
type ExecutionEnd = Omit<LocalExecutionResult, 'status'> & {
  readonly status: LocalExecutionResult['status'] | 'ABORTED';
};

/** A Task state bound to its integration, with its limits. */
interface BoundTask {
  readonly stateName: string;
  readonly resource: string;
  readonly integration: Integration;
  readonly timeoutSeconds: number | undefined;
  readonly heartbeatSeconds: number | undefined;
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

/** The definition handed to aws-local-stepfunctions: no time limit it would enforce in wall time. */
function forLibrary(definition: Json): Json {
  const { TimeoutSeconds: _, ...rest } = definition;
  const withStates = (def: Json): Json => ({
    ...def,
    States: Object.fromEntries(
      Object.entries(statesOf(def)).map(([stateName, state]) => {
        const copy: Json = { ...state };
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
function prepare(sm: LocalStateMachine, lambdas: ReadonlyMap<string, LocalTaskHandler>): Prepared {
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
    if (state.Type !== 'Task') continue;
    const resource = String(state.Resource);
    const integration = INTEGRATIONS.find((i) => i.matches(resource, lambdas));
    if (!integration) {
      throw new UnsupportedDefinitionError(
        `${where} uses resource ${resource}, which has no local handler; the local runner supports: ${INTEGRATIONS.map((i) => i.describe).join('; ')}`,
      );
    }
    const problem = integration.refuse?.(state, lambdas);
    if (problem) throw new UnsupportedDefinitionError(`${where} (${resource}) ${problem}`);
    for (const path of ['TimeoutSecondsPath', 'HeartbeatSecondsPath']) {
      if (path in state) {
        throw new UnsupportedDefinitionError(
          `${where} uses ${path}, which the local runner cannot evaluate against the state input; use ${path.replace('Path', '')}`,
        );
      }
    }
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
    tasks.push({ stateName, resource, integration, timeoutSeconds, heartbeatSeconds });
  }
  const definition = forLibrary(sm.definition) as unknown as StateMachineDefinition;
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
   * The simulated clock that Wait states and retry pauses advance (they take ~no wall time), or,
   * with `realTime`, any clock: waits and retries then really pause, as in AWS — what a real
   * cluster needs, whose controllers move in real time. Time limits are measured on the same
   * time (see the file's comment).
   */
  readonly clock: SimulatedClock | Clock;
  /** Pause for real instead of advancing a simulated clock. @default false */
  readonly realTime?: boolean;
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

/** Runs state machines of one synthesized app locally. */
export class LocalExecutor {
  private readonly byArn = new Map<string, Prepared>();
  private readonly pending = new Map<string, PendingToken>();
  private readonly closedTokens = new Set<string>();

  constructor(private readonly options: LocalExecutorOptions) {
    for (const sm of options.stateMachines) this.byArn.set(sm.arn, prepare(sm, options.lambdas));
  }

  /** The state machine with `name`, or an error naming the known ones. */
  stateMachine(name: string): LocalStateMachine {
    for (const p of this.byArn.values()) if (p.sm.name === name) return p.sm;
    throw new Error(
      `no state machine named ${name}; known: ${[...this.byArn.values()].map((p) => p.sm.name).join(', ')}`,
    );
  }

  /** Starts an execution and waits for its end. Never throws for a failed or timed-out execution. */
  async run(stateMachineName: string, input: unknown, name?: string): Promise<LocalExecutionResult> {
    const sm = this.stateMachine(stateMachineName);
    const trace: Trace = {
      events: [],
      wallStart: performance.now(),
      simStart: this.options.clock.now().getTime(),
      transitions: 0,
    };
    const end = await this.execute(this.byArn.get(sm.arn) as Prepared, input, name, 0, trace, undefined);
    // Only a nested execution is ever stopped (by its parent); a top-level one has none.
    return end as LocalExecutionResult;
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

  private waiting(taskToken: string): PendingToken {
    const task = this.pending.get(taskToken);
    if (task) return task;
    if (this.closedTokens.has(taskToken))
      throw new TaskTokenError('TaskTimedOut', 'the task of this token has already ended');
    throw new TaskTokenError('InvalidToken', 'this executor issued no such task token');
  }

  /** Calls `fire` after `seconds` on the executor's time (simulated or real); returns a canceller. */
  private after(seconds: number, fire: () => void): () => void {
    if (this.options.realTime !== true) {
      const clock = this.options.clock as SimulatedClock;
      return clock.at(new Date(clock.now().getTime() + seconds * 1000), fire);
    }
    // A longer limit than Node's longest timer cannot run out during a local run.
    if (seconds * 1000 > MAX_TIMER_MS) return () => undefined;
    const timer = setTimeout(fire, seconds * 1000);
    return () => clearTimeout(timer);
  }

  /**
   * One attempt of a Task state: its integration raced against its limits and the end of its
   * execution. Settles once; on settling, the work it started is told to stop.
   */
  private attempt(
    task: BoundTask,
    input: unknown,
    execution: {
      readonly stopped: AbortSignal;
      readonly timeoutError: new () => Error;
      startExecution(
        arn: string,
        input: unknown,
        name: string | undefined,
        stop: AbortSignal,
      ): Promise<ExecutionEnd>;
    },
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (execution.stopped.aborted) {
        reject(namedError('ExecutionStopped', 'the execution has ended'));
        return;
      }
      const stop = new AbortController();
      const cleanups: (() => void)[] = [];
      let settled = false;
      const settle = (finish: () => void) => {
        if (settled) return;
        settled = true;
        for (const cleanup of cleanups) cleanup();
        stop.abort();
        finish();
      };
      const timeOut = (message: string) =>
        settle(() => {
          const err = new execution.timeoutError();
          err.message = message;
          reject(err);
        });
      const onStopped = () => settle(() => reject(namedError('ExecutionStopped', 'the execution has ended')));
      execution.stopped.addEventListener('abort', onStopped, { once: true });
      cleanups.push(() => execution.stopped.removeEventListener('abort', onStopped));

      const { timeoutSeconds, heartbeatSeconds, stateName } = task;
      if (timeoutSeconds !== undefined) {
        cleanups.push(
          this.after(timeoutSeconds, () =>
            timeOut(`Task '${stateName}' ran longer than its TimeoutSeconds (${timeoutSeconds} s)`),
          ),
        );
      }
      let cancelHeartbeat: () => void = () => undefined;
      const heartbeat = () => {
        if (heartbeatSeconds === undefined) return;
        cancelHeartbeat();
        cancelHeartbeat = this.after(heartbeatSeconds, () =>
          timeOut(`Task '${stateName}' sent no heartbeat for its HeartbeatSeconds (${heartbeatSeconds} s)`),
        );
      };
      heartbeat();
      cleanups.push(() => cancelHeartbeat());

      const attempt: TaskAttempt = {
        stateName,
        resource: task.resource,
        lambdas: this.options.lambdas,
        startExecution: (arn, childInput, name) =>
          stop.signal.aborted
            ? Promise.reject(namedError('ExecutionStopped', 'the task has ended'))
            : execution.startExecution(arn, childInput, name, stop.signal),
        issueToken: () => {
          const token = randomBytes(32).toString('base64url');
          const outcome = new Promise<unknown>((succeed, fail) =>
            this.pending.set(token, { succeed, fail, heartbeat }),
          );
          // Not awaited if the function invoked with the token fails first.
          outcome.catch(() => undefined);
          cleanups.push(() => {
            this.pending.delete(token);
            this.closedTokens.add(token);
          });
          return { token, outcome };
        },
      };
      task.integration.run(input, attempt).then(
        (output) => settle(() => resolve(output)),
        (err: unknown) => settle(() => reject(err)),
      );
    });
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
    const context = {
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
    const simulated = this.options.realTime === true ? undefined : (clock as SimulatedClock);
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
    // Why the execution was aborted, if it was: its own TimeoutSeconds, or its parent task stopping.
    let abortedFor: 'TIMED_OUT' | 'ABORTED' | undefined;
    const abort = (why: 'TIMED_OUT' | 'ABORTED') => {
      abortedFor ??= why;
      execution.abort();
    };
    const cancelTimeout =
      prepared.timeoutSeconds === undefined
        ? () => undefined
        : this.after(prepared.timeoutSeconds, () => abort('TIMED_OUT'));
    const onParentStop = () => abort('ABORTED');
    parentStop?.addEventListener('abort', onParentStop, { once: true });
    if (parentStop?.aborted) onParentStop();

    const consume = (async () => {
      for await (const e of execution.eventLogs) {
        const ev = e as unknown as {
          type: string;
          state?: { name: string; type: string; output?: unknown };
          Error?: string;
          Cause?: unknown;
          retry?: { retrier: { IntervalSeconds?: number; BackoffRate?: number }; attempt: number };
        };
        if (ev.type === 'StateEntered') trace.transitions++;
        if (simulated && ev.type === 'StateEntered' && ev.state?.type === 'Wait') {
          simulated.advance(Number(states.get(ev.state.name)?.Seconds ?? 0));
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
        if (err instanceof ExecutionAbortedError && abortedFor === 'TIMED_OUT') {
          const cause = `execution ${name} of ${sm.name} ran longer than its TimeoutSeconds (${prepared.timeoutSeconds} s)`;
          return { status: 'TIMED_OUT' as const, error: 'States.Timeout', cause };
        }
        if (err instanceof ExecutionAbortedError && abortedFor === 'ABORTED') {
          return { status: 'ABORTED' as const, error: 'States.Aborted', cause: 'the parent task stopped' };
        }
        const cause = err instanceof ExecutionError ? (err.cause as Error) : (err as Error);
        return {
          status: 'FAILED' as const,
          error: cause?.name ?? 'Error',
          cause: cause?.message ?? String(err),
        };
      },
    );
    cancelTimeout();
    parentStop?.removeEventListener('abort', onParentStop);
    await consume.catch(() => undefined);
    // Nothing of this execution runs on, and nested ones record their end before it does.
    stopped.abort();
    await Promise.allSettled(children);
    if (ended.status === 'SUCCEEDED') emit({ type: 'ExecutionSucceeded', output: ended.output });
    else {
      const type = { FAILED: 'ExecutionFailed', TIMED_OUT: 'ExecutionTimedOut', ABORTED: 'ExecutionAborted' };
      emit({ type: type[ended.status], error: ended.error, cause: ended.cause });
    }
    return {
      ...base,
      ...ended,
      wallMs: performance.now() - trace.wallStart,
      simSeconds: (clock.now().getTime() - trace.simStart) / 1000,
      transitions: trace.transitions,
    };
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
