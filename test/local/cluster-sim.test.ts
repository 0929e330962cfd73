/**
 * Behaviour of the cluster simulator, driven through the real @kubernetes/client-node and the
 * guardian's KubernetesCluster adapter. Assertions are what kube-apiserver +
 * kube-controller-manager do, so the same scenarios can run against a real control plane.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AppsV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectKubeconfig, KubernetesCluster } from '../../lambdas/adapters/kubernetes.ts';
import type { WorkloadState } from '../../lambdas/adapters/ports.ts';
import { InvalidInputError, NotFoundError, TransientError } from '../../lambdas/core/errors.ts';
import { SimulatedClock } from '../../lib/local/clock.ts';
import { type ClusterSimulator, startClusterSimulator } from '../../lib/local/cluster-sim/index.ts';
import { type DemoApi, startDemoApi } from '../../lib/local/demo-api.ts';

const NS = 'staging';
const NAME = 'buywhere-api';
const REPO = 'ghcr.io/buywhere/buywhere-api';

let clock: SimulatedClock;
let sim: ClusterSimulator;
let cluster: KubernetesCluster;
let apps: AppsV1Api;

beforeEach(async () => {
  clock = new SimulatedClock(new Date('2026-03-02T09:00:00Z'));
  sim = await startClusterSimulator({
    clock,
    seed: [{ namespace: NS, name: NAME, container: NAME, image: `${REPO}:v1.0.0`, replicas: 3 }],
  });
  cluster = new KubernetesCluster(sim.kubeConfig());
  apps = sim.kubeConfig().makeApiClient(AppsV1Api);
});

afterEach(async () => {
  await sim.close();
});

function condition(w: WorkloadState, type: string) {
  return w.conditions.find((c) => c.type === type);
}

function isComplete(w: WorkloadState): boolean {
  return (
    w.observedGeneration >= w.generation &&
    w.status.updatedReplicas === w.replicas &&
    w.status.replicas === w.replicas &&
    w.status.availableReplicas === w.replicas
  );
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

async function mergePatch(body: object, strategy: string = PatchStrategy.MergePatch) {
  return apps.patchNamespacedDeployment(
    { namespace: NS, name: NAME, body },
    setHeaderOptions('Content-Type', strategy),
  );
}

describe('cluster simulator through KubernetesCluster', () => {
  it('reports the seeded Deployment as fully rolled out at revision 1', async () => {
    const w = await cluster.getWorkload(NS, NAME);
    expect(w).toMatchObject({
      namespace: NS,
      name: NAME,
      revision: 1,
      replicas: 3,
      paused: false,
      progressDeadlineSeconds: 600,
      images: { [NAME]: `${REPO}:v1.0.0` },
      status: {
        replicas: 3,
        updatedReplicas: 3,
        readyReplicas: 3,
        availableReplicas: 3,
        unavailableReplicas: 0,
      },
    });
    expect(isComplete(w)).toBe(true);
    expect(condition(w, 'Available')?.status).toBe('True');
    expect(condition(w, 'Progressing')).toMatchObject({ status: 'True', reason: 'NewReplicaSetAvailable' });
  });

  it('rolls out a new image as revision n+1 and completes once the new pods are ready', async () => {
    const after = await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.1.0`, 'deploy v1.1.0');
    expect(after.generation).toBe(2);
    expect(after.images[NAME]).toBe(`${REPO}:v1.1.0`);

    const early = await cluster.getWorkload(NS, NAME);
    expect(early.revision).toBe(2);
    expect(isComplete(early)).toBe(false);
    // maxSurge 25% of 3 rounds up to 1, maxUnavailable rounds down to 0: old pods stay available.
    expect(early.status.availableReplicas).toBe(3);
    expect(early.status.updatedReplicas).toBe(1);
    expect(condition(early, 'Progressing')?.reason).not.toBe('NewReplicaSetAvailable');

    const done = await rollOut();
    expect(done.status).toEqual({
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      unavailableReplicas: 0,
    });
    expect(condition(done, 'Progressing')?.reason).toBe('NewReplicaSetAvailable');

    const revisions = await cluster.listRevisions(NS, NAME);
    expect(revisions.map((r) => r.revision)).toEqual([1, 2]);
    expect(revisions[1]).toMatchObject({
      images: { [NAME]: `${REPO}:v1.1.0` },
      changeCause: 'deploy v1.1.0',
    });
    // The controller's pod-template-hash label is not part of the revision.
    expect(revisions[1]?.podTemplate.metadata).toEqual({ labels: { app: NAME } });
    expect(sim.servedImage(NS, NAME)).toBe(`${REPO}:v1.1.0`);
  });

  it('refuses an unknown container and names the ones that exist', async () => {
    await expect(cluster.setImage(NS, NAME, 'sidecar', `${REPO}:v2`, 'x')).rejects.toThrow(InvalidInputError);
    await expect(cluster.setImage(NS, NAME, 'sidecar', `${REPO}:v2`, 'x')).rejects.toThrow(
      /no container "sidecar"; its containers are: buywhere-api/,
    );
    expect((await cluster.getWorkload(NS, NAME)).generation).toBe(1);
  });

  it('ends in ProgressDeadlineExceeded when the new pods never become ready', async () => {
    await mergePatch({ spec: { progressDeadlineSeconds: 60 } });
    await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.2.0-never-ready`, 'deploy never-ready');
    clock.advance(50);
    const waiting = await cluster.getWorkload(NS, NAME);
    expect(condition(waiting, 'Progressing')).toMatchObject({ status: 'True', reason: 'ReplicaSetUpdated' });
    clock.advance(20);
    const failed = await cluster.getWorkload(NS, NAME);
    expect(condition(failed, 'Progressing')).toMatchObject({
      status: 'False',
      reason: 'ProgressDeadlineExceeded',
    });
    // The old ReplicaSet keeps serving: the rollout never took capacity away.
    expect(failed.status).toMatchObject({ availableReplicas: 3, updatedReplicas: 1, unavailableReplicas: 1 });
    expect(sim.servedImage(NS, NAME)).toBe(`${REPO}:v1.0.0`);
  });

  it('rolls back to the previous revision, restoring its exact pod template under a new revision number', async () => {
    await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.1.0`, 'deploy v1.1.0');
    await rollOut();
    const [first] = await cluster.listRevisions(NS, NAME);
    if (!first) throw new Error('no revision 1');

    const rolled = await cluster.rollbackTo(NS, NAME, first, 'rollback: health check failed');
    expect(rolled.images[NAME]).toBe(`${REPO}:v1.0.0`);
    const d = await apps.readNamespacedDeployment({ namespace: NS, name: NAME });
    expect(ObjectSerializer.serialize(d.spec?.template, 'V1PodTemplateSpec', '')).toEqual(first.podTemplate);

    const revisions = await cluster.listRevisions(NS, NAME);
    expect(revisions.at(-1)?.podTemplate).toEqual(first.podTemplate);
    // Revision 1's ReplicaSet is reused and becomes revision 3; number 1 disappears.
    expect(revisions.map((r) => [r.revision, r.replicaSetName])).toEqual([
      [2, expect.any(String)],
      [3, first.replicaSetName],
    ]);
    expect(revisions[1]?.changeCause).toBe('rollback: health check failed');
    const done = await rollOut();
    expect(done.revision).toBe(3);
    expect(sim.servedImage(NS, NAME)).toBe(`${REPO}:v1.0.0`);
  });

  it('rolls back to a named older revision', async () => {
    await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.1.0`, 'deploy v1.1.0');
    await rollOut();
    await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.2.0`, 'deploy v1.2.0');
    await rollOut();
    const revisions = await cluster.listRevisions(NS, NAME);
    expect(revisions.map((r) => r.revision)).toEqual([1, 2, 3]);
    const target = revisions.find((r) => r.revision === 1);
    if (!target) throw new Error('no revision 1');
    await cluster.rollbackTo(NS, NAME, target, 'rollback to revision 1');
    const done = await rollOut();
    expect(done.revision).toBe(4);
    expect(done.images[NAME]).toBe(`${REPO}:v1.0.0`);
    expect((await cluster.listRevisions(NS, NAME)).map((r) => [r.revision, r.images[NAME]])).toEqual([
      [2, `${REPO}:v1.1.0`],
      [3, `${REPO}:v1.2.0`],
      [4, `${REPO}:v1.0.0`],
    ]);
  });

  it('keeps only revisionHistoryLimit old ReplicaSets', async () => {
    await mergePatch({ spec: { revisionHistoryLimit: 2 } }, PatchStrategy.StrategicMergePatch);
    for (const v of ['v2', 'v3', 'v4', 'v5']) {
      await cluster.setImage(NS, NAME, NAME, `${REPO}:${v}`, `deploy ${v}`);
      await rollOut();
    }
    const revisions = await cluster.listRevisions(NS, NAME);
    expect(revisions.map((r) => [r.revision, r.images[NAME]])).toEqual([
      [3, `${REPO}:v3`],
      [4, `${REPO}:v4`],
      [5, `${REPO}:v5`],
    ]);
  });

  it('does not roll a paused Deployment and refuses to roll it back', async () => {
    const revision1 = (await cluster.listRevisions(NS, NAME))[0];
    if (!revision1) throw new Error('no revision 1');
    await mergePatch({ spec: { paused: true } });
    const changed = await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.1.0`, 'deploy while paused');
    expect(changed.generation).toBe(3);
    clock.advance(60);
    const paused = await cluster.getWorkload(NS, NAME);
    expect(paused.paused).toBe(true);
    expect(paused.revision).toBe(1);
    expect(paused.status.updatedReplicas).toBe(0);
    expect(condition(paused, 'Progressing')).toMatchObject({ status: 'Unknown', reason: 'DeploymentPaused' });
    expect((await cluster.listRevisions(NS, NAME)).map((r) => r.revision)).toEqual([1]);
    await expect(cluster.rollbackTo(NS, NAME, revision1, 'x')).rejects.toThrow(
      /cannot rollback a paused deployment/,
    );

    await mergePatch({ spec: { paused: false } });
    const resumed = await rollOut();
    expect(resumed.revision).toBe(2);
    expect(resumed.images[NAME]).toBe(`${REPO}:v1.1.0`);
  });

  it('completes at once when scaled to zero, and a new image still gets a revision', async () => {
    await mergePatch({ spec: { replicas: 0 } });
    const zero = await cluster.getWorkload(NS, NAME);
    expect(zero.replicas).toBe(0);
    expect(zero.status).toEqual({
      replicas: 0,
      updatedReplicas: 0,
      readyReplicas: 0,
      availableReplicas: 0,
      unavailableReplicas: 0,
    });
    expect(isComplete(zero)).toBe(true);
    await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.1.0`, 'deploy to zero');
    const after = await cluster.getWorkload(NS, NAME);
    expect(after.revision).toBe(2);
    expect(isComplete(after)).toBe(true);
    expect(sim.servedImage(NS, NAME)).toBeUndefined();
  });

  it('merges containers by name in a strategic merge patch', async () => {
    const d = await mergePatch(
      { spec: { template: { spec: { containers: [{ name: NAME, image: `${REPO}:v9` }] } } } },
      PatchStrategy.StrategicMergePatch,
    );
    expect(d.spec?.template.spec?.containers).toHaveLength(1);
    expect(d.spec?.template.spec?.containers[0]).toMatchObject({
      image: `${REPO}:v9`,
      ports: [{ containerPort: 8000 }],
    });
  });

  it('answers a stale resourceVersion with 409 Conflict', async () => {
    const d = await apps.readNamespacedDeployment({ namespace: NS, name: NAME });
    await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.1.0`, 'concurrent change');
    const error = await apps
      .replaceNamespacedDeployment({ namespace: NS, name: NAME, body: d })
      .catch((e) => e);
    expect(error.code).toBe(409);
    expect(JSON.parse(error.body)).toMatchObject({ kind: 'Status', reason: 'Conflict', code: 409 });
  });

  it('names the missing Deployment and the missing namespace', async () => {
    await expect(cluster.getWorkload(NS, 'nope')).rejects.toThrow(NotFoundError);
    await expect(cluster.getWorkload(NS, 'nope')).rejects.toThrow(/staging\/nope not found/);
    await expect(cluster.listRevisions('ghost', NAME)).rejects.toThrow(/namespace "ghost" does not exist/);
    const error = await apps.readNamespacedDeployment({ namespace: NS, name: 'nope' }).catch((e) => e);
    expect(JSON.parse(error.body)).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'NotFound',
      code: 404,
      message: 'deployments.apps "nope" not found',
    });
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
});

describe('demo API', () => {
  let demo: DemoApi;
  beforeEach(async () => {
    demo = await startDemoApi({ clock, resolveImage: () => sim.servedImage(NS, NAME) });
  });
  afterEach(async () => {
    await demo.close();
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
    const fiveHundreds = Number(/^http_requests_total\{status="500"\} (\d+)$/m.exec(metrics.text)?.[1]);
    expect(fiveHundreds).toBeGreaterThan(100);
  });

  it('reports healthy metrics with no 5xx for a good image', async () => {
    clock.advance(120);
    const metrics = await get('/metrics');
    expect(metrics.text).toMatch(/^http_error_rate 0$/m);
    expect(metrics.text).toMatch(/^http_requests_total\{status="500"\} 0$/m);
    expect(Number(/^http_requests_total\{status="200"\} (\d+)$/m.exec(metrics.text)?.[1])).toBeGreaterThan(
      2000,
    );
  });
});
