import { describe, expect, it } from 'vitest';
import { parseRuntimeEnv, RuntimeEnvError } from '../../lambdas/core/runtime-env.ts';
import { loadConfig } from '../../lib/config/load.ts';

const staging = loadConfig().environments.staging;
const valid = {
  DEPLOYMENTS_TABLE: 'deployments',
  CONTROL_TABLE: 'control',
  GUARDIAN_ENV_CONFIG: JSON.stringify(staging),
};

describe('parseRuntimeEnv', () => {
  it('reads the table names and the environment config', () => {
    const env = parseRuntimeEnv(valid);
    expect(env).toEqual({ config: staging, deploymentsTable: 'deployments', controlTable: 'control' });
  });

  it('needs only the environment config for a function without table access', () => {
    const env = parseRuntimeEnv({ GUARDIAN_ENV_CONFIG: valid.GUARDIAN_ENV_CONFIG }, { tables: false });
    expect(env).toEqual({ config: staging });
  });

  it('ignores table variables a function without table access happens to have', () => {
    expect(parseRuntimeEnv(valid, { tables: false })).toEqual({ config: staging });
  });

  it.each(['DEPLOYMENTS_TABLE', 'CONTROL_TABLE'])(
    'names %s as required for a function with table access',
    (name) => {
      expect(() => parseRuntimeEnv({ ...valid, [name]: undefined }, { tables: true })).toThrow(
        `environment variable ${name} is not set; the stack wires it to every guardian function with table access`,
      );
    },
  );

  it('names GUARDIAN_ENV_CONFIG when a function without table access lacks it', () => {
    expect(() => parseRuntimeEnv({}, { tables: false })).toThrow(
      'environment variable GUARDIAN_ENV_CONFIG is not set',
    );
  });

  it.each(['DEPLOYMENTS_TABLE', 'CONTROL_TABLE', 'GUARDIAN_ENV_CONFIG'])(
    'names %s when it is missing or blank',
    (name) => {
      expect(() => parseRuntimeEnv({ ...valid, [name]: undefined })).toThrow(RuntimeEnvError);
      expect(() => parseRuntimeEnv({ ...valid, [name]: '  ' })).toThrow(
        `environment variable ${name} is not set`,
      );
    },
  );

  it('names the variable when the config is not JSON', () => {
    expect(() => parseRuntimeEnv({ ...valid, GUARDIAN_ENV_CONFIG: '{oops' })).toThrow(
      /GUARDIAN_ENV_CONFIG is not JSON/,
    );
  });

  it('names the variable and the zod path of each invalid field', () => {
    const bad = { ...staging, rollout: { ...staging?.rollout, deadlineSeconds: 5 }, thresholds: undefined };
    expect(() => parseRuntimeEnv({ ...valid, GUARDIAN_ENV_CONFIG: JSON.stringify(bad) })).toThrow(
      /GUARDIAN_ENV_CONFIG is invalid: rollout\.deadlineSeconds: .*; thresholds: /,
    );
  });
});
