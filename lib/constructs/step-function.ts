/**
 * The Lambda functions behind the workflows' Task states: one per step id, each with its own log
 * group, X-Ray tracing and only the permissions its step needs.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, type CfnFunction, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { CONFIG_VARIABLE } from '../../lambdas/core/runtime-env.ts';
import { allPortSpecs, type PortGrant, type StackResources } from '../../lambdas/ports/table.ts';
import { POWERTOOLS_SERVICE_NAME } from '../../lambdas/shared/lambda.ts';
import { configSlice, portsOf } from '../../lambdas/shared/wiring.ts';
import {
  CONFIG_METADATA_KEY,
  EVENT_STEPS,
  STEP_IDS,
  STEP_METADATA_KEY,
  STEPS,
  type StepId,
  stepEnabled,
} from '../../lambdas/steps.ts';
import type { EnvironmentConfig } from '../config/schema.ts';
import { healthCheckStepSeconds, STEP_TIMEOUT_SECONDS } from '../config/timeouts.ts';
import type { GuardianTables } from './guardian-tables.ts';

/** The repository root (holds package-lock.json and tsconfig.json). */
const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Default folder holding `<step>/handler.ts`. */
export const DEFAULT_HANDLERS_DIR = path.join(PROJECT_ROOT, 'lambdas');

/** Stand-in for `whatwg-url` in bundles (see the file's comment). */
const WHATWG_URL_SHIM = path.join(PROJECT_ROOT, 'lambdas', 'shared', 'whatwg-url.ts');
/** Stand-in for kubeconfig features the functions never use (see the file's comment). */
const KUBECONFIG_EXTRAS_SHIM = path.join(PROJECT_ROOT, 'lambdas', 'shared', 'kubeconfig-extras.ts');

/** Packages replaced in every bundle, and by what. */
const BUNDLE_ALIASES: Readonly<Record<string, string>> = {
  'whatwg-url': WHATWG_URL_SHIM,
  'js-yaml': KUBECONFIG_EXTRAS_SHIM,
  'socks-proxy-agent': KUBECONFIG_EXTRAS_SHIM,
  'jsonpath-plus': KUBECONFIG_EXTRAS_SHIM,
  'openid-client': KUBECONFIG_EXTRAS_SHIM,
};

/** What one step's function is granted: environment variables and IAM statements, from its ports. */
export function stepGrants(
  step: StepId,
  env: EnvironmentConfig,
  resources: StackResources,
): { readonly environment: Record<string, string>; readonly statements: PortGrant[] } {
  const environment: Record<string, string> = {};
  const statements: PortGrant[] = [];
  for (const [, spec] of portsOf(step, env)) {
    Object.assign(environment, spec.environment?.(resources, env) ?? {});
    statements.push(...(spec.grants?.(resources, env) ?? []));
  }
  return { environment, statements };
}

/**
 * The bundler's `define`s for one step: its config slice baked in as `process.env.GUARDIAN_ENV_CONFIG`
 * (so no function carries config in its 4 KB environment), and each port's flag "on" or "off"
 * (so esbuild drops the adapters of ports the step does not have).
 */
export function bundleDefines(step: StepId, env: EnvironmentConfig): Record<string, string> {
  const granted = new Set(portsOf(step, env).map(([, spec]) => spec.flag));
  const defines: Record<string, string> = {
    [`process.env.${CONFIG_VARIABLE}`]: JSON.stringify(JSON.stringify(configSlice(step, env))),
  };
  for (const spec of allPortSpecs()) {
    defines[`process.env.${spec.flag}`] = JSON.stringify(granted.has(spec.flag) ? 'on' : 'off');
  }
  return defines;
}

/** How long a dead-letter queue keeps an event: the SQS maximum, time for an operator to look. */
const DEAD_LETTER_RETENTION = Duration.days(14);

/**
 * Timeout of a step's function (`lib/config/timeouts.ts`). Kubernetes and DynamoDB calls are short
 * and retried by the state machine; one health-check invocation is one attempt at every endpoint.
 */
export function stepTimeout(step: StepId, env: EnvironmentConfig): Duration {
  return Duration.seconds(
    step === 'health-check' || step === 'monitor-round' ? healthCheckStepSeconds(env) : STEP_TIMEOUT_SECONDS,
  );
}

