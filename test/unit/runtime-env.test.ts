import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLE, parseConfigSlice, RuntimeEnvError } from '../../lambdas/core/runtime-env.ts';
import { loadConfig } from '../../lib/config/load.ts';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';

function environment(name: string): EnvironmentConfig {
  const env = loadConfig().environments[name];
  if (!env) throw new Error(`config/environments.yaml has no environment '${name}'`);
  return env;
}

const staging = environment('staging');
/** The health-check function's slice: base keys plus what the step reads. */
const KEYS = ['name', 'platform', 'apiUrl', 'healthCheck'] as const;
const slice = {
  name: staging.name,
  platform: staging.platform,
  apiUrl: staging.apiUrl,
  healthCheck: staging.healthCheck,
};

describe('parseConfigSlice', () => {
  it('reads a valid slice, typed as the picked config', () => {
    const config = parseConfigSlice(JSON.stringify(slice), KEYS);
    expect(config).toEqual(slice);
    expect(config.healthCheck.endpoints.map((e) => e.path)).toEqual(['/health', '/ready', '/metrics']);
  });

  it("fills in the schema's defaults for a key of the slice", () => {
    const config = parseConfigSlice(
      JSON.stringify({ ...slice, healthCheck: { endpoints: [{ path: '/health' }] } }),
      KEYS,
    );
    expect(config.healthCheck).toEqual({
      timeoutMs: 5000,
      attempts: 3,
      intervalSeconds: 10,
      endpoints: [{ path: '/health', expectStatus: 200 }],
      maxStartupSeconds: 120,
    });
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['blank', ' \n '],
  ])('names %s as the variable the bundler bakes in, and where', (_what, raw) => {
    expect(() => parseConfigSlice(raw, KEYS)).toThrow(RuntimeEnvError);
    expect(() => parseConfigSlice(raw, KEYS)).toThrow(
      `${CONFIG_VARIABLE} is not set: the bundler bakes each function's config slice into its code (lib/constructs/step-function.ts)`,
    );
  });

  it('names the variable when the slice is not JSON', () => {
    expect(() => parseConfigSlice('{oops', KEYS)).toThrow(RuntimeEnvError);
    expect(() => parseConfigSlice('{oops', KEYS)).toThrow(/^GUARDIAN_ENV_CONFIG is not JSON: /);
  });

  it('names a key the slice lacks', () => {
    const { apiUrl: _, ...withoutUrl } = slice;
    expect(() => parseConfigSlice(JSON.stringify(withoutUrl), KEYS)).toThrow(RuntimeEnvError);
    expect(() => parseConfigSlice(JSON.stringify(withoutUrl), KEYS)).toThrow(
      /^GUARDIAN_ENV_CONFIG is invalid: apiUrl: /,
    );
  });

  it('names the path of each invalid field', () => {
    const bad = { ...slice, apiUrl: 'ftp://x', healthCheck: { ...slice.healthCheck, timeoutMs: 5 } };
    expect(() => parseConfigSlice(JSON.stringify(bad), KEYS)).toThrow(
      /GUARDIAN_ENV_CONFIG is invalid: apiUrl: .*; healthCheck\.timeoutMs: /,
    );
  });

  it('refuses a slice that is not an object', () => {
    for (const raw of ['null', '[]', '"staging"', '42']) {
      expect(() => parseConfigSlice(raw, KEYS), raw).toThrow(
        /^GUARDIAN_ENV_CONFIG is invalid: \(top level\): /,
      );
    }
  });

  it('refuses a key outside the slice when exact (a function reads only what it was given)', () => {
    const wider = { ...slice, cluster: staging.cluster };
    expect(() => parseConfigSlice(JSON.stringify(wider), KEYS)).toThrow(RuntimeEnvError);
    expect(() => parseConfigSlice(JSON.stringify(wider), KEYS, { exact: true })).toThrow(
      /GUARDIAN_ENV_CONFIG is invalid: .*cluster/,
    );
  });

  it('allows and drops extra keys when not exact (reading the base keys of any slice)', () => {
    const base = parseConfigSlice(JSON.stringify(staging), ['name', 'platform'], { exact: false });
    expect(base).toEqual({ name: 'staging', platform: 'kubernetes' });
  });

  it('still checks the keys it was asked for when not exact', () => {
    expect(() =>
      parseConfigSlice(JSON.stringify({ name: 'staging' }), ['name', 'platform'], { exact: false }),
    ).toThrow(/GUARDIAN_ENV_CONFIG is invalid: platform: /);
  });

  it('refuses a platform this guardian does not know', () => {
    expect(() =>
      parseConfigSlice(JSON.stringify({ name: 'staging', platform: 'nomad' }), ['name', 'platform']),
    ).toThrow(/GUARDIAN_ENV_CONFIG is invalid: platform: .*"kubernetes"\|"argo-rollouts"\|"ecs"/);
  });
});
