/**
 * Reads a function's config slice: the JSON its bundler baked in (`process.env.GUARDIAN_ENV_CONFIG`
 * is replaced by a literal at bundle time), validated against the keys its step and ports read.
 * Pure: takes the raw text, so it is tested without a bundle.
 */
import { environmentConfigSchema } from '../../lib/config/schema.ts';

/** The name the config slice is baked under (a `define` of the bundler; the variable in tests). */
export const CONFIG_VARIABLE = 'GUARDIAN_ENV_CONFIG';

/** The function's wiring is missing or invalid; the message names what and where. */
export class RuntimeEnvError extends Error {
  override readonly name = 'RuntimeEnvError';
}

/**
 * Parses the config slice `raw` and checks it holds every key in `keys`; with `exact` (the
 * default), nothing else. Returns it typed as the picked config.
 */
export function parseConfigSlice<K extends keyof typeof environmentConfigSchema.shape>(
  raw: string | undefined,
  keys: readonly K[],
  { exact = true }: { readonly exact?: boolean } = {},
): Pick<import('../../lib/config/schema.ts').EnvironmentConfig, K> {
  if (raw === undefined || raw.trim() === '') {
    throw new RuntimeEnvError(
      `${CONFIG_VARIABLE} is not set: the bundler bakes each function's config slice into its code (lib/constructs/step-function.ts)`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new RuntimeEnvError(`${CONFIG_VARIABLE} is not JSON: ${(err as Error).message}`);
  }
  const mask = Object.fromEntries(keys.map((k) => [k, true])) as { [P in K]: true };
  const picked = environmentConfigSchema.pick(mask as never);
  const parsed = (exact ? picked.strict() : picked.strip()).safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(top level)'}: ${i.message}`)
      .join('; ');
    throw new RuntimeEnvError(`${CONFIG_VARIABLE} is invalid: ${problems}`);
  }
  return parsed.data as never;
}