/** Properties of {@link GuardianLambdaStep}. */
export interface GuardianLambdaStepProps {
  /** Step id: the entry is `<handlersDir>/<step>/handler.ts`. */
  readonly step: StepId;
  /** The stack's environment; the function gets the slice its step and ports read. */
  readonly environment: EnvironmentConfig;
  /** The tables; granted only to steps with the store port. */
  readonly tables: GuardianTables;
  /**
   * The stack's alarm topic and its key, for the escalation's SNS channel (`topic: stack`).
   * @default none: an environment whose escalation publishes to `stack` cannot be built without it
   */
  readonly alarmTopic?: { readonly arn: string; readonly keyArn: string };
  /**
   * Folder holding `<step>/handler.ts`.
   * @default the repository's `lambdas/`
   */
  readonly handlersDir?: string;
  /**
   * Retention of the function's log group.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * Removal policy of the function's log group.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** One step's Lambda function, least-privilege for that step. */
export class GuardianLambdaStep extends Construct {
  /** The function; its CfnFunction carries `guardian:step` metadata = the step id. */
  readonly function: NodejsFunction;
  /** The step id. */
  readonly step: StepId;
  /** The function's execution role (map it to Kubernetes RBAC for steps with cluster access). */
  readonly role: Role;
  /** Dead-letter queue of a step EventBridge invokes ({@link EVENT_STEPS}); none for Task steps. */
  readonly deadLetterQueue?: Queue;

  constructor(scope: Construct, id: string, props: GuardianLambdaStepProps) {
    super(scope, id);
    const { step, environment: env, tables } = props;
    if (!(STEP_IDS as readonly string[]).includes(step)) {
      throw new Error(`GuardianLambdaStep: unknown step '${step}'; known steps: ${STEP_IDS.join(', ')}`);
    }
    this.step = step;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    const handlersDir = props.handlersDir ?? DEFAULT_HANDLERS_DIR;
    const projectRoot = commonAncestor(PROJECT_ROOT, handlersDir);
    const logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy,
    });

