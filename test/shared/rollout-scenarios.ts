/**
 * The Argo Rollouts scenarios the guardian depends on, written once and run against two targets:
 * the embedded cluster simulator (`npm test`) and a real control plane with the real Argo Rollouts
 * controller v1.10.1 (`npm run test:integration`). Everything goes through KubernetesRollouts, the
 * adapter the guardian uses. Expectations are what the real controller does (rollout/bluegreen.go,
 * sync.go, service.go, replicaset.go, pause.go); where the simulator differs, it is wrong.
 *
 * A real controller moves on its own, so a scenario only asserts settled states, reached by polling
 * with `elapse(stepSeconds)` between reads; intermediate states are asserted when the target
 * controls time (`controlsTime`).
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubernetesRollouts } from '../../lambdas/adapters/kubernetes-rollouts.ts';
import type { RolloutRevision, RolloutState } from '../../lambdas/adapters/rollouts.ts';
import { InvalidInputError, NotFoundError } from '../../lambdas/core/errors.ts';
import type { RolloutSeedSpec, RolloutTarget } from './rollout-target.ts';

/** The image repository every scenario deploys. */
export const REPO = 'ghcr.io/buywhere/buywhere-api';
/** The Rollout (and its only container) every scenario acts on. */
export const ROLLOUT = 'buywhere-api';
/** Its Services. */
export const ACTIVE = `${ROLLOUT}-active`;
export const PREVIEW = `${ROLLOUT}-preview`;

const V1 = `${REPO}:v1.0.0`;
const V2 = `${REPO}:v1.1.0`;

/** One line saying where a Rollout is, for failure messages. */
export function describeRollout(r: RolloutState): string {
  const s = r.status;
  const conditions = s.conditions.map((c) => `${c.type}=${c.status}/${c.reason ?? ''}`).join(' ');
  return (
    `generation ${r.generation} (observed ${r.observedGeneration}), revision ${r.revision}, phase ${s.phase ?? '-'}` +
    ` (${s.message ?? ''}), current ${s.currentPodHash ?? '-'}, stable ${s.stableRS ?? '-'},` +
    ` active ${s.activeSelector ?? '-'}, preview ${s.previewSelector ?? '-'}, abort ${s.abort},` +
    ` pause [${s.pauseConditions.map((p) => p.reason).join(',')}] controllerPause ${s.controllerPause},` +
    ` replicas ${s.replicas}/${s.updatedReplicas}/${s.readyReplicas}/${s.availableReplicas}; ${conditions}`
  );
}

function condition(r: RolloutState, type: string) {
  return r.status.conditions.find((c) => c.type === type);
}

/** The controller has seen the latest spec. */
export function isObserved(r: RolloutState): boolean {
  return r.observedGeneration >= r.generation;
}

/**
 * Registers the shared scenarios. `makeTarget` is called before each scenario and the target is
 * closed after it, so scenarios never see each other's objects.
 */
