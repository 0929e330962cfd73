/**
 * THE port table: every port a step may use, declared once — what it is, the config it reads,
 * the Lambda environment variables and IAM statements it needs (scoped to the environment's
 * resources), and how its AWS and local adapters are built. Everything else is derived from it
 * and from each step's list of ports in `lambdas/steps.ts`:
 * - the functions' environment, IAM policies and config slices (lib/constructs/step-function.ts);
 * - the bundles' contents: each port's adapters sit behind `process.env.<flag>`, which the bundler
 *   defines as "off" for a step without the port, so esbuild drops that branch and its imports;
 * - the handler wiring in the Lambda runtime (lambdas/shared/lambda.ts) and in the local runner.
 * Adding a port is one entry here plus its adapters.
 *
 * Nothing here imports an adapter or a CDK module at load time: the CDK app, the handlers and the
 * local runner all read this file.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { backupDatabaseOf } from '../../lib/config/backup-schema.ts';
import type { MetricsConfig } from '../../lib/config/metrics-schema.ts';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';
import type { ClusterPort } from '../adapters/cluster.ts';
import type { EcsApi } from '../adapters/ecs-api.ts';
import type { SnsPublish } from '../adapters/notifier.ts';
import type { RolloutsPort } from '../adapters/rollouts.ts';
import { type DatabaseSnapshots, snapshotNamePattern } from '../core/backup.ts';
import type { MetricsSource } from '../core/measurements.ts';
import { stateMachineName } from '../core/naming.ts';
import type { AlarmStates, Clock, HttpGet, Notifier, Secrets, Store, Workflows } from '../core/ports.ts';
import { RuntimeEnvError } from '../core/runtime-env.ts';
import type { BuiltPlatform, WorkloadPort } from '../core/workload.ts';

/** A key of an environment's config. */
export type ConfigKey = keyof EnvironmentConfig;

