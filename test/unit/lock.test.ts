import { describe, expect, it } from 'vitest';
import { blocks, buildLock, isLockExpired, lockExpiry, lockHeldMessage } from '../../lambdas/core/lock.ts';

const t0 = new Date('2026-05-01T00:00:00Z');
const lock = buildLock('production', 'production-v1-2-3-4f2a9c1e', 'arn:aws:states:exec:1', t0, 3600);

describe('lock', () => {
  it('expires ttl seconds after it was taken', () => {
    expect(lockExpiry(t0, 5400)).toBe('2026-05-01T01:30:00.000Z');
    expect(lock).toEqual({
      environment: 'production',
      holder: 'production-v1-2-3-4f2a9c1e',
      executionArn: 'arn:aws:states:exec:1',
      acquiredAt: '2026-05-01T00:00:00.000Z',
      expiresAt: '2026-05-01T01:00:00.000Z',
    });
  });

  it('is expired from its expiry instant on, not a millisecond before', () => {
    expect(isLockExpired(lock, new Date('2026-05-01T00:59:59.999Z'))).toBe(false);
    expect(isLockExpired(lock, new Date('2026-05-01T01:00:00.000Z'))).toBe(true);
  });

  it('treats an unreadable expiry as held', () => {
    expect(isLockExpired({ ...lock, expiresAt: 'never' }, new Date('2100-01-01T00:00:00Z'))).toBe(false);
  });

  it('blocks others but not its holder, and nobody once expired', () => {
    const during = new Date('2026-05-01T00:30:00Z');
    expect(blocks(lock, 'other', during)).toBe(true);
    expect(blocks(lock, lock.holder, during)).toBe(false);
    expect(blocks(lock, 'other', new Date('2026-05-01T01:00:00Z'))).toBe(false);
    expect(blocks(undefined, 'other', during)).toBe(false);
  });

  it('names the holder, its execution and when the lock frees up', () => {
    expect(lockHeldMessage(lock, new Date('2026-05-01T00:30:00Z'))).toBe(
      'production is locked by production-v1-2-3-4f2a9c1e (execution arn:aws:states:exec:1) since 2026-05-01T00:00:00.000Z; the lock expires at 2026-05-01T01:00:00.000Z (in 30 minutes). Wait for that execution to finish, or stop it if it is stuck.',
    );
  });

  it('rounds the remaining time up and never reports a negative wait under clock skew', () => {
    expect(lockHeldMessage(lock, new Date('2026-05-01T00:59:30Z'))).toMatch(/\(in 1 minute\)/);
    expect(lockHeldMessage(lock, new Date('2026-05-01T02:00:00Z'))).toMatch(/\(in 0 minutes\)/);
    // A lock taken by a host whose clock runs ahead still reads sensibly.
    expect(lockHeldMessage(lock, new Date('2026-04-30T23:59:00Z'))).toMatch(/\(in 61 minutes\)/);
  });
});