export function defineRolloutScenarios(label: string, makeTarget: () => Promise<RolloutTarget>): void {
  describe(`Argo Rollout scenarios against ${label}`, () => {
    let target: RolloutTarget;
    let rollouts: KubernetesRollouts;
    let NS: string;

    beforeEach(async () => {
      target = await makeTarget();
      NS = target.freshNamespace('argo');
      rollouts = new KubernetesRollouts(target.kubeConfig);
    });

    afterEach(async () => {
      await target?.close();
    });

    /** Seeds the Rollout at v1.0.0 (3 replicas, both Services, manual promotion) with `overrides`. */
    async function seed(overrides: Partial<RolloutSeedSpec> = {}): Promise<RolloutState> {
      await target.seedRollout({
        namespace: NS,
        name: ROLLOUT,
        container: ROLLOUT,
        image: V1,
        replicas: 3,
        activeService: ACTIVE,
        previewService: PREVIEW,
        ...overrides,
      });
      return rollouts.getRollout(NS, ROLLOUT);
    }

    /** Waits (in target time) until `check` passes, then returns its value; rethrows its last failure. */
    async function eventually<T>(check: () => Promise<T>, maxSeconds = 120): Promise<T> {
      for (let waited = 0; ; waited += target.stepSeconds) {
        try {
          return await check();
        } catch (err) {
          if (waited >= maxSeconds) throw err;
        }
        await target.elapse(target.stepSeconds);
      }
    }

    /** Waits until the controller has observed the spec and `settled` holds; returns that state. */
    async function until(
      what: string,
      settled: (r: RolloutState) => boolean,
      maxSeconds = 120,
    ): Promise<RolloutState> {
      return eventually(async () => {
        const r = await rollouts.getRollout(NS, ROLLOUT);
        if (!isObserved(r) || !settled(r)) throw new Error(`waiting for ${what}: ${describeRollout(r)}`);
        return r;
      }, maxSeconds);
    }

    // Settled: the controller has also recorded the Paused condition (its next pass after pausing).
    const pausedForPromotion = (r: RolloutState) =>
      r.status.phase === 'Paused' &&
      r.status.pauseConditions.some((p) => p.reason === 'BlueGreenPause') &&
      condition(r, 'Paused')?.status === 'True';
    const healthyOn = (hash: string | undefined) => (r: RolloutState) =>
      r.status.phase === 'Healthy' &&
      r.status.currentPodHash === hash &&
      r.status.stableRS === hash &&
      r.status.activeSelector === hash;

    async function revisions(): Promise<RolloutRevision[]> {
      return rollouts.listRevisions(NS, ROLLOUT);
    }

    async function revision(n: number): Promise<RolloutRevision> {
      const found = (await revisions()).find((r) => r.revision === n);
      if (!found)
        throw new Error(`no revision ${n}: ${JSON.stringify((await revisions()).map((r) => r.revision))}`);
      return found;
    }

    /** Sets v1.1.0 and waits until its preview is Ready and the Rollout pauses for promotion. */
    async function deployAndPause(): Promise<RolloutState> {
      await rollouts.setImage(NS, ROLLOUT, ROLLOUT, V2, 'deploy v1.1.0');
      return until('the pause for promotion', pausedForPromotion);
    }

    it('reads the seeded Rollout as Healthy at revision 1, both Services on its ReplicaSet', async () => {
      const r = await seed();
      // The real controller's first write normalises the spec (resources: {}), a generation of its
      // own: only that the controller has observed the latest one is certain.
      expect(r.observedGeneration).toBe(r.generation);
      expect(r).toMatchObject({
        namespace: NS,
        name: ROLLOUT,
        replicas: 3,
        paused: false,
        strategy: 'blueGreen',
        blueGreen: {
          activeService: ACTIVE,
          previewService: PREVIEW,
          autoPromotionEnabled: false,
          scaleDownDelaySeconds: 30,
        },
        progressDeadlineSeconds: 600,
        revision: 1,
        images: { [ROLLOUT]: V1 },
        status: {
          phase: 'Healthy',
          abort: false,
          controllerPause: false,
          promoteFull: false,
          pauseConditions: [],
          replicas: 3,
          updatedReplicas: 3,
          readyReplicas: 3,
          availableReplicas: 3,
        },
      });
      const hash = r.status.currentPodHash;
      expect(hash).toMatch(/^[a-z0-9]+$/);
      expect(r.status).toMatchObject({ stableRS: hash, activeSelector: hash, previewSelector: hash });
      expect(r.podTemplate.metadata).toEqual({ labels: { app: ROLLOUT } });
      expect(condition(r, 'Healthy')).toMatchObject({ status: 'True', reason: 'RolloutHealthy' });
      expect(condition(r, 'Available')).toMatchObject({ status: 'True' });
      expect(condition(r, 'Progressing')).toMatchObject({
        status: 'True',
        reason: 'NewReplicaSetAvailable',
        message: `ReplicaSet "${ROLLOUT}-${hash}" has successfully progressed.`,
      });

      const [first, ...rest] = await revisions();
      expect(rest).toEqual([]);
      expect(first).toMatchObject({
        revision: 1,
        replicaSetName: `${ROLLOUT}-${hash}`,
        podTemplateHash: hash,
        images: { [ROLLOUT]: V1 },
        replicas: 3,
        readyReplicas: 3,
        availableReplicas: 3,
      });
      expect(first?.scaleDownDeadline).toBeUndefined();
      // The controller's hash label is not part of the revision's template.
      expect(first?.podTemplate.metadata).toEqual({ labels: { app: ROLLOUT } });

      for (const service of [ACTIVE, PREVIEW]) {
        expect(await rollouts.getService(NS, service)).toEqual({
          namespace: NS,
          name: service,
          selector: { app: ROLLOUT, 'rollouts-pod-template-hash': hash },
        });
        expect(await target.servedImage(NS, service)).toBe(V1);
      }
      const pods = await rollouts.podTimings(NS, ROLLOUT, hash ?? '');
      expect(pods).toHaveLength(3);
      for (const p of pods) {
        expect(p.name.startsWith(`${ROLLOUT}-${hash}-`), p.name).toBe(true);
        expect(p.readyAt, p.name).toBeDefined();
      }
      expect(await rollouts.podTimings(NS, ROLLOUT, 'nohash')).toEqual([]);
    });

    it('puts a new image behind the preview Service and pauses for promotion, the active Service on the stable revision', async () => {
      const before = await seed();
      const stable = before.status.stableRS;
      const after = await rollouts.setImage(NS, ROLLOUT, ROLLOUT, V2, 'deploy v1.1.0');
      expect(after.generation).toBe(before.generation + 1);
      expect(after.images[ROLLOUT]).toBe(V2);

      if (target.controlsTime) {
        // The preview Service switches as soon as the new ReplicaSet exists, before its pods are Ready.
        const early = await rollouts.getRollout(NS, ROLLOUT);
        expect(early.revision).toBe(2);
        expect(early.status.currentPodHash).not.toBe(stable);
        expect(early.status).toMatchObject({
          phase: 'Progressing',
          message: 'active service cutover pending',
          stableRS: stable,
          activeSelector: stable,
          previewSelector: early.status.currentPodHash,
          pauseConditions: [],
        });
        expect(await target.servedImage(NS, PREVIEW)).toBeUndefined();
        expect(await target.servedImage(NS, ACTIVE)).toBe(V1);
      }

      const paused = await until('the pause for promotion', pausedForPromotion);
      const preview = paused.status.currentPodHash;
      expect(preview).not.toBe(stable);
      expect(paused.revision).toBe(2);
      expect(paused.status).toMatchObject({
        phase: 'Paused',
        message: 'BlueGreenPause',
        stableRS: stable,
        activeSelector: stable,
        previewSelector: preview,
        controllerPause: true,
        abort: false,
        // Blue-green counts the active ReplicaSet's pods as the Rollout's ready and available ones.
        updatedReplicas: 3,
        availableReplicas: 3,
      });
      expect(paused.status.pauseConditions).toEqual([
        { reason: 'BlueGreenPause', startTime: expect.any(String) },
      ]);
      expect(condition(paused, 'Progressing')).toMatchObject({ status: 'Unknown', reason: 'RolloutPaused' });
      expect(condition(paused, 'Paused')).toMatchObject({ status: 'True', reason: 'RolloutPaused' });
      expect(
        (await revisions()).map((r) => [r.revision, r.podTemplateHash, r.images[ROLLOUT], r.replicas]),
      ).toEqual([
        [1, stable, V1, 3],
        [2, preview, V2, 3],
      ]);
      expect((await rollouts.getService(NS, PREVIEW)).selector['rollouts-pod-template-hash']).toBe(preview);
      expect((await rollouts.getService(NS, ACTIVE)).selector['rollouts-pod-template-hash']).toBe(stable);
      await eventually(async () => expect(await target.servedImage(NS, PREVIEW)).toBe(V2));
      expect(await target.servedImage(NS, ACTIVE)).toBe(V1);

      const pods = await rollouts.podTimings(NS, ROLLOUT, preview ?? '');
      expect(pods).toHaveLength(3);
      for (const p of pods) {
        expect(p.readyAt, p.name).toBeDefined();
        // The simulator's ordinary image is Ready 5 s after its pod is created (lib/local/image-behaviour.ts).
        if (target.controlsTime)
          expect((Date.parse(p.readyAt ?? '') - Date.parse(p.createdAt)) / 1000).toBe(5);
      }

      if (target.controlsTime) {
        // Nothing moves on its own while paused for promotion.
        await target.elapse(300);
        const still = await rollouts.getRollout(NS, ROLLOUT);
        expect(still.status).toMatchObject({
          phase: 'Paused',
          activeSelector: stable,
          previewSelector: preview,
        });
      }
    });

    it('promotes: the active Service serves the new revision, which becomes stable; the old one is scaled down after scaleDownDelaySeconds', async () => {
      const before = await seed({ scaleDownDelaySeconds: 10 });
      const stable = before.status.stableRS;
      const paused = await deployAndPause();
      const preview = paused.status.currentPodHash;

      const promoted = await rollouts.promote(NS, ROLLOUT, { full: false });
      // The plugin's patch of the status subresource: the pause conditions are gone.
      expect(promoted.status.pauseConditions).toEqual([]);

      const healthy = await until('promotion', healthyOn(preview));
      expect(healthy.status).toMatchObject({
        previewSelector: preview,
        pauseConditions: [],
        controllerPause: false,
        abort: false,
        availableReplicas: 3,
      });
      expect(condition(healthy, 'Healthy')).toMatchObject({ status: 'True' });
      expect(condition(healthy, 'Progressing')).toMatchObject({
        status: 'True',
        reason: 'NewReplicaSetAvailable',
      });
      expect((await rollouts.getService(NS, ACTIVE)).selector['rollouts-pod-template-hash']).toBe(preview);
      await eventually(async () => expect(await target.servedImage(NS, ACTIVE)).toBe(V2));

      if (target.controlsTime) {
        const old = await revision(1);
        expect(old.replicas).toBe(3);
        // Promotion happened at this instant: scale-down-deadline is 10 s from now (RFC 3339).
        expect(old.scaleDownDeadline).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        await target.elapse(9);
        expect((await revision(1)).replicas).toBe(3);
        await target.elapse(1);
        expect((await revision(1)).replicas).toBe(0);
      }
      const scaledDown = await eventually(async () => {
        const old = await revision(1);
        expect(old.replicas).toBe(0);
        return old;
      }, 60);
      expect(scaledDown.scaleDownDeadline).toBeUndefined();
      expect(scaledDown.podTemplateHash).toBe(stable);
      expect((await revision(2)).replicas).toBe(3);
      // Once the old pods are gone, the Rollout counts only the new ones.
      await eventually(async () =>
        expect((await rollouts.getRollout(NS, ROLLOUT)).status).toMatchObject({
          phase: 'Healthy',
          replicas: 3,
          updatedReplicas: 3,
        }),
      );
    });

    it('promotes by itself when autoPromotionEnabled, without pausing', async () => {
      const before = await seed({ autoPromotionEnabled: true });
      expect(before.blueGreen?.autoPromotionEnabled).toBe(true);
      const changed = await rollouts.setImage(NS, ROLLOUT, ROLLOUT, V2, 'deploy v1.1.0');
      if (target.controlsTime) {
        for (let waited = 0; waited <= 10; waited += 1) {
          const r = await rollouts.getRollout(NS, ROLLOUT);
          expect(r.status.pauseConditions, describeRollout(r)).toEqual([]);
          await target.elapse(1);
        }
      }
      const hash = (
        await until('a new current hash', (r) => r.status.currentPodHash !== before.status.currentPodHash)
      ).status.currentPodHash;
      expect(changed.generation).toBe(before.generation + 1);
      await until('promotion', healthyOn(hash));
      await eventually(async () => expect(await target.servedImage(NS, ACTIVE)).toBe(V2));
    });

    it('aborts before promotion: Degraded, the active Service stays on stable; the stable template back makes it Healthy with abort cleared', async () => {
      const before = await seed();
      const stable = before.status.stableRS;
      const paused = await deployAndPause();
      const preview = paused.status.currentPodHash;

      const aborted = await rollouts.abort(NS, ROLLOUT);
      expect(aborted.status.abort).toBe(true);
      const degraded = await until('the abort', (r) => r.status.phase === 'Degraded');
      expect(degraded.status).toMatchObject({
        phase: 'Degraded',
        message: 'RolloutAborted: Rollout aborted update to revision 2',
        abort: true,
        pauseConditions: [],
        controllerPause: false,
        stableRS: stable,
        currentPodHash: preview,
        activeSelector: stable,
        // The controller leaves the preview Service on the aborted ReplicaSet (reconcilePreviewService).
        previewSelector: preview,
      });
      expect(degraded.status.abortedAt).toEqual(expect.any(String));
      expect(condition(degraded, 'Progressing')).toMatchObject({
        status: 'False',
        reason: 'RolloutAborted',
        message: 'Rollout aborted update to revision 2',
      });
      expect(await target.servedImage(NS, ACTIVE)).toBe(V1);
      if (target.controlsTime) {
        // abortScaleDownDelaySeconds (30 by default) before the preview ReplicaSet goes.
        expect((await revision(2)).scaleDownDeadline).toEqual(expect.any(String));
        expect((await revision(2)).replicas).toBe(3);
        await target.elapse(29);
        expect((await revision(2)).replicas).toBe(3);
        await target.elapse(1);
        expect((await revision(2)).replicas).toBe(0);
      }
      await eventually(async () => expect((await revision(2)).replicas).toBe(0), 90);
      await eventually(async () => expect(await target.servedImage(NS, PREVIEW)).toBeUndefined());

      const stableRevision = await revision(1);
      const back = await rollouts.setTemplate(NS, ROLLOUT, stableRevision.podTemplate, 'rollback: abort');
      expect(back.images[ROLLOUT]).toBe(V1);
      const healthy = await until('the stable template', healthyOn(stable));
      expect(healthy.status).toMatchObject({ abort: false, previewSelector: stable, pauseConditions: [] });
      expect(healthy.status.abortedAt).toBeUndefined();
      expect(healthy.revision).toBe(3);
      // Revision 1's ReplicaSet is the current one again, under revision 3.
      expect((await revisions()).map((r) => [r.revision, r.podTemplateHash])).toEqual([
        [2, preview],
        [3, stable],
      ]);
      await eventually(async () => expect(await target.servedImage(NS, PREVIEW)).toBe(V1));
      expect(await target.servedImage(NS, ACTIVE)).toBe(V1);
    });

    it('retries after an abort: the update resumes up to the pause for promotion', async () => {
      await seed();
      const paused = await deployAndPause();
      await rollouts.abort(NS, ROLLOUT);
      await until('the abort', (r) => r.status.phase === 'Degraded');
      const retried = await rollouts.retry(NS, ROLLOUT);
      expect(retried.status.abort).toBe(false);
      const again = await until('the pause for promotion after the retry', pausedForPromotion);
      expect(again.status).toMatchObject({
        abort: false,
        currentPodHash: paused.status.currentPodHash,
        activeSelector: paused.status.stableRS,
        previewSelector: paused.status.currentPodHash,
      });
      expect(again.status.abortedAt).toBeUndefined();
      expect(await target.servedImage(NS, ACTIVE)).toBe(V1);
      await eventually(async () => expect(await target.servedImage(NS, PREVIEW)).toBe(V2));
    });

    it('holds a Rollout paused by someone (spec.paused): phase Paused, the preview not switched; resumed, it continues', async () => {
      const before = await seed();
      const stable = before.status.stableRS;
      const paused = await rollouts.pause(NS, ROLLOUT);
      expect(paused.paused).toBe(true);
      await rollouts.setImage(NS, ROLLOUT, ROLLOUT, V2, 'deploy while paused');

      const held = await until(
        'the manual pause',
        (r) => r.status.phase === 'Paused' && r.status.currentPodHash !== stable,
      );
      expect(held.paused).toBe(true);
      expect(held.status).toMatchObject({
        phase: 'Paused',
        message: 'manually paused',
        stableRS: stable,
        activeSelector: stable,
        previewSelector: stable,
        pauseConditions: [],
      });
      expect(condition(held, 'Paused')).toMatchObject({ status: 'True' });
      expect(await target.servedImage(NS, ACTIVE)).toBe(V1);
      if (target.controlsTime) {
        await target.elapse(300);
        const still = await rollouts.getRollout(NS, ROLLOUT);
        expect(still.status).toMatchObject({
          phase: 'Paused',
          message: 'manually paused',
          previewSelector: stable,
        });
        expect(await target.servedImage(NS, PREVIEW)).toBe(V1);
      }

      const resumed = await rollouts.resume(NS, ROLLOUT);
      expect(resumed.paused).toBe(false);
      const next = await until('the pause for promotion after resuming', pausedForPromotion);
      expect(next.status).toMatchObject({
        message: 'BlueGreenPause',
        activeSelector: stable,
        previewSelector: held.status.currentPodHash,
      });
      await eventually(async () => expect(await target.servedImage(NS, PREVIEW)).toBe(V2));
      expect(await target.servedImage(NS, ACTIVE)).toBe(V1);
    });

    it('undoes a promoted release: the previous template, fully promoted once observed, puts the active Service back on the old image', async () => {
      const before = await seed({ scaleDownDelaySeconds: 10 });
      const oldHash = before.status.stableRS;
      // Revision 2 created in a later second than revision 1 (creation times have second precision),
      // so that going back to 1 is a rollback (isRollback compares them).
      await target.elapse(Math.max(target.stepSeconds, 1.1));
      const paused = await deployAndPause();
      const newHash = paused.status.currentPodHash;
      await rollouts.promote(NS, ROLLOUT, { full: false });
      await until('promotion', healthyOn(newHash));
      // The old ReplicaSet is scaled down after scaleDownDelaySeconds: the undo goes to a cold revision.
      await eventually(async () => expect((await revision(1)).replicas).toBe(0), 60);

      const previous = await revision(1);
      const prior = await rollouts.getRollout(NS, ROLLOUT);
      const undone = await rollouts.setTemplate(NS, ROLLOUT, previous.podTemplate, 'rollback to revision 1');
      expect(undone.images[ROLLOUT]).toBe(V1);
      expect(undone.generation).toBe(prior.generation + 1);
      // Once the controller has observed the undo, its current hash is revision 1's again.
      const observed = await until('the undo to be observed', (r) => r.status.currentPodHash === oldHash);
      expect(observed.status).toMatchObject({
        stableRS: newHash,
        activeSelector: newHash,
        previewSelector: oldHash,
      });
      expect(observed.revision).toBe(3);
      // Outside the scale-down delay and with no rollbackWindow, it is no fast rollback: it pauses.
      const pausedAgain = await until('the pause for promotion of the undo', pausedForPromotion);
      expect(pausedAgain.status.activeSelector).toBe(newHash);
      await eventually(async () => expect(await target.servedImage(NS, PREVIEW)).toBe(V1));
      expect(await target.servedImage(NS, ACTIVE)).toBe(V2);

      const full = await rollouts.promote(NS, ROLLOUT, { full: true });
      expect(full.status.promoteFull).toBe(true);
      const healthy = await until('the full promotion of the undo', healthyOn(oldHash));
      expect(healthy.status).toMatchObject({
        promoteFull: false,
        pauseConditions: [],
        previewSelector: oldHash,
      });
      await eventually(async () => expect(await target.servedImage(NS, ACTIVE)).toBe(V1));
      expect((await revisions()).map((r) => [r.revision, r.podTemplateHash, r.images[ROLLOUT]])).toEqual([
        [2, newHash, V2],
        [3, oldHash, V1],
      ]);
    });

    it('undoes within scaleDownDelaySeconds: a fast rollback switches the active Service back without pausing', async () => {
      const before = await seed();
      const oldHash = before.status.stableRS;
      // As above: revision 2 in a later second, or the undo is no rollback and pauses.
      await target.elapse(Math.max(target.stepSeconds, 1.1));
      const paused = await deployAndPause();
      const newHash = paused.status.currentPodHash;
      await rollouts.promote(NS, ROLLOUT, { full: false });
      await until('promotion', healthyOn(newHash));
      // Still inside the default 30 s scale-down delay: revision 1's pods are up, its deadline set.
      const previous = await eventually(async () => {
        const r1 = await revision(1);
        expect(r1.scaleDownDeadline).toEqual(expect.any(String));
        return r1;
      }, 10);
      expect(previous).toMatchObject({ replicas: 3, availableReplicas: 3 });

      await rollouts.setTemplate(NS, ROLLOUT, previous.podTemplate, 'rollback to revision 1');
      if (target.controlsTime) {
        const r = await rollouts.getRollout(NS, ROLLOUT);
        expect(r.status.pauseConditions).toEqual([]);
      }
      const healthy = await until('the fast rollback', healthyOn(oldHash), 60);
      expect(healthy.status).toMatchObject({
        pauseConditions: [],
        previewSelector: oldHash,
        promoteFull: false,
      });
      expect(healthy.revision).toBe(3);
      // The ReplicaSet it went back to is no longer due to be scaled down.
      expect((await revision(3)).scaleDownDeadline).toBeUndefined();
      await eventually(async () => expect(await target.servedImage(NS, ACTIVE)).toBe(V1));
    });

    it('never pauses for a preview whose pods never become ready: the active Service keeps the old image, and the progress deadline passes', async () => {
      const before = await seed({ progressDeadlineSeconds: 15 });
      const stable = before.status.stableRS;
      await rollouts.setImage(NS, ROLLOUT, ROLLOUT, `${REPO}:v1.2.0-never-ready`, 'deploy never-ready');
      if (target.controlsTime) {
        await target.elapse(10);
        const waiting = await rollouts.getRollout(NS, ROLLOUT);
        expect(waiting.status).toMatchObject({
          phase: 'Progressing',
          pauseConditions: [],
          activeSelector: stable,
        });
        expect(condition(waiting, 'Progressing')).toMatchObject({
          status: 'True',
          reason: 'ReplicaSetUpdated',
        });
      }
      const failed = await until('the progress deadline', (r) => r.status.phase === 'Degraded', 120);
      const hash = failed.status.currentPodHash;
      const message = `ReplicaSet "${ROLLOUT}-${hash}" has timed out progressing.`;
      expect(condition(failed, 'Progressing')).toMatchObject({
        status: 'False',
        reason: 'ProgressDeadlineExceeded',
        message,
      });
      expect(failed.status).toMatchObject({
        message: `ProgressDeadlineExceeded: ${message}`,
        pauseConditions: [],
        controllerPause: false,
        abort: false,
        stableRS: stable,
        activeSelector: stable,
        previewSelector: hash,
      });
      expect(await revision(2)).toMatchObject({ replicas: 3, availableReplicas: 0 });
      expect(await target.servedImage(NS, ACTIVE)).toBe(V1);
      expect(await target.servedImage(NS, PREVIEW)).toBeUndefined();

      // What the guardian does next: the stable template back.
      await rollouts.setTemplate(NS, ROLLOUT, (await revision(1)).podTemplate, 'rollback: never ready');
      const healthy = await until('the stable template', healthyOn(stable));
      expect(condition(healthy, 'Progressing')).toMatchObject({
        status: 'True',
        reason: 'NewReplicaSetAvailable',
      });
      await eventually(async () => expect(await target.servedImage(NS, PREVIEW)).toBe(V1));
      await eventually(async () => expect((await revision(2)).replicas).toBe(0), 90);
    });

    it('reads a canary Rollout as canary', async () => {
      const r = await seed({ strategy: 'canary' });
      expect(r.strategy).toBe('canary');
      expect(r.blueGreen).toBeUndefined();
      expect(r.revision).toBe(1);
      expect(r.status.phase).toBe('Healthy');
    });

    it('reads a Rollout without a preview Service, and names the Service that does not exist', async () => {
      const r = await seed({ previewService: null });
      expect(r.strategy).toBe('blueGreen');
      expect(r.blueGreen).toEqual({
        activeService: ACTIVE,
        autoPromotionEnabled: false,
        scaleDownDelaySeconds: 30,
      });
      expect(r.status.phase).toBe('Healthy');
      expect(r.status.previewSelector).toBeUndefined();
      await expect(rollouts.getService(NS, PREVIEW)).rejects.toThrow(NotFoundError);
      await expect(rollouts.getService(NS, PREVIEW)).rejects.toThrow(
        new RegExp(`${NS}/${PREVIEW} not found`),
      );
    });

    it('reports the controller refusing a Rollout whose preview Service was deleted (InvalidSpec), the active Service still serving', async () => {
      await seed();
      await target.kubeConfig
        .makeApiClient(CoreV1Api)
        .deleteNamespacedService({ namespace: NS, name: PREVIEW });
      // A change of the Rollout makes the controller look again.
      await rollouts.setImage(NS, ROLLOUT, ROLLOUT, V2, 'deploy without preview');
      const invalid = await until('the InvalidSpec condition', (r) => r.status.phase === 'Degraded');
      const reason = `spec.strategy.blueGreen.previewService: Invalid value: "${PREVIEW}": service "${PREVIEW}" not found`;
      expect(invalid.status.message).toBe(`InvalidSpec: The Rollout "${ROLLOUT}" is invalid: ${reason}`);
      expect(condition(invalid, 'InvalidSpec')).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
      // Nothing was rolled: no new ReplicaSet, the active Service on revision 1.
      expect(invalid.revision).toBe(1);
      expect((await revisions()).map((r) => r.revision)).toEqual([1]);
      expect(await target.servedImage(NS, ACTIVE)).toBe(V1);
      await expect(rollouts.getService(NS, PREVIEW)).rejects.toThrow(NotFoundError);
    });

    it('refuses an unknown container and names the ones that exist', async () => {
      const seeded = await seed();
      await expect(rollouts.setImage(NS, ROLLOUT, 'sidecar', V2, 'x')).rejects.toThrow(InvalidInputError);
      await expect(rollouts.setImage(NS, ROLLOUT, 'sidecar', V2, 'x')).rejects.toThrow(
        /no container "sidecar"; its containers are: buywhere-api/,
      );
      expect((await rollouts.getRollout(NS, ROLLOUT)).generation).toBe(seeded.generation);
    });

    it('names the missing Rollout and the missing namespace', async () => {
      await seed();
      await expect(rollouts.getRollout(NS, 'nope')).rejects.toThrow(NotFoundError);
      await expect(rollouts.getRollout(NS, 'nope')).rejects.toThrow(new RegExp(`${NS}/nope not found`));
      await expect(rollouts.promote(NS, 'nope', { full: false })).rejects.toThrow(NotFoundError);
      await expect(rollouts.abort(NS, 'nope')).rejects.toThrow(new RegExp(`${NS}/nope not found`));
      const ghost = target.freshNamespace('ghost');
      await expect(rollouts.getRollout(ghost, ROLLOUT)).rejects.toThrow(
        new RegExp(`namespace "${ghost}" does not exist`),
      );
      await expect(rollouts.listRevisions(ghost, ROLLOUT)).rejects.toThrow(NotFoundError);
      await expect(rollouts.getService(ghost, ACTIVE)).rejects.toThrow(
        new RegExp(`namespace "${ghost}" does not exist`),
      );
    });
  });
}
