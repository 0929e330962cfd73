/**
 * The local runner: the guardian's synthesized app executed on this machine. It synthesizes
 * the CDK app (without bundling), creates the stacks' DynamoDB tables in dynalite from the
 * template, binds each Lambda task of each state machine definition to the real step handler
 * with local ports, and runs executions with the simulated clock. Kubernetes is the embedded
 * cluster simulator, or a real cluster from a kubeconfig.
 */
import './polyfills.ts';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { CreateTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import type { ClusterPort } from '../../lambdas/adapters/cluster.ts';
import { DynamoStore } from '../../lambdas/adapters/dynamo-store.ts';
import { connectKubeconfig, KubernetesCluster } from '../../lambdas/adapters/kubernetes.ts';
import {
  deployExecutionName,
  releaseLabel,
  rollbackExecutionName,
  stateMachineName,
} from '../../lambdas/core/naming.ts';
import { type Clock, type Store, systemClock } from '../../lambdas/core/ports.ts';
import { parseConfigSlice } from '../../lambdas/core/runtime-env.ts';
import type { DeployInput, RollbackInput } from '../../lambdas/core/types.ts';
import type { WorkloadPort } from '../../lambdas/core/workload.ts';
import { ENV_VARS, type LocalPortContext, resolvePort } from '../../lambdas/ports/table.ts';
import { STEP_MODULES } from '../../lambdas/registry.ts';
import { buildStepDeps, configKeysOf } from '../../lambdas/shared/wiring.ts';
import { BASE_CONFIG_KEYS } from '../../lambdas/steps.ts';
import { buildApp } from '../app.ts';
import type { EnvironmentConfig, GuardianConfig } from '../config/schema.ts';
import { stackTemplateInfo } from '../template.ts';
import { SimulatedClock } from './clock.ts';
import { type ClusterSimulator, startClusterSimulator } from './cluster-sim/index.ts';
import { startDemoApi } from './demo-api.ts';
import {
  type LocalEvent,
  type LocalExecutionResult,
  LocalExecutor,
  type LocalTaskHandler,
} from './executor.ts';

/** Options of {@link LocalGuardian.start}. */
export interface LocalGuardianOptions {
  readonly config: GuardianConfig;
  /** Folder for persistent local state (dynalite data, simulated cluster, clock); none = in memory. */
  readonly stateDir?: string;
  /** Use this cluster instead of the embedded simulator. */
  readonly kubeconfig?: string;
  /** With `kubeconfig`: the URL health checks call (default: the environment's apiUrl). */
  readonly apiUrl?: string;
  /** Image each environment's workload runs when the simulator starts empty. */
  readonly seedImages?: Readonly<Record<string, string>>;
  /**
   * Waits and retries pause for real on the system clock (as in AWS) instead of advancing a
   * simulated one. A real cluster's controllers move in real time, so this is the default with
   * `kubeconfig`; the embedded simulator follows the simulated clock.
   * @default true with kubeconfig, else false
   */
  readonly realTime?: boolean;
  /** Where the simulated clock starts (default: now, or the persisted time if later). */
  readonly startTime?: Date;
  /** Progress callback for every state entered/exited. */
  readonly onEvent?: (event: LocalEvent) => void;
}

interface StackRuntime {
  readonly environment: EnvironmentConfig;
  readonly executor: LocalExecutor;
  readonly store: Store;
  readonly deployStateMachine: string;
  readonly rollbackStateMachine: string;
  /** The real `execution-ended` step with its template-derived ports (EventBridge's target in AWS). */
  readonly executionEnded: LocalTaskHandler;
}

const DEFAULT_SEED_TAG = 'v1.0.0';
const silentLogger = () => new Logger({ serviceName: 'deployment-guardian', logLevel: 'SILENT' });

/** A running local guardian. Call {@link LocalGuardian.close} when done (it persists state). */
export class LocalGuardian {
  private constructor(
    /** The clock every step, lock and timer reads: simulated, or the system clock in real time. */
    readonly clock: Clock,
    private readonly stacks: ReadonlyMap<string, StackRuntime>,
    private readonly closers: (() => Promise<void>)[],
    readonly simulator: ClusterSimulator | undefined,
    private readonly cluster: () => Promise<ClusterPort>,
    private readonly doc: DynamoDBDocumentClient,
    private readonly stateDir: string | undefined,
  ) {}

  /** Synthesizes the app and starts dynalite, the simulator (or a kubeconfig) and the demo API. */
  static async start(options: LocalGuardianOptions): Promise<LocalGuardian> {
    const closers: (() => Promise<void>)[] = [];
    try {
      return await LocalGuardian.startInner(options, closers);
    } catch (err) {
      for (const close of closers.reverse()) await close().catch(() => undefined);
      throw err;
    }
  }

  /** Each piece in turn: state (clock, dynalite), cluster and demo services, synth, wiring. */
  private static async startInner(
    options: LocalGuardianOptions,
    closers: (() => Promise<void>)[],
  ): Promise<LocalGuardian> {
    const { stateDir } = options;
    if (stateDir) mkdirSync(stateDir, { recursive: true });
    const realTime = options.realTime ?? Boolean(options.kubeconfig);
    if (realTime && !options.kubeconfig) {
      throw new Error('realTime needs a kubeconfig: the embedded simulator runs on the simulated clock');
    }
    const { clock, simClock } = startClock(options, realTime, closers);
    const doc = await startDynamo(stateDir, closers);
    const cluster = await startCluster(options, clock, simClock, closers);
    const { stacks, templates } = synthesize(options.config);
    const runtimes = new Map<string, StackRuntime>();
    for (const [envName, stack] of Object.entries(stacks)) {
      const template = templates.get(envName);
      if (!template) throw new Error(`stack ${stack.stackName} was not synthesized`);
      const environment = options.config.environments[envName] as EnvironmentConfig;
      runtimes.set(
        envName,
        await wireStack({
          stackName: stack.stackName,
          region: stack.region ?? 'ap-southeast-1',
          template,
          environment,
          doc,
          local: { dynamo: doc, kubernetes: cluster.port, clock },
          apiUrl: options.apiUrl ?? cluster.apiUrls.get(envName),
          realTime,
          ...(options.onEvent ? { onEvent: options.onEvent } : {}),
        }),
      );
    }
    return new LocalGuardian(clock, runtimes, closers, cluster.simulator, cluster.port, doc, stateDir);
  }

  private runtime(environment: string): StackRuntime {
    const rt = this.stacks.get(environment);
    if (!rt) {
      throw new Error(`unknown environment '${environment}'; known: ${[...this.stacks.keys()].join(', ')}`);
    }
    return rt;
  }

  /** The store of an environment's stack (records, lock, breaker, freezes). */
  store(environment: string): Store {
    return this.runtime(environment).store;
  }

  /** The environment's config as the stack knows it. */
  environment(environment: string): EnvironmentConfig {
    return this.runtime(environment).environment;
  }

  /** The Kubernetes cluster the guardian acts on. */
  async clusterPort(): Promise<ClusterPort> {
    return this.cluster();
  }

  /** The environment's workload through its platform's local adapter (the port table's, as the steps get it). */
  async workload(environment: string): Promise<WorkloadPort> {
    const env = this.environment(environment);
    const built = await resolvePort('workload', env).local(
      { config: env, vars: {}, clock: this.clock },
      { dynamo: this.doc, kubernetes: this.cluster, clock: this.clock },
    );
    if (!built) throw new Error(`the workload port of ${environment} was left out of this build`);
    return built as WorkloadPort;
  }

  /** Runs a Deploy execution to its end. */
  async deploy(input: DeployInput | Record<string, unknown>, name?: string): Promise<LocalExecutionResult> {
    const environment = String((input as { environment?: unknown }).environment ?? '');
    const rt = this.runtime(environment);
    const raw = input as { version?: unknown; image?: unknown };
    const result = await rt.executor.run(
      rt.deployStateMachine,
      input,
      name ??
        deployExecutionName(
          environment || 'unknown',
          releaseLabel(raw.image, raw.version),
          randomBytes(4).toString('hex'),
        ),
    );
    this.saveExecution(result);
    await this.deliverEnded(rt, result, input);
    return result;
  }

  /** Runs a Rollback execution to its end. */
  async rollback(
    input: RollbackInput | Record<string, unknown>,
    name?: string,
  ): Promise<LocalExecutionResult> {
    const environment = String((input as { environment?: unknown }).environment ?? '');
    const rt = this.runtime(environment);
    const result = await rt.executor.run(
      rt.rollbackStateMachine,
      input,
      name ?? rollbackExecutionName(environment, randomBytes(4).toString('hex')),
    );
    this.saveExecution(result);
    await this.deliverEnded(rt, result, input);
    return result;
  }

  /**
   * Delivers a "Step Functions Execution Status Change" event to the environment's real
   * `execution-ended` step, as the stack's EventBridge rule does in AWS, and returns its result.
   */
  async deliverExecutionEvent(environment: string, event: unknown): Promise<{ message: string }> {
    return (await this.runtime(environment).executionEnded(event)) as { message: string };
  }

  /**
   * What the EventBridge rule does in AWS for a top-level execution that ended FAILED or
   * TIMED_OUT (the unfinished ends the local executor has: it has no StopExecution).
   */
  private async executionEnded(
    rt: StackRuntime,
    result: LocalExecutionResult,
    input: unknown,
  ): Promise<void> {
    if (result.status !== 'FAILED' && result.status !== 'TIMED_OUT') return;
    const stopped = this.clock.now();
    const started = new Date(stopped.getTime() - result.simSeconds * 1000);
    await rt.executionEnded(
      executionStatusChangeEvent(
        rt.executor.stateMachine(result.stateMachine).arn,
        result,
        input,
        started,
        stopped,
      ),
    );
  }

  private saveExecution(result: LocalExecutionResult): void {
    if (!this.stateDir) return;
    const dir = path.join(this.stateDir, 'executions');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `${result.name}.json`), JSON.stringify(result, null, 1));
  }

  /**
   * The emulated EventBridge delivery: as in AWS, a janitor failure never changes the
   * execution's outcome; it is reported as a process warning instead.
   */
  private async deliverEnded(rt: StackRuntime, result: LocalExecutionResult, input: unknown): Promise<void> {
    try {
      await this.executionEnded(rt, result, input);
    } catch (err) {
      process.emitWarning(
        `execution-ended janitor failed for ${result.name}: ${(err as Error).message}`,
        'GuardianJanitorWarning',
      );
    }
  }

  /** Persists local state and stops every server this runner started. */
  async close(): Promise<void> {
    // Every closer runs even if one fails (no server left listening); the first error is rethrown.
    let first: unknown;
    for (const close of this.closers.reverse()) {
      try {
        await close();
      } catch (err) {
        first ??= err;
      }
    }
    this.closers.length = 0;
    if (first !== undefined) throw first;
  }
}

