/**
 * The Kubernetes adapter of RolloutsPort: reads and patches an Argo Rollout (`argoproj.io/v1alpha1`),
 * its ReplicaSets and the Services its blue-green strategy switches, with the very patches the
 * `kubectl argo rollouts` plugin (v1.10.1, pkg/kubectl-argo-rollouts/cmd) sends.
 *
 * Raw HTTP with the kubeconfig's auth and TLS (node-fetch, like podTimings in kubernetes.ts): the
 * generated CustomObjectsApi and CoreV1Api would add megabytes to every Argo step's bundle for a
 * handful of GETs and PATCHes. Failures are mapped by {@link kubernetesError}, as for Deployments.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import fetch from 'node-fetch';
import { InvalidInputError, NotFoundError } from '../core/errors.ts';
import type { PodTiming } from './cluster.ts';
import { CHANGE_CAUSE_ANNOTATION, kubernetesError, probeNamespace } from './kubernetes-common.ts';
import {
  ROLLOUT_HASH_LABEL,
  ROLLOUT_REVISION_ANNOTATION,
  type RolloutCondition,
  type RolloutRevision,
  type RolloutState,
  type RolloutsPort,
  SCALE_DOWN_DEADLINE_ANNOTATION,
  type ServiceState,
} from './rollouts.ts';

/** Field manager of every write, as `kubectl --field-manager` would name it. */
export const FIELD_MANAGER = 'deployment-guardian';

/** Kinds a 401/403 tells the operator to grant (the RBAC the Argo steps need). */
const RBAC_KINDS = 'Rollouts (argoproj.io), Services, ReplicaSets and Pods';

/** API defaults of a Rollout (pkg/apis/rollouts/v1alpha1 and utils/defaults). */
const DEFAULT_PROGRESS_DEADLINE_SECONDS = 600;
const DEFAULT_SCALE_DOWN_DELAY_SECONDS = 30;

// The plugin's patches (promote.go, abort.go, retry.go, pause.go).
const UNPAUSE = { spec: { paused: false } };
const PAUSE = { spec: { paused: true } };
const CLEAR_PAUSE_CONDITIONS = { status: { pauseConditions: null } };
const UNPAUSE_AND_CLEAR_PAUSE_CONDITIONS = { spec: { paused: false }, status: { pauseConditions: null } };
const PROMOTE_FULL = { status: { promoteFull: true } };
const UNPAUSE_AND_PROMOTE_FULL = { spec: { paused: false }, status: { promoteFull: true } };
const ABORT = { status: { abort: true } };
const RETRY = { status: { abort: false } };

const MERGE_PATCH = 'application/merge-patch+json';
const JSON_PATCH = 'application/json-patch+json';

/** A Kubernetes object as wire JSON. */
type Json = Record<string, unknown>;

function obj(v: unknown): Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {};
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A count or number field; Argo writes some as strings (observedGeneration), so both parse. */
function num(v: unknown, fallback = 0): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return Number.parseInt(v, 10);
  return fallback;
}

function list(v: unknown): Json[] {
  return Array.isArray(v) ? v.map(obj) : [];
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(obj(v))) if (typeof x === 'string') out[k] = x;
  return out;
}

function revisionOf(metadata: unknown): number {
  return num(stringMap(obj(metadata).annotations)[ROLLOUT_REVISION_ANNOTATION]);
}

function imagesOf(template: unknown): Record<string, string> {
  const images: Record<string, string> = {};
  for (const c of list(obj(obj(template).spec).containers)) {
    const name = str(c.name);
    if (name) images[name] = typeof c.image === 'string' ? c.image : '';
  }
  return images;
}

/**
 * A pod template as the guardian keeps it: a copy without the controller's hash label (what undo
 * writes back) and without the `creationTimestamp: null` Go clients leave in embedded metadata.
 */
function wireTemplate(template: unknown): Record<string, unknown> {
  const t = structuredClone(obj(template));
  const metadata = t.metadata as Json | undefined;
  if (metadata && typeof metadata === 'object') {
    if (metadata.creationTimestamp === null) delete metadata.creationTimestamp;
    const labels = metadata.labels as Record<string, unknown> | undefined;
    if (labels && typeof labels === 'object') delete labels[ROLLOUT_HASH_LABEL];
  }
  return t;
}

