/**
 * The Workload port for an Argo Rollout with the blue-green strategy (the runbook's production
 * path): `kubectl argo rollouts set image`, the preview/active reading of `kubectl argo rollouts
 * status`, promote, and a rollback that aborts a release in progress or undoes a promoted one —
 * and, unlike a plain abort, also puts the desired pod template back on the stable revision so
 * the controller never retries the bad release. Operator commands (`guardian argo ...`) use the
 * same class. The Rollout API itself is a RolloutsPort (lambdas/adapters/rollouts.ts).
 */
import { InvalidInputError, TransientError } from '../core/errors.ts';
import type { PodStartup } from '../core/health.ts';
import { stableJson } from '../core/text.ts';
import type {
  BlueGreenObservation,
  BlueGreenStage,
  RollbackPoint,
  WorkloadObservation,
  WorkloadPort,
  WorkloadRolloutPhase,
} from '../core/workload.ts';
import { containerImage, type DeploymentPlacement, deploymentPlacement } from './kubernetes-workload.ts';
import {
  ROLLOUT_HASH_LABEL,
  type RolloutRevision,
  type RolloutState,
  type RolloutsPort,
} from './rollouts.ts';

/** Pause condition the controller sets while a blue-green preview waits for promotion. */
export const BLUE_GREEN_PAUSE = 'BlueGreenPause';

/** Where an Argo environment's Rollout is (namespace required, as for a Deployment). */
export function rolloutPlacement(env: Parameters<typeof deploymentPlacement>[0]): DeploymentPlacement {
  return deploymentPlacement(env, 'Argo Rollouts');
}

/** `rollout "production/buywhere-api"`, as the plugin names it. */
export function rolloutName(r: { readonly namespace: string; readonly name: string }): string {
  return `rollout "${r.namespace}/${r.name}"`;
}

/** A pod template compared as the controller hashes it: without the hash label or a null timestamp. */
export function normalTemplate(template: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const t = structuredClone(template) as {
    metadata?: { labels?: Record<string, string>; creationTimestamp?: unknown };
  };
  if (t.metadata) {
    if (t.metadata.labels) {
      delete t.metadata.labels[ROLLOUT_HASH_LABEL];
      if (Object.keys(t.metadata.labels).length === 0) delete t.metadata.labels;
    }
    if (t.metadata.creationTimestamp === null) delete t.metadata.creationTimestamp;
    if (Object.keys(t.metadata).length === 0) delete t.metadata;
  }
  return t as Record<string, unknown>;
}

/** Whether two pod templates are the same revision (what the controller would hash alike). */
export function sameTemplate(
  a: Readonly<Record<string, unknown>>,
  b: Readonly<Record<string, unknown>>,
): boolean {
  return stableJson(normalTemplate(a)) === stableJson(normalTemplate(b));
}

/** Whether the controller has acted on the Rollout's latest spec. */
function observed(s: RolloutState): boolean {
  return s.observedGeneration >= s.generation;
}

/** The blue-green stage of a Rollout, read from its status (see BlueGreenStage). */
export function blueGreenStage(s: RolloutState): BlueGreenStage {
  const st = s.status;
  if (s.paused) return 'paused';
  if (st.abort) return 'aborted';
  if (!observed(s)) return 'preview-progressing';
  if (st.phase === 'Degraded') return 'degraded';
  const current = st.currentPodHash;
  const stable = st.stableRS;
  if (current && current === stable) {
    const settled =
      st.activeSelector === stable && st.phase === 'Healthy' && st.availableReplicas >= s.replicas;
    return settled ? 'stable' : 'promoting';
  }
  if (current && st.activeSelector === current) return 'promoting';
  if (
    current &&
    st.previewSelector === current &&
    st.pauseConditions.some((p) => p.reason === BLUE_GREEN_PAUSE)
  ) {
    return 'preview-ready';
  }
  return 'preview-progressing';
}

/** The WorkloadRolloutPhase of a stage (`complete` only once everything is on one stable revision). */
function phaseOf(stage: BlueGreenStage): WorkloadRolloutPhase {
  switch (stage) {
    case 'stable':
      return 'complete';
    case 'aborted':
    case 'degraded':
      return 'failed';
    case 'paused':
      return 'paused';
    default:
      return 'progressing';
  }
}

