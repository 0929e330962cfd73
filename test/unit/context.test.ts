import { describe, expect, it } from 'vitest';
import type { WorkloadState } from '../../lambdas/adapters/ports.ts';
import { checkEnvironment, containerImage, deadlineAt, failureText } from '../../lambdas/core/context.ts';
import { InvalidInputError, NotFoundError } from '../../lambdas/core/errors.ts';

describe('step context helpers', () => {
  it('refuses an environment this stack does not guard', () => {
    expect(() => checkEnvironment('staging', 'staging')).not.toThrow();
    expect(() => checkEnvironment('staging', 'production')).toThrow(InvalidInputError);
    expect(() => checkEnvironment('staging', 'production')).toThrow(
      /not guarded by this stack \(it guards 'staging'\)/,
    );
  });

  it('reads the container image or lists the containers', () => {
    const w = {
      namespace: 'ns',
      name: 'api',
      images: { api: 'repo/api:v1', sidecar: 'envoy' },
    } as unknown as WorkloadState;
    expect(containerImage(w, 'api')).toBe('repo/api:v1');
    expect(() => containerImage(w, 'web')).toThrow(NotFoundError);
    expect(() => containerImage(w, 'web')).toThrow(
      "deployment ns/api has no container 'web' (containers: api, sidecar)",
    );
  });

  it('adds the deadline to now', () => {
    expect(deadlineAt(new Date('2026-05-01T00:00:00Z'), 300)).toBe('2026-05-01T00:05:00.000Z');
  });

  it('turns a Lambda error Cause into a sentence', () => {
    expect(
      failureText({
        Error: 'HealthCheckFailedError',
        Cause: '{"errorType":"HealthCheckFailedError","errorMessage":"GET /health: 503"}',
      }),
    ).toBe('HealthCheckFailedError: GET /health: 503');
    expect(failureText({ Error: 'RolloutFailedError', Cause: 'deadline passed' })).toBe(
      'RolloutFailedError: deadline passed',
    );
    expect(failureText({ Error: 'States.Timeout' })).toBe('States.Timeout');
    expect(failureText({ Error: 'X', Cause: '{"other":1}' })).toBe('X: {"other":1}');
    expect(failureText(undefined)).toBe('no failure details');
  });
});
