/**
 * "A rollback that itself fails always opens a P1": which ended executions are such a failure,
 * and the incident they open. Pure: the execution-ended step hands in the ended execution, its
 * input and the record of the deployment it concerns; this returns the incident to open, or why
 * none is needed.
 */
import { fnv1a } from './alarm-decision.ts';
import { incidentId, type NewIncident } from './escalation.ts';
import type { UnfinishedStatus } from './execution-ended.ts';
import { shorten } from './text.ts';
import type { DeploymentRecord } from './types.ts';

/** The error a Deploy execution ends with when its automatic rollback did not complete (deploy-workflow.ts). */
export const ROLLBACK_FAILED_ERROR = 'RollbackFailed';

/** An ended Deploy or Rollback execution, as the execution-ended step reads it. */
export interface EndedWorkflow {
  readonly kind: 'deploy' | 'rollback';
  readonly name: string;
  readonly status: UnfinishedStatus;
  readonly error?: string | null | undefined;
  readonly cause?: string | null | undefined;
  /** When it started. */
  readonly startDate: Date;
  /** A Rollback's input: the deployment it undoes and who asked. */
  readonly input?: { readonly deploymentId?: string; readonly trigger?: string };
}

/** What to do about a rollback that failed: open this incident, or nothing (and why). */
export type RollbackIncidentPlan =
  | { readonly open: true; readonly id: string; readonly incident: NewIncident }
  | { readonly open: false; readonly reason: string };

/**
 * Whether `end` is a rollback that failed, and the P1 it opens. A Deploy execution that ended
 * with RollbackFailed, and a Rollback execution that failed, timed out or was aborted, are;
 * except that a Rollback an operator asked for and that was refused before it changed anything
 * (nothing to roll back to, the lock held) is the operator's answer, not an incident: the CLI
 * told them. A rollback the guardian started on its own (a failed deployment's, an alarm's) that
 * cannot run leaves the bad release live, and pages. The parent Deploy and its child Rollback of
 * one failure name the same incident (the deployment and its start), so it is opened once.
 */
export function rollbackIncident(
  environment: string,
  end: EndedWorkflow,
  deployment: DeploymentRecord | undefined,
  rollbackRecord: DeploymentRecord | undefined,
): RollbackIncidentPlan {
  if (end.kind === 'deploy' && end.error !== ROLLBACK_FAILED_ERROR) {
    return { open: false, reason: `deployment ${end.name} ended ${end.status} without a failed rollback` };
  }
  const automatic = end.input?.trigger === 'alarm' || end.input?.trigger === 'deploy-failure';
  const ranAndFailed =
    end.error === ROLLBACK_FAILED_ERROR || end.status !== 'FAILED' || rollbackRecord !== undefined;
  if (end.kind === 'rollback' && !automatic && !ranAndFailed) {
    return {
      open: false,
      reason: `operator rollback ${end.name} was refused before it changed anything (${end.error ?? 'no error'}); the command that asked said why`,
    };
  }
  const subject = end.kind === 'deploy' ? end.name : (end.input?.deploymentId ?? end.name);
  const openedAt = deployment ? new Date(deployment.startedAt) : end.startDate;
  const when = Number.isNaN(openedAt.getTime()) ? end.startDate : openedAt;
  const id = incidentId(environment, when, fnv1a(`rollback-failed\0${subject}`));
  const why = shorten(end.cause?.trim() || end.error || end.status, 600);
  const release = deployment
    ? {
        image: deployment.image,
        ...(deployment.version && { version: deployment.version }),
        deploymentId: deployment.id,
        deploymentExecutionArn: deployment.executionArn,
      }
    : undefined;
  return {
    open: true,
    id,
    incident: {
      environment,
      priority: 'P1',
      summary: shorten(
        `Rollback ${end.kind === 'deploy' ? `of deployment ${end.name}` : end.name} failed in ${environment}: ${environment} may still run the release it was undoing`,
        300,
      ),
      alarm: { name: ROLLBACK_FAILED_ERROR, severity: 'critical', reason: why },
      ...(release && { release }),
    },
  };
}
