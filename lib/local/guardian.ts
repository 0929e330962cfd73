/**
 * The local runner: the guardian's synthesized app executed on this machine. It takes each
 * stack's template (synthesized without bundling, cached by a hash of what it is built from),
 * creates the stacks' DynamoDB tables in dynalite from it, binds each Lambda task of each state
 * machine definition to the real step handler with local ports, and runs executions with the
 * simulated clock. Kubernetes is the embedded cluster simulator, or a real cluster from a kubeconfig.
 *
 * With a state folder, the tables, the simulator and the demo APIs live in the folder's local
 * state service (state-service.ts), shared by every local command like DynamoDB and the cluster
 * are shared in AWS; without one (the demo, tests), everything runs in this process, in memory.
 * Heavy modules (the CDK, the step handlers, the executor, the Kubernetes client) are imported
 * only when a command needs them, so read commands stay light.
 */
import './polyfills.ts';
import { randomBytes, randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { CreateTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ClusterPort } from '../../lambdas/adapters/cluster.ts';
import { DynamoStore } from '../../lambdas/adapters/dynamo-store.ts';
import type { SnsPublish } from '../../lambdas/adapters/notifier.ts';
import type { RolloutsPort } from '../../lambdas/adapters/rollouts.ts';
import type { AlarmHandlerResult } from '../../lambdas/alarm-handler/handler.ts';
import type { HoldDecision } from '../../lambdas/core/canary-hold.ts';
import { InvalidInputError } from '../../lambdas/core/errors.ts';
import type { IncidentActor } from '../../lambdas/core/incidents.ts';
import type { MetricsSource } from '../../lambdas/core/measurements.ts';
import {
  deployExecutionName,
  releaseLabel,
  rollbackExecutionName,
  stateMachineName,
} from '../../lambdas/core/naming.ts';
import type { WebhookResponse as PagerDutyWebhookResponse } from '../../lambdas/core/pagerduty-webhook.ts';
import {
  type Clock,
  type IncidentTransitionResult,
  type Store,
  systemClock,
  type Workflows,
} from '../../lambdas/core/ports.ts';
import type { DeployInput, RollbackInput } from '../../lambdas/core/types.ts';
import type { WorkloadObservation, WorkloadPort } from '../../lambdas/core/workload.ts';
import { ENV_VARS, type LocalPortContext, resolvePort } from '../../lambdas/ports/table.ts';
import type { HoldDecisionResult } from '../../lambdas/shared/hold.ts';
import { backupConfigOf } from '../config/backup-schema.ts';
import { scrapeMetricsSchema } from '../config/metrics-schema.ts';
import type { EnvironmentConfig, GuardianConfig } from '../config/schema.ts';
import {
  resolveIntrinsics,
  type StackTemplateInfo,
  stackTemplateInfo,
  type TemplateLike,
} from '../template.ts';
import { SharedClock, SimulatedClock } from './clock.ts';
import type { ClusterSimulator } from './cluster-sim/index.ts';
import type { EcsSim } from './ecs-sim.ts';
import type {
  IssuedTaskToken,
  LocalEvent,
  LocalExecutionResult,
  LocalExecutor,
  LocalTaskHandler,
} from './executor.ts';
import { RdsSim, rdsSimFile } from './rds-sim.ts';
import { rolloutServices, seedWithDemoApis } from './seed.ts';
import { processAlive, processStartTime, writeFileAtomic } from './state-files.ts';
import {
  connectStateService,
  ensureSimulator,
  observeWorkload,
  type RunningExecution,
  runningExecutions,
  type ServiceInfo,
  type ServiceSimulator,
  type ServiceWorkload,
  statePaths,
} from './state-service.ts';
import type { LocalWorkflows, WorkflowRequest, WorkflowsRelay } from './task-relay.ts';
import {
  malformedTaskToken,
  StopExecutionError,
  type StopExecutionResult,
  TaskTokenError,
} from './task-tokens.ts';
import { type CachedStack, stackTemplates } from './template-cache.ts';

/** An execution the Workflows port started in this process. */
interface BackgroundExecution {
  readonly kind: 'rollback' | 'escalation';
  readonly environment: string;
  readonly name: string;
  readonly executionArn: string;
  readonly run: Promise<LocalExecutionResult>;
}

/** Options of {@link LocalGuardian.start}. */
export interface LocalGuardianOptions {
  readonly config: GuardianConfig;
  /**
   * Folder for persistent local state (dynalite data, simulated cluster, clock), served to every
   * command by the folder's local state service; none = in memory, in this process.
   */
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
  /**
   * On the simulated clock, move it to the next time limit when every execution of this process
   * only waits (a task token, say), as a Wait state is compressed; off, such a wait lasts until
   * its token comes or something else moves the clock (a person acknowledging from another
   * command). @default true
   */
  readonly advanceWhenIdle?: boolean;
  /** Progress callback for every state entered/exited. */
  readonly onEvent?: (event: LocalEvent) => void;
  /** Told what the runner did on its own (an abandoned execution cleaned up). */
  readonly onNotice?: (line: string) => void;
  /**
   * Secret values by name or ARN, standing in for Secrets Manager (the escalation channels' routing
   * key and webhook URL). Default: `<state>/secrets.json` if there is one, else none.
   */
  readonly secrets?: Readonly<Record<string, string>>;
  /**
   * Escalations started while a command runs (a failed rollback's P1, an alarm's incident) wait
   * until {@link LocalGuardian.runDeferredEscalations}, which pages each one's first level with the
   * clock held and then ends it: a local execution cannot outlive its command, and a chain waiting
   * for a person must not move the shared simulated clock under the command's own executions.
   * The CLI defers; the demo and tests run whole chains. @default false
   */
  readonly deferEscalations?: boolean;
  /** Where the PagerDuty channel sends locally (a receiver on loopback). Default: the configured eventsUrl. */
  readonly pagerdutyEventsUrl?: string;
  /** Publishes what the escalation's SNS channel sends. Default: appended to `<state>/sns.jsonl`, or kept in memory. */
  readonly snsPublish?: SnsPublish;
}

/** An environment's stack: its store at once, its executions wired on first use. */
interface StackRuntime {
  readonly environment: EnvironmentConfig;
  readonly stack: CachedStack;
  readonly info: StackTemplateInfo;
  readonly store: Store;
  wired?: Promise<WiredStack>;
}

/** What running executions of a stack needs. */
interface WiredStack {
  readonly executor: LocalExecutor;
  readonly deployStateMachine: string;
  readonly rollbackStateMachine: string;
  readonly escalationStateMachine: string;
  /** The real `alarm-handler` step (EventBridge's target for alarm state changes in AWS). */
  readonly alarmHandler: LocalTaskHandler;
  /** The real `execution-ended` step with its template-derived ports (EventBridge's target in AWS). */
  readonly executionEnded: LocalTaskHandler;
  /** The real `pagerduty-webhook` step (its Function URL's target in AWS), if the stack has one. */
  readonly pagerDutyWebhook?: LocalTaskHandler;
}

/** The cluster side: its port and the URL each environment's health checks call. */
interface ClusterAccess {
  readonly port: ClusterPort;
  /** The Argo Rollouts API of the same cluster (issue 11). */
  readonly rollouts: RolloutsPort;
  readonly apiUrls: ReadonlyMap<string, string>;
  /** Blue-green environments: the demo API behind each preview Service (issue 11). */
  readonly previewUrls: ReadonlyMap<string, string>;
  readonly simulator: ClusterSimulator | undefined;
}

const DEFAULT_SEED_TAG = 'v1.0.0';
/** The account local ARNs are in. */
const LOCAL_ACCOUNT_ID = '000000000000';

/** A running local guardian. Call {@link LocalGuardian.close} when done. */
export class LocalGuardian {
  private clusterAccess: Promise<ClusterAccess> | undefined;
  /** This process's executions served to other processes (with a state folder), once a token is issued. */
  private workflowsRelay: Promise<WorkflowsRelay> | undefined;
  /** Executions the Workflows port started (the alarm handler's rollbacks and escalations), by ARN. */
  private readonly background = new Map<string, BackgroundExecution>();
  /** Escalations waiting for {@link runDeferredEscalations} (with `deferEscalations`). */
  private readonly deferred: { environment: string; name: string; input: unknown }[] = [];
  /** What the SNS channel published, when no folder or publisher was given. */
  readonly snsMessages: { readonly topicArn: string; readonly subject: string; readonly message: string }[] =
    [];

  private constructor(
    private readonly options: LocalGuardianOptions,
    /** The clock every step, lock and timer reads: simulated, or the system clock in real time. */
    readonly clock: Clock,
    private readonly stacks: ReadonlyMap<string, StackRuntime>,
    private readonly closers: (() => Promise<void>)[],
    private readonly connectCluster: () => Promise<ClusterAccess>,
    private readonly doc: DynamoDBDocumentClient,
    private readonly stateDir: string | undefined,
    /** The in-process simulator (runs without a state folder); undefined until the cluster is first used. */
    private inProcessSimulator: { current: ClusterSimulator | undefined },
    /** The state service running the simulator, when it does. */
    private readonly service:
      | { readonly info: ServiceInfo; readonly simulator: () => Promise<ServiceSimulator> }
      | undefined,
    /** The state folder's service (with a state folder): the broker of task tokens between processes. */
    private readonly stateService: ServiceInfo | undefined,
  ) {}

  /** The embedded simulator when it runs in this process (no state folder). */
  get simulator(): ClusterSimulator | undefined {
    return this.inProcessSimulator.current;
  }

  /**
   * Reads the templates (synthesizing on a cache miss), connects to the state folder's service or
   * starts dynalite in memory, and creates the tables. The cluster and the step handlers are
   * brought up on first use.
   */
  static async start(options: LocalGuardianOptions): Promise<LocalGuardian> {
    const closers: (() => Promise<void>)[] = [];
    try {
      const g = await LocalGuardian.startInner(options, closers);
      if (!options.stateDir)
        await g.cluster(); // in memory: the simulator is part of the runner
      else await g.reapAbandoned();
      return g;
    } catch (err) {
      for (const close of closers.reverse()) await close().catch(() => undefined);
      throw err;
    }
  }

  private static async startInner(
    options: LocalGuardianOptions,
    closers: (() => Promise<void>)[],
  ): Promise<LocalGuardian> {
    const { stateDir } = options;
    const realTime = options.realTime ?? Boolean(options.kubeconfig);
    if (realTime && !options.kubeconfig) {
      throw new Error('realTime needs a kubeconfig: the embedded simulator runs on the simulated clock');
    }
    // The clock first: a damaged clock file is reported before anything starts.
    if (stateDir) mkdirSync(stateDir, { recursive: true });
    const simClock = stateDir
      ? new SharedClock(statePaths(stateDir).clock, options.startTime)
      : new SimulatedClock(options.startTime ?? new Date());
    const templates = stackTemplates(options.config);
    const service = stateDir ? connectStateService(stateDir) : undefined;
    // Awaited below; a failure is reported there, never as an unhandled rejection.
    service?.catch(() => undefined);
    templates.catch(() => undefined);
    const clock: Clock = realTime ? systemClock : simClock;
    const endpoint = service ? (await service).dynamoEndpoint : await startDynalite(closers);
    const doc = dynamoClient(endpoint, closers);
    const stacks = await templates;
    const inProcess: { current: ClusterSimulator | undefined } = { current: undefined };
    let simulatorStarted: Promise<ServiceSimulator> | undefined;
    const simulatorInService =
      service && !options.kubeconfig
        ? () => {
            simulatorStarted ??= service.then((info) => ensureSimulator(info, workloads));
            return simulatorStarted;
          }
        : undefined;
    // The cluster simulator seeds the Kubernetes environments (a Deployment, or a blue-green
    // Rollout with its active and preview Services); ECS ones have their own double.
    const workloads = Object.values(options.config.environments).flatMap((env): ServiceWorkload[] =>
      (env.platform !== 'kubernetes' && env.platform !== 'argo-rollouts') || env.namespace === undefined
        ? []
        : [
            {
              environment: env.name,
              namespace: env.namespace,
              name: env.workload,
              container: env.container,
              image: options.seedImages?.[env.name] ?? `${env.image}:${DEFAULT_SEED_TAG}`,
              ...(env.platform === 'argo-rollouts' && {
                kind: 'rollout' as const,
                ...rolloutServices(env.workload),
              }),
            },
          ],
    );
    const connectCluster = async (): Promise<ClusterAccess> => {
      const [k8s, argo] = await Promise.all([
        import('../../lambdas/adapters/kubernetes.ts'),
        import('../../lambdas/adapters/kubernetes-rollouts.ts'),
      ]);
      if (options.kubeconfig) {
        return {
          port: k8s.connectKubeconfig(options.kubeconfig),
          rollouts: new argo.KubernetesRollouts(k8s.kubeConfigFromFile(options.kubeconfig)),
          apiUrls: new Map(),
          previewUrls: new Map(),
          simulator: undefined,
        };
      }
      if (service) {
        const sim = await (simulatorInService as () => Promise<ServiceSimulator>)();
        const { KubeConfig } = await import('@kubernetes/client-node');
        const kc = new KubeConfig();
        kc.loadFromString(sim.kubeconfigYaml);
        return {
          port: new k8s.KubernetesCluster(kc),
          rollouts: new argo.KubernetesRollouts(kc),
          apiUrls: new Map(Object.entries(sim.apiUrls)),
          previewUrls: new Map(Object.entries(sim.previewUrls ?? {})),
          simulator: undefined,
        };
      }
      const access = await startInProcessCluster(workloads, clock, simClock, closers);
      inProcess.current = access.simulator;
      return access;
    };
    const runtimes = new Map<string, StackRuntime>();
    const existing = new Set((await doc.send(new ListTablesCommand({}))).TableNames ?? []);
    for (const [envName, stack] of Object.entries(stacks)) {
      const environment = options.config.environments[envName] as EnvironmentConfig;
      const info = stackTemplateInfo(stack.template, { region: stack.region, account: LOCAL_ACCOUNT_ID });
      const tableName = (logicalId: string) => `${stack.stackName}.${logicalId}`;
      for (const table of info.tables) {
        const name = tableName(table.logicalId);
        if (existing.has(name)) continue;
        await doc
          .send(new CreateTableCommand({ ...table.properties, TableName: name } as never))
          .catch((err: Error) => {
            // Another command created it first.
            if (err.name !== 'ResourceInUseException') throw err;
          });
      }
      const roleTable = (role: string) => {
        const t = info.tables.find((x) => x.role === role);
        if (!t) throw new Error(`stack ${stack.stackName} has no ${role} table`);
        return tableName(t.logicalId);
      };
      runtimes.set(envName, {
        environment,
        stack,
        info,
        store: new DynamoStore(doc, {
          deploymentsTable: roleTable('deployments'),
          controlTable: roleTable('control'),
        }),
      });
    }
    const simulatorService =
      service && simulatorInService ? { info: await service, simulator: simulatorInService } : undefined;
    return new LocalGuardian(
      options,
      clock,
      runtimes,
      closers,
      connectCluster,
      doc,
      stateDir,
      inProcess,
      simulatorService,
      service ? await service : undefined,
    );
  }

  private runtime(environment: string): StackRuntime {
    const rt = this.stacks.get(environment);
    if (!rt) {
      throw new Error(`unknown environment '${environment}'; known: ${[...this.stacks.keys()].join(', ')}`);
    }
    return rt;
  }

  private cluster(): Promise<ClusterAccess> {
    this.clusterAccess ??= this.connectCluster();
    return this.clusterAccess;
  }

  private wired(environment: string): Promise<WiredStack> {
    const rt = this.runtime(environment);
    rt.wired ??= Promise.all([this.cluster(), this.ecsApiUrl(environment)]).then(([cluster, ecsUrl]) =>
      wireStack({
        stackName: rt.stack.stackName,
        template: rt.stack.template,
        region: rt.stack.region,
        info: rt.info,
        environment: rt.environment,
        local: {
          dynamo: this.doc,
          kubernetes: async () => cluster.port,
          rollouts: async () => cluster.rollouts,
          ecs: () => this.ecsDouble(environment),
          clock: this.clock,
          workflows: this.workflowsOf(environment),
          secrets: this.secretValues(),
          snapshots: () => this.snapshots(environment),
          snsPublish: this.options.snsPublish ?? ((topicArn, msg) => this.publishLocally(topicArn, msg)),
          ...(this.options.pagerdutyEventsUrl ? { pagerdutyEventsUrl: this.options.pagerdutyEventsUrl } : {}),
        },
        apiUrl: this.options.apiUrl ?? ecsUrl ?? cluster.apiUrls.get(environment),
        previewUrl: cluster.previewUrls.get(environment),
        realTime: this.clock === systemClock,
        ...(this.stateService
          ? { onTaskToken: (issued: IssuedTaskToken) => this.shareTaskToken(issued) }
          : {}),
        ...((this.advanceWhenIdleNow ?? this.options.advanceWhenIdle) === false
          ? { advanceWhenIdle: false }
          : {}),
        ...(this.stateDir ? { stateDir: this.stateDir } : {}),
        ...(this.options.onEvent ? { onEvent: this.options.onEvent } : {}),
      }),
    );
    return rt.wired;
  }

  /** Overrides {@link LocalGuardianOptions.advanceWhenIdle} from now on (undefined: as the options say). */
  private advanceWhenIdleNow: boolean | undefined;

  /**
   * Turns moving the idle simulated clock on or off for every execution from now on: on, waits
   * for tokens run out at once (a deployment's monitoring); off, an escalation waits for a person
   * (or for {@link SimulatedClock.advance}).
   */
  async setAdvanceWhenIdle(on: boolean): Promise<void> {
    this.advanceWhenIdleNow = on;
    for (const executor of await this.executors()) executor.setAdvanceWhenIdle(on);
  }

  /** Secret values: the options', else `<state>/secrets.json`, else none. */
  private secretValues(): Readonly<Record<string, string>> {
    if (this.options.secrets) return this.options.secrets;
    if (!this.stateDir) return {};
    const file = path.join(this.stateDir, 'secrets.json');
    if (!existsSync(file)) return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new Error(
        `${file} is not valid JSON (${(err as Error).message}); it maps secret names to values`,
      );
    }
    if (
      parsed === null ||
      typeof parsed !== 'object' ||
      Array.isArray(parsed) ||
      Object.values(parsed).some((v) => typeof v !== 'string')
    ) {
      throw new Error(`${file} must be a JSON object of secret names to string values`);
    }
    return parsed as Record<string, string>;
  }

  /** The SNS channel locally: one JSON line per message in `<state>/sns.jsonl`, or kept in {@link snsMessages}. */
  private async publishLocally(topicArn: string, msg: { subject: string; message: string }): Promise<void> {
    const entry = {
      topicArn,
      subject: msg.subject,
      message: msg.message,
      at: this.clock.now().toISOString(),
    };
    if (this.stateDir) appendFileSync(path.join(this.stateDir, 'sns.jsonl'), `${JSON.stringify(entry)}\n`);
    else this.snsMessages.push(entry);
  }

  /**
   * The Workflows port of an environment, locally: an execution is started in this process, in the
   * background (StartExecution returns at once in AWS too), and a name used before is not started
   * again; task tokens are ended as SendTaskSuccess/Failure end them.
   */
  private workflowsOf(environment: string): Workflows {
    const ended = async (send: () => Promise<void>): Promise<boolean> => {
      try {
        await send();
        return true;
      } catch (err) {
        if (err instanceof TaskTokenError) return false;
        throw err;
      }
    };
    return {
      start: async (kind, name, input) => {
        const wired = await this.wired(environment);
        const stateMachine = kind === 'rollback' ? wired.rollbackStateMachine : wired.escalationStateMachine;
        const executionArn = `${wired.executor.stateMachine(stateMachine).arn.replace(':stateMachine:', ':execution:')}:${name}`;
        if (this.executionExists(wired, executionArn, name) || this.deferred.some((d) => d.name === name)) {
          return { executionArn, started: false };
        }
        if (kind === 'escalation' && this.options.deferEscalations) {
          this.deferred.push({ environment, name, input });
          return { executionArn, started: true };
        }
        const run = this.run(wired, environment, stateMachine, input, name);
        this.background.set(executionArn, { kind, environment, name, executionArn, run });
        // Awaited by settle(); a failure to run is its result there, never an unhandled rejection.
        run.catch(() => undefined);
        return { executionArn, started: true };
      },
      failTask: (token, error, cause) => ended(() => this.sendTaskFailure(token, error, cause)),
      succeedTask: (token, output) => ended(() => this.sendTaskSuccess(token, output)),
    };
  }

  /** Whether an execution of this name ran or runs here (Step Functions refuses a second of the same name). */
  private executionExists(wired: WiredStack, executionArn: string, name: string): boolean {
    if (this.background.has(executionArn) || wired.executor.hasExecution(executionArn)) return true;
    if (!this.stateDir) return false;
    const paths = statePaths(this.stateDir);
    return (
      existsSync(path.join(paths.executions, `${name}.json`)) ||
      existsSync(path.join(paths.running, `${name}.json`))
    );
  }

  /**
   * Waits for every execution the Workflows port started (and those they start) to end, and
   * returns their results in the order they were started.
   */
  async settle(
    options: { readonly escalations?: 'to-the-end' | 'until-waiting' } = {},
  ): Promise<LocalExecutionResult[]> {
    const done = new Map<string, LocalExecutionResult>();
    for (;;) {
      const pending = [...this.background.values()].filter((b) => !done.has(b.executionArn));
      if (pending.length === 0) break;
      for (const b of pending) {
        if (b.kind === 'escalation' && options.escalations === 'until-waiting') {
          await this.stopWhenWaiting(b);
        }
        done.set(b.executionArn, await b.run);
      }
    }
    return [...done.values()];
  }

  /**
   * Waits until an escalation pages its first level and waits for an acknowledgement (or ends),
   * then stops it: a local execution cannot outlive the command that runs it, and the incident
   * stays open for `guardian ack`.
   */
  private async stopWhenWaiting(b: BackgroundExecution): Promise<void> {
    let ended = false;
    void b.run.finally(() => {
      ended = true;
    });
    const store = this.store(b.environment);
    while (!ended) {
      const incident = await store.getIncident(b.environment, b.name);
      if (incident?.taskToken || (incident && incident.status !== 'open')) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (ended) return;
    await this.stopExecution(
      b.executionArn,
      'LocalCommandEnded',
      'the local command that started this escalation ended; the incident stays open (guardian ack)',
    ).catch((err: Error) => {
      // It ended on its own meanwhile.
      if (err.name !== 'ExecutionDoesNotExist') throw err;
    });
  }

  /**
   * Runs the escalations deferred while the command ran: each pages its first level and is then
   * stopped (the incident stays open for `guardian ack`), with the simulated clock held so that
   * no later level is paged early. Returns their results.
   */
  async runDeferredEscalations(): Promise<LocalExecutionResult[]> {
    const results: LocalExecutionResult[] = [];
    if (this.deferred.length === 0) return results;
    await this.setAdvanceWhenIdle(false);
    while (this.deferred.length > 0) {
      const next = this.deferred.shift() as (typeof this.deferred)[number];
      const wired = await this.wired(next.environment);
      const run = this.run(wired, next.environment, wired.escalationStateMachine, next.input, next.name);
      run.catch(() => undefined);
      const executionArn = `${wired.executor.stateMachine(wired.escalationStateMachine).arn.replace(':stateMachine:', ':execution:')}:${next.name}`;
      const b: BackgroundExecution = {
        kind: 'escalation',
        environment: next.environment,
        name: next.name,
        executionArn,
        run,
      };
      this.background.set(executionArn, b);
      await this.stopWhenWaiting(b);
      results.push(await run);
    }
    return results;
  }

  /** The result of an execution the Workflows port started (e.g. the alarm handler's rollback), when it ends. */
  execution(executionArn: string): Promise<LocalExecutionResult> | undefined {
    return this.background.get(executionArn)?.run;
  }

  /** The executions the Workflows port started so far, by ARN (running or ended). */
  startedExecutions(): string[] {
    return [...this.background.keys()];
  }

  /**
   * Hands an EventBridge alarm state change to the real `alarm-handler` step of the environment
   * the alarm belongs to, as the stack's rule does in AWS, and returns its decision. The alarm's
   * new state is stored first: locally it stands in for CloudWatch's (preflight reads it). An event
   * that is no valid alarm state change is refused (InvalidInputError) before anything changes;
   * one that belongs to no environment is ignored with the reason.
   */
  async handleAlarmEvent(event: unknown): Promise<AlarmHandlerResult> {
    const [{ parseAlarmEvent }, decision] = await Promise.all([
      import('../../lambdas/core/alarm-event.ts'),
      import('../../lambdas/core/alarm-decision.ts'),
    ]);
    const parsed = parseAlarmEvent(event);
    if (!parsed.ok && parsed.kind === 'malformed') {
      throw new InvalidInputError(`not a valid alarm state change event: ${parsed.problems.join('; ')}`);
    }
    const environments = [...this.stacks.values()].map((rt) => decision.alarmEnvironmentOf(rt.environment));
    const resolution = parsed.ok ? decision.resolveAlarm(parsed.event, environments) : undefined;
    if (!parsed.ok || !resolution?.resolved) {
      // No environment's rule would deliver it: the decision is the one every handler would take.
      const first = [...this.stacks.keys()][0] as string;
      if (!parsed.ok) return (await (await this.wired(first)).alarmHandler(event)) as AlarmHandlerResult;
      const ignored = decision.decideAlarm({
        event: parsed.event,
        resolution: resolution as Exclude<typeof resolution, undefined>,
        duplicate: false,
        now: this.clock.now(),
        guardWindowSeconds: 0,
        openIncidents: [],
        insufficientData: 'ignore',
      });
      return {
        action: 'ignore',
        alarm: ignored.alarm,
        state: ignored.state,
        reason: ignored.reason,
        eventId: ignored.eventId,
        message: ignored.reason,
      };
    }
    const { event: alarm } = parsed;
    await this.store(resolution.environment).putAlarmState(resolution.environment, alarm.alarmName, {
      value: alarm.state.value,
      reason: alarm.state.reason,
      updatedAt: alarm.state.at,
    });
    return (await (await this.wired(resolution.environment)).alarmHandler(event)) as AlarmHandlerResult;
  }

  /**
   * Acknowledges an incident, as `guardian ack` does: the incident moves to acknowledged (a
   * conditional write; a second acknowledgement is a no-op that says who was first) and the task
   * its escalation waits on is ended, so no further level is paged and the channels are told.
   */
  async acknowledge(
    environment: string,
    id: string,
    actor: IncidentActor,
  ): Promise<IncidentTransitionResult & { readonly chainEnded: boolean }> {
    const result = await this.store(environment).transitionIncident(
      environment,
      id,
      'acknowledged',
      actor,
      this.clock.now(),
    );
    const token = result.changed ? result.incident.taskToken : undefined;
    const { escalationTaskOutput } = await import('../../lambdas/core/incidents.ts');
    const chainEnded = token
      ? await this.workflowsOf(environment).succeedTask(token, escalationTaskOutput(result.incident))
      : false;
    return { ...result, chainEnded };
  }

  /**
   * Approves or rejects the release an inconclusive canary analysis holds in `environment`, as
   * `guardian canary approve|reject` does in AWS: the held execution (running in this process)
   * goes on to monitoring, or rolls back.
   */
  async decideHold(
    environment: string,
    decision: HoldDecision,
    by: string,
    reason?: string,
  ): Promise<HoldDecisionResult> {
    const { decideHold } = await import('../../lambdas/shared/hold.ts');
    return decideHold(
      { store: this.store(environment), workflows: this.workflowsOf(environment) },
      environment,
      decision,
      by,
      reason,
      this.clock.now(),
    );
  }

  /**
   * Hands a PagerDuty v3 webhook delivery to the environment's real `pagerduty-webhook` step, as
   * its Function URL does in AWS (payload format 2.0: lower-cased headers, the body as received),
   * and returns the HTTP response it answers with. The signing secret is read from the local
   * secrets like every other secret. Throws when the environment has no webhook (no
   * `escalation.channels.pagerduty.webhookSecret` in its config).
   */
  async handlePagerDutyWebhook(
    environment: string,
    request: {
      readonly headers: Readonly<Record<string, string>>;
      readonly body: string;
      readonly isBase64Encoded?: boolean;
    },
  ): Promise<PagerDutyWebhookResponse> {
    const wired = await this.wired(environment);
    if (!wired.pagerDutyWebhook) {
      throw new InvalidInputError(
        `environment '${environment}' has no PagerDuty webhook: set escalation.channels.pagerduty.webhookSecret in config/environments.yaml`,
      );
    }
    const headers = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v]));
    const at = this.clock.now();
    return (await wired.pagerDutyWebhook({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/',
      rawQueryString: '',
      headers,
      requestContext: {
        accountId: 'anonymous',
        http: { method: 'POST', path: '/', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'local' },
        requestId: randomUUID(),
        timeEpoch: at.getTime(),
      },
      body: request.body,
      isBase64Encoded: request.isBase64Encoded ?? false,
    })) as PagerDutyWebhookResponse;
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
    return (await this.cluster()).port;
  }

  /** The Argo Rollouts API of the cluster here (the simulator, or --kubeconfig's cluster). */
  async rollouts(): Promise<RolloutsPort> {
    return (await this.cluster()).rollouts;
  }

  /**
   * What the environment's workload looks like now, read through the Workload port's local
   * adapter: by the state service for the simulator (so a read command loads no Kubernetes
   * client), else here.
   */
  async observeWorkload(environment: string): Promise<WorkloadObservation> {
    const env = this.environment(environment);
    if (this.service && env.platform === 'kubernetes') {
      await this.service.simulator();
      return observeWorkload(this.service.info, env);
    }
    return (await this.workload(environment)).observe();
  }

  /** The URL the environment's health checks call here: `apiUrl` option, else its demo API, else its configured apiUrl. */
  async healthApiUrl(environment: string): Promise<string> {
    const env = this.environment(environment);
    return (
      this.options.apiUrl ??
      (await this.ecsApiUrl(environment)) ??
      (await this.cluster()).apiUrls.get(environment) ??
      env.apiUrl
    );
  }

  /**
   * The environment's metrics as the steps read them here: a scrape of the API the health checks
   * call (the demo API, or `apiUrl`), whatever provider the config names for the real environment.
   */
  async measurements(environment: string): Promise<MetricsSource> {
    const env = this.environment(environment);
    const apiUrl = await this.healthApiUrl(environment);
    const previewUrl = (await this.cluster()).previewUrls.get(environment);
    const built = await resolvePort('measurements', env).local(
      {
        config: { ...env, apiUrl, ...(previewUrl && { argo: { previewUrl } }), metrics: LOCAL_METRICS },
        vars: {},
        clock: this.clock,
      },
      { dynamo: this.doc, kubernetes: async () => (await this.cluster()).port, clock: this.clock },
    );
    if (!built) throw new Error(`the measurements port of ${environment} was left out of this build`);
    return built as MetricsSource;
  }

  /** ECS doubles by environment (issue 10), built on first use. */
  private readonly ecsDoubles = new Map<string, Promise<EcsSim>>();
  /** The demo API behind each ECS environment's service, by environment. */
  private readonly ecsDemoApis = new Map<string, Promise<string>>();

  /**
   * The ECS environment's double (issue 10): in memory, or in `<state>/ecs-<env>.json` shared by
   * every local command (changed under a file lock). Seeded on first use with the service running
   * revision 1 of its task definition with the seed image, like the cluster simulator's Deployments.
   */
  ecsDouble(environment: string): Promise<EcsSim> {
    const env = this.environment(environment);
    let double = this.ecsDoubles.get(env.name);
    if (!double) {
      double = (async () => {
        const [{ EcsSim }, { jsonStateFile }] = await Promise.all([
          import('./ecs-sim.ts'),
          import('./state-files.ts'),
        ]);
        const sim = new EcsSim(this.clock, {
          region: env.region,
          account: env.account,
          ...(this.stateDir
            ? { persistence: jsonStateFile(path.join(this.stateDir, `ecs-${env.name}.json`)) }
            : {}),
        });
        // Another command may seed it first: ECS's "not idempotent" answer then means it is there.
        // Seeded once: a service the config names later that the double lacks stays missing,
        // as it would in AWS (so a misconfiguration fails as it would there).
        if (sim.isEmpty()) {
          trySeed(sim, {
            cluster: env.cluster,
            service: env.workload,
            container: env.container,
            family: env.workload,
            image: this.options.seedImages?.[env.name] ?? `${env.image}:${DEFAULT_SEED_TAG}`,
            desiredCount: env.alarms.replicas ?? 3,
          });
        }
        return sim;
      })();
      this.ecsDoubles.set(env.name, double);
    }
    return double;
  }

  /**
   * The URL of the demo API behind an ECS environment's service (answering as the image its
   * healthy tasks run), started in this process on first use; undefined for other platforms.
   */
  private ecsApiUrl(environment: string): Promise<string | undefined> {
    const env = this.environment(environment);
    if (env.platform !== 'ecs') return Promise.resolve(undefined);
    let url = this.ecsDemoApis.get(env.name);
    if (!url) {
      url = (async () => {
        const sim = await this.ecsDouble(env.name);
        const { startDemoApi } = await import('./demo-api.ts');
        const demo = await startDemoApi({
          clock: this.clock,
          resolveImage: () => sim.servedImage(env.cluster, env.workload),
        });
        this.closers.push(() => demo.close());
        return demo.url;
      })();
      this.ecsDemoApis.set(env.name, url);
    }
    return url;
  }

  /** Each environment's RDS double, built on first use. */
  private readonly rdsSims = new Map<string, RdsSim>();

  /**
   * The environment's database snapshots here: its RDS double (issue 10), seeded with the
   * configured `backup.database`, in memory or, with a state folder, in `<state>/rds-<env>.json`
   * so every command and execution of that folder sees the same snapshots.
   */
  snapshots(environment: string): RdsSim {
    const env = this.environment(environment);
    let sim = this.rdsSims.get(environment);
    if (!sim) {
      sim = new RdsSim({
        clock: this.clock,
        ...(this.stateDir
          ? { persistence: rdsSimFile(path.join(this.stateDir, `rds-${environment}.json`)) }
          : {}),
      });
      this.rdsSims.set(environment, sim);
    }
    const { database } = backupConfigOf(env);
    // `missing` in the identifier: a database that does not exist, as image tags pick a pod's
    // behaviour (lib/local/image-behaviour.ts), so a demo or a test can show that failure.
    if (database !== 'none' && !database.identifier.includes('missing')) sim.seedDatabase(database);
    return sim;
  }

  /** The environment's workload through its platform's local adapter (the port table's, as the steps get it). */
  async workload(environment: string): Promise<WorkloadPort> {
    const env = this.environment(environment);
    const { port, rollouts } = await this.cluster();
    const built = await resolvePort('workload', env).local(
      { config: env, vars: {}, clock: this.clock },
      {
        dynamo: this.doc,
        kubernetes: async () => port,
        rollouts: async () => rollouts,
        ecs: () => this.ecsDouble(environment),
        clock: this.clock,
      },
    );
    if (!built) throw new Error(`the workload port of ${environment} was left out of this build`);
    return built as WorkloadPort;
  }

  /** Runs a Deploy execution to its end. */
  async deploy(input: DeployInput | Record<string, unknown>, name?: string): Promise<LocalExecutionResult> {
    const environment = String((input as { environment?: unknown }).environment ?? '');
    const raw = input as { version?: unknown; image?: unknown };
    const wired = await this.wired(this.runtime(environment).environment.name);
    return this.run(
      wired,
      environment,
      wired.deployStateMachine,
      input,
      name ??
        deployExecutionName(
          environment || 'unknown',
          releaseLabel(raw.image, raw.version),
          randomBytes(4).toString('hex'),
        ),
    );
  }

  /** Runs a Rollback execution to its end. */
  async rollback(
    input: RollbackInput | Record<string, unknown>,
    name?: string,
  ): Promise<LocalExecutionResult> {
    const environment = String((input as { environment?: unknown }).environment ?? '');
    const wired = await this.wired(this.runtime(environment).environment.name);
    return this.run(
      wired,
      environment,
      wired.rollbackStateMachine,
      input,
      name ?? rollbackExecutionName(environment, randomBytes(4).toString('hex')),
    );
  }

  /**
   * One top-level execution. While it runs it is recorded under `<state>/running/` with this
   * process's id, so that if the process dies the next local command ends it as AWS would
   * (see {@link LocalGuardian.reapAbandoned}).
   */
  private async run(
    wired: WiredStack,
    environment: string,
    stateMachine: string,
    input: unknown,
    name: string,
  ): Promise<LocalExecutionResult> {
    const sm = wired.executor.stateMachine(stateMachine);
    const runningFile = this.stateDir
      ? path.join(statePaths(this.stateDir).running, `${name}.json`)
      : undefined;
    if (runningFile) {
      mkdirSync(path.dirname(runningFile), { recursive: true });
      const startTime = processStartTime(process.pid);
      const record: RunningExecution = {
        pid: process.pid,
        ...(startTime !== undefined && { pidStartTime: startTime }),
        environment,
        name,
        executionArn: `${sm.arn.replace(':stateMachine:', ':execution:')}:${name}`,
        stateMachineArn: sm.arn,
        input,
        startedAt: this.clock.now().toISOString(),
      };
      writeFileAtomic(runningFile, JSON.stringify(record, null, 1));
    }
    try {
      const result = await wired.executor.run(stateMachine, input, name);
      this.saveExecution(result);
      await this.deliverEnded(wired, result, input);
      return result;
    } finally {
      if (runningFile) rmSync(runningFile, { force: true });
    }
  }

  /**
   * Ends every local execution whose process died (killed, crashed) the way AWS ends an
   * aborted one: the `execution-ended` step gets an ABORTED status change, releases the lock
   * that execution held, fails its unfinished record and opens the breaker if it may have left
   * the workload half changed. Returns what was done, one line per execution.
   */
  async reapAbandoned(): Promise<string[]> {
    if (!this.stateDir) return [];
    const lines: string[] = [];
    for (const { file, execution } of runningExecutions(this.stateDir)) {
      if (processAlive(execution.pid, execution.pidStartTime)) continue;
      // Claim it: of two commands reaping at once, one delivers the event.
      const claimed = `${file}.reaping-${process.pid}`;
      try {
        renameSync(file, claimed);
      } catch {
        continue;
      }
      const now = this.clock.now();
      const { message } = await this.deliverExecutionEvent(
        execution.environment,
        executionStatusChangeEvent(
          execution.stateMachineArn,
          {
            name: execution.name,
            executionArn: execution.executionArn,
            status: 'ABORTED',
            error: 'States.Aborted',
            cause: `the local process running it (pid ${execution.pid}) ended before the execution did`,
          },
          execution.input,
          new Date(execution.startedAt),
          now,
        ),
      );
      rmSync(claimed, { force: true });
      const line = `execution ${execution.name} was abandoned (its process ${execution.pid} is gone); ended it as ABORTED: ${message}`;
      lines.push(line);
      this.options.onNotice?.(line);
    }
    return lines;
  }

  /**
   * Delivers a "Step Functions Execution Status Change" event to the environment's real
   * `execution-ended` step, as the stack's EventBridge rule does in AWS, and returns its result.
   */
  async deliverExecutionEvent(environment: string, event: unknown): Promise<{ message: string }> {
    return (await (await this.wired(environment)).executionEnded(event)) as { message: string };
  }

  /**
   * What the EventBridge rule does in AWS for a top-level execution that ended FAILED, TIMED_OUT
   * or ABORTED (stopped by {@link LocalGuardian.stopExecution}).
   */
  private async executionEnded(
    wired: WiredStack,
    result: LocalExecutionResult,
    input: unknown,
  ): Promise<void> {
    if (result.status === 'SUCCEEDED') return;
    const stopped = this.clock.now();
    const started = new Date(stopped.getTime() - result.simSeconds * 1000);
    await wired.executionEnded(
      executionStatusChangeEvent(
        wired.executor.stateMachine(result.stateMachine).arn,
        result,
        input,
        started,
        stopped,
      ),
    );
  }

  private saveExecution(result: LocalExecutionResult): void {
    if (!this.stateDir) return;
    const dir = statePaths(this.stateDir).executions;
    mkdirSync(dir, { recursive: true });
    writeFileAtomic(path.join(dir, `${result.name}.json`), JSON.stringify(result, null, 1));
  }

  /**
   * The emulated EventBridge delivery: as in AWS, a janitor failure never changes the
   * execution's outcome; it is reported as a process warning instead.
   */
  private async deliverEnded(wired: WiredStack, result: LocalExecutionResult, input: unknown): Promise<void> {
    try {
      await this.executionEnded(wired, result, input);
    } catch (err) {
      process.emitWarning(
        `execution-ended janitor failed for ${result.name}: ${(err as Error).message}`,
        'GuardianJanitorWarning',
      );
    }
  }

  // --- Task tokens and StopExecution (lib/local/task-relay.ts) ---

  /**
   * Completes the task waiting for `token` with `output`, as SendTaskSuccess: in this process if
   * one of its executions issued the token, else through the state folder's service in the
   * process that did. Throws TaskTokenError (`InvalidToken`, `TaskDoesNotExist`, `TaskTimedOut`).
   */
  async sendTaskSuccess(token: string, output: unknown): Promise<void> {
    await this.toTask(token, (w) => w.sendTaskSuccess(token, output), {
      op: 'sendTaskSuccess',
      token,
      output,
    });
  }

  /** Fails the task waiting for `token` with `error` and `cause`, as SendTaskFailure (routed as {@link LocalGuardian.sendTaskSuccess}). */
  async sendTaskFailure(token: string, error: string, cause?: string): Promise<void> {
    await this.toTask(token, (w) => w.sendTaskFailure(token, error, cause), {
      op: 'sendTaskFailure',
      token,
      error,
      ...(cause !== undefined && { cause }),
    });
  }

  /** Restarts the heartbeat countdown of the task waiting for `token`, as SendTaskHeartbeat. */
  async sendTaskHeartbeat(token: string): Promise<void> {
    await this.toTask(token, (w) => w.sendTaskHeartbeat(token), { op: 'sendTaskHeartbeat', token });
  }

  /**
   * Stops a running execution, as StopExecution: it ends ABORTED with `error` and `cause` and the
   * `execution-ended` step gets its status change. In this process, else through the state
   * folder's service in the process running it. Throws StopExecutionError (`ExecutionDoesNotExist`).
   */
  async stopExecution(executionArn: string, error?: string, cause?: string): Promise<StopExecutionResult> {
    const here = await this.executorRunning(executionArn);
    if (here) return here.stopExecution(executionArn, error, cause);
    if (this.stateService) {
      const { stopDate } = await (await import('./task-relay.ts')).sendThroughService(
        this.stateService.controlUrl,
        {
          op: 'stopExecution',
          executionArn,
          ...(error !== undefined && { error }),
          ...(cause !== undefined && { cause }),
        },
      );
      return { stopDate: stopDate ?? this.clock.now() };
    }
    throw new StopExecutionError('ExecutionDoesNotExist', `no local execution ${executionArn}`);
  }

  /** The executors of the stacks wired so far (executions run only in those). */
  private async executors(): Promise<LocalExecutor[]> {
    const wired = [...this.stacks.values()].flatMap((rt) => (rt.wired ? [rt.wired] : []));
    return (await Promise.allSettled(wired)).flatMap((w) =>
      w.status === 'fulfilled' ? [w.value.executor] : [],
    );
  }

  private async executorRunning(executionArn: string): Promise<LocalExecutor | undefined> {
    return (await this.executors()).find((ex) => ex.hasExecution(executionArn));
  }

  private async toTask(
    token: string,
    here: (w: LocalWorkflows) => void | Promise<void>,
    request: WorkflowRequest,
  ): Promise<void> {
    const malformed = malformedTaskToken(token);
    if (malformed) throw malformed;
    const executor = (await this.executors()).find((ex) => ex.issuedTaskToken(token));
    if (executor) {
      await here(executor as unknown as LocalWorkflows);
      return;
    }
    if (this.stateService) {
      await (await import('./task-relay.ts')).sendThroughService(this.stateService.controlUrl, request);
      return;
    }
    throw new TaskTokenError('TaskDoesNotExist', 'no local task was given this token');
  }

  /** Registers a token with the state service so that another process's command can complete its task. */
  private async shareTaskToken(issued: IssuedTaskToken): Promise<void> {
    const info = this.stateService;
    if (!info) return;
    this.workflowsRelay ??= (async () => {
      const { serveWorkflows } = await import('./task-relay.ts');
      // Only this process's own executions: a request the service forwards here never goes back.
      const own: LocalWorkflows = {
        sendTaskSuccess: (token, output) =>
          this.ownExecutor(token).then((ex) => ex.sendTaskSuccess(token, output)),
        sendTaskFailure: (token, error, cause) =>
          this.ownExecutor(token).then((ex) => ex.sendTaskFailure(token, error, cause)),
        sendTaskHeartbeat: (token) => this.ownExecutor(token).then((ex) => ex.sendTaskHeartbeat(token)),
        stopExecution: async (arn, error, cause) => {
          const ex = await this.executorRunning(arn);
          if (!ex)
            throw new StopExecutionError('ExecutionDoesNotExist', `process ${process.pid} runs no ${arn}`);
          return ex.stopExecution(arn, error, cause);
        },
      };
      const relay = await serveWorkflows(info.controlUrl, own);
      this.closers.push(() => relay.close());
      return relay;
    })();
    await (await this.workflowsRelay).registerToken(issued.token);
  }

  /** The executor of this process that issued `token`, or the error Step Functions would give. */
  private async ownExecutor(token: string): Promise<LocalExecutor> {
    const executor = (await this.executors()).find((ex) => ex.issuedTaskToken(token));
    if (executor) return executor;
    throw (
      malformedTaskToken(token) ??
      new TaskTokenError('TaskDoesNotExist', 'no local task was given this token')
    );
  }

  // --- end of task tokens and StopExecution ---

  /** Stops every server this runner started (the state service runs on; it persists as it goes). */
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

