/**
 * The few ECS API calls the ECS Workload adapter makes (issue 10), as a narrow interface typed with
 * the SDK's own request and response shapes, so the real client and the local double
 * (lib/local/ecs-sim.ts) are interchangeable. {@link withEcsErrors} turns ECS's errors into the
 * guardian's: a cluster, service or task definition ECS does not know becomes NotFoundError naming
 * it and the config key to check, a refused registration or update InvalidInputError, throttles
 * and 5xx TransientError; anything else (AccessDenied, ...) passes through unchanged.
 */
import type {
  DescribeServicesRequest,
  DescribeServicesResponse,
  DescribeTaskDefinitionRequest,
  DescribeTaskDefinitionResponse,
  DescribeTasksRequest,
  DescribeTasksResponse,
  ECSClient,
  ListTaskDefinitionsRequest,
  ListTaskDefinitionsResponse,
  ListTasksRequest,
  ListTasksResponse,
  RegisterTaskDefinitionRequest,
  RegisterTaskDefinitionResponse,
  UpdateServiceRequest,
  UpdateServiceResponse,
} from '@aws-sdk/client-ecs';
import { GuardianError, InvalidInputError, NotFoundError, TransientError } from '../core/errors.ts';
import { quote, shorten } from '../core/text.ts';
import { isTransientAwsError } from './transient.ts';

/** The ECS calls the adapter needs, with the SDK's request and response types. */
export interface EcsApi {
  /** DescribeServices (the adapter always names one service). */
  describeServices(input: DescribeServicesRequest): Promise<DescribeServicesResponse>;
  /** DescribeTaskDefinition (`include: ['TAGS']` returns the revision's tags). */
  describeTaskDefinition(input: DescribeTaskDefinitionRequest): Promise<DescribeTaskDefinitionResponse>;
  /** RegisterTaskDefinition. */
  registerTaskDefinition(input: RegisterTaskDefinitionRequest): Promise<RegisterTaskDefinitionResponse>;
  /** UpdateService. */
  updateService(input: UpdateServiceRequest): Promise<UpdateServiceResponse>;
  /** ListTaskDefinitions (a family's revisions, for history). */
  listTaskDefinitions(input: ListTaskDefinitionsRequest): Promise<ListTaskDefinitionsResponse>;
  /** ListTasks (a deployment's stopped tasks, a service's running ones). */
  listTasks(input: ListTasksRequest): Promise<ListTasksResponse>;
  /** DescribeTasks (at most 100 tasks per call, ECS's limit). */
  describeTasks(input: DescribeTasksRequest): Promise<DescribeTasksResponse>;
}

/**
 * The EcsApi of a real ECS client (built once at module scope by the caller), with ECS's errors
 * mapped by {@link withEcsErrors}. The SDK's commands are imported lazily so that a bundle that
 * never talks to ECS does not load the client's command modules.
 */
export function sdkEcsApi(client: ECSClient): EcsApi {
  const sdk = import('@aws-sdk/client-ecs');
  return withEcsErrors({
    describeServices: async (input) => client.send(new (await sdk).DescribeServicesCommand(input)),
    describeTaskDefinition: async (input) =>
      client.send(new (await sdk).DescribeTaskDefinitionCommand(input)),
    registerTaskDefinition: async (input) =>
      client.send(new (await sdk).RegisterTaskDefinitionCommand(input)),
    updateService: async (input) => client.send(new (await sdk).UpdateServiceCommand(input)),
    listTaskDefinitions: async (input) => client.send(new (await sdk).ListTaskDefinitionsCommand(input)),
    listTasks: async (input) => client.send(new (await sdk).ListTasksCommand(input)),
    describeTasks: async (input) => client.send(new (await sdk).DescribeTasksCommand(input)),
  });
}

/** Where to look when ECS does not know a name the guardian took from config. */
const CONFIG_FILE = 'config/environments.yaml';

const errorName = (err: unknown): string => String((err as { name?: unknown } | null)?.name ?? '');
const errorMessage = (err: unknown): string => String((err as { message?: unknown } | null)?.message ?? '');

/** ECS's answers for a task definition it does not have (its own and moto's wording). */
const UNKNOWN_TASK_DEFINITION =
  /unable to describe task definition|task ?definition.*(not found|does not exist|is inactive)|TaskDefinition not found/i;

/** Marks an api as already wrapped, so wrapping twice maps nothing twice. */
const WRAPPED = Symbol('withEcsErrors');

function clusterMissing(cluster: string | undefined, action: string, err: unknown): NotFoundError {
  return new NotFoundError(
    `ECS cluster ${quote(cluster ?? 'default')} does not exist in this account and region (${action}: ${errorName(err)}); ` +
      `check the environment's 'cluster' (and 'region') in ${CONFIG_FILE}`,
    { cause: err },
  );
}

function serviceMissing(
  cluster: string | undefined,
  service: string,
  action: string,
  why: string,
  cause?: unknown,
): NotFoundError {
  return new NotFoundError(
    `ECS service ${quote(service)} ${why} in cluster ${quote(cluster ?? 'default')} (${action}); ` +
      `check the environment's 'workload' (the ECS service name) and 'cluster' in ${CONFIG_FILE}`,
    cause === undefined ? undefined : { cause },
  );
}

function taskDefinitionMissing(taskDefinition: string, action: string, err: unknown): NotFoundError {
  return new NotFoundError(
    `ECS task definition ${quote(taskDefinition)} does not exist or is no longer ACTIVE (${action}: ${errorName(err)}: ${shorten(errorMessage(err), 120)}); ` +
      `describe the service's task definitions with 'aws ecs list-task-definitions' and check the environment's 'cluster' and 'workload' in ${CONFIG_FILE}`,
    { cause: err },
  );
}

