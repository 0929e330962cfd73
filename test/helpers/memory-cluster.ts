/**
 * An in-memory ClusterPort for step tests (the cluster is not what those tests examine).
 * It keeps the Deployment revision rules that matter to the guardian: a new template gets the
 * next revision, an undo or a return to an old template renumbers that ReplicaSet to the top.
 * Like the Deployment controller, it acts on a template change only while it is running and the
 * Deployment is not paused: until then the revision annotation lags the template.
 */
import type { ClusterPort, RevisionInfo, WorkloadState } from '../../lambdas/adapters/cluster.ts';
import { InvalidInputError, NotFoundError } from '../../lambdas/core/errors.ts';

interface Rs {
  revision: number;
  images: Record<string, string>;
  changeCause?: string;
}

/** How the fake's rollouts behave. `stuck`: no new replica ever becomes updated. */
export type RolloutBehaviour = 'instant' | 'stuck';

/** One Deployment held in memory. */
export class MemoryCluster implements ClusterPort {
  readonly namespace: string;
  readonly name: string;
  images: Record<string, string>;
  replicas = 3;
  generation = 1;
  paused = false;
  behaviour: RolloutBehaviour = 'instant';
  /** False: the controller has not acted on template changes yet (revision and observedGeneration lag). */
  controllerRunning = true;
  /** The Deployment's `kubernetes.io/change-cause` annotation (copied to its ReplicaSet on sync). */
  changeCause: string | undefined;
  /** Every mutating call, for asserting that refusals touched nothing. */
  readonly writes: string[] = [];
  #sets: Rs[];
  /** The `deployment.kubernetes.io/revision` annotation, as the controller last wrote it. */
  #revision: number;
  #observedGeneration = 1;

  constructor(namespace: string, name: string, container: string, history: readonly string[]) {
    this.namespace = namespace;
    this.name = name;
    this.#sets = history.map((image, i) => ({ revision: i + 1, images: { [container]: image } }));
    this.images = { [container]: history.at(-1) ?? 'none' };
    this.#revision = history.length;
  }

  /** `kubectl rollout resume`: the controller catches up with the template. */
  resume(): void {
    this.paused = false;
    this.#sync();
  }

  /** The controller starts acting again (see `controllerRunning`). */
  startController(): void {
    this.controllerRunning = true;
    this.#sync();
  }

  /**
   * The controller acts: it observes the spec and, unless the Deployment is paused, makes the
   * template's ReplicaSet the newest revision.
   */
  #sync(): void {
    if (!this.controllerRunning) return;
    this.#observedGeneration = this.generation;
    if (this.paused) return;
    const current = this.#current();
    if (current && current.revision === this.#revision) return;
    const top = Math.max(0, ...this.#sets.map((s) => s.revision)) + 1;
    const changeCause = this.changeCause;
    if (current) {
      current.revision = top;
      current.changeCause = changeCause;
    } else {
      this.#sets.push({
        revision: top,
        images: { ...this.images },
        ...(changeCause !== undefined && { changeCause }),
      });
    }
    this.#revision = top;
  }

  #check(namespace: string, name: string): void {
    if (namespace !== this.namespace || name !== this.name) {
      throw new NotFoundError(`deployment ${namespace}/${name} not found`);
    }
  }

  #current(): Rs | undefined {
    const key = JSON.stringify(this.images);
    return this.#sets.find((s) => JSON.stringify(s.images) === key);
  }

  #apply(images: Record<string, string>, changeCause: string): void {
    if (JSON.stringify(images) === JSON.stringify(this.images)) return;
    this.images = { ...images };
    this.generation += 1;
    this.changeCause = changeCause;
    this.#sync();
  }

  async getWorkload(namespace: string, name: string): Promise<WorkloadState> {
    this.#check(namespace, name);
    const done = this.behaviour === 'instant';
    return {
      namespace,
      name,
      generation: this.generation,
      observedGeneration: this.#observedGeneration,
      replicas: this.replicas,
      paused: this.paused,
      progressDeadlineSeconds: 600,
      revision: this.#revision,
      images: { ...this.images },
      status: {
        replicas: done ? this.replicas : this.replicas + 1,
        updatedReplicas: done ? this.replicas : 1,
        readyReplicas: done ? this.replicas : 1,
        availableReplicas: done ? this.replicas : 0,
        unavailableReplicas: done ? 0 : 1,
      },
      conditions: [
        {
          type: 'Progressing',
          status: 'True',
          reason: done ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated',
        },
      ],
    };
  }

  async listRevisions(namespace: string, name: string): Promise<RevisionInfo[]> {
    this.#check(namespace, name);
    return [...this.#sets]
      .sort((a, b) => a.revision - b.revision)
      .map((s) => ({
        revision: s.revision,
        replicaSetName: `${name}-${s.revision}`,
        images: { ...s.images },
        podTemplate: {
          spec: { containers: Object.entries(s.images).map(([n, image]) => ({ name: n, image })) },
        },
        ...(s.changeCause !== undefined && { changeCause: s.changeCause }),
      }));
  }

  async setImage(
    namespace: string,
    name: string,
    container: string,
    image: string,
    changeCause: string,
  ): Promise<WorkloadState> {
    this.#check(namespace, name);
    if (!(container in this.images))
      throw new NotFoundError(`container ${container} not found in ${namespace}/${name}`);
    this.writes.push(`set-image ${image}`);
    this.#apply({ ...this.images, [container]: image }, changeCause);
    return this.getWorkload(namespace, name);
  }

  async rollbackTo(
    namespace: string,
    name: string,
    revision: RevisionInfo,
    changeCause: string,
  ): Promise<WorkloadState> {
    this.#check(namespace, name);
    if (this.paused) {
      // What the real adapter (and kubectl) answer.
      throw new InvalidInputError(
        `you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume deployment/${name} -n ${namespace}' and try again`,
      );
    }
    this.writes.push(`undo ${revision.revision}`);
    this.#apply({ ...revision.images }, changeCause);
    return this.getWorkload(namespace, name);
  }
}
