/**
 * The cluster simulator's HTTP face: the subset of the Kubernetes REST API the guardian and
 * kubectl-style reads need, answering like kube-apiserver (object shapes, list kinds, Status
 * errors), so the real @kubernetes/client-node talks to it unchanged.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import type { Clock } from '../../../lambdas/core/ports.ts';
import { ApiError, type ClusterSimSnapshot, type KObject, type SeedWorkload, SimCluster } from './cluster.ts';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, type Json, PatchError } from './patch.ts';
import type { SeedRollout } from './rollout-seed.ts';

/** HTTP statuses the simulator can be told to fail with. */
export type InjectedStatus = 401 | 403 | 429 | 500 | 503;

/** Makes the next `count` API calls (optionally only these methods) fail with `status`. */
export interface FaultInjection {
  readonly count: number;
  readonly status: InjectedStatus;
  /** HTTP methods to fail, e.g. ['PATCH']; default: all. */
  readonly methods?: readonly string[];
}

/** Options of startClusterSimulator. */
export interface ClusterSimulatorOptions {
  /** The simulated clock the deployment controller reads. */
  readonly clock: Clock;
  /** Workloads to create, already rolled out at revision 1 (skipped when they exist in `snapshot`). */
  readonly seed?: readonly SeedWorkload[];
  /** Blue-green Rollouts (with their Services) to create Healthy at revision 1 (skipped when they exist). */
  readonly seedRollouts?: readonly SeedRollout[];
  /** State saved by exportState() of an earlier run. */
  readonly snapshot?: ClusterSimSnapshot;
  /** Called after each request that may have changed the cluster (persist it there). */
  readonly onChange?: () => void;
  /** Keep every request for {@link ClusterSimulator.requests} (off in the long-lived state service). @default true */
  readonly recordRequests?: boolean;
}

/** One API request as it arrived, for {@link ClusterSimulator.onRequest}. */
export interface SimulatorRequest {
  readonly method: string;
  /** Path and query, as sent. */
  readonly url: string;
  /** `performance.now()` when it arrived, before it was handled (comparable with the caller's in this process). */
  readonly receivedAt: number;
}

/** A running cluster simulator. */
export interface ClusterSimulator {
  /** Base URL, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** A kubeconfig (context `guardian-sim`) pointing at the simulator with its bearer token. */
  readonly kubeconfigYaml: string;
  /** Writes kubeconfigYaml to `path`. */
  writeKubeconfig(path: string): void;
  /** A client-node KubeConfig for the simulator. */
  kubeConfig(): KubeConfig;
  /** Makes the next API calls fail (throttling, server errors, auth). */
  injectFaults(fault: FaultInjection): void;
  /** Image (first container) served by the Deployment's newest ReplicaSet with Ready pods. */
  servedImage(namespace: string, name: string): string | undefined;
  /** Image (first container) of the Ready pods a Service's selector selects now (an Argo preview or active Service). */
  servedImageOfService(namespace: string, service: string): string | undefined;
  /** Every API request received so far, as `METHOD /path?query` (tests assert "no cluster call"). */
  requests(): string[];
  /**
   * Calls `listener` as each API request arrives, before it is handled, so a benchmark can time
   * when a change reached the API. Returns a function that stops the calls.
   */
  onRequest(listener: (request: SimulatorRequest) => void): () => void;
  /** JSON snapshot of the whole cluster (persist it to resume later). */
  exportState(): ClusterSimSnapshot;
  /** Replaces the cluster with a snapshot. */
  importState(snapshot: ClusterSimSnapshot): void;
  /** The in-process cluster, for assertions that the REST API does not expose (pods' timings). */
  readonly cluster: SimCluster;
  /** Stops the server. */
  close(): Promise<void>;
}

const STATUS_REASONS: Record<number, { reason: string; message: string }> = {
  401: { reason: 'Unauthorized', message: 'Unauthorized' },
  403: { reason: 'Forbidden', message: 'forbidden: injected fault' },
  429: { reason: 'TooManyRequests', message: 'Too many requests, please try again later.' },
  500: { reason: 'InternalError', message: 'Internal error occurred: injected fault' },
  503: { reason: 'ServiceUnavailable', message: 'the server is currently unable to handle the request' },
};

