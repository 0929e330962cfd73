/**
 * A workflow step: event + ports -> plain result, with the event validated at the edge. The local
 * runner calls `run` with local ports; each `lambdas/<step>/handler.ts` turns the step into its
 * Lambda entry point with `lambdaHandler` (`./lambda.ts`), wiring only the AWS ports it uses.
 * Nothing here imports an adapter, so a bundle holds only what its handler imports.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
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

/** A workflow step: its validated entry point, for Lambda (via `lambdaHandler`) and the local runner. */
export interface Step<E, R> {
  readonly name: string;
  /** Validates `event` and runs the step with the given ports. */
  run(event: unknown, deps: StepDeps): Promise<R>;
  /** Only for typing: the validated event. */
  readonly _event?: E;
}

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

/** Defines a step. `fn` holds the orchestration; decisions live in `lambdas/core`. */
export function defineStep<S extends z.ZodType, R>(
  name: string,
  schema: S,
  fn: (event: z.infer<S>, deps: StepDeps) => Promise<R>,
): Step<z.infer<S>, R> {
  return {
    name,
    run: async (event: unknown, deps: StepDeps): Promise<R> =>
      fn(parseEvent(schema, event, `${name} event`), deps),
  };
}
