/**
 * Post-deployment monitoring (runbook: `deployment-monitor.sh monitor --duration 600
 * --check-interval 30`): after the health check, the release is watched for the environment's
 * `monitoring_duration_seconds`, one round every `intervalSeconds`, each round the enhanced health
 * check. `consecutive_failures_for_rollback` failed rounds in a row roll back; a 5xx from a health
 * endpoint rolls back at once (runbook: "Critical Failures: Immediate rollback triggered on 5xx
 * errors"). Pure: the workflow carries the state from round to round.
 */
import type { HealthEvaluation, HealthResponse } from './health.ts';
import type { IntervalSample } from './measurements.ts';

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
  /** The thresholds run on the release's live metrics this round, when the environment has a provider. */
  readonly metrics?: LiveMetricsCheck;
}

/**
 * The seed's thresholds on live metrics (`deployment-thresholds.yaml`): error rate and p99 of the
 * last interval. A breach fails the round (N in a row roll back, like a failed health check); an
 * error rate `criticalFactor` times the threshold rolls back at once.
 */
export interface LiveMetricsRule {
  /** error_rate_threshold, in percent of requests answered 5xx. */
  readonly errorRatePct: number;
  /** latency_p99_threshold_ms. */
  readonly p99Ms: number;
  /**
   * Fewer requests than this in the interval: the error rate and p99 are not judged (a handful of
   * requests says nothing; 1 error in 3 requests is not a 33 % error rate worth a rollback).
   */
  readonly minRequests: number;
  /** An error rate at or above this multiple of the threshold is critical. */
  readonly criticalFactor: number;
  /** What an interval without data means: a failed round, or nothing. */
  readonly noData: 'fail' | 'ignore';
}

/** What the thresholds found in one interval. */
export interface LiveMetricsCheck {
  readonly ok: boolean;
  /** An error rate far beyond the threshold: roll back now. */
  readonly critical: boolean;
  readonly detail: string;
  readonly sample?: IntervalSample;
}

const pct = (v: number) => `${v.toFixed(v < 1 ? 2 : 1)} %`;

/** Runs the thresholds on one interval's sample (`undefined`: the provider returned none). */
export function checkLiveMetrics(
  sample: IntervalSample | undefined,
  rule: LiveMetricsRule,
): LiveMetricsCheck {
  const base = sample ? { sample } : {};
  if (!sample || sample.requests === null) {
    const detail = 'metrics: the provider returned no request count for the release this interval';
    return rule.noData === 'fail'
      ? { ok: false, critical: false, detail: `${detail} (no data fails the round)`, ...base }
      : { ok: true, critical: false, detail: `${detail} (ignored by config)`, ...base };
  }
  if (sample.requests < rule.minRequests) {
    return {
      ok: true,
      critical: false,
      detail: `metrics: ${sample.requests} requests this interval, fewer than the ${rule.minRequests} needed to judge error rate and p99; not judged`,
      ...base,
    };
  }
  const problems: string[] = [];
  const seen: string[] = [];
  let critical = false;
  if (sample.errors === null) {
    if (rule.noData === 'fail') problems.push('no 5xx count for the release');
  } else {
    const rate = sample.requests > 0 ? (sample.errors / sample.requests) * 100 : 0;
    const at = `error rate ${pct(rate)} (${sample.errors} of ${sample.requests})`;
    if (rate >= rule.errorRatePct * rule.criticalFactor) {
      critical = true;
      problems.push(`${at}, ${rule.criticalFactor}× the ${rule.errorRatePct} % threshold or more`);
    } else if (rate > rule.errorRatePct) problems.push(`${at} above the ${rule.errorRatePct} % threshold`);
    else seen.push(at);
  }
  if (sample.p99Ms === null) {
    if (rule.noData === 'fail') problems.push('no p99 latency for the release');
  } else if (sample.p99Ms > rule.p99Ms) {
    problems.push(`p99 ${Math.round(sample.p99Ms)} ms above the ${rule.p99Ms} ms threshold`);
  } else seen.push(`p99 ${Math.round(sample.p99Ms)} ms`);
  if (problems.length > 0) return { ok: false, critical, detail: `metrics: ${problems.join('; ')}`, ...base };
  return { ok: true, critical: false, detail: `metrics within thresholds: ${seen.join(', ')}`, ...base };
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
  const failed = !o.health.healthy || (o.metrics !== undefined && !o.metrics.ok);
  const next: MonitoringState = {
    round,
    rounds: state.rounds,
    consecutiveFailures: failed ? state.consecutiveFailures + 1 : 0,
    failedRounds: state.failedRounds + (failed ? 1 : 0),
  };
  const at = `monitoring round ${round} of ${state.rounds}`;
  const critical = criticalFailure(o) ?? (o.metrics?.critical ? o.metrics.detail : undefined);
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
      reason: `${at}: ${next.consecutiveFailures} consecutive failed rounds (rollback at ${failuresForRollback}): ${roundSummary(o)}`,
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
      ? `${at} failed (${next.consecutiveFailures} in a row, rollback at ${failuresForRollback}): ${roundSummary(o)}`
      : `${at} passed${o.metrics ? ` (${o.metrics.detail})` : ''}`,
  };
}

/** What failed in a round: the health check's summary and/or the metrics' finding. */
function roundSummary(o: RoundObservation): string {
  const parts: string[] = [];
  if (!o.health.healthy) parts.push(o.health.summary);
  if (o.metrics && !o.metrics.ok) parts.push(o.metrics.detail);
  return parts.join('; ') || o.health.summary;
}
