/**
 * An ECS double for local runs and tests (issue 10): the calls of {@link EcsApi} answered in
 * process, with rolling deployments that progress on a Clock the way ECS's do. UpdateService
 * starts a PRIMARY deployment IN_PROGRESS; its tasks start and turn healthy after the image's
 * `readySeconds` (lib/local/image-behaviour.ts); once all are healthy the old tasks drain from the
 * load balancer and the deployment COMPLETES (after the bake time when deployment alarms are on).
 * A `never-ready` image's tasks fail their ELB health checks and a `bad` image's container exits;
 * after the circuit breaker's threshold of failed tasks the deployment goes FAILED and, with
 * rollback on, ECS itself returns the service to its last COMPLETED deployment.
 *
 * The state is plain JSON: every call loads it, brings it up to `clock.now()` from the timestamps
 * it holds (no timers), applies the call and saves it, so the local runner can keep it in a file.
 * Errors are ECS's own exception classes with ECS's messages, so the adapter's mapping
 * (lambdas/adapters/ecs-api.ts) is exercised as against AWS. Not modelled: CloudWatch deployment
 * alarms firing (no alarm state here), task placement and capacity, auto scaling.
 */
import { createHash } from 'node:crypto';
import {
  ClientException,
  ClusterNotFoundException,
  type ContainerDefinition,
  type Deployment,
  type DeploymentConfiguration,
  type DescribeServicesRequest,
  type DescribeServicesResponse,
  type DescribeTaskDefinitionRequest,
  type DescribeTaskDefinitionResponse,
  type DescribeTasksRequest,
  type DescribeTasksResponse,
  InvalidParameterException,
  type ListTaskDefinitionsRequest,
  type ListTaskDefinitionsResponse,
  type ListTasksRequest,
  type ListTasksResponse,
  type RegisterTaskDefinitionRequest,
  type RegisterTaskDefinitionResponse,
  type Service,
  ServiceNotActiveException,
  ServiceNotFoundException,
  type Task,
  type TaskDefinition,
  type UpdateServiceRequest,
  type UpdateServiceResponse,
} from '@aws-sdk/client-ecs';
import type { EcsApi } from '../../lambdas/adapters/ecs-api.ts';
import { ECS_REGISTER_FIELDS } from '../../lambdas/core/ecs.ts';
import type { Clock } from '../../lambdas/core/ports.ts';
import { imageBehaviour } from './image-behaviour.ts';

/** Seconds from placing a task to its container running, for an image whose start is not slow (the pull). */
export const PULL_SECONDS = 2;
/**
 * Seconds from a task's start until ECS stops it for failing ELB health checks: the service's
 * 30 s health check grace period plus three failed checks 10 s apart, with margin.
 */
export const HEALTH_CHECK_FAILURE_SECONDS = 60;
/** Seconds a `bad` image's essential container runs before it exits with code 1. */
export const CRASH_SECONDS = 10;
/** The target group's deregistration delay: how long a stopping task drains. */
export const DEREGISTRATION_DELAY_SECONDS = 30;
/**
 * The bake time when deployment alarms are on: ECS keeps watching the alarms this long after the
 * old tasks are gone before it calls the deployment COMPLETED (ECS derives it from the alarms'
 * configuration; one one-minute evaluation period of the guardian's alarms).
 */
export const BAKE_SECONDS = 60;
/** ECS shows stopped tasks for at least an hour; the double forgets them after that. */
export const STOPPED_TASK_RETENTION_SECONDS = 3600;
/** Service events kept per service (newest first, as DescribeServices returns them). */
const MAX_EVENTS = 100;

/**
 * ECS's deployment circuit breaker threshold: half the desired count, at least 3, at most 200
 * failed tasks (the API reference's ServiceDeploymentCircuitBreaker.threshold).
 */
export function circuitBreakerThreshold(desiredCount: number): number {
  return Math.min(Math.max(Math.ceil(0.5 * desiredCount), 3), 200);
}

/** Where the double keeps its JSON state between calls (a file in the local state folder, or memory). */
export interface EcsSimPersistence {
  read(): string | undefined;
  write(json: string): void;
  /** Runs one load-change-save under a lock (a file shared by several local commands). @default none */
  transaction?<T>(fn: () => T): T;
}

/** Options of {@link EcsSim}. */
export interface EcsSimOptions {
  /** @default in memory */
  readonly persistence?: EcsSimPersistence;
  /** Region in the ARNs. @default ap-southeast-1 */
  readonly region?: string;
  /** Account in the ARNs. @default 123456789012 */
  readonly account?: string;
}

/** What {@link EcsSim.seed} creates: a service running revision 1 of a task definition. */
export interface EcsSeed {
  readonly cluster: string;
  readonly service: string;
  /** The container the service's load balancer sends traffic to. */
  readonly container: string;
  readonly family: string;
  readonly image: string;
  readonly desiredCount: number;
}

interface SimTaskDefinition {
  readonly arn: string;
  readonly family: string;
  readonly revision: number;
  status: 'ACTIVE' | 'INACTIVE';
  readonly registeredAt: string;
  /** The registered fields, as RegisterTaskDefinition received them. */
  readonly body: Record<string, unknown>;
  readonly tags: { key: string; value: string }[];
}

