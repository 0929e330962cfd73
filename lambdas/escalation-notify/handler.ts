/**
 * "Page level" and "Announce closure" of the Escalation workflow. `page`: while the incident is
 * open, records the level reached and pages its contact on every configured channel, then tells
 * the workflow how long to wait for an acknowledgement. `close`: tells every channel the incident
 * was acknowledged or resolved (PagerDuty acknowledge/resolve with the incident's dedup key). A
 * channel that fails is reported in the result and never stops the others or the chain.
 */
import * as z from 'zod';
import { NotFoundError } from '../core/errors.ts';
import { levelStep, planEscalation } from '../core/escalation.ts';
import { channelMessages, type EscalationNotice, incidentLinks } from '../core/escalation-messages.ts';
import type { ChannelResult } from '../core/ports.ts';
import { deliverMessages } from '../shared/deliver.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep, type StepDeps } from '../shared/step.ts';

/** The escalation-notify event (built by the Escalation workflow). */
export const escalationNotifyEventSchema = z.object({
  action: z.enum(['page', 'close']),
  incidentId: z.string().min(1),
  /** The level to page (`page` only). */
  level: z.number().int().min(0).optional(),
  /** `$$.Execution`. */
  execution: z.looseObject({ Id: z.string().min(1), Name: z.string().min(1) }),
});

type Deps = StepDeps<'escalation-notify'>;

/** What "Page level" and "Announce closure" return (the workflow reads `open`, `last`, `nextLevel`, `waitSeconds`). */
export interface EscalationNotifyResult {
  /** `page`: whether the incident was still open (false: nobody was paged, the chain ends). */
  readonly open?: boolean;
  /** The incident's status (`close`, or a `page` that found it closed). */
  readonly status?: string;
  readonly level?: number;
  readonly contact?: string;
  readonly last?: boolean;
  readonly nextLevel?: number;
  /** How long "Wait for acknowledgement" waits (its TimeoutSecondsPath). */
  readonly waitSeconds?: number;
  readonly waitUntil?: string;
  /** One result per configured channel. */
  readonly deliveries: readonly ChannelResult[];
  readonly message: string;
}

/** Delivers a notice about an incident to every configured channel (lambdas/shared/deliver.ts). */
function deliver(notice: EscalationNotice, deps: Deps): Promise<ChannelResult[]> {
  return deliverMessages(
    channelMessages(notice, deps.config.escalation.channels),
    deps,
    `incident ${notice.incident.id}`,
  );
}

/** The escalation-notify step. */
export const step = defineStep(
  'escalation-notify',
  escalationNotifyEventSchema,
  async (event, deps): Promise<EscalationNotifyResult> => {
    const { config, store, clock, logger } = deps;
    const executionArn = event.execution.Id;
    logger.appendKeys({ incidentId: event.incidentId, executionArn });
    const incident = await store.getIncident(config.name, event.incidentId);
    if (!incident) throw new NotFoundError(`no incident ${event.incidentId} in ${config.name}`);
    const links = (i: typeof incident) => incidentLinks(i, config.region, executionArn);

    if (event.action === 'close') {
      if (incident.status === 'open') {
        const message = `Escalation of incident ${incident.id} reached its last level and its time ran out without acknowledgement; the incident stays open (guardian ack ${incident.id}).`;
        logger.warn(message);
        return { status: incident.status, deliveries: [], message };
      }
      const deliveries = await deliver({ kind: incident.status, incident, links: links(incident) }, deps);
      return {
        status: incident.status,
        deliveries,
        message: `Incident ${incident.id} ${incident.status} by ${(incident.status === 'resolved' ? incident.resolvedBy : incident.acknowledgedBy) ?? 'someone'}; the escalation ends.`,
      };
    }

    const level = event.level ?? 0;
    const now = clock.now();
    const closed = (status: string): EscalationNotifyResult => ({
      open: false,
      status,
      deliveries: [],
      message: `Incident ${incident.id} is ${status}: nobody else is paged.`,
    });
    if (incident.status !== 'open') return closed(incident.status);
    const turn = levelStep(planEscalation(incident, config.escalation), level, now);
    const written = await store.recordEscalationLevel(config.name, incident.id, {
      level,
      contact: turn.level.contact,
      at: now.toISOString(),
      executionArn,
    });
    // Acknowledged or resolved between the read and the write.
    if (!written) return closed((await store.getIncident(config.name, incident.id))?.status ?? 'gone');
    const deliveries = await deliver(
      { kind: 'page', incident: written, step: turn, links: links(written) },
      deps,
    );
    logger.info(turn.message);
    return {
      open: true,
      level,
      contact: turn.level.contact,
      last: turn.last,
      ...(turn.nextLevel !== undefined ? { nextLevel: turn.nextLevel } : {}),
      waitSeconds: turn.waitSeconds,
      waitUntil: turn.waitUntil,
      deliveries,
      message: turn.message,
    };
  },
);

/** Lambda entry point: ports and config slice from lambdas/steps.ts. */
export const handler = lambdaHandler(step);
