/**
 * The Kubernetes adapter of ClusterPort: reads and patches one Deployment through
 * @kubernetes/client-node, the way kubectl does (`set image`, `rollout history`, `rollout undo`).
 * Every API failure leaves as a guardian error the state machines can Retry/Catch on.
 */

import { readFileSync } from 'node:fs';
import type {
  ConfigurationOptions,
  RequestContext,
  ResponseContext,
  V1Deployment,
  V1PodTemplateSpec,
  V1ReplicaSet,
} from '@kubernetes/client-node';
// Values by subpath: the package index re-exports watch/exec/attach/metrics (and ws, tar) whose
// module side effects would keep them in every Lambda bundle.
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { Observable } from '@kubernetes/client-node/dist/gen/rxjsStub.js';
import { ObjectAppsV1Api as AppsV1Api } from '@kubernetes/client-node/dist/gen/types/ObjectParamAPI.js';
import { setHeaderOptions } from '@kubernetes/client-node/dist/middleware.js';
import { PatchStrategy } from '@kubernetes/client-node/dist/patch.js';
import fetch from 'node-fetch';
import { InvalidInputError } from '../core/errors.ts';
import { quote, shorten } from '../core/text.ts';
import type { ClusterPort, PodTiming, RevisionInfo, WorkloadState } from './cluster.ts';
import {
  CHANGE_CAUSE_ANNOTATION,
  httpStatusOf,
  kubernetesError,
  type NamespaceProbe,
  probeNamespace,
} from './kubernetes-common.ts';

export {
  CHANGE_CAUSE_ANNOTATION,
  type KubernetesErrorContext,
  kubernetesError,
  type NamespaceProbe,
  probeNamespace,
} from './kubernetes-common.ts';

/** Annotation the deployment controller keeps the revision number in. */
export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
/** Label the deployment controller adds to each ReplicaSet's template; not part of a revision. */
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';

/** The fields of a Pod (core/v1 wire JSON) the startup read uses. */
interface PodJson {
  readonly metadata?: {
    readonly name?: string;
    readonly creationTimestamp?: string;
    readonly ownerReferences?: readonly { readonly uid?: string; readonly controller?: boolean }[];
  };
  readonly status?: {
    readonly conditions?: readonly {
      readonly type?: string;
      readonly status?: string;
      readonly lastTransitionTime?: string;
    }[];
  };
}

/** Default progressDeadlineSeconds of a Deployment (Kubernetes API default). */
const DEFAULT_PROGRESS_DEADLINE_SECONDS = 600;

function revisionOf(annotations: Record<string, string> | undefined): number {
  const value = Number.parseInt(annotations?.[REVISION_ANNOTATION] ?? '', 10);
  return Number.isFinite(value) ? value : 0;
}

function imagesOf(
  containers: readonly { name: string; image?: string }[] | undefined,
): Record<string, string> {
  const images: Record<string, string> = {};
  for (const c of containers ?? []) images[c.name] = c.image ?? '';
  return images;
}

/** Maps a Deployment (client-node model) to the guardian's plain WorkloadState. */
export function workloadStateOf(d: V1Deployment): WorkloadState {
  const s = d.status;
  return {
    namespace: d.metadata?.namespace ?? '',
    name: d.metadata?.name ?? '',
    generation: d.metadata?.generation ?? 0,
    observedGeneration: s?.observedGeneration ?? 0,
    replicas: d.spec?.replicas ?? 1,
    paused: d.spec?.paused ?? false,
    progressDeadlineSeconds: d.spec?.progressDeadlineSeconds ?? DEFAULT_PROGRESS_DEADLINE_SECONDS,
    revision: revisionOf(d.metadata?.annotations),
    images: imagesOf(d.spec?.template?.spec?.containers),
    podTemplate: wireTemplate(d.spec?.template),
    // The API server omits zero counts, so absent means 0.
    status: {
      replicas: s?.replicas ?? 0,
      updatedReplicas: s?.updatedReplicas ?? 0,
      readyReplicas: s?.readyReplicas ?? 0,
      availableReplicas: s?.availableReplicas ?? 0,
      unavailableReplicas: s?.unavailableReplicas ?? 0,
    },
    conditions: (s?.conditions ?? []).map((c) => ({
      type: c.type,
      status: c.status,
      ...(c.reason === undefined ? {} : { reason: c.reason }),
      ...(c.message === undefined ? {} : { message: c.message }),
    })),
  };
}

/** A ReplicaSet's pod template as wire JSON, without the controller's pod-template-hash label. */
function revisionTemplate(rs: V1ReplicaSet): Record<string, unknown> {
  return wireTemplate(rs.spec?.template);
}

