/**
 * The real control plane started by tools/kube/cluster.sh plus the real Argo Rollouts controller
 * it runs (built from github.com/argoproj/argo-rollouts at the pinned version) as a
 * {@link RolloutTarget}, and raw helpers for reading and patching Rollouts the way the
 * `kubectl argo rollouts` plugin does.
 */
import { randomBytes } from 'node:crypto';
import { CoreV1Api, type KubeConfig, type V1Pod, type V1Service } from '@kubernetes/client-node';
import fetch from 'node-fetch';
import { ROLLOUT_HASH_LABEL } from '../../lambdas/adapters/rollouts.ts';
import type { RolloutSeedSpec, RolloutTarget } from '../shared/rollout-target.ts';
import { realKubeConfig, waitUntil } from './real-cluster.ts';

/** The Rollout API group/version every call uses. */
const ROLLOUTS_API = '/apis/argoproj.io/v1alpha1';

/** An error answer of the API server, shaped like the generated client's ApiException. */
export class KubeRequestError extends Error {
  constructor(
    readonly code: number,
    readonly body: string,
    what: string,
  ) {
    super(`${what}: HTTP ${code}: ${body.slice(0, 300)}`);
    this.name = 'KubeRequestError';
  }
}

/**
 * One request to the API server with the kubeconfig's auth and TLS, JSON in and out: how the
 * plugin's status patches are sent without the generated client choosing the content type.
 */
export async function kubeRequest<T>(
  kc: KubeConfig,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  urlPath: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<T> {
  const server = kc.getCurrentCluster()?.server?.replace(/\/+$/, '');
  if (!server) throw new Error('the kubeconfig has no current cluster');
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = contentType;
  const init = await kc.applyToFetchOptions({ method, headers });
  const res = await fetch(`${server}${urlPath}`, {
    ...(init as object),
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  } as Parameters<typeof fetch>[1]);
  const text = await res.text();
  if (!res.ok) throw new KubeRequestError(res.status, text, `${method} ${urlPath}`);
  return JSON.parse(text) as T;
}

/** A Rollout as the API server returns it (only the fields the tests read are typed). */
export interface RolloutJson {
  metadata: {
    name: string;
    namespace: string;
    generation: number;
    uid: string;
    annotations?: Record<string, string>;
  };
  spec: {
    replicas?: number;
    paused?: boolean;
    template: { spec: { containers: { name: string; image: string }[] } };
    strategy: Record<string, unknown>;
  };
  status?: {
    phase?: string;
    message?: string;
    observedGeneration?: string;
    currentPodHash?: string;
    stableRS?: string;
    abort?: boolean;
    abortedAt?: string;
    controllerPause?: boolean;
    promoteFull?: boolean;
    pauseConditions?: { reason: string; startTime?: string }[];
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    blueGreen?: { activeSelector?: string; previewSelector?: string };
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

const rolloutPath = (namespace: string, name?: string) =>
  `${ROLLOUTS_API}/namespaces/${encodeURIComponent(namespace)}/rollouts${name ? `/${encodeURIComponent(name)}` : ''}`;

/** Reads a Rollout. */
export function readRollout(kc: KubeConfig, namespace: string, name: string): Promise<RolloutJson> {
  return kubeRequest<RolloutJson>(kc, 'GET', rolloutPath(namespace, name));
}

/** A merge patch of the Rollout (`spec.paused`), as `kubectl argo rollouts pause` sends it. */
export function patchRollout(
  kc: KubeConfig,
  namespace: string,
  name: string,
  patch: object,
): Promise<RolloutJson> {
  return kubeRequest<RolloutJson>(
    kc,
    'PATCH',
    rolloutPath(namespace, name),
    patch,
    'application/merge-patch+json',
  );
}

/** A merge patch of the Rollout's status subresource, as the plugin's promote/abort/retry send it. */
export function patchRolloutStatus(
  kc: KubeConfig,
  namespace: string,
  name: string,
  patch: object,
): Promise<RolloutJson> {
  return kubeRequest<RolloutJson>(
    kc,
    'PATCH',
    `${rolloutPath(namespace, name)}/status`,
    patch,
    'application/merge-patch+json',
  );
}

/**
 * `kubectl argo rollouts set image`: a JSON patch of the container's image (testing the
 * container's name first, so a wrong index fails instead of changing another container).
 */
export async function setRolloutImage(
  kc: KubeConfig,
  namespace: string,
  name: string,
  container: string,
  image: string,
): Promise<RolloutJson> {
  const ro = await readRollout(kc, namespace, name);
  const index = ro.spec.template.spec.containers.findIndex((c) => c.name === container);
  if (index < 0) throw new Error(`Rollout ${namespace}/${name} has no container ${container}`);
  return kubeRequest<RolloutJson>(
    kc,
    'PATCH',
    rolloutPath(namespace, name),
    [
      { op: 'test', path: `/spec/template/spec/containers/${index}/name`, value: container },
      { op: 'replace', path: `/spec/template/spec/containers/${index}/image`, value: image },
    ],
    'application/json-patch+json',
  );
}

/** The Rollout seedRollout creates (the simulator seeds the same object). */
export function rolloutManifest(spec: RolloutSeedSpec): Record<string, unknown> {
  const labels = { app: spec.name };
  const strategy =
    spec.strategy === 'canary'
      ? { canary: {} }
      : {
          blueGreen: {
            activeService: spec.activeService,
            ...(spec.previewService !== null ? { previewService: spec.previewService } : {}),
            autoPromotionEnabled: spec.autoPromotionEnabled ?? false,
            ...(spec.scaleDownDelaySeconds !== undefined
              ? { scaleDownDelaySeconds: spec.scaleDownDelaySeconds }
              : {}),
          },
        };
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: spec.name, labels },
    spec: {
      replicas: spec.replicas,
      selector: { matchLabels: labels },
      ...(spec.progressDeadlineSeconds !== undefined
        ? { progressDeadlineSeconds: spec.progressDeadlineSeconds }
        : {}),
      template: {
        metadata: { labels },
        spec: { containers: [{ name: spec.container, image: spec.image, ports: [{ containerPort: 8000 }] }] },
      },
      strategy,
    },
  };
}

/** A Service in front of the Rollout's pods: selector `app: <name>`, port 80 to 8000. */
function serviceManifest(name: string, app: string): V1Service {
  return {
    metadata: { name },
    spec: { selector: { app }, ports: [{ port: 80, targetPort: 8000 }] },
  };
}

/** The hash a Service selects (`rollouts-pod-template-hash`), if the controller has set one. */
export async function selectedHash(
  kc: KubeConfig,
  namespace: string,
  service: string,
): Promise<string | undefined> {
  const svc = await kc.makeApiClient(CoreV1Api).readNamespacedService({ namespace, name: service });
  return svc.spec?.selector?.[ROLLOUT_HASH_LABEL];
}

/** Settled at revision 1: Healthy, observed, every replica available, the active Service switched. */
async function isSeeded(kc: KubeConfig, spec: RolloutSeedSpec): Promise<boolean> {
  const ro = await readRollout(kc, spec.namespace, spec.name);
  const s = ro.status;
  if (
    s?.phase !== 'Healthy' ||
    s.observedGeneration !== String(ro.metadata.generation) ||
    !s.stableRS ||
    s.availableReplicas !== spec.replicas
  ) {
    return false;
  }
  if (spec.strategy === 'canary') return true;
  return (await selectedHash(kc, spec.namespace, spec.activeService)) === s.stableRS;
}

/** Creates the namespace (if missing), the Services and the Rollout, and waits until it is seeded. */
export async function seedRealRollout(kc: KubeConfig, spec: RolloutSeedSpec): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core
    .createNamespace({ body: { metadata: { name: spec.namespace } } })
    .catch((e: { code?: number }) => {
      if (e.code !== 409) throw e;
    });
  for (const service of [spec.activeService, spec.previewService]) {
    if (service === null) continue;
    await core.createNamespacedService({
      namespace: spec.namespace,
      body: serviceManifest(service, spec.name),
    });
  }
  await kubeRequest(kc, 'POST', rolloutPath(spec.namespace), rolloutManifest(spec));
  await waitUntil(`Rollout ${spec.namespace}/${spec.name} to be Healthy at revision 1`, () =>
    isSeeded(kc, spec),
  );
}

