/**
 * What the "execution ended" janitor does when a Deploy or Rollback execution ends without the
 * guardian recording an outcome (a Lambda timeout, an execution timeout, an operator's
 * StopExecution, a record step out of retries). Pure: the handler reads the lock and the record,
 * this decides, the handler makes the conditional writes. Every action is conditional on what is
 * still there, so a second delivery of the same event changes nothing.
 */
import { capBytes, failureText } from './context.ts';
import type { DeploymentRecord, LockInfo } from './types.ts';

/** Execution statuses after which nothing of the guardian's may stay behind. */
export const UNFINISHED_STATUSES = ['FAILED', 'TIMED_OUT', 'ABORTED'] as const;
/** An execution status the janitor cleans up after. */
export type UnfinishedStatus = (typeof UNFINISHED_STATUSES)[number];

/** Whether the janitor has anything to look at for an execution that ended with `status`. */
export function isUnfinishedStatus(status: string): status is UnfinishedStatus {
  return (UNFINISHED_STATUSES as readonly string[]).includes(status);
}

/** The ended execution, as the EventBridge status-change event describes it. */
export interface EndedExecution {
  readonly name: string;
  readonly executionArn: string;
  readonly status: UnfinishedStatus;
  readonly error?: string | null | undefined;
  readonly cause?: string | null | undefined;
}

/** What to do about an ended execution. */
export interface ExecutionEndedPlan {
  /** Recorded on the record and, when the breaker opens, as its reason. */
  readonly reason: string;
  /** Holder to release the lock from: set only when this execution holds it. */
  readonly releaseLockHeldBy?: string;
  /** The lock is someone else's and stays. */
  readonly keptLock?: LockInfo;
  /** This execution's record is still `in-progress`: mark it `failed`. */
  readonly failRecord: boolean;
  /** The execution was stopped mid-change: open the breaker so an operator looks at the cluster. */
  readonly openBreaker: boolean;
}

/** Longest reason the janitor records (the cause may carry a whole stack trace). */
const MAX_REASON_BYTES = 1024;

const STATUS_WORDS: Record<UnfinishedStatus, string> = {
  FAILED: 'failed',
  TIMED_OUT: 'timed out',
  ABORTED: 'was aborted',
};

/** `execution <status> before the guardian recorded an outcome (<error>: <cause>)`, capped. */
export function unfinishedReason(end: Pick<EndedExecution, 'status' | 'error' | 'cause'>): string {
  const error = end.error?.trim();
  const cause = end.cause?.trim();
  const details = error
    ? failureText({ Error: error, ...(cause ? { Cause: cause } : {}) })
    : cause || 'no error reported';
  return capBytes(
    `execution ${STATUS_WORDS[end.status]} before the guardian recorded an outcome (${details})`,
    MAX_REASON_BYTES,
  );
}

/** Whether `lock` belongs to the ended execution (by holder id or by execution ARN). */
export function heldBy(
  lock: LockInfo | undefined,
  end: Pick<EndedExecution, 'name' | 'executionArn'>,
): boolean {
  return lock !== undefined && (lock.holder === end.name || lock.executionArn === end.executionArn);
}

/**
 * Decides the clean-up. The lock is released only when this execution holds it (a rollback
 * started by its deployment holds the deployment's lock, which the deployment's own end frees).
 * The record is failed only when it is this execution's and still `in-progress`. A timed-out or
 * aborted execution with an `in-progress` record had started changing the cluster, so the
 * breaker opens: the workload may be half rolled out and an operator must look. A FAILED one
 * ended on a state of its own workflow, which opens the breaker itself where that is warranted.
 */
export function planExecutionEnded(
  end: EndedExecution,
  lock: LockInfo | undefined,
  record: DeploymentRecord | undefined,
): ExecutionEndedPlan {
  const reason = unfinishedReason(end);
  const ours = heldBy(lock, end);
  const unfinished = record?.status === 'in-progress' && record.executionArn === end.executionArn;
  return {
    reason,
    ...(ours && lock ? { releaseLockHeldBy: lock.holder } : {}),
    ...(!ours && lock ? { keptLock: lock } : {}),
    failRecord: unfinished,
    openBreaker: unfinished && end.status !== 'FAILED',
  };
}
