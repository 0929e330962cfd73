/** An operator's decision on a release the canary analysis held: when it applies, what it says. */
import { describe, expect, it } from 'vitest';
import { planHoldDecision } from '../../lambdas/core/canary-hold.ts';
import type { DeploymentRecord, LockInfo } from '../../lambdas/core/types.ts';

const lock: LockInfo = {
  environment: 'production',
  holder: 'production-v2-1-0-abcd',
  executionArn:
    'arn:aws:states:ap-southeast-1:123456789012:execution:guardian-production-deploy:production-v2-1-0-abcd',
  acquiredAt: '2026-12-03T01:00:00.000Z',
  expiresAt: '2026-12-03T05:00:00.000Z',
};
const record = (over: Partial<DeploymentRecord> = {}): DeploymentRecord => ({
  environment: 'production',
  id: lock.holder,
  kind: 'deploy',
  status: 'in-progress',
  executionArn: lock.executionArn,
  trigger: 'ci',
  requestedBy: 'ci',
  image: 'ghcr.io/buywhere/buywhere-api:v2.1.0',
  rollbackPoint: {
    platform: 'kubernetes',
    revision: 4,
    image: 'ghcr.io/buywhere/buywhere-api:v2.0.0',
  } as DeploymentRecord['rollbackPoint'],
  startedAt: '2026-12-03T01:00:00.000Z',
  signal: { token: 'tok-1', phase: 'hold', since: '2026-12-03T01:12:00.000Z' },
  ...over,
});

describe('planHoldDecision', () => {
  it('approves the held release with the token of its hold', () => {
    const plan = planHoldDecision(
      'production',
      lock,
      record(),
      'approve',
      'alice',
      'traffic is just low at night',
    );
    expect(plan).toEqual({
      ok: true,
      deploymentId: lock.holder,
      token: 'tok-1',
      note: 'alice approved the held release: traffic is just low at night; post-deployment monitoring goes on',
    });
  });
  it('rejects the held release, naming who and why', () => {
    const plan = planHoldDecision('production', lock, record(), 'reject', 'bob', undefined);
    expect(plan).toMatchObject({ ok: true, note: 'bob rejected the held release' });
  });
  it('refuses when no deployment runs', () => {
    const plan = planHoldDecision('production', undefined, undefined, 'approve', 'alice', undefined);
    expect(plan).toEqual({
      ok: false,
      message: expect.stringContaining('no deployment is running in production'),
    });
  });
  it('refuses a deployment that waits in another phase, saying which', () => {
    const plan = planHoldDecision(
      'production',
      lock,
      record({ signal: { token: 't', phase: 'canary', since: '2026-12-03T01:05:00.000Z' } }),
      'approve',
      'alice',
      undefined,
    );
    expect(plan).toEqual({ ok: false, message: expect.stringContaining('waiting in its canary phase') });
  });
  it('refuses a lock held by a rollback', () => {
    const plan = planHoldDecision(
      'production',
      lock,
      record({ kind: 'rollback' }),
      'reject',
      'alice',
      undefined,
    );
    expect(plan.ok).toBe(false);
  });
  it('refuses a deployment that already ended', () => {
    const plan = planHoldDecision(
      'production',
      lock,
      record({ status: 'rolled-back' }),
      'approve',
      'a',
      undefined,
    );
    expect(plan).toEqual({ ok: false, message: expect.stringContaining('is rolled-back') });
  });
});