/** The clock: simulated (persisted under the state folder) or, in real time, the system clock. */
function startClock(
  options: LocalGuardianOptions,
  realTime: boolean,
  closers: (() => Promise<void>)[],
): { clock: Clock; simClock: SimulatedClock } {
  const simClock = new SimulatedClock(options.startTime ?? new Date());
  const clock: Clock = realTime ? systemClock : simClock;
  const clockFile = options.stateDir && !realTime ? path.join(options.stateDir, 'clock.json') : undefined;
  if (clockFile && existsSync(clockFile)) {
    simClock.catchUp(new Date(JSON.parse(readFileSync(clockFile, 'utf8')).now));
  }
  if (clockFile) {
    closers.push(async () => writeFileSync(clockFile, JSON.stringify({ now: clock.now().toISOString() })));
  }
  return { clock, simClock };
}

/** DynamoDB: dynalite, persisted under the state folder when there is one. */
async function startDynamo(
  stateDir: string | undefined,
  closers: (() => Promise<void>)[],
): Promise<DynamoDBDocumentClient> {
  const db = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(stateDir ? { path: path.join(stateDir, 'dynamodb') } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    db.once('error', reject);
    db.listen(0, '127.0.0.1', () => resolve());
  });
  closers.push(() => new Promise<void>((resolve) => db.close(() => resolve())));
  const port = (db.address() as AddressInfo).port;
  const ddb = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'ap-southeast-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  closers.push(async () => ddb.destroy());
  return DynamoDBDocumentClient.from(ddb, { marshallOptions: { removeUndefinedValues: true } });
}

