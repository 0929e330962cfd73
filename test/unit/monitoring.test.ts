/** Post-deployment monitoring rounds (deployment-monitor.sh monitor): when they roll back, when they end. */
import { describe, expect, it } from 'vitest';
import { evaluateHealth, type HealthEndpoint, type HealthResponse } from '../../lambdas/core/health.ts';
import {
  checkLiveMetrics,
  judgeRound,
  type MonitoringState,
  startMonitoring,
} from '../../lambdas/core/monitoring.ts';

const endpoints: HealthEndpoint[] = [
  { path: '/health', expectStatus: 200, expectJson: { status: 'ok' } },
  { path: '/ready', expectStatus: 200 },
];
const ok: HealthResponse = { status: 200, body: '{"status":"ok"}', elapsedMs: 5 };
const observe = (...responses: (HealthResponse | undefined)[]) => ({
  health: evaluateHealth(endpoints, responses),
  responses,
  paths: endpoints.map((e) => e.path),
});
const healthy = () => observe(ok, { status: 200, body: '{}', elapsedMs: 3 });
const degraded = () => observe({ status: 200, body: '{"status":"degraded"}', elapsedMs: 5 }, ok);

function run(state: MonitoringState, rounds: ReturnType<typeof observe>[], threshold = 2) {
  const verdicts = [];
  let s = state;
  for (const r of rounds) {
    const v = judgeRound(s, r, threshold);
    verdicts.push(v);
    s = v.state;
    if (v.verdict !== 'continue') break;
  }
  return verdicts;
}

describe('startMonitoring', () => {
  it('runs the runbook’s 600 s at 30 s as 20 rounds', () => {
    expect(startMonitoring(600, 30)).toEqual({
      round: 0,
      rounds: 20,
      consecutiveFailures: 0,
      failedRounds: 0,
    });
  });
  it('runs at least one round, even for a duration shorter than the interval', () => {
    expect(startMonitoring(10, 30).rounds).toBe(1);
    expect(startMonitoring(0, 30).rounds).toBe(1);
  });
  it('refuses an interval that is not positive', () => {
    expect(() => startMonitoring(300, 0)).toThrow(/interval/);
  });
});

describe('judgeRound', () => {
  it('completes after the last round when every round passed', () => {
    const v = run(startMonitoring(90, 30), [healthy(), healthy(), healthy()]);
    expect(v.map((x) => x.verdict)).toEqual(['continue', 'continue', 'complete']);
    expect(v.at(-1)?.reason).toMatch(/3 rounds, 0 failed/);
  });

  it('rolls back at the configured number of consecutive failed rounds, not before', () => {
    const v = run(startMonitoring(300, 30), [degraded(), degraded()], 2);
    expect(v.map((x) => x.verdict)).toEqual(['continue', 'rollback']);
    expect(v[1]?.reason).toMatch(/monitoring round 2 of 10: 2 consecutive failed rounds \(rollback at 2\)/);
  });

  it('resets the streak on a passing round, so failures that are not consecutive never roll back', () => {
    const v = run(startMonitoring(150, 30), [degraded(), healthy(), degraded(), healthy(), degraded()], 2);
    expect(v.map((x) => x.verdict)).toEqual(['continue', 'continue', 'continue', 'continue', 'complete']);
    expect(v.at(-1)?.state.failedRounds).toBe(3);
  });

  it('rolls back at once on a 5xx, whatever the streak', () => {
    const v = run(startMonitoring(300, 30), [observe({ status: 503, body: '', elapsedMs: 1 }, ok)], 5);
    expect(v[0]?.verdict).toBe('rollback');
    expect(v[0]?.reason).toMatch(/GET \/health answered 503, a critical failure/);
  });

  it('counts an endpoint that did not answer as a failed round, not a critical one', () => {
    const v = run(startMonitoring(300, 30), [observe(undefined, ok)], 2);
    expect(v[0]?.verdict).toBe('continue');
    expect(v[0]?.state.consecutiveFailures).toBe(1);
  });

  it('a failed last round completes if the streak stays under the threshold', () => {
    const v = run(startMonitoring(60, 30), [healthy(), degraded()], 2);
    expect(v.map((x) => x.verdict)).toEqual(['continue', 'complete']);
  });

  it('with a threshold of 1, the first failed round rolls back', () => {
    expect(run(startMonitoring(300, 30), [degraded()], 1)[0]?.verdict).toBe('rollback');
  });
});

