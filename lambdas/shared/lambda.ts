/**
 * The Lambda entry point of a step. Each `lambdas/<step>/handler.ts` passes the factories of the
 * AWS ports its step uses (and only those), so esbuild bundles nothing else: `health-check` ships
 * without the DynamoDB and Kubernetes clients. A port the step is not wired for throws, naming the
 * step, instead of failing later on a missing permission.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { httpGet } from '../adapters/http.ts';
import { type ClusterPort, type Store, systemClock } from '../adapters/ports.ts';
import { parseRuntimeEnv, type RuntimeEnv, type RuntimeEnvWithTables } from '../core/runtime-env.ts';
import type { Step, StepDeps } from './step.ts';

/** Shared Powertools logger for the Lambda runtime. */
export const logger = new Logger({ serviceName: 'deployment-guardian' });

/** Builds the step's Store from the function's environment (only functions with table access). */
export type StoreFactory = (env: RuntimeEnvWithTables) => Store;
/** Builds the step's `StepDeps.cluster` from the function's environment. */
export type ClusterFactory = (env: RuntimeEnv) => () => Promise<ClusterPort>;

/** The AWS ports a step's function is wired with; must match its STEP_ACCESS (tables -> store). */
export interface AwsPorts {
  readonly store?: StoreFactory;
  readonly cluster?: ClusterFactory;
}

/** Which ports a handler was wired with (read by the infra tests against STEP_ACCESS). */
export interface WiredPorts {
  readonly store: boolean;
  readonly cluster: boolean;
}

/** A step's Lambda entry point. */
export interface LambdaHandler<R> {
  (event: unknown, context?: Context): Promise<R>;
  /** The ports this function was wired with. */
  readonly ports: WiredPorts;
}

/** A step used a port its function is not wired for: a wiring bug, not a runtime condition. */
export class MissingPortError extends Error {
  override readonly name = 'MissingPortError';
}

/** A Store whose every method throws MissingPortError naming the step and the method. */
export function missingStore(step: string): Store {
  return new Proxy({} as Store, {
    get(_target, prop) {
      if (typeof prop !== 'string' || prop === 'then') return undefined;
      return () => {
        throw new MissingPortError(
          `step ${step} has no store access (called ${prop}): its function gets no DynamoDB tables; ` +
            'grant them in STEP_ACCESS (lib/constructs/step-function.ts) and wire a store in its handler.ts',
        );
      };
    },
  });
}

/** A cluster provider that rejects with MissingPortError naming the step. */
export function missingCluster(step: string): () => Promise<ClusterPort> {
  return async () => {
    throw new MissingPortError(
      `step ${step} has no cluster access: its function may not call EKS or Kubernetes; ` +
        'grant it in STEP_ACCESS (lib/constructs/step-function.ts) and wire a cluster in its handler.ts',
    );
  };
}

/**
 * Turns `step` into its Lambda handler. The ports are built from `vars` (the function's
 * environment) on the first invocation and reused by every later one in the container; a
 * wiring error (RuntimeEnvError naming the variable) is thrown by each invocation until fixed.
 */
export function lambdaHandler<E, R>(
  step: Step<E, R>,
  ports: AwsPorts = {},
  vars: Readonly<Record<string, string | undefined>> = process.env,
): LambdaHandler<R> {
  let deps: StepDeps | undefined;
  const build = (): StepDeps => {
    const { store, cluster } = ports;
    const env = store ? parseRuntimeEnv(vars) : parseRuntimeEnv(vars, { tables: false });
    return {
      config: env.config,
      store: store ? store(env as RuntimeEnvWithTables) : missingStore(step.name),
      cluster: cluster ? cluster(env) : missingCluster(step.name),
      httpGet,
      clock: systemClock,
      logger,
    };
  };
  const handler = async (event: unknown, context?: Context): Promise<R> => {
    if (context) logger.addContext(context);
    logger.appendKeys({ step: step.name });
    try {
      deps ??= build();
      logger.appendKeys({ environment: deps.config.name });
      return await step.run(event, deps);
    } catch (err) {
      logger.error(`${step.name} failed`, err as Error);
      throw err;
    }
  };
  return Object.assign(handler, { ports: { store: !!ports.store, cluster: !!ports.cluster } });
}
