/**
 * The simulated cluster's state and its deployment controller. No timers: each read first
 * replays the controller over simulated time up to the clock's now (pod readiness, rolling
 * update steps, the progress deadline), so a test advances the clock and reads.
 *
 * Behaviour follows kube-controller-manager's deployment controller (pkg/controller/deployment):
 * ReplicaSet per pod template, revision annotations (an undo moves the reused ReplicaSet to a
 * new revision), maxSurge/maxUnavailable rolling updates, Available/Progressing conditions,
 * progressDeadlineSeconds, paused Deployments and revisionHistoryLimit cleanup.
 */
import { createHash, randomUUID } from 'node:crypto';
import { splitImageReference } from '../../../lambdas/core/image.ts';
import type { Clock } from '../../../lambdas/core/ports.ts';
import { stableJson } from '../../../lambdas/core/text.ts';
import { imageBehaviour } from '../image-behaviour.ts';
import { jsonEqual } from './patch.ts';
import {
  ROLLOUT_ANNOTATIONS,
  ROLLOUT_HASH_LABEL,
  type RolloutWorld,
  reconcileRollout,
  type SimReplicaSet,
} from './rollout-controller.ts';
import { rolloutSeedObjects, type SeedRollout } from './rollout-seed.ts';

/** A Kubernetes object as JSON. */
// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are open-ended JSON
export type KObject = Record<string, any>;

/** A simulated pod (kept internal: only its readiness matters to the controller). */
export interface SimPod {
  readonly name: string;
  readonly createdAt: number;
  /** When it becomes Ready (ms); null = never. */
  readonly readyAt: number | null;
}

/** A JSON snapshot of the whole simulated cluster (persisted between CLI commands). */
export interface ClusterSimSnapshot {
  readonly version: 1;
  readonly simTime: number;
  readonly resourceVersion: number;
  readonly sequence: number;
  readonly namespaces: Record<string, KObject>;
  readonly deployments: Record<string, KObject>;
  readonly replicaSets: Record<string, { object: KObject; pods: SimPod[] }>;
  /** Services (issue 11; absent from older snapshots). */
  readonly services?: Record<string, KObject>;
  /** Argo Rollouts (issue 11; absent from older snapshots). */
  readonly rollouts?: Record<string, KObject>;
}

/** An API error the server turns into a Status object. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: KObject,
  ) {
    super(message);
  }
}

/** Annotation keys used by the deployment controller. */
export const ANNOTATIONS = {
  revision: 'deployment.kubernetes.io/revision',
  revisionHistory: 'deployment.kubernetes.io/revision-history',
  desiredReplicas: 'deployment.kubernetes.io/desired-replicas',
  maxReplicas: 'deployment.kubernetes.io/max-replicas',
  changeCause: 'kubernetes.io/change-cause',
} as const;

const HASH_LABEL = 'pod-template-hash';
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** RFC 3339 with second precision, as the API server writes timestamps. */
export function k8sTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

/** The controller's hash of a pod template (stable, in the API server's "safe" alphabet). */
function templateHash(template: KObject): string {
  const digest = createHash('sha256').update(stableJson(template)).digest();
  let out = '';
  for (let i = 0; i < 10; i++) out += SAFE_ALPHABET[(digest[i] ?? 0) % SAFE_ALPHABET.length];
  return out;
}

function withoutHashLabel(template: KObject): KObject {
  const t = clone(template);
  if (t.metadata?.labels) {
    delete t.metadata.labels[HASH_LABEL];
    if (Object.keys(t.metadata.labels).length === 0) delete t.metadata.labels;
  }
  return t;
}

function revisionOf(o: KObject): number {
  const n = Number.parseInt(o.metadata?.annotations?.[ANNOTATIONS.revision] ?? '', 10);
  return Number.isFinite(n) ? n : 0;
}

/** Resolves an int-or-percent (maxSurge rounds up, maxUnavailable down, like the controller). */
function intOrPercent(value: unknown, total: number, roundUp: boolean): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^\d+%$/.test(value)) {
    const raw = (Number.parseInt(value, 10) * total) / 100;
    return roundUp ? Math.ceil(raw) : Math.floor(raw);
  }
  if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
  return roundUp ? Math.ceil(total / 4) : Math.floor(total / 4);
}

/** Applies the API server's defaults to a Deployment (so stored templates compare exactly). */
export function defaultDeployment(d: KObject): KObject {
  d.spec ??= {};
  const spec = d.spec;
  spec.replicas ??= 1;
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  spec.strategy ??= { type: 'RollingUpdate' };
  spec.strategy.type ??= 'RollingUpdate';
  if (spec.strategy.type === 'RollingUpdate') {
    spec.strategy.rollingUpdate ??= {};
    spec.strategy.rollingUpdate.maxSurge ??= '25%';
    spec.strategy.rollingUpdate.maxUnavailable ??= '25%';
  }
  spec.template = defaultPodTemplate(spec.template ?? {});
  return d;
}

/** Applies the API server's pod template defaults (as on a Deployment's or a ReplicaSet's template). */
export function defaultPodTemplate(template: KObject): KObject {
  template.metadata ??= {};
  template.spec ??= {};
  const podSpec = template.spec;
  podSpec.restartPolicy ??= 'Always';
  podSpec.terminationGracePeriodSeconds ??= 30;
  podSpec.dnsPolicy ??= 'ClusterFirst';
  podSpec.securityContext ??= {};
  podSpec.schedulerName ??= 'default-scheduler';
  for (const c of (podSpec.containers ?? []) as KObject[]) {
    // Like the API server: no tag and no digest means `:latest`, which is always pulled.
    const { tag, digest } = splitImageReference(String(c.image ?? ''));
    c.imagePullPolicy ??=
      (tag ?? (digest === undefined ? 'latest' : '')) === 'latest' ? 'Always' : 'IfNotPresent';
    c.resources ??= {};
    c.terminationMessagePath ??= '/dev/termination-log';
    c.terminationMessagePolicy ??= 'File';
    for (const p of (c.ports ?? []) as KObject[]) p.protocol ??= 'TCP';
  }
  return template;
}

/** Validates a Deployment like the API server does; throws a 422 ApiError listing each problem. */
function validateDeployment(d: KObject): void {
  const causes: { field: string; reason: string; message: string }[] = [];
  const name = d.metadata?.name;
  const add = (field: string, reason: string, message: string) => causes.push({ field, reason, message });
  if (typeof name !== 'string' || !DNS_SUBDOMAIN.test(name))
    add('metadata.name', 'FieldValueInvalid', 'Invalid value: a lowercase RFC 1123 subdomain is required');
  const spec = d.spec ?? {};
  if (!Number.isInteger(spec.replicas) || spec.replicas < 0)
    add('spec.replicas', 'FieldValueInvalid', 'Invalid value: must be greater than or equal to 0');
  const matchLabels = spec.selector?.matchLabels;
  if (!matchLabels || Object.keys(matchLabels).length === 0) {
    add('spec.selector', 'FieldValueRequired', 'Required value');
  } else {
    const labels = spec.template?.metadata?.labels ?? {};
    if (!Object.entries(matchLabels).every(([k, v]) => labels[k] === v)) {
      add(
        'spec.template.metadata.labels',
        'FieldValueInvalid',
        'Invalid value: `selector` does not match template `labels`',
      );
    }
  }
  const containers = spec.template?.spec?.containers;
  if (!Array.isArray(containers) || containers.length === 0) {
    add('spec.template.spec.containers', 'FieldValueRequired', 'Required value');
  } else {
    containers.forEach((c: KObject, i: number) => {
      if (!c.name) add(`spec.template.spec.containers[${i}].name`, 'FieldValueRequired', 'Required value');
      if (!c.image) add(`spec.template.spec.containers[${i}].image`, 'FieldValueRequired', 'Required value');
    });
  }
  if (causes.length > 0) {
    const summary = causes.map((c) => `${c.field}: ${c.message}`).join(', ');
    throw new ApiError(422, 'Invalid', `Deployment.apps "${name}" is invalid: ${summary}`, {
      name,
      group: 'apps',
      kind: 'Deployment',
      causes: causes.map((c) => ({ reason: c.reason, message: c.message, field: c.field })),
    });
  }
}

