/**
 * Post-deployment monitoring (runbook: `deployment-monitor.sh monitor --duration 600
 * --check-interval 30`): after the health check, the release is watched for the environment's
 * `monitoring_duration_seconds`, one round every `intervalSeconds`, each round the enhanced health
 * check. `consecutive_failures_for_rollback` failed rounds in a row roll back; a 5xx from a health
 * endpoint rolls back at once (runbook: "Critical Failures: Immediate rollback triggered on 5xx
 * errors"). Pure: the workflow carries the state from round to round.
 */
import type { HealthEvaluation, HealthResponse } from './health.ts';

/** The monitoring phase's state, carried by the workflow between rounds (`$.monitoring`). */
export interface MonitoringState {
  /** Rounds done so far. */
  readonly round: number;
  /** Rounds in the phase: the duration divided by the interval. */
  readonly rounds: number;
  /** Failed rounds in a row, ending with the last one. */
  readonly consecutiveFailures: number;
  /** Failed rounds in all. */
  readonly failedRounds: number;
}

/** What one round found. */
export interface RoundObservation {
  readonly health: HealthEvaluation;
  /** The responses, in endpoint order (`undefined`: no answer). */
  readonly responses: readonly (HealthResponse | undefined)[];
  /** The endpoints' paths, in the same order. */
  readonly paths: readonly string[];
}

/** The verdict after a round, and the sentence an operator reads. */
export interface RoundVerdict {
  readonly verdict: 'continue' | 'rollback' | 'complete';
  readonly state: MonitoringState;
  readonly reason: string;
}

/** The monitoring phase's first state: `rounds` = duration ÷ interval (at least one round). */
export function startMonitoring(durationSeconds: number, intervalSeconds: number): MonitoringState {
  if (!(intervalSeconds > 0))
    throw new RangeError(`monitoring interval must be positive, got ${intervalSeconds}`);
  const rounds = Math.max(1, Math.floor(Math.max(0, durationSeconds) / intervalSeconds));
  return { round: 0, rounds, consecutiveFailures: 0, failedRounds: 0 };
}

/** The first endpoint that answered 5xx, as `GET /path answered 503`, if any. */
export function criticalFailure(o: RoundObservation): string | undefined {
  for (const [i, r] of o.responses.entries()) {
    if (r && r.status >= 500 && r.status <= 599) return `GET ${o.paths[i] ?? '?'} answered ${r.status}`;
  }
  return undefined;
}

/** Judges one round: rollback on a 5xx or on the threshold of failed rounds in a row; complete after the last round. */
export function judgeRound(
  state: MonitoringState,
  o: RoundObservation,
  failuresForRollback: number,
): RoundVerdict {
  const round = state.round + 1;
  const failed = !o.health.healthy;
  const next: MonitoringState = {
    round,
    rounds: state.rounds,
    consecutiveFailures: failed ? state.consecutiveFailures + 1 : 0,
    failedRounds: state.failedRounds + (failed ? 1 : 0),
  };
  const at = `monitoring round ${round} of ${state.rounds}`;
  const critical = criticalFailure(o);
  if (critical) {
    return {
      verdict: 'rollback',
      state: next,
      reason: `${at}: ${critical}, a critical failure: rolling back at once`,
    };
  }
  if (failed && next.consecutiveFailures >= failuresForRollback) {
    return {
      verdict: 'rollback',
      state: next,
      reason: `${at}: ${next.consecutiveFailures} consecutive failed rounds (rollback at ${failuresForRollback}): ${o.health.summary}`,
    };
  }
  if (round >= state.rounds) {
    return {
      verdict: 'complete',
      state: next,
      reason: `post-deployment monitoring passed: ${state.rounds} rounds, ${next.failedRounds} failed, never ${failuresForRollback} in a row`,
    };
  }
  return {
    verdict: 'continue',
    state: next,
    reason: failed
      ? `${at} failed (${next.consecutiveFailures} in a row, rollback at ${failuresForRollback}): ${o.health.summary}`
      : `${at} passed`,
  };
}