function statusBody(code: number, reason: string, message: string, details?: KObject): KObject {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

function send(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(code, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Json> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new ApiError(400, 'BadRequest', 'the request body is empty');
  try {
    return JSON.parse(text) as Json;
  } catch (err) {
    throw new ApiError(400, 'BadRequest', `the request body is not valid JSON: ${(err as Error).message}`);
  }
}

function list(kind: string, apiVersion: string, items: KObject[], resourceVersion: string): KObject {
  // The API server leaves kind/apiVersion off list items.
  return {
    kind,
    apiVersion,
    metadata: { resourceVersion },
    items: items.map(({ kind: _k, apiVersion: _a, ...rest }) => rest),
  };
}

const JSON_PATCH = 'application/json-patch+json';
const MERGE_PATCH = 'application/merge-patch+json';
const STRATEGIC_PATCH = 'application/strategic-merge-patch+json';

/**
 * Applies a PATCH body to `current` by its Content-Type. Custom resources (Rollouts) take no
 * strategic merge patch, as kube-apiserver answers for CRDs.
 */
function applyPatch(req: IncomingMessage, current: Json, body: Json, strategic: boolean): Json {
  const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim();
  try {
    if (contentType === JSON_PATCH) return applyJsonPatch(current, body);
    if (contentType === MERGE_PATCH) return applyMergePatch(current, body);
    if (strategic && contentType === STRATEGIC_PATCH) return applyStrategicMergePatch(current, body);
  } catch (err) {
    if (err instanceof PatchError) {
      throw new ApiError(err.status, err.status === 400 ? 'BadRequest' : 'Invalid', err.message);
    }
    throw err;
  }
  const accepted = strategic
    ? `${JSON_PATCH}, ${MERGE_PATCH}, ${STRATEGIC_PATCH}`
    : `${JSON_PATCH}, ${MERGE_PATCH}, application/apply-patch+yaml`;
  throw new ApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted} (got "${contentType}")`,
  );
}

/** Starts the simulator on 127.0.0.1 (a free port). */
export async function startClusterSimulator(options: ClusterSimulatorOptions): Promise<ClusterSimulator> {
  const cluster = new SimCluster(options.clock);
  if (options.snapshot) cluster.importState(options.snapshot);
  for (const w of options.seed ?? []) cluster.seed(w);
  for (const r of options.seedRollouts ?? []) cluster.seedRollout(r);
  const token = randomBytes(16).toString('hex');
  const faults: { remaining: number; status: InjectedStatus; methods?: readonly string[] }[] = [];

  const takeFault = (method: string): InjectedStatus | undefined => {
    const f = faults.find((x) => x.remaining > 0 && (!x.methods || x.methods.includes(method)));
    if (!f) return undefined;
    f.remaining -= 1;
    return f.status;
  };

  const rv = () => cluster.resourceVersion();

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://sim');
    const selector = url.searchParams.get('labelSelector') ?? undefined;
    if (req.headers.authorization !== `Bearer ${token}`) {
      send(res, 401, statusBody(401, 'Unauthorized', 'Unauthorized'));
      return;
    }
    const injected = takeFault(method);
    if (injected !== undefined) {
      const { reason, message } = STATUS_REASONS[injected] ?? {
        reason: 'InternalError',
        message: 'injected fault',
      };
      send(
        res,
        injected,
        statusBody(injected, reason, message),
        injected === 429 ? { 'Retry-After': '1' } : {},
      );
      return;
    }
    if (url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1') {
      throw new ApiError(
        405,
        'MethodNotAllowed',
        'watch is not supported by the cluster simulator; poll instead',
      );
    }
    const p = url.pathname.replace(/\/+$/, '');
    // Path parameters of the route that matched, URL-decoded.
    const at = (re: RegExp): (string | undefined)[] | undefined =>
      re
        .exec(p)
        ?.slice(1)
        .map((x) => (x === undefined ? undefined : decodeURIComponent(x)));
    let g: (string | undefined)[] | undefined;

    if (p === '/version') {
      send(res, 200, {
        major: '1',
        minor: '31',
        gitVersion: 'v1.31.0-guardian-sim',
        platform: 'linux/amd64',
      });
      return;
    }
    if (p === '/api') {
      send(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
      return;
    }
    if (p === '/apis') {
      const apps = { groupVersion: 'apps/v1', version: 'v1' };
      const argo = { groupVersion: 'argoproj.io/v1alpha1', version: 'v1alpha1' };
      send(res, 200, {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: [
          { name: 'apps', versions: [apps], preferredVersion: apps },
          { name: 'argoproj.io', versions: [argo], preferredVersion: argo },
        ],
      });
      return;
    }
    if (p === '/apis/argoproj.io/v1alpha1') {
      const verbs = ['delete', 'get', 'list', 'patch', 'create', 'update'];
      send(res, 200, {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: 'argoproj.io/v1alpha1',
        resources: [
          {
            name: 'rollouts',
            singularName: 'rollout',
            namespaced: true,
            kind: 'Rollout',
            verbs,
            shortNames: ['ro'],
          },
          {
            name: 'rollouts/status',
            singularName: '',
            namespaced: true,
            kind: 'Rollout',
            verbs: ['get', 'patch', 'update'],
          },
        ],
      });
      return;
    }
    if (p === '/api/v1/namespaces') {
      if (method === 'GET')
        return send(res, 200, list('NamespaceList', 'v1', cluster.listNamespaces(), rv()));
      if (method === 'POST') return send(res, 201, cluster.createNamespace((await readBody(req)) as KObject));
    }
    g = at(/^\/api\/v1\/namespaces\/([^/]+)$/);
    if (g && method === 'GET') {
      return send(res, 200, cluster.getNamespace(g[0] ?? ''));
    }
    g = at(/^\/api\/v1\/(?:namespaces\/([^/]+)\/)?pods$/);
    if (g && method === 'GET') {
      const ns = g[0];
      return send(res, 200, list('PodList', 'v1', cluster.listPods(ns, selector), rv()));
    }
    g = at(/^\/apis\/apps\/v1\/(?:namespaces\/([^/]+)\/)?deployments$/);
    if (g) {
      const ns = g[0];
      if (method === 'GET')
        return send(res, 200, list('DeploymentList', 'apps/v1', cluster.listDeployments(ns, selector), rv()));
      if (method === 'POST' && ns !== undefined) {
        return send(res, 201, cluster.createDeployment(ns, (await readBody(req)) as KObject));
      }
    }
    g = at(/^\/apis\/apps\/v1\/namespaces\/([^/]+)\/deployments\/([^/]+)$/);
    if (g) {
      const ns = g[0] ?? '';
      const name = g[1] ?? '';
      if (method === 'GET') return send(res, 200, cluster.getDeployment(ns, name));
      if (method === 'PUT')
        return send(res, 200, cluster.updateDeployment(ns, name, (await readBody(req)) as KObject));
      if (method === 'DELETE') {
        const d = cluster.deleteDeployment(ns, name);
        return send(res, 200, {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Success',
          details: { name, group: 'apps', kind: 'deployments', uid: d.metadata.uid },
        });
      }
      if (method === 'PATCH') {
        const body = await readBody(req);
        const patched = applyPatch(req, cluster.getDeployment(ns, name) as Json, body, true);
        return send(res, 200, cluster.updateDeployment(ns, name, patched as KObject));
      }
    }
    g = at(/^\/apis\/apps\/v1\/(?:namespaces\/([^/]+)\/)?replicasets$/);
    if (g && method === 'GET') {
      const ns = g[0];
      return send(res, 200, list('ReplicaSetList', 'apps/v1', cluster.listReplicaSets(ns, selector), rv()));
    }
    g = at(/^\/apis\/apps\/v1\/namespaces\/([^/]+)\/replicasets\/([^/]+)$/);
    if (g && method === 'GET') {
      return send(res, 200, cluster.getReplicaSet(g[0] ?? '', g[1] ?? ''));
    }
    g = at(/^\/api\/v1\/(?:namespaces\/([^/]+)\/)?services$/);
    if (g) {
      const ns = g[0];
      if (method === 'GET')
        return send(res, 200, list('ServiceList', 'v1', cluster.listServices(ns, selector), rv()));
      if (method === 'POST' && ns !== undefined)
        return send(res, 201, cluster.createService(ns, (await readBody(req)) as KObject));
    }
    g = at(/^\/api\/v1\/namespaces\/([^/]+)\/services\/([^/]+)$/);
    if (g) {
      const ns = g[0] ?? '';
      const name = g[1] ?? '';
      if (method === 'GET') return send(res, 200, cluster.getService(ns, name));
      if (method === 'PUT')
        return send(res, 200, cluster.updateService(ns, name, (await readBody(req)) as KObject));
      if (method === 'DELETE') return send(res, 200, cluster.deleteService(ns, name));
      if (method === 'PATCH') {
        const body = await readBody(req);
        const patched = applyPatch(req, cluster.getService(ns, name) as Json, body, true);
        return send(res, 200, cluster.updateService(ns, name, patched as KObject));
      }
    }
    g = at(/^\/apis\/argoproj\.io\/v1alpha1\/(?:namespaces\/([^/]+)\/)?rollouts$/);
    if (g) {
      const ns = g[0];
      if (method === 'GET')
        return send(
          res,
          200,
          list('RolloutList', 'argoproj.io/v1alpha1', cluster.listRollouts(ns, selector), rv()),
        );
      if (method === 'POST' && ns !== undefined)
        return send(res, 201, cluster.createRollout(ns, (await readBody(req)) as KObject));
    }
    g = at(/^\/apis\/argoproj\.io\/v1alpha1\/namespaces\/([^/]+)\/rollouts\/([^/]+)(\/status)?$/);
    if (g) {
      const ns = g[0] ?? '';
      const name = g[1] ?? '';
      const subresource = g[2] ? 'status' : 'main';
      if (method === 'GET') return send(res, 200, cluster.getRollout(ns, name));
      if (method === 'PUT')
        return send(res, 200, cluster.updateRollout(ns, name, (await readBody(req)) as KObject, subresource));
      if (method === 'DELETE' && subresource === 'main')
        return send(res, 200, cluster.deleteRollout(ns, name));
      if (method === 'PATCH') {
        const body = await readBody(req);
        const patched = applyPatch(req, cluster.getRollout(ns, name) as Json, body, false);
        return send(res, 200, cluster.updateRollout(ns, name, patched as KObject, subresource));
      }
    }
    throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  };

  const requests: string[] = [];
  const listeners = new Set<(request: SimulatorRequest) => void>();
  const server = createServer((req, res) => {
    const receivedAt = performance.now();
    if (options.recordRequests !== false) requests.push(`${req.method ?? 'GET'} ${req.url ?? '/'}`);
    for (const listener of listeners)
      listener({ method: req.method ?? 'GET', url: req.url ?? '/', receivedAt });
    route(req, res)
      .then(() => {
        if (req.method !== 'GET') options.onChange?.();
      })
      .catch((err: unknown) => {
        if (res.headersSent) return;
        if (err instanceof ApiError)
          send(res, err.code, statusBody(err.code, err.reason, err.message, err.details));
        else
          send(
            res,
            500,
            statusBody(500, 'InternalError', `Internal error occurred: ${(err as Error).message}`),
          );
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeconfigYaml = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: guardian-sim',
    '  cluster:',
    `    server: ${url}`,
    '    insecure-skip-tls-verify: true',
    'users:',
    '- name: guardian-sim',
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: guardian-sim',
    '  context:',
    '    cluster: guardian-sim',
    '    user: guardian-sim',
    '    namespace: default',
    'current-context: guardian-sim',
    '',
  ].join('\n');

  return {
    url,
    kubeconfigYaml,
    cluster,
    writeKubeconfig(path: string) {
      writeFileSync(path, kubeconfigYaml, { mode: 0o600 });
    },
    kubeConfig() {
      const kc = new KubeConfig();
      kc.loadFromString(kubeconfigYaml);
      return kc;
    },
    injectFaults(fault: FaultInjection) {
      if (!Number.isInteger(fault.count) || fault.count < 1) {
        throw new RangeError(`injectFaults: count must be a positive integer, got ${fault.count}`);
      }
      faults.push({
        remaining: fault.count,
        status: fault.status,
        ...(fault.methods ? { methods: fault.methods.map((x) => x.toUpperCase()) } : {}),
      });
    },
    servedImage: (namespace, name) => cluster.servedImage(namespace, name),
    servedImageOfService: (namespace, service) => cluster.servedImageOfService(namespace, service),
    requests: () => [...requests],
    onRequest(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    exportState: () => cluster.exportState(),
    importState: (snapshot) => cluster.importState(snapshot),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
