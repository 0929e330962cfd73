/**
 * A workflow step: event + ports -> plain result, with the event validated at the edge. The local
 * runner calls `run` with local ports; each `lambdas/<step>/handler.ts` turns the step into its
 * Lambda entry point with `lambdaHandler` (`./lambda.ts`). A step's dependencies are typed from its
 * entry in `lambdas/steps.ts`: only its ports and its config slice.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { z } from 'zod';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';
import { InvalidInputError } from '../core/errors.ts';
import type { Clock } from '../core/ports.ts';
import type { PortTypes } from '../ports/table.ts';
import type { ConfigOf, PortsOf, StepId } from '../steps.ts';

/** Everything step `S` may touch. Built once per Lambda container, or by the local runner. */
export type StepDeps<S extends StepId> = {
  /** This stack's environment: only the keys the step reads (one stack per environment). */
  readonly config: Pick<EnvironmentConfig, ConfigOf<S>>;
  readonly clock: Clock;
  readonly logger: Logger;
  /** CloudWatch metrics (EMF): flushed after each invocation. */
  readonly metrics: Metrics;
} & { readonly [P in PortsOf<S>]: PortTypes[P] };

/** A workflow step: its validated entry point, for Lambda (via `lambdaHandler`) and the local runner. */
export interface Step<S extends StepId, E, R> {
  readonly name: S;
  /** Validates `event` and runs the step with the given ports. */
  run(event: unknown, deps: StepDeps<S>): Promise<R>;
  /** Only for typing: the validated event. */
  readonly _event?: E;
}

/** A step of any id (the local runner and tests hold them in tables). */
// biome-ignore lint/suspicious/noExplicitAny: a table of steps of different ids
export type AnyStep = Step<StepId, unknown, unknown> & { run(event: unknown, deps: any): Promise<unknown> };

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
export function defineStep<S extends StepId, Schema extends z.ZodType, R>(
  name: S,
  schema: Schema,
  fn: (event: z.infer<Schema>, deps: StepDeps<S>) => Promise<R>,
): Step<S, z.infer<Schema>, R> {
  return {
    name,
    run: async (event: unknown, deps: StepDeps<S>): Promise<R> =>
      fn(parseEvent(schema, event, `${name} event`), deps),
  };
}
