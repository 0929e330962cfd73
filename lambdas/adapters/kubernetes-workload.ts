/**
 * The Workload port for a Kubernetes Deployment: `kubectl rollout status`'s judgement, `set
 * image`, `rollout history` and `rollout undo`, mapped to the core's platform-neutral types.
 * The Deployment API itself (read, list ReplicaSets, patch) is a ClusterPort: @kubernetes/client-node
 * against EKS or a kubeconfig, or the embedded simulator.
 */
import { InvalidInputError, NotFoundError } from '../core/errors.ts';
import type { PodStartup } from '../core/health.ts';
import type {
  RollbackPoint,
  WorkloadObservation,
  WorkloadPort,
  WorkloadRolloutPhase,
} from '../core/workload.ts';
import type { ClusterPort, RevisionInfo, WorkloadState } from './cluster.ts';

/** Where the guarded container lives (the `kubernetes` slice of an environment's config). */
export interface DeploymentPlacement {
  readonly namespace: string;
  /** The Deployment's name. */
  readonly workload: string;
  readonly container: string;
}

/**
 * Where a Kubernetes environment's workload is (its Deployment, or on Argo Rollouts its Rollout).
 * The loader requires `namespace` on both platforms; a config built in code without it is refused
 * here, naming the environment and the platform.
 */
export function deploymentPlacement(
  env: {
    readonly name: string;
    readonly namespace?: string | undefined;
    readonly workload: string;
    readonly container: string;
  },
  platform = 'Kubernetes',
): DeploymentPlacement {
  if (!env.namespace) {
    throw new InvalidInputError(
      `environment '${env.name}' runs on ${platform} but has no namespace in config/environments.yaml`,
    );
  }
  return { namespace: env.namespace, workload: env.workload, container: env.container };
}

/** `deployment "staging/buywhere-api"`, as kubectl names it. */
export function deploymentName(d: { readonly namespace: string; readonly name: string }): string {
  return `deployment "${d.namespace}/${d.name}"`;
}

/** The guarded container's image; NotFoundError lists the containers when it is absent. */
export function containerImage(
  images: Readonly<Record<string, string>>,
  container: string,
  where: string,
): string {
  const image = images[container];
  if (image === undefined) {
    throw new NotFoundError(
      `${where} has no container "${container}" (containers: ${Object.keys(images).join(', ') || 'none'}); fix 'container' in environments.yaml`,
    );
  }
  return image;
}

/**
 * `kubectl rollout status` for a Deployment, plus paused: kubectl waits for the controller to
 * observe the spec, fails on ProgressDeadlineExceeded, then waits until every replica is updated,
 * old ones are gone and updated ones are available.
 */
export function deploymentRollout(w: WorkloadState): {
  readonly phase: WorkloadRolloutPhase;
  readonly message: string;
} {
  const s = w.status;
  const name = deploymentName(w);
  if (w.paused) {
    return {
      phase: 'paused',
      message: `${name} is paused (kubectl rollout resume deployment/${w.name} -n ${w.namespace})`,
    };
  }
  const progressing = w.conditions.find((c) => c.type === 'Progressing');
  if (w.observedGeneration >= w.generation && progressing?.reason === 'ProgressDeadlineExceeded') {
    return {
      phase: 'failed',
      message: `${name} exceeded its progress deadline (${w.progressDeadlineSeconds}s)${progressing.message ? `: ${progressing.message}` : ''}`,
    };
  }
  const waiting = (message: string) => ({ phase: 'progressing' as const, message });
  if (w.observedGeneration < w.generation) {
    return waiting(
      `waiting for the controller to observe the spec update (generation ${w.generation}, observed ${w.observedGeneration})`,
    );
  }
  if (w.replicas === 0) {
    // Like kubectl: not done while the old pods are still going away.
    if (s.replicas === 0)
      return { phase: 'complete', message: `${name} is scaled to 0 replicas; nothing to roll out` };
    return waiting(`${s.replicas} old replicas are pending termination (scaled to 0)`);
  }
  if (s.updatedReplicas < w.replicas) {
    return waiting(`${s.updatedReplicas} out of ${w.replicas} new replicas have been updated`);
  }
  if (s.replicas > s.updatedReplicas) {
    return waiting(`${s.replicas - s.updatedReplicas} old replicas are pending termination`);
  }
  if (s.availableReplicas < s.updatedReplicas) {
    return waiting(`${s.availableReplicas} of ${s.updatedReplicas} updated replicas are available`);
  }
  return { phase: 'complete', message: `${name} successfully rolled out` };
}

