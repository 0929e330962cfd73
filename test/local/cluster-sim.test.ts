/**
 * The cluster simulator. The Kubernetes scenarios come from test/shared/cluster-scenarios.ts and
 * run unchanged against a real control plane in `npm run test:integration`; this file adds what
 * only the simulator has (fault injection, kubeconfig file, snapshots) and the demo API.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkloadState } from '../../lambdas/adapters/cluster.ts';
import { connectKubeconfig, KubernetesCluster } from '../../lambdas/adapters/kubernetes.ts';
import { DeploymentWorkload } from '../../lambdas/adapters/kubernetes-workload.ts';
import { TransientError } from '../../lambdas/core/errors.ts';
import { evaluateHealth, startupCheck } from '../../lambdas/core/health.ts';
import { loadConfig } from '../../lib/config/load.ts';
import type { SimulatedClock } from '../../lib/local/clock.ts';
import { type ClusterSimulator, startClusterSimulator } from '../../lib/local/cluster-sim/index.ts';
import { type DemoApi, startDemoApi } from '../../lib/local/demo-api.ts';
import { SLOW_READY_SECONDS } from '../../lib/local/image-behaviour.ts';
import { defineClusterScenarios, isComplete, REPO, WORKLOAD } from '../shared/cluster-scenarios.ts';
import { startSimTarget } from '../shared/sim-target.ts';

const NS = 'staging';
const NAME = WORKLOAD;

defineClusterScenarios('the embedded cluster simulator', startSimTarget);

let clock: SimulatedClock;
let sim: ClusterSimulator;
let cluster: KubernetesCluster;

/** A fresh simulator with the staging Deployment rolled out at revision 1. */
async function startSeededSimulator(): Promise<void> {
  const target = await startSimTarget();
  ({ clock, sim } = target);
  await target.seed({ namespace: NS, name: NAME, container: NAME, image: `${REPO}:v1.0.0`, replicas: 3 });
  cluster = new KubernetesCluster(sim.kubeConfig());
}

/** Advances simulated time in steps until the Deployment's rollout is complete. */
async function rollOut(maxSeconds = 120): Promise<WorkloadState> {
  for (let waited = 0; waited <= maxSeconds; waited += 5) {
    const w = await cluster.getWorkload(NS, NAME);
    if (isComplete(w)) return w;
    clock.advance(5);
  }
  throw new Error(`rollout did not complete within ${maxSeconds} simulated seconds`);
}

