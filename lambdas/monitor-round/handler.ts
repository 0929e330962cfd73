/**
 * "Monitoring round": one round of post-deployment monitoring — the enhanced health check once,
 * judged with the rounds before it (lambdas/core/monitoring.ts). Returns the verdict and the
 * state the workflow carries to the next round; the workflow rolls back on `rollback`.
 */
import * as z from 'zod';
import { judgeRound, type RoundVerdict, startMonitoring } from '../core/monitoring.ts';
import { runHealthCheck } from '../health-check/run.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep } from '../shared/step.ts';

const stateSchema = z.object({
  round: z.number().int().nonnegative(),
  rounds: z.number().int().positive(),
  consecutiveFailures: z.number().int().nonnegative(),
  failedRounds: z.number().int().nonnegative(),
});

/** The monitor-round event: the state after the previous round, or none before the first. */
export const monitorRoundEventSchema = z.object({
  deployment: z.looseObject({ environment: z.string().min(1), deploymentId: z.string().min(1) }),
  monitoring: stateSchema.nullish(),
});

/** The monitor-round step. */
export const step = defineStep(
  'monitor-round',
  monitorRoundEventSchema,
  async ({ deployment, monitoring }, deps): Promise<RoundVerdict & { checkedAt: string }> => {
    const { apiUrl, healthCheck, thresholds, monitoring: m } = deps.config;
    deps.logger.appendKeys({ deploymentId: deployment.deploymentId });
    const state = monitoring ?? startMonitoring(thresholds.monitoring_duration_seconds, m.intervalSeconds);
    // Startup times were validated once, after the rollout; a round checks the API and its dependencies.
    const { health, responses } = await runHealthCheck({
      apiUrl,
      healthCheck,
      http: deps.http,
      now: () => deps.clock.now(),
    });
    const verdict = judgeRound(
      state,
      { health, responses, paths: healthCheck.endpoints.map((e) => e.path) },
      thresholds.consecutive_failures_for_rollback,
    );
    deps.logger.info(verdict.reason, { verdict: verdict.verdict, round: verdict.state.round });
    return { ...verdict, checkedAt: deps.clock.now().toISOString() };
  },
);

/** Lambda entry point: ports and config slice from lambdas/steps.ts. */
export const handler = lambdaHandler(step);
