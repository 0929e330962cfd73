/**
 * "Capture metrics baseline" and "Canary round" (issue 9, the runbook's `canary-analysis.sh
 * --duration 300`). Baseline: the release serving now, over the analysis window before the
 * rollout (one call with a provider that keeps history; one scrape per interval with a direct
 * scrape). Canary: the new release's metrics since the analysis started, judged against the
 * baseline every interval (lambdas/core/judge); the verdict and every metric's classification go
 * on the deployment record each round, so `guardian status` shows why. An inconclusive analysis
 * opens an incident and starts its escalation: the workflow then holds the release for a person.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import * as z from 'zod';
import {
  addScrape,
  bounded,
  canaryRecordOf,
  effectiveOutcome,
  explainVerdict,
  inconclusiveIncident,
  type PhaseState,
  releaseOf,
  roundsOf,
} from '../core/canary-phase.ts';
import { ConflictError } from '../core/errors.ts';
import { openIncident } from '../core/escalation.ts';
import { analyseCanary, seedLimits } from '../core/judge/canary.ts';
import {
  counterSnapshotJsonSchema,
  type IntervalSample,
  type MetricsSource,
  type ReleaseSelector,
  snapshotFromJson,
  snapshotToJson,
} from '../core/measurements.ts';
import { deploymentContextSchema } from '../core/types.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep } from '../shared/step.ts';

const sampleSchema = z.object({
  start: z.string(),
  end: z.string(),
  requests: z.number().nullable(),
  errors: z.number().nullable(),
  p99Ms: z.number().nullable(),
});
const phaseStateSchema = z.object({
  startedAt: z.iso.datetime({ offset: true }),
  round: z.number().int().nonnegative(),
  rounds: z.number().int().positive(),
  samples: z.array(sampleSchema),
  snapshot: counterSnapshotJsonSchema.optional(),
});

/** The canary-round event: which phase, and the state after the previous call (none before the first). */
export const canaryRoundEventSchema = z.object({
  deployment: deploymentContextSchema,
  phase: z.enum(['baseline', 'canary']),
  canary: phaseStateSchema.nullish(),
  /** The baseline the canary is judged against (phase canary). */
  baseline: phaseStateSchema.nullish(),
  /**
   * `before` (default): the baseline was measured before the rollout. `concurrent` (blue-green,
   * issue 11): the preview is judged against stable measured over the same window, each round
   * reading both; the baseline state then travels with the result.
   */
  compare: z.enum(['before', 'concurrent']).optional(),
});

/** The phase state from the workflow's JSON (a snapshot's '+Inf' bucket back to Infinity). */
function fromJson(state: z.infer<typeof phaseStateSchema> | null | undefined): PhaseState | undefined {
  if (!state) return undefined;
  const { snapshot, ...rest } = state;
  return { ...rest, ...(snapshot && { snapshot: snapshotFromJson(snapshot) }) };
}
/** The phase state in the workflow's JSON. */
function toJson(state: PhaseState): unknown {
  return state.snapshot ? { ...state, snapshot: snapshotToJson(state.snapshot) } : state;
}

/** Reads one more round of `release` into `state`: the window so far (history) or one more scrape. */
async function readRound(
  metrics: MetricsSource,
  state: PhaseState,
  release: ReleaseSelector,
  now: Date,
  stepSeconds: number,
  service?: 'active' | 'preview',
): Promise<PhaseState> {
  if (metrics.kind === 'scrape') return addScrape(state, await metrics.scrape(release, service));
  const start = new Date(state.startedAt);
  const samples: IntervalSample[] =
    now.getTime() - start.getTime() >= stepSeconds * 1000
      ? await metrics.samples({ release, start, end: now, stepSeconds })
      : [];
  return { ...state, round: state.round + 1, samples: bounded(samples) };
}