describe('cluster simulator only', () => {
  beforeEach(startSeededSimulator);

  afterEach(async () => {
    await sim.close();
  });

  it('turns injected 503s and 429s into TransientError and recovers afterwards', async () => {
    sim.injectFaults({ count: 1, status: 503 });
    await expect(cluster.getWorkload(NS, NAME)).rejects.toThrow(TransientError);
    expect((await cluster.getWorkload(NS, NAME)).revision).toBe(1);

    sim.injectFaults({ count: 1, status: 429, methods: ['PATCH'] });
    await expect(cluster.setImage(NS, NAME, NAME, `${REPO}:v1.1.0`, 'x')).rejects.toThrow(TransientError);
    expect((await cluster.getWorkload(NS, NAME)).images[NAME]).toBe(`${REPO}:v1.0.0`);
    await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.1.0`, 'retry');
    expect((await cluster.getWorkload(NS, NAME)).revision).toBe(2);
  });

  it('tells the operator to check access when the API answers 403', async () => {
    sim.injectFaults({ count: 1, status: 403 });
    await expect(cluster.getWorkload(NS, NAME)).rejects.toThrow(/EKS access entry/);
  });

  it('serves a kubeconfig file that connectKubeconfig can use, and refuses an unknown context', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'guardian-sim-')), 'kubeconfig');
    sim.writeKubeconfig(file);
    expect((await connectKubeconfig(file).getWorkload(NS, NAME)).revision).toBe(1);
    expect((await connectKubeconfig(file, 'guardian-sim').getWorkload(NS, NAME)).revision).toBe(1);
    expect(() => connectKubeconfig(file, 'prod')).toThrow(/has no context "prod"; it has: guardian-sim/);
  });

  it('resumes from an exported snapshot', async () => {
    await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.1.0`, 'deploy v1.1.0');
    await rollOut();
    const snapshot = JSON.parse(JSON.stringify(sim.exportState()));
    const other = await startClusterSimulator({ clock, snapshot });
    try {
      const revisions = await new KubernetesCluster(other.kubeConfig()).listRevisions(NS, NAME);
      expect(revisions.map((r) => r.revision)).toEqual([1, 2]);
      expect(other.servedImage(NS, NAME)).toBe(`${REPO}:v1.1.0`);
    } finally {
      await other.close();
    }
  });

  it('tells a request listener of each call as it arrives, and no more once it stops listening', async () => {
    const seen: { method: string; url: string; receivedAt: number }[] = [];
    const stop = sim.onRequest((r) => seen.push(r));
    const before = performance.now();
    await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.1.0`, 'deploy v1.1.0');
    const after = performance.now();
    const patch = seen.find((r) => r.method === 'PATCH');
    expect(patch?.url.split('?')[0]).toBe(`/apis/apps/v1/namespaces/${NS}/deployments/${NAME}`);
    expect(patch?.receivedAt).toBeGreaterThanOrEqual(before);
    expect(patch?.receivedAt).toBeLessThanOrEqual(after);
    stop();
    const count = seen.length;
    await cluster.getWorkload(NS, NAME);
    expect(seen).toHaveLength(count);
  });
});

describe('pod startup times (issue 9)', () => {
  beforeEach(startSeededSimulator);
  afterEach(async () => {
    await sim.close();
  });

  it('reports the slow image taking 240 s to become Ready, which the startup check fails', async () => {
    await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.2.4-slow`, 'deploy slow');
    // maxSurge 1: three pods one after another, 240 s each.
    const done = await rollOut(3 * SLOW_READY_SECONDS + 30);
    expect(done.revision).toBe(2);
    const workload = new DeploymentWorkload(async () => cluster, {
      namespace: NS,
      workload: NAME,
      container: NAME,
    });
    const pods = await workload.podStartup();
    expect(pods).toHaveLength(3);
    for (const p of pods) {
      expect(Date.parse(p.readyAt ?? '') - Date.parse(p.createdAt)).toBe(SLOW_READY_SECONDS * 1000);
    }
    const check = startupCheck(120, { kind: 'pods', pods, now: clock.now().toISOString() });
    expect(check.ok).toBe(false);
    expect(check.detail).toMatch(
      /^3 of 3 pods took longer than 120 s to become Ready \(buywhere-api-\S+ 240 s, /,
    );
  });

  it('dates a pod that is not Ready yet by its creation only, and lists none before a ReplicaSet exists', async () => {
    await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.2.5-never-ready`, 'deploy never-ready');
    clock.advance(30);
    const workload = new DeploymentWorkload(async () => cluster, {
      namespace: NS,
      workload: NAME,
      container: NAME,
    });
    const pods = await workload.podStartup();
    expect(pods).toHaveLength(1);
    expect(pods[0]?.readyAt).toBeUndefined();
    expect(Date.parse(clock.now().toISOString()) - Date.parse(pods[0]?.createdAt ?? '')).toBe(30_000);
    await expect(cluster.podTimings(NS, 'no-such-deployment')).rejects.toThrow(/not found/);
  });
});

describe('demo API', () => {
  let demo: DemoApi;
  beforeEach(async () => {
    await startSeededSimulator();
    demo = await startDemoApi({ clock, resolveImage: () => sim.servedImage(NS, NAME) });
  });
  afterEach(async () => {
    await demo.close();
    await sim.close();
  });

  async function get(path: string) {
    const res = await fetch(`${demo.url}${path}`);
    return { status: res.status, text: await res.text() };
  }

  it('reports healthy for a good image and degraded once a bad image serves traffic', async () => {
    const health = await get('/health');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.text)).toMatchObject({
      status: 'ok',
      database: 'connected',
      redis: 'connected',
      pgbouncer: 'connected',
      version: 'v1.0.0',
      image: `${REPO}:v1.0.0`,
    });
    expect(JSON.parse((await get('/ready')).text)).toEqual({ ready: true });

    await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.3.0-bad`, 'deploy bad');
    await rollOut();
    clock.advance(60);
    const bad = await get('/health');
    expect(bad.status).toBe(503);
    expect(JSON.parse(bad.text)).toMatchObject({
      status: 'degraded',
      database: 'error',
      version: 'v1.3.0-bad',
    });
    expect((await get('/ready')).status).toBe(503);
    clock.advance(60);
    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/^http_error_rate 40$/m);
    // The bad release's own series (issue 9: traffic is labelled with the serving release).
    const fiveHundreds = Number(
      /^http_requests_total\{method="GET",status="500",version="v1\.3\.0-bad"\} (\d+)$/m.exec(
        metrics.text,
      )?.[1],
    );
    expect(fiveHundreds).toBeGreaterThan(100);
  });

  it('reports realistic pool figures for a good image, which the enhanced check passes', async () => {
    const body = JSON.parse((await get('/health')).text);
    expect(body.pool).toEqual({ size: 20, active: 2, idle: 18, waiting: 0 });
    expect(body.pgbouncer_pool).toMatchObject({ cl_waiting: 0, maxwait_seconds: 0 });
    const staging = loadConfig().environments.staging?.healthCheck;
    if (!staging?.dependencies) throw new Error('staging has no dependencies in config');
    const r = evaluateHealth(
      [{ path: '/health', expectStatus: 200, expectJson: { status: 'ok' } }],
      [{ status: 200, body: JSON.stringify(body), elapsedMs: 1 }],
      { dependencies: staging.dependencies },
    );
    expect(r.healthy).toBe(true);
  });

  it('serves a pool image with 200 and status ok, but pools exhausted, which only the pool checks catch', async () => {
    await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.2.7-pool`, 'deploy pool');
    await rollOut();
    const health = await get('/health');
    expect(health.status).toBe(200);
    const body = JSON.parse(health.text);
    expect(body).toMatchObject({
      status: 'ok',
      database: 'connected',
      redis: 'connected',
      pgbouncer: 'connected',
    });
    expect(body.pool).toEqual({ size: 20, active: 20, idle: 0, waiting: 37 });
    expect(body.pgbouncer_pool).toMatchObject({ cl_waiting: 48, maxwait_seconds: 12 });
    expect((await get('/ready')).status).toBe(200);
    const staging = loadConfig().environments.staging?.healthCheck;
    if (!staging?.dependencies) throw new Error('staging has no dependencies in config');
    const r = evaluateHealth(
      staging.endpoints,
      [
        { status: 200, body: health.text, elapsedMs: 1 },
        { status: 200, body: (await get('/ready')).text, elapsedMs: 1 },
        { status: 200, body: (await get('/metrics')).text, elapsedMs: 1 },
      ],
      { dependencies: staging.dependencies },
    );
    expect(r.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['Database pool', 'PgBouncer pool']);
    expect(r.summary).toMatch(/PgBouncer pool: 48 clients waiting \(max 10\)/);
  });

  it('reports healthy metrics with a low 5xx rate for a good image', async () => {
    clock.advance(120);
    const metrics = await get('/metrics');
    expect(metrics.text).toMatch(/^http_error_rate 0\.5$/m);
    const count = (status: string) =>
      Number(
        new RegExp(
          `^http_requests_total\\{method="GET",status="${status}",version="v1\\.0\\.0"\\} (\\d+)$`,
          'm',
        ).exec(metrics.text)?.[1],
      );
    expect(count('200')).toBeGreaterThan(2000);
    expect((count('500') + count('503')) / count('200')).toBeLessThan(0.02);
  });
});