interface SimTask {
  readonly id: string;
  readonly arn: string;
  readonly taskDefinitionArn: string;
  /** The deployment that launched it (ListTasks' startedBy). */
  readonly startedBy: string;
  /** The deployment it counts for now (ECS's rollback adopts the old deployment's tasks). */
  owner: string;
  readonly createdAt: string;
  readonly startedAt: string;
  readonly healthyAt?: string;
  /** When it fails, and how, for an image that never serves. */
  readonly failAt?: string;
  readonly failure?: 'elb' | 'exit';
  stoppingAt?: string;
  stoppedAt?: string;
  stopCode?: string;
  stoppedReason?: string;
}

interface SimDeployment {
  readonly id: string;
  status: 'PRIMARY' | 'ACTIVE';
  readonly taskDefinition: string;
  desiredCount: number;
  readonly createdAt: string;
  updatedAt: string;
  rolloutState: 'IN_PROGRESS' | 'COMPLETED' | 'FAILED';
  rolloutStateReason: string;
  failedTasks: number;
  /** When all its tasks were healthy and the older tasks started draining. */
  drainAt?: string;
}

interface SimService {
  readonly name: string;
  readonly arn: string;
  status: 'ACTIVE' | 'DRAINING' | 'INACTIVE';
  desiredCount: number;
  taskDefinition: string;
  deploymentConfiguration: DeploymentConfiguration;
  deployments: SimDeployment[];
  events: { id: string; createdAt: string; message: string }[];
  readonly createdAt: string;
  readonly container: string;
  readonly targetGroupArn: string;
  /** The last deployment that COMPLETED: where ECS's rollback returns. */
  lastCompleted?: { id: string; taskDefinition: string };
  tasks: SimTask[];
}

interface SimCluster {
  readonly name: string;
  readonly arn: string;
  services: Record<string, SimService>;
}

interface SimState {
  version: 1;
  /** Counter behind every generated id, so a run is reproducible. */
  seq: number;
  clusters: Record<string, SimCluster>;
  taskDefinitions: SimTaskDefinition[];
}

const metadata = { $metadata: {} };
const iso = (ms: number) => new Date(ms).toISOString();
const ms = (time: string) => Date.parse(time);
const at = (time: string | undefined) => (time === undefined ? undefined : new Date(time));
const lastSegment = (arnOrName: string) => arnOrName.slice(arnOrName.lastIndexOf('/') + 1);

/** An in-process ECS with simulated rollout progress. */
export class EcsSim implements EcsApi {
  private readonly persistence: EcsSimPersistence;
  private readonly region: string;
  private readonly account: string;

  /** A double on `clock`, its state in `options.persistence` (memory by default). */
  constructor(
    private readonly clock: Clock,
    options: EcsSimOptions = {},
  ) {
    let memory: string | undefined;
    this.persistence = options.persistence ?? {
      read: () => memory,
      write: (json) => {
        memory = json;
      },
    };
    this.region = options.region ?? 'ap-southeast-1';
    this.account = options.account ?? '123456789012';
  }

  // --- state ------------------------------------------------------------------------------------

  private load(): SimState {
    const text = this.persistence.read();
    if (text === undefined || text.trim() === '')
      return { version: 1, seq: 0, clusters: {}, taskDefinitions: [] };
    const state = JSON.parse(text) as SimState;
    if (state?.version !== 1)
      throw new Error('the ECS double state is not version 1; delete its file to start over');
    return state;
  }

  /** Loads, brings every service up to now, applies `fn` and saves; a call that throws changes nothing. */
  private transaction<T>(fn: (state: SimState, now: number) => T): T {
    const p = this.persistence;
    return p.transaction ? p.transaction(() => this.unlockedTransaction(fn)) : this.unlockedTransaction(fn);
  }

  private unlockedTransaction<T>(fn: (state: SimState, now: number) => T): T {
    const state = this.load();
    const now = this.clock.now().getTime();
    for (const cluster of Object.values(state.clusters)) {
      for (const service of Object.values(cluster.services)) this.settle(state, service, now);
    }
    const result = fn(state, now);
    this.persistence.write(JSON.stringify(state));
    return result;
  }

  /** The state as JSON, brought up to now (tests compare it to prove a call changed nothing). */
  dump(): string {
    return this.transaction((state) => JSON.stringify(state));
  }

  private nextHex(state: SimState): string {
    state.seq += 1;
    return createHash('sha256').update(`ecs-sim:${state.seq}`).digest('hex');
  }

  private deploymentId(state: SimState): string {
    const digits = BigInt(`0x${this.nextHex(state).slice(0, 16)}`)
      .toString()
      .padStart(19, '7')
      .slice(0, 19);
    return `ecs-svc/${digits}`;
  }

  private arn(resource: string): string {
    return `arn:aws:ecs:${this.region}:${this.account}:${resource}`;
  }

  // --- lookups (ECS's errors) --------------------------------------------------------------------

  private cluster(state: SimState, name: string | undefined): SimCluster {
    const cluster = state.clusters[lastSegment(name ?? 'default')];
    if (cluster === undefined)
      throw new ClusterNotFoundException({ message: 'Cluster not found.', ...metadata });
    return cluster;
  }

