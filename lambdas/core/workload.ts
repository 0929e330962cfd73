/**
 * The Workload port's language, the same for every platform: a workload runs a current release
 * (an image), has a rollout that is progressing, complete, failed (with a reason) or paused, and
 * can be returned to a *rollback point* — a platform-tagged value captured at preflight, kept on
 * the record and restored by the Rollback workflow. Pure: the platform adapters map to these types.
 */
import * as z from 'zod';
import { ecsRollbackPointSchema } from './ecs.ts';
import type { PodStartup } from './health.ts';

/** Platforms `platform` in environments.yaml may name. */
export const PLATFORMS = ['kubernetes', 'argo-rollouts', 'ecs'] as const;
/** A platform name. */
export type Platform = (typeof PLATFORMS)[number];
/** Platforms this guardian can drive today (others are refused at synth and at CLI start). */
export const BUILT_PLATFORMS = ['kubernetes', 'argo-rollouts', 'ecs'] as const satisfies readonly Platform[];
/** A platform this guardian can drive. */
export type BuiltPlatform = (typeof BUILT_PLATFORMS)[number];

/** Whether `platform` can be driven by this guardian. */
export function isBuiltPlatform(platform: string): platform is BuiltPlatform {
  return (BUILT_PLATFORMS as readonly string[]).includes(platform);
}

/**
 * A Kubernetes Deployment's rollback point: its revision and the pod template that revision ran,
 * restored verbatim like `kubectl rollout undo` (so it survives the ReplicaSet being pruned).
 */
export const kubernetesRollbackPointSchema = z.strictObject({
  platform: z.literal('kubernetes'),
  /** `deployment.kubernetes.io/revision` (0 for a Deployment the controller has not numbered yet). */
  revision: z.number().int().nonnegative(),
  /** The guarded container's image at this point. */
  image: z.string().min(1),
  /** The pod template (`spec.template` as wire JSON, without `pod-template-hash`). */
  podTemplate: z.record(z.string(), z.unknown()),
});

/**
 * An Argo Rollout's rollback point: its stable revision and that revision's pod template. Restored
 * like `kubectl argo rollouts abort` + `undo`: traffic stays on (or returns to) stable and the
 * desired pod template is put back, so the controller does not retry the release.
 */
export const argoRollbackPointSchema = z.strictObject({
  platform: z.literal('argo-rollouts'),
  /** `rollout.argoproj.io/revision` of the stable ReplicaSet (0 while unnumbered). */
  revision: z.number().int().nonnegative(),
  /** The guarded container's image at this point. */
  image: z.string().min(1),
  /** The pod template (`spec.template` as wire JSON, without `rollouts-pod-template-hash`). */
  podTemplate: z.record(z.string(), z.unknown()),
});

/** A state the Rollback workflow can restore, tagged with its platform. */
export const rollbackPointSchema = z.discriminatedUnion('platform', [
  kubernetesRollbackPointSchema,
  argoRollbackPointSchema,
  ecsRollbackPointSchema,
]);
/** A state the Rollback workflow can restore, tagged with its platform. */
export type RollbackPoint = z.infer<typeof rollbackPointSchema>;

/** How far a workload's rollout is, as its platform reports it. */
export type WorkloadRolloutPhase = 'progressing' | 'complete' | 'failed' | 'paused';

/**
 * Where a blue-green release is (Argo Rollouts), as the guardian reads the Rollout's status:
 * - `stable`: the active Service serves the current pod template; nothing is in progress;
 * - `preview-progressing`: a new revision is scaling up behind the preview Service;
 * - `preview-ready`: the preview is available and the controller waits for promotion;
 * - `promoting`: promoted, the active Service is switching or old pods scaling down;
 * - `aborted`: an abort sent traffic back to stable; the desired template is still the release;
 * - `degraded`: the controller gave up (progress deadline, invalid spec);
 * - `paused`: a person paused the Rollout (`spec.paused`).
 */
export type BlueGreenStage =
  | 'stable'
  | 'preview-progressing'
  | 'preview-ready'
  | 'promoting'
  | 'aborted'
  | 'degraded'
  | 'paused';

/** A blue-green workload's two sides (Argo Rollouts only). */
export interface BlueGreenObservation {
  readonly stage: BlueGreenStage;
  /** Argo's `status.phase` and `status.message`, as `kubectl argo rollouts status` prints them. */
  readonly phase: string;
  readonly message: string;
  readonly activeService: string;
  readonly previewService?: string;
  /** The revision and image the active Service serves (the stable ReplicaSet's). */
  readonly stable?: { readonly revision: number; readonly image: string };
  /** The revision and image of the current pod template, while it is not stable yet. */
  readonly preview?: { readonly revision: number; readonly image: string };
}

/** A workload as its platform reports it now (plain data; no client types). */
export interface WorkloadObservation {
  /** What an operator calls it, e.g. `deployment "staging/buywhere-api"`. */
  readonly name: string;
  readonly platform: Platform;
  /** The image the guarded container is meant to run (the desired state). */
  readonly image: string;
  /** The platform's revision number of the desired state (0 while unnumbered). */
  readonly revision: number;
  readonly rollout: {
    readonly phase: WorkloadRolloutPhase;
    /** The platform's own sentence, e.g. `2 of 3 updated replicas are available`. */
    readonly message: string;
  };
  readonly replicas: {
    readonly desired: number;
    readonly updated: number;
    readonly ready: number;
    readonly available: number;
  };
  /** Blue-green platforms only: the active and preview sides. */
  readonly blueGreen?: BlueGreenObservation;
}

/** One environment's workload, on whatever platform runs it. */
export interface WorkloadPort {
  /** Reads the workload. NotFoundError names what is missing (workload, namespace, container). */
  observe(): Promise<WorkloadObservation>;
  /** The workload now and the rollback point that would restore exactly this state. */
  capture(): Promise<{ readonly observation: WorkloadObservation; readonly point: RollbackPoint }>;
  /** Starts rolling out `image` with `changeCause` recorded where the platform keeps one. */
  startRollout(image: string, changeCause: string): Promise<WorkloadObservation>;
  /** The points an operator can name by revision (`rollout history`), oldest first. */
  history(): Promise<RollbackPoint[]>;
  /** Returns the workload to `point` (idempotent: restoring the current state changes nothing). */
  restore(point: RollbackPoint, changeCause: string): Promise<WorkloadObservation>;
  /**
   * When each pod of the current release was created and became Ready (the enhanced health
   * check's startup-time validation); empty when the release has no pods yet.
   */
  podStartup(): Promise<PodStartup[]>;
  /**
   * Why the workload cannot take a release now, beyond a pause (blue-green: not blue-green, no
   * preview Service, auto-promotion on, a release already in progress); empty when it can.
   * Platforms without such rules leave it out.
   */
  releaseProblems?(): Promise<string[]>;
  /** Blue-green only: promotes the ready preview (the active Service switches to it). */
  promote?(): Promise<WorkloadObservation>;
}

/** `revision 3 (ghcr.io/buywhere/buywhere-api:v1.2.3)`. */
export function describePoint(point: Pick<RollbackPoint, 'revision' | 'image'>): string {
  return `revision ${point.revision} (${point.image})`;
}
