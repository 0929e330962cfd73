/**
 * The canary analysis's bookkeeping between rounds (lambdas/core/canary-phase.ts): which release a
 * round reads, how scrapes become samples, what a shadow analysis acts on, the incident an
 * inconclusive analysis opens, and what the deployment record and a rollback's reason say.
 * Verdicts come from the real judge on deterministic samples.
 */
import { describe, expect, it } from 'vitest';
import {
  addScrape,
  CANARY_INCONCLUSIVE,
  canaryRecordOf,
  effectiveOutcome,
  explainVerdict,
  inconclusiveIncident,
  type PhaseState,
  RECORD_SAMPLES,
  releaseOf,
  roundsOf,
} from '../../lambdas/core/canary-phase.ts';
import { analyseCanary, type CanaryVerdict, seedLimits } from '../../lambdas/core/judge/canary.ts';
import type { CounterSnapshot, IntervalSample } from '../../lambdas/core/measurements.ts';
import { canarySchema } from '../../lib/config/canary-schema.ts';

const T0 = Date.UTC(2026, 11, 3, 10, 0, 0);
const REPO = 'ghcr.io/buywhere/buywhere-api';
const DIGEST = `sha256:${'ab'.repeat(32)}`;

/** `n` 30 s intervals of `requests` requests, about `rate` of them 5xx, p99 about `p99` ms. */
function samples(n: number, opts: { requests?: number; rate?: number; p99?: number } = {}): IntervalSample[] {
  const requests = opts.requests ?? 3000;
  return Array.from({ length: n }, (_, i) => {
    const wobble = ((i * 7) % 10) / 10 - 0.45;
    return {
      start: new Date(T0 + i * 30_000).toISOString(),
      end: new Date(T0 + (i + 1) * 30_000).toISOString(),
      requests,
      errors: Math.round(requests * (opts.rate ?? 0.01) * (1 + 0.2 * wobble)),
      p99Ms: (opts.p99 ?? 300) * (1 + 0.03 * wobble),
    };
  });
}

function verdict(
  baseline: readonly IntervalSample[],
  canary: readonly IntervalSample[],
  config: Record<string, unknown> = {},
): CanaryVerdict {
  return analyseCanary(
    baseline,
    canary,
    {
      config: canarySchema.parse({ durationSeconds: 300, ...config }),
      limits: seedLimits({ error_rate_threshold: 5, latency_p99_threshold_ms: 1500 }),
    },
    { elapsedSeconds: 300, final: true },
  );
}

function snapshot(at: number, requests: number, errors: number, fast: number): CounterSnapshot {
  return {
    at: new Date(T0 + at * 1000).toISOString(),
    requests,
    errors,
    buckets: [
      { le: 0.1, count: fast },
      { le: 0.5, count: requests },
      { le: Number.POSITIVE_INFINITY, count: requests },
    ],
  };
}

const deployment = {
  deploymentId: 'staging-v1-6-0-0000abcd',
  executionArn:
    'arn:aws:states:ap-southeast-1:123456789012:execution:guardian-staging-deploy:staging-v1-6-0-0000abcd',
  image: `${REPO}:v1.6.0`,
  version: 'v1.6.0',
  startedAt: '2026-12-03T10:00:00.000Z',
};

describe('releaseOf', () => {
  it('selects a release by its image tag', () => {
    expect(releaseOf(`${REPO}:v1.6.0`)).toEqual({ version: 'v1.6.0', image: `${REPO}:v1.6.0` });
  });

  it('selects a digest-only image by its digest', () => {
    expect(releaseOf(`${REPO}@${DIGEST}`).version).toBe(DIGEST);
  });

  it('prefers the version the deployment names over the tag', () => {
    expect(releaseOf(`${REPO}:latest`, 'v1.6.0')).toEqual({ version: 'v1.6.0', image: `${REPO}:latest` });
    expect(releaseOf(`${REPO}@${DIGEST}`, 'v1.6.0').version).toBe('v1.6.0');
  });
});

describe('roundsOf', () => {
  it('counts whole intervals in the analysis', () => {
    expect(roundsOf(300, 30)).toBe(10);
    expect(roundsOf(180, 30)).toBe(6);
    expect(roundsOf(100, 30)).toBe(3);
  });

  it('runs at least one round when the interval is longer than the analysis', () => {
    expect(roundsOf(20, 30)).toBe(1);
  });
});

describe('addScrape', () => {
  const empty: PhaseState = { startedAt: new Date(T0).toISOString(), round: 0, rounds: 2, samples: [] };

  it('starts the counters with the first scrape and adds no sample', () => {
    const first = snapshot(0, 1000, 10, 900);
    const next = addScrape(empty, first);
    expect(next.samples).toEqual([]);
    expect(next.snapshot).toEqual(first);
    expect(next.round).toBe(1);
  });

  it('adds the interval between two scrapes as a sample', () => {
    const started = addScrape(empty, snapshot(0, 1000, 10, 900));
    const next = addScrape(started, snapshot(30, 1600, 16, 1000));
    expect(next.round).toBe(2);
    expect(next.samples).toHaveLength(1);
    const [s] = next.samples;
    expect(s).toMatchObject({
      start: new Date(T0).toISOString(),
      end: new Date(T0 + 30_000).toISOString(),
      requests: 600,
      errors: 6,
    });
    // 100 of the 600 under 100 ms, the rest under 500 ms: the p99 falls in the second bucket.
    expect(s?.p99Ms).toBeGreaterThan(100);
    expect(s?.p99Ms).toBeLessThanOrEqual(500);
    expect(next.snapshot?.requests).toBe(1600);
    // The state it came from is unchanged (the workflow may retry a round with it).
    expect(started.samples).toEqual([]);
  });
});

