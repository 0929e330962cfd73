/**
 * An operator's decision on a release the canary analysis held (issue 9): too little evidence to
 * judge is never a pass, so the Deploy execution waits in "Hold for operator decision" with its
 * task token on the record, and a person decides: approve (post-deployment monitoring goes on) or
 * reject (the release rolls back through its own path). Pure: the caller reads the lock and the
 * record, and carries out the plan with the Workflows port.
 */
import { quote } from './text.ts';
import type { DeploymentRecord, LockInfo } from './types.ts';

/** What an operator decides about a held release. */
export type HoldDecision = 'approve' | 'reject';

/** The error a rejected hold fails its task with: the deployment rolls back with the reason. */
export const CANARY_REJECTED_ERROR = 'CanaryRejectedError';

/** What to do: end the wait of `token`, or refuse and say why. */
export type HoldPlan =
  | {
      readonly ok: true;
      readonly deploymentId: string;
      readonly token: string;
      /** The record's note of who decided what, and why. */
      readonly note: string;
    }
  | { readonly ok: false; readonly message: string };

/**
 * Plans `decision` on `environment`'s held release: the deployment holding the lock must be
 * waiting in its hold, else the decision is refused with what it is doing instead.
 */
export function planHoldDecision(
  environment: string,
  lock: LockInfo | undefined,
  record: DeploymentRecord | undefined,
  decision: HoldDecision,
  by: string,
  reason: string | undefined,
): HoldPlan {
  if (!lock) {
    return {
      ok: false,
      message: `no deployment is running in ${environment}, so none is held for a decision (guardian status --env ${environment})`,
    };
  }
  if (record?.kind !== 'deploy') {
    return {
      ok: false,
      message: `${environment} is locked by ${quote(lock.holder)}, which is not a deployment held by its canary analysis`,
    };
  }
  if (record.status !== 'in-progress') {
    return { ok: false, message: `deployment ${record.id} is ${record.status}, not held for a decision` };
  }
  if (record.signal?.phase !== 'hold') {
    const phase = record.signal ? `waiting in its ${record.signal.phase} phase` : 'running';
    return {
      ok: false,
      message: `deployment ${record.id} is ${phase}, not held for a decision: only an inconclusive canary analysis holds a release`,
    };
  }
  const why = reason?.trim() ? `: ${reason.trim()}` : '';
  const note =
    decision === 'approve'
      ? `${by} approved the held release${why}; post-deployment monitoring goes on`
      : `${by} rejected the held release${why}`;
  return { ok: true, deploymentId: record.id, token: record.signal.token, note };
}