function conditionsOf(v: unknown): RolloutCondition[] {
  return list(v)
    .filter((c) => str(c.type) !== undefined)
    .map((c) => ({
      type: String(c.type),
      status: typeof c.status === 'string' ? c.status : 'Unknown',
      ...(typeof c.reason === 'string' ? { reason: c.reason } : {}),
      ...(typeof c.message === 'string' ? { message: c.message } : {}),
    }));
}

/**
 * Maps a Rollout as the API server returns it to the guardian's plain RolloutState. Defensive:
 * a Rollout the controller has not synced yet has no status (zeros and false), and Argo writes
 * `status.observedGeneration` as a string.
 */
export function rolloutStateOf(rollout: unknown): RolloutState {
  const ro = obj(rollout);
  const metadata = obj(ro.metadata);
  const spec = obj(ro.spec);
  const s = obj(ro.status);
  const strategySpec = obj(spec.strategy);
  const hasBlueGreen = strategySpec.blueGreen !== undefined && strategySpec.blueGreen !== null;
  const hasCanary = strategySpec.canary !== undefined && strategySpec.canary !== null;
  // Both at once is a spec the controller refuses (InvalidSpec "Multiple Strategies can not be listed").
  const strategy = hasBlueGreen && !hasCanary ? 'blueGreen' : hasCanary && !hasBlueGreen ? 'canary' : 'none';
  const bg = obj(strategySpec.blueGreen);
  const previewService = str(bg.previewService);
  const blueGreenStatus = obj(s.blueGreen);
  const optional = (key: string, v: unknown) => (str(v) === undefined ? {} : { [key]: str(v) });
  return {
    namespace: str(metadata.namespace) ?? '',
    name: str(metadata.name) ?? '',
    generation: num(metadata.generation),
    observedGeneration: num(s.observedGeneration),
    replicas: num(spec.replicas, 1),
    paused: spec.paused === true,
    strategy,
    ...(strategy === 'blueGreen'
      ? {
          blueGreen: {
            activeService: str(bg.activeService) ?? '',
            ...(previewService === undefined ? {} : { previewService }),
            autoPromotionEnabled: bg.autoPromotionEnabled !== false,
            scaleDownDelaySeconds: num(bg.scaleDownDelaySeconds, DEFAULT_SCALE_DOWN_DELAY_SECONDS),
          },
        }
      : {}),
    progressDeadlineSeconds: num(spec.progressDeadlineSeconds, DEFAULT_PROGRESS_DEADLINE_SECONDS),
    revision: revisionOf(metadata),
    images: imagesOf(spec.template),
    podTemplate: wireTemplate(spec.template),
    status: {
      ...optional('phase', s.phase),
      ...optional('message', s.message),
      ...optional('currentPodHash', s.currentPodHash),
      ...optional('stableRS', s.stableRS),
      ...optional('activeSelector', blueGreenStatus.activeSelector),
      ...optional('previewSelector', blueGreenStatus.previewSelector),
      abort: s.abort === true,
      ...optional('abortedAt', s.abortedAt),
      controllerPause: s.controllerPause === true,
      promoteFull: s.promoteFull === true,
      pauseConditions: list(s.pauseConditions).map((p) => ({
        reason: typeof p.reason === 'string' ? p.reason : '',
        ...optional('startTime', p.startTime),
      })),
      replicas: num(s.replicas),
      updatedReplicas: num(s.updatedReplicas),
      readyReplicas: num(s.readyReplicas),
      availableReplicas: num(s.availableReplicas),
      conditions: conditionsOf(s.conditions),
    },
  };
}