function notFound(resource: string, group: string, name: string): ApiError {
  const qualified = group ? `${resource}.${group}` : resource;
  return new ApiError(404, 'NotFound', `${qualified} "${name}" not found`, { name, group, kind: resource });
}

function checkBodyNamespace(body: KObject, namespace: string): void {
  if (body.metadata?.namespace && body.metadata.namespace !== namespace) {
    throw new ApiError(
      400,
      'BadRequest',
      'the namespace of the provided object does not match the namespace sent on the request',
    );
  }
}

function checkBodyName(body: KObject, name: string): void {
  if (body.metadata?.name !== undefined && body.metadata.name !== name) {
    throw new ApiError(
      400,
      'BadRequest',
      `the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`,
    );
  }
}

function checkResourceVersion(
  body: KObject,
  current: KObject,
  resource: string,
  group: string,
  name: string,
): void {
  const sent = body.metadata?.resourceVersion;
  if (sent !== undefined && sent !== '' && sent !== current.metadata.resourceVersion) {
    const qualified = group ? `${resource}.${group}` : resource;
    throw new ApiError(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${qualified} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      { name, group, kind: resource },
    );
  }
}

/** The metadata an update cannot change. */
function identity(current: KObject): KObject {
  const m = current.metadata;
  return {
    name: m.name,
    namespace: m.namespace,
    uid: m.uid,
    creationTimestamp: m.creationTimestamp,
    resourceVersion: m.resourceVersion,
  };
}

/** The API server's defaults of a ClusterIP Service. */
function defaultService(svc: KObject): KObject {
  svc.metadata ??= {};
  svc.spec ??= {};
  const spec = svc.spec;
  spec.type ??= 'ClusterIP';
  spec.sessionAffinity ??= 'None';
  spec.ipFamilies ??= ['IPv4'];
  spec.ipFamilyPolicy ??= 'SingleStack';
  spec.internalTrafficPolicy ??= 'Cluster';
  for (const port of (spec.ports ?? []) as KObject[]) {
    port.protocol ??= 'TCP';
    port.targetPort ??= port.port;
  }
  return svc;
}

/** Validates a Service like the API server does (name, ports); throws a 422 ApiError. */
function validateService(svc: KObject): void {
  const name = svc.metadata?.name;
  const problems: string[] = [];
  if (typeof name !== 'string' || !/^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 63)
    problems.push('metadata.name: Invalid value: a lowercase RFC 1035 label is required');
  if (svc.spec.type !== 'ExternalName' && (!Array.isArray(svc.spec.ports) || svc.spec.ports.length === 0))
    problems.push('spec.ports: Required value');
  for (const [i, port] of ((svc.spec.ports ?? []) as KObject[]).entries()) {
    if (!Number.isInteger(port.port) || port.port < 1 || port.port > 65535)
      problems.push(`spec.ports[${i}].port: Invalid value: must be between 1 and 65535, inclusive`);
  }
  if (problems.length > 0) {
    throw new ApiError(422, 'Invalid', `Service "${name}" is invalid: ${problems.join(', ')}`, {
      name,
      kind: 'Service',
    });
  }
}

/** The Rollout CRD's schema defaults (ports' protocol in the pod template). */
function defaultRollout(ro: KObject): KObject {
  ro.metadata ??= {};
  for (const c of (ro.spec?.template?.spec?.containers ?? []) as KObject[]) {
    for (const p of (c.ports ?? []) as KObject[]) p.protocol ??= 'TCP';
  }
  return ro;
}

/** What the Rollout CRD's OpenAPI schema refuses (the controller validates the rest itself). */
function validateRollout(ro: KObject): void {
  const name = ro.metadata?.name;
  const problems: string[] = [];
  if (typeof name !== 'string' || !DNS_SUBDOMAIN.test(name))
    problems.push('metadata.name: Invalid value: a lowercase RFC 1123 subdomain is required');
  if (ro.spec === null || typeof ro.spec !== 'object') problems.push('spec: Required value');
  else {
    if (ro.spec.replicas !== undefined && !Number.isInteger(ro.spec.replicas))
      problems.push(
        `spec.replicas: Invalid value: "${typeof ro.spec.replicas}": spec.replicas in body must be of type integer`,
      );
    const bg = ro.spec.strategy?.blueGreen;
    if (bg && typeof bg === 'object' && (typeof bg.activeService !== 'string' || bg.activeService === ''))
      problems.push('spec.strategy.blueGreen.activeService: Required value');
  }
  if (problems.length > 0) {
    throw new ApiError(422, 'Invalid', `Rollout.argoproj.io "${name}" is invalid: ${problems.join(', ')}`, {
      name,
      group: 'argoproj.io',
      kind: 'Rollout',
    });
  }
}

function setCondition(
  status: KObject,
  type: string,
  value: string,
  reason: string,
  message: string,
  now: number,
): void {
  status.conditions ??= [];
  const conditions: KObject[] = status.conditions;
  const existing = conditions.find((c) => c.type === type);
  const ts = k8sTime(now);
  if (existing) {
    if (existing.status !== value) existing.lastTransitionTime = ts;
    if (existing.status !== value || existing.reason !== reason || existing.message !== message) {
      existing.lastUpdateTime = ts;
    }
    Object.assign(existing, { status: value, reason, message });
  } else {
    conditions.push({ type, status: value, lastUpdateTime: ts, lastTransitionTime: ts, reason, message });
  }
  // The controller keeps Available before Progressing.
  conditions.sort((a, b) => (a.type === 'Available' ? -1 : b.type === 'Available' ? 1 : 0));
}

/** Label selector matching (equality, inequality, existence, in/notin). */
export function matchesSelector(labels: Record<string, string>, selector: string | undefined): boolean {
  if (!selector) return true;
  const terms = selector.match(/([^,(]+(\([^)]*\))?)/g) ?? [];
  return terms.every((raw) => {
    const term = raw.trim();
    let m = /^(\S+?)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (m) {
      const values = (m[3] ?? '').split(',').map((v) => v.trim());
      const has = m[1] !== undefined && m[1] in labels && values.includes(labels[m[1]] ?? '');
      return m[2] === 'in' ? has : !has;
    }
    m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
    if (m) {
      const v = m[1] === undefined ? undefined : labels[m[1]];
      return m[2] === '!=' ? v !== m[3] : v === m[3];
    }
    if (term.startsWith('!')) return !(term.slice(1) in labels);
    return term in labels;
  });
}

/** One seeded workload: a namespace and a Deployment already rolled out at revision 1. */
export interface SeedWorkload {
  readonly namespace: string;
  readonly name: string;
  readonly container: string;
  readonly image: string;
  /** @default 3 */
  readonly replicas?: number;
}