/** A Deployment's state in the core's terms; NotFoundError when `container` is not in it. */
export function observeDeployment(w: WorkloadState, container: string): WorkloadObservation {
  const name = deploymentName(w);
  return {
    name,
    platform: 'kubernetes',
    image: containerImage(w.images, container, name),
    revision: w.revision,
    rollout: deploymentRollout(w),
    replicas: {
      desired: w.replicas,
      updated: w.status.updatedReplicas,
      ready: w.status.readyReplicas,
      available: w.status.availableReplicas,
    },
  };
}

/** A ReplicaSet revision as a rollback point (revisions without the container are skipped). */
function pointOf(revision: RevisionInfo, container: string): RollbackPoint | undefined {
  const image = revision.images[container];
  if (image === undefined) return undefined;
  return { platform: 'kubernetes', revision: revision.revision, image, podTemplate: revision.podTemplate };
}

/** The Workload port of one environment's Deployment. */
export class DeploymentWorkload implements WorkloadPort {
  /** `cluster` connects lazily (EKS DescribeCluster + token, or a kubeconfig) and caches. */
  constructor(
    private readonly cluster: () => Promise<ClusterPort>,
    private readonly placement: DeploymentPlacement,
  ) {}

  private async read(): Promise<{ state: WorkloadState }> {
    const { namespace, workload } = this.placement;
    return { state: await (await this.cluster()).getWorkload(namespace, workload) };
  }

  async observe(): Promise<WorkloadObservation> {
    return observeDeployment((await this.read()).state, this.placement.container);
  }

  /**
   * The Deployment now, and its pod template as the point to return to. Read from the Deployment
   * itself, not its ReplicaSets: the controller may not have made one for the current template yet
   * (a paused Deployment, or right after a change).
   */
  async capture(): Promise<{ observation: WorkloadObservation; point: RollbackPoint }> {
    const { state } = await this.read();
    const observation = observeDeployment(state, this.placement.container);
    return {
      observation,
      point: {
        platform: 'kubernetes',
        revision: state.revision,
        image: observation.image,
        podTemplate: { ...state.podTemplate },
      },
    };
  }

  async startRollout(image: string, changeCause: string): Promise<WorkloadObservation> {
    const { namespace, workload, container } = this.placement;
    const after = await (await this.cluster()).setImage(namespace, workload, container, image, changeCause);
    return observeDeployment(after, container);
  }

  async history(): Promise<RollbackPoint[]> {
    const { namespace, workload, container } = this.placement;
    const revisions = await (await this.cluster()).listRevisions(namespace, workload);
    return revisions.flatMap((r) => pointOf(r, container) ?? []);
  }

  async restore(point: RollbackPoint, changeCause: string): Promise<WorkloadObservation> {
    const { namespace, workload, container } = this.placement;
    if (point.platform !== 'kubernetes') {
      // A record from before the environment changed platform: its point means nothing here.
      throw new InvalidInputError(
        `the rollback point is for platform '${point.platform}', but ${workload} runs on Kubernetes; name a revision from 'guardian history'`,
      );
    }
    const after = await (await this.cluster()).rollbackTo(
      namespace,
      workload,
      {
        revision: point.revision,
        replicaSetName: '',
        images: { [container]: point.image },
        podTemplate: point.podTemplate,
      },
      changeCause,
    );
    return observeDeployment(after, container);
  }

  /** The current ReplicaSet's pods: creation time and when they became Ready. */
  async podStartup(): Promise<PodStartup[]> {
    const { namespace, workload } = this.placement;
    const pods = await (await this.cluster()).podTimings(namespace, workload);
    return pods.map((p) => ({
      pod: p.name,
      createdAt: p.createdAt,
      ...(p.readyAt === undefined ? {} : { readyAt: p.readyAt }),
    }));
  }
}
