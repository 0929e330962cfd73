/**
 * The simulated Argo Rollouts controller (v1.10.1) for blue-green Rollouts: a port of the parts of
 * rollout/controller.go, context.go, bluegreen.go, sync.go, service.go, replicaset.go and pause.go
 * (with utils/conditions, utils/replicaset and utils/rollout) that a Rollout without analysis,
 * traffic routing, anti-affinity or previewReplicaCount goes through. Function names follow the Go
 * source so each can be checked against it.
 *
 * One {@link reconcileRollout} call is one `syncHandler` pass: it returns early where the real one
 * does (after creating a ReplicaSet or patching a condition), and the cluster calls it again until
 * nothing changes, as the real controller's informers would re-queue the Rollout within
 * milliseconds. Time only moves between those fixpoints, so every deadline is on the simulated clock.
 *
 * Canary Rollouts are reconciled only roughly (the new ReplicaSet scaled to spec.replicas, the others
 * to zero once it is available, no steps): enough to read one and be refused as not blue-green.
 */
import { stableJson } from '../../../lambdas/core/text.ts';
import type { KObject, SimPod } from './cluster.ts';
import { jsonEqual } from './patch.ts';

/** Label the controller puts on a Rollout's ReplicaSets, pods and Service selectors. */
export const ROLLOUT_HASH_LABEL = 'rollouts-pod-template-hash';
/** Annotations and keys of utils/annotations and pkg/apis/rollouts/v1alpha1. */
export const ROLLOUT_ANNOTATIONS = {
  revision: 'rollout.argoproj.io/revision',
  revisionHistory: 'rollout.argoproj.io/revision-history',
  desiredReplicas: 'rollout.argoproj.io/desired-replicas',
  scaleDownDeadline: 'scale-down-deadline',
  managedBy: 'argo-rollouts.argoproj.io/managed-by-rollouts',
} as const;

const ANNOTATIONS_NOT_COPIED = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  ROLLOUT_ANNOTATIONS.revision,
  ROLLOUT_ANNOTATIONS.revisionHistory,
  ROLLOUT_ANNOTATIONS.desiredReplicas,
  'notified.notifications.argoproj.io',
]);

// utils/defaults
const DEFAULT_PROGRESS_DEADLINE_SECONDS = 600;
const DEFAULT_SCALE_DOWN_DELAY_SECONDS = 30;
const DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS = 30;
const DEFAULT_REVISION_HISTORY_LIMIT = 10;
/** --rollout-resync default (controller/controller.go DefaultRolloutResyncPeriod). */
const RESYNC_PERIOD_MS = 15 * 60 * 1000;

// utils/conditions reasons and messages
const C = {
  invalidSpec: 'InvalidSpec',
  available: 'AvailableReason',
  notAvailableMessage: 'Rollout does not have minimum availability',
  availableMessage: 'Rollout has minimum availability',
  replicaSetUpdated: 'ReplicaSetUpdated',
  newReplicaSetCreated: 'NewReplicaSetCreated',
  foundNewRS: 'FoundNewReplicaSet',
  completed: 'RolloutCompleted',
  healthy: 'RolloutHealthy',
  healthyMessage: 'Rollout is healthy',
  notHealthyMessage: 'Rollout is not healthy',
  aborted: 'RolloutAborted',
  retry: 'RolloutRetry',
  retryMessage: 'Retrying Rollout after abort',
  paused: 'RolloutPaused',
  pausedMessage: 'Rollout is paused',
  notAvailable: 'ReplicaSetNotAvailable',
  resumed: 'RolloutResumed',
  resumedMessage: 'Rollout is resumed',
  newRSAvailable: 'NewReplicaSetAvailable',
  timedOut: 'ProgressDeadlineExceeded',
} as const;

/** A ReplicaSet with its pods, as the cluster keeps it. */
export interface SimReplicaSet {
  readonly object: KObject;
  readonly pods: SimPod[];
}

/** What the controller needs of the cluster (lib/local/cluster-sim/cluster.ts implements it). */
export interface RolloutWorld {
  /** The simulated instant of this reconciliation (ms). */
  readonly now: number;
  /** ReplicaSets whose controller is the Rollout, live. */
  ownedReplicaSets(rollout: KObject): SimReplicaSet[];
  /** A ReplicaSet by name, live. */
  replicaSet(namespace: string, name: string): SimReplicaSet | undefined;
  /** Creates a ReplicaSet as the API server would (defaults, uid, creationTimestamp). */
  createReplicaSet(object: KObject): SimReplicaSet;
  deleteReplicaSet(rs: SimReplicaSet): void;
  /** `spec.replicas` of a ReplicaSet changed: bump its generation, create or delete pods. */
  replicasChanged(rs: SimReplicaSet): void;
  /** status.replicas / readyReplicas / availableReplicas of a ReplicaSet now. */
  replicaSetCounts(rs: SimReplicaSet): { replicas: number; readyReplicas: number; availableReplicas: number };
  /** A Service, live (undefined when missing). */
  service(namespace: string, name: string): KObject | undefined;
  /** Applies the API server's pod template defaults, as on a ReplicaSet's template. */
  defaultPodTemplate(template: KObject): KObject;
}

/** RFC 3339 with second precision, as metav1.Time marshals. */
function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/**
 * utils/hash ComputePodTemplateHash: FNV-1a (32 bit) of the template (plus the collision count),
 * its decimal digits safe-encoded. The bytes hashed are this file's JSON, not Go's, so the values
 * differ from the real controller's but have their shape (up to ten of `4-9bcdf`).
 */
export function computePodTemplateHash(template: unknown, collisionCount?: number): string {
  let h = 0x811c9dc5;
  const bytes = Buffer.from(stableJson(template), 'utf8');
  const extra =
    collisionCount === undefined
      ? []
      : [...new Uint8Array(new Uint32Array([collisionCount]).buffer), 0, 0, 0, 0];
  for (const b of [...bytes, ...extra]) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return [...String(h)].map((c) => SAFE_ALPHABET[c.charCodeAt(0) % SAFE_ALPHABET.length]).join('');
}

function hashOf(rs: SimReplicaSet | undefined): string {
  return rs?.object.metadata?.labels?.[ROLLOUT_HASH_LABEL] ?? '';
}

function revisionOf(o: KObject): number {
  const v = o.metadata?.annotations?.[ROLLOUT_ANNOTATIONS.revision];
  return /^\d+$/.test(String(v ?? '')) ? Number(v) : 0;
}

function replicasOf(ro: KObject): number {
  return typeof ro.spec?.replicas === 'number' ? ro.spec.replicas : 1;
}

function specReplicas(rs: SimReplicaSet): number {
  return rs.object.spec?.replicas ?? 0;
}

function createdMs(rs: SimReplicaSet): number {
  return Date.parse(rs.object.metadata.creationTimestamp);
}

/** metav1.Time.Before: strictly earlier, at the second precision the API server stores. */
function createdBefore(a: SimReplicaSet, b: SimReplicaSet): boolean {
  return createdMs(a) < createdMs(b);
}

function deadlineOf(rs: SimReplicaSet): number | undefined {
  const v = rs.object.metadata?.annotations?.[ROLLOUT_ANNOTATIONS.scaleDownDeadline];
  if (typeof v !== 'string' || v === '') return undefined;
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? ms : Number.NaN;
}

function hasScaleDownDeadline(rs: SimReplicaSet | undefined): boolean {
  return Boolean(rs?.object.metadata?.annotations?.[ROLLOUT_ANNOTATIONS.scaleDownDeadline]);
}

