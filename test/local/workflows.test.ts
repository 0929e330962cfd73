/**
 * The synthesized Deploy and Rollback state machines executed locally end to end: real step
 * handlers, dynalite tables created from the template, the embedded cluster simulator and the
 * demo API. Assertions are on the execution history, the cluster and the store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEGRADED_ALARM_ID, guardianAlarmName } from '../../lambdas/core/alarm-catalog.ts';
import { buildLock } from '../../lambdas/core/lock.ts';
import { exitCodeOfErrorName } from '../../lib/cli/report.ts';
import { loadConfig } from '../../lib/config/load.ts';
import type { LocalEvent, LocalExecutionResult } from '../../lib/local/executor.ts';
import { executionStatusChangeEvent, LocalGuardian } from '../../lib/local/guardian.ts';

const config = loadConfig();
const REPO = 'ghcr.io/buywhere/buywhere-api';
const STABLE = `${REPO}:v1.4.2`;
let guardian: LocalGuardian | undefined;
let events: LocalEvent[] = [];

async function start(
  opts: { startTime?: Date; onEvent?: (e: LocalEvent) => void } = {},
): Promise<LocalGuardian> {
  events = [];
  guardian = await LocalGuardian.start({
    config,
    seedImages: { staging: STABLE, production: `${REPO}:v1.4.2` },
    ...(opts.startTime ? { startTime: opts.startTime } : {}),
    onEvent: (e) => {
      events.push(e);
      opts.onEvent?.(e);
    },
  });
  return guardian;
}

afterEach(async () => {
  await guardian?.close();
  guardian = undefined;
});

const deployInput = (image: string, extra: Record<string, unknown> = {}) => ({
  environment: 'staging',
  image,
  trigger: 'ci',
  requestedBy: 'github-actions',
  ...extra,
});

/** Names of the states entered, in order, for one execution. */
function statesOf(result: LocalExecutionResult, execution = result.name): string[] {
  return result.events
    .filter((e) => e.type === 'StateEntered' && e.execution === execution)
    .map((e) => e.state ?? '');
}

async function imageOf(g: LocalGuardian, env = 'staging'): Promise<string | undefined> {
  const e = config.environments[env];
  if (!e) throw new Error(env);
  return (await (await g.clusterPort()).getWorkload(e.namespace as string, e.workload)).images[e.container];
}

const mutatingCalls = (g: LocalGuardian) =>
  (g.simulator?.requests() ?? []).filter((r) => !r.startsWith('GET '));

