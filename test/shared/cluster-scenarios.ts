/**
 * The Kubernetes scenarios the guardian depends on, written once and run against two targets:
 * the embedded cluster simulator (`npm test`) and a real control plane built from the Go module
 * proxy (`npm run test:integration`). Assertions are what kube-apiserver + kube-controller-manager
 * do; where the simulator differs from the real server, the simulator is wrong.
 */
import { AppsV1Api, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkloadState } from '../../lambdas/adapters/cluster.ts';
import { KubernetesCluster } from '../../lambdas/adapters/kubernetes.ts';
import { InvalidInputError, NotFoundError } from '../../lambdas/core/errors.ts';

/** The image repository every scenario deploys. */
export const REPO = 'ghcr.io/buywhere/buywhere-api';
/** The Deployment (and its only container) every scenario acts on. */
export const WORKLOAD = 'buywhere-api';

/** A Deployment to create already rolled out at revision 1. */
export interface SeedSpec {
  readonly namespace: string;
  readonly name: string;
  readonly container: string;
  readonly image: string;
  readonly replicas: number;
}

/** A Kubernetes API the scenarios run against. */
export interface ClusterTarget {
  /** Credentials and address of the API server. */
  readonly kubeConfig: KubeConfig;
  /**
   * True when the test owns time (the simulator): intermediate states of a rollout can then be
   * asserted exactly. A real control plane moves on its own, so only settled states are checked.
   */
  readonly controlsTime: boolean;
  /** How far one step of {@link ClusterTarget.elapse} moves when waiting for a state (seconds). */
  readonly stepSeconds: number;
  /** Creates the namespace and the Deployment, and returns once it is rolled out at revision 1. */
  seed(spec: SeedSpec): Promise<void>;
  /** Lets `seconds` pass: the simulator's clock advances, a real cluster is given that wall time. */
  elapse(seconds: number): Promise<void>;
  /** The image of the newest ReplicaSet with Ready pods (what a Service routes to), if any. */
  servedImage(namespace: string, name: string): Promise<string | undefined>;
  /** A namespace name no other scenario uses. */
  freshNamespace(prefix: string): string;
  /** Releases what this target created (the simulator stops; a real cluster drops namespaces). */
  close(): Promise<void>;
}

/** Properties of a Progressing/Available condition of a Deployment. */
function condition(w: WorkloadState, type: string) {
  return w.conditions.find((c) => c.type === type);
}

/** `kubectl rollout status` success: observed, every replica updated, no old ones, all available. */
export function isComplete(w: WorkloadState): boolean {
  return (
    w.observedGeneration >= w.generation &&
    w.status.updatedReplicas === w.replicas &&
    w.status.replicas === w.replicas &&
    w.status.availableReplicas === w.replicas
  );
}

/**
 * Registers the shared scenarios. `makeTarget` is called before each scenario and the target is
 * closed after it, so scenarios never see each other's objects.
 */