/** Kubernetes: a real cluster from a kubeconfig, or the embedded simulator plus one demo API per environment. */
async function startCluster(
  options: LocalGuardianOptions,
  clock: Clock,
  simClock: SimulatedClock,
  closers: (() => Promise<void>)[],
): Promise<{
  port: () => Promise<ClusterPort>;
  simulator: ClusterSimulator | undefined;
  apiUrls: Map<string, string>;
}> {
  const apiUrls = new Map<string, string>();
  if (options.kubeconfig) {
    const port = connectKubeconfig(options.kubeconfig);
    return { port: async () => port, simulator: undefined, apiUrls };
  }
  const simFile = options.stateDir ? path.join(options.stateDir, 'cluster.json') : undefined;
  const snapshot = simFile && existsSync(simFile) ? JSON.parse(readFileSync(simFile, 'utf8')) : undefined;
  const sim = await startClusterSimulator({
    clock: simClock,
    ...(snapshot
      ? { snapshot }
      : {
          seed: Object.values(options.config.environments).map((env) => ({
            namespace: env.namespace,
            name: env.workload,
            container: env.container,
            image: options.seedImages?.[env.name] ?? `${env.image}:${DEFAULT_SEED_TAG}`,
            replicas: 3,
          })),
        }),
  });
  closers.push(async () => {
    if (simFile) writeFileSync(simFile, JSON.stringify(sim.exportState(), null, 1));
    await sim.close();
  });
  const port = new KubernetesCluster(sim.kubeConfig());
  for (const env of Object.values(options.config.environments)) {
    const demo = await startDemoApi({
      clock,
      resolveImage: () => sim.servedImage(env.namespace, env.workload),
    });
    closers.push(() => demo.close());
    apiUrls.set(env.name, demo.url);
  }
  return { port: async () => port, simulator: sim, apiUrls };
}

