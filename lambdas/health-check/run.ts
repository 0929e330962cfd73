/**
 * One run of the enhanced health check: every endpoint in parallel (each request bounded by
 * `healthCheck.timeoutMs`), the release's pod startup times when a workload is at hand (bounded the
 * same), then the pure evaluation (lambdas/core/health.ts). Shared by the health-check step, the
 * monitoring rounds and `guardian health`, so all three judge a release the same way.
 */

import type { EnvironmentConfig } from '../../lib/config/schema.ts';
import {
  evaluateHealth,
  type HealthEvaluation,
  type HealthResponse,
  type PodStartup,
  type StartupObservation,
} from '../core/health.ts';
import type { HttpGet } from '../core/ports.ts';

/** Where the pods' startup times come from, or why they are not read. */
export type StartupSource =
  | { readonly read: () => Promise<PodStartup[]> }
  | { readonly skip: string }
  /** No startup check at all (monitoring rounds: startup was validated once, after the rollout). */
  | undefined;

/** What one run needs. */
export interface HealthRunInput {
  /** The API's base URL (trailing slashes are ignored). */
  readonly apiUrl: string;
  readonly healthCheck: EnvironmentConfig['healthCheck'];
  readonly http: HttpGet;
  readonly startup?: StartupSource;
  /** Now, for pods not Ready yet. */
  readonly now: () => Date;
}

/** Rejects after `ms` unless `promise` settles first (the timer never outlives it). */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function observeStartup(
  source: NonNullable<StartupSource>,
  input: HealthRunInput,
): Promise<StartupObservation> {
  if ('skip' in source) return { kind: 'skipped', reason: source.skip };
  try {
    const pods = await within(
      source.read(),
      input.healthCheck.timeoutMs,
      'reading the pods from the cluster',
    );
    return { kind: 'pods', pods, now: input.now().toISOString() };
  } catch (err) {
    return { kind: 'unreadable', reason: err instanceof Error ? err.message : String(err) };
  }
}

/** What one run found: the verdict, and each endpoint's response (endpoint order; undefined: not called). */
export interface HealthRun {
  readonly health: HealthEvaluation;
  readonly responses: readonly (HealthResponse | undefined)[];
}

/** Calls every endpoint and reads the startup times (all at once), then evaluates everything. */
export async function runHealthCheck(input: HealthRunInput): Promise<HealthRun> {
  const { apiUrl, healthCheck } = input;
  const base = apiUrl.replace(/\/+$/, '');
  const [responses, observation] = await Promise.all([
    Promise.all(
      healthCheck.endpoints.map((e) =>
        input.http(`${base}${e.path}`, healthCheck.timeoutMs).catch(() => undefined),
      ),
    ),
    input.startup ? observeStartup(input.startup, input) : Promise.resolve(undefined),
  ]);
  const health = evaluateHealth(healthCheck.endpoints, responses, {
    ...(healthCheck.dependencies ? { dependencies: healthCheck.dependencies } : {}),
    ...(observation ? { startup: { maxSeconds: healthCheck.maxStartupSeconds, observation } } : {}),
  });
  return { health, responses };
}