/** A revision's image, when the container is in it. */
function imageOf(revision: RolloutRevision | undefined, container: string): string | undefined {
  return revision?.images[container];
}

/** The operator's sentence for a stage. */
function stageMessage(
  s: RolloutState,
  stage: BlueGreenStage,
  sides: Pick<BlueGreenObservation, 'stable' | 'preview' | 'activeService' | 'previewService'>,
): string {
  const name = rolloutName(s);
  const argo = s.status.message ? ` (${s.status.phase ?? 'phase unknown'}: ${s.status.message})` : '';
  const preview = sides.preview
    ? `revision ${sides.preview.revision} (${sides.preview.image})`
    : 'the new revision';
  const stable = sides.stable
    ? `revision ${sides.stable.revision} (${sides.stable.image})`
    : 'the stable revision';
  switch (stage) {
    case 'stable':
      return `${name} is Healthy: Service "${sides.activeService}" serves ${stable}`;
    case 'preview-progressing':
      return observed(s)
        ? `${name}: ${preview} is scaling up behind the preview Service "${sides.previewService ?? '(none)'}" (${s.status.updatedReplicas} of ${s.replicas} updated, ${s.status.availableReplicas} available)${argo}`
        : `${name}: waiting for the Argo Rollouts controller to observe the spec update (generation ${s.generation}, observed ${s.observedGeneration})`;
    case 'preview-ready':
      return `${name}: ${preview} is available behind the preview Service "${sides.previewService ?? '(none)'}" and waits for promotion; "${sides.activeService}" still serves ${stable}`;
    case 'promoting':
      return `${name}: promoting ${preview.startsWith('revision') ? preview : stable} to the active Service "${sides.activeService}"${argo}`;
    case 'aborted':
      return `${name} was aborted: "${sides.activeService}" serves ${stable}; the desired pod template is still ${preview}${argo}`;
    case 'degraded':
      return `${name} is Degraded${argo || ''}`;
    case 'paused':
      return `${name} is paused by someone (spec.paused: true; guardian argo resume, or kubectl argo rollouts promote ${s.name} -n ${s.namespace}, resumes it)`;
  }
}

/** A Rollout in the core's terms; NotFoundError when `container` is not in its template. */
export function observeRollout(
  s: RolloutState,
  revisions: readonly RolloutRevision[],
  container: string,
): WorkloadObservation {
  const name = rolloutName(s);
  const image = containerImage(s.images, container, name);
  const byHash = (hash: string | undefined) =>
    hash ? revisions.find((r) => r.podTemplateHash === hash) : undefined;
  const stableRs = byHash(s.status.stableRS);
  const currentRs = byHash(s.status.currentPodHash);
  const stableImage = imageOf(stableRs, container);
  const inProgress = s.status.currentPodHash !== s.status.stableRS || !observed(s);
  const stage = blueGreenStage(s);
  const sides: Pick<BlueGreenObservation, 'stable' | 'preview' | 'activeService' | 'previewService'> = {
    activeService: s.blueGreen?.activeService ?? '(none)',
    ...(s.blueGreen?.previewService !== undefined && { previewService: s.blueGreen.previewService }),
    ...(stableRs &&
      stableImage !== undefined && { stable: { revision: stableRs.revision, image: stableImage } }),
    ...(inProgress && { preview: { revision: currentRs?.revision ?? s.revision, image } }),
  };
  const message = stageMessage(s, stage, sides);
  return {
    name,
    platform: 'argo-rollouts',
    image,
    revision: s.revision,
    rollout: { phase: phaseOf(stage), message },
    replicas: {
      desired: s.replicas,
      updated: s.status.updatedReplicas,
      ready: s.status.readyReplicas,
      available: s.status.availableReplicas,
    },
    ...(s.strategy === 'blueGreen' && {
      blueGreen: {
        stage,
        phase: s.status.phase ?? 'Unknown',
        message: s.status.message ?? '',
        ...sides,
      },
    }),
  };
}

/** What an Argo operator command did, for the CLI. */
export interface ArgoOperation {
  /** One sentence: what was done (or why nothing needed doing). */
  readonly message: string;
  /** Whether the Rollout was changed. */
  readonly changed: boolean;
  readonly observation: WorkloadObservation;
}