/** The simulated cluster: objects plus the deployment controller, replayed lazily over simulated time. */
export class SimCluster {
  private simTime: number;
  private rv = 1;
  private sequence = 0;
  private namespaces = new Map<string, KObject>();
  private deployments = new Map<string, KObject>();
  private replicaSets = new Map<string, { object: KObject; pods: SimPod[] }>();
  private services = new Map<string, KObject>();
  private rollouts = new Map<string, KObject>();

  /** Starts empty apart from the `default` namespace. */
  constructor(private readonly clock: Clock) {
    this.simTime = clock.now().getTime();
    this.createNamespace({ metadata: { name: 'default' } });
  }

  // ---------------------------------------------------------------- persistence

  /** A JSON snapshot of everything (after bringing the controller up to now). */
  exportState(): ClusterSimSnapshot {
    this.advance();
    return clone({
      version: 1,
      simTime: this.simTime,
      resourceVersion: this.rv,
      sequence: this.sequence,
      namespaces: Object.fromEntries(this.namespaces),
      deployments: Object.fromEntries(this.deployments),
      replicaSets: Object.fromEntries(this.replicaSets),
      services: Object.fromEntries(this.services),
      rollouts: Object.fromEntries(this.rollouts),
    });
  }

  /** Replaces everything with a snapshot from exportState. */
  importState(snapshot: ClusterSimSnapshot): void {
    if (snapshot?.version !== 1)
      throw new Error('cluster simulator snapshot: unsupported or missing version (expected 1)');
    this.simTime = snapshot.simTime;
    this.rv = snapshot.resourceVersion;
    this.sequence = snapshot.sequence;
    this.namespaces = new Map(Object.entries(clone(snapshot.namespaces)));
    this.deployments = new Map(Object.entries(clone(snapshot.deployments)));
    this.replicaSets = new Map(Object.entries(clone(snapshot.replicaSets)));
    this.services = new Map(Object.entries(clone(snapshot.services ?? {})));
    this.rollouts = new Map(Object.entries(clone(snapshot.rollouts ?? {})));
  }

  /** The latest resourceVersion handed out (list metadata). */
  resourceVersion(): string {
    return String(this.rv);
  }

  // ---------------------------------------------------------------- helpers

  private nextRv(): string {
    this.rv += 1;
    return String(this.rv);
  }

  private nextId(): string {
    this.sequence += 1;
    return this.sequence.toString(36).padStart(5, '0').slice(-5);
  }

  private newMetadata(meta: KObject, namespace?: string): KObject {
    return {
      ...meta,
      ...(namespace === undefined ? {} : { namespace }),
      uid: randomUUID(),
      resourceVersion: this.nextRv(),
      creationTimestamp: k8sTime(this.simTime),
    };
  }

  private requireNamespace(namespace: string): void {
    if (!this.namespaces.has(namespace)) throw notFound('namespaces', '', namespace);
  }

  private ownedReplicaSets(d: KObject): { object: KObject; pods: SimPod[] }[] {
    const uid = d.metadata.uid;
    return [...this.replicaSets.values()].filter(
      (rs) =>
        rs.object.metadata.namespace === d.metadata.namespace &&
        (rs.object.metadata.ownerReferences ?? []).some((o: KObject) => o.controller && o.uid === uid),
    );
  }

  // ---------------------------------------------------------------- namespaces

