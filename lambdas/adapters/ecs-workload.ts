/**
 * The Workload port for an ECS service (issue 10), the runbook's legacy platform: capture the
 * service's task definition, register a revision with the new image and update the service with
 * ECS's own circuit breaker and deployment alarms (rollback on), judge the rollout from
 * DescribeServices, and restore with `update-service --task-definition "$PREV_TASK"
 * --force-new-deployment`. Decisions are lambdas/core/ecs.ts's; this file only calls ECS
 * ({@link EcsApi}: the SDK or the local double) and maps its answers to the core's types.
 */
import type {
  DeploymentConfiguration,
  Deployment as SdkDeployment,
  Service,
  Task,
} from '@aws-sdk/client-ecs';
import { DEGRADED_ALARM_ID, guardianAlarmName } from '../core/alarm-catalog.ts';
import {
  type EcsRollbackPoint,
  type EcsService,
  type EcsStoppedTask,
  type EcsTag,
  type EcsTaskDefinition,
  ecsRollbackPointSchema,
  judgeEcsRollout,
  registerInputFrom,
  stoppedReasonsSummary,
  taskDefinitionName,
  taskDefinitionRevision,
  unknownTaskDefinitionFields,
} from '../core/ecs.ts';
import { InvalidInputError, NotFoundError } from '../core/errors.ts';
import type { PodStartup } from '../core/health.ts';
import { quote } from '../core/text.ts';
import type { RollbackPoint, WorkloadObservation, WorkloadPort } from '../core/workload.ts';
import { type EcsApi, withEcsErrors } from './ecs-api.ts';

/** Where the guarded container runs: the environment's top-level keys for platform `ecs`. */
export interface EcsWorkloadConfig {
  /** The ECS cluster's name. */
  readonly cluster: string;
  /** The ECS service's name. */
  readonly workload: string;
  /** The container of the service's task definition whose image a release changes. */
  readonly container: string;
  /** The environment's name (its composite alarm is `guardian-<name>-Degraded`). */
  readonly name: string;
  /**
   * The environment's `alarms` block: when present, the composite alarm it creates is the
   * service's deployment alarm, so ECS fails (and rolls back) a deployment the guardian would.
   */
  readonly alarms?: object | undefined;
}

/** Options of {@link EcsWorkload}. */
export interface EcsWorkloadOptions {
  /** Where a warning goes (task definition fields the new revision cannot copy). @default console.warn as JSON */
  readonly warn?: (message: string, extra: Record<string, unknown>) => void;
}

/** The tag on a registered revision that says why the guardian registered it (ECS has no change-cause field). */
export const CHANGE_CAUSE_TAG = 'guardian:change-cause';
/** ECS's limit on a tag value. */
export const MAX_TAG_VALUE = 256;
/** How many revisions `history` lists (the newest ones), like `rollout history` with a revision limit. */
export const HISTORY_LIMIT = 10;
/** DescribeTasks takes at most 100 tasks per call. */
const DESCRIBE_TASKS_BATCH = 100;
/**
 * The deadline handed to judgeEcsRollout: never reached. The rollout-status step compares with the
 * guardian's own deadline (lambdas/core/rollout.ts), so the adapter must not add a second one.
 */
const NO_DEADLINE = '9999-12-31T23:59:59.999Z';
/** The `now` judged against {@link NO_DEADLINE}: any time before it will do, so no clock is read. */
const NOT_LATE = new Date(0);

/**
 * `text` as an ECS tag value: at most 256 characters of letters, digits, spaces and `_ . : / = + - @`
 * (the only characters ECS accepts in a tag); any other character becomes `_`.
 */
export function ecsTagValue(text: string): string {
  return [...text.replace(/[^\p{L}\p{Z}\p{N}_.:/=+\-@]/gu, '_')].slice(0, MAX_TAG_VALUE).join('');
}

/** `ECS service "buywhere-prod/buywhere-api"`, what an operator calls it. */
export function ecsServiceName(cluster: string, service: string): string {
  return `ECS service "${cluster}/${service}"`;
}

/** The newest of `deployments` by createdAt. */
function newest<T extends { createdAt?: Date | string }>(deployments: readonly T[]): T | undefined {
  const time = (d: T) => (d.createdAt === undefined ? Number.NaN : new Date(d.createdAt).getTime());
  return [...deployments].sort((a, b) => time(b) - time(a))[0];
}

/** The task id at the end of a task ARN (what the console and the CLI show). */
function taskId(arn: string): string {
  return arn.slice(arn.lastIndexOf('/') + 1);
}

/** The Workload port of one environment's ECS service. */
export class EcsWorkload implements WorkloadPort {
  private readonly connect: () => Promise<EcsApi>;
  private readonly warn: (message: string, extra: Record<string, unknown>) => void;