/** Options of ArgoRolloutWorkload. */
export interface ArgoRolloutWorkloadOptions {
  /** Waits between reads while the controller catches up (tests pass a no-op). @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** How long a restore waits for the controller to observe an undo before it is retried. @default 10000 */
  readonly observeTimeoutMs?: number;
}

/** The Workload port of one environment's blue-green Rollout. */
export class ArgoRolloutWorkload implements WorkloadPort {
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly observeTimeoutMs: number;

  /** `rollouts` connects lazily (EKS DescribeCluster + token, or a kubeconfig) and caches. */
  constructor(
    private readonly rollouts: () => Promise<RolloutsPort>,
    private readonly placement: DeploymentPlacement,
    options: ArgoRolloutWorkloadOptions = {},
  ) {
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.observeTimeoutMs = options.observeTimeoutMs ?? 10_000;
  }

  private async read(): Promise<{ api: RolloutsPort; state: RolloutState; revisions: RolloutRevision[] }> {
    const { namespace, workload } = this.placement;
    const api = await this.rollouts();
    const [state, revisions] = await Promise.all([
      api.getRollout(namespace, workload),
      api.listRevisions(namespace, workload),
    ]);
    return { api, state, revisions };
  }

  private observation(state: RolloutState, revisions: readonly RolloutRevision[]): WorkloadObservation {
    return observeRollout(state, revisions, this.placement.container);
  }

  async observe(): Promise<WorkloadObservation> {
    const { state, revisions } = await this.read();
    return this.observation(state, revisions);
  }

  /**
   * The Rollout now, and its *stable* revision as the point to return to: while a release is in
   * progress that is the ReplicaSet the active Service serves, not the desired template.
   */
  async capture(): Promise<{ observation: WorkloadObservation; point: RollbackPoint }> {
    const { state, revisions } = await this.read();
    const observation = this.observation(state, revisions);
    const stableHash = state.status.stableRS;
    const inProgress = stableHash !== undefined && stableHash !== state.status.currentPodHash;
    const stableRs = inProgress ? revisions.find((r) => r.podTemplateHash === stableHash) : undefined;
    if (stableRs) {
      return {
        observation,
        point: {
          platform: 'argo-rollouts',
          revision: stableRs.revision,
          image: containerImage(
            stableRs.images,
            this.placement.container,
            `ReplicaSet ${stableRs.replicaSetName}`,
          ),
          podTemplate: normalTemplate(stableRs.podTemplate),
        },
      };
    }
    return {
      observation,
      point: {
        platform: 'argo-rollouts',
        revision: state.revision,
        image: observation.image,
        podTemplate: normalTemplate(state.podTemplate),
      },
    };
  }

  /**
   * Why the Rollout cannot take a release now: not blue-green, no preview Service (in the spec or
   * in the cluster), auto-promotion on (the controller would promote before the analysis), paused
   * by someone, or a release already in progress or aborted. Empty when it can.
   */
  async releaseProblems(): Promise<string[]> {
    const { api, state } = await this.read();
    const name = rolloutName(state);
    if (state.strategy !== 'blueGreen' || !state.blueGreen) {
      return [
        `${name} uses the ${state.strategy === 'canary' ? 'canary' : 'no'} strategy; the guardian drives blue-green Rollouts only (spec.strategy.blueGreen with activeService and previewService)`,
      ];
    }
    const bg = state.blueGreen;
    const problems: string[] = [];
    if (bg.previewService === undefined) {
      problems.push(
        `${name} has no preview Service (spec.strategy.blueGreen.previewService): the guardian health-checks and analyses the preview before promotion`,
      );
    }
    const services = [bg.activeService, ...(bg.previewService !== undefined ? [bg.previewService] : [])];
    for (const service of services) {
      try {
        await api.getService(state.namespace, service);
      } catch (err) {
        if ((err as Error).name !== 'NotFoundError') throw err;
        problems.push(
          `${name} names Service "${service}" (${service === bg.activeService ? 'activeService' : 'previewService'}), which does not exist in namespace "${state.namespace}"`,
        );
      }
    }
    if (bg.autoPromotionEnabled) {
      problems.push(
        `${name} has autoPromotionEnabled true: the controller would promote the preview before the guardian's health check and canary analysis; set spec.strategy.blueGreen.autoPromotionEnabled: false`,
      );
    }
    const stage = blueGreenStage(state);
    if (stage === 'paused') {
      problems.push(
        `${name} is paused by someone (spec.paused); find out why, then resume it (guardian argo resume) or leave it`,
      );
    } else if (stage === 'aborted') {
      problems.push(
        `${name} has an aborted release in it (${state.status.message ?? 'status.abort'}); roll it back first (guardian rollback)`,
      );
    } else if (
      stage === 'degraded' &&
      !(problems.length > 0 && state.status.message?.startsWith('InvalidSpec'))
    ) {
      problems.push(
        `${name} is Degraded (${state.status.message ?? 'no message'}); fix what the controller reports, or roll back (guardian rollback), first`,
      );
    } else if (stage !== 'stable') {
      problems.push(
        `${name} already has a release in progress (${stage}: ${state.status.message || state.status.phase || 'not yet observed'}); promote, abort or roll it back first`,
      );
    }
    return problems;
  }

