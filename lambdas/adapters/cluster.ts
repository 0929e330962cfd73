/**
 * The Kubernetes Deployment API the guardian uses, as plain data: what the Kubernetes workload
 * adapter (kubernetes-workload.ts) builds on, and what the cluster simulator and the real control
 * plane are both held to by the contract scenarios (test/shared/cluster-scenarios.ts).
 */

/** A Deployment's state as read from the cluster (plain data, no client types). */
export interface WorkloadState {
  readonly namespace: string;
  readonly name: string;
  readonly generation: number;
  readonly observedGeneration: number;
  /** spec.replicas */
  readonly replicas: number;
  readonly paused: boolean;
  readonly progressDeadlineSeconds: number;
  /** `deployment.kubernetes.io/revision` of the Deployment (0 if absent). */
  readonly revision: number;
  /** Container name -> image of the Deployment's pod template. */
  readonly images: Readonly<Record<string, string>>;
  /** The Deployment's pod template (`spec.template`) as wire JSON: what it is meant to run now. */
  readonly podTemplate: Readonly<Record<string, unknown>>;
  readonly status: {
    readonly replicas: number;
    readonly updatedReplicas: number;
    readonly readyReplicas: number;
    readonly availableReplicas: number;
    readonly unavailableReplicas: number;
  };
  readonly conditions: readonly {
    readonly type: string;
    readonly status: string;
    readonly reason?: string;
    readonly message?: string;
  }[];
}

/** One revision of a Deployment: a ReplicaSet it owns (what `kubectl rollout history` lists). */
export interface RevisionInfo {
  readonly revision: number;
  readonly replicaSetName: string;
  readonly images: Readonly<Record<string, string>>;
  /** The ReplicaSet's pod template (`spec.template`) as JSON, used verbatim by undo. */
  readonly podTemplate: Readonly<Record<string, unknown>>;
  readonly createdAt?: string;
  readonly changeCause?: string;
}

/** A pod of a Deployment's current ReplicaSet: created when, Ready since when (ISO times). */
export interface PodTiming {
  readonly name: string;
  /** `metadata.creationTimestamp`. */
  readonly createdAt: string;
  /** The Ready condition's `lastTransitionTime` while it is True; absent while the pod is not Ready. */
  readonly readyAt?: string;
}

/** The Kubernetes operations the guardian performs on one cluster. */
export interface ClusterPort {
  /** Reads a Deployment. NotFoundError names the namespace/deployment when missing. */
  getWorkload(namespace: string, name: string): Promise<WorkloadState>;
  /** Revisions of a Deployment, oldest first. */
  listRevisions(namespace: string, name: string): Promise<RevisionInfo[]>;
  /** `kubectl set image` plus the change-cause annotation. */
  setImage(
    namespace: string,
    name: string,
    container: string,
    image: string,
    changeCause: string,
  ): Promise<WorkloadState>;
  /** `kubectl rollout undo --to-revision`: the revision's pod template becomes the Deployment's. */
  rollbackTo(
    namespace: string,
    name: string,
    revision: RevisionInfo,
    changeCause: string,
  ): Promise<WorkloadState>;
  /**
   * The pods of the Deployment's current ReplicaSet (the one at the Deployment's revision), with
   * their creation and Ready times; empty while that ReplicaSet does not exist yet.
   */
  podTimings(namespace: string, name: string): Promise<PodTiming[]>;
}
