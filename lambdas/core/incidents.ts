/**
 * How an incident's status moves (open → acknowledged → resolved, never backwards). Small on
 * purpose: the store adapter, in every bundle with the store port, imports this; the incident's
 * zod schema (incident-schema.ts) and the escalation planner stay out of those bundles.
 */
import type { Incident, IncidentStatus } from './incident-schema.ts';
import { storableText } from './text.ts';

export {
  INCIDENT_ID_RE,
  INCIDENT_STATUSES,
  type Incident,
  type IncidentStatus,
  incidentSchema,
} from './incident-schema.ts';

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