  async startRollout(image: string, changeCause: string): Promise<WorkloadObservation> {
    const { namespace, workload, container } = this.placement;
    const api = await this.rollouts();
    await api.setImage(namespace, workload, container, image, changeCause);
    return this.observe();
  }

  async history(): Promise<RollbackPoint[]> {
    const { revisions } = await this.read();
    return revisions.flatMap((r): RollbackPoint[] => {
      const image = r.images[this.placement.container];
      return image === undefined || r.revision <= 0
        ? []
        : [
            {
              platform: 'argo-rollouts',
              revision: r.revision,
              image,
              podTemplate: normalTemplate(r.podTemplate),
            },
          ];
    });
  }

  /**
   * Returns the Rollout to `point`. A release in progress is aborted (traffic stays on stable) and
   * its desired template put back; a promoted release is undone (the point's template becomes the
   * desired one) and, once the controller has observed that, fully promoted so it does not wait
   * for a promotion. Idempotent: each part is skipped when already done.
   */
  async restore(point: RollbackPoint, changeCause: string): Promise<WorkloadObservation> {
    const { namespace, workload } = this.placement;
    if (point.platform !== 'argo-rollouts') {
      throw new InvalidInputError(
        `the rollback point is for platform '${point.platform}', but ${workload} is an Argo Rollout; name a revision from 'guardian history'`,
      );
    }
    const { api, state } = await this.read();
    const name = rolloutName(state);
    if (state.paused) {
      throw new InvalidInputError(
        `${name} is paused by someone (spec.paused); resume it first with 'guardian argo resume' and try again`,
      );
    }
    const inProgress = state.status.currentPodHash !== state.status.stableRS;
    const desiredIsPoint = sameTemplate(state.podTemplate, point.podTemplate);
    if (!desiredIsPoint && inProgress && !state.status.abort) await api.abort(namespace, workload);
    if (!desiredIsPoint)
      await api.setTemplate(namespace, workload, normalTemplate(point.podTemplate), changeCause);
    return this.finishRestore(api, point);
  }

  /**
   * After the template is back on `point`: once the controller has observed it, a revision that
   * is not the stable one (an undo after promotion) is promoted fully, so it does not wait at
   * BlueGreenPause. TransientError when the controller has not observed it in time (the step retries).
   */
  private async finishRestore(api: RolloutsPort, point: RollbackPoint): Promise<WorkloadObservation> {
    const { namespace, workload } = this.placement;
    const until = Date.now() + this.observeTimeoutMs;
    for (;;) {
      const { state, revisions } = await this.read();
      if (observed(state)) {
        const st = state.status;
        if (st.currentPodHash !== st.stableRS && !st.promoteFull && !st.abort) {
          await api.promote(namespace, workload, { full: true });
          return this.observe();
        }
        return this.observation(state, revisions);
      }
      if (Date.now() >= until) {
        throw new TransientError(
          `${rolloutName(state)}: the Argo Rollouts controller has not observed the undo to revision ${point.revision} yet (generation ${state.generation}, observed ${state.observedGeneration}); is the controller running?`,
        );
      }
      await this.sleep(500);
    }
  }

