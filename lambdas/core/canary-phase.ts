/**
 * The canary analysis as a workflow phase (issue 9): the state the Deploy workflow carries from
 * round to round, the windows and releases each round reads, and the incident an inconclusive
 * analysis opens. Pure: the canary-round step reads the metrics and the judge decides
 * (lambdas/core/judge/canary.ts); this keeps the bookkeeping between them.
 */
import { fnv1a } from './alarm-decision.ts';
import { incidentId, type NewIncident } from './escalation.ts';
import { splitImageReference } from './image.ts';
import type { CanaryVerdict } from './judge/canary.ts';
import type { CounterSnapshot, IntervalSample, ReleaseSelector } from './measurements.ts';
import { sampleBetween } from './measurements.ts';
import { shorten } from './text.ts';
import type { CanaryRecord } from './types.ts';

/** The samples gathered so far of one side (baseline or canary), carried by the workflow. */
export interface PhaseState {
  /** When this side's window started (ISO 8601). */
  readonly startedAt: string;
  /** Rounds done (the first call starts the window and judges nothing). */
  readonly round: number;
  /** Rounds in the window: duration ÷ interval. */
  readonly rounds: number;
  readonly samples: readonly IntervalSample[];
  /** A scrape provider's last counters (the next sample is the difference). */
  readonly snapshot?: CounterSnapshot;
}

/** Rounds in an analysis of `durationSeconds` judged every `intervalSeconds` (at least one). */
export function roundsOf(durationSeconds: number, intervalSeconds: number): number {
  return Math.max(1, Math.floor(durationSeconds / intervalSeconds));
}

/**
 * The release an image reference names, as metric queries select it: the deployment's version
 * when given, else the image's tag (a digest-only reference is selected by its digest).
 */
export function releaseOf(image: string, version?: string): ReleaseSelector {
  const parts = splitImageReference(image);
  return { version: version ?? parts.tag ?? parts.digest ?? image, image };
}

/**
 * The next state of a scrape-based side: the first scrape only starts the counters; each later
 * one adds the interval since the previous scrape as a sample.
 */
export function addScrape(state: PhaseState, snapshot: CounterSnapshot): PhaseState {
  const samples = state.snapshot
    ? [...state.samples, sampleBetween(state.snapshot, snapshot)]
    : state.samples;
  return { ...state, round: state.round + 1, samples, snapshot };
}

/** At most this many samples are kept per side: 10 hours of 30 s intervals fits a record and a state. */
export const MAX_SAMPLES = 1200;

/** Keeps the newest {@link MAX_SAMPLES} samples. */
export function bounded(samples: readonly IntervalSample[]): IntervalSample[] {
  return samples.length > MAX_SAMPLES ? samples.slice(-MAX_SAMPLES) : [...samples];
}

/** The name an inconclusive analysis's incident carries as its "alarm". */
export const CANARY_INCONCLUSIVE = 'CanaryInconclusive';

/**
 * The incident an inconclusive analysis opens: the release is held, and someone must decide. One
 * per deployment (the id hashes it), so a retried round opens it once.
 */
export function inconclusiveIncident(
  environment: string,
  deployment: {
    readonly deploymentId: string;
    readonly executionArn: string;
    readonly image: string;
    readonly version?: string | undefined;
    readonly startedAt: string;
  },
  reason: string,
  priority: NewIncident['priority'],
  holdSeconds: number,
): { readonly id: string; readonly incident: NewIncident } {
  const id = incidentId(
    environment,
    new Date(deployment.startedAt),
    fnv1a(`canary-inconclusive\0${deployment.deploymentId}`),
  );
  const minutes = Math.round(holdSeconds / 60);
  return {
    id,
    incident: {
      environment,
      priority,
      summary: shorten(
        `Canary analysis of ${deployment.version ?? deployment.image} in ${environment} is inconclusive: the release is held; decide within ${minutes} min (guardian canary approve|reject --env ${environment}) or it rolls back`,
        300,
      ),
      alarm: { name: CANARY_INCONCLUSIVE, severity: 'warning', reason: shorten(reason, 600) },
      release: {
        image: deployment.image,
        ...(deployment.version && { version: deployment.version }),
        deploymentId: deployment.deploymentId,
        deploymentExecutionArn: deployment.executionArn,
      },
    },
  };
}

/** The most samples of each side a record keeps (an hour of 30 s intervals). */
export const RECORD_SAMPLES = 120;

/**
 * What the workflow acts on: the verdict, except that a shadow analysis (`canary.dryRun`) never
 * stops a release — it runs to its end and passes on, its real verdict kept on the record.
 */
export function effectiveOutcome(
  v: Pick<CanaryVerdict, 'outcome' | 'dryRun' | 'final'>,
): CanaryRecord['outcome'] {
  if (!v.dryRun) return v.outcome;
  return v.final ? 'pass' : 'continue';
}

/** The record's view of a verdict: outcome, score, every metric's classification and reason, the samples. */
export function canaryRecordOf(
  v: CanaryVerdict,
  meta: {
    readonly round: number;
    readonly rounds: number;
    readonly at: string;
    readonly baseline: readonly IntervalSample[];
    readonly canary: readonly IntervalSample[];
    readonly baselineVersion?: string;
    readonly incidentId?: string;
  },
): CanaryRecord {
  return {
    outcome: v.outcome,
    score: v.score,
    reason: v.dryRun ? `${v.reason} (shadow analysis: recorded, not acted on)` : v.reason,
    round: meta.round,
    rounds: meta.rounds,
    at: meta.at,
    ...(meta.incidentId && { incidentId: meta.incidentId }),
    metrics: [
      ...v.metrics.map((m) => ({
        name: m.name,
        classification: m.classification,
        reason: m.reason,
        ...(m.critical && { critical: true }),
        ...(m.dryRun && { dryRun: true }),
        estimate: m.estimate ?? null,
        lowerCI: m.lowerCI ?? null,
        upperCI: m.upperCI ?? null,
        effectSize: m.effectSize ?? null,
      })),
      ...extraFindings(v),
    ],
    samples: {
      ...(meta.baselineVersion && { baselineVersion: meta.baselineVersion }),
      baseline: meta.baseline.slice(-RECORD_SAMPLES),
      canary: meta.canary.slice(-RECORD_SAMPLES),
    },
  };
}

/** The count test and the seed's thresholds as the record lists them beside the classified metrics. */
function extraFindings(v: CanaryVerdict): CanaryRecord['metrics'] {
  const out: CanaryRecord['metrics'][number][] = [];
  if (v.errorCounts && v.errorCounts.classification !== 'Nodata') {
    out.push({
      name: 'error-count',
      classification: v.errorCounts.classification,
      reason: v.errorCounts.reason,
    });
  }
  out.push({
    name: 'seed-thresholds',
    classification: v.thresholds.breached ? 'High' : 'Pass',
    reason: v.thresholds.reason,
  });
  return out;
}

/**
 * The sentence a failed analysis rolls back with: the verdict's reason, then every deciding
 * metric's classification and why, so the rollback's record explains itself.
 */
export function explainVerdict(v: CanaryVerdict): string {
  const lines = canaryRecordOf(v, { round: 0, rounds: 0, at: '', baseline: [], canary: [] })
    .metrics.filter((m) => !m.dryRun)
    .map((m) => `${m.name} ${m.classification}: ${m.reason}`);
  return shorten(`canary analysis ${v.outcome}: ${v.reason}. Per metric — ${lines.join('; ')}`, 2000);
}