  private taskDefinition(state: SimState, ref: string | undefined): SimTaskDefinition | undefined {
    if (ref === undefined) return undefined;
    const name = ref.startsWith('arn:') ? lastSegment(ref) : ref;
    const [family, revision] = name.split(':');
    const revisions = state.taskDefinitions.filter((t) => t.family === family);
    if (revision === undefined) {
      return revisions.filter((t) => t.status === 'ACTIVE').sort((a, b) => b.revision - a.revision)[0];
    }
    return revisions.find((t) => t.revision === Number(revision));
  }

  private imageIn(td: SimTaskDefinition | undefined, container: string): string {
    const containers = (td?.body.containerDefinitions ?? []) as ContainerDefinition[];
    return (containers.find((c) => c.name === container) ?? containers[0])?.image ?? '';
  }

  // --- progress ---------------------------------------------------------------------------------

  private event(state: SimState, service: SimService, time: number, message: string): void {
    service.events.unshift({
      id: this.nextHex(state).slice(0, 32),
      createdAt: iso(time),
      message: `(service ${service.name}) ${message}`,
    });
    service.events.splice(MAX_EVENTS);
  }

  private launch(
    state: SimState,
    service: SimService,
    deployment: SimDeployment,
    time: number,
    count: number,
  ): void {
    const td = state.taskDefinitions.find((t) => t.arn === deployment.taskDefinition);
    const behaviour = imageBehaviour(this.imageIn(td, service.container));
    for (let i = 0; i < count; i++) {
      const id = this.nextHex(state).slice(0, 32);
      const base = {
        id,
        arn: this.arn(`task/${this.clusterOf(state, service).name}/${id}`),
        taskDefinitionArn: deployment.taskDefinition,
        startedBy: deployment.id,
        owner: deployment.id,
        createdAt: iso(time),
      };
      if (behaviour.readySeconds === undefined) {
        const started = time + PULL_SECONDS * 1000;
        service.tasks.push({
          ...base,
          startedAt: iso(started),
          failAt: iso(started + HEALTH_CHECK_FAILURE_SECONDS * 1000),
          failure: 'elb',
        });
      } else {
        const started = time + behaviour.readySeconds * 1000;
        service.tasks.push(
          behaviour.healthy
            ? { ...base, startedAt: iso(started), healthyAt: iso(started) }
            : {
                ...base,
                startedAt: iso(started),
                failAt: iso(started + CRASH_SECONDS * 1000),
                failure: 'exit',
              },
        );
      }
    }
    if (count > 0) this.event(state, service, time, `has started ${count} tasks.`);
  }

  private clusterOf(state: SimState, service: SimService): SimCluster {
    const cluster = Object.values(state.clusters).find((c) => c.services[service.name] === service);
    if (cluster === undefined) throw new Error(`the ECS double lost the cluster of service ${service.name}`);
    return cluster;
  }

  private stop(task: SimTask, time: number, drainSeconds: number, code: string, reason: string): void {
    task.stoppingAt = iso(time);
    task.stoppedAt = iso(time + drainSeconds * 1000);
    task.stopCode = code;
    task.stoppedReason = reason;
  }

  /** Applies every event due by `now` in time order: task failures, drains, completions. */
  private settle(state: SimState, service: SimService, now: number): void {
    for (let guard = 0; guard < 100_000; guard++) {
      const primary = service.deployments.find((d) => d.status === 'PRIMARY');
      const due: { time: number; rank: number; apply: () => void }[] = [];
      for (const task of service.tasks) {
        if (task.failAt !== undefined && task.stoppingAt === undefined && ms(task.failAt) <= now) {
          due.push({
            time: ms(task.failAt),
            rank: 0,
            apply: () => this.fail(state, service, task, ms(task.failAt as string)),
          });
        }
      }
      if (primary?.rolloutState === 'IN_PROGRESS') {
        const live = service.tasks.filter((t) => t.owner === primary.id && t.stoppingAt === undefined);
        if (primary.drainAt === undefined) {
          if (live.length >= primary.desiredCount && live.every((t) => t.healthyAt !== undefined)) {
            const time = Math.max(ms(primary.updatedAt), ...live.map((t) => ms(t.healthyAt as string)));
            if (time <= now) due.push({ time, rank: 1, apply: () => this.drain(service, primary, time) });
          }
        } else {
          const others = service.tasks.filter((t) => t.owner !== primary.id);
          if (others.every((t) => t.stoppedAt !== undefined)) {
            const bake = service.deploymentConfiguration.alarms?.enable ? BAKE_SECONDS * 1000 : 0;
            const time =
              Math.max(ms(primary.drainAt), ...others.map((t) => ms(t.stoppedAt as string))) + bake;
            if (time <= now)
              due.push({ time, rank: 2, apply: () => this.complete(state, service, primary, time) });
          }
        }
      }
      const next = due.sort((a, b) => a.time - b.time || a.rank - b.rank)[0];
      if (next === undefined) break;
      next.apply();
    }
    // ECS forgets stopped tasks after about an hour.
    service.tasks = service.tasks.filter(
      (t) => t.stoppedAt === undefined || ms(t.stoppedAt) + STOPPED_TASK_RETENTION_SECONDS * 1000 > now,
    );
  }