  /** The current pod template's pods (the preview while a release is in progress). */
  async podStartup(): Promise<PodStartup[]> {
    const { namespace, workload } = this.placement;
    const api = await this.rollouts();
    const state = await api.getRollout(namespace, workload);
    const hash = state.status.currentPodHash;
    if (!hash) return [];
    const pods = await api.podTimings(namespace, workload, hash);
    return pods.map((p) => ({
      pod: p.name,
      createdAt: p.createdAt,
      ...(p.readyAt === undefined ? {} : { readyAt: p.readyAt }),
    }));
  }

  /**
   * Promotes the preview (`kubectl argo rollouts promote`): the active Service switches to it.
   * Refused when nothing waits for promotion; idempotent once promoted.
   */
  async promote(): Promise<WorkloadObservation> {
    return (await this.operate('promote')).observation;
  }

  /** An operator command, refused with a clear message when it does not apply to the Rollout's state. */
  async operate(command: 'promote' | 'abort' | 'pause' | 'resume'): Promise<ArgoOperation> {
    const { namespace, workload } = this.placement;
    const { api, state, revisions } = await this.read();
    const name = rolloutName(state);
    if (state.strategy !== 'blueGreen') {
      throw new InvalidInputError(
        `${name} is not a blue-green Rollout (strategy: ${state.strategy}); the guardian drives blue-green Rollouts only`,
      );
    }
    const before = this.observation(state, revisions);
    const stage = before.blueGreen?.stage ?? blueGreenStage(state);
    const done = async (message: string): Promise<ArgoOperation> => ({
      message,
      changed: true,
      observation: await this.observe(),
    });
    switch (command) {
      case 'promote': {
        if (stage === 'stable' || stage === 'promoting') {
          return {
            message: `${name} has nothing to promote: ${before.rollout.message}`,
            changed: false,
            observation: before,
          };
        }
        if (stage === 'aborted') {
          throw new InvalidInputError(
            `${name} was aborted; promoting it would send traffic to the release that was aborted. Roll it back (guardian rollback) or retry it deliberately with kubectl argo rollouts retry`,
          );
        }
        if (stage === 'paused') {
          throw new InvalidInputError(
            `${name} is paused by someone (spec.paused); resume it first (guardian argo resume), then promote once its preview is ready`,
          );
        }
        if (stage !== 'preview-ready') {
          throw new InvalidInputError(
            `${name} is not ready for promotion: ${before.rollout.message}. Wait until the preview is available (guardian argo status)`,
          );
        }
        await api.promote(namespace, workload, { full: false });
        return done(
          `${name} promoted: "${before.blueGreen?.activeService}" switches to ${before.blueGreen?.preview ? `revision ${before.blueGreen.preview.revision} (${before.blueGreen.preview.image})` : 'the preview'}`,
        );
      }
      case 'abort': {
        if (stage === 'aborted') {
          return {
            message: `${name} is already aborted: ${before.rollout.message}`,
            changed: false,
            observation: before,
          };
        }
        if (
          stage === 'stable' ||
          stage === 'promoting' ||
          state.status.currentPodHash === state.status.stableRS
        ) {
          throw new InvalidInputError(
            `${name} has no release in progress to abort (${before.rollout.message}); to return to an earlier revision use guardian rollback`,
          );
        }
        await api.abort(namespace, workload);
        return done(
          `${name} aborted: "${before.blueGreen?.activeService}" keeps serving ${before.blueGreen?.stable ? `revision ${before.blueGreen.stable.revision} (${before.blueGreen.stable.image})` : 'the stable revision'}; the desired template is still the aborted release until you roll back (guardian rollback)`,
        );
      }
      case 'pause': {
        if (state.paused) {
          return { message: `${name} is already paused`, changed: false, observation: before };
        }
        await api.pause(namespace, workload);
        return done(`${name} paused (spec.paused: true); nothing progresses until guardian argo resume`);
      }
      case 'resume': {
        if (!state.paused) {
          throw new InvalidInputError(
            `${name} is not paused by anyone (spec.paused is false)${stage === 'preview-ready' ? '; its preview waits for promotion: use guardian argo promote' : ''}`,
          );
        }
        await api.resume(namespace, workload);
        return done(`${name} resumed (spec.paused: false)`);
      }
    }
  }
}
