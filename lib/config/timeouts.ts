/**
 * How long the guardian's steps and workflows may run, from an environment's config. Pure
 * arithmetic, shared by the config loader (which refuses a lock that expires before a Deploy
 * execution can end) and the constructs (which set these timeouts on the functions and state
 * machines), so the check and the synthesized stack compute the same numbers.
 */
import type { EnvironmentConfig } from './schema.ts';

/**
 * What the timeouts depend on: rollout deadline, health check and lock, and the post-deployment
 * monitoring (its duration from the thresholds file, its interval) where known.
 */
export type TimeoutInputs = Pick<EnvironmentConfig, 'rollout' | 'healthCheck' | 'lock'> &
  Partial<Pick<EnvironmentConfig, 'monitoring'>> & {
    /** The canary analysis (issue 9): its duration, interval and hold. */
    readonly canary?: {
      readonly durationSeconds: number;
      readonly intervalSeconds: number;
      readonly hold: { readonly seconds: number };
    };
    /** Where metrics come from: a scrape collects the baseline in real time before the rollout. */
    readonly metrics?: { readonly provider: string };
    readonly thresholds?: Pick<EnvironmentConfig['thresholds'], 'monitoring_duration_seconds'>;
    /** The pre-deployment backup (issue 10): its deadline, when there is a database. */
    readonly backup?: {
      readonly database: unknown;
      readonly deadlineSeconds: number;
      readonly pollIntervalSeconds: number;
    };
    /** Blue-green (issue 11) waits twice: for the preview, and for the promotion. */
    readonly platform?: string;
  };

/** Timeout of every step function except the health check: Kubernetes and DynamoDB calls are short. */
export const STEP_TIMEOUT_SECONDS = 30;
/** Headroom of the health check's invocation over its slowest endpoint: cold start, JSON checks. */
export const HEALTH_CHECK_MARGIN_SECONDS = 10;
/** Slack on top of a Rollback execution's rollout and health check: retries, cold starts, Wait rounding. */
export const ROLLBACK_MARGIN_SECONDS = 600;
/** Slack on top of rollout, health check and rollback: step retries, cold starts, Wait rounding. */
export const DEPLOY_MARGIN_SECONDS = 600;

/**
 * Timeout of one health-check invocation: one attempt calls every endpoint in parallel, each
 * bounded by `timeoutMs`; the state machine's Retry makes the further attempts.
 */
export function healthCheckStepSeconds(env: Pick<TimeoutInputs, 'healthCheck'>): number {
  return Math.ceil(env.healthCheck.timeoutMs / 1000) + HEALTH_CHECK_MARGIN_SECONDS;
}

/**
 * Longest the enhanced health check can take, retries included: each attempt is one invocation
 * (bounded by the function's timeout) followed by the Retry interval (at least 1 s).
 */
export function healthCheckBudgetSeconds(env: Pick<TimeoutInputs, 'healthCheck'>): number {
  const { attempts, intervalSeconds } = env.healthCheck;
  return attempts * (healthCheckStepSeconds(env) + Math.max(1, intervalSeconds));
}

/**
 * Longest post-deployment monitoring can take: each round waits the interval, then runs one
 * health-check invocation (bounded by its timeout). 0 when the inputs have no monitoring.
 */
export function monitoringBudgetSeconds(env: TimeoutInputs): number {
  const duration = env.thresholds?.monitoring_duration_seconds;
  const interval = env.monitoring?.intervalSeconds;
  if (duration === undefined || interval === undefined) return 0;
  const rounds = Math.max(1, Math.floor(duration / interval));
  return rounds * (interval + healthCheckStepSeconds(env));
}

/**
 * Longest the canary analysis can take: the baseline (one call, or a scrape per interval for the
 * analysis duration), a round per interval for the duration (each bounded by a step's timeout),
 * and the hold of an inconclusive analysis. 0 without a canary analysis.
 */
export function canaryBudgetSeconds(env: TimeoutInputs): number {
  const c = env.canary;
  if (!c) return 0;
  const rounds = Math.max(1, Math.floor(c.durationSeconds / c.intervalSeconds));
  const perRound = c.intervalSeconds + STEP_TIMEOUT_SECONDS;
  const baseline = env.metrics?.provider === 'scrape' ? (rounds + 1) * perRound : STEP_TIMEOUT_SECONDS;
  return baseline + (rounds + 1) * perRound + c.hold.seconds;
}

/**
 * Longest the pre-deployment backup can take: its deadline, the poll that notices it passed, and
 * the start call. 0 without a database.
 */
export function backupBudgetSeconds(env: TimeoutInputs): number {
  const b = env.backup;
  if (!b || b.database === 'none') return 0;
  return b.deadlineSeconds + b.pollIntervalSeconds + 2 * STEP_TIMEOUT_SECONDS;
}

/** Longest a Rollback execution may run: its rollout deadline, health check, and slack. */
export function rollbackTimeoutSeconds(env: TimeoutInputs): number {
  return env.rollout.deadlineSeconds + healthCheckBudgetSeconds(env) + ROLLBACK_MARGIN_SECONDS;
}

/**
 * Longest a Deploy execution may run: the rollout deadline, the health-check budget and
 * post-deployment monitoring, then a full Rollback execution, plus slack for retries and cold starts.
 */
export function deployTimeoutSeconds(
  env: TimeoutInputs,
  rollbackSeconds: number = rollbackTimeoutSeconds(env),
): number {
  // Blue-green: the preview's wait and health check, then the promotion's; its canary analysis has
  // no baseline phase before the rollout (stable is measured beside the preview), which the
  // canary budget still counts: a little slack.
  const rollouts = env.platform === 'argo-rollouts' ? 2 : 1;
  return (
    backupBudgetSeconds(env) +
    rollouts * (env.rollout.deadlineSeconds + healthCheckBudgetSeconds(env)) +
    canaryBudgetSeconds(env) +
    monitoringBudgetSeconds(env) +
    rollbackSeconds +
    DEPLOY_MARGIN_SECONDS
  );
}

/**
 * Why the environment lock would expire while a Deploy execution may still run (a second
 * deployment could then start while the first rolls back), or undefined when it outlasts one.
 */
export function lockTtlProblem(
  env: TimeoutInputs,
  rollbackSeconds: number = rollbackTimeoutSeconds(env),
): string | undefined {
  const needed = deployTimeoutSeconds(env, rollbackSeconds);
  if (env.lock.ttlSeconds >= needed) return undefined;
  return (
    `the lock expires after ${env.lock.ttlSeconds} s, but a Deploy execution may run ${needed} s = ` +
    (backupBudgetSeconds(env) ? `backup ${backupBudgetSeconds(env)} + ` : '') +
    `rollout.deadlineSeconds ${env.rollout.deadlineSeconds} + health check ${healthCheckBudgetSeconds(env)} + ` +
    (env.canary ? `canary analysis ${canaryBudgetSeconds(env)} (its hold included) + ` : '') +
    `monitoring ${monitoringBudgetSeconds(env)} + ` +
    `rollback ${rollbackSeconds} + margin ${DEPLOY_MARGIN_SECONDS}; set lock.ttlSeconds to at least ${needed} ` +
    '(or shorten the backup deadline, the rollout deadline, the health check, the canary analysis or the monitoring)'
  );
}
