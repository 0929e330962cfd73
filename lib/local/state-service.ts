/**
 * The local state service: one process per state folder that owns what AWS would own — the
 * DynamoDB tables (dynalite on `<state>/dynamodb`), the embedded cluster simulator (persisted to
 * `<state>/cluster.json` after every change) and the demo APIs — so that any number of local
 * commands share them the way commands in AWS share DynamoDB and the cluster. The simulated
 * clock is the file `<state>/clock.json` ({@link SharedClock}), read and moved by every process.
 *
 * It also relays task tokens and StopExecution between the processes running local executions
 * (task-relay.ts), as Step Functions would between callers.
 *
 * The first local command starts the service detached; it advertises itself in
 * `<state>/service.json` (written atomically) and exits after a while with no requests and no
 * running local execution. Two starters are kept apart by the O_EXCL file `<state>/service.start`.
 */
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClusterPort } from '../../lambdas/adapters/cluster.ts';
import type { Store } from '../../lambdas/core/ports.ts';
import type { WorkloadObservation, WorkloadPort } from '../../lambdas/core/workload.ts';
import type { EnvironmentConfig, GuardianConfig } from '../config/schema.ts';
import { seedWithDemoApis } from './seed.ts';
import { damaged, LocalStateError, processAlive, readStateJson, writeFileAtomic } from './state-files.ts';

/** What `<state>/service.json` says. */
export interface ServiceInfo {
  readonly pid: number;
  readonly controlUrl: string;
  readonly dynamoEndpoint: string;
  readonly startedAt: string;
}

/** A workload the simulator must have, and the demo API that serves it. */
export interface ServiceWorkload {
  readonly environment: string;
  readonly namespace: string;
  readonly name: string;
  readonly container: string;
  /** Image it runs if the simulator does not have it yet. */
  readonly image: string;
  /** `rollout`: a blue-green Argo Rollout with its two Services (issue 11). @default deployment */
  readonly kind?: 'deployment' | 'rollout';
  readonly activeService?: string;
  readonly previewService?: string;
}

/** The simulator as the service runs it: its kubeconfig and a demo API URL per environment. */
export interface ServiceSimulator {
  readonly kubeconfigYaml: string;
  readonly apiUrls: Record<string, string>;
  /** Blue-green environments: the demo API behind the preview Service. */
  readonly previewUrls?: Record<string, string>;
}

/** A local execution in progress, recorded under `<state>/running/` while its process runs it. */
export interface RunningExecution {
  readonly pid: number;
  /** When that process started (see processStartTime); absent where /proc cannot tell. */
  readonly pidStartTime?: string;
  readonly environment: string;
  readonly name: string;
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly input: unknown;
  readonly startedAt: string;
}

const isServiceInfo = (v: unknown): v is ServiceInfo =>
  typeof v === 'object' && v !== null && typeof (v as ServiceInfo).pid === 'number';

/** Paths of a state folder. */
export function statePaths(stateDir: string) {
  return {
    service: path.join(stateDir, 'service.json'),
    start: path.join(stateDir, 'service.start'),
    log: path.join(stateDir, 'service.log'),
    clock: path.join(stateDir, 'clock.json'),
    cluster: path.join(stateDir, 'cluster.json'),
    dynamodb: path.join(stateDir, 'dynamodb'),
    running: path.join(stateDir, 'running'),
    executions: path.join(stateDir, 'executions'),
  };
}

const IDLE_SECONDS = () => Number(process.env.GUARDIAN_SERVICE_IDLE_SECONDS ?? 120);