/** The app, synthesized without bundling (the steps run unbundled here), and each stack's template. */
function synthesize(config: GuardianConfig): {
  stacks: ReturnType<typeof buildApp>['stacks'];
  templates: Map<string, Record<string, unknown>>;
} {
  const { app, stacks } = buildApp({ config, bundle: false, nag: false });
  const assembly = app.synth();
  const templates = new Map<string, Record<string, unknown>>();
  for (const [envName, stack] of Object.entries(stacks)) {
    templates.set(envName, assembly.getStackByName(stack.stackName).template as Record<string, unknown>);
  }
  return { stacks, templates };
}

/** What {@link wireStack} needs. */
interface WireStackOptions {
  readonly stackName: string;
  readonly region: string;
  readonly template: Record<string, unknown>;
  readonly environment: EnvironmentConfig;
  readonly doc: DynamoDBDocumentClient;
  readonly local: LocalPortContext;
  /** Where health checks go (the demo API or `--api-url`); default: the environment's apiUrl. */
  readonly apiUrl: string | undefined;
  readonly realTime: boolean;
  readonly onEvent?: (event: LocalEvent) => void;
}

/**
 * One stack, run here: its tables created in dynalite, each Lambda task bound to the real step
 * with the ports and config slice the template says its function has (derived from the same
 * tables as in AWS, so a step that would fail there for want of a port fails here too).
 */
