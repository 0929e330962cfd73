import { describe, expect, it } from 'vitest';
import {
  breakerOnFailure,
  breakerOnRollbackFailure,
  breakerOnSuccess,
  breakerOpenMessage,
  breakerReset,
  breakerSummary,
  closedBreaker,
} from '../../lambdas/core/breaker.ts';

const now = new Date('2026-05-01T00:00:00Z');

describe('circuit breaker', () => {
  it('starts closed with no failures', () => {
    expect(closedBreaker('staging')).toEqual({
      environment: 'staging',
      state: 'closed',
      consecutiveFailures: 0,
    });
  });

  it('stays closed below the threshold and opens exactly at it', () => {
    const one = breakerOnFailure(closedBreaker('staging'), 'r1', 2, 'error rate 12%', now);
    expect(one).toMatchObject({ state: 'closed', consecutiveFailures: 1 });
    const two = breakerOnFailure(one, 'r2', 2, 'p99 2500 ms', now);
    expect(two).toMatchObject({ state: 'open', consecutiveFailures: 2 });
    expect(two.reason).toBe('2 consecutive failed releases (threshold 2); last: p99 2500 ms');
  });

  it('opens on the first failure with a threshold of 1', () => {
    expect(breakerOnFailure(closedBreaker('staging'), 'r1', 1, 'x', now).state).toBe('open');
  });

  it('resets the count on success so failures must be consecutive', () => {
    const one = breakerOnFailure(closedBreaker('staging'), 'r1', 2, 'x', now);
    const ok = breakerOnSuccess(one, 'd2', now);
    expect(ok.consecutiveFailures).toBe(0);
    expect(breakerOnFailure(ok, 'r3', 2, 'y', now).state).toBe('closed');
  });

  it('does not close an open breaker on success: only an operator does', () => {
    const open = breakerOnRollbackFailure(closedBreaker('staging'), 'r1', 'undo timed out', now);
    expect(breakerOnSuccess(open, 'd2', now).state).toBe('open');
  });

  it('opens at once when a rollback fails, whatever the count', () => {
    const open = breakerOnRollbackFailure(closedBreaker('production'), 'r1', 'undo timed out', now);
    expect(open).toMatchObject({
      state: 'open',
      consecutiveFailures: 1,
      reason: 'rollback r1 failed: undo timed out',
    });
    expect(open.updatedAt).toBe(now.toISOString());
  });

  it('keeps the original reason while already open and still counts', () => {
    const open = breakerOnRollbackFailure(closedBreaker('production'), 'r1', 'first', now);
    const again = breakerOnFailure(open, 'r2', 2, 'second', now);
    expect(again).toMatchObject({
      state: 'open',
      consecutiveFailures: 2,
      reason: 'rollback r1 failed: first',
    });
  });

  it('counts a retried step once (same event id)', () => {
    const one = breakerOnFailure(closedBreaker('staging'), 'r1', 2, 'x', now);
    expect(breakerOnFailure(one, 'r1', 2, 'x', now)).toBe(one);
    expect(breakerOnRollbackFailure(one, 'r1', 'x', now)).toBe(one);
    const ok = breakerOnSuccess(one, 'd1', now);
    expect(breakerOnSuccess(ok, 'd1', now)).toBe(ok);
  });

  it('closes and clears on operator reset, naming who', () => {
    expect(breakerReset('production', 'bolt', now)).toEqual({
      environment: 'production',
      state: 'closed',
      consecutiveFailures: 0,
      reason: 'reset by bolt',
      updatedAt: now.toISOString(),
    });
  });

  it('tells the operator how to unblock deployments', () => {
    const open = breakerOnRollbackFailure(closedBreaker('production'), 'r1', 'undo timed out', now);
    expect(breakerOpenMessage(open)).toBe(
      'circuit breaker for production is open since 2026-05-01T00:00:00.000Z: rollback r1 failed: undo timed out. Deployments are blocked until an operator investigates and runs `guardian circuit-breaker --reset`.',
    );
    expect(breakerSummary(open, 2)).toMatch(/^circuit breaker OPEN/);
    expect(breakerSummary(closedBreaker('staging'), 2)).toBe(
      'circuit breaker closed (0 of 2 consecutive failures)',
    );
  });
});