describe('Deploy workflow (local execution of the synthesized state machine)', () => {
  it('deploys a good release: every runbook step runs and the record, lock and cluster agree', async () => {
    const g = await start();
    const result = await g.deploy(
      deployInput(`${REPO}:v1.5.0`, { ciRunUrl: 'https://ci.example/runs/42' }),
      'staging-v1-5-0-0000aaaa',
    );
    expect(result.status).toBe('SUCCEEDED');
    const states = statesOf(result);
    expect(states[0]).toBe('Preflight checks');
    expect(states).toEqual(
      expect.arrayContaining([
        'Set image',
        'Wait for rollout',
        'Check rollout status',
        'Enhanced health check',
        'Record deployment',
      ]),
    );
    expect(states.at(-1)).toBe('Deployment succeeded');
    expect(await imageOf(g)).toBe(`${REPO}:v1.5.0`);
    const store = g.store('staging');
    const record = await store.getRecord('staging', 'staging-v1-5-0-0000aaaa');
    expect(record).toMatchObject({
      status: 'succeeded',
      kind: 'deploy',
      image: `${REPO}:v1.5.0`,
      rollbackPoint: { platform: 'kubernetes', revision: 1, image: STABLE },
      revision: 2,
      trigger: 'ci',
      requestedBy: 'github-actions',
      ciRunUrl: 'https://ci.example/runs/42',
    });
    expect(record?.executionArn).toContain(':execution:guardian-staging-deploy:staging-v1-5-0-0000aaaa');
    expect(await store.getLock('staging')).toBeUndefined();
    // Compressed waits: the simulated clock moved, the wall clock barely did.
    expect(result.simSeconds).toBeGreaterThanOrEqual(
      config.environments.staging?.rollout.pollIntervalSeconds ?? 0,
    );
  });

  it('rolls back to the previous image when the rollout never completes', async () => {
    const g = await start();
    const result = await g.deploy(deployInput(`${REPO}:v1.5.0-never-ready`));
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('DeploymentRolledBack');
    expect(result.cause).toMatch(/deadline|ProgressDeadlineExceeded/i);
    const child = `${result.name}-rollback`;
    expect(statesOf(result, child)).toEqual(
      expect.arrayContaining(['Prepare rollback', 'Undo to previous revision', 'Record rollback']),
    );
    expect(statesOf(result, child).at(-1)).toBe('Rolled back');
    expect(await imageOf(g)).toBe(STABLE);
    // The guardian waited the staging deadline (300 s), not less.
    expect(result.simSeconds).toBeGreaterThanOrEqual(300);
    const record = await g.store('staging').getRecord('staging', result.name);
    expect(record?.status).toBe('rolled-back');
    expect(record?.rolledBackBy).toBeTruthy();
    expect(await g.store('staging').getLock('staging')).toBeUndefined();
  });

  it('rolls back when the enhanced health check fails, after the configured attempts', async () => {
    const g = await start();
    const result = await g.deploy(deployInput(`${REPO}:v1.6.0-bad`));
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('DeploymentRolledBack');
    expect(result.cause).toContain('GET /health: expected HTTP 200, got 503');
    const healthFailures = result.events.filter(
      (e) => e.type === 'StateFailed' && e.state === 'Enhanced health check' && e.execution === result.name,
    );
    expect(healthFailures).toHaveLength(config.environments.staging?.healthCheck.attempts ?? 0);
    expect(await imageOf(g)).toBe(STABLE);
    const history = await g.store('staging').listRecords('staging', 10);
    const rollback = history.find((r) => r.kind === 'rollback');
    expect(rollback).toMatchObject({
      status: 'rolled-back',
      trigger: 'deploy-failure',
      deploymentId: result.name,
    });
    expect((await g.store('staging').getBreaker('staging')).consecutiveFailures).toBe(1);
  });

  it('rolls back a release whose /health answers 200 and ok while its connection pools are exhausted', async () => {
    const g = await start();
    const result = await g.deploy(deployInput(`${REPO}:v1.6.1-pool`));
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('DeploymentRolledBack');
    expect(result.cause).toMatch(
      /2 of 11 health checks failed: Database pool: 37 requests waiting .*; PgBouncer pool: 48 clients waiting \(max 10\)/,
    );
    expect(result.cause).not.toContain('GET /health: expected');
    expect(await imageOf(g)).toBe(STABLE);
  });

  it('refuses a second deploy to the same environment while one runs, naming the holder; the first still finishes', async () => {
    let second: Promise<LocalExecutionResult> | undefined;
    const g = await start({
      onEvent: (e) => {
        if (
          !second &&
          e.type === 'StateEntered' &&
          e.state === 'Wait for rollout' &&
          e.execution === 'staging-v1-5-0-00000001'
        ) {
          second = guardian?.deploy(deployInput(`${REPO}:v1.5.1`), 'staging-v1-5-1-00000002');
        }
      },
    });
    const first = await g.deploy(deployInput(`${REPO}:v1.5.0`), 'staging-v1-5-0-00000001');
    expect(second).toBeDefined();
    const refused = await (second as Promise<LocalExecutionResult>);
    expect(refused.status).toBe('FAILED');
    expect(refused.error).toBe('LockHeldError');
    expect(refused.cause).toContain('staging-v1-5-0-00000001');
    expect(statesOf(refused).at(-1)).toBe('Deployment refused');
    expect(first.status).toBe('SUCCEEDED');
    expect(await imageOf(g)).toBe(`${REPO}:v1.5.0`);
    expect(await g.store('staging').getRecord('staging', 'staging-v1-5-1-00000002')).toBeUndefined();
  });

  it('refuses during a configured change freeze before anything changes', async () => {
    const g = await start({ startTime: new Date('2026-12-25T03:00:00Z') });
    const before = mutatingCalls(g).length;
    const result = await g.deploy({
      environment: 'production',
      image: `${REPO}:v1.5.0`,
      version: 'v1.5.0',
      trigger: 'ci',
      requestedBy: 'github-actions',
    });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('ChangeFreezeError');
    expect(result.cause).toContain('year-end-peak');
    expect(mutatingCalls(g).length).toBe(before);
    expect(await imageOf(g, 'production')).toBe(`${REPO}:v1.4.2`);
    expect(await g.store('production').listRecords('production', 5)).toEqual([]);
    expect(await g.store('production').getLock('production')).toBeUndefined();
  });

  it('refuses during an ad-hoc freeze and while the circuit breaker is open', async () => {
    const g = await start();
    const store = g.store('staging');
    const now = g.clock.now();
    await store.putFreeze({
      environment: 'staging',
      id: 'incident-123',
      start: new Date(now.getTime() - 60_000).toISOString(),
      end: new Date(now.getTime() + 3_600_000).toISOString(),
      reason: 'Incident 123 in progress',
      createdBy: 'bolt',
    });
    const frozen = await g.deploy(deployInput(`${REPO}:v1.5.0`));
    expect(frozen.error).toBe('ChangeFreezeError');
    expect(frozen.cause).toContain('Incident 123');
    await store.deleteFreeze('staging', 'incident-123');

    await store.updateBreaker('staging', () => ({
      environment: 'staging',
      state: 'open',
      consecutiveFailures: 2,
      reason: '2 consecutive failed releases',
      updatedAt: now.toISOString(),
    }));
    const blocked = await g.deploy(deployInput(`${REPO}:v1.5.0`));
    expect(blocked.error).toBe('CircuitOpenError');
    expect(blocked.cause).toContain('circuit-breaker --env staging --reset');
    expect(mutatingCalls(g)).toEqual([]);
    expect(await store.listRecords('staging', 5)).toEqual([]);
    expect(await store.getLock('staging')).toBeUndefined();
  });

  // Preflight's alarm check (issue 8): the composite alarm's state as the local alarm replay stores it.
  it('refuses while the composite alarm is in ALARM before anything changes, and deploys once it is OK', async () => {
    const g = await start();
    const store = g.store('staging');
    const now = g.clock.now();
    const degraded = guardianAlarmName('staging', DEGRADED_ALARM_ID);
    await store.putAlarmState('staging', degraded, {
      value: 'ALARM',
      reason: 'guardian-staging-HighErrorRate transitioned to ALARM',
      updatedAt: new Date(now.getTime() - 5 * 60_000).toISOString(),
    });
    const refused = await g.deploy(deployInput(`${REPO}:v1.5.0`));
    expect(refused.status).toBe('FAILED');
    expect(refused.error).toBe('AlarmActiveError');
    expect(exitCodeOfErrorName(refused.error)).toBe(1);
    expect(refused.cause).toContain('guardian-staging-Degraded is in ALARM since');
    expect(refused.cause).toContain('(5 min ago): guardian-staging-HighErrorRate transitioned to ALARM');
    expect(statesOf(refused)).toEqual(['Preflight checks', 'Deployment refused']);
    expect(mutatingCalls(g)).toEqual([]);
    expect(await imageOf(g)).toBe(STABLE);
    expect(await store.listRecords('staging', 5)).toEqual([]);
    expect(await store.getLock('staging')).toBeUndefined();

    await store.putAlarmState('staging', degraded, { value: 'OK', updatedAt: now.toISOString() });
    const deployed = await g.deploy(deployInput(`${REPO}:v1.5.0`));
    expect(deployed.status).toBe('SUCCEEDED');
    expect(await imageOf(g)).toBe(`${REPO}:v1.5.0`);
  });

  it('refuses invalid input before any cluster call', async () => {
    const g = await start();
    const callsBefore = g.simulator?.requests().length ?? 0;
    for (const [input, message] of [
      [deployInput('ghcr.io/buywhere/buywhere-api'), /neither a tag nor a digest/],
      [deployInput('docker.io/someone/else:v1.0.0'), /deploys only 'ghcr.io\/buywhere\/buywhere-api'/],
      [deployInput('GHCR.io/Bad Image:tag'), /image/],
      [
        { environment: 'production', image: `${REPO}:v1.5.0-rc1`, trigger: 'ci', requestedBy: 'ci' },
        /vX\.Y\.Z/,
      ],
      [
        {
          environment: 'production',
          image: `${REPO}:v1.5.0`,
          version: 'v1.5.1',
          trigger: 'ci',
          requestedBy: 'ci',
        },
        /tag 'v1.5.0' != version 'v1.5.1'/,
      ],
      [{ environment: 'staging', image: `${REPO}:v1.5.0`, trigger: 'ci' }, /requestedBy/],
    ] as const) {
      const result = await g.deploy(input as Record<string, unknown>);
      expect(result.status).toBe('FAILED');
      expect(result.error).toBe('InvalidInputError');
      expect(result.cause).toMatch(message);
    }
    expect(g.simulator?.requests().length).toBe(callsBefore);
  });

  it('refuses an execution name too long for its rollback child at preflight, taking no lock', async () => {
    const g = await start();
    const callsBefore = g.simulator?.requests().length ?? 0;
    // `start-execution --name` with 72 characters: the child would be `<name>-rollback`, 81.
    const name = `staging-v1-5-0-${'0'.repeat(57)}`;
    expect(name).toHaveLength(72);
    const result = await g.deploy(deployInput(`${REPO}:v1.5.0`), name);
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InvalidInputError');
    expect(result.cause).toMatch(
      /at most 71, because Step Functions limits execution names to 80 characters/,
    );
    expect(statesOf(result)).toEqual(['Preflight checks', 'Deployment refused']);
    expect(g.simulator?.requests().length).toBe(callsBefore);
    const store = g.store('staging');
    expect(await store.getLock('staging')).toBeUndefined();
    expect(await store.listRecords('staging', 5)).toEqual([]);
  });

  it('retries transient Kubernetes API errors and still succeeds', async () => {
    const g = await start();
    g.simulator?.injectFaults({ count: 2, status: 503, methods: ['PATCH'] });
    g.simulator?.injectFaults({ count: 1, status: 429, methods: ['GET'] });
    const result = await g.deploy(deployInput(`${REPO}:v1.5.0`));
    expect(result.status).toBe('SUCCEEDED');
    const retried = result.events.filter((e) => e.type === 'StateRetried').map((e) => e.state);
    expect(retried).toContain('Set image');
    expect(retried.length).toBeGreaterThanOrEqual(2);
    expect(await imageOf(g)).toBe(`${REPO}:v1.5.0`);
  });

  it('dry run returns the plan and changes nothing', async () => {
    const g = await start();
    const result = await g.deploy(deployInput(`${REPO}:v1.5.0`, { dryRun: true }));
    expect(result.status).toBe('SUCCEEDED');
    expect(statesOf(result).at(-1)).toBe('Dry run complete');
    const plan = (result.output as { deployment: { plan: string[] } }).deployment.plan.join('\n');
    expect(plan).toContain(STABLE);
    expect(plan).toContain(`${REPO}:v1.5.0`);
    expect(mutatingCalls(g)).toEqual([]);
    expect(await g.store('staging').listRecords('staging', 5)).toEqual([]);
    expect(await g.store('staging').getLock('staging')).toBeUndefined();
  });
});