async function wireStack(o: WireStackOptions): Promise<StackRuntime> {
  const info = stackTemplateInfo(o.template, { region: o.region, account: '000000000000' });
  const tableName = (logicalId: string) => `${o.stackName}.${logicalId}`;
  const existing = new Set((await o.doc.send(new ListTablesCommand({}))).TableNames ?? []);
  for (const table of info.tables) {
    const name = tableName(table.logicalId);
    if (existing.has(name)) continue;
    await o.doc.send(new CreateTableCommand({ ...table.properties, TableName: name } as never));
  }
  const resolveVars = (env: Record<string, unknown>): Record<string, string> =>
    Object.fromEntries(
      Object.entries(env).map(([k, v]) => [k, typeof v === 'object' ? tableName(refOf(v)) : String(v)]),
    );
  const lambdas = new Map<string, LocalTaskHandler>();
  let executionEnded: LocalTaskHandler | undefined;
  let storeVars: Record<string, string> | undefined;
  for (const fn of info.functions) {
    const base = parseConfigSlice(JSON.stringify(fn.config ?? null), BASE_CONFIG_KEYS, { exact: false });
    const sliced = parseConfigSlice(JSON.stringify(fn.config), configKeysOf(fn.stepId, base));
    const config = {
      ...sliced,
      ...(o.apiUrl && 'apiUrl' in sliced ? { apiUrl: o.apiUrl } : {}),
    } as EnvironmentConfig;
    const vars = resolveVars(fn.environment);
    if (vars[ENV_VARS.deploymentsTable]) storeVars = vars;
    const { step } = await STEP_MODULES[fn.stepId]();
    const deps = await buildStepDeps(
      fn.stepId,
      { config, vars, clock: o.local.clock },
      { kind: 'local', context: o.local },
      { clock: o.local.clock, logger: silentLogger(), metrics: new LocalMetrics() },
    );
    const invoke: LocalTaskHandler = async (input) => {
      try {
        return await step.run(input, deps);
      } catch (err) {
        throw asLambdaError(err);
      }
    };
    // No state machine invokes the janitor: the runner delivers ended executions to it as EventBridge would.
    if (fn.stepId === 'execution-ended') executionEnded = invoke;
    else lambdas.set(fn.arn, invoke);
  }
  if (!executionEnded) throw new Error(`stack ${o.stackName} has no execution-ended function`);
  if (!storeVars) throw new Error(`stack ${o.stackName} has no function with the store port`);
  const executor = new LocalExecutor({
    stateMachines: info.stateMachines,
    lambdas,
    clock: o.local.clock,
    realTime: o.realTime,
    ...(o.onEvent ? { onEvent: o.onEvent } : {}),
  });
  return {
    environment: o.environment,
    executor,
    store: new DynamoStore(o.doc, {
      deploymentsTable: storeVars[ENV_VARS.deploymentsTable] as string,
      controlTable: storeVars[ENV_VARS.controlTable] as string,
    }),
    deployStateMachine: stateMachineName(o.environment.name, 'deploy'),
    rollbackStateMachine: stateMachineName(o.environment.name, 'rollback'),
    executionEnded,
  };
}

/** Powertools Metrics that keeps nothing: local runs publish no EMF lines into the CLI's output. */
class LocalMetrics extends Metrics {
  constructor() {
    super({ namespace: 'DeploymentGuardianLocal', serviceName: 'deployment-guardian' });
  }

  override publishStoredMetrics(): this {
    this.clearMetrics();
    this.clearDimensions();
    return this;
  }
}

/** The EventBridge event Step Functions emits when an execution ends, for a local execution. */
export function executionStatusChangeEvent(
  stateMachineArn: string,
  result: Pick<LocalExecutionResult, 'name' | 'executionArn' | 'output' | 'error' | 'cause'> & {
    /** FAILED locally; TIMED_OUT or ABORTED for a synthetic event. */
    readonly status: string;
  },
  input: unknown,
  startDate: Date,
  stopDate: Date,
): Record<string, unknown> {
  const [, , , region = '', account = ''] = result.executionArn.split(':');
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    account,
    time: stopDate.toISOString(),
    region,
    resources: [result.executionArn],
    detail: {
      executionArn: result.executionArn,
      stateMachineArn,
      name: result.name,
      status: result.status,
      startDate: startDate.getTime(),
      stopDate: stopDate.getTime(),
      input: JSON.stringify(input),
      output: result.output === undefined ? null : JSON.stringify(result.output),
      error: result.error ?? null,
      cause: result.cause ?? null,
    },
  };
}

function refOf(value: unknown): string {
  const ref = (value as { Ref?: unknown } | undefined)?.Ref;
  if (typeof ref !== 'string') throw new Error(`expected a {Ref} to a table, got ${JSON.stringify(value)}`);
  return ref;
}

/**
 * The error as Step Functions sees it from a Node.js Lambda: `Error` is the error's name and
 * `Cause` is the runtime's JSON (`errorType`, `errorMessage`, `trace`), so local executions
 * carry exactly the causes AWS ones do and everything downstream parses the same shape.
 */
export function asLambdaError(err: unknown): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  const shaped = new Error(
    JSON.stringify({ errorType: e.name, errorMessage: e.message, trace: (e.stack ?? '').split('\n') }),
  );
  shaped.name = e.name;
  return shaped;
}
