/**
 * The Lambda entry point of a step, wired from the step table: its ports are built by their AWS
 * factories in the port table (the bundler left out every other port's adapter), its config slice
 * is the JSON the bundler baked in. Powertools: one Logger, Metrics and Tracer for every function;
 * log keys are reset per invocation and metrics flushed after each.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context } from 'aws-lambda';
import { systemClock } from '../core/ports.ts';
import { CONFIG_VARIABLE, parseConfigSlice } from '../core/runtime-env.ts';
import { BASE_CONFIG_KEYS, type StepId } from '../steps.ts';
import type { Step, StepDeps } from './step.ts';
import { buildStepDeps, configKeysOf } from './wiring.ts';

/** Service name Powertools stamps on every log line, metric and trace segment. */
export const POWERTOOLS_SERVICE_NAME = 'deployment-guardian';
/** CloudWatch namespace of the guardian's metrics. */
export const METRICS_NAMESPACE = 'DeploymentGuardian';

/** Shared Powertools logger for the Lambda runtime. */
export const logger = new Logger({ serviceName: POWERTOOLS_SERVICE_NAME });
/** Shared Powertools metrics (EMF) for the Lambda runtime. */
export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: POWERTOOLS_SERVICE_NAME });
/** Shared Powertools tracer: annotates the function's X-Ray segment. */
export const tracer = new Tracer({ serviceName: POWERTOOLS_SERVICE_NAME });

/**
 * The config slice the bundler baked in. Read as the literal `process.env.GUARDIAN_ENV_CONFIG`
 * so esbuild's `define` replaces it; unbundled (tests) it is the variable of that name.
 */
const BAKED_CONFIG = process.env.GUARDIAN_ENV_CONFIG;

/** A step's Lambda entry point. */
export interface LambdaHandler<R> {
  (event: unknown, context?: Context): Promise<R>;
  /** The step it runs. */
  readonly step: StepId;
}

/** Options of {@link lambdaHandler} (tests). */
export interface LambdaHandlerOptions {
  /** The config slice as JSON. @default the one baked into the bundle */
  readonly config?: string;
  /** The function's environment variables. @default process.env */
  readonly vars?: Readonly<Record<string, string | undefined>>;
}

/**
 * Turns `step` into its Lambda handler. The ports are built on the first invocation and reused by
 * every later one in the container; a wiring error (RuntimeEnvError naming what is missing) is
 * thrown by each invocation until fixed.
 */
export function lambdaHandler<S extends StepId, E, R>(
  step: Step<S, E, R>,
  options: LambdaHandlerOptions = {},
): LambdaHandler<R> {
  let deps: Promise<StepDeps<S>> | undefined;
  const build = async (): Promise<StepDeps<S>> => {
    const raw = options.config ?? BAKED_CONFIG ?? process.env[CONFIG_VARIABLE];
    const base = parseConfigSlice(raw, BASE_CONFIG_KEYS, { exact: false });
    const config = parseConfigSlice(raw, configKeysOf(step.name, base)) as never;
    return buildStepDeps(
      step.name,
      { config, vars: options.vars ?? process.env, clock: systemClock },
      { kind: 'aws' },
      { clock: systemClock, logger, metrics },
    );
  };
  const handler = async (event: unknown, context?: Context): Promise<R> => {
    logger.resetKeys();
    if (context) logger.addContext(context);
    logger.appendKeys({ step: step.name });
    tracer.putAnnotation('step', step.name);
    const started = Date.now();
    try {
      deps ??= build().catch((err: unknown) => {
        deps = undefined; // a wiring error is reported by every invocation until fixed
        throw err;
      });
      const d = await deps;
      logger.appendKeys({ environment: d.config.name });
      metrics.addDimension('environment', d.config.name);
      tracer.putAnnotation('environment', d.config.name);
      return await step.run(event, d);
    } catch (err) {
      metrics.addMetric('StepFailed', MetricUnit.Count, 1);
      // Stable names: guardian errors, wiring errors (RuntimeEnvError, MissingPortError), or a bug.
      metrics.addMetadata('errorType', err instanceof Error ? err.name : 'UnexpectedError');
      logger.error(`${step.name} failed`, err as Error);
      throw err;
    } finally {
      metrics.addMetric('StepDuration', MetricUnit.Milliseconds, Date.now() - started);
      metrics.publishStoredMetrics();
    }
  };
  return Object.assign(handler, { step: step.name });
}