/** dynalite in memory, in this process (no state folder). */
async function startDynalite(closers: (() => Promise<void>)[]): Promise<string> {
  const { default: dynalite } = await import('dynalite');
  const db = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    db.once('error', reject);
    db.listen(0, '127.0.0.1', () => resolve());
  });
  closers.push(() => new Promise<void>((resolve) => db.close(() => resolve())));
  return `http://127.0.0.1:${(db.address() as AddressInfo).port}`;
}

function dynamoClient(endpoint: string, closers: (() => Promise<void>)[]): DynamoDBDocumentClient {
  const ddb = new DynamoDBClient({
    endpoint,
    region: 'ap-southeast-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  closers.push(async () => ddb.destroy());
  return DynamoDBDocumentClient.from(ddb, { marshallOptions: { removeUndefinedValues: true } });
}

/** Seeds the ECS double unless another command did it first. */
function trySeed(sim: EcsSim, seed: Parameters<EcsSim['seed']>[0]): void {
  try {
    sim.seed(seed);
  } catch (err) {
    if ((err as Error).name !== 'InvalidParameterException') throw err;
  }
}

/** The embedded simulator plus one demo API per environment (two for blue-green), in this process. */
async function startInProcessCluster(
  workloads: readonly ServiceWorkload[],
  clock: Clock,
  simClock: SimulatedClock,
  closers: (() => Promise<void>)[],
): Promise<ClusterAccess> {
  const [{ startClusterSimulator }, { KubernetesCluster }, { KubernetesRollouts }] = await Promise.all([
    import('./cluster-sim/index.ts'),
    import('../../lambdas/adapters/kubernetes.ts'),
    import('../../lambdas/adapters/kubernetes-rollouts.ts'),
  ]);
  const sim = await startClusterSimulator({ clock: simClock });
  closers.push(() => sim.close());
  const apiUrls = new Map<string, string>();
  const previewUrls = new Map<string, string>();
  for (const w of workloads) {
    const { api, preview } = await seedWithDemoApis(sim, w, clock);
    closers.push(() => api.close());
    apiUrls.set(w.environment, api.url);
    if (preview) {
      closers.push(() => preview.close());
      previewUrls.set(w.environment, preview.url);
    }
  }
  return {
    port: new KubernetesCluster(sim.kubeConfig()),
    rollouts: new KubernetesRollouts(sim.kubeConfig()),
    apiUrls,
    previewUrls,
    simulator: sim,
  };
}

/** What {@link wireStack} needs. */
interface WireStackOptions {
  readonly stackName: string;
  /** The stack's template (for intrinsics in the functions' environment). */
  readonly template: TemplateLike;
  readonly region: string;
  readonly info: StackTemplateInfo;
  readonly environment: EnvironmentConfig;
  readonly local: LocalPortContext;
  /** Where health checks go (the demo API or `--api-url`); default: the environment's apiUrl. */
  readonly apiUrl: string | undefined;
  /** Blue-green: where the preview is reached here (its demo API); default: `argo.previewUrl`. */
  readonly previewUrl: string | undefined;
  readonly realTime: boolean;
  readonly stateDir?: string;
  readonly onEvent?: (event: LocalEvent) => void;
  /** Told of every task token before its task's function gets it. */
  readonly onTaskToken?: (issued: IssuedTaskToken) => Promise<void>;
  /** See {@link LocalGuardianOptions.advanceWhenIdle}. */
  readonly advanceWhenIdle?: boolean;
}

/** How the local runner reads the metrics of the API it checks: a scrape of its `/metrics`. */
const LOCAL_METRICS = scrapeMetricsSchema.parse({ provider: 'scrape' });

/**
 * A seam for tests of several processes: with `GUARDIAN_TEST_PAUSE_BEFORE=<step id>`, a local
 * run with a state folder stops before that step (the first time it runs), writes `<state>/paused-<pid>` and goes on
 * when the file is removed, so a test can act while it holds the lock (or kill it there).
 */
let pausedForTest = false;
async function pauseForTest(stepId: string, stateDir: string | undefined): Promise<void> {
  // Once per process: a step that runs again (a monitoring round) goes on.
  if (!stateDir || pausedForTest || process.env.GUARDIAN_TEST_PAUSE_BEFORE !== stepId) return;
  pausedForTest = true;
  const file = path.join(stateDir, `paused-${process.pid}`);
  writeFileAtomic(file, stepId);
  while (existsSync(file)) await new Promise((resolve) => setTimeout(resolve, 25));
}

/**
 * One stack's executions, run here: each Lambda task bound to the real step with the ports and
 * config slice the template says its function has (derived from the same tables as in AWS, so a
 * step that would fail there for want of a port fails here too).
 */
async function wireStack(o: WireStackOptions): Promise<WiredStack> {
  const [{ Logger }, { parseConfigSlice }, { STEP_MODULES }, { buildStepDeps, configKeysOf }, steps, exec] =
    await Promise.all([
      import('@aws-lambda-powertools/logger'),
      import('../../lambdas/core/runtime-env.ts'),
      import('../../lambdas/registry.ts'),
      import('../../lambdas/shared/wiring.ts'),
      import('../../lambdas/steps.ts'),
      import('./executor.ts'),
    ]);
  const LocalMetrics = await localMetricsClass();
  const tableName = (logicalId: string) => `${o.stackName}.${logicalId}`;
  // A table's Ref is its local name (its CDK-generated name is unknown until deployed); any other
  // intrinsic (a state machine's ARN by name, say) resolves as the template module resolves it.
  const resolveVars = (env: Record<string, unknown>): Record<string, string> =>
    Object.fromEntries(
      Object.entries(env).map(([k, v]) => {
        if (typeof v !== 'object') return [k, String(v)];
        const ref = (v as { Ref?: unknown } | null)?.Ref;
        if (typeof ref === 'string' && !ref.startsWith('AWS::')) return [k, tableName(refOf(v))];
        return [k, String(resolveIntrinsics(v, o.template, { region: o.region, account: LOCAL_ACCOUNT_ID }))];
      }),
    );
  const lambdas = new Map<string, LocalTaskHandler>();
  let executionEnded: LocalTaskHandler | undefined;
  let alarmHandler: LocalTaskHandler | undefined;
  let pagerDutyWebhook: LocalTaskHandler | undefined;
  for (const fn of o.info.functions) {
    const base = parseConfigSlice(JSON.stringify(fn.config ?? null), steps.BASE_CONFIG_KEYS, {
      exact: false,
    });
    const sliced = parseConfigSlice(JSON.stringify(fn.config), configKeysOf(fn.stepId, base));
    const config = {
      ...sliced,
      ...(o.apiUrl && 'apiUrl' in sliced ? { apiUrl: o.apiUrl } : {}),
      ...(o.previewUrl && 'argo' in sliced ? { argo: { previewUrl: o.previewUrl } } : {}),
      // The API here (the demo API, or --api-url) is scraped for its metrics: the configured
      // Prometheus or CloudWatch watches the real environment, not this one.
      ...(o.apiUrl && 'metrics' in sliced ? { metrics: LOCAL_METRICS } : {}),
    } as EnvironmentConfig;
    const vars = resolveVars(fn.environment);
    const { step } = await STEP_MODULES[fn.stepId]();
    const deps = await buildStepDeps(
      fn.stepId,
      { config, vars, clock: o.local.clock },
      { kind: 'local', context: o.local },
      {
        clock: o.local.clock,
        logger: new Logger({ serviceName: 'deployment-guardian', logLevel: 'SILENT' }),
        metrics: new LocalMetrics(),
      },
    );
    const invoke: LocalTaskHandler = async (input) => {
      await pauseForTest(fn.stepId, o.stateDir);
      try {
        return await step.run(input, deps);
      } catch (err) {
        throw asLambdaError(err);
      }
    };
    // No state machine invokes the janitor: the runner delivers ended executions to it as EventBridge would.
    if (fn.stepId === 'execution-ended') executionEnded = invoke;
    else if (fn.stepId === 'alarm-handler') alarmHandler = invoke;
    else if (fn.stepId === 'pagerduty-webhook') pagerDutyWebhook = invoke;
    else lambdas.set(fn.arn, invoke);
  }
  if (!executionEnded) throw new Error(`stack ${o.stackName} has no execution-ended function`);
  if (!alarmHandler) throw new Error(`stack ${o.stackName} has no alarm-handler function`);
  if (!o.info.functions.some((fn) => resolveVars(fn.environment)[ENV_VARS.deploymentsTable])) {
    throw new Error(`stack ${o.stackName} has no function with the store port`);
  }
  const executor = new exec.LocalExecutor({
    stateMachines: o.info.stateMachines,
    lambdas,
    clock: o.local.clock,
    realTime: o.realTime,
    ...(o.onEvent ? { onEvent: o.onEvent } : {}),
    ...(o.onTaskToken ? { onTaskToken: o.onTaskToken } : {}),
    ...(o.advanceWhenIdle === false ? { advanceWhenIdle: false } : {}),
  });
  return {
    executor,
    deployStateMachine: stateMachineName(o.environment.name, 'deploy'),
    rollbackStateMachine: stateMachineName(o.environment.name, 'rollback'),
    escalationStateMachine: stateMachineName(o.environment.name, 'escalation'),
    alarmHandler,
    executionEnded,
    ...(pagerDutyWebhook ? { pagerDutyWebhook } : {}),
  };
}

/** Powertools Metrics that keeps nothing: local runs publish no EMF lines into the CLI's output. */
async function localMetricsClass(): Promise<new () => Metrics> {
  const { Metrics } = await import('@aws-lambda-powertools/metrics');
  return class LocalMetrics extends Metrics {
    constructor() {
      super({ namespace: 'DeploymentGuardianLocal', serviceName: 'deployment-guardian' });
    }

    override publishStoredMetrics(): this {
      this.clearMetrics();
      this.clearDimensions();
      return this;
    }
  };
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
