/**
 * The ECS platform's decisions (issue 10), pure: which RegisterTaskDefinition input releases a new
 * image, how far a service's rolling deployment is, and what the stopped tasks say. Inputs are the
 * ECS API's own JSON shapes (DescribeTaskDefinition, DescribeServices, DescribeTasks) as plain
 * data, so the adapter hands the SDK's answers in unchanged and no SDK type leaks into the core.
 */
import * as z from 'zod';
import { InvalidInputError } from './errors.ts';
import { quote, shorten } from './text.ts';

/** One container of a task definition; every field other than these is carried through untouched. */
export interface EcsContainerDefinition {
  readonly name?: string;
  readonly image?: string;
  readonly [field: string]: unknown;
}

/** `taskDefinition` of a DescribeTaskDefinition answer (only the fields the core reads are typed). */
export interface EcsTaskDefinition {
  readonly taskDefinitionArn?: string;
  readonly family?: string;
  readonly revision?: number;
  readonly containerDefinitions?: readonly EcsContainerDefinition[];
  readonly [field: string]: unknown;
}

/** A resource tag as DescribeTaskDefinition (`include: ['TAGS']`) and RegisterTaskDefinition spell it. */
export interface EcsTag {
  readonly key?: string;
  readonly value?: string;
}

/** The RegisterTaskDefinition request the core builds (fields as the API names them). */
export interface EcsRegisterTaskDefinitionInput {
  readonly family: string;
  readonly containerDefinitions: EcsContainerDefinition[];
  readonly tags?: EcsTag[];
  readonly [field: string]: unknown;
}

/**
 * Every field RegisterTaskDefinition accepts that DescribeTaskDefinition also returns (the API
 * reference's request parameters, `tags` aside: they come separately and are passed on as given).
 */
export const ECS_REGISTER_FIELDS = [
  'family',
  'taskRoleArn',
  'executionRoleArn',
  'networkMode',
  'containerDefinitions',
  'volumes',
  'placementConstraints',
  'requiresCompatibilities',
  'cpu',
  'memory',
  'pidMode',
  'ipcMode',
  'proxyConfiguration',
  'inferenceAccelerators',
  'ephemeralStorage',
  'runtimePlatform',
  'enableFaultInjection',
] as const;

/** Fields DescribeTaskDefinition returns that ECS sets itself; RegisterTaskDefinition refuses them. */
export const ECS_READ_ONLY_FIELDS = [
  'taskDefinitionArn',
  'revision',
  'status',
  'requiresAttributes',
  'compatibilities',
  'registeredAt',
  'registeredBy',
  'deregisteredAt',
] as const;

const REGISTER = new Set<string>(ECS_REGISTER_FIELDS);
const READ_ONLY = new Set<string>(ECS_READ_ONLY_FIELDS);

/**
 * Fields of `taskDefinition` that are neither copied nor known to be read-only: a field AWS added
 * after this list was written. The adapter logs them, because the new revision will lack them.
 */
export function unknownTaskDefinitionFields(taskDefinition: EcsTaskDefinition): string[] {
  return Object.keys(taskDefinition)
    .filter((field) => !REGISTER.has(field) && !READ_ONLY.has(field))
    .sort();
}

/**
 * The RegisterTaskDefinition input that releases `image` in `containerName`: every field of the
 * current revision RegisterTaskDefinition accepts, copied as is, with only that container's image
 * changed (what the runbook's `jq` edit of `describe-task-definition` does, without its drift).
 * Throws InvalidInputError when the task definition has no container of that name.
 */
export function registerInputFrom(
  taskDefinition: EcsTaskDefinition,
  containerName: string,
  image: string,
  tags?: readonly EcsTag[],
): EcsRegisterTaskDefinitionInput {
  const containers = taskDefinition.containerDefinitions ?? [];
  const names = containers.map((c) => c.name ?? '(unnamed)');
  const where = taskDefinition.taskDefinitionArn ?? taskDefinition.family ?? 'the task definition';
  if (!containers.some((c) => c.name === containerName)) {
    throw new InvalidInputError(
      `task definition ${where} has no container ${quote(containerName)} (it has: ${names.map(quote).join(', ') || 'none'}); ` +
        "set the environment's ecs.container to one of them",
    );
  }
  if (typeof taskDefinition.family !== 'string' || taskDefinition.family === '') {
    throw new InvalidInputError(
      `task definition ${where} has no family; describe it again with DescribeTaskDefinition`,
    );
  }
  const copied: Record<string, unknown> = {};
  for (const field of ECS_REGISTER_FIELDS) {
    const value = taskDefinition[field];
    // structuredClone: the input must not alias the described object the adapter may log or reuse.
    if (value !== undefined) copied[field] = structuredClone(value);
  }
  copied.containerDefinitions = containers.map((c) =>
    c.name === containerName ? { ...structuredClone(c), image } : structuredClone(c),
  );
  // An empty tags array adds nothing and RegisterTaskDefinition treats absent and empty alike.
  if (tags !== undefined && tags.length > 0) copied.tags = structuredClone([...tags]);
  return copied as EcsRegisterTaskDefinitionInput;
}