async function http(method: string, url: string, body?: unknown, timeoutMs = 5000): Promise<unknown> {
  const res = await fetch(url, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  if (!res.ok) throw new LocalStateError(text || `local state service answered ${res.status}`);
  return text ? JSON.parse(text) : undefined;
}

/** The service of `stateDir` if one is running and answers. */
async function runningService(stateDir: string): Promise<ServiceInfo | undefined> {
  let info: ServiceInfo | undefined;
  try {
    info = readStateJson(statePaths(stateDir).service, isServiceInfo, 'the local state service');
  } catch {
    return undefined; // never half-written (atomic); unreadable means stale
  }
  if (!info || !processAlive(info.pid)) return undefined;
  try {
    await http('GET', `${info.controlUrl}/ping`, undefined, 2000);
    return info;
  } catch {
    return undefined;
  }
}

/** How to run the service's entry: the compiled one beside the compiled CLI, else the TypeScript through tsx. */
function serviceCommand(): string[] {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts'))
    // tsx by its resolved URL: a bare `tsx` would be looked up from the command's working folder.
    return ['--import', import.meta.resolve('tsx'), path.join(path.dirname(here), 'state-service-main.ts')];
  return [path.join(path.dirname(here), 'state-service.mjs')];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Connects to the state service of `stateDir`, starting it if none runs. A service that fails to
 * start (a damaged state file, say) is reported with its own message.
 */
export async function connectStateService(stateDir: string): Promise<ServiceInfo> {
  mkdirSync(stateDir, { recursive: true });
  const paths = statePaths(stateDir);
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const running = await runningService(stateDir);
    if (running) return running;
    let fd: number;
    try {
      fd = openSync(paths.start, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Another command is starting it; a start file left by a dead starter is broken after 30 s.
      try {
        if (Date.now() - statSync(paths.start).mtimeMs > 30_000) unlinkSync(paths.start);
      } catch {
        // gone meanwhile
      }
      await sleep(50);
      continue;
    }
    try {
      closeSync(fd);
      return await startService(stateDir);
    } finally {
      rmSync(paths.start, { force: true });
    }
  }
  throw new LocalStateError(
    `the local state service of ${stateDir} did not start within 120 s; see ${paths.log}, or remove ${paths.start} if no guardian command is running`,
  );
}

async function startService(stateDir: string): Promise<ServiceInfo> {
  const paths = statePaths(stateDir);
  const logFd = openSync(paths.log, 'a');
  const logStart = statSync(paths.log).size;
  const child = spawn(process.execPath, [...serviceCommand(), stateDir], {
    detached: true,
    stdio: ['ignore', 'ignore', logFd],
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  closeSync(logFd);
  let exited: number | null | undefined;
  child.once('exit', (code) => {
    exited = code;
  });
  child.unref();
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      const log = readFileSync(paths.log, 'utf8').slice(logStart).trim();
      const last = log
        .split('\n')
        .filter((l) => l.startsWith('guardian-state-service:'))
        .pop();
      throw new LocalStateError(
        last?.replace(/^guardian-state-service: /, '') ??
          `the local state service of ${stateDir} exited (code ${exited}); see ${paths.log}`,
      );
    }
    const running = await runningService(stateDir);
    if (running && running.pid === child.pid) return running;
    await sleep(25);
  }
  throw new LocalStateError(
    `the local state service of ${stateDir} did not start within 120 s; see ${paths.log}`,
  );
}

/** Makes sure the service runs the simulator with these workloads; returns how to reach them. */
export async function ensureSimulator(
  info: ServiceInfo,
  workloads: ServiceWorkload[],
): Promise<ServiceSimulator> {
  return (await http('POST', `${info.controlUrl}/simulator`, { workloads })) as ServiceSimulator;
}

/** The environment's workload observed by the service through the Workload port's local adapter. */
export async function observeWorkload(
  info: ServiceInfo,
  environment: EnvironmentConfig,
): Promise<WorkloadObservation> {
  return (await http('POST', `${info.controlUrl}/workload`, { environment })) as WorkloadObservation;
}

/** Stops the service of `stateDir` if one runs (it persists its state first). */
export async function stopStateService(stateDir: string): Promise<void> {
  const info = await runningService(stateDir);
  if (!info) return;
  await http('POST', `${info.controlUrl}/stop`).catch(() => undefined);
  for (let i = 0; i < 200 && processAlive(info.pid); i++) await sleep(25);
}

/** The local executions recorded as running in `stateDir`. */
export function runningExecutions(stateDir: string): { file: string; execution: RunningExecution }[] {
  const dir = statePaths(stateDir).running;
  if (!existsSync(dir)) return [];
  const out: { file: string; execution: RunningExecution }[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.json')) continue;
    const file = path.join(dir, f);
    const execution = readStateJson(
      file,
      (v): v is RunningExecution => typeof (v as RunningExecution | null)?.pid === 'number',
      'a running local execution',
    );
    if (execution) out.push({ file, execution });
  }
  return out;
}

/** The store reads the read path may make through the service. */
export const READ_METHODS = ['getLock', 'getBreaker', 'listFreezes', 'listRecords'] as const;

/** A store read asked of the service: the config's stack for `environment`, one read method. */
export interface ReadRequest {
  readonly config: GuardianConfig;
  readonly environment: string;
  readonly method: (typeof READ_METHODS)[number];
  readonly args?: readonly unknown[];
}

/** The service itself: run by `state-service-main.ts` in its own process. */
export async function runStateService(stateDir: string): Promise<void> {
  const paths = statePaths(stateDir);
  const fail = (err: unknown): never => {
    process.stderr.write(`guardian-state-service: ${(err as Error).message}\n`);
    process.exit(1);
  };
  const other = await runningService(stateDir);
  if (other) fail(new Error(`a state service already runs for ${stateDir} (pid ${other.pid})`));

  // Everything heavy is imported here, in the service, never by a command that only connects.
  const [{ SharedClock }, { default: dynalite }, sim, { workflowBroker }] = await Promise.all([
    import('./clock.ts'),
    import('dynalite'),
    import('./cluster-sim/index.ts'),
    import('./task-relay.ts'),
  ]);
  // Task tokens and StopExecution between the processes running executions (task-relay.ts).
  const workflows = workflowBroker();
  let clock: InstanceType<typeof SharedClock>;
  let snapshot: unknown;
  try {
    clock = new SharedClock(paths.clock);
    snapshot = readStateJson(
      paths.cluster,
      (v): v is object => typeof v === 'object' && v !== null && (v as { version?: unknown }).version === 1,
      'the simulated cluster',
    );
  } catch (err) {
    return fail(err);
  }

  let lastActivity = Date.now();
  const active = () => {
    lastActivity = Date.now();
  };

  // A damaged database would fail inside dynalite's request handler and take the service down
  // with a stack trace that names no folder: open it once here first.
  if (existsSync(paths.dynamodb)) {
    const { Level } = (await import('level')) as unknown as {
      Level: new (location: string) => { open(): Promise<void>; close(): Promise<void> };
    };
    const level = new Level(paths.dynamodb);
    try {
      await level.open();
      await level.close();
    } catch (err) {
      const cause = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
      fail(damaged(paths.dynamodb, 'the local DynamoDB tables', cause));
    }
  }
  process.on('uncaughtException', (err) => {
    process.stderr.write(
      `guardian-state-service: the local state in ${stateDir} failed: ${err.message} (${paths.dynamodb}, ${paths.cluster}); see ${paths.log}\n${err.stack ?? ''}\n`,
    );
    process.exit(1);
  });

  const db = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, path: paths.dynamodb });
  await listen(db as unknown as Server).catch(fail);
  db.on('request', active);
  const dynamoEndpoint = `http://127.0.0.1:${(db.address() as AddressInfo).port}`;
  // Opening a damaged database fails on the first request; find out now and say which folder.
  const probe = await fetch(dynamoEndpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': 'DynamoDB_20120810.ListTables',
      authorization:
        'AWS4-HMAC-SHA256 Credential=local/20200101/ap-southeast-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: '{}',
  }).catch((err: Error) => err);
  if (probe instanceof Error || probe.status >= 500) {
    const detail = probe instanceof Error ? probe.message : await probe.text();
    fail(damaged(paths.dynamodb, 'the local DynamoDB tables', detail.slice(0, 300)));
  }

  let simulator: Awaited<ReturnType<typeof sim.startClusterSimulator>> | undefined;
  const demoApis = new Map<string, { url: string; close(): Promise<void> }>();
  const previewApis = new Map<string, { url: string; close(): Promise<void> }>();
  let stopped = false;
  const saveCluster = () => {
    if (!simulator || stopped) return;
    // Never recreate a state folder someone deleted: that would keep half of the state.
    if (!existsSync(paths.service)) return;
    writeFileAtomic(paths.cluster, JSON.stringify(simulator.exportState(), null, 1));
  };

  const ensureSimulator = async (workloads: ServiceWorkload[]): Promise<ServiceSimulator> => {
    simulator ??= await sim.startClusterSimulator({
      clock,
      ...(snapshot ? { snapshot: snapshot as never } : {}),
      onChange: saveCluster,
      recordRequests: false,
    });
    const current = simulator;
    const before = JSON.stringify(current.exportState());
    for (const w of workloads) {
      if (!demoApis.has(w.environment)) {
        const { api, preview } = await seedWithDemoApis(current, w, clock);
        demoApis.set(w.environment, api);
        if (preview) previewApis.set(w.environment, preview);
      }
    }
    if (JSON.stringify(current.exportState()) !== before) saveCluster();
    return {
      kubeconfigYaml: current.kubeconfigYaml,
      apiUrls: Object.fromEntries([...demoApis].map(([env, api]) => [env, api.url])),
      previewUrls: Object.fromEntries([...previewApis].map(([env, api]) => [env, api.url])),
    };
  };

  // The workload as the steps see it, read here so a command's `status` need not load the Kubernetes client.
  let workloadCluster: Promise<unknown> | undefined;
  const observeWorkload = async (env: EnvironmentConfig): Promise<unknown> => {
    if (!simulator) throw new Error('the simulator is not running; ask for it first');
    const current = simulator;
    workloadCluster ??= import('../../lambdas/adapters/kubernetes.ts').then(
      (k8s) => new k8s.KubernetesCluster(current.kubeConfig()),
    );
    const port = (await workloadCluster) as ClusterPort;
    const { resolvePort } = await import('../../lambdas/ports/table.ts');
    const workload = (await resolvePort('workload', env).local(
      { config: env, vars: {}, clock },
      { dynamo: undefined as never, kubernetes: async () => port, clock },
    )) as WorkloadPort | undefined;
    if (!workload) throw new Error(`the workload port of ${env.name} was left out of this build`);
    return workload.observe();
  };

  // The read path of `status`, `history`, `lock`, `circuit-breaker` and `freeze`: the store reads
  // they make, answered here, so those commands load neither the AWS SDK nor the templates.
  const readStores = new Map<string, Promise<Store>>();
  const readStore = (config: GuardianConfig, environment: string): Promise<Store> => {
    const key = `${JSON.stringify(config)}\0${environment}`;
    let store = readStores.get(key);
    if (!store) {
      store = import('./read-store.ts').then((m) => m.storeFor(config, environment, dynamoEndpoint));
      store.catch(() => readStores.delete(key));
      readStores.set(key, store);
    }
    return store;
  };
  const read = async (body: ReadRequest): Promise<unknown> => {
    if (!(READ_METHODS as readonly string[]).includes(body.method)) {
      throw new Error(`not a read: ${String(body.method)}`);
    }
    const store = await readStore(body.config, body.environment);
    return (store[body.method] as (...a: unknown[]) => Promise<unknown>).apply(store, [...(body.args ?? [])]);
  };

  const shutdown = async (why: string) => {
    if (stopped) return;
    try {
      saveCluster();
    } catch (err) {
      process.stderr.write(
        `guardian-state-service: could not save ${paths.cluster}: ${(err as Error).message}\n`,
      );
    }
    stopped = true;
    process.stderr.write(`${new Date().toISOString()} state service ${process.pid} stopping: ${why}\n`);
    try {
      const info = readStateJson(paths.service, isServiceInfo, 'the local state service');
      if (info?.pid === process.pid) unlinkSync(paths.service);
    } catch {
      // already gone
    }
    control.closeAllConnections();
    for (const api of [...demoApis.values(), ...previewApis.values()])
      await api.close().catch(() => undefined);
    await simulator?.close().catch(() => undefined);
    await new Promise<void>((resolve) => db.close(() => resolve()));
    process.exit(0);
  };

  const control = createServer((req, res) => {
    active();
    handle(req)
      .then((body) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body ?? null));
      })
      .catch((err: Error) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(err.message);
      });
  });
  const handle = async (req: IncomingMessage): Promise<unknown> => {
    if (req.url === '/ping') return { pid: process.pid, simulator: simulator !== undefined };
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
    if (req.method === 'POST' && req.url === '/simulator') return ensureSimulator(body.workloads ?? []);
    if (req.method === 'POST' && req.url === '/workload') return observeWorkload(body.environment);
    if (req.method === 'POST' && req.url === '/read') return read(body as ReadRequest);
    const workflowAnswer = req.method === 'POST' ? workflows.handle(req.url ?? '', body) : undefined;
    if (workflowAnswer) return workflowAnswer;
    if (req.method === 'POST' && req.url === '/stop') {
      setImmediate(() => void shutdown('asked to stop'));
      return { stopping: true };
    }
    throw new Error(`no such request: ${req.method} ${req.url}`);
  };
  await listen(control).catch(fail);

  const info: ServiceInfo = {
    pid: process.pid,
    controlUrl: `http://127.0.0.1:${(control.address() as AddressInfo).port}`,
    dynamoEndpoint,
    startedAt: new Date().toISOString(),
  };
  writeFileAtomic(paths.service, JSON.stringify(info, null, 1));
  process.stderr.write(`${info.startedAt} state service ${process.pid} serving ${stateDir}\n`);

  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  setInterval(() => {
    if (!existsSync(paths.service)) {
      // The folder (or our service.json) was deleted: stop without writing anything back.
      stopped = true;
      process.stderr.write(`guardian-state-service: ${paths.service} was removed; stopping without saving\n`);
      process.exit(0);
    }
    const idle = Date.now() - lastActivity > IDLE_SECONDS() * 1000;
    if (!idle) return;
    let busy = false;
    try {
      busy = runningExecutions(stateDir).some((r) => processAlive(r.execution.pid, r.execution.pidStartTime));
    } catch {
      busy = true; // a damaged record is the next command's to report
    }
    if (!busy) void shutdown(`idle for ${IDLE_SECONDS()} s`);
  }, 500).unref();
}

function listen(server: Server): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
}