describe('live metrics in monitoring rounds (issue 9)', () => {
  const rule = { errorRatePct: 5, p99Ms: 1500, minRequests: 50, criticalFactor: 2, noData: 'fail' as const };
  const sample = (requests: number | null, errors: number | null, p99Ms: number | null) => ({
    start: '2026-12-03T00:00:00.000Z',
    end: '2026-12-03T00:00:30.000Z',
    requests,
    errors,
    p99Ms,
  });

  it('passes an interval within both thresholds and says what it saw', () => {
    const c = checkLiveMetrics(sample(3000, 30, 420), rule);
    expect(c).toMatchObject({ ok: true, critical: false });
    expect(c.detail).toContain('error rate 1.0 %');
    expect(c.detail).toContain('p99 420 ms');
  });
  it('fails an interval above the error-rate threshold without rolling back at once', () => {
    const c = checkLiveMetrics(sample(1000, 70, 300), rule);
    expect(c).toMatchObject({ ok: false, critical: false });
    expect(c.detail).toContain('error rate 7.0 % (70 of 1000) above the 5 % threshold');
  });
  it('makes an error rate at twice the threshold critical', () => {
    const c = checkLiveMetrics(sample(1000, 100, 300), rule);
    expect(c).toMatchObject({ ok: false, critical: true });
  });
  it('fails an interval whose p99 is above the latency threshold', () => {
    const c = checkLiveMetrics(sample(1000, 0, 1800), rule);
    expect(c).toMatchObject({ ok: false, critical: false });
    expect(c.detail).toContain('p99 1800 ms above the 1500 ms threshold');
  });
  it('does not judge an interval with too few requests: 2 errors in 3 requests is no 67 % error rate', () => {
    const c = checkLiveMetrics(sample(3, 2, 2500), rule);
    expect(c).toMatchObject({ ok: true, critical: false });
    expect(c.detail).toContain('fewer than the 50 needed');
  });
  it('fails an interval without data by default, and ignores it when config says so', () => {
    expect(checkLiveMetrics(undefined, rule).ok).toBe(false);
    expect(checkLiveMetrics(sample(null, null, null), rule).ok).toBe(false);
    expect(checkLiveMetrics(sample(null, null, null), { ...rule, noData: 'ignore' }).ok).toBe(true);
    expect(checkLiveMetrics(sample(1000, null, 300), rule).detail).toContain('no 5xx count');
  });

  it('rolls back after N consecutive rounds over a threshold while health stays green', () => {
    const over = { ...healthy(), metrics: checkLiveMetrics(sample(1000, 70, 300), rule) };
    const verdicts = run(startMonitoring(600, 30), [over, over, over]);
    expect(verdicts.map((v) => v.verdict)).toEqual(['continue', 'rollback']);
    expect(verdicts[1]?.reason).toContain('2 consecutive failed rounds');
    expect(verdicts[1]?.reason).toContain('error rate 7.0 %');
  });
  it('rolls back at once when the error rate is far beyond the threshold', () => {
    const far = { ...healthy(), metrics: checkLiveMetrics(sample(1000, 400, 300), rule) };
    const [v] = run(startMonitoring(600, 30), [far]);
    expect(v?.verdict).toBe('rollback');
    expect(v?.reason).toContain('rolling back at once');
    expect(v?.reason).toContain('error rate 40.0 %');
  });
  it('forgives a single breach between good rounds: one sample never rolls back', () => {
    const over = { ...healthy(), metrics: checkLiveMetrics(sample(1000, 70, 300), rule) };
    const fine = { ...healthy(), metrics: checkLiveMetrics(sample(1000, 5, 300), rule) };
    const verdicts = run(startMonitoring(120, 30), [over, fine, over, fine]);
    expect(verdicts.map((v) => v.verdict)).toEqual(['continue', 'continue', 'continue', 'complete']);
    expect(verdicts.at(-1)?.state.failedRounds).toBe(2);
  });
});
