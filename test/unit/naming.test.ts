import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../lambdas/core/errors.ts';
import {
  checkDeployExecutionName,
  deployExecutionName,
  MAX_DEPLOY_EXECUTION_NAME,
  MAX_EXECUTION_NAME,
  type PlanInput,
  planLines,
  ROLLBACK_CHILD_SUFFIX,
  releaseLabel,
  rollbackExecutionName,
  stateMachineName,
} from '../../lambdas/core/naming.ts';

/** What Step Functions accepts as an execution name the workflows' CloudWatch logging can carry. */
const VALID_NAME = /^[A-Za-z0-9_-]{1,80}$/;

describe('state machine names', () => {
  it('names the Deploy and Rollback workflows of an environment guardian-<environment>-<kind>', () => {
    expect(stateMachineName('staging', 'deploy')).toBe('guardian-staging-deploy');
    expect(stateMachineName('production', 'rollback')).toBe('guardian-production-rollback');
  });
});

describe('checkDeployExecutionName', () => {
  it('accepts a name of up to 71 characters, whose child rollback still fits 80', () => {
    expect(MAX_DEPLOY_EXECUTION_NAME).toBe(71);
    for (const name of ['p', 'production-v1-2-3-4f2a9c1e', 'a_B-9', 'x'.repeat(71)]) {
      expect(() => checkDeployExecutionName(name), name).not.toThrow();
      expect(`${name}${ROLLBACK_CHILD_SUFFIX}`).toMatch(VALID_NAME);
    }
  });

  it('refuses a 72-character name, naming the 80-character limit and the -rollback suffix', () => {
    const name = 'x'.repeat(72);
    expect(() => checkDeployExecutionName(name)).toThrow(InvalidInputError);
    expect(() => checkDeployExecutionName(name)).toThrow(
      /has 72 characters; a Deploy execution name may have at most 71, because Step Functions limits execution names to 80 characters and the automatic rollback is named '<deploy name>-rollback'/,
    );
  });

  it('refuses an 80-character name, which Step Functions itself accepts', () => {
    expect(() => checkDeployExecutionName('x'.repeat(80))).toThrow(/has 80 characters.*at most 71/);
  });

  it('leaves characters to Step Functions, which refused the name already if it rejects them', () => {
    expect(() => checkDeployExecutionName('production-v1.2.3-ci-42')).not.toThrow();
  });
});

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
    expect(name).toMatch(VALID_NAME);
  });

  it('keeps every generated deploy name within 71 characters whatever the environment and label', () => {
    const labels = [
      '',
      'v1',
      'v1.2.3-rc.1+build.7',
      `sha256:${'ab'.repeat(32)}`,
      'é'.repeat(100),
      'x-'.repeat(100),
    ];
    for (const environment of ['production', 'a', 'e'.repeat(63), 'a-'.repeat(31).concat('z')]) {
      for (let n = 0; n <= 120; n += 7) {
        for (const label of [...labels, 'y'.repeat(n), `v${'1.'.repeat(n)}0`]) {
          const name = deployExecutionName(environment, label, '0123abcd');
          expect(name.length, `${environment} / ${label}`).toBeLessThanOrEqual(MAX_DEPLOY_EXECUTION_NAME);
          expect(() => checkDeployExecutionName(name)).not.toThrow();
          expect(name).not.toMatch(/--/);
          expect(name.endsWith('-0123abcd')).toBe(true);
        }
      }
    }
  });

  it('cuts an environment name too long to leave room for a label, keeping the suffix', () => {
    expect(deployExecutionName('e'.repeat(63), 'v10.20.30', 'deadbeef')).toBe(
      `${'e'.repeat(54)}-v10-20-deadbeef`,
    );
    expect(deployExecutionName('e'.repeat(63), '', 'deadbeef')).toBe(`${'e'.repeat(54)}-release-deadbeef`);
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

  it('cuts a long environment out of a rollback name, never its suffix', () => {
    const name = rollbackExecutionName('e'.repeat(63), '4f2a9c1e');
    expect(name).toBe(`${'e'.repeat(62)}-rollback-4f2a9c1e`);
    expect(name).toHaveLength(MAX_EXECUTION_NAME);
    expect(name).toMatch(VALID_NAME);
  });
});

describe('planLines', () => {
  const base: PlanInput = {
    environment: 'production',
    workload: 'deployment "production/buywhere-api"',
    image: 'repo/api:v1.2.3',
    version: 'v1.2.3',
    rollbackPoint: {
      platform: 'kubernetes',
      revision: 6,
      image: 'repo/api:v1.2.2',
      podTemplate: { spec: { containers: [{ name: 'buywhere-api', image: 'repo/api:v1.2.2' }] } },
    },
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
      'set deployment "production/buywhere-api" from revision 6 (repo/api:v1.2.2) to repo/api:v1.2.3',
      'wait up to 600s for the rollout (until 2026-05-01T00:10:00.000Z)',
      'check GET /health, GET /ready on https://api.buywhere.io',
      'on failure roll back to revision 6 (repo/api:v1.2.2)',
    ]);
  });

  it('says when the image already runs', () => {
    const lines = planLines({ ...base, rollbackPoint: { ...base.rollbackPoint, image: base.image } });
    expect(lines[4]).toBe(
      'deployment "production/buywhere-api" already runs repo/api:v1.2.3 (revision 6); the rollout will change nothing',
    );
    expect(lines[7]).toBe('on failure roll back to revision 6 (repo/api:v1.2.3)');
  });

  it('leaves the version out when the release has none', () => {
    const { version: _, ...unversioned } = base;
    expect(planLines(unversioned)[0]).toBe('image repo/api:v1.2.3 is valid for production');
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
