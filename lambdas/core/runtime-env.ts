/**
 * Reads a Lambda function's wiring from its environment variables (names in `ENV_VARS`).
 * Pure: takes the variables as a plain object, so it is tested without touching `process.env`.
 */
import { type EnvironmentConfig, environmentConfigSchema } from '../../lib/config/schema.ts';
import { ENV_VARS } from '../adapters/tables.ts';

/** What a function needs to build its ports. */
export interface RuntimeEnv {
  readonly config: EnvironmentConfig;
  readonly deploymentsTable: string;
  readonly controlTable: string;
}

/** A required variable is missing or invalid; the message names it (and the zod path). */
export class RuntimeEnvError extends Error {
  override readonly name = 'RuntimeEnvError';
}

function required(env: Readonly<Record<string, string | undefined>>, name: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') {
    throw new RuntimeEnvError(
      `environment variable ${name} is not set; the stack wires it to every guardian function`,
    );
  }
  return value;
}

/** Parses and validates the function's environment variables. */
export function parseRuntimeEnv(env: Readonly<Record<string, string | undefined>>): RuntimeEnv {
  const deploymentsTable = required(env, ENV_VARS.deploymentsTable);
  const controlTable = required(env, ENV_VARS.controlTable);
  const raw = required(env, ENV_VARS.environmentConfig);
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
  return { config: parsed.data, deploymentsTable, controlTable };
}
