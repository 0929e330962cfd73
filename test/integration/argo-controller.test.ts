/**
 * The real Argo Rollouts controller (built by tools/kube/cluster.sh from
 * github.com/argoproj/argo-rollouts at the pinned version, run against the kwok control plane)
 * driven with the patches the `kubectl argo rollouts` plugin sends: what a blue-green Rollout does
 * on set image, promote, abort, pause and a preview that never becomes ready. These are the
 * facts the cluster simulator's Rollout kind is held to (see test/shared/rollout-scenarios.ts).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { AppsV1Api, type KubeConfig, type V1ReplicaSet } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ROLLOUT_HASH_LABEL,
  ROLLOUT_REVISION_ANNOTATION,
  SCALE_DOWN_DEADLINE_ANNOTATION,
} from '../../lambdas/adapters/rollouts.ts';
import type { RolloutSeedSpec, RolloutTarget } from '../shared/rollout-target.ts';
import { waitUntil } from './real-cluster.ts';
import {
  patchRollout,
  patchRolloutStatus,
  type RolloutJson,
  readRollout,
  selectedHash,
  setRolloutImage,
  startRealRolloutTarget,
} from './real-rollouts.ts';

const versions = Object.fromEntries(
  readFileSync(path.join(import.meta.dirname, '../../tools/kube/versions.env'), 'utf8')
    .split('\n')
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => line.split('=', 2) as [string, string]),
);

const REPO = 'ghcr.io/buywhere/buywhere-api';
const NAME = 'buywhere-api';
const ACTIVE = 'buywhere-api-active';
const PREVIEW = 'buywhere-api-preview';

/** `kubectl argo rollouts promote` on a Rollout paused for promotion (promote.go getPatches). */
const PROMOTE = { status: { pauseConditions: null } };
/** `kubectl argo rollouts abort`. */
const ABORT = { status: { abort: true } };

const condition = (ro: RolloutJson, type: string) => ro.status?.conditions?.find((c) => c.type === type);

