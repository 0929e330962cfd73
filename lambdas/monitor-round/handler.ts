/**
 * "Monitoring round": one round of post-deployment monitoring — the enhanced health check once
 * and the seed's thresholds on the release's live metrics (its last interval), judged with the
 * rounds before it (lambdas/core/monitoring.ts). Returns the verdict and the state the workflow
 * carries to the next round; the workflow rolls back on `rollback`.
 */
import * as z from 'zod';
import { releaseOf } from '../core/canary-phase.ts';
import type { CounterSnapshot, IntervalSample } from '../core/measurements.ts';
import {
  counterSnapshotJsonSchema,
  sampleBetween,
  snapshotFromJson,
  snapshotToJson,
} from '../core/measurements.ts';
import {
  checkLiveMetrics,
  judgeRound,
  type LiveMetricsCheck,
  type RoundVerdict,
  startMonitoring,
} from '../core/monitoring.ts';
import { runHealthCheck } from '../health-check/run.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep } from '../shared/step.ts';

const stateSchema = z.object({
  round: z.number().int().nonnegative(),
  rounds: z.number().int().positive(),
  consecutiveFailures: z.number().int().nonnegative(),
  failedRounds: z.number().int().nonnegative(),
  /** A scrape provider's counters at the previous round (the next sample is the difference). */
  snapshot: counterSnapshotJsonSchema.optional(),
});

/** The monitor-round event: the state after the previous round, or none before the first. */
export const monitorRoundEventSchema = z.object({
  deployment: z.looseObject({
    environment: z.string().min(1),
    deploymentId: z.string().min(1),
    image: z.string().min(1),
    version: z.string().optional(),
  }),
  monitoring: stateSchema.nullish(),
});

/** The monitor-round step. */
export const step = defineStep(
  'monitor-round',
  monitorRoundEventSchema,
  async ({ deployment, monitoring }, deps): Promise<RoundVerdict & { checkedAt: string }> => {
    const { apiUrl, healthCheck, thresholds, monitoring: m } = deps.config;
    deps.logger.appendKeys({ deploymentId: deployment.deploymentId });
    const now = deps.clock.now();
    const state = monitoring
      ? { ...monitoring, snapshot: undefined }
      : startMonitoring(thresholds.monitoring_duration_seconds, m.intervalSeconds);
    const release = releaseOf(deployment.image, deployment.version);
    const readMetrics = async (): Promise<{ check?: LiveMetricsCheck; snapshot?: CounterSnapshot }> => {
      const rule = {
        errorRatePct: thresholds.error_rate_threshold,
        p99Ms: thresholds.latency_p99_threshold_ms,
        minRequests: m.minRequests,
        criticalFactor: m.criticalErrorRateFactor,
        noData: m.noData,
      };
      try {
        if (deps.measurements.kind === 'scrape') {
          const snapshot = await deps.measurements.scrape(release);
          // The first round only starts the counters: there is no interval to judge yet.
          const before = monitoring?.snapshot ? snapshotFromJson(monitoring.snapshot) : undefined;
          return before
            ? { check: checkLiveMetrics(sampleBetween(before, snapshot), rule), snapshot }
            : { snapshot };
        }
        const start = new Date(now.getTime() - m.intervalSeconds * 1000);
        const samples: IntervalSample[] = await deps.measurements.samples({
          release,
          start,
          end: now,
          stepSeconds: m.intervalSeconds,
        });
        return { check: checkLiveMetrics(samples.at(-1), rule) };
      } catch (err) {
        // A provider that cannot answer fails the round like missing data does (N in a row roll back).
        const detail = `metrics: the provider could not be read (${(err as Error).message})`;
        return {
          check:
            m.noData === 'fail'
              ? { ok: false, critical: false, detail }
              : { ok: true, critical: false, detail: `${detail}; ignored by config` },
        };
      }
    };
    // Startup times were validated once, after the rollout; a round checks the API and its dependencies.
    const [{ health, responses }, live] = await Promise.all([
      runHealthCheck({ apiUrl, healthCheck, http: deps.http, now: () => deps.clock.now() }),
      readMetrics(),
    ]);
    const verdict = judgeRound(
      state,
      {
        health,
        responses,
        paths: healthCheck.endpoints.map((e) => e.path),
        ...(live.check && { metrics: live.check }),
      },
      thresholds.consecutive_failures_for_rollback,
    );
    deps.logger.info(verdict.reason, { verdict: verdict.verdict, round: verdict.state.round });
    const next = live.snapshot
      ? { ...verdict.state, snapshot: snapshotToJson(live.snapshot) }
      : verdict.state;
    return { ...verdict, state: next as RoundVerdict['state'], checkedAt: now.toISOString() };
  },
);

/** Lambda entry point: ports and config slice from lambdas/steps.ts. */
export const handler = lambdaHandler(step);
