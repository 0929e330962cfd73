import { describe, expect, it } from 'vitest';
import {
  breakerOnFailure,
  breakerOnRollbackFailure,
  breakerOnSuccess,
  breakerOnUnfinished,
  breakerOpenMessage,
  breakerReset,
  breakerSummary,
  closedBreaker,
  countedList,
  countsAsFailedRelease,
  describeCounted,
} from '../../lambdas/core/breaker.ts';
import type { BreakerState, Trigger } from '../../lambdas/core/types.ts';
import { formatBreaker } from '../../lib/cli/format.ts';

const REPO = 'ghcr.io/buywhere/buywhere-api';
const t0 = new Date('2026-05-01T00:00:00Z');
const at = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);
const release = (tag: string) => ({
  id: `staging-${tag.replaceAll('.', '-')}-0000aaaa`,
  image: `${REPO}:${tag}`,
});
const V120 = release('v1.2.0');
const V130 = release('v1.3.0');
const V140 = release('v1.4.0');

/** What rollback-finish does with a rollback that succeeded (see lambdas/rollback-finish/handler.ts). */
function afterRollback(state: BreakerState, trigger: Trigger, ev: { id: string; image: string }, now: Date) {
  return countsAsFailedRelease(trigger) ? breakerOnFailure(state, ev, 2, 'health check failed', now) : state;
}

describe('circuit breaker: what counts', () => {
  it('starts closed with no failures', () => {
    expect(closedBreaker('staging')).toEqual({
      environment: 'staging',
      state: 'closed',
      consecutiveFailures: 0,
    });
    expect(describeCounted(closedBreaker('staging'))).toBe('no failed releases counted');
  });

  it('counts rollbacks after a failed deployment or an alarm, not an operator’s manual rollback', () => {
    expect(countsAsFailedRelease('deploy-failure')).toBe(true);
    expect(countsAsFailedRelease('alarm')).toBe(true);
    expect(countsAsFailedRelease('operator')).toBe(false);
  });

  it('does not open on two successful manual rollbacks', () => {
    let b = closedBreaker('staging');
    b = afterRollback(b, 'operator', release('v1.1.0'), at(1));
    b = afterRollback(b, 'operator', release('v1.0.0'), at(2));
    expect(b).toEqual(closedBreaker('staging'));
    expect(breakerSummary(b, 2)).toBe('circuit breaker closed (0 of 2 consecutive failed releases)');
  });

  it('stays closed below the threshold and opens exactly at it, listing what it counted', () => {
    const one = breakerOnFailure(closedBreaker('staging'), V120, 2, 'error rate 12%', at(0));
    expect(one).toMatchObject({ state: 'closed', consecutiveFailures: 1, since: at(0).toISOString() });
    expect(breakerSummary(one, 2)).toBe(
      `circuit breaker closed (1 of 2 consecutive failed releases: ${V120.id} (v1.2.0) since ${at(0).toISOString()})`,
    );
    const two = breakerOnFailure(one, V130, 2, 'p99 2500 ms', at(30));
    expect(two).toMatchObject({
      state: 'open',
      consecutiveFailures: 2,
      counted: [
        { ...V120, at: at(0).toISOString() },
        { ...V130, at: at(30).toISOString() },
      ],
      since: at(0).toISOString(),
      openedAt: at(30).toISOString(),
    });
    expect(two.reason).toBe(
      `2 consecutive failed releases: ${V120.id} (v1.2.0), ${V130.id} (v1.3.0) since ${at(0).toISOString()} (threshold 2); last: p99 2500 ms`,
    );
  });

  it('keeps `since` at the first failure of the streak while it goes on', () => {
    let b = breakerOnFailure(closedBreaker('staging'), V120, 5, 'x', at(0));
    b = breakerOnFailure(b, V130, 5, 'y', at(10));
    b = afterRollback(b, 'operator', release('v1.1.0'), at(15));
    b = breakerOnFailure(b, V140, 5, 'z', at(20));
    expect(b).toMatchObject({
      consecutiveFailures: 3,
      since: at(0).toISOString(),
      updatedAt: at(20).toISOString(),
    });
  });

  it('opens on the first failure with a threshold of 1', () => {
    expect(breakerOnFailure(closedBreaker('staging'), V120, 1, 'x', t0)).toMatchObject({
      state: 'open',
      reason: `1 consecutive failed release: ${V120.id} (v1.2.0) since ${t0.toISOString()} (threshold 1); last: x`,
    });
  });

  it('resets the count, the list and `since` on success, so failures must be consecutive', () => {
    const one = breakerOnFailure(closedBreaker('staging'), V120, 2, 'x', at(0));
    const ok = breakerOnSuccess(one, 'staging-v1-2-1-0000bbbb', at(5));
    expect(ok).toEqual({
      environment: 'staging',
      state: 'closed',
      consecutiveFailures: 0,
      updatedAt: at(5).toISOString(),
      lastEventId: 'staging-v1-2-1-0000bbbb',
    });
    const again = breakerOnFailure(ok, V130, 2, 'y', at(9));
    expect(again).toMatchObject({ state: 'closed', consecutiveFailures: 1, since: at(9).toISOString() });
    expect(again.counted).toEqual([{ ...V130, at: at(9).toISOString() }]);
  });

  it('keeps only the newest entries up to the threshold and says so', () => {
    const open = breakerOnRollbackFailure(
      closedBreaker('staging'),
      { id: 'r1', image: V120.image },
      'x',
      at(0),
    );
    const more = breakerOnFailure(breakerOnFailure(open, V130, 2, 'y', at(1)), V140, 2, 'z', at(2));
    expect(more.consecutiveFailures).toBe(3);
    expect(more.counted?.map((c) => c.id)).toEqual([V130.id, V140.id]);
    expect(countedList(more)).toBe(
      `${V130.id} (v1.3.0), ${V140.id} (v1.4.0) (the newest 2) since ${at(0).toISOString()}`,
    );
  });
});

