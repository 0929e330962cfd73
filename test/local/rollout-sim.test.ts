/**
 * The simulated Argo Rollouts controller. The Rollout scenarios come from
 * test/shared/rollout-scenarios.ts and run unchanged against the real controller in
 * `npm run test:integration`; this file adds what only the simulator has: the Service and Rollout
 * API semantics a CRD with the status subresource has, snapshots, and controller paths the shared
 * scenarios do not take.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubernetesRollouts } from '../../lambdas/adapters/kubernetes-rollouts.ts';
import type { RolloutState } from '../../lambdas/adapters/rollouts.ts';
import { SimulatedClock } from '../../lib/local/clock.ts';
import {
  type ClusterSimSnapshot,
  type KObject,
  rolloutSeedObjects,
  startClusterSimulator,
} from '../../lib/local/cluster-sim/index.ts';
import { ACTIVE, defineRolloutScenarios, PREVIEW, REPO, ROLLOUT } from '../shared/rollout-scenarios.ts';
import { type SimRolloutTarget, startSimRolloutTarget } from '../shared/sim-rollout-target.ts';

defineRolloutScenarios('the embedded cluster simulator', startSimRolloutTarget);

const NS = 'prod';
const V1 = `${REPO}:v1.0.0`;
const V2 = `${REPO}:v1.1.0`;
const SEED = {
  namespace: NS,
  name: ROLLOUT,
  container: ROLLOUT,
  image: V1,
  replicas: 3,
  activeService: ACTIVE,
  previewService: PREVIEW,
};

describe('cluster simulator only: Services and Rollouts', () => {
  let target: SimRolloutTarget;
  let rollouts: KubernetesRollouts;
  let base: string;
  let token: string;

  beforeEach(async () => {
    target = await startSimRolloutTarget();
    rollouts = new KubernetesRollouts(target.kubeConfig);
    base = target.sim.url;
    token = target.kubeConfig.getCurrentUser()?.token ?? '';
  });

  afterEach(async () => {
    await target.close();
  });

  /** A raw API call, answering its status and JSON body. */
  async function call(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<{ status: number; body: KObject }> {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': contentType },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as KObject };
  }

  const roPath = `/apis/argoproj.io/v1alpha1/namespaces/${NS}/rollouts/${ROLLOUT}`;
  const merge = 'application/merge-patch+json';

  async function until(
    what: string,
    settled: (r: RolloutState) => boolean,
    maxSeconds = 300,
  ): Promise<RolloutState> {
    for (let waited = 0; ; waited += 1) {
      const r = await rollouts.getRollout(NS, ROLLOUT);
      if (r.observedGeneration >= r.generation && settled(r)) return r;
      if (waited >= maxSeconds)
        throw new Error(`no ${what} after ${maxSeconds} s: ${JSON.stringify(r.status)}`);
      target.clock.advance(1);
    }
  }

  it('serves Services: defaults, selector patches of every kind, 404 and 409 as kube-apiserver words them', async () => {
    await call('POST', '/api/v1/namespaces', { metadata: { name: NS } });
    const svc = {
      metadata: { name: 'web', labels: { app: 'web' } },
      spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
    };
    const created = await call('POST', `/api/v1/namespaces/${NS}/services`, svc);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: NS, uid: expect.any(String), resourceVersion: expect.any(String) },
      spec: {
        type: 'ClusterIP',
        clusterIP: expect.stringMatching(/^10\.96\./),
        ports: [{ port: 80, targetPort: 80, protocol: 'TCP' }],
      },
    });
    expect((await call('POST', `/api/v1/namespaces/${NS}/services`, svc)).body).toMatchObject({
      code: 409,
      reason: 'AlreadyExists',
      message: 'services "web" already exists',
    });
    const noPorts = await call('POST', `/api/v1/namespaces/${NS}/services`, {
      metadata: { name: 'bad' },
      spec: {},
    });
    expect(noPorts.body).toMatchObject({
      code: 422,
      message: 'Service "bad" is invalid: spec.ports: Required value',
    });

    const path = `/api/v1/namespaces/${NS}/services/web`;
    await call('PATCH', path, { spec: { selector: { tier: 'a' } } }, merge);
    expect((await call('GET', path)).body.spec.selector).toEqual({ app: 'web', tier: 'a' });
    await call('PATCH', path, [{ op: 'remove', path: '/spec/selector/tier' }], 'application/json-patch+json');
    await call(
      'PATCH',
      path,
      { spec: { selector: { 'rollouts-pod-template-hash': 'h' } } },
      'application/strategic-merge-patch+json',
    );
    const patched = (await call('GET', path)).body;
    expect(patched.spec.selector).toEqual({ app: 'web', 'rollouts-pod-template-hash': 'h' });
    expect(patched.spec.clusterIP).toBe(created.body.spec.clusterIP);
    expect(
      (await call('GET', `/api/v1/namespaces/${NS}/services?labelSelector=app%3Dweb`)).body,
    ).toMatchObject({
      kind: 'ServiceList',
      items: [{ metadata: { name: 'web' } }],
    });
    expect((await call('DELETE', path)).status).toBe(200);
    expect((await call('GET', path)).body).toMatchObject({ code: 404, message: 'services "web" not found' });
  });

  it('treats Rollouts as a CRD with the status subresource: status only through /status, generation on spec changes', async () => {
    await target.seedRollout(SEED);
    const before = (await call('GET', roPath)).body;
    expect(before.metadata.generation).toBe(1);

    // The main resource ignores status; a metadata change is no new generation.
    const main = await call(
      'PATCH',
      roPath,
      { metadata: { labels: { team: 'a' } }, status: { abort: true } },
      merge,
    );
    expect(main.body.metadata).toMatchObject({ generation: 1, labels: { team: 'a' } });
    expect(main.body.status.abort).toBeUndefined();
    // /status ignores everything else.
    const status = await call(
      'PATCH',
      `${roPath}/status`,
      { spec: { replicas: 9 }, status: { promoteFull: true } },
      merge,
    );
    expect(status.body.spec.replicas).toBe(3);
    expect(status.body.status.promoteFull).toBe(true);
    expect(status.body.metadata.generation).toBe(1);

    // A spec change bumps the generation; the answer is the object as written, before the controller.
    const scaled = await call('PATCH', roPath, { spec: { replicas: 4 } }, merge);
    expect(scaled.body.metadata.generation).toBe(2);
    expect(scaled.body.status.observedGeneration).toBe('1');
    expect((await call('GET', roPath)).body.status.observedGeneration).toBe('2');

    expect(
      (await call('PATCH', roPath, { spec: {} }, 'application/strategic-merge-patch+json')).body,
    ).toMatchObject({
      code: 415,
      reason: 'UnsupportedMediaType',
    });
    const stale = { ...before, spec: { ...before.spec, replicas: 5 } };
    expect((await call('PUT', roPath, stale)).body).toMatchObject({ code: 409, reason: 'Conflict' });
    expect((await call('GET', `${roPath}x`)).body).toMatchObject({
      code: 404,
      message: `rollouts.argoproj.io "${ROLLOUT}x" not found`,
    });
    const list = (await call('GET', '/apis/argoproj.io/v1alpha1/rollouts')).body;
    expect(list).toMatchObject({ kind: 'RolloutList', apiVersion: 'argoproj.io/v1alpha1' });
    expect(list.items.map((i: KObject) => i.metadata.name)).toEqual([ROLLOUT]);
  });

  it('refuses what the Rollout CRD schema refuses, and defaults the ports protocol as it does', async () => {
    await call('POST', '/api/v1/namespaces', { metadata: { name: NS } });
    const { rollout } = rolloutSeedObjects(SEED);
    const noActive = structuredClone(rollout);
    noActive.spec.strategy.blueGreen.activeService = undefined;
    expect(
      (await call('POST', `/apis/argoproj.io/v1alpha1/namespaces/${NS}/rollouts`, noActive)).body,
    ).toMatchObject({
      code: 422,
      message: `Rollout.argoproj.io "${ROLLOUT}" is invalid: spec.strategy.blueGreen.activeService: Required value`,
    });
    const created = await call('POST', `/apis/argoproj.io/v1alpha1/namespaces/${NS}/rollouts`, rollout);
    expect(created.status).toBe(201);
    expect(created.body.spec.template.spec.containers[0].ports).toEqual([
      { containerPort: 8000, protocol: 'TCP' },
    ]);
    expect(created.body.status).toBeUndefined();
  });

  it('reports a missing active Service as InvalidSpec, and recovers once it is back', async () => {
    await call('POST', '/api/v1/namespaces', { metadata: { name: NS } });
    const { services, rollout } = rolloutSeedObjects(SEED);
    await call('POST', `/apis/argoproj.io/v1alpha1/namespaces/${NS}/rollouts`, rollout);
    const invalid = await rollouts.getRollout(NS, ROLLOUT);
    expect(invalid.status.phase).toBe('Degraded');
    expect(invalid.status.message).toBe(
      `InvalidSpec: The Rollout "${ROLLOUT}" is invalid: spec.strategy.blueGreen.activeService: Invalid value: "${ACTIVE}": service "${ACTIVE}" not found`,
    );
    expect(await rollouts.listRevisions(NS, ROLLOUT)).toEqual([]);
    for (const svc of services) await call('POST', `/api/v1/namespaces/${NS}/services`, svc);
    const healthy = await until('health', (r) => r.status.phase === 'Healthy');
    expect(healthy.status.conditions.map((c) => c.type)).not.toContain('InvalidSpec');
    expect(healthy.revision).toBe(1);
  });

  it('releases the Services of a deleted Rollout and deletes its ReplicaSets', async () => {
    await target.seedRollout(SEED);
    expect((await call('DELETE', roPath)).status).toBe(200);
    expect((await call('GET', `/apis/apps/v1/namespaces/${NS}/replicasets`)).body.items).toEqual([]);
    const active = (await call('GET', `/api/v1/namespaces/${NS}/services/${ACTIVE}`)).body;
    expect(active.spec.selector).toEqual({ app: ROLLOUT });
    expect(active.metadata.annotations?.['argo-rollouts.argoproj.io/managed-by-rollouts']).toBeUndefined();
  });

  it('keeps an aborted preview up when abortScaleDownDelaySeconds is 0', async () => {
    await target.seedRollout(SEED);
    await call(
      'PATCH',
      roPath,
      { spec: { strategy: { blueGreen: { abortScaleDownDelaySeconds: 0 } } } },
      merge,
    );
    await rollouts.setImage(NS, ROLLOUT, ROLLOUT, V2, 'deploy');
    await until('the pause', (r) => r.status.phase === 'Paused');
    await rollouts.abort(NS, ROLLOUT);
    target.clock.advance(3600);
    const r = await rollouts.getRollout(NS, ROLLOUT);
    expect(r.status.phase).toBe('Degraded');
    const preview = (await rollouts.listRevisions(NS, ROLLOUT)).find((x) => x.revision === 2);
    expect(preview).toMatchObject({ replicas: 3, availableReplicas: 3 });
    expect(preview?.scaleDownDeadline).toBeUndefined();
    expect(target.sim.servedImageOfService(NS, PREVIEW)).toBe(V2);
  });

  it('promotes by itself after autoPromotionSeconds', async () => {
    await target.seedRollout({ ...SEED, autoPromotionEnabled: true });
    await call('PATCH', roPath, { spec: { strategy: { blueGreen: { autoPromotionSeconds: 60 } } } }, merge);
    await rollouts.setImage(NS, ROLLOUT, ROLLOUT, V2, 'deploy');
    const paused = await until('the pause', (r) => r.status.phase === 'Paused');
    const pausedAt = Date.parse(paused.status.pauseConditions[0]?.startTime ?? '');
    const healthy = await until('auto-promotion', (r) => r.status.phase === 'Healthy');
    expect(healthy.status.stableRS).toBe(paused.status.currentPodHash);
    // CompletedBlueGreenPause: strictly after startTime + autoPromotionSeconds.
    expect(target.clock.now().getTime() - pausedAt).toBe(61_000);
  });

  it('scales both ReplicaSets of an update when spec.replicas changes (syncReplicasOnly)', async () => {
    await target.seedRollout(SEED);
    await rollouts.setImage(NS, ROLLOUT, ROLLOUT, V2, 'deploy');
    await until('the pause', (r) => r.status.phase === 'Paused');
    await call('PATCH', roPath, { spec: { replicas: 5 } }, merge);
    target.clock.advance(10);
    const revisions = await rollouts.listRevisions(NS, ROLLOUT);
    expect(revisions.map((r) => [r.revision, r.replicas, r.availableReplicas])).toEqual([
      [1, 5, 5],
      [2, 5, 5],
    ]);
    expect((await rollouts.getRollout(NS, ROLLOUT)).status).toMatchObject({
      phase: 'Paused',
      availableReplicas: 5,
    });
  });

  it('goes straight back to a revision inside the rollbackWindow, even scaled down', async () => {
    await target.seedRollout({ ...SEED, scaleDownDelaySeconds: 10 });
    await call('PATCH', roPath, { spec: { rollbackWindow: { revisions: 1 } } }, merge);
    target.clock.advance(5);
    await rollouts.setImage(NS, ROLLOUT, ROLLOUT, V2, 'deploy');
    const paused = await until('the pause', (r) => r.status.phase === 'Paused');
    await rollouts.promote(NS, ROLLOUT, { full: false });
    target.clock.advance(30);
    const [first] = await rollouts.listRevisions(NS, ROLLOUT);
    expect(first?.replicas).toBe(0);
    await rollouts.setTemplate(NS, ROLLOUT, first?.podTemplate ?? {}, 'rollback');
    const back = await until('the rollback', (r) => r.status.stableRS === first?.podTemplateHash);
    expect(back.status.activeSelector).toBe(first?.podTemplateHash);
    expect(back.status.stableRS).not.toBe(paused.status.currentPodHash);
    expect(back.status.phase).toBe('Healthy');
  });

  it('carries Rollouts and Services through a snapshot, and loads a snapshot from before them', async () => {
    await target.seedRollout(SEED);
    await rollouts.setImage(NS, ROLLOUT, ROLLOUT, V2, 'deploy');
    await until('the pause', (r) => r.status.phase === 'Paused');
    const snapshot = target.sim.exportState();
    expect(Object.keys(snapshot.services ?? {})).toEqual([`${NS}/${ACTIVE}`, `${NS}/${PREVIEW}`]);
    expect(Object.keys(snapshot.rollouts ?? {})).toEqual([`${NS}/${ROLLOUT}`]);

    const clock = new SimulatedClock(target.clock.now());
    const resumed = await startClusterSimulator({ clock, snapshot: JSON.parse(JSON.stringify(snapshot)) });
    try {
      const again = new KubernetesRollouts(resumed.kubeConfig());
      expect((await again.getRollout(NS, ROLLOUT)).status.phase).toBe('Paused');
      await again.promote(NS, ROLLOUT, { full: false });
      expect((await again.getRollout(NS, ROLLOUT)).status.phase).toBe('Healthy');
      expect(resumed.servedImageOfService(NS, ACTIVE)).toBe(V2);
    } finally {
      await resumed.close();
    }

    const { services: _s, rollouts: _r, ...older } = snapshot;
    const old = await startClusterSimulator({ clock, snapshot: older as ClusterSimSnapshot });
    try {
      expect(old.exportState()).toMatchObject({ services: {}, rollouts: {} });
    } finally {
      await old.close();
    }
  });

  it('seeds Rollouts from its options and says which image a Service serves', async () => {
    const clock = new SimulatedClock(new Date('2026-03-02T09:00:00Z'));
    const sim = await startClusterSimulator({ clock, seedRollouts: [SEED] });
    try {
      expect(sim.servedImageOfService(NS, ACTIVE)).toBe(V1);
      expect(sim.servedImageOfService(NS, PREVIEW)).toBe(V1);
      expect(sim.servedImageOfService(NS, 'nope')).toBeUndefined();
      expect(sim.cluster.getRollout(NS, ROLLOUT).status.phase).toBe('Healthy');
    } finally {
      await sim.close();
    }
  });
});
