/**
 * The per-environment circuit breaker (runbook: "Circuit Breaker Pattern"). Pure transitions.
 * Closed: deployments allowed. Open: deployments blocked until an operator resets it.
 *
 * It counts failed releases: a deployment that failed and was rolled back (by its own automatic
 * rollback, or later by an alarm) counts one, and `consecutive_failures_for_rollback` in a row
 * open it. An operator's manual rollback that succeeds is not a failed release and is not counted
 * (`countsAsFailedRelease`). A rollback that itself fails, or an execution stopped mid-change,
 * opens it at once. A successful deployment starts the count over (but never closes an open
 * breaker: only an operator does). The breaker keeps what it counted (ids and images), when the
 * streak began (`since`) and when it opened (`openedAt`), so its messages say exactly what was
 * counted. Every transition carries the id of what it counts, so a retried step counts once.
 */
import { releaseLabel } from './naming.ts';
import type { BreakerState, CountedFailure, Trigger } from './types.ts';

/** What one breaker transition counts: the failed deployment (or rollback, or execution) and its image. */
export interface BreakerEvent {
  readonly id: string;
  readonly image?: string;
}

/** Most entries an at-once transition keeps in `counted` (threshold transitions keep the threshold). */
const MAX_COUNTED = 10;

/** The state of an environment that has never tripped. */
export function closedBreaker(environment: string): BreakerState {
  return { environment, state: 'closed', consecutiveFailures: 0 };
}

/**
 * Whether a rollback that succeeded counts as a failed release: one a failed deployment or an
 * alarm triggered does; an operator's manual rollback does not (the release may be fine: the
 * operator can have reasons the guardian cannot see). It is still recorded in history.
 */
export function countsAsFailedRelease(trigger: Trigger): boolean {
  return trigger !== 'operator';
}

/** Whether `id` was already counted (a retried step, or a duplicate event). */
function seen(state: BreakerState, id: string): boolean {
  return state.lastEventId === id || (state.counted ?? []).some((c) => c.id === id);
}

/** The streak with `event` added: one more, listed (the newest `keep`), its start unchanged. */
function counting(state: BreakerState, event: BreakerEvent, keep: number, now: Date) {
  const at = now.toISOString();
  const entry: CountedFailure = {
    id: event.id,
    ...(event.image !== undefined && { image: event.image }),
    at,
  };
  const fresh = state.consecutiveFailures === 0;
  return {
    consecutiveFailures: state.consecutiveFailures + 1,
    counted: [...(fresh ? [] : (state.counted ?? [])), entry].slice(-Math.max(1, keep)),
    // A state written before `since` existed: its last update is the best guess at the streak's start.
    since: fresh ? at : (state.since ?? state.updatedAt ?? at),
    updatedAt: at,
    lastEventId: event.id,
  };
}

/** A release succeeded: the consecutive-failure count starts over (an open breaker stays as it is). */
export function breakerOnSuccess(state: BreakerState, eventId: string, now: Date): BreakerState {
  if (state.lastEventId === eventId) return state;
  const updatedAt = now.toISOString();
  // Open: keep what opened it, so `status` still says why; only an operator's reset clears it.
  if (state.state === 'open') return { ...state, updatedAt, lastEventId: eventId };
  const { counted: _counted, since: _since, ...rest } = state;
  return { ...rest, consecutiveFailures: 0, updatedAt, lastEventId: eventId };
}

/**
 * A release failed and was rolled back: one more consecutive failure; opens at `threshold`.
 * `event` is the failed deployment (its id and image), `reason` why it was rolled back.
 */
export function breakerOnFailure(
  state: BreakerState,
  event: BreakerEvent,
  threshold: number,
  reason: string,
  now: Date,
): BreakerState {
  if (seen(state, event.id)) return state;
  const next: BreakerState = { ...state, ...counting(state, event, threshold, now) };
  if (state.state === 'open' || next.consecutiveFailures < threshold) return next;
  return {
    ...next,
    state: 'open',
    openedAt: now.toISOString(),
    reason: `${describeCounted(next)} (threshold ${threshold}); last: ${reason}`,
  };
}

