/**
 * The incident model and how an incident's status moves (open → acknowledged → resolved, never
 * backwards). Pure and small on purpose: the store adapter, in every bundle with the store port,
 * imports this and not the escalation planner.
 */
import * as z from 'zod';
import { PRIORITIES } from '../../lib/config/schema.ts';
import { storableText } from './text.ts';

/** `<environment>-<yyyymmddThhmmssZ>-<8 hex>`: sortable by opening time, a valid execution name. */
export const INCIDENT_ID_RE = /^([a-z0-9-]+)-(\d{8}T\d{6}Z)-([0-9a-f]{8})$/;

/** Where an incident is in its life; it only ever moves forward. */
export const INCIDENT_STATUSES = ['open', 'acknowledged', 'resolved'] as const;
/** Where an incident is in its life. */
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number];

/** Free text stored on an incident: one line, controls escaped. */
const text = () => z.string().min(1).transform(storableText);

/** An incident: one alarm's trouble in one environment, and how far its escalation went. */
export const incidentSchema = z.object({
  /** `<environment>-<opened, UTC>-<8 hex>`; also the Escalation execution's name. */
  id: z.string().regex(INCIDENT_ID_RE, 'must be <environment>-<yyyymmddThhmmssZ>-<8 hex>'),
  environment: z.string().min(1),
  priority: z.enum(PRIORITIES),
  status: z.enum(INCIDENT_STATUSES),
  /** What the people paged read first, e.g. "HighErrorRate in production after release v1.2.3". */
  summary: text(),
  /** The alarm that opened it. */
  alarm: z.object({
    name: z.string().min(1),
    /** `critical`, `warning` (the alarm's `severity` tag). */
    severity: z.string().min(1).optional(),
    /** CloudWatch's state reason. */
    reason: text().optional(),
    arn: z.string().min(1).optional(),
  }),
  /** The release it concerns: image and version as recorded, and the record id of its deployment. */
  release: z
    .object({
      image: z.string().min(1).optional(),
      version: z.string().min(1).optional(),
      deploymentId: z.string().min(1).optional(),
      deploymentExecutionArn: z.string().min(1).optional(),
      /** The automatic rollback the alarm caused, if any. */
      rollbackId: z.string().min(1).optional(),
    })
    .optional(),
  openedAt: z.iso.datetime({ offset: true }),
  updatedAt: z.iso.datetime({ offset: true }),
  acknowledgedAt: z.iso.datetime({ offset: true }).optional(),
  acknowledgedBy: text().optional(),
  resolvedAt: z.iso.datetime({ offset: true }).optional(),
  resolvedBy: text().optional(),
  resolution: text().optional(),
  /** Index of the last level paged (0 = the first), when, and whom. */
  levelReached: z.number().int().min(0).optional(),
  levelReachedAt: z.iso.datetime({ offset: true }).optional(),
  levelContact: z.string().min(1).optional(),
  /** The Escalation execution working on it. */
  escalationExecutionArn: z.string().min(1).optional(),
  /** The token of the execution's current "Wait for acknowledgement" task (SendTaskSuccess ends the chain). */
  taskToken: z.string().min(1).optional(),
});
/** An incident as stored. */
export type Incident = z.infer<typeof incidentSchema>;

/** Who acknowledges or resolves, and why. */
export interface IncidentActor {
  /** `alice`, `pagerduty:PXYZ123`, `alarm HighErrorRate (OK)`. */
  readonly by: string;
  readonly reason?: string;
}

/** A status change of an incident the store carries out with a conditional write. */
export type IncidentTransition =
  | {
      readonly kind: 'change';
      /** The write happens only while the stored status is one of these. */
      readonly from: readonly IncidentStatus[];
      readonly patch: Partial<Incident>;
      readonly message: string;
    }
  | { readonly kind: 'no-op'; readonly message: string };

/**
 * Moves `incident` to `to` (never backwards): open → acknowledged, open or acknowledged →
 * resolved. Acknowledging an acknowledged or resolved incident, or resolving a resolved one, is
 * a no-op that says who got there first.
 */
export function planIncidentTransition(
  incident: Incident,
  to: 'acknowledged' | 'resolved',
  actor: IncidentActor,
  now: Date,
): IncidentTransition {
  const at = now.toISOString();
  const by = storableText(actor.by);
  if (incident.status === 'resolved') {
    return {
      kind: 'no-op',
      message: `Incident ${incident.id} was already resolved by ${incident.resolvedBy ?? 'someone'} at ${incident.resolvedAt ?? 'an unknown time'}; nothing to ${to === 'acknowledged' ? 'acknowledge' : 'resolve'}.`,
    };
  }
  if (to === 'acknowledged') {
    if (incident.status === 'acknowledged') {
      return {
        kind: 'no-op',
        message: `Incident ${incident.id} was already acknowledged by ${incident.acknowledgedBy ?? 'someone'} at ${incident.acknowledgedAt ?? 'an unknown time'}.`,
      };
    }
    return {
      kind: 'change',
      from: ['open'],
      patch: { status: 'acknowledged', acknowledgedAt: at, acknowledgedBy: by, updatedAt: at },
      message: `Incident ${incident.id} acknowledged by ${by}: the escalation stops${incident.levelContact ? ` at ${incident.levelContact}` : ''}.`,
    };
  }
  return {
    kind: 'change',
    from: ['open', 'acknowledged'],
    patch: {
      status: 'resolved',
      resolvedAt: at,
      resolvedBy: by,
      updatedAt: at,
      ...(actor.reason ? { resolution: storableText(actor.reason) } : {}),
    },
    message: `Incident ${incident.id} resolved by ${by}${actor.reason ? ` (${storableText(actor.reason)})` : ''}.`,
  };
}

/**
 * The output to send with SendTaskSuccess to the incident's waiting task, so the Escalation
 * execution ends and announces why.
 */
export function escalationTaskOutput(
  incident: Pick<Incident, 'id' | 'status' | 'acknowledgedBy' | 'resolvedBy'>,
): {
  readonly incidentId: string;
  readonly status: IncidentStatus;
  readonly by?: string;
} {
  const by = incident.status === 'resolved' ? incident.resolvedBy : incident.acknowledgedBy;
  return { incidentId: incident.id, status: incident.status, ...(by ? { by } : {}) };
}