  private fail(state: SimState, service: SimService, task: SimTask, time: number): void {
    if (task.failure === 'elb') {
      this.stop(
        task,
        time,
        DEREGISTRATION_DELAY_SECONDS,
        'ServiceSchedulerInitiated',
        `Task failed ELB health checks in (target-group ${service.targetGroupArn})`,
      );
    } else {
      // The container has already exited: nothing is left to drain.
      this.stop(task, time, 0, 'EssentialContainerExited', 'Essential container in task exited');
    }
    const deployment = service.deployments.find((d) => d.id === task.owner);
    if (deployment?.status !== 'PRIMARY' || deployment.rolloutState !== 'IN_PROGRESS') return;
    deployment.failedTasks += 1;
    deployment.updatedAt = iso(time);
    const breaker = service.deploymentConfiguration.deploymentCircuitBreaker;
    if (breaker?.enable && deployment.failedTasks >= circuitBreakerThreshold(deployment.desiredCount)) {
      this.failDeployment(state, service, deployment, time);
    } else {
      this.launch(state, service, deployment, time, 1);
    }
  }

  /** The circuit breaker trips: FAILED, its tasks stopped, and with rollback on ECS returns to the last COMPLETED deployment. */
  private failDeployment(
    state: SimState,
    service: SimService,
    deployment: SimDeployment,
    time: number,
  ): void {
    deployment.rolloutState = 'FAILED';
    deployment.rolloutStateReason = 'ECS deployment circuit breaker: tasks failed to start.';
    deployment.updatedAt = iso(time);
    for (const task of service.tasks) {
      if (task.owner === deployment.id && task.stoppingAt === undefined) {
        this.stop(
          task,
          time,
          DEREGISTRATION_DELAY_SECONDS,
          'ServiceSchedulerInitiated',
          `Scaling activity initiated by (deployment ${deployment.id})`,
        );
      }
    }
    this.event(
      state,
      service,
      time,
      `(deployment ${deployment.id}) deployment failed: tasks failed to start.`,
    );
    const back = service.lastCompleted;
    if (!service.deploymentConfiguration.deploymentCircuitBreaker?.rollback || back === undefined) return;
    // ECS revives the last COMPLETED deployment (same id) as PRIMARY, as DescribeServices shows it.
    deployment.status = 'ACTIVE';
    let revived = service.deployments.find((d) => d.id === back.id);
    if (revived === undefined) {
      revived = {
        id: back.id,
        status: 'PRIMARY',
        taskDefinition: back.taskDefinition,
        desiredCount: service.desiredCount,
        createdAt: iso(time),
        updatedAt: iso(time),
        rolloutState: 'IN_PROGRESS',
        rolloutStateReason: '',
        failedTasks: 0,
      };
      service.deployments.unshift(revived);
    }
    revived.status = 'PRIMARY';
    revived.rolloutState = 'IN_PROGRESS';
    revived.rolloutStateReason = `ECS deployment circuit breaker: rolling back to deploymentId ${back.id}.`;
    revived.updatedAt = iso(time);
    revived.failedTasks = 0;
    delete revived.drainAt;
    service.taskDefinition = back.taskDefinition;
    for (const task of service.tasks) {
      if (task.stoppingAt === undefined && task.taskDefinitionArn === back.taskDefinition)
        task.owner = back.id;
    }
    const live = service.tasks.filter((t) => t.owner === back.id && t.stoppingAt === undefined).length;
    this.launch(state, service, revived, time, Math.max(0, revived.desiredCount - live));
    this.event(state, service, time, `rolling back to deployment ${back.id}.`);
  }

  private drain(service: SimService, primary: SimDeployment, time: number): void {
    primary.drainAt = iso(time);
    for (const task of service.tasks) {
      if (task.owner !== primary.id && task.stoppingAt === undefined) {
        this.stop(
          task,
          time,
          DEREGISTRATION_DELAY_SECONDS,
          'ServiceSchedulerInitiated',
          `Scaling activity initiated by (deployment ${primary.id})`,
        );
      }
    }
  }

  private complete(state: SimState, service: SimService, primary: SimDeployment, time: number): void {
    primary.rolloutState = 'COMPLETED';
    primary.rolloutStateReason = `ECS deployment ${primary.id} completed.`;
    primary.updatedAt = iso(time);
    // Deployments without tasks become INACTIVE, and DescribeServices no longer lists them.
    service.deployments = service.deployments.filter((d) => d === primary);
    service.lastCompleted = { id: primary.id, taskDefinition: primary.taskDefinition };
    this.event(state, service, time, `(deployment ${primary.id}) deployment completed.`);
    this.event(state, service, time, 'has reached a steady state.');
  }

  // --- views ------------------------------------------------------------------------------------