const isReady = (pod: V1Pod) =>
  !pod.metadata?.deletionTimestamp &&
  pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

/**
 * The image of the Ready pods `service` selects now (terminating pods are out of a Service's
 * endpoints). If they run different images (a Service not yet switched to one hash), the image
 * most of them run.
 */
export async function servedImageOfService(
  kc: KubeConfig,
  namespace: string,
  service: string,
): Promise<string | undefined> {
  const core = kc.makeApiClient(CoreV1Api);
  const svc = await core.readNamespacedService({ namespace, name: service }).catch((e: { code?: number }) => {
    if (e.code === 404) return undefined;
    throw e;
  });
  const selector = svc?.spec?.selector;
  // A Service without a selector has no endpoints the control plane manages.
  if (!selector || Object.keys(selector).length === 0) return undefined;
  const labelSelector = Object.entries(selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const pods = await core.listNamespacedPod({ namespace, labelSelector });
  const counts = new Map<string, number>();
  for (const pod of pods.items.filter(isReady)) {
    const image = pod.spec?.containers[0]?.image;
    if (image) counts.set(image, (counts.get(image) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts a target on the running cluster and controller; every scenario gets namespaces of its own. */
export async function startRealRolloutTarget(): Promise<RolloutTarget> {
  const kubeConfig = realKubeConfig();
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const created = new Set<string>();
  return {
    kubeConfig,
    controlsTime: false,
    stepSeconds: 0.25,
    async seedRollout(spec) {
      created.add(spec.namespace);
      await seedRealRollout(kubeConfig, spec);
    },
    async elapse(seconds) {
      await sleep(seconds * 1000);
    },
    servedImage: (namespace, service) => servedImageOfService(kubeConfig, namespace, service),
    freshNamespace: (prefix) => `${prefix}-${randomBytes(4).toString('hex')}`,
    async close() {
      // The namespace controller, the garbage collector and kwok finish the deletion in the background.
      await Promise.all([...created].map((name) => core.deleteNamespace({ name }).catch(() => undefined)));
    },
  };
}