/**
 * The error to throw for `err` from `action`: a GuardianError unchanged, a transient failure
 * TransientError, the not-found and refused cases mapped by `specific`, anything else unchanged.
 */
function mapped(err: unknown, action: string, specific: (err: unknown) => unknown): unknown {
  if (err instanceof GuardianError) return err;
  const own = specific(err);
  if (own !== undefined) return own;
  if (isTransientAwsError(err)) {
    return new TransientError(
      `ECS ${action} failed (${errorName(err)}): ${shorten(errorMessage(err), 200)}; retrying is safe`,
      { cause: err },
    );
  }
  return err;
}

async function call<T>(
  action: string,
  run: () => Promise<T>,
  specific: (err: unknown) => unknown,
): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw mapped(err, action, specific);
  }
}

/**
 * `api` with ECS's errors turned into the guardian's (idempotent: an api already wrapped is
 * returned as is). DescribeServices also fails for a service it reports as missing (`failures`
 * with reason MISSING) or no longer usable (status INACTIVE or DRAINING): the adapter always asks
 * for exactly the environment's service, so an answer without it is the same mistake in config.
 */
export function withEcsErrors(api: EcsApi): EcsApi {
  if ((api as { [WRAPPED]?: boolean })[WRAPPED]) return api;
  const cluster = (c: string | undefined) => (err: unknown) =>
    errorName(err) === 'ClusterNotFoundException' ? clusterMissing(c, 'ECS', err) : undefined;
  const wrapped: EcsApi & { [WRAPPED]: true } = {
    [WRAPPED]: true,
    describeServices: async (input) => {
      const out = await call(
        'DescribeServices',
        () => api.describeServices(input),
        (err) =>
          errorName(err) === 'ClusterNotFoundException'
            ? clusterMissing(input.cluster, 'DescribeServices', err)
            : undefined,
      );
      for (const name of input.services ?? []) {
        const missing = (out.failures ?? []).find(
          (f) => f.reason === 'MISSING' && (f.arn === name || f.arn?.endsWith(`/${name}`)),
        );
        if (missing !== undefined) {
          throw serviceMissing(input.cluster, name, 'DescribeServices: MISSING', 'does not exist');
        }
        const service = (out.services ?? []).find((s) => s.serviceName === name || s.serviceArn === name);
        if (service === undefined) {
          throw serviceMissing(input.cluster, name, 'DescribeServices', 'was not in the answer');
        }
        if (service.status !== undefined && service.status !== 'ACTIVE') {
          throw serviceMissing(
            input.cluster,
            name,
            `DescribeServices: status ${service.status}`,
            'is deleted or being deleted',
          );
        }
      }
      return out;
    },
    describeTaskDefinition: (input) =>
      call(
        'DescribeTaskDefinition',
        () => api.describeTaskDefinition(input),
        (err) =>
          errorName(err) === 'ClientException' && UNKNOWN_TASK_DEFINITION.test(errorMessage(err))
            ? taskDefinitionMissing(input.taskDefinition ?? '', 'DescribeTaskDefinition', err)
            : undefined,
      ),
    registerTaskDefinition: (input) =>
      call(
        'RegisterTaskDefinition',
        () => api.registerTaskDefinition(input),
        (err) =>
          errorName(err) === 'ClientException' || errorName(err) === 'InvalidParameterException'
            ? new InvalidInputError(
                `ECS refused to register a new revision of task definition family ${quote(input.family ?? '')} (${errorName(err)}: ${shorten(errorMessage(err), 200)}); nothing was registered. ` +
                  "Check the service's current task definition (aws ecs describe-task-definition) and the image reference",
                { cause: err },
              )
            : undefined,
      ),
    updateService: (input) =>
      call(
        'UpdateService',
        () => api.updateService(input),
        (err) => {
          const name = errorName(err);
          const service = input.service ?? '';
          if (name === 'ClusterNotFoundException') return clusterMissing(input.cluster, 'UpdateService', err);
          if (name === 'ServiceNotFoundException') {
            return serviceMissing(input.cluster, service, `UpdateService: ${name}`, 'does not exist', err);
          }
          if (name === 'ServiceNotActiveException') {
            return serviceMissing(input.cluster, service, `UpdateService: ${name}`, 'is not ACTIVE', err);
          }
          if (name === 'ClientException' && UNKNOWN_TASK_DEFINITION.test(errorMessage(err))) {
            return taskDefinitionMissing(input.taskDefinition ?? '', 'UpdateService', err);
          }
          if (name === 'InvalidParameterException' || name === 'ClientException') {
            return new InvalidInputError(
              `ECS refused to update service ${quote(service)} in cluster ${quote(input.cluster ?? 'default')} (${name}: ${shorten(errorMessage(err), 200)}); the service was not changed`,
              { cause: err },
            );
          }
          return undefined;
        },
      ),
    listTaskDefinitions: (input) =>
      call(
        'ListTaskDefinitions',
        () => api.listTaskDefinitions(input),
        () => undefined,
      ),
    listTasks: (input) =>
      call(
        'ListTasks',
        () => api.listTasks(input),
        (err) =>
          errorName(err) === 'ServiceNotFoundException'
            ? serviceMissing(input.cluster, input.serviceName ?? '', 'ListTasks', 'does not exist', err)
            : cluster(input.cluster)(err),
      ),
    describeTasks: (input) => call('DescribeTasks', () => api.describeTasks(input), cluster(input.cluster)),
  };
  return wrapped;
}