export function defineClusterScenarios(label: string, makeTarget: () => Promise<ClusterTarget>): void {
  describe(`Kubernetes scenarios against ${label}`, () => {
    let target: ClusterTarget;
    let cluster: KubernetesCluster;
    let apps: AppsV1Api;
    let NS: string;
    const NAME = WORKLOAD;

    beforeEach(async () => {
      target = await makeTarget();
      NS = target.freshNamespace('staging');
      await target.seed({ namespace: NS, name: NAME, container: NAME, image: `${REPO}:v1.0.0`, replicas: 3 });
      cluster = new KubernetesCluster(target.kubeConfig);
      apps = target.kubeConfig.makeApiClient(AppsV1Api);
    });

    afterEach(async () => {
      await target?.close();
    });

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

    /** Waits until the Deployment's rollout is complete and returns its state. */
    async function rollOut(maxSeconds = 120): Promise<WorkloadState> {
      return eventually(async () => {
        const w = await cluster.getWorkload(NS, NAME);
        if (!isComplete(w))
          throw new Error(`rollout of ${NS}/${NAME} not complete: ${JSON.stringify(w.status)}`);
        return w;
      }, maxSeconds);
    }

    /** Waits until the controller has observed the latest spec. */
    async function observed(): Promise<WorkloadState> {
      return eventually(async () => {
        const w = await cluster.getWorkload(NS, NAME);
        if (w.observedGeneration < w.generation)
          throw new Error(`generation ${w.generation} not observed yet`);
        return w;
      });
    }

    /** [revision, generation, observedGeneration, terminatingReplicas] of each owned ReplicaSet. */
    async function replicaSetGenerations(): Promise<number[][]> {
      const list = await apps.listNamespacedReplicaSet({ namespace: NS });
      return list.items
        .map((rs) => [
          Number(rs.metadata?.annotations?.['deployment.kubernetes.io/revision']),
          rs.metadata?.generation ?? -1,
          rs.status?.observedGeneration ?? -1,
          rs.status?.terminatingReplicas ?? -1,
        ])
        .sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0));
    }

    async function patch(body: object, strategy: string = PatchStrategy.MergePatch) {
      return apps.patchNamespacedDeployment(
        { namespace: NS, name: NAME, body },
        setHeaderOptions('Content-Type', strategy),
      );
    }

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
      expect(await target.servedImage(NS, NAME)).toBe(`${REPO}:v1.0.0`);
      const d = await apps.readNamespacedDeployment({ namespace: NS, name: NAME });
      // Kubernetes 1.35 always reports terminatingReplicas (feature DeploymentReplicaSetTerminatingReplicas).
      expect(d.status?.terminatingReplicas).toBe(0);
      // The controller creates the ReplicaSet at its full size: one spec, generation 1.
      expect(await replicaSetGenerations()).toEqual([[1, 1, 1, 0]]);
    });

    it('rolls out a new image as ReplicaSet revision n+1 and reaches rollout complete', async () => {
      const after = await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.1.0`, 'deploy v1.1.0');
      expect(after.generation).toBe(2);
      expect(after.images[NAME]).toBe(`${REPO}:v1.1.0`);

      if (target.controlsTime) {
        const early = await cluster.getWorkload(NS, NAME);
        expect(early.revision).toBe(2);
        expect(isComplete(early)).toBe(false);
        // maxSurge 25% of 3 rounds up to 1, maxUnavailable rounds down to 0: old pods stay available.
        expect(early.status.availableReplicas).toBe(3);
        expect(early.status.updatedReplicas).toBe(1);
        expect(condition(early, 'Progressing')?.reason).not.toBe('NewReplicaSetAvailable');
      }

      const done = await rollOut();
      expect(done.revision).toBe(2);
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
      await eventually(async () => expect(await target.servedImage(NS, NAME)).toBe(`${REPO}:v1.1.0`));
      // maxSurge 1 / maxUnavailable 0 moves one replica at a time: the new ReplicaSet is created at
      // 1 and scaled twice (generation 3), the old one scaled down three times (generation 4).
      expect(await replicaSetGenerations()).toEqual([
        [1, 4, 4, 0],
        [2, 3, 3, 0],
      ]);
    });

    it('reads when each pod of the current release was created and became Ready, and only those pods', async () => {
      await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.1.0`, 'deploy v1.1.0');
      await rollOut();
      const current = (await cluster.listRevisions(NS, NAME)).find((r) => r.revision === 2);
      // Settled: the old ReplicaSet's pods are gone and every new one is Ready.
      const pods = await eventually(async () => {
        const list = await cluster.podTimings(NS, NAME);
        if (list.length !== 3 || list.some((p) => p.readyAt === undefined))
          throw new Error(`pods not settled: ${JSON.stringify(list)}`);
        return list;
      });
      for (const p of pods) {
        expect(p.name.startsWith(`${current?.replicaSetName}-`), p.name).toBe(true);
        const seconds = (Date.parse(p.readyAt ?? '') - Date.parse(p.createdAt)) / 1000;
        expect(seconds, p.name).toBeGreaterThanOrEqual(0);
        // The simulator's ordinary image is Ready 5 s after its pod is created (lib/local/image-behaviour.ts).
        if (target.controlsTime) expect(seconds, p.name).toBe(5);
      }
    });

    it('refuses an unknown container and names the ones that exist', async () => {
      await expect(cluster.setImage(NS, NAME, 'sidecar', `${REPO}:v2`, 'x')).rejects.toThrow(
        InvalidInputError,
      );
      await expect(cluster.setImage(NS, NAME, 'sidecar', `${REPO}:v2`, 'x')).rejects.toThrow(
        /no container "sidecar"; its containers are: buywhere-api/,
      );
      expect((await cluster.getWorkload(NS, NAME)).generation).toBe(1);
    });

    it('ends in ProgressDeadlineExceeded when the new pods never become ready', async () => {
      await patch({ spec: { progressDeadlineSeconds: 10 } });
      await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.2.0-never-ready`, 'deploy never-ready');
      if (target.controlsTime) {
        await target.elapse(8);
        const waiting = await cluster.getWorkload(NS, NAME);
        expect(condition(waiting, 'Progressing')).toMatchObject({
          status: 'True',
          reason: 'ReplicaSetUpdated',
        });
      }
      const failed = await eventually(async () => {
        const w = await cluster.getWorkload(NS, NAME);
        expect(condition(w, 'Progressing')).toMatchObject({
          status: 'False',
          reason: 'ProgressDeadlineExceeded',
        });
        return w;
      }, 90);
      expect(condition(failed, 'Progressing')?.message).toMatch(/has timed out progressing/);
      expect(failed.revision).toBe(2);
      // The old ReplicaSet keeps serving: the rollout never took capacity away.
      expect(failed.status).toMatchObject({
        replicas: 4,
        readyReplicas: 3,
        availableReplicas: 3,
        updatedReplicas: 1,
        unavailableReplicas: 1,
      });
      expect(await target.servedImage(NS, NAME)).toBe(`${REPO}:v1.0.0`);
    });

    it('rolls back to the previous revision, restoring its exact pod template under a new revision number', async () => {
      await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.1.0`, 'deploy v1.1.0');
      await rollOut();
      const [first] = await cluster.listRevisions(NS, NAME);
      if (!first) throw new Error('no revision 1');

      const rolled = await cluster.rollbackTo(NS, NAME, first, 'rollback: health check failed');
      expect(rolled.images[NAME]).toBe(`${REPO}:v1.0.0`);
      const d = await apps.readNamespacedDeployment({ namespace: NS, name: NAME });
      expect(ObjectSerializer.serialize(d.spec?.template, 'V1PodTemplateSpec', '')).toEqual(
        first.podTemplate,
      );

      const done = await rollOut();
      expect(done.revision).toBe(3);
      const revisions = await cluster.listRevisions(NS, NAME);
      expect(revisions.at(-1)?.podTemplate).toEqual(first.podTemplate);
      // Revision 1's ReplicaSet is reused and becomes revision 3; number 1 disappears.
      expect(revisions.map((r) => [r.revision, r.replicaSetName])).toEqual([
        [2, expect.any(String)],
        [3, first.replicaSetName],
      ]);
      expect(revisions[1]?.changeCause).toBe('rollback: health check failed');
      await eventually(async () => expect(await target.servedImage(NS, NAME)).toBe(`${REPO}:v1.0.0`));
    });

    it('rolls back to a named older revision', async () => {
      await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.1.0`, 'deploy v1.1.0');
      await rollOut();
      await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.2.0`, 'deploy v1.2.0');
      await rollOut();
      const revisions = await cluster.listRevisions(NS, NAME);
      expect(revisions.map((r) => r.revision)).toEqual([1, 2, 3]);
      const target1 = revisions.find((r) => r.revision === 1);
      if (!target1) throw new Error('no revision 1');
      await cluster.rollbackTo(NS, NAME, target1, 'rollback to revision 1');
      const done = await rollOut();
      expect(done.revision).toBe(4);
      expect(done.images[NAME]).toBe(`${REPO}:v1.0.0`);
      const d = await apps.readNamespacedDeployment({ namespace: NS, name: NAME });
      expect(ObjectSerializer.serialize(d.spec?.template, 'V1PodTemplateSpec', '')).toEqual(
        target1.podTemplate,
      );
      expect((await cluster.listRevisions(NS, NAME)).map((r) => [r.revision, r.images[NAME]])).toEqual([
        [2, `${REPO}:v1.1.0`],
        [3, `${REPO}:v1.2.0`],
        [4, `${REPO}:v1.0.0`],
      ]);
    });

    it('keeps only revisionHistoryLimit old ReplicaSets', async () => {
      await patch({ spec: { revisionHistoryLimit: 2 } }, PatchStrategy.StrategicMergePatch);
      for (const v of ['v2', 'v3', 'v4', 'v5']) {
        await cluster.setImage(NS, NAME, NAME, `${REPO}:${v}`, `deploy ${v}`);
        await rollOut();
      }
      // The controller cleans up old ReplicaSets once it has seen the rollout complete.
      await eventually(async () =>
        expect((await cluster.listRevisions(NS, NAME)).map((r) => [r.revision, r.images[NAME]])).toEqual([
          [3, `${REPO}:v3`],
          [4, `${REPO}:v4`],
          [5, `${REPO}:v5`],
        ]),
      );
    });

    it('does not roll a paused Deployment and refuses to roll it back', async () => {
      const revision1 = (await cluster.listRevisions(NS, NAME))[0];
      if (!revision1) throw new Error('no revision 1');
      await patch({ spec: { paused: true } });
      const changed = await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.1.0`, 'deploy while paused');
      expect(changed.generation).toBe(3);
      await target.elapse(5);
      const paused = await eventually(async () => {
        const w = await observed();
        expect(condition(w, 'Progressing')).toMatchObject({ status: 'Unknown', reason: 'DeploymentPaused' });
        return w;
      });
      expect(paused.paused).toBe(true);
      expect(paused.revision).toBe(1);
      // The Deployment's own template already runs the new image, before any ReplicaSet does.
      expect(JSON.stringify(paused.podTemplate)).toContain(`${REPO}:v1.1.0`);
      expect(JSON.stringify(paused.podTemplate)).not.toContain('pod-template-hash');
      expect(paused.status.updatedReplicas).toBe(0);
      expect(paused.status.availableReplicas).toBe(3);
      expect((await cluster.listRevisions(NS, NAME)).map((r) => r.revision)).toEqual([1]);
      await expect(cluster.rollbackTo(NS, NAME, revision1, 'x')).rejects.toThrow(
        /cannot rollback a paused deployment/,
      );

      await patch({ spec: { paused: false } });
      const resumed = await rollOut();
      expect(resumed.revision).toBe(2);
      expect(resumed.images[NAME]).toBe(`${REPO}:v1.1.0`);
    });

    it('completes at once when scaled to zero, and a new image still gets a revision', async () => {
      await patch({ spec: { replicas: 0 } });
      const zero = await eventually(async () => {
        const w = await observed();
        expect(w.status).toEqual({
          replicas: 0,
          updatedReplicas: 0,
          readyReplicas: 0,
          availableReplicas: 0,
          unavailableReplicas: 0,
        });
        return w;
      });
      expect(zero.replicas).toBe(0);
      expect(isComplete(zero)).toBe(true);
      await cluster.setImage(NS, NAME, NAME, `${REPO}:v1.1.0`, 'deploy to zero');
      const after = await observed();
      expect(after.revision).toBe(2);
      expect(isComplete(after)).toBe(true);
      expect((await cluster.listRevisions(NS, NAME)).map((r) => [r.revision, r.images[NAME]])).toEqual([
        [1, `${REPO}:v1.0.0`],
        [2, `${REPO}:v1.1.0`],
      ]);
      await eventually(async () => expect(await target.servedImage(NS, NAME)).toBeUndefined());
    });

    it('merges containers by name in a strategic merge patch', async () => {
      const d = await patch(
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

    it('names the missing Deployment', async () => {
      await expect(cluster.getWorkload(NS, 'nope')).rejects.toThrow(NotFoundError);
      await expect(cluster.getWorkload(NS, 'nope')).rejects.toThrow(new RegExp(`${NS}/nope not found`));
      await expect(cluster.setImage(NS, 'nope', NAME, `${REPO}:v2`, 'x')).rejects.toThrow(NotFoundError);
      const error = await apps.readNamespacedDeployment({ namespace: NS, name: 'nope' }).catch((e) => e);
      expect(JSON.parse(error.body)).toMatchObject({
        kind: 'Status',
        status: 'Failure',
        reason: 'NotFound',
        code: 404,
        message: 'deployments.apps "nope" not found',
        details: { name: 'nope', group: 'apps', kind: 'deployments' },
      });
    });

    it('names the missing namespace', async () => {
      const ghost = target.freshNamespace('ghost');
      await expect(cluster.getWorkload(ghost, NAME)).rejects.toThrow(NotFoundError);
      await expect(cluster.listRevisions(ghost, NAME)).rejects.toThrow(
        new RegExp(`namespace "${ghost}" does not exist`),
      );
      await expect(cluster.rollbackTo(ghost, NAME, { revision: 1 } as never, 'x')).rejects.toThrow(
        new RegExp(`namespace "${ghost}" does not exist`),
      );
      // The API server answers a read in a missing namespace like a missing object.
      const error = await apps.readNamespacedDeployment({ namespace: ghost, name: NAME }).catch((e) => e);
      expect(JSON.parse(error.body)).toMatchObject({
        reason: 'NotFound',
        code: 404,
        message: `deployments.apps "${NAME}" not found`,
      });
    });
  });
}