  /**
   * `api` is the ECS API (or a function that builds it lazily and caches); its errors are mapped
   * by withEcsErrors whichever it is, so the local double fails the way ECS does.
   */
  constructor(
    api: EcsApi | (() => Promise<EcsApi>),
    private readonly config: EcsWorkloadConfig,
    options: EcsWorkloadOptions = {},
  ) {
    this.connect =
      typeof api === 'function' ? async () => withEcsErrors(await api()) : async () => withEcsErrors(api);
    this.warn =
      options.warn ??
      ((message, extra) => console.warn(JSON.stringify({ level: 'WARN', message, ...extra })));
  }

  private get label(): string {
    return ecsServiceName(this.config.cluster, this.config.workload);
  }

  /** DescribeServices of the environment's service (withEcsErrors refuses a missing or inactive one). */
  private async service(api: EcsApi): Promise<Service> {
    const out = await api.describeServices({
      cluster: this.config.cluster,
      services: [this.config.workload],
    });
    const service = out.services?.[0];
    if (service === undefined) throw new NotFoundError(`${this.label} was not returned by DescribeServices`);
    return service;
  }

  /** The service's current task definition ARN (that of its PRIMARY deployment). */
  private currentArn(service: Service): string {
    // ECS keeps the two equal; the service's own field comes first because moto does not update
    // its deployments on UpdateService.
    const arn =
      service.taskDefinition ?? service.deployments?.find((d) => d.status === 'PRIMARY')?.taskDefinition;
    if (arn === undefined) throw new NotFoundError(`${this.label} reports no task definition`);
    return arn;
  }

  private async taskDefinition(
    api: EcsApi,
    arn: string,
    withTags = false,
  ): Promise<{ taskDefinition: EcsTaskDefinition; tags: EcsTag[] }> {
    const out = await api.describeTaskDefinition({
      taskDefinition: arn,
      ...(withTags ? { include: ['TAGS' as const] } : {}),
    });
    if (out.taskDefinition === undefined) {
      throw new NotFoundError(`ECS returned no task definition for ${quote(arn)}`);
    }
    return { taskDefinition: out.taskDefinition as EcsTaskDefinition, tags: out.tags ?? [] };
  }

  /** The guarded container's image in `td`; NotFoundError naming the containers when it is absent. */
  private imageOf(td: EcsTaskDefinition): string {
    const containers = td.containerDefinitions ?? [];
    const image = containers.find((c) => c.name === this.config.container)?.image;
    if (image === undefined) {
      const names = containers.map((c) => quote(c.name ?? '(unnamed)')).join(', ') || 'none';
      throw new NotFoundError(
        `task definition ${taskDefinitionName(td.taskDefinitionArn ?? '(unknown)')} of ${this.label} has no container ${quote(this.config.container)} (it has: ${names}); fix 'container' of environment ${quote(this.config.name)} in config/environments.yaml`,
      );
    }
    return image;
  }