/** metav1.FormatLabelSelector of a matchLabels selector (keys sorted). */
function formatSelector(selector: KObject | undefined): string {
  const labels: Record<string, string> = selector?.matchLabels ?? {};
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

function getCondition(status: KObject, type: string): KObject | undefined {
  return (status.conditions ?? []).find((c: KObject) => c.type === type);
}

function newCondition(type: string, status: string, reason: string, message: string, now: number): KObject {
  const ts = rfc3339(now);
  return { type, status, lastUpdateTime: ts, lastTransitionTime: ts, reason, message };
}

/** conditions.SetRolloutCondition: no-op when status and reason are unchanged; moves it last. */
function setCondition(status: KObject, condition: KObject): boolean {
  const current = getCondition(status, condition.type);
  if (current && current.status === condition.status && current.reason === condition.reason) return false;
  if (current && current.status === condition.status)
    condition.lastTransitionTime = current.lastTransitionTime;
  status.conditions = [
    ...(status.conditions ?? []).filter((c: KObject) => c.type !== condition.type),
    condition,
  ];
  return true;
}

function removeCondition(status: KObject, type: string): void {
  const rest = (status.conditions ?? []).filter((c: KObject) => c.type !== type);
  if (rest.length > 0) status.conditions = rest;
  else delete status.conditions;
}

/** The Rollout status as Go's json.Marshal writes a v1alpha1.RolloutStatus (omitempty honoured). */
function marshalStatus(s: KObject): KObject {
  const out: KObject = {};
  const put = (k: string, v: unknown, keep = false) => {
    if (v === undefined || v === null) return;
    if (!keep && (v === false || v === 0 || v === '' || (Array.isArray(v) && v.length === 0))) return;
    out[k] = v;
  };
  put('abort', s.abort);
  put('pauseConditions', s.pauseConditions);
  put('controllerPause', s.controllerPause);
  put('abortedAt', s.abortedAt);
  put('currentPodHash', s.currentPodHash);
  put('currentStepHash', s.currentStepHash);
  put('replicas', s.replicas);
  put('updatedReplicas', s.updatedReplicas);
  put('readyReplicas', s.readyReplicas);
  put('availableReplicas', s.availableReplicas);
  put('currentStepIndex', s.currentStepIndex, true);
  put('collisionCount', s.collisionCount, true);
  put('observedGeneration', s.observedGeneration);
  put('conditions', s.conditions);
  const canary: KObject = {};
  if (s.canary?.weights) canary.weights = s.canary.weights;
  out.canary = canary;
  const blueGreen: KObject = {};
  if (s.blueGreen?.previewSelector) blueGreen.previewSelector = s.blueGreen.previewSelector;
  if (s.blueGreen?.activeSelector) blueGreen.activeSelector = s.blueGreen.activeSelector;
  if (s.blueGreen?.scaleUpPreviewCheckPoint) blueGreen.scaleUpPreviewCheckPoint = true;
  out.blueGreen = blueGreen;
  put('HPAReplicas', s.HPAReplicas);
  put('selector', s.selector);
  put('stableRS', s.stableRS);
  put('restartedAt', s.restartedAt);
  put('promoteFull', s.promoteFull);
  put('phase', s.phase);
  put('message', s.message);
  put('workloadObservedGeneration', s.workloadObservedGeneration);
  return out;
}

/** rolloututil.CalculateRolloutPhase: the phase and message the controller writes to the status. */
export function calculateRolloutPhase(spec: KObject, status: KObject): [string, string] {
  for (const cond of status.conditions ?? []) {
    if (cond.type === C.invalidSpec) return ['Degraded', `${C.invalidSpec}: ${cond.message}`];
    if (cond.reason === C.aborted || cond.reason === C.timedOut)
      return ['Degraded', `${cond.reason}: ${cond.message}`];
  }
  if (spec.paused === true) return ['Paused', 'manually paused'];
  const first = (status.pauseConditions ?? [])[0];
  if (first) return ['Paused', String(first.reason)];
  const replicas = typeof spec.replicas === 'number' ? spec.replicas : 1;
  if ((status.updatedReplicas ?? 0) < replicas) return ['Progressing', 'more replicas need to be updated'];
  if ((status.availableReplicas ?? 0) < (status.updatedReplicas ?? 0))
    return ['Progressing', 'updated replicas are still becoming available'];
  const fullyPromoted = (status.stableRS ?? '') === (status.currentPodHash ?? '');
  if (spec.strategy?.blueGreen) {
    const active = status.blueGreen?.activeSelector ?? '';
    if (active === '' || active !== (status.currentPodHash ?? ''))
      return ['Progressing', 'active service cutover pending'];
    if (!status.stableRS || !fullyPromoted)
      return ['Progressing', 'waiting for post-promotion verification to complete'];
  } else if (spec.strategy?.canary) {
    if (!spec.strategy.canary.trafficRouting && (status.replicas ?? 0) > (status.updatedReplicas ?? 0))
      return ['Progressing', 'old replicas are pending termination'];
    if (!status.stableRS || !fullyPromoted) return ['Progressing', 'waiting for all steps to complete'];
  }
  return ['Healthy', ''];
}

/** The pauseContext of pause.go. */
class PauseContext {
  readonly addPauseReasons: string[] = [];
  readonly removePauseReasons: string[] = [];
  clearPauseConditions = false;
  addAbort = false;
  removeAbort = false;
  abortMessage = '';

  constructor(
    private readonly ro: KObject,
    private readonly now: number,
  ) {}

  hasAddPause(): boolean {
    return this.addPauseReasons.length > 0;
  }

  isAborted(): boolean {
    if (this.removeAbort) return false;
    return this.addAbort || this.ro.status?.abort === true;
  }

  calculatePauseStatus(newStatus: KObject): void {
    if (this.calculateAbortStatus(newStatus)) return;
    if (this.clearPauseConditions) return;
    this.calculatePauseConditions(newStatus);
  }

  private calculateAbortStatus(newStatus: KObject): boolean {
    const abortedAt = this.ro.status?.abortedAt ?? rfc3339(this.now);
    if (this.addAbort || (!this.removeAbort && this.ro.status?.abort === true)) {
      newStatus.abort = true;
      newStatus.abortedAt = abortedAt;
      return true;
    }
    newStatus.abort = false;
    delete newStatus.abortedAt;
    return false;
  }

  private calculatePauseConditions(newStatus: KObject): void {
    let controllerPause = this.ro.status?.controllerPause === true;
    const existing: KObject[] = this.ro.status?.pauseConditions ?? [];
    const conditions = existing.filter((c) => !this.removePauseReasons.includes(c.reason)).map(clone);
    for (const reason of this.addPauseReasons) {
      if (!existing.some((c) => c.reason === reason)) {
        conditions.push({ reason, startTime: rfc3339(this.now) });
        controllerPause = true;
      }
    }
    if (conditions.length === 0) return;
    newStatus.controllerPause = controllerPause;
    newStatus.pauseConditions = conditions;
  }
}

function getPauseCondition(ro: KObject, reason: string): KObject | undefined {
  return (ro.status?.pauseConditions ?? []).find((c: KObject) => c.reason === reason);
}

/** A validation failure of the Rollout (a field.Error of the real controller). */
function fieldError(field: string, body: string): string {
  return `${field}: ${body}`;
}

/**
 * Reconciles one Rollout once (one `syncHandler` call). The world is changed in place; the caller
 * repeats until a pass changes nothing.
 */
export function reconcileRollout(world: RolloutWorld, ro: KObject): void {
  if (ro.metadata?.deletionTimestamp) return;
  new RolloutContext(world, ro).sync();
}

/** rolloutContext of context.go, for one pass. */
class RolloutContext {
  private readonly now: number;
  private allRSs: SimReplicaSet[];
  private newRS: SimReplicaSet | undefined;
  private olderRSs: SimReplicaSet[];
  private stableRS: SimReplicaSet | undefined;
  private otherRSs: SimReplicaSet[];
  private readonly newRSWithinDelay: boolean;
  private readonly pause: PauseContext;
  /** `c.newRollout != nil`: this pass wrote the Rollout, so the next pass carries on. */
  private modified = false;

  constructor(
    private readonly world: RolloutWorld,
    private readonly ro: KObject,
  ) {
    this.now = world.now;
    ro.status ??= {};
    this.allRSs = world.ownedReplicaSets(ro);
    this.newRS = this.findNewReplicaSet();
    this.olderRSs = this.allRSs.filter((rs) => rs !== this.newRS);
    this.stableRS = this.getStableRS();
    this.otherRSs = this.allRSs.filter((rs) => rs !== this.newRS && rs !== this.stableRS);
    const deadline = this.newRS ? deadlineOf(this.newRS) : undefined;
    this.newRSWithinDelay = deadline !== undefined && deadline > this.now;
    this.pause = new PauseContext(ro, this.now);
  }

  // ------------------------------------------------------------------ controller.go

  sync(): void {
    const invalid = this.getRolloutValidationErrors();
    if (invalid !== undefined) {
      this.createInvalidRolloutCondition(invalid);
      return;
    }
    if (!this.newRS) {
      this.newRS = this.createDesiredReplicaSet();
      return;
    }
    if (this.isFullyPromoted() && this.pause.isAborted()) this.pause.removeAbort = true;
    if (typeof this.ro.spec.replicas !== 'number') {
      // In order to work with HPA, the controller writes the default (1) into the spec.
      this.ro.spec.replicas = 1;
      this.ro.metadata.generation += 1;
      return;
    }
    this.reconcile();
  }

  private getRolloutValidationErrors(): string | undefined {
    const spec = this.ro.spec ?? {};
    const selector = spec.selector;
    if (!selector) {
      return fieldError('spec.selector', "Required value: Rollout has missing field '.spec.selector'");
    }
    const matchLabels: Record<string, string> = selector.matchLabels ?? {};
    if (Object.keys(matchLabels).length + (selector.matchExpressions ?? []).length === 0) {
      return fieldError(
        'spec.selector',
        `Invalid value: ${JSON.stringify(selector)}: empty selector is invalid for deployment`,
      );
    }
    const labels: Record<string, string> = spec.template?.metadata?.labels ?? {};
    if (!Object.entries(matchLabels).every(([k, v]) => labels[k] === v)) {
      return fieldError(
        'spec.template.metadata.labels',
        `Invalid value: ${JSON.stringify(labels)}: \`selector\` does not match template \`labels\``,
      );
    }
    const containers = spec.template?.spec?.containers;
    if (!Array.isArray(containers) || containers.length === 0) {
      return fieldError('spec.template.spec.containers', 'Required value');
    }
    const strategy = spec.strategy ?? {};
    if (!strategy.blueGreen && !strategy.canary) {
      // ValidateRolloutStrategy appends "strategy" to a path that already ends with it.
      return fieldError(
        'spec.strategy.strategy',
        "Required value: Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'",
      );
    }
    if (strategy.blueGreen && strategy.canary) {
      return fieldError(
        'spec.strategy.strategy',
        'Invalid value: "blueGreen: true canary: true": Multiple Strategies can not be listed',
      );
    }
    if (strategy.blueGreen) {
      const bg = strategy.blueGreen;
      if ((bg.activeService ?? '') === (bg.previewService ?? '')) {
        return fieldError(
          'spec.strategy.activeService',
          `Invalid value: ${JSON.stringify(bg.activeService ?? '')}: This rollout uses the same service for the active and preview services, but two different services are required.`,
        );
      }
      for (const [field, name] of [
        ['spec.strategy.blueGreen.activeService', bg.activeService],
        ['spec.strategy.blueGreen.previewService', bg.previewService],
      ] as const) {
        if (!name) continue;
        const svc = this.world.service(this.ro.metadata.namespace, name);
        // The lister's NotFound error: `service "<name>" not found`.
        if (!svc)
          return fieldError(
            field,
            `Invalid value: ${JSON.stringify(name)}: service ${JSON.stringify(name)} not found`,
          );
        for (const [k, v] of Object.entries((svc.spec?.selector ?? {}) as Record<string, string>)) {
          if (k === ROLLOUT_HASH_LABEL) continue;
          if (labels[k] !== v) {
            return fieldError(
              field,
              `Invalid value: ${JSON.stringify(name)}: Service ${JSON.stringify(name)} has unmatch label ${JSON.stringify(k)} in rollout`,
            );
          }
        }
        const manager = svc.metadata?.annotations?.[ROLLOUT_ANNOTATIONS.managedBy];
        if (manager !== undefined && manager !== this.ro.metadata.name) {
          return fieldError(
            field,
            `Invalid value: ${JSON.stringify(name)}: Service ${JSON.stringify(name)} is managed by another Rollout`,
          );
        }
      }
    }
    return undefined;
  }

  private createInvalidRolloutCondition(error: string): void {
    const status = this.ro.status;
    const prev = getCondition(status, C.invalidSpec);
    const message = `The Rollout "${this.ro.metadata.name}" is invalid: ${error}`;
    const cond =
      prev && prev.message === message
        ? prev
        : newCondition(C.invalidSpec, 'True', C.invalidSpec, message, this.now);
    if (status.observedGeneration !== String(this.ro.metadata.generation) || cond !== prev) {
      const newStatus = clone(status);
      if (prev && prev.message !== message) removeCondition(newStatus, C.invalidSpec);
      this.patchCondition(newStatus, [cond]);
    }
  }

  private findNewReplicaSet(): SimReplicaSet | undefined {
    const sorted = [...this.allRSs].sort((a, b) => createdMs(a) - createdMs(b));
    const hash = computePodTemplateHash(this.ro.spec?.template ?? {}, this.ro.status?.collisionCount);
    const byHash = sorted.find((rs) => hashOf(rs) === hash);
    if (byHash) return byHash;
    const desired = this.world.defaultPodTemplate(withoutHash(this.ro.spec?.template ?? {}));
    return sorted.find((rs) => semanticEqual(withoutHash(rs.object.spec?.template ?? {}), desired));
  }

  private getStableRS(): SimReplicaSet | undefined {
    const stable = this.ro.status?.stableRS;
    if (!stable) return undefined;
    if (this.newRS && hashOf(this.newRS) === stable) return this.newRS;
    return this.allRSs.find((rs) => hashOf(rs) === stable);
  }

  private isFullyPromoted(): boolean {
    return (this.ro.status.stableRS ?? '') === (this.ro.status.currentPodHash ?? '');
  }

  private get blueGreen(): KObject | undefined {
    return this.ro.spec.strategy?.blueGreen ?? undefined;
  }

  private get canary(): KObject | undefined {
    return this.ro.spec.strategy?.canary ?? undefined;
  }

  // ------------------------------------------------------------------ sync.go: ReplicaSets

  private createDesiredReplicaSet(): SimReplicaSet | undefined {
    const ro = this.ro;
    const newRevision = String(maxRevision(this.olderRSs) + 1);
    const hash = computePodTemplateHash(ro.spec.template, ro.status.collisionCount);
    const template = clone(ro.spec.template);
    template.metadata ??= {};
    template.metadata.labels = { ...template.metadata.labels, [ROLLOUT_HASH_LABEL]: hash };
    const name = `${ro.metadata.name}-${hash}`;
    const existing = this.world.replicaSet(ro.metadata.namespace, name);
    if (existing) {
      const owner = (existing.object.metadata.ownerReferences ?? []).find((o: KObject) => o.controller);
      if (
        owner?.uid === ro.metadata.uid &&
        semanticEqual(
          withoutHash(existing.object.spec.template),
          this.world.defaultPodTemplate(withoutHash(ro.spec.template)),
        )
      ) {
        this.setRolloutRevision(newRevision);
        return existing;
      }
      // A hash collision: bump collisionCount so the next pass computes another name.
      ro.status.collisionCount = (ro.status.collisionCount ?? 0) + 1;
      this.modified = true;
      return undefined;
    }
    const object: KObject = {
      metadata: {
        name,
        namespace: ro.metadata.namespace,
        labels: { ...template.metadata.labels },
        annotations: {},
        ownerReferences: [
          {
            apiVersion: 'argoproj.io/v1alpha1',
            kind: 'Rollout',
            name: ro.metadata.name,
            uid: ro.metadata.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {
        replicas: 0,
        ...(ro.spec.minReadySeconds ? { minReadySeconds: ro.spec.minReadySeconds } : {}),
        selector: { matchLabels: { ...ro.spec.selector.matchLabels, [ROLLOUT_HASH_LABEL]: hash } },
        template,
      },
    };
    setNewReplicaSetAnnotations(ro, object, newRevision, false);
    const rs = this.world.createReplicaSet(object);
    this.setRolloutRevision(newRevision);
    setCondition(
      ro.status,
      newCondition(
        'Progressing',
        'True',
        C.newReplicaSetCreated,
        `Created new replica set "${name}"`,
        this.now,
      ),
    );
    this.modified = true;
    return rs;
  }

  private setRolloutRevision(revision: string): void {
    this.ro.metadata.annotations ??= {};
    if (this.ro.metadata.annotations[ROLLOUT_ANNOTATIONS.revision] !== revision) {
      this.ro.metadata.annotations[ROLLOUT_ANNOTATIONS.revision] = revision;
      this.modified = true;
    }
  }

  /** syncReplicaSetRevision: the new ReplicaSet's annotations and the Rollout's revision. */
  private getAllReplicaSetsAndSyncRevision(): SimReplicaSet | undefined {
    const rs = this.newRS;
    if (!rs) return undefined;
    const newRevision = String(maxRevision(this.olderRSs) + 1);
    const annotationsUpdated = setNewReplicaSetAnnotations(this.ro, rs.object, newRevision, true);
    const minReady = this.ro.spec.minReadySeconds ?? 0;
    if (annotationsUpdated || (rs.object.spec.minReadySeconds ?? 0) !== minReady) {
      if (minReady) rs.object.spec.minReadySeconds = minReady;
      else delete rs.object.spec.minReadySeconds;
      return rs;
    }
    this.setRolloutRevision(rs.object.metadata.annotations[ROLLOUT_ANNOTATIONS.revision]);
    if (!getCondition(this.ro.status, 'Progressing')) {
      setCondition(
        this.ro.status,
        newCondition(
          'Progressing',
          'True',
          C.foundNewRS,
          `Found new replica set "${rs.object.metadata.name}"`,
          this.now,
        ),
      );
      this.modified = true;
    }
    return rs;
  }

  private scaleReplicaSetAndRecordEvent(rs: SimReplicaSet, newScale: number): boolean {
    const replicas = replicasOf(this.ro);
    if (specReplicas(rs) === newScale && !replicasAnnotationsNeedUpdate(rs.object, replicas)) return false;
    const sizeNeedsUpdate = specReplicas(rs) !== newScale;
    rs.object.spec.replicas = newScale;
    rs.object.metadata.annotations ??= {};
    rs.object.metadata.annotations[ROLLOUT_ANNOTATIONS.desiredReplicas] = String(replicas);
    if (newScale === 0 && !this.shouldDelayScaleDownOnAbort()) {
      delete rs.object.metadata.annotations[ROLLOUT_ANNOTATIONS.scaleDownDeadline];
    }
    if (sizeNeedsUpdate) this.world.replicasChanged(rs);
    return sizeNeedsUpdate;
  }

  private counts(rs: SimReplicaSet | undefined) {
    return rs ? this.world.replicaSetCounts(rs) : { replicas: 0, readyReplicas: 0, availableReplicas: 0 };
  }

  private sum(rss: SimReplicaSet[], key: 'replicas' | 'readyReplicas' | 'availableReplicas'): number {
    return rss.reduce((n, rs) => n + this.counts(rs)[key], 0);
  }

  // ------------------------------------------------------------------ context.go / sync.go

  private reconcile(): void {
    this.checkPausedConditions();
    if (this.modified) return;
    if (this.isScalingEvent()) {
      this.syncReplicasOnly();
      return;
    }
    if (this.blueGreen) this.rolloutBlueGreen();
    else this.rolloutCanary();
  }

  private haltProgress(): string {
    if (this.ro.spec.paused === true) return 'user paused';
    if (getPauseCondition(this.ro, 'InconclusiveAnalysisRun')) return 'inconclusive analysis';
    return '';
  }

  private checkPausedConditions(): void {
    const status = this.ro.status;
    const progCond = getCondition(status, 'Progressing');
    const progCondPaused = progCond?.reason === C.paused;
    const isPaused = (status.pauseConditions ?? []).length > 0 || this.ro.spec.paused === true;
    const abortCondExists = progCond?.reason === C.aborted;
    const updated: KObject[] = [];
    if (isPaused !== progCondPaused && !abortCondExists && !rolloutCompleted(status)) {
      updated.push(
        isPaused
          ? newCondition('Progressing', 'Unknown', C.paused, C.pausedMessage, this.now)
          : newCondition('Progressing', 'Unknown', C.resumed, C.resumedMessage, this.now),
      );
    }
    if (status.abort !== true && abortCondExists) {
      updated.push(newCondition('Progressing', 'Unknown', C.retry, C.retryMessage, this.now));
    }
    const pauseCond = getCondition(status, 'Paused');
    const pausedCondTrue = pauseCond?.status === 'True';
    if (isPaused !== pausedCondTrue && !abortCondExists) {
      updated.push(newCondition('Paused', isPaused ? 'True' : 'False', C.paused, C.pausedMessage, this.now));
    }
    if (updated.length === 0) return;
    this.patchCondition(clone(status), updated);
  }

  private patchCondition(newStatus: KObject, conditions: KObject[]): void {
    for (const c of conditions) setCondition(newStatus, c);
    newStatus.observedGeneration = String(this.ro.metadata.generation);
    [newStatus.phase, newStatus.message] = calculateRolloutPhase(this.ro.spec, newStatus);
    if (!newStatus.message) delete newStatus.message;
    if (!jsonEqual(newStatus, this.ro.status)) {
      this.ro.status = newStatus;
      this.modified = true;
    }
  }

  private isScalingEvent(): boolean {
    this.newRS = this.getAllReplicaSetsAndSyncRevision();
    for (const rs of [this.newRS, this.stableRS]) {
      if (!rs || specReplicas(rs) <= 0) continue;
      const desired = rs.object.metadata.annotations?.[ROLLOUT_ANNOTATIONS.desiredReplicas];
      if (desired === undefined || !/^\d+$/.test(desired)) continue;
      if (Number(desired) !== replicasOf(this.ro)) return true;
    }
    return false;
  }

  private syncReplicasOnly(): void {
    this.newRS = this.getAllReplicaSetsAndSyncRevision();
    const newStatus = clone(this.ro.status);
    if (this.blueGreen) {
      const services = this.getPreviewAndActiveServices();
      if (!services) return;
      this.reconcileBlueGreenReplicaSets();
      const activeRS = this.byHash(newStatus.blueGreen?.activeSelector);
      if (activeRS) {
        newStatus.HPAReplicas = this.counts(activeRS).replicas;
        newStatus.availableReplicas = this.counts(activeRS).availableReplicas;
      } else {
        newStatus.HPAReplicas = this.sum(this.allRSs, 'replicas');
        newStatus.availableReplicas = this.sum(this.allRSs, 'availableReplicas');
      }
    } else {
      this.reconcileCanaryReplicaSets();
      newStatus.availableReplicas = this.sum(this.allRSs, 'availableReplicas');
      newStatus.HPAReplicas = this.sum(this.allRSs, 'replicas');
    }
    this.persistRolloutStatus(newStatus);
  }

  private byHash(hash: string | undefined): SimReplicaSet | undefined {
    if (!hash) return undefined;
    return this.allRSs.find((rs) => hashOf(rs) === hash);
  }

  private calculateBaseStatus(): KObject {
    const prevStatus = clone(this.ro.status);
    if (this.getRolloutValidationErrors() === undefined && getCondition(prevStatus, C.invalidSpec)) {
      removeCondition(prevStatus, C.invalidSpec);
    }
    const currentPodHash = this.newRS
      ? hashOf(this.newRS)
      : computePodTemplateHash(this.ro.spec.template, this.ro.status.collisionCount);
    const newStatus: KObject = {
      ...(this.ro.status.restartedAt ? { restartedAt: this.ro.status.restartedAt } : {}),
      canary: { ...(this.ro.status.canary?.weights ? { weights: this.ro.status.canary.weights } : {}) },
      blueGreen: {},
    };
    newStatus.currentPodHash = currentPodHash;
    newStatus.replicas = this.sum(this.allRSs, 'replicas');
    newStatus.updatedReplicas = this.counts(this.newRS).replicas;
    newStatus.readyReplicas = this.sum(this.allRSs, 'readyReplicas');
    if (this.ro.status.collisionCount !== undefined) newStatus.collisionCount = this.ro.status.collisionCount;
    if (prevStatus.conditions) newStatus.conditions = prevStatus.conditions;
    // StableRS is still empty here (set by the caller), as in calculateBaseStatus.
    newStatus.promoteFull = currentPodHash !== '' && prevStatus.promoteFull === true;
    return newStatus;
  }

  private resetRolloutStatus(newStatus: KObject): void {
    this.pause.clearPauseConditions = true;
    this.pause.removeAbort = true;
    newStatus.promoteFull = false;
    newStatus.blueGreen.scaleUpPreviewCheckPoint = false;
    if (this.canary && (this.canary.steps ?? []).length > 0) newStatus.currentStepIndex = 0;
    else delete newStatus.currentStepIndex;
  }

  private isRollback(): boolean {
    if (!this.newRS || !this.stableRS) return false;
    const rollbackToStable = this.ro.status.stableRS === hashOf(this.newRS);
    return rollbackToStable || createdBefore(this.newRS, this.stableRS);
  }

  private isFastRollback(): boolean {
    if (!this.isRollback()) return false;
    const withinScaleDownDelay = this.newRSWithinDelay && this.blueGreen !== undefined;
    const rollbackToStable = this.ro.status.stableRS === hashOf(this.newRS);
    return this.isRollbackWithinWindow() || withinScaleDownDelay || rollbackToStable;
  }

  private isRollbackWithinWindow(): boolean {
    const newRS = this.newRS;
    const stableRS = this.stableRS;
    if (!newRS || !stableRS || !createdBefore(newRS, stableRS)) return false;
    const revisions = this.ro.spec.rollbackWindow?.revisions ?? 0;
    if (revisions <= 0) return false;
    const windowSize = this.allRSs.filter(
      (rs) => createdBefore(rs, stableRS) && createdBefore(newRS, rs),
    ).length;
    return windowSize < revisions;
  }

  private shouldFullPromote(newStatus: KObject): string {
    if (!this.stableRS) return 'Initial deploy';
    if (this.canary) {
      if (this.pause.isAborted()) return '';
      const replicas = replicasOf(this.ro);
      if (!this.newRS || this.counts(this.newRS).availableReplicas < replicas) return '';
      if (this.ro.status.promoteFull) return 'Full promotion requested';
      if (this.isFastRollback())
        return this.isRollbackWithinWindow() ? 'Rollback within window' : 'Fast rollback';
      const steps = (this.canary.steps ?? []).length;
      return `Completed all ${steps} canary steps`;
    }
    if (this.blueGreen) {
      if (!newStatus.blueGreen.activeSelector) return 'Initial deploy';
      if (newStatus.blueGreen.activeSelector !== newStatus.currentPodHash) return '';
      if (this.ro.status.promoteFull) return 'Full promotion requested';
      if (this.isFastRollback())
        return this.isRollbackWithinWindow() ? 'Rollback within window' : 'Fast rollback';
      if (this.pause.isAborted()) return '';
      return 'Completed blue-green update';
    }
    return '';
  }

  private promoteStable(newStatus: KObject): void {
    this.pause.clearPauseConditions = true;
    this.pause.removeAbort = true;
    newStatus.promoteFull = false;
    newStatus.blueGreen.scaleUpPreviewCheckPoint = false;
    if (this.canary) {
      const steps = (this.canary.steps ?? []).length;
      if (steps > 0) newStatus.currentStepIndex = steps;
      else delete newStatus.currentStepIndex;
    }
    if (newStatus.stableRS !== newStatus.currentPodHash) newStatus.stableRS = newStatus.currentPodHash;
  }

  private persistRolloutStatus(newStatus: KObject): void {
    newStatus.observedGeneration = String(this.ro.metadata.generation);
    delete newStatus.workloadObservedGeneration;
    this.evaluateProgressDeadlineAbort(newStatus);
    this.pause.calculatePauseStatus(newStatus);
    this.calculateRolloutConditions(newStatus);
    [newStatus.phase, newStatus.message] = calculateRolloutPhase(this.ro.spec, newStatus);
    const marshalled = marshalStatus(newStatus);
    if (!jsonEqual(marshalled, this.ro.status)) {
      this.ro.status = marshalled;
      this.modified = true;
    }
  }

  private isIndefiniteStep(): boolean {
    // No canary steps are simulated; blue-green counts a True Paused condition.
    return getCondition(this.ro.status, 'Paused')?.status === 'True';
  }

  private isWaitingForReplicaSetScaleDown(): boolean {
    return this.otherRSs.some((rs) => hasScaleDownDeadline(rs));
  }

  private rolloutTimedOut(status: KObject): boolean {
    const condition = getCondition(status, 'Progressing');
    if (!condition || condition.reason === C.aborted || condition.reason === C.paused) return false;
    if (condition.reason === C.timedOut) return true;
    const seconds = this.ro.spec.progressDeadlineSeconds ?? DEFAULT_PROGRESS_DEADLINE_SECONDS;
    return Date.parse(condition.lastUpdateTime) + seconds * 1000 < this.now;
  }

  private rolloutProgressing(newStatus: KObject): boolean {
    const old = this.ro.status;
    let strategySpecific = false;
    if (this.blueGreen) {
      strategySpecific =
        (old.blueGreen?.activeSelector ?? '') !== (newStatus.blueGreen?.activeSelector ?? '') ||
        (old.blueGreen?.previewSelector ?? '') !== (newStatus.blueGreen?.previewSelector ?? '');
    }
    if (this.canary) {
      strategySpecific =
        (newStatus.stableRS ?? '') !== (old.stableRS ?? '') ||
        (newStatus.currentStepIndex !== undefined &&
          old.currentStepIndex !== undefined &&
          newStatus.currentStepIndex !== old.currentStepIndex) ||
        (newStatus.currentStepHash ?? '') !== (old.currentStepHash ?? '');
    }
    const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
    const newOld = (newStatus.replicas ?? 0) - (newStatus.updatedReplicas ?? 0);
    return (
      (newStatus.updatedReplicas ?? 0) !== (old.updatedReplicas ?? 0) ||
      newOld < oldOld ||
      (newStatus.readyReplicas ?? 0) > (old.readyReplicas ?? 0) ||
      (newStatus.availableReplicas ?? 0) > (old.availableReplicas ?? 0) ||
      strategySpecific
    );
  }

  private rolloutHealthy(newStatus: KObject): boolean {
    const replicas = replicasOf(this.ro);
    let completedStrategy = true;
    if (this.blueGreen) {
      const activeComplete = (newStatus.blueGreen.activeSelector ?? '') === (newStatus.currentPodHash ?? '');
      const previewComplete =
        !this.blueGreen.previewService ||
        (newStatus.blueGreen.previewSelector ?? '') === (newStatus.currentPodHash ?? '');
      completedStrategy = activeComplete && previewComplete;
    }
    if (this.canary) {
      const steps = (this.canary.steps ?? []).length;
      const executedAllSteps =
        steps === 0 || newStatus.currentStepIndex === undefined || newStatus.currentStepIndex === steps;
      const currentIsStable = Boolean(newStatus.stableRS) && newStatus.stableRS === newStatus.currentPodHash;
      completedStrategy = executedAllSteps && currentIsStable && (newStatus.replicas ?? 0) === replicas;
    }
    return (
      (newStatus.updatedReplicas ?? 0) === replicas &&
      (newStatus.availableReplicas ?? 0) === replicas &&
      this.ro.status.observedGeneration === String(this.ro.metadata.generation) &&
      completedStrategy
    );
  }

  private evaluateProgressDeadlineAbort(newStatus: KObject): void {
    if (this.ro.spec.progressDeadlineAbort !== true) return;
    if (this.pause.isAborted()) return;
    if (rolloutCompleted(newStatus)) return;
    if (this.rolloutProgressing(newStatus)) return;
    if (this.isIndefiniteStep() || this.isWaitingForReplicaSetScaleDown()) return;
    if (!this.rolloutTimedOut(this.ro.status)) return;
    this.pause.addAbort = true;
    this.pause.abortMessage = this.newRS
      ? `ReplicaSet "${this.newRS.object.metadata.name}" has timed out progressing.`
      : `Rollout "${this.ro.metadata.name}" has timed out progressing.`;
  }

  private calculateRolloutConditions(newStatus: KObject): void {
    const isPaused = (newStatus.pauseConditions ?? []).length > 0 || this.ro.spec.paused === true;
    const isAborted = this.pause.isAborted();
    let becameUnhealthy = false;
    const completeCond = getCondition(this.ro.status, 'Healthy');
    if (!isPaused && this.rolloutHealthy(newStatus)) {
      setCondition(newStatus, newCondition('Healthy', 'True', C.healthy, C.healthyMessage, this.now));
    } else if (completeCond) {
      becameUnhealthy = setCondition(
        newStatus,
        newCondition('Healthy', 'False', C.healthy, C.notHealthyMessage, this.now),
      );
    }
    if (isAborted) {
      let message = `Rollout aborted update to revision ${revisionOf(this.ro)}`;
      if (this.pause.abortMessage) message = `${message}: ${this.pause.abortMessage}`;
      setCondition(newStatus, newCondition('Progressing', 'False', C.aborted, message, this.now));
    }
    const currentCond = getCondition(this.ro.status, 'Progressing');
    const rsName = this.newRS?.object.metadata.name;
    if (!isAborted) {
      if (this.rolloutHealthy(newStatus)) {
        setCondition(
          newStatus,
          newCondition(
            'Progressing',
            'True',
            C.newRSAvailable,
            `ReplicaSet "${rsName ?? ''}" has successfully progressed.`,
            this.now,
          ),
        );
      } else if (this.rolloutProgressing(newStatus) || becameUnhealthy) {
        let message = rsName
          ? `ReplicaSet "${rsName}" is progressing.`
          : `Rollout "${this.ro.metadata.name}" is progressing.`;
        let reason: string = C.replicaSetUpdated;
        if (newStatus.stableRS === newStatus.currentPodHash && becameUnhealthy) {
          reason = C.notAvailable;
          message = C.notAvailableMessage;
        }
        const condition = newCondition('Progressing', 'True', reason, message, this.now);
        if (currentCond) {
          if (currentCond.status === 'True') condition.lastTransitionTime = currentCond.lastTransitionTime;
          removeCondition(newStatus, 'Progressing');
        }
        setCondition(newStatus, condition);
      } else if (
        !this.isIndefiniteStep() &&
        !this.isWaitingForReplicaSetScaleDown() &&
        this.rolloutTimedOut(newStatus)
      ) {
        const message = rsName
          ? `ReplicaSet "${rsName}" has timed out progressing.`
          : `Rollout "${this.ro.metadata.name}" has timed out progressing.`;
        setCondition(newStatus, newCondition('Progressing', 'False', C.timedOut, message, this.now));
      }
    }
    const activeRS = this.byHash(newStatus.blueGreen?.activeSelector);
    if (this.blueGreen && activeRS && this.isSaturated(activeRS)) {
      setCondition(newStatus, newCondition('Available', 'True', C.available, C.availableMessage, this.now));
    } else if (this.canary && this.sum(this.allRSs, 'availableReplicas') >= replicasOf(this.ro)) {
      setCondition(newStatus, newCondition('Available', 'True', C.available, C.availableMessage, this.now));
    } else {
      setCondition(
        newStatus,
        newCondition('Available', 'False', C.available, C.notAvailableMessage, this.now),
      );
    }
    removeCondition(newStatus, 'ReplicaFailure');
    setCondition(
      newStatus,
      newCondition(
        'Completed',
        rolloutCompleted(newStatus) ? 'True' : 'False',
        C.completed,
        C.completed,
        this.now,
      ),
    );
  }

  private isSaturated(rs: SimReplicaSet | undefined): boolean {
    if (!rs) return false;
    const desired = rs.object.metadata.annotations?.[ROLLOUT_ANNOTATIONS.desiredReplicas];
    if (desired === undefined || !/^\d+$/.test(desired)) return false;
    const replicas = replicasOf(this.ro);
    return (
      specReplicas(rs) === replicas &&
      Number(desired) === replicas &&
      this.counts(rs).availableReplicas === replicas
    );
  }

  // ------------------------------------------------------------------ bluegreen.go

  private getPreviewAndActiveServices(): { preview?: KObject; active: KObject } | undefined {
    const ns = this.ro.metadata.namespace;
    const bg = this.blueGreen ?? {};
    let preview: KObject | undefined;
    if (bg.previewService) {
      preview = this.world.service(ns, bg.previewService);
      if (!preview) return undefined;
    }
    const active = this.world.service(ns, bg.activeService);
    if (!active) return undefined;
    return { ...(preview ? { preview } : {}), active };
  }

  private rolloutBlueGreen(): void {
    const services = this.getPreviewAndActiveServices();
    // A reconciliation error: the real controller logs it and retries; nothing is written.
    if (!services) return;
    const { preview, active } = services;
    this.newRS = this.getAllReplicaSetsAndSyncRevision();
    this.reconcilePreviewService(preview);
    if (this.checkPodSpecChange()) {
      this.syncRolloutStatusBlueGreen(preview, active);
      return;
    }
    this.reconcileBlueGreenReplicaSets();
    this.reconcileBlueGreenPause(active);
    this.reconcileActiveService(active);
    this.syncRolloutStatusBlueGreen(preview, active);
  }

  private checkPodSpecChange(): boolean {
    const current = this.ro.status.currentPodHash ?? '';
    if (current === '') return false;
    const podHash = this.newRS
      ? hashOf(this.newRS)
      : computePodTemplateHash(this.ro.spec.template, this.ro.status.collisionCount);
    return current !== podHash;
  }

  private reconcileBlueGreenReplicaSets(): void {
    this.removeScaleDownDeadlines();
    if (this.stableRS) this.scaleReplicaSetAndRecordEvent(this.stableRS, replicasOf(this.ro));
    this.reconcileNewReplicaSet();
    this.reconcileOtherReplicaSets();
    this.reconcileRevisionHistoryLimit(this.otherRSs);
  }

  private isBlueGreenFastTracked(activeSvc: KObject): boolean {
    if (this.isFastRollback()) return true;
    if (this.ro.status.promoteFull === true) return true;
    const selector: Record<string, string> = activeSvc.spec?.selector ?? {};
    if (!(ROLLOUT_HASH_LABEL in selector)) return true;
    return selector[ROLLOUT_HASH_LABEL] === hashOf(this.newRS);
  }

  private readyForPause(): boolean {
    const rs = this.newRS;
    if (!rs) return false;
    const count = this.newRSNewReplicas();
    return specReplicas(rs) === count && this.counts(rs).availableReplicas === count;
  }

  /** NewRSNewReplicas for blue-green without previewReplicaCount (and the simple canary). */
  private newRSNewReplicas(): number {
    return replicasOf(this.ro);
  }

  private needsBlueGreenControllerPause(): boolean {
    if (this.blueGreen?.autoPromotionEnabled === false) return true;
    return (this.blueGreen?.autoPromotionSeconds ?? 0) > 0;
  }

  private completedBlueGreenPause(): boolean {
    const pauseCond = getPauseCondition(this.ro, 'BlueGreenPause');
    if (this.pause.hasAddPause()) return false;
    if (this.ro.status.blueGreen?.scaleUpPreviewCheckPoint) return true;
    if (this.blueGreen?.autoPromotionEnabled !== false) {
      const seconds = this.blueGreen?.autoPromotionSeconds ?? 0;
      if (seconds === 0) return true;
      if (pauseCond) return this.now > Date.parse(pauseCond.startTime) + seconds * 1000;
      return false;
    }
    return this.ro.status.controllerPause === true && !pauseCond;
  }

  private reconcileBlueGreenPause(activeSvc: KObject): void {
    if (this.ro.status.abort === true) return;
    if (!this.readyForPause()) return;
    if (this.haltProgress() !== '') return;
    // Fast-tracked, already active, past the preview checkpoint, or not the controller's to pause.
    if (
      this.isBlueGreenFastTracked(activeSvc) ||
      activeSvc.spec?.selector?.[ROLLOUT_HASH_LABEL] === hashOf(this.newRS) ||
      this.ro.status.blueGreen?.scaleUpPreviewCheckPoint ||
      !this.needsBlueGreenControllerPause()
    ) {
      this.pause.removePauseReasons.push('BlueGreenPause');
      return;
    }
    const remove = (): void => {
      this.pause.removePauseReasons.push('BlueGreenPause');
    };
    if (getPauseCondition(this.ro, 'BlueGreenPause')) {
      if (this.completedBlueGreenPause()) remove();
    } else if (this.ro.status.controllerPause !== true) {
      this.pause.addPauseReasons.push('BlueGreenPause');
    }
  }

  private reconcilePreviewService(previewSvc: KObject | undefined): void {
    if (!previewSvc) return;
    if (this.haltProgress() !== '') return;
    this.switchServiceSelector(previewSvc, hashOf(this.newRS));
  }

  private reconcileActiveService(activeSvc: KObject): void {
    if (this.haltProgress() !== '') return;
    if (!this.readyForPause() || !this.isSaturated(this.newRS)) return;
    let hash: string = activeSvc.spec?.selector?.[ROLLOUT_HASH_LABEL] ?? '';
    if (this.isBlueGreenFastTracked(activeSvc)) hash = hashOf(this.newRS);
    if (this.completedBlueGreenPause()) hash = hashOf(this.newRS);
    if (this.ro.status.abort === true) hash = this.ro.status.stableRS ?? '';
    this.switchServiceSelector(activeSvc, hash);
  }

  /** service.go switchServiceSelector: the strategic merge patch of the selector (and managed-by). */
  private switchServiceSelector(svc: KObject, hash: string): void {
    svc.spec ??= {};
    svc.spec.selector ??= {};
    const managed = svc.metadata?.annotations?.[ROLLOUT_ANNOTATIONS.managedBy] !== undefined;
    if (svc.spec.selector[ROLLOUT_HASH_LABEL] === hash && managed) return;
    if (!managed) {
      svc.metadata.annotations = {
        ...svc.metadata.annotations,
        [ROLLOUT_ANNOTATIONS.managedBy]: this.ro.metadata.name,
      };
    }
    svc.spec.selector[ROLLOUT_HASH_LABEL] = hash;
  }

  private syncRolloutStatusBlueGreen(previewSvc: KObject | undefined, activeSvc: KObject): void {
    const newStatus = this.calculateBaseStatus();
    if (this.ro.status.stableRS) newStatus.stableRS = this.ro.status.stableRS;
    if (this.checkPodSpecChange()) this.resetRolloutStatus(newStatus);
    if (this.ro.status.promoteFull === true || this.isRollbackWithinWindow()) {
      this.pause.clearPauseConditions = true;
      this.pause.removeAbort = true;
    }
    newStatus.blueGreen.previewSelector = previewSvc?.spec?.selector?.[ROLLOUT_HASH_LABEL] ?? '';
    newStatus.blueGreen.activeSelector = activeSvc.spec?.selector?.[ROLLOUT_HASH_LABEL] ?? '';
    const reason = this.shouldFullPromote(newStatus);
    if (reason) this.promoteStable(newStatus);
    else newStatus.blueGreen.scaleUpPreviewCheckPoint = false;
    const activeRS = this.byHash(newStatus.blueGreen.activeSelector);
    if (activeRS) {
      const counts = this.counts(activeRS);
      newStatus.HPAReplicas = counts.replicas;
      newStatus.selector = formatSelector(activeRS.object.spec.selector);
      newStatus.availableReplicas = counts.availableReplicas;
      newStatus.readyReplicas = counts.readyReplicas;
    } else {
      newStatus.HPAReplicas = this.sum(this.allRSs, 'replicas');
      newStatus.selector = formatSelector(this.ro.spec.selector);
      newStatus.availableReplicas = this.sum(this.allRSs, 'availableReplicas');
    }
    this.persistRolloutStatus(newStatus);
  }

  // ------------------------------------------------------------------ replicaset.go

  private removeScaleDownDeadlines(): void {
    const toRemove: SimReplicaSet[] = [];
    if (this.newRS && !this.shouldDelayScaleDownOnAbort()) toRemove.push(this.newRS);
    if (this.stableRS && (toRemove.length === 0 || this.stableRS !== this.newRS))
      toRemove.push(this.stableRS);
    for (const rs of toRemove) delete rs.object.metadata.annotations?.[ROLLOUT_ANNOTATIONS.scaleDownDeadline];
  }

  private abortScaleDownDelaySeconds(): { seconds: number | null; wasSet: boolean } {
    const owner = this.blueGreen ?? (this.canary?.trafficRouting ? this.canary : undefined);
    if (!owner) return { seconds: 0, wasSet: false };
    const v = owner.abortScaleDownDelaySeconds;
    if (typeof v === 'number') return { seconds: v === 0 ? null : v, wasSet: true };
    return { seconds: DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS, wasSet: false };
  }

  private shouldDelayScaleDownOnAbort(): boolean {
    if (!this.pause.isAborted()) return false;
    if (!this.stableRS) return false;
    if (this.canary && !this.canary.trafficRouting) return false;
    const { seconds, wasSet } = this.abortScaleDownDelaySeconds();
    if (seconds === null) return false;
    if (this.canary?.dynamicStableScale && !wasSet) return false;
    return true;
  }

  private syncNewRSReplicasAnnotation(): void {
    if (!this.newRS || !replicasAnnotationsNeedUpdate(this.newRS.object, replicasOf(this.ro))) return;
    this.scaleReplicaSetAndRecordEvent(this.newRS, specReplicas(this.newRS));
  }

  private reconcileNewReplicaSet(): void {
    const rs = this.newRS;
    if (!rs) return;
    let count = this.newRSNewReplicas();
    if (this.shouldDelayScaleDownOnAbort()) {
      const { seconds } = this.abortScaleDownDelaySeconds();
      const deadline = deadlineOf(rs);
      if (deadline !== undefined) {
        if (Number.isFinite(deadline)) {
          if (deadline > this.now) {
            if (deadline - this.now < RESYNC_PERIOD_MS) {
              this.syncNewRSReplicasAnnotation();
              return;
            }
          } else {
            count = 0;
          }
        }
      } else if (seconds !== null) {
        this.syncNewRSReplicasAnnotation();
        if (this.stableRS && this.counts(this.stableRS).availableReplicas >= replicasOf(this.ro)) {
          this.addScaleDownDelay(rs, seconds);
        }
        return;
      }
    }
    this.scaleReplicaSetAndRecordEvent(rs, count);
  }

  private addScaleDownDelay(rs: SimReplicaSet, seconds: number): void {
    rs.object.metadata.annotations ??= {};
    const annotations: Record<string, string> = rs.object.metadata.annotations;
    if (seconds === 0) {
      delete annotations[ROLLOUT_ANNOTATIONS.scaleDownDeadline];
      return;
    }
    annotations[ROLLOUT_ANNOTATIONS.scaleDownDeadline] = rfc3339(this.now + seconds * 1000);
  }

  private reconcileOtherReplicaSets(): void {
    const others = this.otherRSs.filter((rs) => specReplicas(rs) > 0);
    if (others.reduce((n, rs) => n + specReplicas(rs), 0) === 0) return;
    if (this.canary) this.scaleDownOldReplicaSetsForCanary(others);
    if (this.blueGreen) this.scaleDownOldReplicaSetsForBlueGreen(others);
  }

  private scaleDownOldReplicaSetsForBlueGreen(oldRSs: SimReplicaSet[]): void {
    const sorted = [...oldRSs].sort(
      (a, b) => revisionOf(b.object) - revisionOf(a.object) || createdMs(b) - createdMs(a),
    );
    let annotated = 0;
    const replicas = replicasOf(this.ro);
    const limit: number = this.blueGreen?.scaleDownDelayRevisionLimit ?? Number.MAX_SAFE_INTEGER;
    const delaySeconds: number = this.blueGreen?.scaleDownDelaySeconds ?? DEFAULT_SCALE_DOWN_DELAY_SECONDS;
    for (const rs of sorted) {
      if (this.isReplicaSetReferenced(rs)) continue;
      if (specReplicas(rs) === 0) continue;
      let desired = 0;
      if (!hasScaleDownDeadline(rs) && specReplicas(rs) > 0) {
        if (annotated < limit) {
          annotated += 1;
          desired = specReplicas(rs);
          this.addScaleDownDelay(rs, delaySeconds);
        }
      } else if (hasScaleDownDeadline(rs)) {
        annotated += 1;
        if (annotated <= limit) {
          const deadline = deadlineOf(rs);
          if (deadline !== undefined && Number.isFinite(deadline) && deadline > this.now) desired = replicas;
        }
      }
      if (specReplicas(rs) === desired) continue;
      this.scaleReplicaSetAndRecordEvent(rs, desired);
    }
  }

  private isReplicaSetReferenced(rs: SimReplicaSet): boolean {
    const hash = hashOf(rs);
    if (hash === '') return false;
    const s = this.ro.status;
    const refs = [s.stableRS, s.currentPodHash, s.blueGreen?.activeSelector, s.blueGreen?.previewSelector];
    if (refs.includes(hash)) return true;
    const names = this.canary
      ? [this.canary.canaryService, this.canary.stableService]
      : [this.blueGreen?.activeService, this.blueGreen?.previewService];
    for (const name of names) {
      if (!name) continue;
      const svc = this.world.service(this.ro.metadata.namespace, name);
      if (svc && svc.spec?.selector?.[ROLLOUT_HASH_LABEL] === hash) return true;
    }
    return false;
  }

  private reconcileRevisionHistoryLimit(oldRSs: SimReplicaSet[]): void {
    const limit: number = this.ro.spec.revisionHistoryLimit ?? DEFAULT_REVISION_HISTORY_LIMIT;
    const cleanable = [...oldRSs].sort((a, b) => createdMs(a) - createdMs(b));
    const diff = cleanable.length - limit;
    for (let i = 0; i < diff; i++) {
      const rs = cleanable[i];
      if (!rs || this.counts(rs).replicas !== 0 || specReplicas(rs) !== 0) continue;
      this.world.deleteReplicaSet(rs);
      this.allRSs = this.allRSs.filter((x) => x !== rs);
      this.olderRSs = this.olderRSs.filter((x) => x !== rs);
      this.otherRSs = this.otherRSs.filter((x) => x !== rs);
    }
  }

  // ------------------------------------------------------------------ canary (rough)

  private rolloutCanary(): void {
    this.newRS = this.getAllReplicaSetsAndSyncRevision();
    if (this.checkPodSpecChange()) {
      this.syncRolloutStatusCanary();
      return;
    }
    this.reconcileCanaryReplicaSets();
    this.syncRolloutStatusCanary();
  }

  private reconcileCanaryReplicaSets(): void {
    if (this.stableRS && this.stableRS !== this.newRS && this.newRS && !this.isSaturated(this.newRS)) {
      this.scaleReplicaSetAndRecordEvent(this.stableRS, replicasOf(this.ro));
    }
    if (this.newRS) this.scaleReplicaSetAndRecordEvent(this.newRS, replicasOf(this.ro));
    this.reconcileOtherReplicaSets();
    this.reconcileRevisionHistoryLimit(this.otherRSs);
  }

  private scaleDownOldReplicaSetsForCanary(oldRSs: SimReplicaSet[]): void {
    if (!this.newRS || !this.isSaturated(this.newRS)) return;
    for (const rs of oldRSs) this.scaleReplicaSetAndRecordEvent(rs, 0);
  }

  private syncRolloutStatusCanary(): void {
    const newStatus = this.calculateBaseStatus();
    if (this.ro.status.stableRS) newStatus.stableRS = this.ro.status.stableRS;
    newStatus.availableReplicas = this.sum(this.allRSs, 'availableReplicas');
    newStatus.HPAReplicas = this.sum(this.allRSs, 'replicas');
    newStatus.selector = formatSelector(this.ro.spec.selector);
    if (this.checkPodSpecChange()) this.resetRolloutStatus(newStatus);
    // Once promoted, the old stable ReplicaSet is an "other" one, scaled down on the next pass.
    if (this.shouldFullPromote(newStatus)) this.promoteStable(newStatus);
    this.persistRolloutStatus(newStatus);
  }
}

function maxRevision(rss: SimReplicaSet[]): number {
  return Math.max(0, ...rss.map((rs) => revisionOf(rs.object)));
}

function rolloutCompleted(status: KObject): boolean {
  return Boolean(status.stableRS) && status.stableRS === status.currentPodHash;
}

function replicasAnnotationsNeedUpdate(rs: KObject, desired: number): boolean {
  const annotations = rs.metadata?.annotations;
  if (!annotations) return true;
  if (annotations[ROLLOUT_ANNOTATIONS.desiredReplicas] !== String(desired)) return true;
  return desired === 0 && Boolean(annotations[ROLLOUT_ANNOTATIONS.scaleDownDeadline]);
}

/** annotations.SetNewReplicaSetAnnotations: copies the Rollout's annotations, bumps the revision. */
function setNewReplicaSetAnnotations(
  ro: KObject,
  rs: KObject,
  newRevision: string,
  exists: boolean,
): boolean {
  rs.metadata.annotations ??= {};
  const annotations: Record<string, string> = rs.metadata.annotations;
  let changed = false;
  for (const [k, v] of Object.entries((ro.metadata.annotations ?? {}) as Record<string, string>)) {
    if (ANNOTATIONS_NOT_COPIED.has(k) || annotations[k] === v) continue;
    annotations[k] = v;
    changed = true;
  }
  const oldRevision = annotations[ROLLOUT_ANNOTATIONS.revision];
  const hadRevision = oldRevision !== undefined;
  let oldInt = 0;
  if (oldRevision !== undefined && oldRevision !== '') {
    if (!/^-?\d+$/.test(oldRevision)) return false;
    oldInt = Number(oldRevision);
  }
  if (oldInt < Number(newRevision)) {
    annotations[ROLLOUT_ANNOTATIONS.revision] = newRevision;
    changed = true;
  }
  // As in Go: any change (a copied annotation too) records the old revision in the history.
  if (hadRevision && changed) {
    const history = annotations[ROLLOUT_ANNOTATIONS.revisionHistory];
    annotations[ROLLOUT_ANNOTATIONS.revisionHistory] = history
      ? `${history},${oldRevision}`
      : String(oldRevision);
  }
  if (!exists && annotations[ROLLOUT_ANNOTATIONS.desiredReplicas] !== String(replicasOf(ro))) {
    annotations[ROLLOUT_ANNOTATIONS.desiredReplicas] = String(replicasOf(ro));
    changed = true;
  }
  return changed;
}

/** A pod template without the controller's hash label (and without empty or null metadata). */
function withoutHash(template: KObject): KObject {
  const t = clone(template);
  t.metadata ??= {};
  if (t.metadata.creationTimestamp === null) delete t.metadata.creationTimestamp;
  if (t.metadata.labels) {
    delete t.metadata.labels[ROLLOUT_HASH_LABEL];
    if (Object.keys(t.metadata.labels).length === 0) delete t.metadata.labels;
  }
  return t;
}

/** apiequality.Semantic.DeepEqual on wire JSON: nil and empty maps/lists are equal. */
function semanticEqual(a: unknown, b: unknown): boolean {
  return jsonEqual(normalise(a), normalise(b));
}

function normalise(v: unknown): unknown {
  if (Array.isArray(v)) return v.length === 0 ? undefined : v.map(normalise);
  if (v && typeof v === 'object') {
    const out: KObject = {};
    for (const [k, x] of Object.entries(v)) {
      const n = normalise(x);
      if (n !== undefined && n !== null) out[k] = n;
    }
    return out;
  }
  return v;
}
