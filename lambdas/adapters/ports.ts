/**
 * Ports: the small interfaces through which steps reach the outside world. Each has an AWS
 * adapter (wired at handler module scope) and a local one (wired by the local runner).
 */
import type { AdHocFreeze, BreakerState, DeploymentRecord, LockInfo, RecordStatus } from '../core/types.ts';

/** The one source of "now". Locally a simulated clock that Wait states advance. */
export interface Clock {
  now(): Date;
}

/** The system clock. */
export const systemClock: Clock = { now: () => new Date() };

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
}

/** Result of acquiring the environment lock. */
export type LockResult =
  | { readonly acquired: true; readonly lock: LockInfo }
  | { readonly acquired: false; readonly holder: LockInfo };

/** A guard on a record update: the write happens only if the stored record matches. */
export interface RecordCondition {
  /** The record's current status must be one of these. */
  readonly status: readonly RecordStatus[];
}

/** Durable guardian state: records, lock, circuit breaker, freezes (DynamoDB; dynalite locally). */
export interface Store {
  /** Creates a record; fails if one with the same environment and id exists. */
  putRecord(record: DeploymentRecord): Promise<void>;
  /**
   * Merges fields into an existing record and returns the result. With `condition`, only when the
   * stored record matches it; otherwise ConflictError naming the record's actual status.
   */
  updateRecord(
    environment: string,
    id: string,
    patch: Partial<DeploymentRecord>,
    condition?: RecordCondition,
  ): Promise<DeploymentRecord>;
  getRecord(environment: string, id: string): Promise<DeploymentRecord | undefined>;
  /** Newest first. */
  listRecords(environment: string, limit: number): Promise<DeploymentRecord[]>;

  /** Conditional write: succeeds if free or expired at `now`. */
  acquireLock(lock: LockInfo, now: Date): Promise<LockResult>;
  /** Releases the lock if `holder` holds it; returns whether it did. */
  releaseLock(environment: string, holder: string): Promise<boolean>;
  getLock(environment: string): Promise<LockInfo | undefined>;

  getBreaker(environment: string): Promise<BreakerState>;
  /**
   * Read-modify-write of the breaker with optimistic concurrency: `change` gets the current state
   * and returns the next one; a concurrent writer makes the store re-read and apply it again.
   * Returning the current object unchanged writes nothing. Resolves to the state written.
   */
  updateBreaker(environment: string, change: (current: BreakerState) => BreakerState): Promise<BreakerState>;

  listFreezes(environment: string): Promise<AdHocFreeze[]>;
  putFreeze(freeze: AdHocFreeze): Promise<void>;
  deleteFreeze(environment: string, id: string): Promise<boolean>;
}

/** A plain HTTP GET used by health checks (global `fetch` in AWS and locally). */
export type HttpGet = (
  url: string,
  timeoutMs: number,
) => Promise<{ status: number; body: string; elapsedMs: number }>;