  private taskStatus(
    task: SimTask,
    now: number,
  ): { last: string; desired: 'RUNNING' | 'STOPPED'; health: string } {
    const health =
      task.healthyAt !== undefined && ms(task.healthyAt) <= now
        ? 'HEALTHY'
        : ms(task.startedAt) <= now && task.healthyAt === undefined
          ? 'UNHEALTHY'
          : 'UNKNOWN';
    if (task.stoppedAt !== undefined && ms(task.stoppedAt) <= now)
      return { last: 'STOPPED', desired: 'STOPPED', health };
    if (task.stoppingAt !== undefined && ms(task.stoppingAt) <= now)
      return { last: 'DEACTIVATING', desired: 'STOPPED', health };
    if (ms(task.startedAt) <= now) return { last: 'RUNNING', desired: 'RUNNING', health };
    return { last: 'PENDING', desired: 'RUNNING', health };
  }

  private deploymentView(service: SimService, d: SimDeployment, now: number): Deployment {
    const mine = service.tasks.filter((t) => t.owner === d.id);
    const count = (last: string) => mine.filter((t) => this.taskStatus(t, now).last === last).length;
    return {
      id: d.id,
      status: d.status,
      taskDefinition: d.taskDefinition,
      desiredCount: d.desiredCount,
      pendingCount: count('PENDING'),
      runningCount: count('RUNNING'),
      failedTasks: d.failedTasks,
      createdAt: new Date(d.createdAt),
      updatedAt: new Date(d.updatedAt),
      launchType: 'FARGATE',
      platformVersion: '1.4.0',
      rolloutState: d.rolloutState,
      rolloutStateReason: d.rolloutStateReason,
    };
  }

  private serviceView(cluster: SimCluster, service: SimService, now: number): Service {
    // PRIMARY first, then newest first, as DescribeServices lists them.
    const deployments = [...service.deployments]
      .sort(
        (a, b) =>
          Number(b.status === 'PRIMARY') - Number(a.status === 'PRIMARY') ||
          b.createdAt.localeCompare(a.createdAt),
      )
      .map((d) => this.deploymentView(service, d, now));
    return {
      serviceArn: service.arn,
      serviceName: service.name,
      clusterArn: cluster.arn,
      loadBalancers: [
        { targetGroupArn: service.targetGroupArn, containerName: service.container, containerPort: 8080 },
      ],
      serviceRegistries: [],
      status: service.status,
      desiredCount: service.desiredCount,
      runningCount: deployments.reduce((n, d) => n + (d.runningCount ?? 0), 0),
      pendingCount: deployments.reduce((n, d) => n + (d.pendingCount ?? 0), 0),
      launchType: 'FARGATE',
      platformVersion: 'LATEST',
      taskDefinition: service.taskDefinition,
      deploymentConfiguration: structuredClone(service.deploymentConfiguration),
      deployments,
      events: service.events.map((e) => ({ id: e.id, createdAt: new Date(e.createdAt), message: e.message })),
      createdAt: new Date(service.createdAt),
      healthCheckGracePeriodSeconds: 30,
      schedulingStrategy: 'REPLICA',
      deploymentController: { type: 'ECS' },
      enableECSManagedTags: true,
      propagateTags: 'SERVICE',
    };
  }

  private taskDefinitionView(td: SimTaskDefinition): TaskDefinition {
    const body = structuredClone(td.body) as Partial<TaskDefinition>;
    const compatibilities = (body.requiresCompatibilities ?? ['EC2']) as TaskDefinition['compatibilities'];
    return {
      ...body,
      taskDefinitionArn: td.arn,
      family: td.family,
      revision: td.revision,
      status: td.status,
      requiresAttributes: [{ name: 'com.amazonaws.ecs.capability.docker-remote-api.1.18' }],
      compatibilities: [...new Set(['EC2', ...(compatibilities ?? [])])] as TaskDefinition['compatibilities'],
      registeredAt: new Date(td.registeredAt),
      registeredBy: `arn:aws:sts::${this.account}:assumed-role/guardian-local/ecs-sim`,
    } as TaskDefinition;
  }

