/**
 * Turns a step function (event + ports -> plain result) into a Lambda handler, and exposes the
 * same function to the local runner with local ports. The event is validated at the edge.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';
import type { Clock, ClusterPort, HttpGet, Store } from '../adapters/ports.ts';
import { InvalidInputError } from '../core/errors.ts';

/** Everything a step may touch. Built once per Lambda container, or by the local runner. */
export interface StepDeps {
  /** This stack's environment (one stack per environment). */
  readonly config: EnvironmentConfig;
  readonly store: Store;
  /** Connects lazily (EKS DescribeCluster + token, or a kubeconfig) and caches the client. */
  readonly cluster: () => Promise<ClusterPort>;
  readonly httpGet: HttpGet;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** A workflow step: its validated entry point for Lambda and for the local runner. */
export interface Step<E, R> {
  readonly name: string;
  /** Validates `event` and runs the step with the given ports. */
  run(event: unknown, deps: StepDeps): Promise<R>;
  /** The Lambda entry point (AWS ports built from the function's environment on first use). */
  handler(event: unknown, context?: Context): Promise<R>;
  /** Only for typing: the validated event. */
  readonly _event?: E;
}

/** Shared Powertools logger for the Lambda runtime. */
export const logger = new Logger({ serviceName: 'deployment-guardian' });

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(event)'}: ${i.message}`)
    .join('; ');
}

/** Parses `event` with `schema`, throwing InvalidInputError that names each bad field. */
export function parseEvent<S extends z.ZodType>(schema: S, event: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(event);
  if (!result.success) throw new InvalidInputError(`invalid ${what}: ${describeIssues(result.error)}`);
  return result.data;
}

let awsDeps: Promise<StepDeps> | undefined;

/** Defines a step. `fn` holds the orchestration; decisions live in `lambdas/core`. */
export function defineStep<S extends z.ZodType, R>(
  name: string,
  schema: S,
  fn: (event: z.infer<S>, deps: StepDeps) => Promise<R>,
): Step<z.infer<S>, R> {
  const run = async (event: unknown, deps: StepDeps): Promise<R> =>
    fn(parseEvent(schema, event, `${name} event`), deps);
  return {
    name,
    run,
    async handler(event: unknown, context?: Context): Promise<R> {
      if (context) logger.addContext(context);
      // Imported lazily so the local runner never loads the AWS wiring.
      awsDeps ??= import('../adapters/aws.ts').then((m) => m.createAwsDeps(logger));
      const deps = await awsDeps;
      logger.appendKeys({ step: name, environment: deps.config.name });
      try {
        return await run(event, deps);
      } catch (err) {
        logger.error(`${name} failed`, err as Error);
        throw err;
      }
    },
  };
}