/** A ReplicaSet a Rollout owns, as plain data. */
function revisionOfReplicaSet(rs: Json): RolloutRevision {
  const metadata = obj(rs.metadata);
  const spec = obj(rs.spec);
  const status = obj(rs.status);
  const labels = stringMap(metadata.labels);
  const annotations = stringMap(metadata.annotations);
  const template = obj(spec.template);
  const created = str(metadata.creationTimestamp);
  const deadline = annotations[SCALE_DOWN_DEADLINE_ANNOTATION];
  return {
    revision: revisionOf(metadata),
    replicaSetName: str(metadata.name) ?? '',
    podTemplateHash:
      labels[ROLLOUT_HASH_LABEL] ?? stringMap(obj(template.metadata).labels)[ROLLOUT_HASH_LABEL] ?? '',
    images: imagesOf(template),
    podTemplate: wireTemplate(template),
    replicas: num(spec.replicas),
    readyReplicas: num(status.readyReplicas),
    availableReplicas: num(status.availableReplicas),
    ...(created ? { createdAt: new Date(created).toISOString() } : {}),
    ...(deadline ? { scaleDownDeadline: deadline } : {}),
  };
}

/** Whether `o` is controlled by the object with `uid` (its controller owner reference). */
function ownedBy(o: Json, uid: unknown): boolean {
  return (
    typeof uid === 'string' &&
    list(obj(o.metadata).ownerReferences).some((r) => r.controller === true && r.uid === uid)
  );
}

/** The plugin's GetCurrentCanaryStep index: where a canary Rollout with steps is (nil without steps). */
function canaryStepIndex(ro: Json): number | undefined {
  const steps = obj(obj(obj(ro.spec).strategy).canary).steps;
  if (!Array.isArray(steps) || steps.length === 0) return undefined;
  return num(obj(ro.status).currentStepIndex);
}

/** The three patches getPatches() in promote.go computes: spec, status and the fallback unified one. */
export function promotePatches(
  rollout: unknown,
  full: boolean,
): { spec?: object; status?: object; unified: object } {
  const ro = obj(rollout);
  const spec = obj(ro.spec);
  const status = obj(ro.status);
  const paused = spec.paused === true;
  if (full) {
    const currentPodHash = typeof status.currentPodHash === 'string' ? status.currentPodHash : '';
    const stableRS = typeof status.stableRS === 'string' ? status.stableRS : '';
    return {
      ...(paused ? { spec: UNPAUSE } : {}),
      ...(currentPodHash !== stableRS ? { status: PROMOTE_FULL } : {}),
      unified: UNPAUSE_AND_PROMOTE_FULL,
    };
  }
  const pauseConditions = list(status.pauseConditions);
  const canary = obj(spec.strategy).canary;
  const stepCount = (obj(canary).steps as unknown[] | undefined)?.length ?? 0;
  const nextStep = (index: number) => (index < stepCount ? index + 1 : index);
  const inconclusive =
    canary !== undefined && obj(obj(status.canary).currentStepAnalysisRunStatus).status === 'Inconclusive';
  const specPatch = paused ? { spec: UNPAUSE } : {};
  const index = canaryStepIndex(ro);
  if (inconclusive && pauseConditions.length > 0 && status.controllerPause === true) {
    if (index === undefined) return { ...specPatch, unified: UNPAUSE_AND_CLEAR_PAUSE_CONDITIONS };
    return {
      ...specPatch,
      status: {
        status: { pauseConditions: null, controllerPause: false, currentStepIndex: nextStep(index) },
      },
      unified: UNPAUSE_AND_CLEAR_PAUSE_CONDITIONS,
    };
  }
  if (pauseConditions.length > 0) {
    return { ...specPatch, status: CLEAR_PAUSE_CONDITIONS, unified: UNPAUSE_AND_CLEAR_PAUSE_CONDITIONS };
  }
  if (canary !== undefined && index !== undefined) {
    const step = nextStep(index);
    return {
      ...specPatch,
      status: { status: { pauseConditions: null, currentStepIndex: step } },
      unified: { spec: { paused: false }, status: { pauseConditions: null, currentStepIndex: step } },
    };
  }
  return { ...specPatch, unified: UNPAUSE_AND_CLEAR_PAUSE_CONDITIONS };
}