/** Opens the breaker at once with `cause`, counting `event` once (a retried step repeats it). */
function openAtOnce(state: BreakerState, event: BreakerEvent, cause: string, now: Date): BreakerState {
  if (seen(state, event.id)) return state;
  const next = { ...state, ...counting(state, event, MAX_COUNTED, now) };
  if (state.state === 'open') return next;
  const after = state.consecutiveFailures > 0 ? ` (after ${describeCounted(state)})` : '';
  return { ...next, state: 'open', openedAt: now.toISOString(), reason: `${cause}${after}` };
}

/** A rollback itself failed: open at once, whatever the count. `event.id` is the rollback (or deployment). */
export function breakerOnRollbackFailure(
  state: BreakerState,
  event: BreakerEvent,
  reason: string,
  now: Date,
): BreakerState {
  return openAtOnce(state, event, `rollback ${event.id} failed: ${reason}`, now);
}

/**
 * A deployment or rollback was stopped or timed out mid-change (the "execution ended" janitor):
 * open at once, as for a failed rollback, since nobody knows what state the workload is in.
 */
export function breakerOnUnfinished(
  state: BreakerState,
  event: BreakerEvent,
  reason: string,
  now: Date,
): BreakerState {
  return openAtOnce(state, event, `${event.id}: ${reason}`, now);
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

/** `staging-v1-2-0-… (v1.2.0), staging-v1-3-0-… (v1.3.0) since <time>`; empty when nothing is counted. */
export function countedList(state: BreakerState): string {
  if (state.consecutiveFailures === 0) return '';
  const counted = state.counted ?? [];
  const list = counted.map((c) => (c.image ? `${c.id} (${releaseLabel(c.image)})` : c.id)).join(', ');
  const partial =
    counted.length > 0 && counted.length < state.consecutiveFailures ? ` (the newest ${counted.length})` : '';
  return [list ? `${list}${partial}` : '', state.since ? `since ${state.since}` : '']
    .filter(Boolean)
    .join(' ');
}

/**
 * What the breaker counted, in words: `2 consecutive failed releases: staging-v1-2-0-… (v1.2.0),
 * staging-v1-3-0-… (v1.3.0) since 2026-05-01T00:00:00.000Z`; `no failed releases counted`.
 */
export function describeCounted(state: BreakerState): string {
  const n = state.consecutiveFailures;
  if (n === 0) return 'no failed releases counted';
  const list = countedList(state);
  return `${n} consecutive failed release${n === 1 ? '' : 's'}${list ? `: ${list}` : ''}`;
}

/** Why an open breaker is open: what opened it (which names what was counted). */
function openReason(state: BreakerState): string {
  return state.reason ?? describeCounted(state);
}

/** The refusal an operator reads when the open breaker blocks a deployment. */
export function breakerOpenMessage(state: BreakerState): string {
  const since = state.openedAt ?? state.since;
  return `circuit breaker for ${state.environment} is open${since ? ` since ${since}` : ''}: ${openReason(state)}. Deployments are blocked until an operator investigates and runs \`guardian circuit-breaker --env ${state.environment} --reset\`.`;
}

/** One-line breaker summary for step outputs, e.g. "circuit breaker closed (1 of 2 consecutive failed releases: …)". */
export function breakerSummary(state: BreakerState, threshold: number): string {
  if (state.state === 'open') {
    return `circuit breaker OPEN (${openReason(state)}): deployments to ${state.environment} are blocked until \`guardian circuit-breaker --env ${state.environment} --reset\``;
  }
  const list = countedList(state);
  return `circuit breaker closed (${state.consecutiveFailures} of ${threshold} consecutive failed releases${list ? `: ${list}` : ''})`;
}
