/**
 * Reads a Lambda function's wiring from its environment variables (names in `ENV_VARS`).
 * Pure: takes the variables as a plain object, so it is tested without touching `process.env`.
 */
import { type EnvironmentConfig, environmentConfigSchema } from '../../lib/config/schema.ts';
import { ENV_VARS } from '../adapters/tables.ts';

/** What every function needs to build its ports. */
export interface RuntimeEnv {
  readonly config: EnvironmentConfig;
}

/** What a function with table access (see STEP_ACCESS) needs: the config and both table names. */
export interface RuntimeEnvWithTables extends RuntimeEnv {
  readonly deploymentsTable: string;
  readonly controlTable: string;
}

/** Which variables a function must have beyond the environment config. */
export interface RuntimeEnvOptions {
  /** Require DEPLOYMENTS_TABLE and CONTROL_TABLE (only functions that use the store get them). */
  readonly tables: boolean;
}

/** A required variable is missing or invalid; the message names it (and the zod path). */
export class RuntimeEnvError extends Error {
  override readonly name = 'RuntimeEnvError';
}

type Vars = Readonly<Record<string, string | undefined>>;

function required(env: Vars, name: string, who: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') {
    throw new RuntimeEnvError(`environment variable ${name} is not set; the stack wires it to ${who}`);
  }
  return value;
}

function parseConfig(env: Vars): EnvironmentConfig {
  const raw = required(env, ENV_VARS.environmentConfig, 'every guardian function');
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new RuntimeEnvError(
      `environment variable ${ENV_VARS.environmentConfig} is not JSON: ${(err as Error).message}`,
    );
  }
  const parsed = environmentConfigSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(top level)'}: ${i.message}`)
      .join('; ');
    throw new RuntimeEnvError(`environment variable ${ENV_VARS.environmentConfig} is invalid: ${problems}`);
  }
  return parsed.data;
}

/**
 * Parses and validates the function's environment variables. The table names are required
 * unless `options.tables` is false (functions without table access do not get them).
 */
export function parseRuntimeEnv(env: Vars, options?: { readonly tables?: true }): RuntimeEnvWithTables;
export function parseRuntimeEnv(env: Vars, options: RuntimeEnvOptions): RuntimeEnv;
export function parseRuntimeEnv(
  env: Vars,
  options: { readonly tables?: boolean } = {},
): RuntimeEnv | RuntimeEnvWithTables {
  if (options.tables === false) return { config: parseConfig(env) };
  const who = 'every guardian function with table access';
  const deploymentsTable = required(env, ENV_VARS.deploymentsTable, who);
  const controlTable = required(env, ENV_VARS.controlTable, who);
  return { config: parseConfig(env), deploymentsTable, controlTable };
}