describe('circuit breaker: opening at once', () => {
  it('opens at once when a rollback fails, whatever the count', () => {
    const open = breakerOnRollbackFailure(
      closedBreaker('production'),
      { id: 'r1', image: V120.image },
      'undo timed out',
      t0,
    );
    expect(open).toMatchObject({
      state: 'open',
      consecutiveFailures: 1,
      reason: 'rollback r1 failed: undo timed out',
      openedAt: t0.toISOString(),
      since: t0.toISOString(),
    });
  });

  it('says what it had counted before a failed rollback opened it', () => {
    const one = breakerOnFailure(closedBreaker('staging'), V120, 3, 'x', at(0));
    const open = breakerOnRollbackFailure(one, { id: 'r2' }, 'undo timed out', at(7));
    expect(open.reason).toBe(
      `rollback r2 failed: undo timed out (after 1 consecutive failed release: ${V120.id} (v1.2.0) since ${at(0).toISOString()})`,
    );
    expect(open).toMatchObject({
      consecutiveFailures: 2,
      since: at(0).toISOString(),
      openedAt: at(7).toISOString(),
    });
  });

  it('keeps the original reason and opening time while already open, and still counts', () => {
    const open = breakerOnRollbackFailure(closedBreaker('production'), { id: 'r1' }, 'first', at(0));
    const again = breakerOnFailure(open, V130, 2, 'second', at(3));
    expect(again).toMatchObject({
      state: 'open',
      consecutiveFailures: 2,
      reason: 'rollback r1 failed: first',
      openedAt: at(0).toISOString(),
    });
    const third = breakerOnUnfinished(again, { id: 'staging-v1-4-0-0000cccc' }, 'aborted', at(4));
    expect(third).toMatchObject({ consecutiveFailures: 3, reason: 'rollback r1 failed: first' });
  });

  it('does not close an open breaker on success, nor forget why it opened: only an operator does', () => {
    const open = breakerOnRollbackFailure(closedBreaker('staging'), { id: 'r1' }, 'undo timed out', t0);
    const after = breakerOnSuccess(open, 'd2', at(1));
    expect(after).toMatchObject({
      state: 'open',
      consecutiveFailures: 1,
      reason: open.reason,
      counted: open.counted,
      openedAt: t0.toISOString(),
    });
  });
});