describe('effectiveOutcome', () => {
  it('acts on the verdict of an analysis that is not in shadow', () => {
    for (const outcome of ['pass', 'fail', 'marginal', 'inconclusive', 'continue'] as const) {
      expect(effectiveOutcome({ outcome, dryRun: false, final: true })).toBe(outcome);
    }
  });

  it('never stops a release in shadow: it continues to the end and then passes it on', () => {
    expect(effectiveOutcome({ outcome: 'fail', dryRun: true, final: false })).toBe('continue');
    expect(effectiveOutcome({ outcome: 'fail', dryRun: true, final: true })).toBe('pass');
    expect(effectiveOutcome({ outcome: 'inconclusive', dryRun: true, final: true })).toBe('pass');
  });
});

describe('inconclusiveIncident', () => {
  it('opens one P2 incident per deployment whose summary names the decision to make', () => {
    const a = inconclusiveIncident('staging', deployment, 'too few requests', 'P2', 1800);
    const b = inconclusiveIncident('staging', deployment, 'a retried round, another reason', 'P2', 1800);
    expect(b.id).toBe(a.id);
    expect(a.id).toMatch(/^staging-20261203T100000Z-[0-9a-f]{8}$/);
    const other = inconclusiveIncident(
      'staging',
      { ...deployment, deploymentId: 'staging-v1-6-0-0000abce' },
      'too few requests',
      'P2',
      1800,
    );
    expect(other.id).not.toBe(a.id);
    expect(a.incident).toMatchObject({
      environment: 'staging',
      priority: 'P2',
      alarm: { name: CANARY_INCONCLUSIVE, severity: 'warning', reason: 'too few requests' },
      release: {
        image: deployment.image,
        version: 'v1.6.0',
        deploymentId: deployment.deploymentId,
        deploymentExecutionArn: deployment.executionArn,
      },
    });
    expect(a.incident.summary).toContain('guardian canary approve|reject --env staging');
    expect(a.incident.summary).toContain('within 30 min');
    expect(a.incident.summary).toContain('v1.6.0');
  });

  it('takes the configured priority', () => {
    expect(inconclusiveIncident('production', deployment, 'x', 'P1', 600).incident.priority).toBe('P1');
  });
});

describe('canaryRecordOf', () => {
  it('keeps every metric, the count test and the seed thresholds, and at most RECORD_SAMPLES of each side', () => {
    const many = samples(RECORD_SAMPLES + 30);
    const v = verdict(samples(10), samples(10));
    expect(v.outcome).toBe('pass');
    const record = canaryRecordOf(v, {
      round: 10,
      rounds: 10,
      at: '2026-12-03T10:05:00.000Z',
      baseline: many,
      canary: many,
      baselineVersion: 'v1.5.0',
    });
    expect(record).toMatchObject({ outcome: 'pass', round: 10, rounds: 10, at: '2026-12-03T10:05:00.000Z' });
    expect(record.metrics.map((m) => m.name)).toEqual([
      'error-rate',
      'p99-latency',
      'error-count',
      'seed-thresholds',
    ]);
    for (const m of record.metrics) {
      expect(m.classification).toBe('Pass');
      expect(m.reason.length).toBeGreaterThan(0);
    }
    // `critical` marks a metric whose failure failed the canary on its own: none here.
    expect(record.metrics.some((m) => m.critical)).toBe(false);
    expect(record.samples?.baselineVersion).toBe('v1.5.0');
    expect(record.samples?.baseline).toHaveLength(RECORD_SAMPLES);
    expect(record.samples?.canary).toHaveLength(RECORD_SAMPLES);
    // The newest are kept.
    expect(record.samples?.canary.at(-1)).toEqual(many.at(-1));
    expect(record.incidentId).toBeUndefined();
  });

  it('marks a breached seed threshold High and a shadow analysis as not acted on', () => {
    const v = verdict(samples(10), samples(10, { rate: 0.08 }), { dryRun: true });
    const record = canaryRecordOf(v, {
      round: 10,
      rounds: 10,
      at: 'x',
      baseline: [],
      canary: [],
      incidentId: 'i-1',
    });
    expect(record.outcome).toBe('fail');
    expect(record.reason).toContain('(shadow analysis: recorded, not acted on)');
    expect(record.metrics.find((m) => m.name === 'seed-thresholds')?.classification).toBe('High');
    expect(record.metrics.find((m) => m.name === 'error-count')?.classification).toBe('High');
    expect(record.incidentId).toBe('i-1');
  });
});

describe('explainVerdict', () => {
  it('names every deciding metric with its classification and reason', () => {
    const v = verdict(samples(10), samples(10, { rate: 0.04, p99: 600 }));
    expect(v.outcome).toBe('fail');
    const text = explainVerdict(v);
    expect(text).toMatch(/^canary analysis fail: /);
    expect(text).toContain('Per metric');
    for (const name of ['error-rate', 'p99-latency', 'error-count', 'seed-thresholds']) {
      expect(text).toMatch(new RegExp(`${name} (Pass|High|Low|Nodata|NodataFailMetric|Error): `));
    }
    expect(text).toContain('error-rate High');
    expect(text).toContain('p99-latency High');
  });

  it('leaves out metrics that run in shadow', () => {
    const v = verdict(samples(10), samples(10, { rate: 0.04 }), {
      metrics: [
        { name: 'error-rate', measurement: 'errorRate', critical: true },
        { name: 'p99-shadow', measurement: 'p99Ms', dryRun: true },
      ],
    });
    const text = explainVerdict(v);
    expect(text).toContain('error-rate');
    expect(text).not.toContain('p99-shadow');
  });
});