/** A pod template (a ReplicaSet's or a Deployment's) as wire JSON, without pod-template-hash. */
function wireTemplate(spec: V1PodTemplateSpec | undefined): Record<string, unknown> {
  const template = structuredClone(
    ObjectSerializer.serialize(spec ?? {}, 'V1PodTemplateSpec', '') as Record<string, unknown>,
  );
  const metadata = template.metadata as { labels?: Record<string, string> } | undefined;
  if (metadata?.labels) {
    delete metadata.labels[POD_TEMPLATE_HASH_LABEL];
  }
  return template;
}

/** Escapes a key for use in a JSON Pointer (RFC 6901). */
function pointerKey(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

function changeCauseOps(d: V1Deployment, changeCause: string): object[] {
  return d.metadata?.annotations
    ? [
        {
          op: 'add',
          path: `/metadata/annotations/${pointerKey(CHANGE_CAUSE_ANNOTATION)}`,
          value: changeCause,
        },
      ]
    : [{ op: 'add', path: '/metadata/annotations', value: { [CHANGE_CAUSE_ANNOTATION]: changeCause } }];
}

/** Options of KubernetesCluster. */
export interface KubernetesClusterOptions {
  /**
   * Abort each API call after this long (it then fails as TransientError).
   * @default 10000
   */
  readonly requestTimeoutMs?: number;
}

/** ClusterPort over a Kubernetes API server (EKS or any kubeconfig). */
export class KubernetesCluster implements ClusterPort {
  private readonly apps: AppsV1Api;
  private readonly timeoutMs: number;

  /** Builds the API clients from `kubeConfig` (its current context). */
  constructor(
    private readonly kubeConfig: KubeConfig,
    options: KubernetesClusterOptions = {},
  ) {
    this.apps = kubeConfig.makeApiClient(AppsV1Api);
    this.timeoutMs = options.requestTimeoutMs ?? 10_000;
  }

  private probeNamespace(namespace: string): Promise<NamespaceProbe> {
    return probeNamespace(this.kubeConfig, namespace, this.timeoutMs);
  }

  /** Per-call options: a timeout signal, so a hung API server becomes a retryable failure. */
  private callOptions(): ConfigurationOptions {
    const timeoutMs = this.timeoutMs;
    return {
      middleware: [
        {
          pre: (ctx: RequestContext) => {
            ctx.setSignal(AbortSignal.timeout(timeoutMs));
            return new Observable(Promise.resolve(ctx));
          },
          post: (res: ResponseContext) => new Observable(Promise.resolve(res)),
        },
      ],
      middlewareMergeStrategy: 'append',
    };
  }

  private patchOptions(): ConfigurationOptions {
    return setHeaderOptions('Content-Type', PatchStrategy.JsonPatch, this.callOptions());
  }

  private async fail(err: unknown, action: string, namespace: string, name: string): Promise<never> {
    let namespaceMissing = false;
    let notKubernetes: string | undefined;
    if (httpStatusOf(err) === 404) {
      // A missing namespace and a missing Deployment both answer 404, and so does a server that is no
      // Kubernetes API at all; cheap reads tell them apart. A 403 here (no RBAC on namespaces) just
      // leaves the plain "not found".
      const probe = await this.probeNamespace(namespace);
      namespaceMissing = probe === 'missing';
      if (probe === 'not-kubernetes') notKubernetes = this.kubeConfig.getCurrentCluster()?.server ?? '';
    }
    throw kubernetesError(err, {
      action,
      namespace,
      name,
      namespaceMissing,
      ...(notKubernetes !== undefined && { notKubernetes }),
    });
  }

  private async readDeployment(namespace: string, name: string, action: string): Promise<V1Deployment> {
    try {
      return await this.apps.readNamespacedDeployment({ namespace, name }, this.callOptions());
    } catch (err) {
      return this.fail(err, action, namespace, name);
    }
  }

  private async patch(
    namespace: string,
    name: string,
    ops: object[],
    action: string,
  ): Promise<WorkloadState> {
    try {
      const d = await this.apps.patchNamespacedDeployment(
        { namespace, name, body: ops, fieldManager: 'deployment-guardian' },
        this.patchOptions(),
      );
      return workloadStateOf(d);
    } catch (err) {
      return this.fail(err, action, namespace, name);
    }
  }

  /** Reads the Deployment; NotFoundError names `namespace/name` (or the missing namespace). */
  async getWorkload(namespace: string, name: string): Promise<WorkloadState> {
    return workloadStateOf(await this.readDeployment(namespace, name, 'read Deployment'));
  }

  /** The Deployment and the ReplicaSets it owns (by uid, as kubectl does). */
  private async ownedReplicaSets(
    namespace: string,
    name: string,
    action: string,
  ): Promise<{ deployment: V1Deployment; replicaSets: V1ReplicaSet[] }> {
    const d = await this.readDeployment(namespace, name, action);
    const uid = d.metadata?.uid;
    const selector = d.spec?.selector?.matchLabels;
    const labelSelector = selector
      ? Object.entries(selector)
          .map(([k, v]) => `${k}=${v}`)
          .join(',')
      : undefined;
    let items: V1ReplicaSet[];
    try {
      const list = await this.apps.listNamespacedReplicaSet(
        { namespace, ...(labelSelector ? { labelSelector } : {}) },
        this.callOptions(),
      );
      items = list.items;
    } catch (err) {
      return this.fail(err, 'list ReplicaSets of Deployment', namespace, name);
    }
    return {
      deployment: d,
      replicaSets: items.filter((rs) =>
        rs.metadata?.ownerReferences?.some((o) => o.controller && o.uid === uid),
      ),
    };
  }

  /** ReplicaSets the Deployment owns (by uid, as kubectl does), oldest revision first. */
  async listRevisions(namespace: string, name: string): Promise<RevisionInfo[]> {
    const { replicaSets } = await this.ownedReplicaSets(namespace, name, 'list revisions of Deployment');
    return replicaSets
      .map((rs): RevisionInfo => {
        const annotations = rs.metadata?.annotations;
        const changeCause = annotations?.[CHANGE_CAUSE_ANNOTATION];
        const created = rs.metadata?.creationTimestamp;
        return {
          revision: revisionOf(annotations),
          replicaSetName: rs.metadata?.name ?? '',
          images: imagesOf(rs.spec?.template?.spec?.containers),
          podTemplate: revisionTemplate(rs),
          ...(created ? { createdAt: new Date(created).toISOString() } : {}),
          ...(changeCause ? { changeCause } : {}),
        };
      })
      .filter((r) => r.revision > 0)
      .sort((a, b) => a.revision - b.revision);
  }

  /**
   * The pods of the ReplicaSet at the Deployment's revision (its current one), with creation and
   * Ready times. Pods are listed by that ReplicaSet's pod-template-hash and kept only when it owns
   * them. A raw GET with the kubeconfig's auth and TLS, like {@link probeNamespace}: the generated
   * CoreV1Api would add ~0.5 MB to every Kubernetes step's bundle for this one list.
   */
  async podTimings(namespace: string, name: string): Promise<PodTiming[]> {
    const action = 'list pods of Deployment';
    const { deployment, replicaSets } = await this.ownedReplicaSets(namespace, name, action);
    const revision = revisionOf(deployment.metadata?.annotations);
    const current = replicaSets.find(
      (rs) => revision > 0 && revisionOf(rs.metadata?.annotations) === revision,
    );
    const hash = current?.metadata?.labels?.[POD_TEMPLATE_HASH_LABEL];
    if (!current || !hash) return [];
    const server = this.kubeConfig.getCurrentCluster()?.server?.replace(/\/+$/, '') ?? '';
    const query = new URLSearchParams({ labelSelector: `${POD_TEMPLATE_HASH_LABEL}=${hash}` });
    let list: { items?: PodJson[] };
    try {
      const init = await this.kubeConfig.applyToFetchOptions({ method: 'GET' });
      const res = await fetch(`${server}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods?${query}`, {
        ...(init as object),
        signal: AbortSignal.timeout(this.timeoutMs),
      } as Parameters<typeof fetch>[1]);
      const text = await res.text();
      // Shaped like the generated client's ApiException, so kubernetesError maps it the same way.
      if (!res.ok) throw Object.assign(new Error(`HTTP ${res.status}`), { code: res.status, body: text });
      list = JSON.parse(text) as { items?: PodJson[] };
    } catch (err) {
      return this.fail(err, action, namespace, name);
    }
    const owner = current.metadata?.uid;
    return (list.items ?? [])
      .filter((p) => p.metadata?.ownerReferences?.some((o) => o.controller && o.uid === owner))
      .map((p): PodTiming => {
        const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
        const readyAt = ready?.status === 'True' ? ready.lastTransitionTime : undefined;
        return {
          name: p.metadata?.name ?? '',
          createdAt: p.metadata?.creationTimestamp ?? '',
          ...(readyAt ? { readyAt } : {}),
        };
      })
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** `kubectl set image deployment/<name> <container>=<image>` plus the change-cause annotation. */
  async setImage(
    namespace: string,
    name: string,
    container: string,
    image: string,
    changeCause: string,
  ): Promise<WorkloadState> {
    const d = await this.readDeployment(namespace, name, 'set image on Deployment');
    const containers = d.spec?.template?.spec?.containers ?? [];
    const index = containers.findIndex((c) => c.name === container);
    if (index === -1) {
      throw new InvalidInputError(
        `Deployment ${namespace}/${name} has no container "${container}"; its containers are: ${
          containers.map((c) => c.name).join(', ') || '(none)'
        }`,
      );
    }
    const ops = [
      // Guards against the container list changing between our read and the patch (fails with 422).
      { op: 'test', path: `/spec/template/spec/containers/${index}/name`, value: container },
      { op: 'replace', path: `/spec/template/spec/containers/${index}/image`, value: image },
      ...changeCauseOps(d, changeCause),
    ];
    return this.patch(namespace, name, ops, 'set image on Deployment');
  }

  /** `kubectl rollout undo --to-revision`: the revision's pod template becomes the Deployment's. */
  async rollbackTo(
    namespace: string,
    name: string,
    revision: RevisionInfo,
    changeCause: string,
  ): Promise<WorkloadState> {
    const d = await this.readDeployment(namespace, name, 'roll back Deployment');
    if (d.spec?.paused) {
      throw new InvalidInputError(
        `you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume deployment/${name} -n ${namespace}' and try again`,
      );
    }
    const template = structuredClone(revision.podTemplate) as {
      metadata?: { labels?: Record<string, string> };
    };
    if (template.metadata?.labels) delete template.metadata.labels[POD_TEMPLATE_HASH_LABEL];
    const ops = [
      { op: 'replace', path: '/spec/template', value: template },
      ...changeCauseOps(d, changeCause),
    ];
    return this.patch(namespace, name, ops, `roll back Deployment to revision ${revision.revision}`);
  }
}

/** What a kubeconfig needs, said once for every way one can fall short. */
const KUBECONFIG_SHAPE =
  'expected a kubeconfig with clusters, users, contexts and a current-context, as `kubectl config view --raw` prints it';

/**
 * Loads a kubeconfig file (as kubectl would read it); an unreadable, empty or malformed file is an
 * InvalidInputError that names the file and says what is wrong in a sentence.
 */
export function kubeConfigFromFile(path: string): KubeConfig {
  const file = `kubeconfig ${quote(path)}`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EISDIR'
          ? 'is a folder, not a file'
          : code === 'EACCES'
            ? 'is not readable (permission denied)'
            : `cannot be read (${code ?? (err as Error).message})`;
    throw new InvalidInputError(`${file} ${why}`, { cause: err });
  }
  if (text.trim() === '') throw new InvalidInputError(`${file} is empty: ${KUBECONFIG_SHAPE}`);
  const kc = new KubeConfig();
  try {
    // loadFromFile also resolves certificate paths relative to the file, as kubectl does.
    kc.loadFromFile(path);
  } catch (err) {
    const message = ((err as Error).message ?? String(err)).split('\n')[0];
    const why =
      (err as Error).name === 'YAMLException'
        ? `is not valid YAML (${message})`
        : err instanceof TypeError
          ? 'is not a kubeconfig'
          : `is not a valid kubeconfig (${message})`;
    throw new InvalidInputError(`${file} ${why}: ${KUBECONFIG_SHAPE}`, { cause: err });
  }
  return kc;
}

/** A ClusterPort for the kubeconfig at `path`, using `context` or its current context. */
export function connectKubeconfig(path: string, context?: string): ClusterPort {
  const kc = kubeConfigFromFile(path);
  const file = `kubeconfig ${quote(path)}`;
  const contexts = kc.getContexts().map((c) => c.name);
  if (contexts.length === 0) throw new InvalidInputError(`${file} defines no context: ${KUBECONFIG_SHAPE}`);
  if (context !== undefined) {
    if (!contexts.includes(context)) {
      throw new InvalidInputError(
        `${file} has no context "${shorten(context)}"; it has: ${contexts.join(', ')}`,
      );
    }
    kc.setCurrentContext(context);
  }
  const current = kc.getCurrentContext();
  if (!current || !contexts.includes(current)) {
    throw new InvalidInputError(
      `${file} has no current-context${current ? ` (it names ${quote(current)}, which it does not define)` : ''}; ` +
        `its contexts: ${contexts.join(', ')}. Choose one with \`kubectl config use-context NAME --kubeconfig ${shorten(path)}\``,
    );
  }
  if (!kc.getCurrentCluster()) {
    throw new InvalidInputError(
      `${file}: context ${quote(current)} names a cluster the file does not define`,
    );
  }
  return new KubernetesCluster(kc);
}
