/**
 * The `canary:` block of an environment in `config/environments.yaml` (issue 9): how the canary
 * judge compares a new release with its baseline. Pure zod, so the Lambda bundles and the CLI share
 * it. Defaults: the runbook's `canary-analysis.sh --duration 300`, Kayenta's judge (confidence
 * 0.98, tolerance 0.25, score thresholds 95 / 75), and evidence rules tuned by `npm run bench --
 * judge-sim` (bench/judge.ts) so an unchanged release is rolled back in under 1 % of trials and a
 * 2× error rate or +30 % p99 is caught in over 95 % at 100 req/s.
 */
import * as z from 'zod';

const fraction = (what: string) =>
  z.number().gt(0, `${what} must be above 0`).lt(1, `${what} must be below 1 (0.98 means 98%)`);

/** Effect size limits of one metric (Kayenta's `effectSize`). */
export const effectSizeSchema = z.strictObject({
  measure: z.enum(['meanRatio', 'cles']).default('meanRatio'),
  allowedIncrease: z.number().positive().optional(),
  allowedDecrease: z.number().positive().optional(),
  criticalIncrease: z.number().positive().optional(),
  criticalDecrease: z.number().positive().optional(),
});

/** Outlier removal of one metric (Kayenta's `outliers`). */
export const outlierSchema = z.strictObject({
  strategy: z.enum(['remove', 'keep']),
  outlierFactor: z.number().positive().default(3),
});

/** What the judge measures per interval, from the Metrics port's IntervalSample. */
export const CANARY_MEASUREMENTS = ['errorRate', 'p99Ms'] as const;

/** One judged metric. */
export const canaryMetricSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$/, 'must be 1-63 letters, digits, space, . _ -'),
  /** `errorRate`: errors/requests per interval in percent; `p99Ms`: the interval's p99 latency. */
  measurement: z.enum(CANARY_MEASUREMENTS),
  direction: z.enum(['increase', 'decrease', 'either']).default('increase'),
  critical: z.boolean().default(false),
  nanStrategy: z.enum(['remove', 'replace']).default('remove'),
  /** What no data means for this metric. @default the block's `nodata` */
  nodata: z.enum(['fail', 'ignore']).optional(),
  effectSize: effectSizeSchema.optional(),
  outliers: outlierSchema.optional(),
  group: z.string().min(1).max(63).optional(),
  weight: z.number().min(0).max(100).optional(),
  /** Shadow: classified and recorded, never deciding. */
  dryRun: z.boolean().default(false),
});
/** One judged metric, defaults applied. */
export type CanaryMetricConfig = z.infer<typeof canaryMetricSchema>;

/** The default metrics: the error rate (critical) and p99 latency, both judged on increase. */
export const DEFAULT_CANARY_METRICS = [
  { name: 'error-rate', measurement: 'errorRate', direction: 'increase', critical: true },
  { name: 'p99-latency', measurement: 'p99Ms', direction: 'increase' },
] as const;

/** The `canary:` block. */
export const canarySchema = z
  .strictObject({
    /** Length of the analysis (runbook: `canary-analysis.sh --duration 300`). */
    durationSeconds: z.number().int().min(30).max(86_400).default(300),
    /** One judgement per interval; also the step of the interval samples. */
    intervalSeconds: z.number().int().min(5).max(3600).default(30),
    /** A verdict needs at least this much analysis time. @default durationSeconds */
    minDurationSeconds: z.number().int().min(0).max(86_400).optional(),
    /**
     * A verdict needs at least this many canary requests; fewer is `inconclusive`. 1,000 because a
     * p99 needs 100 requests in an interval to mean more than the slowest request, over 10 intervals.
     */
    minRequests: z.number().int().min(0).default(1000),
    /** What no data for a metric means, unless the metric says: `fail`, or `ignore` (Kayenta's Nodata). */
    nodata: z.enum(['fail', 'ignore']).default('fail'),
    /** Shadow mode for the whole analysis: the verdict is recorded, never acted on. */
    dryRun: z.boolean().default(false),
    classifier: z
      .strictObject({
        confidence: fraction('classifier.confidence').default(0.98),
        tolerance: z.number().min(0).max(10).default(0.25),
        /** Interval roots: exact jump points, or R's/Kayenta's uniroot (tol 1e-4). */
        rootFinder: z.enum(['exact', 'uniroot']).default('exact'),
        /**
         * Before the last interval, a fail ends the analysis early only at this confidence
         * (Haybittle-Peto style), so judging every interval does not multiply false rollbacks.
         */
        earlyFailConfidence: fraction('classifier.earlyFailConfidence').default(0.999),
      })
      .prefault({}),
    thresholds: z
      .strictObject({
        pass: z.number().min(0).max(100).default(95),
        marginal: z.number().min(0).max(100).default(75),
      })
      .prefault({})
      .refine((t) => t.marginal <= t.pass, { message: 'marginal must not be above pass' }),
    /** The count test on errors/requests over the whole window. */
    errorCounts: z
      .strictObject({
        enabled: z.boolean().default(true),
        /** A significant increase fails only beyond this relative increase (0.25: 25 %). */
        allowedRelativeIncrease: z.number().min(0).max(100).default(0.25),
        /** A failure here fails the canary whatever the score. */
        critical: z.boolean().default(true),
      })
      .prefault({}),
    /** The seed's thresholds (deployment-thresholds.yaml) fail when breached this many intervals in a row. */
    thresholdIntervals: z.number().int().min(1).max(100).default(2),
    /** An interval counts for the thresholds only with at least this many requests. */
    minIntervalRequests: z.number().int().min(1).default(20),
    /**
     * An inconclusive analysis (too little evidence) holds the release and pages: an incident of
     * this priority opens and escalates, and a person decides (`guardian canary approve|reject`)
     * within `seconds`; no decision in time rolls the release back. 1800 s: the runbook's on-call
     * engineer stays available for 30 minutes after a deployment.
     */
    hold: z
      .strictObject({
        seconds: z.number().int().min(60).max(86_400).default(1800),
        priority: z.enum(['P1', 'P2', 'P3']).default('P2'),
      })
      .prefault({}),
    metrics: z
      .array(canaryMetricSchema)
      .min(1)
      .prefault(() => DEFAULT_CANARY_METRICS.map((m) => ({ ...m }))),
  })
  .superRefine((c, ctx) => {
    if (c.intervalSeconds > c.durationSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['intervalSeconds'],
        message: 'must not be longer than durationSeconds',
      });
    }
    const seen = new Set<string>();
    for (const [i, m] of c.metrics.entries()) {
      if (seen.has(m.name))
        ctx.addIssue({ code: 'custom', path: ['metrics', i, 'name'], message: `duplicate metric ${m.name}` });
      seen.add(m.name);
    }
  });

/** The `canary:` block, defaults applied. */
export type CanaryConfig = z.infer<typeof canarySchema>;