  /** The stopped tasks ECS keeps for `deploymentId` (about an hour), in one sentence. */
  private async stoppedReasons(api: EcsApi, deploymentId: string | undefined): Promise<string> {
    if (deploymentId === undefined) return stoppedReasonsSummary([]);
    const arns: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await api.listTasks({
        cluster: this.config.cluster,
        startedBy: deploymentId,
        desiredStatus: 'STOPPED',
        ...(nextToken === undefined ? {} : { nextToken }),
      });
      arns.push(...(page.taskArns ?? []));
      nextToken = page.nextToken;
    } while (nextToken !== undefined && arns.length < DESCRIBE_TASKS_BATCH);
    const tasks = await this.describeTasks(api, arns.slice(0, DESCRIBE_TASKS_BATCH));
    return stoppedReasonsSummary(tasks as unknown as EcsStoppedTask[]);
  }

  private async describeTasks(api: EcsApi, arns: readonly string[]): Promise<Task[]> {
    const tasks: Task[] = [];
    for (let i = 0; i < arns.length; i += DESCRIBE_TASKS_BATCH) {
      const out = await api.describeTasks({
        cluster: this.config.cluster,
        tasks: arns.slice(i, i + DESCRIBE_TASKS_BATCH),
      });
      tasks.push(...(out.tasks ?? []));
    }
    return tasks;
  }

  /**
   * The service in the core's terms. The desired state is the service's current task definition
   * (ECS's own rollback changes it back, and the Rollback workflow then waits for that). When
   * ECS failed a deployment, the message says which detector did it (circuit breaker or alarm) and
   * what the failed deployment's stopped tasks say, also while ECS rolls back by itself.
   */
  private async observeWith(api: EcsApi, service: Service): Promise<WorkloadObservation> {
    const arn = this.currentArn(service);
    const { taskDefinition } = await this.taskDefinition(api, arn);
    const image = this.imageOf(taskDefinition);
    const view = service as unknown as EcsService;
    const judgement = judgeEcsRollout(view, arn, NO_DEADLINE, NOT_LATE);
    const deployments = service.deployments ?? [];
    const primary = deployments.find((d) => d.status === 'PRIMARY');
    let message = judgement.message;
    if (judgement.phase === 'failed') {
      message = `${message}. ${await this.stoppedReasons(api, primary?.id)}`;
    } else {
      // ECS's own rollback: a FAILED deployment beside the PRIMARY one that returns to an earlier revision.
      const failed = newest(
        deployments.filter((d): d is SdkDeployment => d.status !== 'PRIMARY' && d.rolloutState === 'FAILED'),
      );
      if (failed?.taskDefinition !== undefined) {
        const why = judgeEcsRollout(view, failed.taskDefinition, NO_DEADLINE, NOT_LATE);
        message = `${message}. ${why.message}. ${await this.stoppedReasons(api, failed.id)}`;
      }
    }
    const desired = primary?.desiredCount ?? service.desiredCount ?? 0;
    const running = primary?.runningCount ?? 0;
    return {
      name: this.label,
      platform: 'ecs',
      image,
      revision: taskDefinitionRevision(arn) ?? taskDefinition.revision ?? 0,
      rollout: { phase: judgement.phase, message },
      replicas: {
        desired,
        updated: running + (primary?.pendingCount ?? 0),
        ready: running,
        available: running,
      },
    };
  }

  async observe(): Promise<WorkloadObservation> {
    const api = await this.connect();
    return this.observeWith(api, await this.service(api));
  }

  /** The service now, and its current (PRIMARY) task definition revision as the point to return to. */
  async capture(): Promise<{ observation: WorkloadObservation; point: RollbackPoint }> {
    const api = await this.connect();
    const service = await this.service(api);
    const observation = await this.observeWith(api, service);
    const arn = this.currentArn(service);
    return { observation, point: this.point(arn, observation.image) };
  }

  private point(arn: string, image: string): EcsRollbackPoint {
    const parsed = ecsRollbackPointSchema.safeParse({
      platform: 'ecs',
      taskDefinitionArn: arn,
      revision: taskDefinitionRevision(arn),
      image,
    });
    if (!parsed.success) {
      throw new InvalidInputError(
        `${this.label} runs task definition ${quote(arn)}, which is not a task definition ARN ending in :revision; the guardian cannot record it as a rollback point`,
      );
    }
    return parsed.data;
  }

  /**
   * Registers a revision of the current task definition with only the guarded container's image
   * changed (and the change cause as a tag), then points the service at it with ECS's circuit
   * breaker and the environment's deployment alarm on, rollback on, other settings kept.
   */
  async startRollout(image: string, changeCause: string): Promise<WorkloadObservation> {
    const api = await this.connect();
    const service = await this.service(api);
    const current = this.currentArn(service);
    const { taskDefinition, tags } = await this.taskDefinition(api, current, true);
    // Throws InvalidInputError before anything is registered when the container is not there.
    const input = registerInputFrom(taskDefinition, this.config.container, image, [
      ...tags.filter((t) => t.key !== CHANGE_CAUSE_TAG),
      { key: CHANGE_CAUSE_TAG, value: ecsTagValue(changeCause) },
    ]);
    const unknown = unknownTaskDefinitionFields(taskDefinition);
    if (unknown.length > 0) {
      this.warn('task definition fields not copied to the new revision (unknown to this guardian)', {
        taskDefinition: current,
        fields: unknown,
      });
    }
    const registered = await api.registerTaskDefinition(
      input as unknown as Parameters<EcsApi['registerTaskDefinition']>[0],
    );
    const arn = registered.taskDefinition?.taskDefinitionArn;
    if (arn === undefined) {
      throw new Error(
        `ECS RegisterTaskDefinition for ${quote(input.family)} returned no task definition ARN`,
      );
    }
    const updated = await api.updateService({
      cluster: this.config.cluster,
      service: this.config.workload,
      taskDefinition: arn,
      deploymentConfiguration: this.deploymentConfiguration(service.deploymentConfiguration),
    });
    return this.observeWith(api, updated.service ?? (await this.service(api)));
  }

  /**
   * The service's deployment configuration with ECS's circuit breaker (rollback on) and, when the
   * environment has alarms, its composite alarm as the deployment alarm (rollback on): ECS then
   * fails a deployment on the guardian's own criteria too. Every other field is kept as it is.
   */
  private deploymentConfiguration(current: DeploymentConfiguration | undefined): DeploymentConfiguration {
    const config: DeploymentConfiguration = {
      ...(current ?? {}),
      deploymentCircuitBreaker: { enable: true, rollback: true },
    };
    if (this.config.alarms !== undefined) {
      config.alarms = {
        alarmNames: [guardianAlarmName(this.config.name, DEGRADED_ALARM_ID)],
        enable: true,
        rollback: true,
      };
    }
    return config;
  }

  /** The family's ACTIVE revisions as rollback points, oldest first (the newest {@link HISTORY_LIMIT}). */
  async history(): Promise<RollbackPoint[]> {
    const api = await this.connect();
    const service = await this.service(api);
    const current = this.currentArn(service);
    const { taskDefinition } = await this.taskDefinition(api, current);
    const family = taskDefinition.family;
    if (family === undefined) return [];
    // Newest first, paging past other families the prefix also matches (`api` matches `api-worker`).
    const arns: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await api.listTaskDefinitions({
        familyPrefix: family,
        status: 'ACTIVE',
        sort: 'DESC',
        ...(nextToken === undefined ? {} : { nextToken }),
      });
      for (const a of page.taskDefinitionArns ?? []) {
        if (taskDefinitionName(a).replace(/:\d+$/, '') === family) arns.push(a);
      }
      nextToken = page.nextToken;
    } while (nextToken !== undefined && arns.length < HISTORY_LIMIT);
    const newestFirst = arns
      .filter((a) => taskDefinitionRevision(a) !== undefined)
      .sort((a, b) => (taskDefinitionRevision(b) ?? 0) - (taskDefinitionRevision(a) ?? 0))
      .slice(0, HISTORY_LIMIT);
    const points: RollbackPoint[] = [];
    for (const a of newestFirst.reverse()) {
      const { taskDefinition: td } = await this.taskDefinition(api, a);
      const image = td.containerDefinitions?.find((c) => c.name === this.config.container)?.image;
      // A revision without the guarded container cannot be restored as this environment's release.
      if (image !== undefined) points.push(this.point(a, image));
    }
    return points;
  }

  /**
   * Points the service back at `point`'s task definition with a forced new deployment (the
   * runbook's `aws ecs update-service --task-definition "$PREV_TASK" --force-new-deployment`).
   * Idempotent: when the PRIMARY deployment already runs it (COMPLETED, or IN_PROGRESS, e.g. ECS
   * rolling back by itself), nothing changes.
   */
  async restore(point: RollbackPoint, _changeCause: string): Promise<WorkloadObservation> {
    if (point.platform !== 'ecs') {
      throw new InvalidInputError(
        `cannot restore a ${point.platform} rollback point on ${this.label}; roll back by revision instead`,
      );
    }
    const api = await this.connect();
    const service = await this.service(api);
    const primary = service.deployments?.find((d) => d.status === 'PRIMARY');
    if (
      service.taskDefinition === point.taskDefinitionArn &&
      primary?.taskDefinition === point.taskDefinitionArn &&
      (primary.rolloutState === 'COMPLETED' || primary.rolloutState === 'IN_PROGRESS')
    ) {
      return this.observeWith(api, service);
    }
    // Checked before the update: a point whose revision was deregistered or lost its container
    // fails here with the task definition's name, and the service is not changed.
    this.imageOf((await this.taskDefinition(api, point.taskDefinitionArn)).taskDefinition);
    const updated = await api.updateService({
      cluster: this.config.cluster,
      service: this.config.workload,
      taskDefinition: point.taskDefinitionArn,
      forceNewDeployment: true,
    });
    return this.observeWith(api, updated.service ?? (await this.service(api)));
  }

  /**
   * The PRIMARY deployment's running tasks: created when ECS placed them, ready when they started
   * and their health is HEALTHY (or UNKNOWN: no container health check, the load balancer's
   * decides). ECS records no time for HEALTHY, so the start is the closest it tells.
   */
  async podStartup(): Promise<PodStartup[]> {
    const api = await this.connect();
    const service = await this.service(api);
    const current = this.currentArn(service);
    const arns: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await api.listTasks({
        cluster: this.config.cluster,
        serviceName: this.config.workload,
        desiredStatus: 'RUNNING',
        ...(nextToken === undefined ? {} : { nextToken }),
      });
      arns.push(...(page.taskArns ?? []));
      nextToken = page.nextToken;
    } while (nextToken !== undefined);
    const tasks = await this.describeTasks(api, arns);
    return tasks
      .filter((t) => t.taskDefinitionArn === current && t.createdAt !== undefined)
      .map((t) => {
        const ready =
          t.lastStatus === 'RUNNING' &&
          t.startedAt !== undefined &&
          (t.healthStatus === 'HEALTHY' || t.healthStatus === 'UNKNOWN' || t.healthStatus === undefined);
        return {
          pod: taskId(t.taskArn ?? ''),
          createdAt: new Date(t.createdAt as Date).toISOString(),
          ...(ready ? { readyAt: new Date(t.startedAt as Date).toISOString() } : {}),
        };
      })
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.pod.localeCompare(b.pod));
  }
}