describe('circuit breaker: duplicates and reset', () => {
  it('counts a retried step once (same event id)', () => {
    const one = breakerOnFailure(closedBreaker('staging'), V120, 2, 'x', t0);
    expect(breakerOnFailure(one, V120, 2, 'x', at(1))).toBe(one);
    expect(breakerOnRollbackFailure(one, V120, 'x', at(1))).toBe(one);
    const ok = breakerOnSuccess(one, 'd1', t0);
    expect(breakerOnSuccess(ok, 'd1', at(1))).toBe(ok);
  });

  it('counts a failed release once even when another event came in between', () => {
    const one = breakerOnFailure(closedBreaker('staging'), V120, 3, 'x', t0);
    const two = breakerOnFailure(one, V130, 3, 'y', at(1));
    expect(breakerOnFailure(two, V120, 3, 'x', at(2))).toBe(two);
  });

  it('closes and clears on operator reset, naming who', () => {
    const open = breakerOnFailure(
      breakerOnFailure(closedBreaker('production'), V120, 2, 'x', t0),
      V130,
      2,
      'y',
      t0,
    );
    expect(open.state).toBe('open');
    expect(breakerReset('production', 'bolt', at(9))).toEqual({
      environment: 'production',
      state: 'closed',
      consecutiveFailures: 0,
      reason: 'reset by bolt',
      updatedAt: at(9).toISOString(),
    });
  });
});

describe('circuit breaker messages', () => {
  it('tells the operator since when it is open, what opened it and how to unblock deployments', () => {
    const open = breakerOnRollbackFailure(closedBreaker('production'), { id: 'r1' }, 'undo timed out', t0);
    expect(breakerOpenMessage(open)).toBe(
      'circuit breaker for production is open since 2026-05-01T00:00:00.000Z: rollback r1 failed: undo timed out. Deployments are blocked until an operator investigates and runs `guardian circuit-breaker --env production --reset`.',
    );
    expect(breakerSummary(open, 2)).toMatch(/^circuit breaker OPEN \(rollback r1 failed: undo timed out\)/);
  });

  it('lists the failed releases that opened it, and `since` does not move on later updates', () => {
    const open = breakerOnFailure(
      breakerOnFailure(closedBreaker('staging'), V120, 2, 'x', at(0)),
      V130,
      2,
      'y',
      at(20),
    );
    const later = breakerOnSuccess(open, 'staging-v1-5-0-0000dddd', at(40));
    const message = breakerOpenMessage(later);
    expect(message).toBe(
      `circuit breaker for staging is open since ${at(20).toISOString()}: 2 consecutive failed releases: ${V120.id} (v1.2.0), ${V130.id} (v1.3.0) since ${at(0).toISOString()} (threshold 2); last: y. Deployments are blocked until an operator investigates and runs \`guardian circuit-breaker --env staging --reset\`.`,
    );
    expect(message).not.toContain(at(40).toISOString());
  });

  it('shows the same in `guardian status`', () => {
    const one = breakerOnFailure(closedBreaker('staging'), V120, 2, 'x', at(0));
    expect(formatBreaker(one, 2)).toBe(
      `closed, 1/2 consecutive failed releases: ${V120.id} (v1.2.0) since ${at(0).toISOString()}`,
    );
    const open = breakerOnFailure(one, V130, 2, 'y', at(20));
    expect(formatBreaker(open, 2)).toBe(
      `OPEN — deployments blocked since ${at(20).toISOString()}, 2/2 consecutive failed releases: ${open.reason}`,
    );
    expect(formatBreaker(breakerReset('staging', 'bolt', at(30)), 2)).toBe(
      'closed, 0/2 consecutive failed releases; reset by bolt',
    );
  });

  it('describes a state stored before the list existed by its count alone', () => {
    const legacy: BreakerState = {
      environment: 'staging',
      state: 'closed',
      consecutiveFailures: 1,
      updatedAt: t0.toISOString(),
      lastEventId: 'r0',
    };
    expect(describeCounted(legacy)).toBe('1 consecutive failed release');
    const two = breakerOnFailure(legacy, V130, 3, 'y', at(5));
    expect(two).toMatchObject({ consecutiveFailures: 2, since: t0.toISOString() });
    expect(describeCounted(two)).toBe(
      `2 consecutive failed releases: ${V130.id} (v1.3.0) (the newest 1) since ${t0.toISOString()}`,
    );
  });
});
