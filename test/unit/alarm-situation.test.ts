/** Where an environment stands when an alarm arrives, and which failed rollbacks page. */
import { describe, expect, it } from 'vitest';
import { alarmSituation } from '../../lambdas/core/alarm-situation.ts';
import { rollbackIncident } from '../../lambdas/core/rollback-incident.ts';
import type { DeploymentRecord, LockInfo } from '../../lambdas/core/types.ts';

const REPO = 'ghcr.io/buywhere/buywhere-api';
const NOW = new Date('2026-11-20T02:00:00Z');

function record(id: string, over: Partial<DeploymentRecord> = {}): DeploymentRecord {
  return {
    environment: 'staging',
    id,
    kind: 'deploy',
    status: 'succeeded',
    executionArn: `arn:aws:states:ap-southeast-1:1:execution:guardian-staging-deploy:${id}`,
    trigger: 'ci',
    requestedBy: 'ci',
    image: `${REPO}:${id}`,
    rollbackPoint: { platform: 'kubernetes', revision: 1, image: `${REPO}:v1.0.0`, podTemplate: {} },
    startedAt: '2026-11-20T01:00:00.000Z',
    finishedAt: '2026-11-20T01:10:00.000Z',
    ...over,
  };
}

const lock = (holder: string, expiresAt = '2026-11-20T03:00:00.000Z'): LockInfo => ({
  environment: 'staging',
  holder,
  executionArn: `arn:x:${holder}`,
  acquiredAt: '2026-11-20T01:50:00.000Z',
  expiresAt,
});

describe('alarmSituation', () => {
  it('names the running deployment (monitoring while it waits between rounds) when it holds a live lock', () => {
    const running = record('v1.2.0', {
      status: 'in-progress',
      signal: { token: 't', phase: 'monitoring', since: NOW.toISOString() },
    });
    const s = alarmSituation(lock('v1.2.0'), [running, record('v1.1.0')], NOW);
    expect(s.deployment).toMatchObject({ id: 'v1.2.0', status: 'monitoring', image: `${REPO}:v1.2.0` });
    expect(s.promoted).toBeUndefined();
  });

  it('ignores an expired lock and takes the newest finished record as the promoted release', () => {
    const previous = record('v1.0.0', { image: `${REPO}:v1.0.0`, finishedAt: '2026-11-19T01:00:00.000Z' });
    const s = alarmSituation(
      lock('v1.2.0', '2026-11-20T01:00:00.000Z'),
      [record('v1.2.0', { status: 'in-progress' }), record('v1.1.0'), previous],
      NOW,
    );
    expect(s.deployment).toBeUndefined();
    expect(s.promoted).toEqual({
      recordId: 'v1.1.0',
      image: `${REPO}:v1.1.0`,
      promotedAt: '2026-11-20T01:10:00.000Z',
      previous: { recordId: 'v1.0.0', image: `${REPO}:v1.0.0` },
    });
  });

  it('names the previous release by revision when no record deployed it', () => {
    const s = alarmSituation(undefined, [record('v1.1.0')], NOW);
    expect(s.promoted?.previous).toEqual({ recordId: 'revision 1', image: `${REPO}:v1.0.0` });
  });

  it('says no release was promoted since the last rollback', () => {
    const s = alarmSituation(undefined, [record('rb-1', { kind: 'rollback' }), record('v1.1.0')], NOW);
    expect(s.promoted).toBeUndefined();
    expect(s.noPromotion).toMatch(/last change to the workload was rollback rb-1/);
  });
});

describe('rollbackIncident', () => {
  const start = new Date('2026-11-20T01:30:00Z');
  it('a Deploy that ended RollbackFailed and its failed child Rollback open the same P1', () => {
    const deployment = record('staging-v1-2-0-aaaa', { status: 'rollback-failed' });
    const parent = rollbackIncident(
      'staging',
      {
        kind: 'deploy',
        name: deployment.id,
        status: 'FAILED',
        error: 'RollbackFailed',
        cause: 'boom',
        startDate: start,
      },
      deployment,
      undefined,
    );
    const child = rollbackIncident(
      'staging',
      {
        kind: 'rollback',
        name: `${deployment.id}-rollback`,
        status: 'FAILED',
        error: 'RollbackFailed',
        startDate: new Date('2026-11-20T01:40:00Z'),
        input: { deploymentId: deployment.id, trigger: 'deploy-failure' },
      },
      deployment,
      record(`${deployment.id}-rollback`, { kind: 'rollback', status: 'failed' }),
    );
    expect(parent.open && child.open).toBe(true);
    if (!parent.open || !child.open) return;
    expect(child.id).toBe(parent.id);
    expect(parent.incident).toMatchObject({ priority: 'P1', alarm: { name: 'RollbackFailed' } });
    expect(parent.id).toMatch(/^staging-20261120T010000Z-[0-9a-f]{8}$/);
  });

  it('an operator rollback refused before it changed anything pages nobody; an alarm rollback refused does', () => {
    const refused = {
      kind: 'rollback',
      name: 'rb',
      status: 'FAILED',
      error: 'NothingToRollBackError',
      startDate: start,
    } as const;
    expect(
      rollbackIncident('staging', { ...refused, input: { trigger: 'operator' } }, undefined, undefined).open,
    ).toBe(false);
    expect(
      rollbackIncident('staging', { ...refused, input: { trigger: 'alarm' } }, undefined, undefined).open,
    ).toBe(true);
  });

  it('a deployment that failed without a failed rollback is no incident', () => {
    const plan = rollbackIncident(
      'staging',
      { kind: 'deploy', name: 'd', status: 'FAILED', error: 'DeploymentRolledBack', startDate: start },
      undefined,
      undefined,
    );
    expect(plan.open).toBe(false);
  });
});