  private taskView(state: SimState, cluster: SimCluster, task: SimTask, now: number): Task {
    const status = this.taskStatus(task, now);
    const td = state.taskDefinitions.find((t) => t.arn === task.taskDefinitionArn);
    const service = Object.values(cluster.services).find((s) => s.tasks.includes(task));
    const containers = ((td?.body.containerDefinitions ?? []) as ContainerDefinition[]).map((c) => {
      const guarded = c.name === service?.container;
      const stopped = status.last === 'STOPPED';
      return {
        containerArn: this.arn(`container/${cluster.name}/${task.id}/${c.name}`),
        taskArn: task.arn,
        name: c.name,
        image: c.image,
        lastStatus: stopped ? 'STOPPED' : status.last === 'PENDING' ? 'PENDING' : 'RUNNING',
        ...(stopped && guarded && task.failure === 'exit' && task.stoppedReason?.startsWith('Essential')
          ? { exitCode: 1 }
          : {}),
        ...(guarded ? { healthStatus: status.health as 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN' } : {}),
      };
    });
    return {
      taskArn: task.arn,
      clusterArn: cluster.arn,
      taskDefinitionArn: task.taskDefinitionArn,
      group: `service:${service?.name ?? ''}`,
      startedBy: task.startedBy,
      launchType: 'FARGATE',
      lastStatus: status.last,
      desiredStatus: status.desired,
      healthStatus: status.health as 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN',
      containers,
      createdAt: new Date(task.createdAt),
      ...(ms(task.startedAt) <= now ? { startedAt: new Date(task.startedAt) } : {}),
      ...(task.stoppingAt !== undefined && ms(task.stoppingAt) <= now
        ? {
            stoppingAt: at(task.stoppingAt),
            stopCode: task.stopCode as Task['stopCode'],
            stoppedReason: task.stoppedReason,
          }
        : {}),
      ...(task.stoppedAt !== undefined && ms(task.stoppedAt) <= now ? { stoppedAt: at(task.stoppedAt) } : {}),
      cpu: '512',
      memory: '1024',
      version: 3,
    };
  }

  // --- the ECS API ------------------------------------------------------------------------------

  async describeServices(input: DescribeServicesRequest): Promise<DescribeServicesResponse> {
    return this.transaction((state, now) => {
      const cluster = this.cluster(state, input.cluster);
      const services: Service[] = [];
      const failures: { arn: string; reason: string }[] = [];
      for (const ref of input.services ?? []) {
        const service = cluster.services[lastSegment(ref)];
        if (service === undefined)
          failures.push({ arn: this.arn(`service/${cluster.name}/${lastSegment(ref)}`), reason: 'MISSING' });
        else services.push(this.serviceView(cluster, service, now));
      }
      return { services, failures, ...metadata };
    });
  }

  async describeTaskDefinition(
    input: DescribeTaskDefinitionRequest,
  ): Promise<DescribeTaskDefinitionResponse> {
    return this.transaction((state) => {
      const td = this.taskDefinition(state, input.taskDefinition);
      if (td === undefined)
        throw new ClientException({ message: 'Unable to describe task definition.', ...metadata });
      return {
        taskDefinition: this.taskDefinitionView(td),
        ...(input.include?.includes('TAGS') ? { tags: structuredClone(td.tags) } : {}),
        ...metadata,
      };
    });
  }

  /** Stricter than ECS on one point: a field RegisterTaskDefinition does not accept is refused, not dropped. */
  async registerTaskDefinition(
    input: RegisterTaskDefinitionRequest,
  ): Promise<RegisterTaskDefinitionResponse> {
    return this.transaction((state, now) => {
      const accepted = new Set<string>([...ECS_REGISTER_FIELDS, 'tags']);
      const unknown = Object.keys(input).filter((k) => !accepted.has(k));
      if (unknown.length > 0) {
        throw new ClientException({
          message: `Unknown parameter in input: ${unknown.map((k) => `"${k}"`).join(', ')}`,
          ...metadata,
        });
      }
      if (!/^[A-Za-z0-9_-]{1,255}$/.test(input.family ?? '')) {
        throw new ClientException({
          message: 'Family must be 1-255 letters, numbers, hyphens or underscores.',
          ...metadata,
        });
      }
      const containers = input.containerDefinitions ?? [];
      if (containers.length === 0)
        throw new ClientException({ message: 'Container list cannot be empty.', ...metadata });
      for (const c of containers) {
        if (!c.name)
          throw new ClientException({ message: 'Container.name should not be null or empty.', ...metadata });
        if (!c.image)
          throw new ClientException({ message: 'Container.image should not be null or empty.', ...metadata });
      }
      for (const tag of input.tags ?? []) {
        if ((tag.value ?? '').length > 256 || !/^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u.test(tag.value ?? '')) {
          throw new InvalidParameterException({
            message: `Tag value for key '${tag.key}' is invalid.`,
            ...metadata,
          });
        }
      }
      const family = input.family as string;
      const revision =
        Math.max(0, ...state.taskDefinitions.filter((t) => t.family === family).map((t) => t.revision)) + 1;
      const { tags, ...body } = structuredClone(input);
      const td: SimTaskDefinition = {
        arn: this.arn(`task-definition/${family}:${revision}`),
        family,
        revision,
        status: 'ACTIVE',
        registeredAt: iso(now),
        body: body as Record<string, unknown>,
        tags: (tags ?? []).map((t) => ({ key: t.key ?? '', value: t.value ?? '' })),
      };
      state.taskDefinitions.push(td);
      return { taskDefinition: this.taskDefinitionView(td), tags: structuredClone(td.tags), ...metadata };
    });
  }

  async updateService(input: UpdateServiceRequest): Promise<UpdateServiceResponse> {
    return this.transaction((state, now) => {
      const cluster = this.cluster(state, input.cluster);
      const service = cluster.services[lastSegment(input.service ?? '')];
      if (service === undefined)
        throw new ServiceNotFoundException({ message: 'Service not found.', ...metadata });
      if (service.status !== 'ACTIVE')
        throw new ServiceNotActiveException({ message: 'Service was not ACTIVE.', ...metadata });
      let taskDefinition = service.taskDefinition;
      if (input.taskDefinition !== undefined) {
        const td = this.taskDefinition(state, input.taskDefinition);
        if (td === undefined)
          throw new ClientException({ message: 'TaskDefinition not found.', ...metadata });
        if (td.status !== 'ACTIVE')
          throw new ClientException({ message: 'TaskDefinition is inactive', ...metadata });
        taskDefinition = td.arn;
      }
      if (input.deploymentConfiguration !== undefined) {
        service.deploymentConfiguration = {
          ...service.deploymentConfiguration,
          ...structuredClone(input.deploymentConfiguration),
        };
      }
      if (input.desiredCount !== undefined) service.desiredCount = input.desiredCount;
      if (taskDefinition !== service.taskDefinition || input.forceNewDeployment) {
        for (const d of service.deployments) d.status = 'ACTIVE';
        const deployment: SimDeployment = {
          id: this.deploymentId(state),
          status: 'PRIMARY',
          taskDefinition,
          desiredCount: service.desiredCount,
          createdAt: iso(now),
          updatedAt: iso(now),
          rolloutState: 'IN_PROGRESS',
          rolloutStateReason: 'ECS deployment in progress.',
          failedTasks: 0,
        };
        service.deployments.unshift(deployment);
        service.taskDefinition = taskDefinition;
        this.launch(state, service, deployment, now, deployment.desiredCount);
      }
      return { service: this.serviceView(cluster, service, now), ...metadata };
    });
  }

  async listTaskDefinitions(input: ListTaskDefinitionsRequest): Promise<ListTaskDefinitionsResponse> {
    return this.transaction((state) => {
      const status = input.status ?? 'ACTIVE';
      const sorted = state.taskDefinitions
        .filter((t) => t.family.startsWith(input.familyPrefix ?? '') && (t.status as string) === status)
        .sort((a, b) => (a.family === b.family ? a.revision - b.revision : a.family < b.family ? -1 : 1));
      if (input.sort === 'DESC') sorted.reverse();
      const { items, nextToken } = page(
        sorted.map((t) => t.arn),
        input,
      );
      return { taskDefinitionArns: items, ...(nextToken === undefined ? {} : { nextToken }), ...metadata };
    });
  }

  async listTasks(input: ListTasksRequest): Promise<ListTasksResponse> {
    return this.transaction((state, now) => {
      const cluster = this.cluster(state, input.cluster);
      let services = Object.values(cluster.services);
      if (input.serviceName !== undefined) {
        const service = cluster.services[lastSegment(input.serviceName)];
        if (service === undefined)
          throw new ServiceNotFoundException({ message: 'Service not found.', ...metadata });
        services = [service];
      }
      const desired = input.desiredStatus ?? 'RUNNING';
      const arns = services
        .flatMap((s) => s.tasks)
        .filter((t) => input.startedBy === undefined || t.startedBy === input.startedBy)
        .filter((t) => this.taskStatus(t, now).desired === desired)
        .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
        .map((t) => t.arn);
      const { items, nextToken } = page(arns, input);
      return { taskArns: items, ...(nextToken === undefined ? {} : { nextToken }), ...metadata };
    });
  }

  async describeTasks(input: DescribeTasksRequest): Promise<DescribeTasksResponse> {
    return this.transaction((state, now) => {
      const cluster = this.cluster(state, input.cluster);
      if ((input.tasks ?? []).length > 100) {
        throw new InvalidParameterException({ message: 'Tasks cannot be more than 100.', ...metadata });
      }
      const all = Object.values(cluster.services).flatMap((s) => s.tasks);
      const tasks: Task[] = [];
      const failures: { arn: string; reason: string }[] = [];
      for (const ref of input.tasks ?? []) {
        const task = all.find((t) => t.arn === ref || t.id === ref);
        if (task === undefined) failures.push({ arn: ref, reason: 'MISSING' });
        else tasks.push(this.taskView(state, cluster, task, now));
      }
      return { tasks, failures, ...metadata };
    });
  }

  // --- local-runner helpers ---------------------------------------------------------------------

  /**
   * Creates the cluster (if new), registers revision 1 (or the family's next) of a Fargate task
   * definition running `image` in `container`, and a service whose deployment of it COMPLETED a
   * day ago, with `desiredCount` healthy tasks. ECS's circuit breaker is off, as on a service
   * nobody configured: the guardian turns it on with its first deployment.
   */
  seed(seed: EcsSeed): { taskDefinitionArn: string; serviceArn: string } {
    return this.transaction((state, now) => {
      const since = now - 86_400_000;
      const cluster = state.clusters[seed.cluster] ?? {
        name: seed.cluster,
        arn: this.arn(`cluster/${seed.cluster}`),
        services: {},
      };
      state.clusters[seed.cluster] = cluster;
      if (cluster.services[seed.service] !== undefined) {
        throw new InvalidParameterException({
          message: 'Creation of service was not idempotent.',
          ...metadata,
        });
      }
      const revision =
        Math.max(0, ...state.taskDefinitions.filter((t) => t.family === seed.family).map((t) => t.revision)) +
        1;
      const td: SimTaskDefinition = {
        arn: this.arn(`task-definition/${seed.family}:${revision}`),
        family: seed.family,
        revision,
        status: 'ACTIVE',
        registeredAt: iso(since),
        body: {
          family: seed.family,
          taskRoleArn: `arn:aws:iam::${this.account}:role/${seed.family}-task`,
          executionRoleArn: `arn:aws:iam::${this.account}:role/ecsTaskExecutionRole`,
          networkMode: 'awsvpc',
          containerDefinitions: [
            {
              name: seed.container,
              image: seed.image,
              cpu: 0,
              essential: true,
              portMappings: [{ containerPort: 8080, hostPort: 8080, protocol: 'tcp' }],
              environment: [{ name: 'PORT', value: '8080' }],
              logConfiguration: {
                logDriver: 'awslogs',
                options: {
                  'awslogs-group': `/ecs/${seed.family}`,
                  'awslogs-region': this.region,
                  'awslogs-stream-prefix': 'ecs',
                },
              },
            },
          ],
          volumes: [],
          placementConstraints: [],
          requiresCompatibilities: ['FARGATE'],
          cpu: '512',
          memory: '1024',
          runtimePlatform: { cpuArchitecture: 'X86_64', operatingSystemFamily: 'LINUX' },
        },
        tags: [{ key: 'service', value: seed.service }],
      };
      state.taskDefinitions.push(td);
      const deployment: SimDeployment = {
        id: this.deploymentId(state),
        status: 'PRIMARY',
        taskDefinition: td.arn,
        desiredCount: seed.desiredCount,
        createdAt: iso(since),
        updatedAt: iso(since),
        rolloutState: 'COMPLETED',
        rolloutStateReason: 'ECS deployment completed.',
        failedTasks: 0,
        drainAt: iso(since),
      };
      const service: SimService = {
        name: seed.service,
        arn: this.arn(`service/${seed.cluster}/${seed.service}`),
        status: 'ACTIVE',
        desiredCount: seed.desiredCount,
        taskDefinition: td.arn,
        deploymentConfiguration: {
          deploymentCircuitBreaker: { enable: false, rollback: false },
          maximumPercent: 200,
          minimumHealthyPercent: 100,
        },
        deployments: [deployment],
        events: [],
        createdAt: iso(since),
        container: seed.container,
        targetGroupArn: `arn:aws:elasticloadbalancing:${this.region}:${this.account}:targetgroup/${seed.service.slice(0, 20)}/${this.nextHex(state).slice(0, 16)}`,
        lastCompleted: { id: deployment.id, taskDefinition: td.arn },
        tasks: [],
      };
      cluster.services[seed.service] = service;
      for (let i = 0; i < seed.desiredCount; i++) {
        const id = this.nextHex(state).slice(0, 32);
        service.tasks.push({
          id,
          arn: this.arn(`task/${seed.cluster}/${id}`),
          taskDefinitionArn: td.arn,
          startedBy: deployment.id,
          owner: deployment.id,
          createdAt: iso(since),
          startedAt: iso(since + 5000),
          healthyAt: iso(since + 5000),
        });
      }
      this.event(state, service, since, 'has reached a steady state.');
      return { taskDefinitionArn: td.arn, serviceArn: service.arn };
    });
  }

  /** Whether the double has no cluster yet (the local runner seeds an empty one, once). */
  isEmpty(): boolean {
    return this.transaction((state) => Object.keys(state.clusters).length === 0);
  }

  /** Whether the cluster has the service. */
  hasService(cluster: string, service: string): boolean {
    return this.transaction((state) => state.clusters[cluster]?.services[service] !== undefined);
  }

  /**
   * The image most of the service's running, healthy, not draining tasks serve (the PRIMARY
   * deployment's on a tie): what the demo API behind the load balancer answers as. Undefined when
   * no task is healthy, or the cluster or service does not exist.
   */
  servedImage(cluster: string, service: string): string | undefined {
    return this.transaction((state, now) => {
      const s = state.clusters[cluster]?.services[service];
      if (s === undefined) return undefined;
      const counts = new Map<string, number>();
      for (const task of s.tasks) {
        const status = this.taskStatus(task, now);
        if (status.last !== 'RUNNING' || status.health !== 'HEALTHY') continue;
        const image = this.imageIn(
          state.taskDefinitions.find((t) => t.arn === task.taskDefinitionArn),
          s.container,
        );
        counts.set(image, (counts.get(image) ?? 0) + 1);
      }
      const primary = s.deployments.find((d) => d.status === 'PRIMARY');
      const preferred = this.imageIn(
        state.taskDefinitions.find((t) => t.arn === primary?.taskDefinition),
        s.container,
      );
      let best: string | undefined;
      for (const [image, n] of counts) {
        const top = best === undefined ? -1 : (counts.get(best) ?? 0);
        if (n > top || (n === top && image === preferred)) best = image;
      }
      return best;
    });
  }
}

/** One page of `items` for `maxResults` (ECS's default and maximum: 100) and `nextToken`. */
function page(
  items: readonly string[],
  input: { maxResults?: number | undefined; nextToken?: string | undefined },
): { items: string[]; nextToken?: string } {
  const size = Math.min(Math.max(input.maxResults ?? 100, 1), 100);
  const start = input.nextToken === undefined ? 0 : Number(input.nextToken);
  if (!Number.isInteger(start) || start < 0) {
    throw new InvalidParameterException({ message: 'Invalid nextToken.', ...metadata });
  }
  const next = start + size < items.length ? String(start + size) : undefined;
  return { items: items.slice(start, start + size), ...(next === undefined ? {} : { nextToken: next }) };
}
