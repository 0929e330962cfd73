/**
 * The canary analysis of the Deploy workflow (issue 9) executed locally end to end: the
 * synthesized state machine, the real canary-round and monitor-round steps, dynalite, the cluster
 * simulator and the demo API whose simulated traffic the metrics are scraped from. Each test
 * derives its configuration from config/ with one change to staging, and asserts on the
 * execution's states, the cluster and the deployment record.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CANARY_INCONCLUSIVE } from '../../lambdas/core/canary-phase.ts';
import type { DeploymentRecord } from '../../lambdas/core/types.ts';
import { loadConfig } from '../../lib/config/load.ts';
import type { EnvironmentConfig, GuardianConfig } from '../../lib/config/schema.ts';
import type { LocalEvent, LocalExecutionResult } from '../../lib/local/executor.ts';
import { LocalGuardian } from '../../lib/local/guardian.ts';

const REPO = 'ghcr.io/buywhere/buywhere-api';
const STABLE = `${REPO}:v1.4.2`;
const HOLD = 'Hold for operator decision';
let guardian: LocalGuardian | undefined;

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };

/** The repository's config with staging changed by `edit` (a deep clone: other tests see the original). */
function stagingWith(edit: (staging: Mutable<EnvironmentConfig>) => void): GuardianConfig {
  const config = structuredClone(loadConfig()) as Mutable<GuardianConfig>;
  const staging = config.environments.staging;
  if (!staging) throw new Error('config/environments.yaml has no staging environment');
  edit(staging);
  return config as GuardianConfig;
}

async function start(
  config: GuardianConfig,
  onEvent?: (e: LocalEvent, g: LocalGuardian) => void,
): Promise<LocalGuardian> {
  let self: LocalGuardian | undefined;
  guardian = await LocalGuardian.start({
    config,
    seedImages: { staging: STABLE, production: STABLE },
    ...(onEvent && { onEvent: (e: LocalEvent) => self && onEvent(e, self) }),
  });
  self = guardian;
  return guardian;
}

afterEach(async () => {
  await guardian?.close();
  guardian = undefined;
});

const deployInput = (image: string) => ({
  environment: 'staging',
  image,
  trigger: 'ci',
  requestedBy: 'github-actions',
});

/** Names of the states entered, in order, for one execution. */
function statesOf(result: LocalExecutionResult, execution = result.name): string[] {
  return result.events
    .filter((e) => e.type === 'StateEntered' && e.execution === execution)
    .map((e) => e.state ?? '');
}

async function imageOf(g: LocalGuardian): Promise<string | undefined> {
  const e = g.environment('staging');
  return (await (await g.clusterPort()).getWorkload(e.namespace as string, e.workload)).images[e.container];
}

async function recordOf(g: LocalGuardian, id: string): Promise<DeploymentRecord> {
  const record = await g.store('staging').getRecord('staging', id);
  if (!record) throw new Error(`no record of ${id}`);
  return record;
}

/** The rollback record that undid deployment `id`. */
async function rollbackOf(g: LocalGuardian, id: string): Promise<DeploymentRecord | undefined> {
  return (await g.store('staging').listRecords('staging', 20)).find(
    (r) => r.kind === 'rollback' && r.deploymentId === id,
  );
}

const classificationOf = (record: DeploymentRecord, metric: string) =>
  record.canary?.metrics.find((m) => m.name === metric)?.classification;

/**
 * Starts a deploy whose canary analysis is inconclusive and returns once it waits in its hold,
 * with the simulated clock held there so that the hold lasts until the test decides.
 */
