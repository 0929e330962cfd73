/**
 * What a step's function is made of, derived from the step table (`lambdas/steps.ts`) and the port
 * table (`lambdas/ports/table.ts`): its ports for its environment's platform, its config slice,
 * and the built dependencies. The CDK construct, the Lambda entry point and the local runner all
 * call these, so the three cannot disagree.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';
import type { Clock } from '../core/ports.ts';
import {
  type ConfigKey,
  type LocalPortContext,
  type PortBuildContext,
  type PortName,
  type PortSpec,
  resolvePort,
} from '../ports/table.ts';
import { BASE_CONFIG_KEYS, STEPS, type StepId } from '../steps.ts';
import type { StepDeps } from './step.ts';

/** A step used a port its function is not wired for: a wiring bug, not a runtime condition. */
export class MissingPortError extends Error {
  override readonly name = 'MissingPortError';
}

/** The resolved spec of each port of `step` in `env`. */
export function portsOf(
  step: StepId,
  env: Pick<EnvironmentConfig, 'platform' | 'name'>,
): [PortName, PortSpec<unknown>][] {
  return STEPS[step].ports.map((p) => [p, resolvePort(p, env)]);
}

/** The config keys `step`'s function gets in `env`: base, the step's own, its ports'. */
export function configKeysOf(step: StepId, env: Pick<EnvironmentConfig, 'platform' | 'name'>): ConfigKey[] {
  const keys = new Set<ConfigKey>([...BASE_CONFIG_KEYS, ...STEPS[step].config]);
  for (const [, spec] of portsOf(step, env)) for (const k of spec.config) keys.add(k);
  return [...keys].sort();
}

/** `env` cut down to what `step`'s function reads. */
export function configSlice(step: StepId, env: EnvironmentConfig): Partial<EnvironmentConfig> {
  const slice: Record<string, unknown> = {};
  for (const key of configKeysOf(step, env)) slice[key] = env[key];
  return slice as Partial<EnvironmentConfig>;
}

/** How the ports are built: AWS adapters in Lambda, local adapters in the local runner. */
export type PortMode =
  | { readonly kind: 'aws' }
  | { readonly kind: 'local'; readonly context: LocalPortContext };

/** Builds `step`'s dependencies: exactly its ports, its config slice, clock, logger, metrics. */
export async function buildStepDeps<S extends StepId>(
  step: S,
  ctx: PortBuildContext,
  mode: PortMode,
  base: { readonly clock: Clock; readonly logger: Logger; readonly metrics: Metrics },
): Promise<StepDeps<S>> {
  const deps: Record<string, unknown> = { ...base, config: ctx.config };
  for (const [name, spec] of portsOf(step, ctx.config)) {
    const built = mode.kind === 'aws' ? spec.aws(ctx) : spec.local(ctx, mode.context);
    if (built === undefined) {
      throw new MissingPortError(
        `step ${step} uses the ${name} port, but its function was bundled without it; the bundler's flags come from lambdas/steps.ts and lambdas/ports/table.ts`,
      );
    }
    deps[name] = await built;
  }
  return deps as StepDeps<S>;
}