/** `arn:aws:ecs:eu-west-1:123456789012:task-definition/buywhere-api:42`. */
const TASK_DEFINITION_ARN =
  /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition\/[A-Za-z0-9_-]{1,255}:(\d+)$/;

/** The revision number at the end of a task definition ARN, or undefined when it is not one. */
export function taskDefinitionRevision(arn: string): number | undefined {
  const match = TASK_DEFINITION_ARN.exec(arn);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** `buywhere-api:42` from its ARN (what an operator reads); the value itself when it is not an ARN. */
export function taskDefinitionName(arn: string): string {
  const slash = arn.lastIndexOf('task-definition/');
  return slash < 0 ? arn : arn.slice(slash + 'task-definition/'.length);
}

/**
 * An ECS service's rollback point: the task definition revision it ran, restored the runbook's way
 * (`update-service --task-definition "$PREV_TASK"`). `revision` repeats the ARN's so the point
 * reads like the other platforms' (`revision 41 (…:v1.2.2)`).
 */
export const ecsRollbackPointSchema = z
  .strictObject({
    platform: z.literal('ecs'),
    taskDefinitionArn: z
      .string()
      .regex(TASK_DEFINITION_ARN, 'must be a task definition ARN ending in :revision'),
    revision: z.number().int().positive(),
    /** The guarded container's image in that revision. */
    image: z.string().min(1),
  })
  .refine((p) => taskDefinitionRevision(p.taskDefinitionArn) === p.revision, {
    path: ['revision'],
    message: 'must be the revision the task definition ARN ends with',
  });
/** An ECS service's rollback point. */
export type EcsRollbackPoint = z.infer<typeof ecsRollbackPointSchema>;

/** One entry of a DescribeServices service's `deployments`. */
export interface EcsDeployment {
  readonly id?: string;
  readonly status?: string;
  readonly taskDefinition?: string;
  readonly desiredCount?: number;
  readonly pendingCount?: number;
  readonly runningCount?: number;
  readonly failedTasks?: number;
  readonly createdAt?: string | Date;
  readonly updatedAt?: string | Date;
  readonly rolloutState?: string;
  readonly rolloutStateReason?: string;
  readonly [field: string]: unknown;
}

/** `services[0]` of a DescribeServices answer (only the fields the core reads are typed). */
export interface EcsService {
  readonly serviceName?: string;
  readonly clusterArn?: string;
  readonly taskDefinition?: string;
  readonly deployments?: readonly EcsDeployment[];
  readonly deploymentConfiguration?: {
    readonly deploymentCircuitBreaker?: { readonly enable?: boolean; readonly rollback?: boolean };
    readonly alarms?: {
      readonly alarmNames?: readonly string[];
      readonly enable?: boolean;
      readonly rollback?: boolean;
    };
    readonly [field: string]: unknown;
  };
  readonly events?: readonly {
    readonly id?: string;
    readonly createdAt?: string | Date;
    readonly message?: string;
  }[];
  readonly [field: string]: unknown;
}

/** What ended an ECS rollout the guardian started without it completing. */
export type EcsFailureCause = 'circuit-breaker' | 'alarm' | 'deadline' | 'replaced';

/** The guardian's judgement of an ECS rollout, with the sentence an operator reads. */
export interface EcsRolloutJudgement {
  readonly phase: 'progressing' | 'complete' | 'failed';
  readonly message: string;
  /** Set when `phase` is `failed`, unless ECS failed it for a reason it did not name. */
  readonly cause?: EcsFailureCause;
  /** Set when ECS itself started returning the service to an earlier task definition. */
  readonly ecsRolledBackTo?: string;
}

function time(value: string | Date | undefined): number {
  if (value === undefined) return Number.NaN;
  return value instanceof Date ? value.getTime() : Date.parse(value);
}

/** Which of ECS's two failure detectors the reason names (an alarm reason names the alarm). */
function failureCause(reason: string | undefined): 'circuit-breaker' | 'alarm' | undefined {
  if (reason === undefined) return undefined;
  if (/circuit breaker/i.test(reason)) return 'circuit-breaker';
  if (/alarm/i.test(reason)) return 'alarm';
  return undefined;
}

function tasksLine(d: EcsDeployment): string {
  const failed = d.failedTasks ? `, ${d.failedTasks} failed` : '';
  return `${d.runningCount ?? 0} of ${d.desiredCount ?? 0} tasks running, ${d.pendingCount ?? 0} pending${failed}`;
}

function failedSentence(
  service: EcsService,
  deployment: EcsDeployment,
): { cause: 'circuit-breaker' | 'alarm' | undefined; text: string } {
  const reason = deployment.rolloutStateReason;
  const cause = failureCause(reason);
  const said = reason ? `: ${shorten(reason, 300)}` : '';
  const alarms = service.deploymentConfiguration?.alarms?.alarmNames ?? [];
  switch (cause) {
    case 'circuit-breaker':
      return { cause, text: `ECS's deployment circuit breaker failed the deployment${said}` };
    case 'alarm':
      return {
        cause,
        text: `a deployment alarm failed the deployment${said}${alarms.length > 0 ? ` (deployment alarms: ${alarms.join(', ')})` : ''}`,
      };
    default:
      return { cause, text: `ECS reports the deployment FAILED${said}` };
  }
}

/**
 * Judges the service's rollout of `expectedTaskDefinitionArn` at `now`. Complete: the PRIMARY
 * deployment runs that task definition and ECS says COMPLETED. Failed: ECS says FAILED (its circuit
 * breaker or a deployment alarm, named from `rolloutStateReason`, and whether ECS itself rolled back
 * to an earlier task definition), the PRIMARY deployment runs another task definition (someone else
 * deployed), or the guardian's `deadline` (ISO, inclusive) passed while IN_PROGRESS.
 */
export function judgeEcsRollout(
  service: EcsService,
  expectedTaskDefinitionArn: string,
  deadline: string,
  now: Date,
): EcsRolloutJudgement {
  const name = `service ${quote(service.serviceName ?? '(unnamed)')}`;
  const expected = taskDefinitionName(expectedTaskDefinitionArn);
  const deployments = service.deployments ?? [];
  const primary = deployments.find((d) => d.status === 'PRIMARY');
  // The newest deployment of the expected task definition: a redeploy of the same revision makes several.
  const ours = deployments
    .filter((d) => d.taskDefinition === expectedTaskDefinitionArn)
    .sort((a, b) => time(b.createdAt) - time(a.createdAt))[0];

  if (primary !== undefined && primary.taskDefinition !== expectedTaskDefinitionArn) {
    const running = taskDefinitionName(primary.taskDefinition ?? '(none)');
    const ecsRollback =
      (ours?.rolloutState === 'FAILED' && !(time(primary.createdAt) < time(ours.createdAt))) ||
      /rolling back/i.test(primary.rolloutStateReason ?? '');
    if (ecsRollback) {
      const failed = ours?.rolloutState === 'FAILED' ? failedSentence(service, ours) : undefined;
      const cause = failed?.cause ?? failureCause(primary.rolloutStateReason);
      const why =
        failed?.text ?? `ECS failed the deployment: ${shorten(primary.rolloutStateReason ?? '', 300)}`;
      const progress = primary.rolloutState === 'COMPLETED' ? 'rollback complete' : 'rollback in progress';
      return {
        phase: 'failed',
        message: `${name} did not roll out ${expected}: ${why}; ECS rolled back to ${running} (${progress}, ${tasksLine(primary)})`,
        ...(cause === undefined ? {} : { cause }),
        ecsRolledBackTo: primary.taskDefinition ?? running,
      };
    }
    return {
      phase: 'failed',
      cause: 'replaced',
      message: `someone else deployed to ${name}: its PRIMARY deployment runs ${running}, expected ${expected}; find out who before rolling back`,
    };
  }

  if (primary === undefined) {
    // ECS has not recorded the update yet (eventual consistency right after UpdateService).
    return pastDeadline(name, expected, deadline, now, 'ECS reports no PRIMARY deployment yet');
  }

  switch (primary.rolloutState) {
    case 'COMPLETED':
      return {
        phase: 'complete',
        message: `${name} runs ${expected}: rollout COMPLETED, ${tasksLine(primary)}`,
      };
    case 'FAILED': {
      const { cause, text } = failedSentence(service, primary);
      const breaker = service.deploymentConfiguration?.deploymentCircuitBreaker;
      const alarms = service.deploymentConfiguration?.alarms;
      const rollbackOn = cause === 'alarm' ? alarms?.rollback === true : breaker?.rollback === true;
      const after = rollbackOn
        ? 'ECS has not rolled back (it needs an earlier COMPLETED deployment); the guardian rolls back'
        : "ECS's own rollback is off; the guardian rolls back";
      return {
        phase: 'failed',
        message: `${name} did not roll out ${expected}: ${text}; ${after} (${tasksLine(primary)})`,
        ...(cause === undefined ? {} : { cause }),
      };
    }
    default:
      return pastDeadline(
        name,
        expected,
        deadline,
        now,
        `rollout ${primary.rolloutState ?? 'IN_PROGRESS'}, ${tasksLine(primary)}`,
      );
  }
}

function pastDeadline(
  name: string,
  expected: string,
  deadline: string,
  now: Date,
  state: string,
): EcsRolloutJudgement {
  const at = Date.parse(deadline);
  // An unreadable deadline fails safe: the guardian must not wait forever.
  if (!Number.isFinite(at) || now.getTime() >= at) {
    return {
      phase: 'failed',
      cause: 'deadline',
      message: `${name} did not finish rolling out ${expected} by the guardian's deadline ${deadline}: ${state}`,
    };
  }
  return { phase: 'progressing', message: `Waiting for ${name} to roll out ${expected}: ${state}` };
}

/** One entry of a DescribeTasks answer's `tasks` (only the fields the summary reads are typed). */
export interface EcsStoppedTask {
  readonly taskArn?: string;
  readonly lastStatus?: string;
  readonly stopCode?: string;
  readonly stoppedReason?: string;
  readonly containers?: readonly {
    readonly name?: string;
    readonly exitCode?: number;
    readonly reason?: string;
    readonly [field: string]: unknown;
  }[];
  readonly [field: string]: unknown;
}

/** How many distinct reasons the summary names before it says how many more there are. */
export const STOPPED_REASONS_SHOWN = 3;

function taskReason(task: EcsStoppedTask): string {
  const containers = (task.containers ?? [])
    // A container reason that repeats the task's (CannotPullContainerError) would only say it twice.
    .filter((c) => c.reason !== task.stoppedReason || (c.exitCode !== undefined && c.exitCode !== 0))
    .filter((c) => c.reason !== undefined || (c.exitCode !== undefined && c.exitCode !== 0))
    .map((c) => {
      const what = c.reason ?? `exited with code ${c.exitCode}`;
      const code = c.reason !== undefined && c.exitCode !== undefined ? ` (exit code ${c.exitCode})` : '';
      return `container ${c.name ?? '(unnamed)'}: ${shorten(what, 200)}${code}`;
    });
  const head = task.stoppedReason
    ? shorten(task.stoppedReason, 200)
    : (task.stopCode ?? 'stopped for no stated reason');
  return containers.length > 0 ? `${head} — ${containers.join('; ')}` : head;
}

/**
 * One sentence from DescribeTasks' stopped tasks: each distinct reason once with how many tasks
 * gave it, most frequent first, e.g. `3 tasks stopped: Essential container in task exited —
 * container api: exited with code 1 (×2); CannotPullContainerError: … (×1)`.
 */
export function stoppedReasonsSummary(tasks: readonly EcsStoppedTask[]): string {
  if (tasks.length === 0) return 'no stopped tasks to explain the failure (ECS keeps them for about an hour)';
  const counts = new Map<string, number>();
  for (const task of tasks) {
    const reason = taskReason(task);
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
  }
  // Stable order: by count, then first seen, so the same tasks always read the same.
  const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  const shown = ranked.slice(0, STOPPED_REASONS_SHOWN).map(([reason, n]) => `${reason} (×${n})`);
  const more = ranked.length - shown.length;
  const tail = more > 0 ? `; and ${more} other reason${more === 1 ? '' : 's'}` : '';
  return `${tasks.length} task${tasks.length === 1 ? '' : 's'} stopped: ${shown.join('; ')}${tail}`;
}
