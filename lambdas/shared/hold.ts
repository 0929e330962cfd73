/**
 * Carries out an operator's decision on a held release (`guardian canary approve|reject`): plan
 * it from the lock and the record (lambdas/core/canary-hold.ts), note it on the record, then end
 * the Deploy execution's hold by sending its task token back. The CLI's local and AWS backends
 * both call this with their Store and Workflows.
 */
import { CANARY_REJECTED_ERROR, type HoldDecision, planHoldDecision } from '../core/canary-hold.ts';
import { ConflictError } from '../core/errors.ts';
import { escalationTaskOutput } from '../core/incidents.ts';
import type { Store, Workflows } from '../core/ports.ts';

/** What deciding did. */
export interface HoldDecisionResult {
  /** Whether the held execution took the decision (false: refused, or the hold had ended). */
  readonly decided: boolean;
  readonly deploymentId?: string;
  readonly message: string;
}

/** Approves or rejects `environment`'s held release. Never throws for a refusal: `decided` is false. */
export async function decideHold(
  ports: { readonly store: Store; readonly workflows: Pick<Workflows, 'succeedTask' | 'failTask'> },
  environment: string,
  decision: HoldDecision,
  by: string,
  reason: string | undefined,
  now: Date,
): Promise<HoldDecisionResult> {
  const { store, workflows } = ports;
  const lock = await store.getLock(environment);
  const record = lock ? await store.getRecord(environment, lock.holder) : undefined;
  const plan = planHoldDecision(environment, lock, record, decision, by, reason);
  if (!plan.ok) return { decided: false, message: plan.message };
  try {
    // Noted first and once: a second decision (or a second operator) finds it and is refused.
    await store.updateRecord(
      environment,
      plan.deploymentId,
      { holdDecision: { decision, by, at: now.toISOString(), note: plan.note } },
      { status: ['in-progress'], unset: ['holdDecision', 'alarm'] },
    );
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    const current = await store.getRecord(environment, plan.deploymentId);
    const why = current?.holdDecision
      ? `${current.holdDecision.by} already decided: ${current.holdDecision.note}`
      : current?.alarm
        ? `alarm ${current.alarm.name} fired meanwhile and the release is rolling back`
        : `it is ${current?.status ?? 'gone'}`;
    return {
      decided: false,
      deploymentId: plan.deploymentId,
      message: `deployment ${plan.deploymentId}: ${why}`,
    };
  }
  const ended =
    decision === 'approve'
      ? await workflows.succeedTask(plan.token, { decision, by })
      : await workflows.failTask(plan.token, CANARY_REJECTED_ERROR, plan.note);
  // The incident that paged for this decision is over: resolve it, which ends its escalation.
  const incidentId = record?.canary?.incidentId;
  if (ended && incidentId) {
    const resolved = await store.transitionIncident(
      environment,
      incidentId,
      'resolved',
      { by, reason: plan.note },
      now,
    );
    const token = resolved.changed ? resolved.incident.taskToken : undefined;
    if (token) await workflows.succeedTask(token, escalationTaskOutput(resolved.incident));
  }
  if (!ended) {
    return {
      decided: false,
      deploymentId: plan.deploymentId,
      message: `deployment ${plan.deploymentId}: its hold had already ended (it ran out and the release is rolling back)`,
    };
  }
  return {
    decided: true,
    deploymentId: plan.deploymentId,
    message:
      decision === 'approve'
        ? `deployment ${plan.deploymentId}: ${plan.note}`
        : `deployment ${plan.deploymentId}: ${plan.note}; it rolls back now`,
  };
}