describe('Rollback workflow (operator)', () => {
  it('rolls back to the previous revision like kubectl rollout undo, and to a named revision', async () => {
    const g = await start();
    expect((await g.deploy(deployInput(`${REPO}:v1.5.0`))).status).toBe('SUCCEEDED');
    expect((await g.deploy(deployInput(`${REPO}:v1.6.0`))).status).toBe('SUCCEEDED');

    const undo = await g.rollback({
      environment: 'staging',
      reason: 'Emergency rollback due to high error rate',
      annotate: 'Emergency rollback due to high error rate',
      trigger: 'operator',
      requestedBy: 'bolt',
    });
    expect(undo.status).toBe('SUCCEEDED');
    expect(await imageOf(g)).toBe(`${REPO}:v1.5.0`);

    const named = await g.rollback({
      environment: 'staging',
      revision: 1,
      trigger: 'operator',
      requestedBy: 'bolt',
      reason: 'back to the last known-good',
    });
    expect(named.status).toBe('SUCCEEDED');
    expect(await imageOf(g)).toBe(STABLE);
    const records = await g.store('staging').listRecords('staging', 10);
    const rollbacks = records.filter((r) => r.kind === 'rollback');
    expect(rollbacks).toHaveLength(2);
    expect(rollbacks.map((r) => r.requestedBy)).toEqual(['bolt', 'bolt']);
    expect(rollbacks.some((r) => r.annotation === 'Emergency rollback due to high error rate')).toBe(true);
    expect(await g.store('staging').getLock('staging')).toBeUndefined();
  });

  it('refuses a named revision that does not exist, listing the ones that do', async () => {
    const g = await start();
    const result = await g.rollback({
      environment: 'staging',
      revision: 42,
      trigger: 'operator',
      requestedBy: 'bolt',
      reason: 'x',
    });
    expect(result.status).toBe('FAILED');
    expect(result.cause).toMatch(/revision 42/);
    expect(mutatingCalls(g)).toEqual([]);
    expect(await g.store('staging').getLock('staging')).toBeUndefined();
  });

  it('records a rollback that itself fails, opens the breaker with the reason and releases the lock', async () => {
    const g = await start();
    // A bad release is rolled back automatically; its revision stays in the history.
    const bad = await g.deploy(deployInput(`${REPO}:v1.5.0-bad`));
    expect(bad.error).toBe('DeploymentRolledBack');
    const revisions = await (await g.clusterPort()).listRevisions('staging', 'buywhere-api');
    const badRevision = revisions.find((r) => r.images['buywhere-api'] === `${REPO}:v1.5.0-bad`)?.revision;
    expect(badRevision).toBeDefined();

    // An operator forces a rollback to that bad revision: the rollback's own health check fails.
    const result = await g.rollback({
      environment: 'staging',
      revision: badRevision,
      force: true,
      trigger: 'operator',
      requestedBy: 'bolt',
      reason: 'wrong revision',
    });
    expect(result.status).toBe('FAILED');
    expect(statesOf(result)).toContain('Record rollback failure');
    const store = g.store('staging');
    const record = (await store.listRecords('staging', 1))[0];
    expect(record).toMatchObject({ kind: 'rollback', status: 'rollback-failed', requestedBy: 'bolt' });
    const breaker = await store.getBreaker('staging');
    expect(breaker.state).toBe('open');
    expect(breaker.reason).toContain(record?.id ?? '-');
    expect(await store.getLock('staging')).toBeUndefined();
    // The open breaker now refuses deployments until an operator resets it.
    const refused = await g.deploy(deployInput(`${REPO}:v1.7.0`));
    expect(refused.error).toBe('CircuitOpenError');
  });

  it('records a deployment whose automatic rollback could not even start, and releases its lock', async () => {
    const name = 'staging-v1-6-0-bad-0000beef';
    // The Kubernetes API goes down just as the automatic rollback starts: "Prepare rollback"
    // exhausts its retries and the child execution fails before it can record anything.
    const g = await start({
      onEvent: (e) => {
        if (
          e.type === 'StateEntered' &&
          e.state === 'Roll back to previous revision' &&
          e.execution === name
        ) {
          guardian?.simulator?.injectFaults({ count: 1000, status: 503 });
        }
      },
    });
    const result = await g.deploy(deployInput(`${REPO}:v1.6.0-bad`), name);
    expect(result.status).toBe('FAILED');
    expect(statesOf(result, `${name}-rollback`).at(-1)).toBe('Rollback refused');
    expect(statesOf(result)).toContain('Record failed rollback');
    expect(statesOf(result).at(-1)).toBe('Rollback failed');
    const store = g.store('staging');
    const record = await store.getRecord('staging', name);
    expect(record?.status).toBe('rollback-failed');
    expect(record?.reason).toMatch(/automatic rollback did not run: TransientError/);
    const breaker = await store.getBreaker('staging');
    expect(breaker.state).toBe('open');
    expect(breaker.reason).toContain(name);
    expect(await store.getLock('staging')).toBeUndefined();
  });
});