    // Our own role instead of AWSLambdaBasicExecutionRole: it may write to this log group only.
    const role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Deployment Guardian (${env.name}) ${step} step`,
    });
    logGroup.grantWrite(role);
    this.role = role;
    const stack = Stack.of(this);
    const grants = stepGrants(step, env, {
      tables: {
        deployments: { name: tables.deployments.tableName, arn: tables.deployments.tableArn },
        control: { name: tables.control.tableName, arn: tables.control.tableArn },
      },
      arn: (service, resource, resourceName, sep) =>
        stack.formatArn({
          service,
          resource,
          resourceName,
          arnFormat: sep === ':' ? ArnFormat.COLON_RESOURCE_NAME : ArnFormat.SLASH_RESOURCE_NAME,
        }),
      stateMachineArn: (name) =>
        stack.formatArn({
          service: 'states',
          resource: 'stateMachine',
          resourceName: name,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      ...(props.alarmTopic ? { alarmTopic: props.alarmTopic } : {}),
    });
    if (EVENT_STEPS.includes(step)) {
      this.deadLetterQueue = new Queue(this, 'DeadLetters', {
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: DEAD_LETTER_RETENTION,
        removalPolicy,
      });
    }

    this.function = new NodejsFunction(this, 'Function', {
      role,
      description: `Deployment Guardian (${env.name}): ${step}`,
      entry: path.join(handlersDir, step, 'handler.ts'),
      handler: 'handler',
      // esbuild runs from the project root, which must contain the entry (tests may point elsewhere).
      projectRoot,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: 256,
      timeout: stepTimeout(step, env),
      tracing: Tracing.ACTIVE,
      logGroup,
      ...(this.deadLetterQueue ? { deadLetterQueue: this.deadLetterQueue } : {}),
      environment: { ...grants.environment, POWERTOOLS_SERVICE_NAME },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        minify: true,
        sourceMap: false,
        mainFields: ['module', 'main'],
        // The AWS SDK v3 comes with the Node.js 22 runtime (CDK's default for NodejsFunction): it is
        // kept patched by AWS and keeps each bundle ~0.4 MB smaller and quicker to load. Everything
        // else, the Kubernetes client included, is bundled at the version the tests ran.
        externalModules: ['@aws-sdk/*'],
        define: bundleDefines(step, env),
        tsconfig: path.join(PROJECT_ROOT, 'tsconfig.json'),
        // esbuild resolves an alias path from its working directory, the project root (local bundling).
        esbuildArgs: Object.fromEntries(
          Object.entries(BUNDLE_ALIASES).map(([pkg, shim]) => [
            `--alias:${pkg}`,
            `./${path.relative(projectRoot, shim).split(path.sep).join('/')}`,
          ]),
        ),
        // CommonJS dependencies call require(); ESM output has none unless we provide it.
        banner:
          "import { createRequire as __guardianCreateRequire } from 'node:module';const require = __guardianCreateRequire(import.meta.url);",
      },
    });
    const cfn = this.function.node.defaultChild as CfnFunction;
    cfn.addMetadata(STEP_METADATA_KEY, step);
    // What the bundle has baked in, for the local runner (which runs the steps unbundled) and reviewers.
    cfn.addMetadata(CONFIG_METADATA_KEY, configSlice(step, env));
    for (const statement of grants.statements) {
      this.function.addToRolePolicy(
        new PolicyStatement({
          actions: [...statement.actions],
          resources: [...statement.resources],
          ...(statement.conditions ? { conditions: statement.conditions } : {}),
        }),
      );
    }
  }
}

/** Properties of {@link GuardianLambdaSteps}. */
export interface GuardianLambdaStepsProps extends Omit<GuardianLambdaStepProps, 'step'> {}

/**
 * All step functions of one environment (a step {@link stepEnabled} leaves out for it has none).
 *
 * The functions with the workload port (lambdas/steps.ts) only get `eks:DescribeCluster`
 * on the environment's cluster from IAM. Inside the cluster they are nobody until an operator maps
 * their roles to RBAC with an EKS access entry, e.g.
 * `aws eks create-access-entry --cluster-name <cluster> --principal-arn <role arn>` and
 * `aws eks associate-access-policy ... --access-scope type=namespace,namespaces=<namespace>`
 * (or a Role/RoleBinding allowing get/list/patch on deployments, list on replicasets and pods — the
 * health check's startup-time read — in the namespace).
 * The role ARNs are stack outputs named `<Step>RoleArn`.
 */
export class GuardianLambdaSteps extends Construct {
  /** Steps by id; without the steps this environment leaves out ({@link stepEnabled}). */
  readonly steps: Readonly<Partial<Record<StepId, GuardianLambdaStep>>>;

  constructor(scope: Construct, id: string, props: GuardianLambdaStepsProps) {
    super(scope, id);
    const steps: Partial<Record<StepId, GuardianLambdaStep>> = {};
    for (const step of STEP_IDS.filter((s) => stepEnabled(s, props.environment))) {
      const construct = new GuardianLambdaStep(this, pascalCase(step), { ...props, step });
      steps[step] = construct;
      if (STEPS[step].ports.some((p) => p === 'workload')) {
        new CfnOutput(Stack.of(this), `${pascalCase(step)}RoleArn`, {
          value: construct.role.roleArn,
          description: `IAM role of the ${step} step: map it to Kubernetes RBAC in cluster ${props.environment.cluster} with an EKS access entry`,
        });
      }
    }
    this.steps = steps;
  }

  /** One step; throws for a step this environment leaves out. */
  step(step: StepId): GuardianLambdaStep {
    const found = this.steps[step];
    if (!found) {
      throw new Error(
        `GuardianLambdaSteps: environment has no ${step} step (see stepEnabled in lambdas/steps.ts)`,
      );
    }
    return found;
  }

  /** The function of one step; throws for a step this environment leaves out. */
  functionOf(step: StepId): NodejsFunction {
    return this.step(step).function;
  }
}

function commonAncestor(a: string, b: string): string {
  const pa = path.resolve(a).split(path.sep);
  const pb = path.resolve(b).split(path.sep);
  let i = 0;
  while (i < pa.length && pa[i] === pb[i]) i++;
  return pa.slice(0, i).join(path.sep) || path.sep;
}

/** `rollout-status` -> `RolloutStatus`. */
export function pascalCase(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]?.toUpperCase() + w.slice(1))
    .join('');
}