/** One IAM statement a port needs (plain strings: CDK tokens are strings too). */
export interface PortGrant {
  readonly actions: readonly string[];
  readonly resources: readonly string[];
  /** IAM conditions, where the resource alone cannot scope the action (iam:PassRole, say). */
  readonly conditions?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

/** The stack's resources a port may be granted, as the construct resolves them. */
export interface StackResources {
  readonly tables: {
    readonly deployments: { readonly name: string; readonly arn: string };
    readonly control: { readonly name: string; readonly arn: string };
  };
  /**
   * The ARN of `resource/name` (or `resource:name` with `sep` ':', e.g. Secrets Manager) of
   * `service` in the stack's account and region.
   */
  arn(service: string, resource: string, name: string, sep?: '/' | ':'): string;
  /** The stack's `guardian-<env>-alarms` topic and its KMS key (escalation's SNS channel). */
  readonly alarmTopic?: { readonly arn: string; readonly keyArn: string };
  /** The ARN of the state machine `name` (`arn:…:states:…:stateMachine:name`) in the stack's account and region. */
  stateMachineArn(name: string): string;
}

/** What an adapter is built from: its config slice, the function's variables and the clock. */
export interface PortBuildContext {
  readonly config: EnvironmentConfig;
  readonly vars: Readonly<Record<string, string | undefined>>;
  readonly clock: Clock;
}

/** What the local runner hands local adapters instead of AWS endpoints. */
export interface LocalPortContext {
  /** A document client on dynalite. */
  readonly dynamo: DynamoDBDocumentClient;
  /** The Kubernetes API: the embedded simulator or a kubeconfig's cluster. */
  readonly kubernetes: () => Promise<ClusterPort>;
  readonly clock: Clock;
  /** The local executor's Workflows (start executions, end waiting tasks), where the runner has one. */
  readonly workflows?: Workflows;
  /** Secret values by name or ARN, standing in for Secrets Manager. @default none */
  readonly secrets?: Readonly<Record<string, string>>;
  /** Publishes what the SNS channel sends (a recorder, or an SNS client on a local endpoint). @default none */
  readonly snsPublish?: SnsPublish;
  /** Where PagerDuty's Events API is reached locally (a receiver on loopback). @default the configured eventsUrl */
  readonly pagerdutyEventsUrl?: string;
  /**
   * The Argo Rollouts API (issue 11): the embedded simulator or a kubeconfig's cluster.
   * @default none (an Argo environment then cannot be driven locally)
   */
  readonly rollouts?: () => Promise<RolloutsPort>;
  /** The environment's ECS service (issue 10): the local ECS double. @default none */
  readonly ecs?: () => Promise<EcsApi>;
  /** The environment's database snapshots (issue 10): the local RDS double. @default none */
  readonly snapshots?: () => DatabaseSnapshots;
}

/** One port: how it is configured, granted and built. */
export interface PortSpec<T> {
  /** One line for the docs and for errors. */
  readonly description: string;
  /**
   * The `process.env` flag the bundler defines per step ("on"/"off"); `aws`/`local` test the same
   * literal flag so esbuild can drop the adapter from bundles of steps without the port.
   */
  readonly flag: string;
  /** The config keys the adapter reads (part of the function's config slice). */
  readonly config: readonly ConfigKey[];
  /** Lambda environment variables the adapter needs, from the stack's resources. */
  readonly environment?: (resources: StackResources, env: EnvironmentConfig) => Record<string, string>;
  /** IAM statements the adapter needs, scoped to this environment's resources. */
  readonly grants?: (resources: StackResources, env: EnvironmentConfig) => PortGrant[];
  /** The AWS adapter (undefined in a bundle whose step lacks the port). */
  readonly aws: (ctx: PortBuildContext) => Promise<T> | undefined;
  /** The local adapter (the local runner; tests). */
  readonly local: (ctx: PortBuildContext, local: LocalPortContext) => Promise<T> | undefined;
}

/** The value of a function environment variable the port needs; RuntimeEnvError names it. */
export function requiredVar(ctx: PortBuildContext, name: string, port: string): string {
  const value = ctx.vars[name];
  if (value === undefined || value.trim() === '') {
    throw new RuntimeEnvError(
      `environment variable ${name} is not set; the stack sets it on every function with the ${port} port`,
    );
  }
  return value;
}

/** Lambda environment variables through which the stack wires a function to its resources. */
export const ENV_VARS = {
  deploymentsTable: 'DEPLOYMENTS_TABLE',
  controlTable: 'CONTROL_TABLE',
  rollbackStateMachine: 'ROLLBACK_STATE_MACHINE_ARN',
  escalationStateMachine: 'ESCALATION_STATE_MACHINE_ARN',
  /** The SNS topic escalations publish to when `escalation.channels.sns.topic` is `stack`. */
  escalationTopic: 'ESCALATION_TOPIC_ARN',
} as const;

/**
 * DynamoDB actions per table, exactly what the store adapter calls (lambdas/adapters/dynamo-store.ts):
 * records are put, updated and read one by one and listed through the byStartedAt index; the
 * Control table also deletes (lock release, freezes). No Scan, no batch or stream actions.
 */
export const TABLE_ACTIONS = {
  deployments: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
  deploymentsIndex: ['dynamodb:Query'],
  control: [
    'dynamodb:GetItem',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:Query',
  ],
} as const;

function storeTables(ctx: PortBuildContext) {
  return {
    deploymentsTable: requiredVar(ctx, ENV_VARS.deploymentsTable, 'store'),
    controlTable: requiredVar(ctx, ENV_VARS.controlTable, 'store'),
  };
}

const store: PortSpec<Store> = {
  description: 'DynamoDB: deployment records, the environment lock, the circuit breaker, freezes',
  flag: 'GUARDIAN_PORT_STORE',
  config: [],
  environment: ({ tables }) => ({
    // Least privilege: a function without the store does not even learn the table names.
    [ENV_VARS.deploymentsTable]: tables.deployments.name,
    [ENV_VARS.controlTable]: tables.control.name,
  }),
  grants: ({ tables }) => [
    // Explicit actions rather than grantReadWriteData, which adds Scan, BatchWriteItem, ...
    { actions: TABLE_ACTIONS.deployments, resources: [tables.deployments.arn] },
    { actions: TABLE_ACTIONS.deploymentsIndex, resources: [`${tables.deployments.arn}/index/*`] },
    { actions: TABLE_ACTIONS.control, resources: [tables.control.arn] },
  ],
  aws: (ctx) =>
    process.env.GUARDIAN_PORT_STORE !== 'off'
      ? import('../adapters/aws-store.ts').then((m) => m.dynamoStore(storeTables(ctx)))
      : undefined,
  local: (ctx, local) =>
    process.env.GUARDIAN_PORT_STORE !== 'off'
      ? import('../adapters/dynamo-store.ts').then((m) => new m.DynamoStore(local.dynamo, storeTables(ctx)))
      : undefined,
};

/** The Workload port of each platform this guardian drives; `platform` in config picks one. */
const workloads: { readonly [P in BuiltPlatform]: PortSpec<WorkloadPort> } = {
  kubernetes: {
    description: 'a Kubernetes Deployment on EKS (DescribeCluster + a presigned STS token, then the API)',
    flag: 'GUARDIAN_PORT_WORKLOAD_KUBERNETES',
    config: ['cluster', 'region', 'namespace', 'workload', 'container'],
    // Only the endpoint and CA are read here; what the role may do inside the cluster is decided by
    // Kubernetes RBAC through an EKS access entry (see GuardianLambdaSteps).
    grants: (r, env) => [
      { actions: ['eks:DescribeCluster'], resources: [r.arn('eks', 'cluster', env.cluster)] },
    ],
    aws: (ctx) =>
      process.env.GUARDIAN_PORT_WORKLOAD_KUBERNETES !== 'off'
        ? Promise.all([
            import('../adapters/eks.ts'),
            import('../adapters/kubernetes.ts'),
            import('../adapters/kubernetes-workload.ts'),
          ]).then(
            ([eks, cluster, k8s]) =>
              new k8s.DeploymentWorkload(
                eks.eksClientProvider(ctx.config, (kc) => new cluster.KubernetesCluster(kc), {
                  clock: ctx.clock,
                }),
                k8s.deploymentPlacement(ctx.config),
              ),
          )
        : undefined,
    local: (ctx, local) =>
      process.env.GUARDIAN_PORT_WORKLOAD_KUBERNETES !== 'off'
        ? import('../adapters/kubernetes-workload.ts').then(
            (k8s) => new k8s.DeploymentWorkload(local.kubernetes, k8s.deploymentPlacement(ctx.config)),
          )
        : undefined,
  },
  // Issue 11: an Argo Rollout with the blue-green strategy (the runbook's production path).
  'argo-rollouts': {
    description:
      'an Argo Rollout (blue-green) on EKS: set image, preview/active status, promote, abort + undo, through the Kubernetes API',
    flag: 'GUARDIAN_PORT_WORKLOAD_ARGO',
    config: ['cluster', 'region', 'namespace', 'workload', 'container'],
    // As for a Deployment: IAM only finds the cluster; RBAC (an EKS access entry) decides what the
    // role may do on rollouts, rollouts/status, replicasets, services and pods in the namespace.
    grants: (r, env) => [
      { actions: ['eks:DescribeCluster'], resources: [r.arn('eks', 'cluster', env.cluster)] },
    ],
    aws: (ctx) =>
      process.env.GUARDIAN_PORT_WORKLOAD_ARGO !== 'off'
        ? Promise.all([
            import('../adapters/eks.ts'),
            import('../adapters/kubernetes-rollouts.ts'),
            import('../adapters/argo-workload.ts'),
          ]).then(
            ([eks, k8s, argo]) =>
              new argo.ArgoRolloutWorkload(
                eks.eksClientProvider(ctx.config, (kc) => new k8s.KubernetesRollouts(kc), {
                  clock: ctx.clock,
                }),
                argo.rolloutPlacement(ctx.config),
              ),
          )
        : undefined,
    local: (ctx, local) =>
      process.env.GUARDIAN_PORT_WORKLOAD_ARGO !== 'off'
        ? import('../adapters/argo-workload.ts').then((argo) => {
            if (!local.rollouts)
              throw new RuntimeEnvError(
                `this local runner has no Argo Rollouts API for '${ctx.config.name}'`,
              );
            const rollouts = local.rollouts;
            return new argo.ArgoRolloutWorkload(() => rollouts(), argo.rolloutPlacement(ctx.config));
          })
        : undefined,
  },
  // Issue 10: the legacy ECS service (register a task definition revision, update the service).
  ecs: {
    description:
      'an ECS service (DescribeServices, RegisterTaskDefinition, UpdateService with the deployment circuit breaker and alarms)',
    flag: 'GUARDIAN_PORT_WORKLOAD_ECS',
    // alarms: the composite alarm becomes the service's deployment alarm, so ECS and the guardian agree.
    config: ['cluster', 'region', 'workload', 'container', 'alarms'],
    grants: ecsWorkloadGrants,
    aws: (ctx) =>
      process.env.GUARDIAN_PORT_WORKLOAD_ECS !== 'off'
        ? Promise.all([
            import('@aws-sdk/client-ecs'),
            import('../adapters/ecs-api.ts'),
            import('../adapters/ecs-workload.ts'),
          ]).then(
            ([sdk, api, m]) =>
              // The service lives in the environment's region.
              new m.EcsWorkload(api.sdkEcsApi(new sdk.ECSClient({ region: ctx.config.region })), ctx.config),
          )
        : undefined,
    local: (ctx, local) =>
      process.env.GUARDIAN_PORT_WORKLOAD_ECS !== 'off'
        ? import('../adapters/ecs-workload.ts').then((m) => {
            if (!local.ecs)
              throw new RuntimeEnvError(`this local runner has no ECS double for '${ctx.config.name}'`);
            const ecs = local.ecs;
            return new m.EcsWorkload(() => ecs(), ctx.config);
          })
        : undefined,
  },
};

/**
 * IAM of the ECS workload adapter (lambdas/adapters/ecs-workload.ts) on the environment's service
 * only: `cluster` is the ECS cluster and `workload` the service. Task definitions have no
 * resource-level permissions for Register/Describe/List (the ECS service authorization
 * reference lists no resource type for them), so those are on `*` (acknowledged in lib/nag.ts);
 * registering a revision with tags needs TagResource on task definitions; passing the task
 * definition's task and execution roles on to the new revision needs iam:PassRole, limited to
 * ECS tasks by condition.
 */
export function ecsWorkloadGrants(
  r: StackResources,
  env: Pick<EnvironmentConfig, 'cluster' | 'workload'>,
): PortGrant[] {
  return [
    {
      actions: ['ecs:DescribeServices', 'ecs:UpdateService'],
      resources: [r.arn('ecs', 'service', `${env.cluster}/${env.workload}`)],
    },
    {
      actions: ['ecs:DescribeTaskDefinition', 'ecs:RegisterTaskDefinition', 'ecs:ListTaskDefinitions'],
      resources: ['*'],
    },
    { actions: ['ecs:TagResource'], resources: [r.arn('ecs', 'task-definition', '*')] },
    // The failed deployment's stopped tasks and the running tasks' start times.
    { actions: ['ecs:ListTasks'], resources: [r.arn('ecs', 'container-instance', `${env.cluster}/*`)] },
    { actions: ['ecs:DescribeTasks'], resources: [r.arn('ecs', 'task', `${env.cluster}/*`)] },
    {
      actions: ['iam:PassRole'],
      resources: ['*'],
      conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    },
  ];
}

const http: PortSpec<HttpGet> = {
  description: "HTTP GET of the environment's API (health checks), on the global fetch",
  flag: 'GUARDIAN_PORT_HTTP',
  config: [],
  aws: () =>
    process.env.GUARDIAN_PORT_HTTP !== 'off'
      ? import('../adapters/http.ts').then((m) => m.httpGet)
      : undefined,
  local: () =>
    process.env.GUARDIAN_PORT_HTTP !== 'off'
      ? import('../adapters/http.ts').then((m) => m.httpGet)
      : undefined,
};

const workflows: PortSpec<Workflows> = {
  description:
    "Step Functions: start the environment's Rollback or Escalation, end a waiting task (an alarm, an acknowledgement)",
  flag: 'GUARDIAN_PORT_WORKFLOWS',
  config: [],
  environment: (r, env) => ({
    [ENV_VARS.rollbackStateMachine]: r.stateMachineArn(stateMachineName(env.name, 'rollback')),
    [ENV_VARS.escalationStateMachine]: r.stateMachineArn(stateMachineName(env.name, 'escalation')),
  }),
  grants: (r, env) => [
    {
      actions: ['states:StartExecution'],
      resources: [
        r.stateMachineArn(stateMachineName(env.name, 'rollback')),
        r.stateMachineArn(stateMachineName(env.name, 'escalation')),
      ],
    },
    // SendTask* have no resource-level permissions: a task token is its own capability.
    { actions: ['states:SendTaskFailure', 'states:SendTaskSuccess'], resources: ['*'] },
  ],
  aws: (ctx) =>
    process.env.GUARDIAN_PORT_WORKFLOWS !== 'off'
      ? import('../adapters/sfn-workflows.ts').then((m) =>
          m.sfnWorkflows({
            rollback: requiredVar(ctx, ENV_VARS.rollbackStateMachine, 'workflows'),
            escalation: requiredVar(ctx, ENV_VARS.escalationStateMachine, 'workflows'),
          }),
        )
      : undefined,
  local: (_ctx, local) =>
    process.env.GUARDIAN_PORT_WORKFLOWS !== 'off' ? Promise.resolve(localWorkflows(local)) : undefined,
};

/** The local runner's workflows; a runner without them cannot run a step that starts executions. */
function localWorkflows(local: LocalPortContext): Workflows {
  if (!local.workflows)
    throw new RuntimeEnvError('this local runner cannot start workflows or end waiting tasks');
  return local.workflows;
}

// --- Escalation ports (issue 8): secrets and notifier. ---

/** The secrets the escalation channels name in config (names or ARNs). */
export function escalationSecretRefs(env: Pick<EnvironmentConfig, 'escalation'>): string[] {
  const c = env.escalation.channels;
  return [c.pagerduty?.routingKeySecret, c.slack?.webhookSecret].filter((r): r is string => r !== undefined);
}

/**
 * The IAM resource of a secret named in config: an ARN as given; a name as its ARN with
 * Secrets Manager's six random characters matched (`name-??????`), so a secret `guardian/x` does
 * not also grant `guardian/x-other`.
 */
export function secretResource(r: StackResources, ref: string): string {
  return ref.startsWith('arn:') ? ref : r.arn('secretsmanager', 'secret', `${ref}-??????`, ':');
}

const secrets: PortSpec<Secrets> = {
  description:
    "Secrets Manager GetSecretValue (cached per container) for the escalation channels' keys and URLs",
  flag: 'GUARDIAN_PORT_SECRETS',
  config: ['escalation'],
  grants: (r, env) => {
    const refs = escalationSecretRefs(env);
    return refs.length
      ? [{ actions: ['secretsmanager:GetSecretValue'], resources: refs.map((ref) => secretResource(r, ref)) }]
      : [];
  },
  aws: (ctx) =>
    process.env.GUARDIAN_PORT_SECRETS !== 'off'
      ? Promise.all([import('@aws-sdk/client-secrets-manager'), import('../adapters/secrets.ts')]).then(
          ([sm, m]) => new m.SecretsManagerSecrets(new sm.SecretsManagerClient({}), ctx.clock),
        )
      : undefined,
  local: (_ctx, local) =>
    process.env.GUARDIAN_PORT_SECRETS !== 'off'
      ? import('../adapters/secrets.ts').then((m) => m.localSecrets(local.secrets ?? {}))
      : undefined,
};

/** The topic ARN and KMS key of the escalation's SNS channel, if configured. */
function snsTarget(
  r: StackResources,
  env: Pick<EnvironmentConfig, 'escalation'>,
): { readonly topicArn: string; readonly keyArn?: string } | undefined {
  const sns = env.escalation.channels.sns;
  if (!sns) return undefined;
  if (sns.topic !== 'stack')
    return { topicArn: sns.topic, ...(sns.kmsKeyArn ? { keyArn: sns.kmsKeyArn } : {}) };
  if (!r.alarmTopic) {
    throw new RuntimeEnvError(
      "escalation.channels.sns.topic is 'stack' but the stack passed no alarm topic to its functions",
    );
  }
  return { topicArn: r.alarmTopic.arn, keyArn: r.alarmTopic.keyArn };
}

const notifier: PortSpec<Notifier> = {
  description:
    'PagerDuty Events API v2 and Slack incoming webhook (fetch), SNS Publish: the escalation channels',
  flag: 'GUARDIAN_PORT_NOTIFIER',
  config: ['escalation'],
  environment: (r, env): Record<string, string> => {
    const target = env.escalation.channels.sns?.topic === 'stack' ? snsTarget(r, env) : undefined;
    return target ? { [ENV_VARS.escalationTopic]: target.topicArn } : {};
  },
  grants: (r, env) => {
    const target = snsTarget(r, env);
    if (!target) return [];
    return [
      { actions: ['sns:Publish'], resources: [target.topicArn] },
      // An encrypted topic: the publisher needs the key to encrypt the message.
      ...(target.keyArn
        ? [{ actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [target.keyArn] }]
        : []),
    ];
  },
  aws: (ctx) =>
    process.env.GUARDIAN_PORT_NOTIFIER !== 'off'
      ? Promise.all([import('@aws-sdk/client-sns'), import('../adapters/notifier.ts')]).then(
          ([snsSdk, m]) => {
            const channels = ctx.config.escalation.channels;
            const topicArn =
              channels.sns?.topic === 'stack'
                ? requiredVar(ctx, ENV_VARS.escalationTopic, 'notifier')
                : channels.sns?.topic;
            // One retry policy (escalation.delivery), not the SDK's on top of ours.
            const client = new snsSdk.SNSClient({ maxAttempts: 1 });
            return new m.HttpNotifier({
              ...(channels.pagerduty ? { pagerdutyUrl: channels.pagerduty.eventsUrl } : {}),
              ...(topicArn
                ? {
                    sns: {
                      topicArn,
                      publish: async (arn, msg) => {
                        await client.send(
                          new snsSdk.PublishCommand({
                            TopicArn: arn,
                            Subject: msg.subject,
                            Message: msg.message,
                          }),
                        );
                      },
                    },
                  }
                : {}),
              delivery: ctx.config.escalation.delivery,
            });
          },
        )
      : undefined,
  local: (ctx, local) =>
    process.env.GUARDIAN_PORT_NOTIFIER !== 'off'
      ? import('../adapters/notifier.ts').then((m) => {
          const channels = ctx.config.escalation.channels;
          const topicArn =
            channels.sns?.topic === 'stack' ? `guardian-${ctx.config.name}-alarms` : channels.sns?.topic;
          const publish: SnsPublish =
            local.snsPublish ??
            (async () => {
              throw new Error('the local runner provides no SNS publisher');
            });
          return new m.HttpNotifier({
            ...(channels.pagerduty
              ? { pagerdutyUrl: local.pagerdutyEventsUrl ?? channels.pagerduty.eventsUrl }
              : {}),
            ...(topicArn ? { sns: { topicArn, publish } } : {}),
            delivery: ctx.config.escalation.delivery,
          });
        })
      : undefined,
};

// --- end escalation ports ---

// --- Alarms port (issue 8): preflight reads the environment's composite alarm. ---

/** Locally, alarm states are Control items of the store, so a step with this port needs the store's tables. */
function localAlarmTables(ctx: PortBuildContext) {
  if (!ctx.vars[ENV_VARS.controlTable]) {
    throw new RuntimeEnvError(
      `locally, alarm states live in the store's Control table, but ${ENV_VARS.controlTable} is not set: a step with the alarms port needs the store port too`,
    );
  }
  return storeTables(ctx);
}

const alarms: PortSpec<AlarmStates> = {
  description: 'CloudWatch DescribeAlarms: the state of an alarm (composite or metric) by name',
  flag: 'GUARDIAN_PORT_ALARMS',
  config: [],
  // DescribeAlarms returns composite alarms only to a caller allowed it on `*` (CloudWatch API
  // reference); it only reads alarm configuration and state. Acknowledged in lib/nag.ts.
  grants: () => [{ actions: ['cloudwatch:DescribeAlarms'], resources: ['*'] }],
  aws: () =>
    process.env.GUARDIAN_PORT_ALARMS !== 'off'
      ? import('../adapters/cloudwatch-alarms.ts').then((m) => m.cloudWatchAlarmStates())
      : undefined,
  local: (ctx, local) =>
    process.env.GUARDIAN_PORT_ALARMS !== 'off'
      ? Promise.all([import('../adapters/dynamo-store.ts'), import('../adapters/stored-alarms.ts')]).then(
          ([store, m]) =>
            new m.StoredAlarmStates(
              new store.DynamoStore(local.dynamo, localAlarmTables(ctx)),
              ctx.config.name,
            ),
        )
      : undefined,
};

// --- end alarms port ---

// --- Signing-secret port (issue 8): the PagerDuty webhook reads its subscription's signing secret. ---

/** The secret holding the PagerDuty v3 webhook subscription's signing secret, if configured. */
export function pagerDutyWebhookSecretRef(env: Pick<EnvironmentConfig, 'escalation'>): string | undefined {
  return env.escalation.channels.pagerduty?.webhookSecret;
}

/**
 * A port of its own rather than the escalation's `secrets`: the function behind a public URL may
 * read the signing secret and nothing else (no routing key, no Slack webhook), and the escalation
 * functions never learn the signing secret.
 */
const signingSecret: PortSpec<Secrets> = {
  description: "Secrets Manager GetSecretValue of the PagerDuty webhook subscription's signing secret only",
  flag: 'GUARDIAN_PORT_SIGNING_SECRET',
  config: ['escalation'],
  grants: (r, env) => {
    const ref = pagerDutyWebhookSecretRef(env);
    return ref ? [{ actions: ['secretsmanager:GetSecretValue'], resources: [secretResource(r, ref)] }] : [];
  },
  aws: (ctx) =>
    process.env.GUARDIAN_PORT_SIGNING_SECRET !== 'off'
      ? Promise.all([import('@aws-sdk/client-secrets-manager'), import('../adapters/secrets.ts')]).then(
          ([sm, m]) => new m.SecretsManagerSecrets(new sm.SecretsManagerClient({}), ctx.clock),
        )
      : undefined,
  local: (_ctx, local) =>
    process.env.GUARDIAN_PORT_SIGNING_SECRET !== 'off'
      ? import('../adapters/secrets.ts').then((m) => m.localSecrets(local.secrets ?? {}))
      : undefined,
};

// --- end signing-secret port ---

// --- Metrics port (issue 9): requests, 5xx and p99 of a release, from the environment's provider. ---

/**
 * The environment's `metrics` key (lib/config/metrics-schema.ts, mounted on the environment schema
 * by schema.ts). Written as a plain string so this entry does not depend on the mount's order.
 */
const METRICS_CONFIG_KEY = 'metrics' as string as ConfigKey;

/** The environment's metrics provider config, if it has one. */
export function metricsConfigOf(env: Pick<EnvironmentConfig, 'name'>): MetricsConfig | undefined {
  return (env as { readonly metrics?: MetricsConfig }).metrics;
}

function requiredMetricsConfig(ctx: PortBuildContext): MetricsConfig {
  const metrics = metricsConfigOf(ctx.config);
  if (!metrics) {
    throw new RuntimeEnvError(
      `environment '${ctx.config.name}' has no metrics block in config/environments.yaml; the metrics port reads it (provider: prometheus | cloudwatch | scrape)`,
    );
  }
  return metrics;
}

/** The secret holding the Prometheus bearer token, if configured. */
export function metricsSecretRef(env: Pick<EnvironmentConfig, 'name'>): string | undefined {
  const metrics = metricsConfigOf(env);
  return metrics?.provider === 'prometheus' ? metrics.bearerTokenSecret : undefined;
}

/** The Metrics adapter of the configured provider, given how secrets and CloudWatch are reached. */
async function buildMetrics(
  ctx: PortBuildContext,
  secret: (ref: string) => Promise<string>,
  cloudWatch: () => Promise<import('../adapters/metrics-cloudwatch.ts').CloudWatchSend>,
): Promise<MetricsSource> {
  const metrics = requiredMetricsConfig(ctx);
  switch (metrics.provider) {
    case 'prometheus': {
      const m = await import('../adapters/metrics-prometheus.ts');
      const ref = metrics.bearerTokenSecret;
      return m.prometheusMetrics(metrics, ref ? { bearerToken: () => secret(ref) } : {});
    }
    case 'cloudwatch': {
      const m = await import('../adapters/metrics-cloudwatch.ts');
      return m.cloudWatchMetrics(metrics, await cloudWatch(), ctx.config.region);
    }
    case 'scrape': {
      const m = await import('../adapters/metrics-scrape.ts');
      const previewUrl = ctx.config.argo?.previewUrl;
      return m.scrapeMetrics(metrics, {
        apiUrl: ctx.config.apiUrl,
        ...(previewUrl !== undefined && { previewUrl }),
        clock: ctx.clock,
      });
    }
  }
}

/**
 * The port is `measurements`, not `metrics`: every step already has a `metrics` dependency, the
 * Powertools CloudWatch Metrics it publishes its own figures with (lambdas/shared/step.ts).
 */
const measurements: PortSpec<MetricsSource> = {
  description:
    "the release's requests, 5xx and p99 latency: Prometheus HTTP API, CloudWatch GetMetricData or a scrape of the API's /metrics",
  flag: 'GUARDIAN_PORT_METRICS',
  // argo: a scrape of a blue-green environment reads the preview from its own URL.
  config: [METRICS_CONFIG_KEY, 'apiUrl', 'argo'],
  grants: (r, env) => {
    const config = metricsConfigOf(env);
    const grants: PortGrant[] = [];
    // GetMetricData supports no resource-level permissions (the CloudWatch service authorization
    // reference lists it with no resource type): `*` is the only resource it can be granted on. It
    // only reads metric values. Acknowledged in lib/nag.ts.
    if (config?.provider === 'cloudwatch')
      grants.push({ actions: ['cloudwatch:GetMetricData'], resources: ['*'] });
    const ref = metricsSecretRef(env);
    if (ref) grants.push({ actions: ['secretsmanager:GetSecretValue'], resources: [secretResource(r, ref)] });
    return grants;
  },
  aws: (ctx) =>
    process.env.GUARDIAN_PORT_METRICS !== 'off'
      ? buildMetrics(
          ctx,
          async (ref) => {
            const [sm, m] = await Promise.all([
              import('@aws-sdk/client-secrets-manager'),
              import('../adapters/secrets.ts'),
            ]);
            return new m.SecretsManagerSecrets(new sm.SecretsManagerClient({}), ctx.clock).get(ref);
          },
          async () => {
            const cw = await import('@aws-sdk/client-cloudwatch');
            // The environment's metrics live in its region, which need not be the function's.
            return new cw.CloudWatchClient({ region: ctx.config.region });
          },
        )
      : undefined,
  // Locally the same adapters: Prometheus and the scrape over loopback, CloudWatch on whatever
  // endpoint AWS_ENDPOINT_URL names (moto in the integration tier).
  local: (ctx, local) =>
    process.env.GUARDIAN_PORT_METRICS !== 'off'
      ? buildMetrics(
          ctx,
          async (ref) => {
            const m = await import('../adapters/secrets.ts');
            return m.localSecrets(local.secrets ?? {}).get(ref);
          },
          async () => {
            const cw = await import('@aws-sdk/client-cloudwatch');
            return new cw.CloudWatchClient({ region: ctx.config.region });
          },
        )
      : undefined,
};

// --- end metrics port ---

// --- Snapshots port (issue 10): the pre-deployment backup's RDS snapshots. ---

/**
 * RDS actions of the backup step on its environment's database only: create (with tags, which
 * needs AddTagsToResource), describe, and delete for retention, on the database itself and on
 * snapshots named `guardian-<env>-*`. Restoring is an operator's act (`guardian backup restore`,
 * with their own credentials), never the step's.
 */
export function snapshotGrants(r: StackResources, env: Pick<EnvironmentConfig, 'name'>): PortGrant[] {
  const db = backupDatabaseOf(env);
  if (!db) return [];
  const pattern = snapshotNamePattern(env.name);
  if (db.kind === 'instance') {
    const snapshot = r.arn('rds', 'snapshot', pattern, ':');
    return [
      { actions: ['rds:CreateDBSnapshot'], resources: [r.arn('rds', 'db', db.identifier, ':'), snapshot] },
      { actions: ['rds:AddTagsToResource', 'rds:DeleteDBSnapshot'], resources: [snapshot] },
      { actions: ['rds:DescribeDBSnapshots'], resources: [r.arn('rds', 'db', db.identifier, ':'), snapshot] },
    ];
  }
  const snapshot = r.arn('rds', 'cluster-snapshot', pattern, ':');
  const cluster = r.arn('rds', 'cluster', db.identifier, ':');
  return [
    { actions: ['rds:CreateDBClusterSnapshot'], resources: [cluster, snapshot] },
    { actions: ['rds:AddTagsToResource', 'rds:DeleteDBClusterSnapshot'], resources: [snapshot] },
    { actions: ['rds:DescribeDBClusterSnapshots'], resources: [cluster, snapshot] },
  ];
}

const snapshots: PortSpec<DatabaseSnapshots> = {
  description: "RDS snapshots of the environment's database (DB instance or Aurora cluster)",
  flag: 'GUARDIAN_PORT_SNAPSHOTS',
  config: ['backup', 'region'],
  grants: snapshotGrants,
  aws: (ctx) =>
    process.env.GUARDIAN_PORT_SNAPSHOTS !== 'off'
      ? Promise.all([import('@aws-sdk/client-rds'), import('../adapters/rds-snapshots.ts')]).then(
          // The database lives in the environment's region.
          ([rds, m]) => new m.RdsSnapshots(new rds.RDSClient({ region: ctx.config.region })),
        )
      : undefined,
  local: (ctx, local) =>
    process.env.GUARDIAN_PORT_SNAPSHOTS !== 'off'
      ? Promise.resolve().then(() => {
          if (!local.snapshots)
            throw new RuntimeEnvError(
              `this local runner has no database double for '${ctx.config.name}' (the backup step needs one)`,
            );
          return local.snapshots();
        })
      : undefined,
};

// --- end snapshots port ---

/** Every port by name. `workload` resolves to the environment's platform ({@link resolvePort}). */
export const PORTS = {
  store,
  workload: workloads,
  http,
  workflows,
  secrets,
  notifier,
  alarms,
  signingSecret,
  measurements,
  snapshots,
} as const;

/** A port name. */
export type PortName = keyof typeof PORTS;
/** Port names in table order. */
export const PORT_NAMES = Object.keys(PORTS) as PortName[];

/** What each port gives a step. */
export interface PortTypes {
  readonly store: Store;
  readonly workload: WorkloadPort;
  readonly http: HttpGet;
  readonly workflows: Workflows;
  readonly secrets: Secrets;
  readonly notifier: Notifier;
  readonly alarms: AlarmStates;
  readonly signingSecret: Secrets;
  readonly measurements: MetricsSource;
  readonly snapshots: DatabaseSnapshots;
}

/** The spec of `port` for `env` (the workload port of its platform). */
export function resolvePort(
  port: PortName,
  env: Pick<EnvironmentConfig, 'platform' | 'name'>,
): PortSpec<unknown> {
  if (port !== 'workload') return PORTS[port] as PortSpec<unknown>;
  const spec = (workloads as Record<string, PortSpec<WorkloadPort>>)[env.platform];
  if (!spec) {
    throw new RuntimeEnvError(
      `environment '${env.name}' runs on platform '${env.platform}', which this guardian cannot drive yet (it drives: ${Object.keys(workloads).join(', ')})`,
    );
  }
  return spec;
}

/** Every spec in the table, the workload port of each platform included (for the bundler's flags). */
export function allPortSpecs(): PortSpec<unknown>[] {
  return Object.values(PORTS).flatMap((entry) =>
    'flag' in entry ? [entry as PortSpec<unknown>] : (Object.values(entry) as PortSpec<unknown>[]),
  );
}