/** The canary-round step. */
export const step = defineStep('canary-round', canaryRoundEventSchema, async (event, deps) => {
  const { config, clock, logger, measurements: metrics, store } = deps;
  const d = event.deployment;
  logger.appendKeys({ deploymentId: d.deploymentId });
  const canary = config.canary;
  if (!canary) throw new Error(`environment ${config.name} has no canary analysis configured`);
  const now = clock.now();
  const interval = canary.intervalSeconds;
  const rounds = roundsOf(canary.durationSeconds, interval);

  if (event.phase === 'baseline') {
    const release = releaseOf(d.rollbackPoint.image);
    if (metrics.kind === 'history') {
      // The window before this deployment started, read in one call.
      const end = new Date(d.startedAt);
      const start = new Date(end.getTime() - canary.durationSeconds * 1000);
      const samples = await metrics.samples({ release, start, end, stepSeconds: interval });
      const state: PhaseState = {
        startedAt: start.toISOString(),
        round: rounds,
        rounds,
        samples: bounded(samples),
      };
      const reason = `baseline: ${samples.length} intervals of ${release.version} before the deployment`;
      logger.info(reason);
      return { state: toJson(state), outcome: 'ready', reason };
    }
    const before = fromJson(event.canary) ?? {
      startedAt: now.toISOString(),
      round: 0,
      rounds: rounds + 1,
      samples: [],
    };
    const state = addScrape(before, await metrics.scrape(release));
    const ready = state.samples.length >= rounds;
    const reason = `baseline: ${state.samples.length} of ${rounds} intervals of ${release.version} scraped`;
    logger.info(reason);
    return { state: toJson(state), outcome: ready ? 'ready' : 'collecting', reason };
  }

  const concurrent = event.compare === 'concurrent';
  const release = releaseOf(d.image, d.version);
  const stable = releaseOf(d.rollbackPoint.image);
  const previous = fromJson(event.canary);
  if (!previous) {
    // The first call starts the window; a scrape provider takes its first counters (of both
    // sides, when stable is measured alongside).
    const start: PhaseState = { startedAt: now.toISOString(), round: 0, rounds, samples: [] };
    const scraped = metrics.kind === 'scrape';
    const state = scraped
      ? addScrape(start, await metrics.scrape(release, concurrent ? 'preview' : undefined))
      : start;
    const reason = concurrent
      ? `canary analysis of preview ${release.version} against stable ${stable.version} started: ${rounds} rounds of ${interval} s`
      : `canary analysis of ${release.version} started: ${rounds} rounds of ${interval} s`;
    if (!concurrent) return { state: toJson({ ...state, round: 0 }), outcome: 'continue', reason };
    const base = scraped ? addScrape(start, await metrics.scrape(stable, 'active')) : start;
    return {
      state: toJson({ ...state, round: 0 }),
      baseline: toJson({ ...base, round: 0 }),
      outcome: 'continue',
      reason,
    };
  }
  const state = await readRound(
    metrics,
    previous,
    release,
    now,
    interval,
    concurrent ? 'preview' : undefined,
  );
  const baseline = concurrent
    ? await readRound(
        metrics,
        fromJson(event.baseline) ?? { startedAt: previous.startedAt, round: 0, rounds, samples: [] },
        stable,
        now,
        interval,
        'active',
      )
    : fromJson(event.baseline);
  const elapsedSeconds = (now.getTime() - new Date(state.startedAt).getTime()) / 1000;
  const verdict = analyseCanary(
    baseline?.samples ?? [],
    state.samples,
    {
      config: canary,
      limits: seedLimits(config.thresholds),
      // Blue-green: the preview serves no production traffic; a marginal interim score ends it.
      endEarly: concurrent ? 'marginal' : 'fail',
    },
    { elapsedSeconds, final: state.round >= rounds },
  );
  // A shadow analysis (`canary.dryRun`) is recorded as judged but never stops the release.
  const outcome = effectiveOutcome(verdict);
  logger.info(verdict.reason, {
    outcome: verdict.outcome,
    acted: outcome,
    round: state.round,
    score: verdict.score,
  });
  let incidentId: string | undefined;
  if (outcome === 'inconclusive') {
    const planned = inconclusiveIncident(
      config.name,
      d,
      verdict.reason,
      canary.hold.priority,
      canary.hold.seconds,
    );
    incidentId = planned.id;
    await store.putIncident(openIncident(planned.incident, planned.id, now));
    await deps.workflows.start('escalation', planned.id, { incidentId: planned.id });
    deps.metrics.addMetric('CanaryInconclusive', MetricUnit.Count, 1);
  }
  if (outcome === 'fail' || outcome === 'marginal')
    deps.metrics.addMetric('CanaryFailed', MetricUnit.Count, 1);
  try {
    await store.updateRecord(
      config.name,
      d.deploymentId,
      {
        canary: canaryRecordOf(verdict, {
          round: state.round,
          rounds,
          at: now.toISOString(),
          baseline: baseline?.samples ?? [],
          canary: state.samples,
          baselineVersion: stable.version,
          ...(incidentId && { incidentId }),
        }),
      },
      { status: ['in-progress'] },
    );
  } catch (err) {
    // The record left in-progress (an alarm rolled it back meanwhile): the verdict no longer matters.
    if (!(err instanceof ConflictError)) throw err;
    logger.warn('the deployment record is no longer in progress; the canary verdict was not recorded');
  }
  return {
    state: toJson(state),
    ...(concurrent && baseline && { baseline: toJson(baseline) }),
    outcome,
    reason: outcome === 'fail' || outcome === 'marginal' ? explainVerdict(verdict) : verdict.reason,
    ...(verdict.score !== undefined && { score: verdict.score }),
    ...(incidentId && { incidentId }),
  };
});

/** Lambda entry point: ports and config slice from lambdas/steps.ts. */
export const handler = lambdaHandler(step);