describe('Execution ended (the EventBridge janitor, emulated locally)', () => {
  const deployArn = `arn:aws:states:${config.environments.staging?.region}:000000000000:stateMachine:guardian-staging-deploy`;
  const executionArnOf = (name: string) => `${deployArn.replace(':stateMachine:', ':execution:')}:${name}`;

  /**
   * What a preflight invocation leaves when it takes the lock, records the deployment and then
   * dies (a Lambda timeout): the local executor has no timeouts, so the test writes it directly.
   */
  async function leftBehindByPreflight(g: LocalGuardian, name: string): Promise<void> {
    const store = g.store('staging');
    const now = g.clock.now();
    const { point } = await (await g.workload('staging')).capture();
    const taken = await store.acquireLock(buildLock('staging', name, executionArnOf(name), now, 3600), now);
    expect(taken.acquired).toBe(true);
    await store.putRecord({
      environment: 'staging',
      id: name,
      kind: 'deploy',
      status: 'in-progress',
      executionArn: executionArnOf(name),
      trigger: 'ci',
      requestedBy: 'github-actions',
      image: `${REPO}:v1.5.0`,
      rollbackPoint: point,
      startedAt: now.toISOString(),
    });
  }

  it('releases the lock and fails the record a FAILED deploy execution still holds, as the rule would', async () => {
    const g = await start();
    const name = 'staging-v1-5-0-0000dead';
    await leftBehindByPreflight(g, name);
    // The execution then fails on a state that does not clean up after the earlier attempt.
    const result = await g.deploy(deployInput('docker.io/someone/else:v1.5.0'), name);
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InvalidInputError');

    const store = g.store('staging');
    expect(await store.getLock('staging')).toBeUndefined();
    const record = await store.getRecord('staging', name);
    expect(record?.status).toBe('failed');
    expect(record?.reason).toMatch(
      /^execution failed before the guardian recorded an outcome \(InvalidInputError: image 'docker\.io/,
    );
    expect((await store.getBreaker('staging')).state).toBe('closed');
    // The environment is usable again at once, not only when the lock expires.
    expect((await g.deploy(deployInput(`${REPO}:v1.5.0`))).status).toBe('SUCCEEDED');
  });

  it('opens the breaker for an aborted deployment, and a second delivery changes nothing', async () => {
    const g = await start();
    const name = 'staging-v1-5-0-0000abcd';
    await leftBehindByPreflight(g, name);
    const now = g.clock.now();
    const event = executionStatusChangeEvent(
      deployArn,
      { name, executionArn: executionArnOf(name), status: 'ABORTED' },
      deployInput(`${REPO}:v1.5.0`),
      now,
      now,
    );
    const first = await g.deliverExecutionEvent('staging', event);
    expect(first.message).toContain(`released the staging lock held by ${name}`);
    expect(first.message).toContain('opened the staging circuit breaker');

    const store = g.store('staging');
    const after = {
      record: await store.getRecord('staging', name),
      breaker: await store.getBreaker('staging'),
    };
    expect(after.record?.status).toBe('failed');
    expect(after.breaker.state).toBe('open');
    expect(await store.getLock('staging')).toBeUndefined();

    const second = await g.deliverExecutionEvent('staging', event);
    expect(second.message).toContain('nothing left to clean up');
    expect(await store.getRecord('staging', name)).toEqual(after.record);
    expect(await store.getBreaker('staging')).toEqual(after.breaker);

    const next = await g.deploy(deployInput(`${REPO}:v1.5.0`));
    expect(next.error).toBe('CircuitOpenError');
    expect(next.cause).toContain(name);
  });
});
