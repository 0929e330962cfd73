import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../lambdas/core/errors.ts';
import {
  deployExecutionName,
  MAX_DEPLOY_EXECUTION_NAME,
  MAX_EXECUTION_NAME,
  planLines,
  releaseLabel,
  rollbackExecutionName,
} from '../../lambdas/core/naming.ts';

describe('execution names', () => {
  it('builds <environment>-<version, dots to dashes>-<8 hex>', () => {
    expect(deployExecutionName('production', 'v1.2.3', '4f2a9c1e')).toBe('production-v1-2-3-4f2a9c1e');
  });

  it('replaces characters Step Functions rejects and collapses dashes', () => {
    expect(deployExecutionName('staging', 'feature/x+y..z', '00000000')).toBe(
      'staging-feature-x-y-z-00000000',
    );
    expect(deployExecutionName('staging', 'sha256:abcdef012345', '00000000')).toBe(
      'staging-sha256-abcdef012345-00000000',
    );
  });

  it('cuts a long label so the name fits 80 characters and keeps the suffix', () => {
    const name = deployExecutionName('production', 'x'.repeat(200), 'deadbeef');
    expect(name).toHaveLength(MAX_DEPLOY_EXECUTION_NAME);
    expect(MAX_DEPLOY_EXECUTION_NAME + '-rollback'.length).toBe(MAX_EXECUTION_NAME);
    expect(name.endsWith('-deadbeef')).toBe(true);
    expect(name).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
  });

  it('uses a placeholder when the label has no usable characters', () => {
    expect(deployExecutionName('staging', '...', '00000000')).toBe('staging-release-00000000');
  });

  it('refuses a suffix that is not 8 lowercase hex digits', () => {
    expect(() => deployExecutionName('staging', 'v1', 'XYZ')).toThrow(InvalidInputError);
    expect(() => rollbackExecutionName('staging', '4F2A9C1E')).toThrow(/8 lowercase hex/);
  });

  it('builds rollback names', () => {
    expect(rollbackExecutionName('production', '4f2a9c1e')).toBe('production-rollback-4f2a9c1e');
  });
});

describe('planLines', () => {
  const base = {
    environment: 'production',
    namespace: 'production',
    workload: 'buywhere-api',
    container: 'buywhere-api',
    image: 'repo/api:v1.2.3',
    version: 'v1.2.3',
    previousImage: 'repo/api:v1.2.2',
    previousRevision: 6,
    deadlineSeconds: 600,
    rolloutDeadlineAt: '2026-05-01T00:10:00.000Z',
    apiUrl: 'https://api.buywhere.io',
    healthPaths: ['/health', '/ready'],
    breakerSummary: 'circuit breaker closed (0 of 2 consecutive failures)',
    lockSummary: 'the production lock is free (a dry run does not take it)',
  };

  it('lists the checks and the actions in order', () => {
    expect(planLines(base)).toEqual([
      'image repo/api:v1.2.3 (version v1.2.3) is valid for production',
      'no change freeze in effect',
      'circuit breaker closed (0 of 2 consecutive failures)',
      'the production lock is free (a dry run does not take it)',
      'set production/buywhere-api container buywhere-api from repo/api:v1.2.2 (revision 6) to repo/api:v1.2.3',
      'wait up to 600s for the rollout (until 2026-05-01T00:10:00.000Z)',
      'check GET /health, GET /ready on https://api.buywhere.io',
      'on failure roll back to revision 6 (repo/api:v1.2.2)',
    ]);
  });

  it('says when the image already runs', () => {
    expect(planLines({ ...base, previousImage: base.image })[4]).toMatch(
      /already runs repo\/api:v1.2.3 .* will change nothing/,
    );
  });

  it('labels a release by its version, else its tag, else "release"', () => {
    expect(releaseLabel('ghcr.io/buywhere/buywhere-api:v1.2.3', 'v1.2.3')).toBe('v1.2.3');
    expect(releaseLabel('ghcr.io/buywhere/buywhere-api:main-abc123')).toBe('main-abc123');
    expect(releaseLabel('ghcr.io/buywhere/buywhere-api@sha256:0123abcd')).toBe('0123abcd');
    expect(releaseLabel('ghcr.io/buywhere/buywhere-api')).toBe('release');
    expect(releaseLabel(`ghcr.io/buywhere/buywhere-api:v1.2.3@sha256:${'a'.repeat(64)}`)).toBe('v1.2.3');
    expect(releaseLabel('localhost:5000/buywhere/api:v1')).toBe('v1');
    expect(releaseLabel('localhost:5000/buywhere/api')).toBe('release');
    expect(releaseLabel(undefined)).toBe('release');
    expect(releaseLabel(42, '')).toBe('release');
  });
});