async function heldDeploy(
  name: string,
): Promise<{ g: LocalGuardian; run: Promise<LocalExecutionResult>; held: DeploymentRecord }> {
  const g = await start(
    stagingWith((s) => {
      if (s.canary) s.canary.minRequests = 1_000_000;
    }),
    (e, self) => {
      // Hold the clock as the hold begins: otherwise its 1800 s run out at once, as idle waits do.
      if (e.type === 'StateEntered' && e.state === HOLD && e.execution === name)
        void self.setAdvanceWhenIdle(false);
    },
  );
  const run = g.deploy(deployInput(`${REPO}:v1.5.0`), name);
  let ended = false;
  void run.finally(() => {
    ended = true;
  });
  for (;;) {
    const record = await g.store('staging').getRecord('staging', name);
    if (record?.signal?.phase === 'hold') return { g, run, held: record };
    if (ended) throw new Error(`the deploy ended without being held: ${JSON.stringify(await run)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('Canary analysis in the Deploy workflow (local execution of the synthesized state machine)', () => {
  it('promotes a healthy release that passes its canary analysis, every metric classified Pass', async () => {
    const g = await start(loadConfig());
    const name = 'staging-v1-5-0-0000c001';
    const result = await g.deploy(deployInput(`${REPO}:v1.5.0`), name);
    expect(result.status).toBe('SUCCEEDED');
    const states = statesOf(result);
    // Baseline before the rollout, the analysis between the health check and monitoring.
    const order = [
      'Capture metrics baseline',
      'Set image',
      'Enhanced health check',
      'Canary round',
      'Monitoring round',
      'Record deployment',
    ].map((s) => states.indexOf(s));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(states).not.toContain(HOLD);
    expect(states).not.toContain('Canary failed');
    expect(states.at(-1)).toBe('Deployment succeeded');
    expect(await imageOf(g)).toBe(`${REPO}:v1.5.0`);

    const record = await recordOf(g, name);
    expect(record.status).toBe('succeeded');
    const canary = record.canary;
    expect(canary?.outcome).toBe('pass');
    expect(canary?.round).toBe(canary?.rounds);
    for (const metric of ['error-rate', 'p99-latency', 'error-count']) {
      expect(classificationOf(record, metric), metric).toBe('Pass');
    }
    expect(classificationOf(record, 'seed-thresholds')).toBe('Pass');
    expect(canary?.samples?.baselineVersion).toBe('v1.4.2');
    const rounds = canary?.rounds ?? 0;
    expect(canary?.samples?.baseline).toHaveLength(rounds);
    expect(canary?.samples?.canary).toHaveLength(rounds);
    // Real traffic on both sides: 20 req/s for 30 s intervals, a few 5xx among them.
    for (const s of [...(canary?.samples?.baseline ?? []), ...(canary?.samples?.canary ?? [])]) {
      expect(s.requests).toBeGreaterThan(300);
      expect(s.p99Ms).toBeGreaterThan(0);
    }
    expect(await g.store('staging').listIncidents('staging', 10)).toEqual([]);
  });

  it('rolls back a release serving 4× the 5xx before monitoring starts, explaining every metric', async () => {
    const g = await start(loadConfig());
    const name = 'staging-v1-6-1-errors-0000c002';
    const result = await g.deploy(deployInput(`${REPO}:v1.6.1-errors`), name);
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('DeploymentRolledBack');
    const states = statesOf(result);
    // Healthy on /health: the health check passed and only the canary analysis caught it.
    expect(states).toContain('Canary round');
    expect(states).toContain('Canary failed');
    expect(states).not.toContain('Post-deployment monitoring');
    expect(states).not.toContain('Monitoring round');
    expect(
      result.events.some(
        (e) => e.type === 'StateFailed' && e.state === 'Enhanced health check' && e.execution === name,
      ),
    ).toBe(false);
    expect(result.cause).toContain('Per metric');
    expect(await imageOf(g)).toBe(STABLE);

    const record = await recordOf(g, name);
    expect(record.status).toBe('rolled-back');
    expect(record.canary?.outcome).toBe('fail');
    const caught = ['error-rate', 'error-count'].filter((m) => classificationOf(record, m) === 'High');
    expect(caught.length).toBeGreaterThan(0);
    const rollback = await rollbackOf(g, name);
    expect(rollback).toMatchObject({ status: 'rolled-back', trigger: 'deploy-failure' });
    expect(rollback?.reason).toContain('Per metric');
    expect(rollback?.reason).toMatch(/error-(rate|count) High/);
    expect((await g.store('staging').getBreaker('staging')).consecutiveFailures).toBe(1);
  });

  it('rolls back a release whose p99 latency is 70 % higher, p99-latency classified High', async () => {
    const g = await start(loadConfig());
    const name = 'staging-v1-6-2-latency-0000c003';
    const result = await g.deploy(deployInput(`${REPO}:v1.6.2-latency`), name);
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('DeploymentRolledBack');
    expect(statesOf(result)).toContain('Canary failed');
    expect(statesOf(result)).not.toContain('Monitoring round');
    expect(result.cause).toMatch(/p99-latency High/);
    expect(await imageOf(g)).toBe(STABLE);
    const record = await recordOf(g, name);
    expect(record.status).toBe('rolled-back');
    expect(record.canary?.outcome).toBe('fail');
    expect(classificationOf(record, 'p99-latency')).toBe('High');
    // The error rate did not change: only the latency decided.
    expect(classificationOf(record, 'error-rate')).toBe('Pass');
    expect((await rollbackOf(g, name))?.reason).toContain('p99-latency High');
  });

  describe('an inconclusive analysis (too few requests) holds the release and pages', () => {
    it('holds the release, opens a P2 CanaryInconclusive incident, and promotes it once an operator approves', async () => {
      const name = 'staging-v1-5-0-0000c004';
      const { g, run, held } = await heldDeploy(name);
      expect(held.status).toBe('in-progress');
      expect(held.canary?.outcome).toBe('inconclusive');
      expect(held.canary?.reason).toMatch(/request/i);
      // Held on the new release: nothing was rolled back while it waits.
      expect(await imageOf(g)).toBe(`${REPO}:v1.5.0`);
      const incidents = await g.store('staging').listIncidents('staging', 10);
      const incident = incidents.find((i) => i.alarm.name === CANARY_INCONCLUSIVE);
      expect(incident).toMatchObject({ priority: 'P2', status: 'open' });
      expect(incident?.id).toBe(held.canary?.incidentId);
      expect(incident?.summary).toContain('guardian canary approve|reject --env staging');

      const decided = await g.decideHold('staging', 'approve', 'alice', 'low traffic tonight');
      expect(decided).toMatchObject({ decided: true, deploymentId: name });
      expect(decided.message).toContain('alice approved the held release: low traffic tonight');
      await g.setAdvanceWhenIdle(true);
      const result = await run;
      expect(result.status).toBe('SUCCEEDED');
      const states = statesOf(result);
      expect(states.indexOf('Monitoring round')).toBeGreaterThan(states.indexOf(HOLD));
      expect(states).not.toContain('Hold expired');
      expect(states.at(-1)).toBe('Deployment succeeded');
      expect(await imageOf(g)).toBe(`${REPO}:v1.5.0`);
      const record = await recordOf(g, name);
      expect(record.status).toBe('succeeded');
      expect(record.holdDecision).toMatchObject({ decision: 'approve', by: 'alice' });
      expect(record.holdDecision?.note).toContain('low traffic tonight');
      expect((await g.store('staging').getIncident('staging', incident?.id ?? ''))?.status).toBe('resolved');
      // Its escalation ended with the decision.
      for (const r of await g.settle()) expect(r.status).toBe('SUCCEEDED');
    });

    it('rolls the held release back when an operator rejects it, naming the rejection', async () => {
      const name = 'staging-v1-5-0-0000c005';
      const { g, run } = await heldDeploy(name);
      const decided = await g.decideHold('staging', 'reject', 'bob', 'metrics look thin');
      expect(decided).toMatchObject({ decided: true, deploymentId: name });
      expect(decided.message).toContain('rolls back now');
      await g.setAdvanceWhenIdle(true);
      const result = await run;
      expect(result.status).toBe('FAILED');
      expect(result.error).toBe('DeploymentRolledBack');
      expect(result.cause).toContain('bob rejected the held release: metrics look thin');
      expect(statesOf(result)).not.toContain('Monitoring round');
      expect(statesOf(result)).not.toContain('Hold expired');
      expect(await imageOf(g)).toBe(STABLE);
      const record = await recordOf(g, name);
      expect(record.status).toBe('rolled-back');
      expect(record.holdDecision).toMatchObject({ decision: 'reject', by: 'bob' });
      expect((await rollbackOf(g, name))?.reason).toContain('bob rejected the held release');
      const incidentId = record.canary?.incidentId ?? '';
      expect((await g.store('staging').getIncident('staging', incidentId))?.status).toBe('resolved');
      // A second decision finds the first.
      const again = await g.decideHold('staging', 'approve', 'carol');
      expect(again.decided).toBe(false);
      for (const r of await g.settle()) expect(r.status).toBe('SUCCEEDED');
    });

    it('rolls the held release back when nobody decides before the hold expires', async () => {
      const g = await start(
        stagingWith((s) => {
          if (s.canary) s.canary.minRequests = 1_000_000;
        }),
      );
      const name = 'staging-v1-5-0-0000c006';
      const result = await g.deploy(deployInput(`${REPO}:v1.5.0`), name);
      expect(result.status).toBe('FAILED');
      expect(result.error).toBe('DeploymentRolledBack');
      const states = statesOf(result);
      expect(states).toContain(HOLD);
      expect(states).toContain('Hold expired');
      expect(states).not.toContain('Monitoring round');
      const holdSeconds = g.environment('staging').canary?.hold.seconds ?? 0;
      expect(holdSeconds).toBe(1800);
      expect(result.cause).toContain(`no operator decided within ${holdSeconds} s`);
      // The whole hold elapsed on the simulated clock before it expired.
      const entered = (state: string) =>
        result.events.find((e) => e.type === 'StateEntered' && e.state === state && e.execution === name);
      expect(
        (entered('Hold expired')?.simSeconds ?? 0) - (entered(HOLD)?.simSeconds ?? 0),
      ).toBeGreaterThanOrEqual(holdSeconds);
      const expired = result.events.find(
        (e) => e.type === 'StateExited' && e.state === 'Hold expired' && e.execution === name,
      );
      expect((expired?.output as { failure?: unknown } | undefined)?.failure).toMatchObject({
        Error: 'CanaryInconclusiveError',
        Cause: expect.stringContaining('too little data'),
      });
      expect(await imageOf(g)).toBe(STABLE);
      const record = await recordOf(g, name);
      expect(record.status).toBe('rolled-back');
      expect(record.holdDecision).toBeUndefined();
      const rollback = await rollbackOf(g, name);
      expect(rollback?.reason).toContain('inconclusive canary analysis');
      expect(statesOf(result, `${name}-rollback`).at(-1)).toBe('Rolled back');
      await g.settle();
    });

    it('refuses a decision when no release is held, saying so', async () => {
      const g = await start(loadConfig());
      const none = await g.decideHold('staging', 'approve', 'alice');
      expect(none.decided).toBe(false);
      expect(none.message).toContain('no deployment is running in staging');
    });
  });

  it('records a shadow analysis (canary.dryRun) that fails without acting on it', async () => {
    const g = await start(
      stagingWith((s) => {
        if (s.canary) s.canary.dryRun = true;
      }),
    );
    const name = 'staging-v1-6-1-errors-0000c007';
    const result = await g.deploy(deployInput(`${REPO}:v1.6.1-errors`), name);
    const states = statesOf(result);
    expect(states).not.toContain('Canary failed');
    expect(states).not.toContain(HOLD);
    // The analysis ran to its end and passed the release on to monitoring.
    const canary = g.environment('staging').canary;
    const rounds = Math.floor((canary?.durationSeconds ?? 0) / (canary?.intervalSeconds ?? 1));
    // The first round starts the window; each of the others judged one more interval.
    expect(states.filter((s) => s === 'Canary round')).toHaveLength(rounds + 1);
    expect(states).toContain('Monitoring round');
    const record = await recordOf(g, name);
    expect(record.canary?.outcome).toBe('fail');
    expect(record.canary?.reason).toContain('shadow analysis: recorded, not acted on');
    // Whatever monitoring made of it, the canary analysis is not why.
    expect(result.cause ?? '').not.toContain('canary analysis fail');
  });

  it('rolls back on the live error rate after consecutive failed monitoring rounds, naming it', async () => {
    const g = await start(
      stagingWith((s) => {
        delete s.canary;
        s.thresholds.error_rate_threshold = 1;
        // ≈2 % 5xx must not trip the at-once rule (2× the threshold): this is the N-rounds rule.
        s.monitoring.criticalErrorRateFactor = 10;
      }),
    );
    const name = 'staging-v1-6-1-errors-0000c008';
    const result = await g.deploy(deployInput(`${REPO}:v1.6.1-errors`), name);
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('DeploymentRolledBack');
    const states = statesOf(result);
    expect(states).not.toContain('Canary round');
    expect(
      result.events.some(
        (e) => e.type === 'StateFailed' && e.state === 'Enhanced health check' && e.execution === name,
      ),
    ).toBe(false);
    expect(states).toContain('Monitoring failed');
    const rounds = states.filter((s) => s === 'Monitoring round').length;
    const needed = g.environment('staging').thresholds.consecutive_failures_for_rollback;
    // The first round only starts the counters; then `needed` failed rounds in a row.
    expect(rounds).toBeGreaterThanOrEqual(needed + 1);
    const last = result.events
      .filter((e) => e.type === 'StateExited' && e.state === 'Monitoring round' && e.execution === name)
      .at(-1)?.output as { monitoring?: { verdict?: string; state?: { consecutiveFailures?: number } } };
    expect(last.monitoring?.verdict).toBe('rollback');
    expect(last.monitoring?.state?.consecutiveFailures).toBe(needed);
    expect(result.cause).toContain(`${needed} consecutive failed rounds`);
    expect(result.cause).toMatch(/error rate [\d.]+ % \(\d+ of \d+\) above the 1 % threshold/);
    expect(await imageOf(g)).toBe(STABLE);
    const rollback = await rollbackOf(g, name);
    expect(rollback?.reason).toContain('above the 1 % threshold');
    expect((await recordOf(g, name)).status).toBe('rolled-back');
  });

  it('has no canary states when the environment configures no canary analysis', async () => {
    const g = await start(
      stagingWith((s) => {
        delete s.canary;
      }),
    );
    const name = 'staging-v1-5-0-0000c009';
    const result = await g.deploy(deployInput(`${REPO}:v1.5.0`), name);
    expect(result.status).toBe('SUCCEEDED');
    const states = statesOf(result);
    for (const s of ['Metrics baseline', 'Capture metrics baseline', 'Canary analysis', 'Canary round']) {
      expect(states).not.toContain(s);
    }
    expect(states).toContain('Monitoring round');
    expect((await recordOf(g, name)).canary).toBeUndefined();
    expect(await imageOf(g)).toBe(`${REPO}:v1.5.0`);
  });
});
