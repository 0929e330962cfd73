/**
 * "Wait for acknowledgement" of the Escalation workflow (a `.waitForTaskToken` task): parks the
 * task's token on the incident, so `guardian ack` or the alarm's OK can end the wait with
 * SendTaskSuccess. If the incident was acknowledged or resolved since its level was paged, nobody
 * would ever send the token: the step fails with IncidentClosedError and the workflow moves on.
 */
import * as z from 'zod';
import { IncidentClosedError, NotFoundError } from '../core/errors.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep } from '../shared/step.ts';

/** The escalation-wait event (built by the Escalation workflow). */
export const escalationWaitEventSchema = z.object({
  incidentId: z.string().min(1),
  level: z.number().int().min(0),
  /** `$$.Task.Token`. */
  taskToken: z.string().min(1),
});

/** The escalation-wait step. */
export const step = defineStep('escalation-wait', escalationWaitEventSchema, async (event, deps) => {
  const { config, store, logger } = deps;
  logger.appendKeys({ incidentId: event.incidentId });
  if (await store.setEscalationToken(config.name, event.incidentId, event.level, event.taskToken)) {
    return { waiting: true, message: `Waiting for acknowledgement of incident ${event.incidentId}.` };
  }
  const incident = await store.getIncident(config.name, event.incidentId);
  if (!incident) throw new NotFoundError(`no incident ${event.incidentId} in ${config.name}`);
  throw new IncidentClosedError(
    incident.status === 'open'
      ? `incident ${incident.id} moved past level ${event.level} (now ${incident.levelReached ?? 'none'}); this wait is stale`
      : `incident ${incident.id} was ${incident.status} by ${(incident.status === 'resolved' ? incident.resolvedBy : incident.acknowledgedBy) ?? 'someone'} before the wait began`,
  );
});

/** Lambda entry point: ports and config slice from lambdas/steps.ts. */
export const handler = lambdaHandler(step);
