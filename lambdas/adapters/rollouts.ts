/**
 * The Argo Rollouts API the guardian uses, as plain data: a Rollout (`argoproj.io/v1alpha1`), the
 * ReplicaSets it owns and the Services its blue-green strategy switches. What the Argo workload
 * adapter (argo-workload.ts) builds on, and what the cluster simulator and the real Argo Rollouts
 * controller are both held to by the contract scenarios (test/shared/rollout-scenarios.ts).
 *
 * Every write is the patch the `kubectl argo rollouts` plugin sends for the same command
 * (pkg/kubectl-argo-rollouts/cmd of github.com/argoproj/argo-rollouts): a merge patch of the
 * status subresource for promote/abort/retry (falling back to the main resource when the server
 * has no status subresource), a merge patch of `spec.paused` for pause/resume, and a JSON patch
 * replacing `/spec/template` for undo.
 */
import type { PodTiming } from './cluster.ts';

/** Label the Argo Rollouts controller puts on a Rollout's ReplicaSets, pods and Service selectors. */
export const ROLLOUT_HASH_LABEL = 'rollouts-pod-template-hash';
/** Annotation the controller keeps a Rollout's (and each ReplicaSet's) revision number in. */
export const ROLLOUT_REVISION_ANNOTATION = 'rollout.argoproj.io/revision';
/** Annotation the controller puts on an old ReplicaSet: when it will be scaled down (RFC 3339). */
export const SCALE_DOWN_DEADLINE_ANNOTATION = 'scale-down-deadline';

/** A condition of a Rollout's status. */
export interface RolloutCondition {
  readonly type: string;
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
}

/** The blue-green strategy of a Rollout (`spec.strategy.blueGreen`, with the API defaults). */
export interface BlueGreenSpec {
  readonly activeService: string;
  /** Absent when the Rollout has no preview Service. */
  readonly previewService?: string;
  /** `autoPromotionEnabled` (default true). */
  readonly autoPromotionEnabled: boolean;
  /** `scaleDownDelaySeconds` (default 30). */
  readonly scaleDownDelaySeconds: number;
}

/** A Rollout as read from the cluster (plain data, no client types). */
export interface RolloutState {
  readonly namespace: string;
  readonly name: string;
  readonly generation: number;
  /** `status.observedGeneration` (Argo writes it as a string; 0 when absent or not a number). */
  readonly observedGeneration: number;
  /** `spec.replicas` (default 1). */
  readonly replicas: number;
  /** `spec.paused`: paused by a person (`kubectl argo rollouts pause`), not by the controller. */
  readonly paused: boolean;
  /** Which strategy `spec.strategy` names. */
  readonly strategy: 'blueGreen' | 'canary' | 'none';
  /** The blue-green strategy; absent unless `strategy` is `blueGreen`. */
  readonly blueGreen?: BlueGreenSpec;
  /** `spec.progressDeadlineSeconds` (default 600). */
  readonly progressDeadlineSeconds: number;
  /** `rollout.argoproj.io/revision` of the Rollout (0 if absent). */
  readonly revision: number;
  /** Container name -> image of the Rollout's pod template (the desired state). */
  readonly images: Readonly<Record<string, string>>;
  /** `spec.template` as wire JSON. */
  readonly podTemplate: Readonly<Record<string, unknown>>;
  readonly status: {
    /** `status.phase`: Healthy, Progressing, Paused or Degraded (absent before the first sync). */
    readonly phase?: string;
    readonly message?: string;
    /** Hash of the ReplicaSet for the current pod template. */
    readonly currentPodHash?: string;
    /** Hash of the stable ReplicaSet (the one the active Service serves when promoted). */
    readonly stableRS?: string;
    /** Hash the active Service selects (`status.blueGreen.activeSelector`). */
    readonly activeSelector?: string;
    /** Hash the preview Service selects (`status.blueGreen.previewSelector`). */
    readonly previewSelector?: string;
    readonly abort: boolean;
    readonly abortedAt?: string;
    readonly controllerPause: boolean;
    readonly promoteFull: boolean;
    readonly pauseConditions: readonly { readonly reason: string; readonly startTime?: string }[];
    readonly replicas: number;
    readonly updatedReplicas: number;
    readonly readyReplicas: number;
    readonly availableReplicas: number;
    readonly conditions: readonly RolloutCondition[];
  };
}

/** One ReplicaSet a Rollout owns: a revision of it. */
export interface RolloutRevision {
  readonly revision: number;
  readonly replicaSetName: string;
  /** Its `rollouts-pod-template-hash`. */
  readonly podTemplateHash: string;
  readonly images: Readonly<Record<string, string>>;
  /** The ReplicaSet's pod template as wire JSON, without the hash label (what undo restores). */
  readonly podTemplate: Readonly<Record<string, unknown>>;
  /** `spec.replicas` of the ReplicaSet. */
  readonly replicas: number;
  readonly readyReplicas: number;
  readonly availableReplicas: number;
  readonly createdAt?: string;
  /** The `scale-down-deadline` annotation, when the controller will scale it down. */
  readonly scaleDownDeadline?: string;
}

/** A Service (only what blue-green needs: its name and selector). */
export interface ServiceState {
  readonly namespace: string;
  readonly name: string;
  readonly selector: Readonly<Record<string, string>>;
}

/** The Argo Rollouts operations the guardian performs on one cluster. */
export interface RolloutsPort {
  /** Reads a Rollout. NotFoundError names the namespace/rollout (or the missing namespace). */
  getRollout(namespace: string, name: string): Promise<RolloutState>;
  /** Reads a Service. NotFoundError names it. */
  getService(namespace: string, name: string): Promise<ServiceState>;
  /** The ReplicaSets the Rollout owns (by controller owner uid), oldest revision first. */
  listRevisions(namespace: string, name: string): Promise<RolloutRevision[]>;
  /**
   * `kubectl argo rollouts set image`: the container's image in `spec.template` (a JSON patch that
   * tests the container's name first), plus the `kubernetes.io/change-cause` annotation.
   * InvalidInputError when the container is not in the template.
   */
  setImage(
    namespace: string,
    name: string,
    container: string,
    image: string,
    changeCause: string,
  ): Promise<RolloutState>;
  /**
   * `kubectl argo rollouts promote [--full]`: the plugin's patches (getPatches in promote.go):
   * unpause and clear pause conditions, or `status.promoteFull` with `full`.
   */
  promote(namespace: string, name: string, options: { readonly full: boolean }): Promise<RolloutState>;
  /** `kubectl argo rollouts abort`: `{"status":{"abort":true}}`. */
  abort(namespace: string, name: string): Promise<RolloutState>;
  /** `kubectl argo rollouts retry rollout`: `{"status":{"abort":false}}`. */
  retry(namespace: string, name: string): Promise<RolloutState>;
  /** `kubectl argo rollouts pause`: `{"spec":{"paused":true}}`. */
  pause(namespace: string, name: string): Promise<RolloutState>;
  /** Resume a paused Rollout: `{"spec":{"paused":false}}`. */
  resume(namespace: string, name: string): Promise<RolloutState>;
  /**
   * `kubectl argo rollouts undo` to a given pod template: a JSON patch replacing `/spec/template`
   * (the hash label removed), plus the change-cause annotation.
   */
  setTemplate(
    namespace: string,
    name: string,
    podTemplate: Readonly<Record<string, unknown>>,
    changeCause: string,
  ): Promise<RolloutState>;
  /** Pods of the Rollout's ReplicaSet with this hash, with creation and Ready times. */
  podTimings(namespace: string, name: string, podTemplateHash: string): Promise<PodTiming[]>;
}
