/**
 * The per-environment circuit breaker (runbook: "Circuit Breaker Pattern"). Pure transitions.
 * Closed: deployments allowed. Open: deployments blocked until an operator resets it.
 * N consecutive failed releases open it; a success resets the count (but never closes an open
 * breaker: only an operator does); a failed rollback opens it at once. Every transition carries
 * the id of the deployment or rollback it counts, so a retried step is not counted twice.
 */
import type { BreakerState } from './types.ts';

/** The state of an environment that has never tripped. */
export function closedBreaker(environment: string): BreakerState {
  return { environment, state: 'closed', consecutiveFailures: 0 };
}

/** A release succeeded: the consecutive-failure count starts over. */
export function breakerOnSuccess(state: BreakerState, eventId: string, now: Date): BreakerState {
  if (state.lastEventId === eventId) return state;
  return { ...state, consecutiveFailures: 0, updatedAt: now.toISOString(), lastEventId: eventId };
}

/** A release was rolled back: one more consecutive failure; opens at `threshold`. */
export function breakerOnFailure(
  state: BreakerState,
  eventId: string,
  threshold: number,
  reason: string,
  now: Date,
): BreakerState {
  if (state.lastEventId === eventId) return state;
  const consecutiveFailures = state.consecutiveFailures + 1;
  const base = { ...state, consecutiveFailures, updatedAt: now.toISOString(), lastEventId: eventId };
  if (state.state === 'open') return base;
  if (consecutiveFailures >= threshold) {
    return {
      ...base,
      state: 'open',
      reason: `${consecutiveFailures} consecutive failed releases (threshold ${threshold}); last: ${reason}`,
    };
  }
  return base;
}

/** Opens the breaker at once with `reason`, counting `eventId` once (a retried step repeats it). */
function openAtOnce(state: BreakerState, eventId: string, reason: string, now: Date): BreakerState {
  if (state.lastEventId === eventId) return state;
  return {
    ...state,
    state: 'open',
    consecutiveFailures: state.consecutiveFailures + 1,
    reason,
    updatedAt: now.toISOString(),
    lastEventId: eventId,
  };
}

/** A rollback itself failed: open at once, whatever the count. */
export function breakerOnRollbackFailure(
  state: BreakerState,
  eventId: string,
  reason: string,
  now: Date,
): BreakerState {
  return openAtOnce(state, eventId, `rollback ${eventId} failed: ${reason}`, now);
}

/** An operator reset the breaker (`guardian circuit-breaker --reset`). */
export function breakerReset(environment: string, by: string, now: Date): BreakerState {
  return {
    environment,
    state: 'closed',
    consecutiveFailures: 0,
    reason: `reset by ${by}`,
    updatedAt: now.toISOString(),
  };
}

/** The refusal an operator reads when the open breaker blocks a deployment. */
export function breakerOpenMessage(state: BreakerState): string {
  return `circuit breaker for ${state.environment} is open${state.updatedAt ? ` since ${state.updatedAt}` : ''}: ${state.reason ?? 'too many failed releases'}. Deployments are blocked until an operator investigates and runs \`guardian circuit-breaker --reset\`.`;
}

/** One-line breaker summary for step outputs, e.g. "1 of 2 consecutive failures". */
export function breakerSummary(state: BreakerState, threshold: number): string {
  return state.state === 'open'
    ? `circuit breaker OPEN (${state.reason ?? 'tripped'}): deployments to ${state.environment} are blocked until \`guardian circuit-breaker --reset\``
    : `circuit breaker closed (${state.consecutiveFailures} of ${threshold} consecutive failures)`;
}

/**
 * A deployment or rollback was stopped or timed out mid-change (the "execution ended" janitor):
 * open at once, as for a failed rollback, since nobody knows what state the workload is in.
 */
export function breakerOnUnfinished(
  state: BreakerState,
  eventId: string,
  reason: string,
  now: Date,
): BreakerState {
  return openAtOnce(state, eventId, `${eventId}: ${reason}`, now);
}