  /** Creates a namespace (409 if it exists). */
  createNamespace(body: KObject): KObject {
    const name = body.metadata?.name;
    if (typeof name !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)) {
      throw new ApiError(422, 'Invalid', `Namespace "${name}" is invalid: metadata.name: Invalid value`);
    }
    if (this.namespaces.has(name)) {
      throw new ApiError(409, 'AlreadyExists', `namespaces "${name}" already exists`, {
        name,
        kind: 'namespaces',
      });
    }
    const ns = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: this.newMetadata({
        ...body.metadata,
        labels: { ...body.metadata.labels, 'kubernetes.io/metadata.name': name },
      }),
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    };
    this.namespaces.set(name, ns);
    return clone(ns);
  }

  /** Reads a namespace. */
  getNamespace(name: string): KObject {
    const ns = this.namespaces.get(name);
    if (!ns) throw notFound('namespaces', '', name);
    return clone(ns);
  }

  /** All namespaces. */
  listNamespaces(): KObject[] {
    return [...this.namespaces.values()].map(clone);
  }

  // ---------------------------------------------------------------- deployments

  /** Reads a Deployment as of now. */
  getDeployment(namespace: string, name: string): KObject {
    this.advance();
    const d = this.deployments.get(key(namespace, name));
    if (!d) throw notFound('deployments', 'apps', name);
    return clone(d);
  }

  /** Deployments of a namespace (all namespaces when undefined) matching a label selector. */
  listDeployments(namespace: string | undefined, labelSelector?: string): KObject[] {
    this.advance();
    return [...this.deployments.values()]
      .filter((d) => namespace === undefined || d.metadata.namespace === namespace)
      .filter((d) => matchesSelector(d.metadata.labels ?? {}, labelSelector))
      .map(clone);
  }

  /** Creates a Deployment; the controller rolls it out at once (pods still take their ready time). */
  createDeployment(namespace: string, body: KObject, readyNow = false): KObject {
    this.advance();
    this.requireNamespace(namespace);
    if (body.metadata?.namespace && body.metadata.namespace !== namespace) {
      throw new ApiError(
        400,
        'BadRequest',
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    const d = defaultDeployment(clone(body));
    d.apiVersion = 'apps/v1';
    d.kind = 'Deployment';
    validateDeployment(d);
    const k = key(namespace, d.metadata.name);
    if (this.deployments.has(k)) {
      throw new ApiError(409, 'AlreadyExists', `deployments.apps "${d.metadata.name}" already exists`, {
        name: d.metadata.name,
        group: 'apps',
        kind: 'deployments',
      });
    }
    const { resourceVersion: _rv, uid: _uid, ...meta } = d.metadata;
    d.metadata = { ...this.newMetadata(meta, namespace), generation: 1 };
    d.status = {};
    this.deployments.set(k, d);
    this.syncAll(this.simTime, readyNow);
    return this.getDeployment(namespace, d.metadata.name);
  }

  /**
   * Replaces a Deployment's spec and metadata (PUT, or the result of a PATCH). A stale
   * resourceVersion is a 409; a spec change bumps metadata.generation; status is ignored.
   */
  updateDeployment(namespace: string, name: string, body: KObject): KObject {
    this.advance();
    const k = key(namespace, name);
    const current = this.deployments.get(k);
    if (!current) throw notFound('deployments', 'apps', name);
    if (body.metadata?.name !== undefined && body.metadata.name !== name) {
      throw new ApiError(
        400,
        'BadRequest',
        `the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`,
      );
    }
    const sentRv = body.metadata?.resourceVersion;
    if (sentRv !== undefined && sentRv !== '' && sentRv !== current.metadata.resourceVersion) {
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on deployments.apps "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        { name, group: 'apps', kind: 'deployments' },
      );
    }
    const next = defaultDeployment(clone(body));
    next.apiVersion = 'apps/v1';
    next.kind = 'Deployment';
    next.metadata = {
      ...next.metadata,
      name,
      namespace,
      uid: current.metadata.uid,
      creationTimestamp: current.metadata.creationTimestamp,
      generation: current.metadata.generation,
      resourceVersion: current.metadata.resourceVersion,
    };
    validateDeployment(next);
    if (!jsonEqual(next.spec.selector, current.spec.selector)) {
      throw new ApiError(
        422,
        'Invalid',
        `Deployment.apps "${name}" is invalid: spec.selector: Invalid value: field is immutable`,
      );
    }
    next.status = current.status;
    if (!jsonEqual(next.spec, current.spec)) next.metadata.generation = current.metadata.generation + 1;
    if (!jsonEqual(next, current)) next.metadata.resourceVersion = this.nextRv();
    this.deployments.set(k, next);
    this.syncAll(this.simTime, false);
    return this.getDeployment(namespace, name);
  }

  /** Deletes a Deployment and (cascading, as the garbage collector would) its ReplicaSets. */
  deleteDeployment(namespace: string, name: string): KObject {
    this.advance();
    const k = key(namespace, name);
    const d = this.deployments.get(k);
    if (!d) throw notFound('deployments', 'apps', name);
    for (const rs of this.ownedReplicaSets(d)) {
      this.replicaSets.delete(key(namespace, rs.object.metadata.name));
    }
    this.deployments.delete(k);
    return d;
  }

  // ---------------------------------------------------------------- services

  /** Creates a Service (core/v1; only its selector matters to the simulation). */
  createService(namespace: string, body: KObject): KObject {
    this.advance();
    this.requireNamespace(namespace);
    checkBodyNamespace(body, namespace);
    const svc = defaultService(clone(body));
    const name = svc.metadata?.name;
    validateService(svc);
    const k = key(namespace, name);
    if (this.services.has(k)) {
      throw new ApiError(409, 'AlreadyExists', `services "${name}" already exists`, {
        name,
        kind: 'services',
      });
    }
    const { resourceVersion: _rv, uid: _uid, ...meta } = svc.metadata;
    svc.apiVersion = 'v1';
    svc.kind = 'Service';
    svc.metadata = this.newMetadata(meta, namespace);
    this.sequence += 1;
    const ip = `10.96.${Math.floor(this.sequence / 250) % 250}.${(this.sequence % 250) + 2}`;
    svc.spec.clusterIP ??= ip;
    svc.spec.clusterIPs ??= [svc.spec.clusterIP];
    svc.status = { loadBalancer: {} };
    this.services.set(k, svc);
    this.syncAll(this.simTime, false);
    return clone(svc);
  }

  /** Reads a Service. */
  getService(namespace: string, name: string): KObject {
    this.advance();
    const svc = this.services.get(key(namespace, name));
    if (!svc) throw notFound('services', '', name);
    return clone(svc);
  }

  /** Services of a namespace (all when undefined) matching a label selector. */
  listServices(namespace: string | undefined, labelSelector?: string): KObject[] {
    this.advance();
    return [...this.services.values()]
      .filter((s) => namespace === undefined || s.metadata.namespace === namespace)
      .filter((s) => matchesSelector(s.metadata.labels ?? {}, labelSelector))
      .map(clone);
  }

  /** Replaces a Service (PUT, or the result of a PATCH); a stale resourceVersion is a 409. */
  updateService(namespace: string, name: string, body: KObject): KObject {
    this.advance();
    const k = key(namespace, name);
    const current = this.services.get(k);
    if (!current) throw notFound('services', '', name);
    checkBodyName(body, name);
    checkResourceVersion(body, current, 'services', '', name);
    const next = defaultService(clone(body));
    next.apiVersion = 'v1';
    next.kind = 'Service';
    next.metadata = { ...next.metadata, ...identity(current) };
    // clusterIP is immutable and kept when left out.
    next.spec.clusterIP = current.spec.clusterIP;
    next.spec.clusterIPs = current.spec.clusterIPs;
    validateService(next);
    next.status = current.status;
    if (!jsonEqual(next, current)) next.metadata.resourceVersion = this.nextRv();
    this.services.set(k, next);
    this.syncAll(this.simTime, false);
    return clone(next);
  }

  /** Deletes a Service. */
  deleteService(namespace: string, name: string): KObject {
    this.advance();
    const k = key(namespace, name);
    const svc = this.services.get(k);
    if (!svc) throw notFound('services', '', name);
    this.services.delete(k);
    return clone(svc);
  }

  /**
   * The image (first container) the Service serves now: that of the Ready pods its selector
   * selects, the one most of them run when they differ (the newest pod breaks a tie).
   * Undefined when no Ready pod is selected (or the Service is missing or selects nothing).
   */
  servedImageOfService(namespace: string, name: string): string | undefined {
    this.advance();
    const selector: Record<string, string> = this.services.get(key(namespace, name))?.spec?.selector ?? {};
    if (Object.keys(selector).length === 0) return undefined;
    const votes = new Map<string, { count: number; newest: number }>();
    for (const rs of this.replicaSets.values()) {
      if (rs.object.metadata.namespace !== namespace) continue;
      const labels: Record<string, string> = rs.object.spec.template.metadata?.labels ?? {};
      if (!Object.entries(selector).every(([k, v]) => labels[k] === v)) continue;
      const image = rs.object.spec.template.spec.containers?.[0]?.image;
      for (const p of rs.pods) {
        if (p.readyAt === null || p.readyAt > this.simTime || typeof image !== 'string') continue;
        const v = votes.get(image) ?? { count: 0, newest: 0 };
        votes.set(image, { count: v.count + 1, newest: Math.max(v.newest, p.createdAt) });
      }
    }
    return [...votes.entries()].sort((a, b) => b[1].count - a[1].count || b[1].newest - a[1].newest)[0]?.[0];
  }

  // ---------------------------------------------------------------- Argo Rollouts

  /** Reads a Rollout as of now. */
  getRollout(namespace: string, name: string): KObject {
    this.advance();
    const ro = this.rollouts.get(key(namespace, name));
    if (!ro) throw notFound('rollouts', 'argoproj.io', name);
    return clone(ro);
  }

  /** Rollouts of a namespace (all when undefined) matching a label selector. */
  listRollouts(namespace: string | undefined, labelSelector?: string): KObject[] {
    this.advance();
    return [...this.rollouts.values()]
      .filter((ro) => namespace === undefined || ro.metadata.namespace === namespace)
      .filter((ro) => matchesSelector(ro.metadata.labels ?? {}, labelSelector))
      .map(clone);
  }

  /**
   * Creates a Rollout as the API server does with the Argo Rollouts CRD (its schema's required
   * fields and defaults; the status left out). Returns it as written; the controller then acts.
   */
  createRollout(namespace: string, body: KObject, readyNow = false): KObject {
    this.advance();
    this.requireNamespace(namespace);
    checkBodyNamespace(body, namespace);
    const ro = defaultRollout(clone(body));
    validateRollout(ro);
    const name: string = ro.metadata.name;
    const k = key(namespace, name);
    if (this.rollouts.has(k)) {
      throw new ApiError(409, 'AlreadyExists', `rollouts.argoproj.io "${name}" already exists`, {
        name,
        group: 'argoproj.io',
        kind: 'rollouts',
      });
    }
    const { resourceVersion: _rv, uid: _uid, ...meta } = ro.metadata;
    ro.apiVersion = 'argoproj.io/v1alpha1';
    ro.kind = 'Rollout';
    ro.metadata = { ...this.newMetadata(meta, namespace), generation: 1 };
    delete ro.status;
    this.rollouts.set(k, ro);
    const written = clone(ro);
    // Only the new Rollout's pods are Ready at once when seeding, not those of others mid-update.
    this.syncRollout(ro, this.simTime, readyNow);
    this.syncAll(this.simTime, false);
    return written;
  }

  /**
   * Replaces a Rollout (PUT, or the result of a PATCH) as a CRD with the status subresource does:
   * the main resource ignores status changes and bumps metadata.generation on any other change
   * outside metadata; `/status` takes the status only. A stale resourceVersion is a 409. Returns
   * the object as written; the controller then acts on it.
   */
  updateRollout(
    namespace: string,
    name: string,
    body: KObject,
    subresource: 'main' | 'status' = 'main',
  ): KObject {
    this.advance();
    const k = key(namespace, name);
    const current = this.rollouts.get(k);
    if (!current) throw notFound('rollouts', 'argoproj.io', name);
    checkBodyName(body, name);
    checkResourceVersion(body, current, 'rollouts', 'argoproj.io', name);
    let next: KObject;
    if (subresource === 'status') {
      next = clone(current);
      next.status = clone(body.status ?? {});
    } else {
      next = defaultRollout(clone(body));
      next.apiVersion = 'argoproj.io/v1alpha1';
      next.kind = 'Rollout';
      next.metadata = { ...next.metadata, ...identity(current), generation: current.metadata.generation };
      validateRollout(next);
      next.status = clone(current.status);
      if (next.status === undefined) delete next.status;
      const { metadata: _m1, status: _s1, ...restNext } = next;
      const { metadata: _m2, status: _s2, ...restCurrent } = current;
      if (!jsonEqual(restNext, restCurrent)) next.metadata.generation = current.metadata.generation + 1;
    }
    if (!jsonEqual(next, current)) next.metadata.resourceVersion = this.nextRv();
    this.rollouts.set(k, next);
    const written = clone(next);
    this.syncAll(this.simTime, false);
    return written;
  }

  /**
   * Deletes a Rollout; the garbage collector deletes its ReplicaSets, and the controller's service
   * reconciler takes the hash out of the selectors of the Services it managed.
   */
  deleteRollout(namespace: string, name: string): KObject {
    this.advance();
    const k = key(namespace, name);
    const ro = this.rollouts.get(k);
    if (!ro) throw notFound('rollouts', 'argoproj.io', name);
    for (const rs of this.ownedReplicaSets(ro))
      this.replicaSets.delete(key(namespace, rs.object.metadata.name));
    this.rollouts.delete(k);
    for (const svc of this.services.values()) {
      if (
        svc.metadata.namespace !== namespace ||
        svc.metadata.annotations?.[ROLLOUT_ANNOTATIONS.managedBy] !== name
      )
        continue;
      delete svc.metadata.annotations[ROLLOUT_ANNOTATIONS.managedBy];
      if (svc.spec?.selector) delete svc.spec.selector[ROLLOUT_HASH_LABEL];
      svc.metadata.resourceVersion = this.nextRv();
    }
    return clone(ro);
  }

  /** What the Rollout controller sees of the cluster at `t`. */
  private rolloutWorld(t: number, readyNow: boolean): RolloutWorld {
    return {
      now: t,
      ownedReplicaSets: (ro) => this.ownedReplicaSets(ro),
      replicaSet: (namespace, name) => this.replicaSets.get(key(namespace, name)),
      createReplicaSet: (object) => {
        const template = defaultPodTemplate(clone(object.spec.template));
        const rs: SimReplicaSet = {
          object: {
            apiVersion: 'apps/v1',
            kind: 'ReplicaSet',
            ...object,
            metadata: {
              ...object.metadata,
              uid: randomUUID(),
              resourceVersion: this.nextRv(),
              generation: 1,
              creationTimestamp: k8sTime(t),
            },
            spec: { ...object.spec, template },
          },
          pods: [],
        };
        this.replicaSets.set(key(object.metadata.namespace, object.metadata.name), rs);
        this.reconcilePods(rs, t, readyNow);
        return rs;
      },
      deleteReplicaSet: (rs) => {
        this.replicaSets.delete(key(rs.object.metadata.namespace, rs.object.metadata.name));
      },
      replicasChanged: (rs) => {
        rs.object.metadata.generation += 1;
        this.reconcilePods(rs, t, readyNow);
      },
      replicaSetCounts: (rs) => {
        const ready = this.readyCount(rs, t);
        return { replicas: rs.pods.length, readyReplicas: ready, availableReplicas: ready };
      },
      service: (namespace, name) => this.services.get(key(namespace, name)),
      defaultPodTemplate: (template) => defaultPodTemplate(clone(template)),
    };
  }

  /** Runs the Rollout controller on `ro` until a pass changes nothing (its informers' re-queues). */
  private syncRollout(ro: KObject, t: number, readyNow: boolean): void {
    const world = this.rolloutWorld(t, readyNow);
    const namespace: string = ro.metadata.namespace;
    const serviceNames = (): string[] => {
      const strategy = ro.spec?.strategy ?? {};
      return [
        strategy.blueGreen?.activeService,
        strategy.blueGreen?.previewService,
        strategy.canary?.stableService,
        strategy.canary?.canaryService,
      ].filter((n): n is string => typeof n === 'string' && n !== '');
    };
    for (let pass = 0; pass < 50; pass++) {
      const watched = (): Map<KObject, string> =>
        new Map<KObject, string>([
          [ro, JSON.stringify(ro)],
          ...this.ownedReplicaSets(ro).map((rs): [KObject, string] => [rs.object, JSON.stringify(rs.object)]),
          ...serviceNames()
            .map((n) => this.services.get(key(namespace, n)))
            .filter((svc): svc is KObject => svc !== undefined)
            .map((svc): [KObject, string] => [svc, JSON.stringify(svc)]),
        ]);
      const before = watched();
      const rsBefore = this.ownedReplicaSets(ro).length;
      reconcileRollout(world, ro);
      let changed = this.ownedReplicaSets(ro).length !== rsBefore;
      for (const [o, json] of watched()) {
        const was = before.get(o);
        if (was === json) continue;
        changed = true;
        if (was !== undefined) o.metadata.resourceVersion = this.nextRv();
      }
      if (!changed) return;
    }
    throw new Error(
      `the simulated Argo Rollouts controller did not settle Rollout ${namespace}/${ro.metadata.name} in 50 passes (a simulator bug)`,
    );
  }

  // ---------------------------------------------------------------- replica sets and pods

  private replicaSetView(rs: { object: KObject; pods: SimPod[] }): KObject {
    const view = clone(rs.object);
    view.status = this.replicaSetStatus(rs, this.simTime);
    return view;
  }

  /** Reads a ReplicaSet. */
  getReplicaSet(namespace: string, name: string): KObject {
    this.advance();
    const rs = this.replicaSets.get(key(namespace, name));
    if (!rs) throw notFound('replicasets', 'apps', name);
    return this.replicaSetView(rs);
  }

  /** ReplicaSets of a namespace (all when undefined) matching a label selector. */
  listReplicaSets(namespace: string | undefined, labelSelector?: string): KObject[] {
    this.advance();
    return [...this.replicaSets.values()]
      .filter((rs) => namespace === undefined || rs.object.metadata.namespace === namespace)
      .filter((rs) => matchesSelector(rs.object.metadata.labels ?? {}, labelSelector))
      .sort((a, b) => (a.object.metadata.name < b.object.metadata.name ? -1 : 1))
      .map((rs) => this.replicaSetView(rs));
  }

  /** Pods of a namespace matching a label selector. */
  listPods(namespace: string | undefined, labelSelector?: string): KObject[] {
    this.advance();
    const pods: KObject[] = [];
    for (const rs of this.replicaSets.values()) {
      const meta = rs.object.metadata;
      if (namespace !== undefined && meta.namespace !== namespace) continue;
      const labels = rs.object.spec.template.metadata?.labels ?? {};
      if (!matchesSelector(labels, labelSelector)) continue;
      for (const p of rs.pods) pods.push(this.podView(rs.object, p));
    }
    return pods;
  }

  private podView(rs: KObject, p: SimPod): KObject {
    const ready = p.readyAt !== null && p.readyAt <= this.simTime;
    const containers: KObject[] = rs.spec.template.spec.containers;
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: p.name,
        namespace: rs.metadata.namespace,
        uid: createHash('sha1')
          .update(p.name)
          .digest('hex')
          .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12}).*$/, '$1-$2-$3-$4-$5'),
        resourceVersion: rs.metadata.resourceVersion,
        creationTimestamp: k8sTime(p.createdAt),
        labels: clone(rs.spec.template.metadata?.labels ?? {}),
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'ReplicaSet',
            name: rs.metadata.name,
            uid: rs.metadata.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: { ...clone(rs.spec.template.spec), nodeName: 'sim-node-1' },
      status: {
        phase: 'Running',
        conditions: [
          { type: 'PodScheduled', status: 'True', lastTransitionTime: k8sTime(p.createdAt) },
          {
            type: 'Ready',
            status: ready ? 'True' : 'False',
            lastTransitionTime: k8sTime(ready ? (p.readyAt ?? p.createdAt) : p.createdAt),
          },
        ],
        startTime: k8sTime(p.createdAt),
        containerStatuses: containers.map((c) => ({
          name: c.name,
          image: c.image,
          imageID: '',
          ready,
          started: true,
          restartCount: 0,
          state: { running: { startedAt: k8sTime(p.createdAt) } },
        })),
      },
    };
  }

  /**
   * The first container image of the newest ReplicaSet (by revision) that has available pods:
   * what the workload's Service would route to. Undefined when nothing is available.
   */
  servedImage(namespace: string, name: string): string | undefined {
    this.advance();
    const d = this.deployments.get(key(namespace, name));
    if (!d) return undefined;
    const serving = this.ownedReplicaSets(d)
      .filter((rs) => this.readyCount(rs, this.simTime) > 0)
      .sort((a, b) => revisionOf(b.object) - revisionOf(a.object))[0];
    return serving?.object.spec.template.spec.containers?.[0]?.image;
  }

  // ---------------------------------------------------------------- the controller

  private readyCount(rs: { pods: SimPod[] }, t: number): number {
    return rs.pods.filter((p) => p.readyAt !== null && p.readyAt <= t).length;
  }

  private replicaSetStatus(rs: { object: KObject; pods: SimPod[] }, t: number): KObject {
    const ready = this.readyCount(rs, t);
    const status: KObject = {
      replicas: rs.pods.length,
      fullyLabeledReplicas: rs.pods.length,
      readyReplicas: ready,
      availableReplicas: ready,
      observedGeneration: rs.object.metadata.generation,
      // Kubernetes >= 1.35 (DeploymentReplicaSetTerminatingReplicas, on by default) always reports
      // it; simulated pods terminate at once, so it is 0.
      terminatingReplicas: 0,
    };
    // The API server omits zero counts (omitempty), except `replicas` and `terminatingReplicas`.
    for (const k of ['fullyLabeledReplicas', 'readyReplicas', 'availableReplicas'])
      if (status[k] === 0) delete status[k];
    return status;
  }

  /** Replays the controller from the last simulated instant up to the clock's now. */
  advance(): void {
    const now = Math.max(this.clock.now().getTime(), this.simTime);
    for (let guard = 0; guard < 10_000; guard++) {
      const next = this.nextEventAfter(this.simTime);
      if (next === undefined || next > now) break;
      this.simTime = next;
      this.syncAll(next, false);
    }
    this.simTime = now;
    this.syncAll(now, false);
  }

  /** The earliest future instant at which the controller would act: a pod turning Ready or a deadline. */
  private nextEventAfter(t: number): number | undefined {
    let next: number | undefined;
    const consider = (x: number) => {
      if (x > t && (next === undefined || x < next)) next = x;
    };
    for (const rs of this.replicaSets.values())
      for (const p of rs.pods) if (p.readyAt !== null) consider(p.readyAt);
    for (const d of this.deployments.values()) {
      const progressing = (d.status?.conditions ?? []).find((c: KObject) => c.type === 'Progressing');
      if (
        progressing &&
        !d.spec.paused &&
        progressing.reason !== 'NewReplicaSetAvailable' &&
        progressing.reason !== 'ProgressDeadlineExceeded' &&
        progressing.status !== 'Unknown'
      ) {
        consider(Date.parse(progressing.lastUpdateTime) + d.spec.progressDeadlineSeconds * 1000 + 1000);
      }
    }
    // The Argo Rollouts controller's timers: scale-down deadlines (reached at the instant), the
    // progress deadline and autoPromotionSeconds (both passed strictly after). A superfluous
    // instant only costs one more sync, which changes nothing.
    for (const rs of this.replicaSets.values()) {
      const deadline = Date.parse(
        rs.object.metadata.annotations?.[ROLLOUT_ANNOTATIONS.scaleDownDeadline] ?? '',
      );
      if (Number.isFinite(deadline)) consider(deadline);
    }
    for (const ro of this.rollouts.values()) {
      const progressing = (ro.status?.conditions ?? []).find((c: KObject) => c.type === 'Progressing');
      if (progressing) {
        const seconds = ro.spec?.progressDeadlineSeconds ?? 600;
        consider(Date.parse(progressing.lastUpdateTime) + seconds * 1000 + 1000);
      }
      const autoPromotionSeconds = ro.spec?.strategy?.blueGreen?.autoPromotionSeconds ?? 0;
      for (const p of ro.status?.pauseConditions ?? []) {
        if (autoPromotionSeconds > 0) consider(Date.parse(p.startTime) + autoPromotionSeconds * 1000 + 1000);
      }
    }
    return next;
  }

  private syncAll(t: number, readyNow: boolean): void {
    for (const d of this.deployments.values()) this.syncDeployment(d, t, readyNow);
    for (const ro of this.rollouts.values()) this.syncRollout(ro, t, readyNow);
  }

  private createPods(
    rs: { object: KObject; pods: SimPod[] },
    count: number,
    t: number,
    readyNow: boolean,
  ): void {
    const images: string[] = rs.object.spec.template.spec.containers.map((c: KObject) => String(c.image));
    const delays = images.map((i) => imageBehaviour(i).readySeconds);
    const delay = delays.some((x) => x === undefined) ? undefined : Math.max(0, ...(delays as number[]));
    for (let i = 0; i < count; i++) {
      rs.pods.push({
        name: `${rs.object.metadata.name}-${this.nextId()}`,
        createdAt: t,
        readyAt: readyNow ? t : delay === undefined ? null : t + delay * 1000,
      });
    }
  }

  /** Brings pods in line with spec.replicas: removes not-ready, then newest pods first. */
  private reconcilePods(rs: { object: KObject; pods: SimPod[] }, t: number, readyNow: boolean): void {
    const want = rs.object.spec.replicas ?? 0;
    if (rs.pods.length < want) this.createPods(rs, want - rs.pods.length, t, readyNow);
    if (rs.pods.length > want) {
      const isReady = (p: SimPod) => p.readyAt !== null && p.readyAt <= t;
      rs.pods.sort((a, b) => Number(isReady(b)) - Number(isReady(a)) || a.createdAt - b.createdAt);
      rs.pods.length = want;
    }
  }

  /** ReplicaSets created by the sync in progress (see scaleReplicaSet). */
  private readonly createdThisSync = new Set<KObject>();

  private scaleReplicaSet(rs: { object: KObject }, replicas: number, d: KObject, maxSurge: number): void {
    const o = rs.object;
    o.metadata.annotations ??= {};
    const annotations = o.metadata.annotations;
    const desired = String(d.spec.replicas);
    const max = String(d.spec.replicas + maxSurge);
    if (o.spec.replicas === replicas && annotations[ANNOTATIONS.desiredReplicas] === desired) return;
    // The real controller creates a new ReplicaSet at its first size (generation 1), so sizing one
    // created in this same sync is part of its creation, not a spec change.
    if (o.spec.replicas !== replicas && !this.createdThisSync.has(o)) o.metadata.generation += 1;
    o.spec.replicas = replicas;
    annotations[ANNOTATIONS.desiredReplicas] = desired;
    annotations[ANNOTATIONS.maxReplicas] = max;
  }

  private createReplicaSet(d: KObject, revision: number, t: number): { object: KObject; pods: SimPod[] } {
    const template = clone(d.spec.template);
    const hash = templateHash(template);
    template.metadata ??= {};
    template.metadata.labels = { ...template.metadata.labels, [HASH_LABEL]: hash };
    const name = `${d.metadata.name}-${hash}`;
    const annotations: Record<string, string> = { [ANNOTATIONS.revision]: String(revision) };
    const cause = d.metadata.annotations?.[ANNOTATIONS.changeCause];
    if (cause) annotations[ANNOTATIONS.changeCause] = cause;
    const object: KObject = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name,
        namespace: d.metadata.namespace,
        uid: randomUUID(),
        resourceVersion: this.nextRv(),
        generation: 1,
        creationTimestamp: k8sTime(t),
        labels: { ...template.metadata.labels },
        annotations,
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            name: d.metadata.name,
            uid: d.metadata.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {
        replicas: 0,
        selector: { matchLabels: { ...d.spec.selector.matchLabels, [HASH_LABEL]: hash } },
        template,
      },
    };
    const rs = { object, pods: [] as SimPod[] };
    this.createdThisSync.add(object);
    this.replicaSets.set(key(d.metadata.namespace, name), rs);
    return rs;
  }

  private syncDeployment(d: KObject, t: number, readyNow: boolean): void {
    this.createdThisSync.clear();
    const before = JSON.stringify(d);
    const rsBefore = new Map(
      [...this.ownedReplicaSets(d)].map((rs) => [rs.object.metadata.name, JSON.stringify(rs.object)]),
    );
    const oldStatus: KObject = d.status ?? {};
    const status: KObject = clone(oldStatus);
    const paused = Boolean(d.spec.paused);
    const desired: number = d.spec.replicas;
    const rolling = d.spec.strategy?.type !== 'Recreate';
    const maxSurge = rolling ? intOrPercent(d.spec.strategy.rollingUpdate?.maxSurge, desired, true) : 0;
    let maxUnavailable = rolling
      ? intOrPercent(d.spec.strategy.rollingUpdate?.maxUnavailable, desired, false)
      : desired;
    if (rolling && maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;

    let owned = this.ownedReplicaSets(d);
    let newRs = owned.find((rs) => jsonEqual(withoutHashLabel(rs.object.spec.template), d.spec.template));
    const maxOldRevision = Math.max(
      0,
      ...owned.filter((rs) => rs !== newRs).map((rs) => revisionOf(rs.object)),
    );

    // Pause bookkeeping (checkPausedConditions).
    const progressing = status.conditions?.find((c: KObject) => c.type === 'Progressing');
    if (paused && progressing?.reason !== 'DeploymentPaused') {
      setCondition(status, 'Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused', t);
    } else if (!paused && progressing?.reason === 'DeploymentPaused') {
      setCondition(status, 'Progressing', 'Unknown', 'DeploymentResumed', 'Deployment is resumed', t);
    }

    let switched = false;
    if (!paused) {
      switched = !newRs || revisionOf(newRs.object) <= maxOldRevision;
      if (!newRs) {
        newRs = this.createReplicaSet(d, maxOldRevision + 1, t);
        owned = [...owned, newRs];
        setCondition(
          status,
          'Progressing',
          'True',
          'NewReplicaSetCreated',
          `Created new replica set "${newRs.object.metadata.name}"`,
          t,
        );
      } else {
        newRs.object.metadata.annotations ??= {};
        const annotations = newRs.object.metadata.annotations;
        const current = revisionOf(newRs.object);
        if (current <= maxOldRevision) {
          // Reusing an old template (undo): it takes the next revision and the old number disappears.
          const history = annotations[ANNOTATIONS.revisionHistory];
          annotations[ANNOTATIONS.revisionHistory] = history ? `${history},${current}` : String(current);
          annotations[ANNOTATIONS.revision] = String(maxOldRevision + 1);
        }
        const cause = d.metadata.annotations?.[ANNOTATIONS.changeCause];
        if (cause !== undefined && annotations[ANNOTATIONS.changeCause] !== cause)
          annotations[ANNOTATIONS.changeCause] = cause;
        if (!status.conditions?.some((c: KObject) => c.type === 'Progressing')) {
          setCondition(
            status,
            'Progressing',
            'True',
            'FoundNewReplicaSet',
            `Found new replica set "${newRs.object.metadata.name}"`,
            t,
          );
        }
      }
      d.metadata.annotations = {
        ...d.metadata.annotations,
        [ANNOTATIONS.revision]: String(revisionOf(newRs.object)),
      };
    }

    const oldRss = owned.filter((rs) => rs !== newRs);
    const available = (rs: { pods: SimPod[] }) => this.readyCount(rs, t);
    const replicasOf = (rs: { object: KObject }) => rs.object.spec.replicas ?? 0;

    for (let pass = 0; pass < 20; pass++) {
      const snapshot = JSON.stringify(owned.map((rs) => rs.object.spec.replicas));
      if (paused || !newRs) {
        // A paused Deployment only follows scale changes when a single ReplicaSet is active.
        const active = owned.filter((rs) => replicasOf(rs) > 0);
        const only = active.length === 1 ? active[0] : active.length === 0 ? newRs : undefined;
        if (only && replicasOf(only) !== desired) this.scaleReplicaSet(only, desired, d, maxSurge);
      } else if (!rolling) {
        for (const rs of oldRss) this.scaleReplicaSet(rs, 0, d, maxSurge);
        if (oldRss.every((rs) => rs.pods.length === 0 && replicasOf(rs) === 0))
          this.scaleReplicaSet(newRs, desired, d, maxSurge);
      } else {
        // reconcileNewReplicaSet
        const all = owned.reduce((n, rs) => n + replicasOf(rs), 0);
        if (replicasOf(newRs) > desired) this.scaleReplicaSet(newRs, desired, d, maxSurge);
        else if (replicasOf(newRs) < desired) {
          const up = Math.min(desired + maxSurge - all, desired - replicasOf(newRs));
          if (up > 0) this.scaleReplicaSet(newRs, replicasOf(newRs) + up, d, maxSurge);
        } else this.scaleReplicaSet(newRs, desired, d, maxSurge);
        // reconcileOldReplicaSets
        const minAvailable = desired - maxUnavailable;
        const allNow = owned.reduce((n, rs) => n + replicasOf(rs), 0);
        const newUnavailable = replicasOf(newRs) - available(newRs);
        let budget = allNow - minAvailable - newUnavailable;
        if (budget > 0) {
          const oldest = [...oldRss].sort((a, b) => revisionOf(a.object) - revisionOf(b.object));
          for (const rs of oldest) {
            // Unhealthy old replicas go first: removing them costs no availability.
            const unhealthy = Math.max(0, replicasOf(rs) - available(rs));
            const cut = Math.min(unhealthy, budget);
            if (cut > 0) {
              this.scaleReplicaSet(rs, replicasOf(rs) - cut, d, maxSurge);
              budget -= cut;
            }
          }
          const availableAll = owned.reduce((n, rs) => n + Math.min(available(rs), replicasOf(rs)), 0);
          let scaleDown = availableAll - minAvailable;
          for (const rs of oldest) {
            if (scaleDown <= 0) break;
            const cut = Math.min(replicasOf(rs), scaleDown);
            if (cut > 0) {
              this.scaleReplicaSet(rs, replicasOf(rs) - cut, d, maxSurge);
              scaleDown -= cut;
            }
          }
        }
      }
      for (const rs of owned) this.reconcilePods(rs, t, readyNow);
      if (JSON.stringify(owned.map((rs) => rs.object.spec.replicas)) === snapshot) break;
    }

    // calculateStatus
    const sum = (f: (rs: { object: KObject; pods: SimPod[] }) => number) =>
      owned.reduce((n, rs) => n + f(rs), 0);
    const availableReplicas = sum((rs) => available(rs));
    const counts: KObject = {
      replicas: sum((rs) => rs.pods.length),
      updatedReplicas: newRs ? newRs.pods.length : 0,
      readyReplicas: availableReplicas,
      availableReplicas,
      unavailableReplicas: Math.max(0, sum(replicasOf) - availableReplicas),
    };
    status.observedGeneration = d.metadata.generation;
    // Like the ReplicaSets' (Kubernetes >= 1.35): always present, 0 as pods terminate at once.
    status.terminatingReplicas = 0;
    for (const [k, v] of Object.entries(counts)) {
      if (v === 0) delete status[k];
      else status[k] = v;
    }
    if (availableReplicas >= desired - maxUnavailable) {
      setCondition(
        status,
        'Available',
        'True',
        'MinimumReplicasAvailable',
        'Deployment has minimum availability.',
        t,
      );
    } else {
      setCondition(
        status,
        'Available',
        'False',
        'MinimumReplicasUnavailable',
        'Deployment does not have minimum availability.',
        t,
      );
    }

    // syncRolloutStatus
    if (!paused && newRs) {
      const rsName = newRs.object.metadata.name;
      const complete =
        counts.updatedReplicas === desired && counts.replicas === desired && availableReplicas === desired;
      const oldOf = (s: KObject) => (s.replicas ?? 0) - (s.updatedReplicas ?? 0);
      const progressed =
        // A ReplicaSet that just became the new one starts from zero updated replicas (the real
        // controller observes that intermediate state one sync earlier).
        counts.updatedReplicas > (switched ? 0 : (oldStatus.updatedReplicas ?? 0)) ||
        oldOf(counts) < oldOf(oldStatus) ||
        counts.readyReplicas > (oldStatus.readyReplicas ?? 0) ||
        availableReplicas > (oldStatus.availableReplicas ?? 0);
      const cond = status.conditions?.find((c: KObject) => c.type === 'Progressing');
      if (complete) {
        setCondition(
          status,
          'Progressing',
          'True',
          'NewReplicaSetAvailable',
          `ReplicaSet "${rsName}" has successfully progressed.`,
          t,
        );
      } else if (progressed) {
        // A progressing rollout refreshes lastUpdateTime on every step: the deadline counts from the last progress.
        setCondition(
          status,
          'Progressing',
          'True',
          'ReplicaSetUpdated',
          `ReplicaSet "${rsName}" is progressing.`,
          t,
        );
        const c = status.conditions.find((x: KObject) => x.type === 'Progressing');
        c.lastUpdateTime = k8sTime(t);
      } else if (
        cond &&
        cond.status !== 'Unknown' &&
        cond.reason !== 'NewReplicaSetAvailable' &&
        cond.reason !== 'ProgressDeadlineExceeded' &&
        t - Date.parse(cond.lastUpdateTime) > d.spec.progressDeadlineSeconds * 1000
      ) {
        setCondition(
          status,
          'Progressing',
          'False',
          'ProgressDeadlineExceeded',
          `ReplicaSet "${rsName}" has timed out progressing.`,
          t,
        );
      } else if (cond && cond.status === 'Unknown' && cond.reason === 'DeploymentResumed') {
        setCondition(
          status,
          'Progressing',
          'True',
          'ReplicaSetUpdated',
          `ReplicaSet "${rsName}" is progressing.`,
          t,
        );
      }
      if (complete) this.cleanupHistory(d, newRs, oldRss);
    }
    d.status = status;

    if (JSON.stringify(d) !== before) d.metadata.resourceVersion = this.nextRv();
    for (const rs of this.ownedReplicaSets(d)) {
      if (rsBefore.get(rs.object.metadata.name) !== JSON.stringify(rs.object)) {
        rs.object.metadata.resourceVersion = this.nextRv();
      }
    }
  }

  /** revisionHistoryLimit: deletes the oldest scaled-down ReplicaSets beyond the limit. */
  private cleanupHistory(
    d: KObject,
    newRs: { object: KObject },
    oldRss: { object: KObject; pods: SimPod[] }[],
  ): void {
    const limit: number = d.spec.revisionHistoryLimit ?? 10;
    const cleanable = oldRss
      .filter((rs) => rs !== newRs && (rs.object.spec.replicas ?? 0) === 0 && rs.pods.length === 0)
      .sort((a, b) => revisionOf(a.object) - revisionOf(b.object));
    const excess = cleanable.length - limit;
    for (const rs of cleanable.slice(0, Math.max(0, excess))) {
      this.replicaSets.delete(key(d.metadata.namespace, rs.object.metadata.name));
    }
  }

  /** Creates the namespace and a Deployment already rolled out at revision 1 (pods Ready now). */
  seed(workload: SeedWorkload): void {
    if (!this.namespaces.has(workload.namespace))
      this.createNamespace({ metadata: { name: workload.namespace } });
    if (this.deployments.has(key(workload.namespace, workload.name))) return;
    const labels = { app: workload.name };
    this.createDeployment(
      workload.namespace,
      {
        metadata: { name: workload.name, labels },
        spec: {
          replicas: workload.replicas ?? 3,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              containers: [
                { name: workload.container, image: workload.image, ports: [{ containerPort: 8000 }] },
              ],
            },
          },
        },
      },
      true,
    );
  }

  /**
   * Creates the namespace, the Services and a blue-green (or canary) Rollout, already rolled out
   * at revision 1 (pods Ready at once, the Services on its pods). Nothing happens if it exists.
   */
  seedRollout(spec: SeedRollout): void {
    if (!this.namespaces.has(spec.namespace)) this.createNamespace({ metadata: { name: spec.namespace } });
    if (this.rollouts.has(key(spec.namespace, spec.name))) return;
    const { services, rollout } = rolloutSeedObjects(spec);
    for (const svc of services) {
      if (!this.services.has(key(spec.namespace, svc.metadata.name))) this.createService(spec.namespace, svc);
    }
    this.createRollout(spec.namespace, rollout, true);
  }
}