describe(`the real Argo Rollouts controller ${versions.ARGO_ROLLOUTS_VERSION} on the kwok control plane`, () => {
  let target: RolloutTarget;
  let kc: KubeConfig;
  let NS: string;

  beforeEach(async () => {
    target = await startRealRolloutTarget();
    kc = target.kubeConfig;
    NS = target.freshNamespace('argo');
  });

  afterEach(async () => {
    await target.close();
  });

  const seed = (extra: Partial<RolloutSeedSpec> = {}) =>
    target.seedRollout({
      namespace: NS,
      name: NAME,
      container: NAME,
      image: `${REPO}:v1.0.0`,
      replicas: 3,
      activeService: ACTIVE,
      previewService: PREVIEW,
      ...extra,
    });

  /** Polls the Rollout until `check` holds; returns it, with every phase/message seen on the way. */
  async function waitForRollout(
    what: string,
    check: (ro: RolloutJson) => boolean,
    timeoutMs = 60_000,
  ): Promise<{ rollout: RolloutJson; seen: string[] }> {
    const seen: string[] = [];
    let rollout: RolloutJson | undefined;
    await waitUntil(
      what,
      async () => {
        rollout = await readRollout(kc, NS, NAME);
        const state = `${rollout.status?.phase}: ${rollout.status?.message ?? ''}`;
        if (seen.at(-1) !== state) seen.push(state);
        return check(rollout);
      },
      timeoutMs,
    );
    if (!rollout) throw new Error('unreachable: waitUntil returned before reading the Rollout');
    return { rollout, seen };
  }

  const replicaSets = async (): Promise<V1ReplicaSet[]> =>
    (await kc.makeApiClient(AppsV1Api).listNamespacedReplicaSet({ namespace: NS })).items;
  const replicaSetWithHash = async (hash: string | undefined) => {
    const rs = (await replicaSets()).find((r) => r.metadata?.labels?.[ROLLOUT_HASH_LABEL] === hash);
    if (!rs) throw new Error(`no ReplicaSet with ${ROLLOUT_HASH_LABEL}=${hash} in ${NS}`);
    return rs;
  };

  /** Sets the image and waits for the controller's pause for promotion. */
  async function releaseToPreview(image: string): Promise<RolloutJson> {
    await setRolloutImage(kc, NS, NAME, NAME, image);
    const { rollout } = await waitForRollout(`${NS}/${NAME} to pause for promotion`, (ro) =>
      Boolean(ro.status?.pauseConditions?.some((p) => p.reason === 'BlueGreenPause')),
    );
    return rollout;
  }

  it('seeds a blue-green Rollout Healthy at revision 1, both Services on its stable hash', async () => {
    await seed();
    const ro = await readRollout(kc, NS, NAME);
    expect(ro.metadata.annotations?.[ROLLOUT_REVISION_ANNOTATION]).toBe('1');
    expect(ro.status).toMatchObject({
      phase: 'Healthy',
      observedGeneration: String(ro.metadata.generation),
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
    });
    expect(ro.status?.message).toBeUndefined();
    const stable = ro.status?.stableRS;
    expect(stable).toBeTruthy();
    expect(ro.status?.currentPodHash).toBe(stable);
    expect(ro.status?.blueGreen).toEqual({ activeSelector: stable, previewSelector: stable });
    expect(await selectedHash(kc, NS, ACTIVE)).toBe(stable);
    expect(await selectedHash(kc, NS, PREVIEW)).toBe(stable);
    expect(condition(ro, 'Healthy')).toMatchObject({ status: 'True', reason: 'RolloutHealthy' });
    expect(condition(ro, 'Progressing')).toMatchObject({ status: 'True', reason: 'NewReplicaSetAvailable' });
    expect(await target.servedImage(NS, ACTIVE)).toBe(`${REPO}:v1.0.0`);
    expect(await target.servedImage(NS, PREVIEW)).toBe(`${REPO}:v1.0.0`);
    expect(await target.servedImage(NS, 'no-such-service')).toBeUndefined();
  });

  it('seeds a canary Rollout with no steps Healthy, leaving the Services alone', async () => {
    await seed({ strategy: 'canary' });
    const ro = await readRollout(kc, NS, NAME);
    expect(ro.spec.strategy).toEqual({ canary: {} });
    expect(ro.status?.phase).toBe('Healthy');
    expect(await selectedHash(kc, NS, ACTIVE)).toBeUndefined();
  });

  it('on a new image, scales the preview ReplicaSet up behind the preview Service and pauses for promotion', async () => {
    await seed();
    const before = await readRollout(kc, NS, NAME);
    const stable = before.status?.stableRS;

    const ro = await releaseToPreview(`${REPO}:v2.0.0`);
    const preview = ro.status?.currentPodHash;
    expect(preview).toBeTruthy();
    expect(preview).not.toBe(stable);
    expect(ro.metadata.annotations?.[ROLLOUT_REVISION_ANNOTATION]).toBe('2');
    expect(ro.status).toMatchObject({
      phase: 'Paused',
      message: 'BlueGreenPause',
      controllerPause: true,
      stableRS: stable,
      blueGreen: { activeSelector: stable, previewSelector: preview },
      // Both ReplicaSets are up; ready/available count the active one.
      replicas: 6,
      updatedReplicas: 3,
      availableReplicas: 3,
    });
    expect(ro.status?.pauseConditions).toEqual([{ reason: 'BlueGreenPause', startTime: expect.any(String) }]);
    expect(condition(ro, 'Paused')).toMatchObject({ status: 'True', reason: 'RolloutPaused' });
    expect(condition(ro, 'Progressing')).toMatchObject({ status: 'Unknown', reason: 'RolloutPaused' });

    const previewRS = await replicaSetWithHash(preview);
    expect(previewRS.spec?.replicas).toBe(3);
    expect(previewRS.status?.availableReplicas).toBe(3);
    expect(previewRS.metadata?.annotations?.[ROLLOUT_REVISION_ANNOTATION]).toBe('2');
    expect((await replicaSetWithHash(stable)).spec?.replicas).toBe(3);
    expect(await selectedHash(kc, NS, PREVIEW)).toBe(preview);
    expect(await selectedHash(kc, NS, ACTIVE)).toBe(stable);
    expect(await target.servedImage(NS, PREVIEW)).toBe(`${REPO}:v2.0.0`);
    expect(await target.servedImage(NS, ACTIVE)).toBe(`${REPO}:v1.0.0`);
  });

  it('on promote, moves the active Service to the new hash and scales the old ReplicaSet down after scaleDownDelaySeconds', async () => {
    const scaleDownDelaySeconds = 5;
    await seed({ scaleDownDelaySeconds });
    const paused = await releaseToPreview(`${REPO}:v2.0.0`);
    const oldHash = paused.status?.stableRS;
    const newHash = paused.status?.currentPodHash;

    const promotedAt = Math.floor(Date.now() / 1000) * 1000;
    await patchRolloutStatus(kc, NS, NAME, PROMOTE);
    const { rollout: ro } = await waitForRollout(
      `${NS}/${NAME} to be Healthy on the new hash`,
      (r) => r.status?.phase === 'Healthy' && r.status.stableRS === newHash,
    );
    const observedAt = Date.now();
    expect(ro.status?.blueGreen).toEqual({ activeSelector: newHash, previewSelector: newHash });
    expect(ro.status?.pauseConditions).toBeUndefined();
    expect(ro.status?.controllerPause).toBeUndefined();
    expect(condition(ro, 'Progressing')).toMatchObject({
      status: 'True',
      reason: 'NewReplicaSetAvailable',
      message: `ReplicaSet "${NAME}-${newHash}" has successfully progressed.`,
    });
    expect(await selectedHash(kc, NS, ACTIVE)).toBe(newHash);
    expect(await target.servedImage(NS, ACTIVE)).toBe(`${REPO}:v2.0.0`);

    // The old ReplicaSet stays up, annotated with when it goes: the moment the controller
    // switched the Service (between the promote and now) plus the delay. (Only a machine so
    // loaded that this read comes after the deadline finds it already scaled down.)
    const oldRS = await replicaSetWithHash(oldHash);
    const deadline = oldRS.metadata?.annotations?.[SCALE_DOWN_DEADLINE_ANNOTATION];
    if (oldRS.spec?.replicas !== 0) {
      expect(deadline).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      const at = Date.parse(deadline ?? '');
      expect(at).toBeGreaterThanOrEqual(promotedAt + scaleDownDelaySeconds * 1000);
      expect(at).toBeLessThanOrEqual(observedAt + scaleDownDelaySeconds * 1000);
    }
    await waitUntil('the old ReplicaSet to be scaled to 0', async () => {
      const rs = await replicaSetWithHash(oldHash);
      return rs.spec?.replicas === 0 && (rs.status?.replicas ?? 0) === 0;
    });
    expect(
      (await replicaSetWithHash(oldHash)).metadata?.annotations?.[SCALE_DOWN_DEADLINE_ANNOTATION],
    ).toBeUndefined();
    const { rollout: after } = await waitForRollout(
      'the Rollout to count 3 replicas',
      (r) => r.status?.replicas === 3,
    );
    expect(after.status?.phase).toBe('Healthy');
  });

  it('on abort, goes Degraded with traffic on stable; putting the stable image back makes it Healthy without a pause', async () => {
    await seed();
    const paused = await releaseToPreview(`${REPO}:v2.0.0`);
    const stable = paused.status?.stableRS;
    const aborted = paused.status?.currentPodHash;

    await patchRolloutStatus(kc, NS, NAME, ABORT);
    const { rollout: ro } = await waitForRollout(
      `${NS}/${NAME} to be Degraded`,
      (r) => r.status?.phase === 'Degraded',
    );
    expect(ro.status).toMatchObject({
      message: 'RolloutAborted: Rollout aborted update to revision 2',
      abort: true,
      abortedAt: expect.any(String),
      currentPodHash: aborted,
      stableRS: stable,
      // The preview Service keeps selecting the aborted ReplicaSet.
      blueGreen: { activeSelector: stable, previewSelector: aborted },
    });
    expect(ro.status?.pauseConditions).toBeUndefined();
    expect(ro.status?.controllerPause).toBeUndefined();
    expect(condition(ro, 'Progressing')).toEqual(
      expect.objectContaining({
        status: 'False',
        reason: 'RolloutAborted',
        message: 'Rollout aborted update to revision 2',
      }),
    );
    expect(await selectedHash(kc, NS, ACTIVE)).toBe(stable);
    expect(await target.servedImage(NS, ACTIVE)).toBe(`${REPO}:v1.0.0`);
    // The aborted ReplicaSet is kept up until abortScaleDownDelaySeconds (default 30) have passed.
    const abortedRS = await replicaSetWithHash(aborted);
    expect(abortedRS.metadata?.annotations?.[SCALE_DOWN_DEADLINE_ANNOTATION]).toMatch(/Z$/);

    // The desired state back on the stable image (what the guardian does after an abort): the
    // stable ReplicaSet is reused at a new revision and, already active, needs no promotion.
    await setRolloutImage(kc, NS, NAME, NAME, `${REPO}:v1.0.0`);
    const { rollout: back, seen } = await waitForRollout(
      `${NS}/${NAME} to be Healthy on the stable hash again`,
      (r) => r.status?.phase === 'Healthy' && r.status.currentPodHash === stable,
    );
    expect(back.metadata.annotations?.[ROLLOUT_REVISION_ANNOTATION]).toBe('3');
    expect(back.status?.abort).toBeUndefined();
    expect(back.status?.abortedAt).toBeUndefined();
    expect(back.status?.stableRS).toBe(stable);
    expect(back.status?.blueGreen).toEqual({ activeSelector: stable, previewSelector: stable });
    expect(seen.some((s) => s.startsWith('Paused'))).toBe(false);
    expect((await replicaSetWithHash(stable)).metadata?.annotations?.[ROLLOUT_REVISION_ANNOTATION]).toBe('3');
  });

  it('spec.paused pauses it by hand, and unpausing returns to the pause for promotion', async () => {
    await seed();
    const paused = await releaseToPreview(`${REPO}:v2.0.0`);
    const startTime = paused.status?.pauseConditions?.[0]?.startTime;

    await patchRollout(kc, NS, NAME, { spec: { paused: true } });
    const { rollout: manual } = await waitForRollout(
      '"manually paused"',
      (r) => r.status?.message === 'manually paused',
    );
    expect(manual.status?.phase).toBe('Paused');
    expect(manual.status?.pauseConditions).toEqual([{ reason: 'BlueGreenPause', startTime }]);

    await patchRollout(kc, NS, NAME, { spec: { paused: false } });
    const { rollout: resumed } = await waitForRollout(
      'the BlueGreenPause again',
      (r) =>
        r.status?.message === 'BlueGreenPause' &&
        r.status.observedGeneration === String(r.metadata.generation),
    );
    expect(resumed.status?.phase).toBe('Paused');
    expect(resumed.status?.pauseConditions).toEqual([{ reason: 'BlueGreenPause', startTime }]);
    expect(await selectedHash(kc, NS, ACTIVE)).toBe(paused.status?.stableRS);
  });

  it('never pauses for promotion when the preview pods never become Ready: the progress deadline makes it Degraded', async () => {
    await seed({ progressDeadlineSeconds: 5 });
    const stable = (await readRollout(kc, NS, NAME)).status?.stableRS;

    await setRolloutImage(kc, NS, NAME, NAME, `${REPO}:v2.0.0-never-ready`);
    const { rollout: ro, seen } = await waitForRollout(
      `${NS}/${NAME} to be Degraded by the progress deadline`,
      (r) => r.status?.phase === 'Degraded',
    );
    const previewHash = ro.status?.currentPodHash;
    expect(seen.filter((s) => s.startsWith('Paused'))).toEqual([]);
    expect(seen).toContain('Progressing: active service cutover pending');
    expect(ro.status).toMatchObject({
      message: `ProgressDeadlineExceeded: ReplicaSet "${NAME}-${previewHash}" has timed out progressing.`,
      stableRS: stable,
      blueGreen: { activeSelector: stable, previewSelector: previewHash },
    });
    expect(ro.status?.pauseConditions).toBeUndefined();
    expect(ro.status?.abort).toBeUndefined();
    expect(condition(ro, 'Progressing')).toMatchObject({
      status: 'False',
      reason: 'ProgressDeadlineExceeded',
    });
    const previewRS = await replicaSetWithHash(previewHash);
    expect(previewRS.spec?.replicas).toBe(3);
    expect(previewRS.status?.readyReplicas ?? 0).toBe(0);
    expect(await selectedHash(kc, NS, ACTIVE)).toBe(stable);
    expect(await target.servedImage(NS, ACTIVE)).toBe(`${REPO}:v1.0.0`);
    expect(await target.servedImage(NS, PREVIEW)).toBeUndefined();
  });

  it('reports a preview Service that does not exist as InvalidSpec, leaving traffic where it was', async () => {
    await seed({ previewService: null });
    const stable = (await readRollout(kc, NS, NAME)).status?.stableRS;
    await patchRollout(kc, NS, NAME, {
      spec: { strategy: { blueGreen: { previewService: 'missing-preview' } } },
    });
    const { rollout: ro } = await waitForRollout('InvalidSpec', (r) => r.status?.phase === 'Degraded');
    expect(ro.status?.message).toBe(
      `InvalidSpec: The Rollout "${NAME}" is invalid: spec.strategy.blueGreen.previewService: ` +
        'Invalid value: "missing-preview": service "missing-preview" not found',
    );
    expect(condition(ro, 'InvalidSpec')).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
    expect(await replicaSets()).toHaveLength(1);
    expect(await selectedHash(kc, NS, ACTIVE)).toBe(stable);
  });
});