/** Escapes a key for use in a JSON Pointer (RFC 6901). */
function pointerKey(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

function changeCauseOps(ro: Json, changeCause: string): object[] {
  return obj(ro.metadata).annotations
    ? [
        {
          op: 'add',
          path: `/metadata/annotations/${pointerKey(CHANGE_CAUSE_ANNOTATION)}`,
          value: changeCause,
        },
      ]
    : [{ op: 'add', path: '/metadata/annotations', value: { [CHANGE_CAUSE_ANNOTATION]: changeCause } }];
}

/** An HTTP answer other than 2xx, shaped like client-node's ApiException so kubernetesError maps it. */
class HttpStatusError extends Error {
  override readonly name = 'HttpStatusError';
  constructor(
    readonly code: number,
    readonly body: string,
  ) {
    super(`HTTP ${code}`);
  }
}

/** Options of KubernetesRollouts. */
export interface KubernetesRolloutsOptions {
  /**
   * Abort each API call after this long (it then fails as TransientError).
   * @default 10000
   */
  readonly requestTimeoutMs?: number;
}

interface Call {
  readonly method: 'GET' | 'PATCH';
  readonly path: string;
  readonly query?: Record<string, string>;
  readonly body?: unknown;
  readonly contentType?: string;
}

/** RolloutsPort over a Kubernetes API server with the Argo Rollouts CRDs (EKS or any kubeconfig). */
export class KubernetesRollouts implements RolloutsPort {
  private readonly timeoutMs: number;

  /** Talks to the current context of `kubeConfig`. */
  constructor(
    private readonly kubeConfig: KubeConfig,
    options: KubernetesRolloutsOptions = {},
  ) {
    this.timeoutMs = options.requestTimeoutMs ?? 10_000;
  }

  private async send(call: Call): Promise<unknown> {
    const server = this.kubeConfig.getCurrentCluster()?.server?.replace(/\/+$/, '') ?? '';
    const query = call.query ? `?${new URLSearchParams(call.query)}` : '';
    const init = await this.kubeConfig.applyToFetchOptions({ method: call.method });
    // client-node hands back a WHATWG Headers object (its bearer token among them).
    const headers: Record<string, string> = {};
    (init.headers as Headers | undefined)?.forEach((value, key) => {
      headers[key] = value;
    });
    headers.accept = 'application/json';
    if (call.contentType) headers['content-type'] = call.contentType;
    const res = await fetch(`${server}${call.path}${query}`, {
      ...(init as object),
      method: call.method,
      headers,
      ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
      signal: AbortSignal.timeout(this.timeoutMs),
    } as Parameters<typeof fetch>[1]);
    const text = await res.text();
    if (!res.ok) throw new HttpStatusError(res.status, text);
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new Error(
        `the Kubernetes API answered ${call.method} ${call.path} with something that is not JSON`,
        {
          cause: err,
        },
      );
    }
  }

  private async fail(err: unknown, action: string, namespace: string, name: string): Promise<never> {
    let namespaceMissing = false;
    let notKubernetes: string | undefined;
    if (err instanceof HttpStatusError && err.code === 404) {
      const probe = await probeNamespace(this.kubeConfig, namespace, this.timeoutMs);
      namespaceMissing = probe === 'missing';
      if (probe === 'not-kubernetes') notKubernetes = this.kubeConfig.getCurrentCluster()?.server ?? '';
      // The API server's 404 for a kind it does not serve names no object: no Rollout CRD here.
      if (
        probe === 'exists' &&
        /could not find the requested resource/.test(err.body) &&
        /rollout/i.test(action)
      ) {
        throw new NotFoundError(
          `${namespace}/${name}: cannot ${action}: this cluster does not serve rollouts.argoproj.io/v1alpha1 (is Argo Rollouts installed?)`,
          { cause: err },
        );
      }
    }
    throw kubernetesError(err, {
      action,
      namespace,
      name,
      namespaceMissing,
      rbacKinds: RBAC_KINDS,
      ...(notKubernetes !== undefined && { notKubernetes }),
    });
  }

  private async call(call: Call, action: string, namespace: string, name: string): Promise<unknown> {
    try {
      return await this.send(call);
    } catch (err) {
      return this.fail(err, action, namespace, name);
    }
  }

  private rolloutPath(namespace: string, name: string): string {
    return `/apis/argoproj.io/v1alpha1/namespaces/${encodeURIComponent(namespace)}/rollouts/${encodeURIComponent(name)}`;
  }

  private readRollout(namespace: string, name: string, action: string): Promise<Json> {
    return this.call(
      { method: 'GET', path: this.rolloutPath(namespace, name) },
      action,
      namespace,
      name,
    ).then(obj);
  }

  private patchRollout(
    namespace: string,
    name: string,
    body: unknown,
    contentType: string,
    action: string,
  ): Promise<RolloutState> {
    return this.call(
      {
        method: 'PATCH',
        path: this.rolloutPath(namespace, name),
        query: { fieldManager: FIELD_MANAGER },
        body,
        contentType,
      },
      action,
      namespace,
      name,
    ).then(rolloutStateOf);
  }

  /**
   * A merge patch of the status subresource, falling back to the main resource when the server
   * answers 404 (a cluster whose CRD has no status subresource), as abort.go and retry.go do.
   * Returns undefined when the fallback is needed and `fallback` is false (promote.go decides).
   */
  private async patchStatus(
    namespace: string,
    name: string,
    body: unknown,
    action: string,
    fallback: boolean,
  ): Promise<RolloutState | undefined> {
    try {
      return rolloutStateOf(
        await this.send({
          method: 'PATCH',
          path: `${this.rolloutPath(namespace, name)}/status`,
          query: { fieldManager: FIELD_MANAGER },
          body,
          contentType: MERGE_PATCH,
        }),
      );
    } catch (err) {
      if (!(err instanceof HttpStatusError && err.code === 404))
        return this.fail(err, action, namespace, name);
    }
    return fallback ? this.patchRollout(namespace, name, body, MERGE_PATCH, action) : undefined;
  }

  /** Reads the Rollout; NotFoundError names `namespace/name` (or the missing namespace). */
  async getRollout(namespace: string, name: string): Promise<RolloutState> {
    return rolloutStateOf(await this.readRollout(namespace, name, 'read Rollout'));
  }

  /** Reads a Service's selector; NotFoundError names it. */
  async getService(namespace: string, name: string): Promise<ServiceState> {
    const svc = obj(
      await this.call(
        {
          method: 'GET',
          path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(name)}`,
        },
        'read Service',
        namespace,
        name,
      ),
    );
    return {
      namespace: str(obj(svc.metadata).namespace) ?? namespace,
      name: str(obj(svc.metadata).name) ?? name,
      selector: stringMap(obj(svc.spec).selector),
    };
  }

  /** The Rollout and the ReplicaSets it controls (by owner uid, as the plugin does). */
  private async ownedReplicaSets(
    namespace: string,
    name: string,
    action: string,
  ): Promise<{ rollout: Json; replicaSets: Json[] }> {
    const rollout = await this.readRollout(namespace, name, action);
    const matchLabels = stringMap(obj(obj(rollout.spec).selector).matchLabels);
    const labelSelector = Object.entries(matchLabels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const listed = obj(
      await this.call(
        {
          method: 'GET',
          path: `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/replicasets`,
          ...(labelSelector ? { query: { labelSelector } } : {}),
        },
        'list ReplicaSets of Rollout',
        namespace,
        name,
      ),
    );
    const uid = obj(rollout.metadata).uid;
    return { rollout, replicaSets: list(listed.items).filter((rs) => ownedBy(rs, uid)) };
  }

  /** The ReplicaSets the Rollout controls, oldest revision first. */
  async listRevisions(namespace: string, name: string): Promise<RolloutRevision[]> {
    const { replicaSets } = await this.ownedReplicaSets(namespace, name, 'list revisions of Rollout');
    return replicaSets
      .map(revisionOfReplicaSet)
      .filter((r) => r.revision > 0)
      .sort((a, b) => a.revision - b.revision);
  }

  /** `kubectl argo rollouts set image`, plus the change-cause annotation; the container must exist. */
  async setImage(
    namespace: string,
    name: string,
    container: string,
    image: string,
    changeCause: string,
  ): Promise<RolloutState> {
    const action = 'set image on Rollout';
    const ro = await this.readRollout(namespace, name, action);
    const containers = list(obj(obj(obj(ro.spec).template).spec).containers);
    const index = containers.findIndex((c) => c.name === container);
    if (index === -1) {
      throw new InvalidInputError(
        `Rollout ${namespace}/${name} has no container "${container}"; its containers are: ${
          containers.map((c) => String(c.name)).join(', ') || '(none)'
        }`,
      );
    }
    const ops = [
      // Fails with 422 if the container list changed between our read and the patch.
      { op: 'test', path: `/spec/template/spec/containers/${index}/name`, value: container },
      { op: 'replace', path: `/spec/template/spec/containers/${index}/image`, value: image },
      ...changeCauseOps(ro, changeCause),
    ];
    return this.patchRollout(namespace, name, ops, JSON_PATCH, action);
  }

  /** `kubectl argo rollouts promote [--full]`: getPatches() of promote.go, status subresource first. */
  async promote(namespace: string, name: string, options: { readonly full: boolean }): Promise<RolloutState> {
    const action = options.full ? 'fully promote Rollout' : 'promote Rollout';
    const ro = await this.readRollout(namespace, name, action);
    const patches = promotePatches(ro, options.full);
    let state = rolloutStateOf(ro);
    let specPatch = patches.spec;
    if (patches.status) {
      const patched = await this.patchStatus(namespace, name, patches.status, action, false);
      if (patched) state = patched;
      else specPatch = patches.unified;
    }
    if (specPatch) state = await this.patchRollout(namespace, name, specPatch, MERGE_PATCH, action);
    return state;
  }

  /** `kubectl argo rollouts abort`. */
  async abort(namespace: string, name: string): Promise<RolloutState> {
    return (await this.patchStatus(namespace, name, ABORT, 'abort Rollout', true)) as RolloutState;
  }

  /** `kubectl argo rollouts retry rollout`. */
  async retry(namespace: string, name: string): Promise<RolloutState> {
    return (await this.patchStatus(namespace, name, RETRY, 'retry Rollout', true)) as RolloutState;
  }

  /** `kubectl argo rollouts pause`. */
  async pause(namespace: string, name: string): Promise<RolloutState> {
    return this.patchRollout(namespace, name, PAUSE, MERGE_PATCH, 'pause Rollout');
  }

  /** Clears `spec.paused`. */
  async resume(namespace: string, name: string): Promise<RolloutState> {
    return this.patchRollout(namespace, name, UNPAUSE, MERGE_PATCH, 'resume Rollout');
  }

  /** `kubectl argo rollouts undo`: the pod template (hash label removed) replaces `/spec/template`. */
  async setTemplate(
    namespace: string,
    name: string,
    podTemplate: Readonly<Record<string, unknown>>,
    changeCause: string,
  ): Promise<RolloutState> {
    const action = 'set the pod template of Rollout';
    const ro = await this.readRollout(namespace, name, action);
    const ops = [
      { op: 'replace', path: '/spec/template', value: wireTemplate(podTemplate) },
      ...changeCauseOps(ro, changeCause),
    ];
    return this.patchRollout(namespace, name, ops, JSON_PATCH, action);
  }

  /**
   * The pods of the Rollout's ReplicaSet with `podTemplateHash`, with creation and Ready times,
   * listed by the hash label and kept only when that ReplicaSet controls them. Empty when the
   * Rollout has no such ReplicaSet.
   */
  async podTimings(namespace: string, name: string, podTemplateHash: string): Promise<PodTiming[]> {
    const action = 'list pods of Rollout';
    const { replicaSets } = await this.ownedReplicaSets(namespace, name, action);
    const rs = replicaSets.find(
      (r) => stringMap(obj(r.metadata).labels)[ROLLOUT_HASH_LABEL] === podTemplateHash,
    );
    if (!rs || podTemplateHash === '') return [];
    const pods = obj(
      await this.call(
        {
          method: 'GET',
          path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
          query: { labelSelector: `${ROLLOUT_HASH_LABEL}=${podTemplateHash}` },
        },
        action,
        namespace,
        name,
      ),
    );
    const owner = obj(rs.metadata).uid;
    return list(pods.items)
      .filter((p) => ownedBy(p, owner))
      .map((p): PodTiming => {
        const metadata = obj(p.metadata);
        const ready = list(obj(p.status).conditions).find((c) => c.type === 'Ready');
        const readyAt = ready?.status === 'True' ? str(ready.lastTransitionTime) : undefined;
        return {
          name: str(metadata.name) ?? '',
          createdAt: str(metadata.creationTimestamp) ?? '',
          ...(readyAt ? { readyAt } : {}),
        };
      })
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }
}
