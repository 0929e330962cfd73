/**
 * The escalation chain's decisions (runbook "Escalation Path"), pure: the incident model, who is
 * paged when for a priority, what the next level of an Escalation execution does, how an incident
 * moves open → acknowledged → resolved, and the PagerDuty severity of a priority. Each decision
 * comes with the sentence an operator reads.
 *
 * The runbook's "On-call → Bolt (10 min no response) → CTO (20 min no response)" is read as
 * minutes after the incident opened: the lead is paged at +10, the CTO at +20 (10 minutes after
 * the lead), not at +30. Config (`escalation.policy`) can say otherwise.
 */
import * as z from 'zod';
import { type EscalationConfig, type EscalationLevelConfig, PRIORITIES } from '../../lib/config/schema.ts';
import { describeWallTime, nextBusinessDayStart } from './business-hours.ts';
import { InvalidInputError } from './errors.ts';
import { MAX_EXECUTION_NAME } from './naming.ts';
import { quote, storableText } from './text.ts';

/** An incident's priority (runbook: P1 critical, P2 high, P3 medium). */
export type Priority = (typeof PRIORITIES)[number];

/** Where an incident is in its life; it only ever moves forward. */
export const INCIDENT_STATUSES = ['open', 'acknowledged', 'resolved'] as const;
/** Where an incident is in its life. */
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number];

/** `<environment>-<yyyymmddThhmmssZ>-<8 hex>`: sortable by opening time, a valid execution name. */
const INCIDENT_ID_RE = /^([a-z0-9-]+)-(\d{8}T\d{6}Z)-([0-9a-f]{8})$/;

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

/** What the alarm handler knows when it opens an incident. */
export type NewIncident = Pick<Incident, 'environment' | 'priority' | 'summary' | 'alarm' | 'release'>;

function compactUtc(at: Date): string {
  return at
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

/**
 * The id of an incident opened at `openedAt`: `<environment>-<yyyymmddThhmmssZ>-<suffix>`, e.g.
 * `production-20261203T035100Z-4f2a9c1e`. The caller picks the suffix (random, or a hash of the
 * alarm event so a redelivered event gets the same id). Ids of one environment sort by opening
 * time, and each is a valid Step Functions execution name.
 */
export function incidentId(environment: string, openedAt: Date, suffix: string): string {
  if (!/^[0-9a-f]{8}$/.test(suffix)) {
    throw new InvalidInputError(`incident id suffix ${quote(suffix)} must be 8 lowercase hex digits`);
  }
  const id = `${environment}-${compactUtc(openedAt)}-${suffix}`;
  if (!INCIDENT_ID_RE.test(id) || id.length > MAX_EXECUTION_NAME) {
    throw new InvalidInputError(
      `environment ${quote(environment)} gives an incident id that is not a valid execution name (${id.length} characters, at most ${MAX_EXECUTION_NAME} of a-z, 0-9, -)`,
    );
  }
  return id;
}

/** The environment an incident id names, or undefined when it is no incident id. */
export function environmentOfIncident(id: string): string | undefined {
  return INCIDENT_ID_RE.exec(id)?.[1];
}

/** A new, open incident (nothing paged yet). */
export function openIncident(input: NewIncident, id: string, now: Date): Incident {
  if (environmentOfIncident(id) !== input.environment) {
    throw new InvalidInputError(
      `incident id ${quote(id)} does not belong to environment ${input.environment}`,
    );
  }
  const at = now.toISOString();
  return incidentSchema.parse({ ...input, id, status: 'open', openedAt: at, updatedAt: at });
}

/** The name of the Escalation execution of an incident: its id, so Step Functions refuses a second. */
export function escalationExecutionName(incident: Pick<Incident, 'id'>): string {
  return incident.id;
}

/** Input of an Escalation execution. */
export const escalationInputSchema = z.strictObject({
  /** The incident, already in the store (the execution reads it; the name is its id). */
  incidentId: z.string().regex(INCIDENT_ID_RE, 'must be an incident id'),
});
/** Input of an Escalation execution. */
export type EscalationInput = z.infer<typeof escalationInputSchema>;

/** PagerDuty Events API v2 severities. */
export type PagerDutySeverity = 'critical' | 'error' | 'warning' | 'info';

const SEVERITY_OF_PRIORITY: Readonly<Record<Priority, PagerDutySeverity>> = {
  P1: 'critical',
  P2: 'error',
  P3: 'warning',
};

/**
 * PagerDuty's severity of a priority: P1 critical, P2 error, P3 warning; `info` for notices
 * that are no incident (a warning alarm that only notifies).
 */
export function pagerDutySeverity(priority: Priority | undefined): PagerDutySeverity {
  return priority ? SEVERITY_OF_PRIORITY[priority] : 'info';
}

/** One level of an incident's escalation, with the moment it is due. */
export interface PlannedLevel {
  /** 0 for the first level. */
  readonly index: number;
  /** Contact key in config (`devops-lead`). */
  readonly contact: string;
  /** How messages name them. */
  readonly name: string;
  /** How Slack mentions them. */
  readonly slack?: string;
  /** When this level is paged if nobody acknowledged (ISO, UTC). */
  readonly at: string;
  /** Why then, in words: "10 min after the incident opened". */
  readonly rule: string;
}

/** Who an incident pages when. */
export interface EscalationPlan {
  readonly priority: Priority;
  readonly levels: readonly PlannedLevel[];
  /**
   * When the chain stops waiting after the last level: `maxOpenHours` after the incident opened,
   * never before the last level is due. The incident itself stays open.
   */
  readonly expiresAt: string;
}

function levelTime(level: EscalationLevelConfig, opened: Date, config: EscalationConfig): [Date, string] {
  if ('afterMinutes' in level) {
    const at = new Date(opened.getTime() + level.afterMinutes * 60_000);
    return [
      at,
      level.afterMinutes === 0
        ? 'when the incident opened'
        : `${level.afterMinutes} min after the incident opened`,
    ];
  }
  const at = nextBusinessDayStart(opened, config.businessHours);
  return [at, `start of the next business day, ${describeWallTime(at, config.businessHours.timeZone)}`];
}

/** The escalation of an incident of `priority` opened at `openedAt`, from the environment's policy. */
export function planEscalation(
  incident: Pick<Incident, 'priority' | 'openedAt'>,
  config: EscalationConfig,
): EscalationPlan {
  const opened = new Date(incident.openedAt);
  const levels = config.policy[incident.priority].map((level, index): PlannedLevel => {
    const contact = config.contacts[level.contact];
    if (!contact) {
      // The schema refuses this; a hand-built config in a test may not.
      throw new InvalidInputError(
        `escalation.policy.${incident.priority}[${index}] names unknown contact ${quote(level.contact)}`,
      );
    }
    const [at, rule] = levelTime(level, opened, config);
    return {
      index,
      contact: level.contact,
      name: contact.name,
      ...(contact.slack ? { slack: contact.slack } : {}),
      at: at.toISOString(),
      rule,
    };
  });
  const last = levels.at(-1);
  const maxAge = opened.getTime() + config.maxOpenHours * 3_600_000;
  const expires = Math.max(maxAge, last ? Date.parse(last.at) : maxAge);
  return { priority: incident.priority, levels, expiresAt: new Date(expires).toISOString() };
}

/** What one turn of the Escalation loop does: page `level`, then wait `waitSeconds` for an ack. */
export interface LevelStep {
  readonly level: PlannedLevel;
  /** The level after this one, if any. */
  readonly next?: PlannedLevel;
  /** Whether this is the last level (after its wait, the chain ends). */
  readonly last: boolean;
  /** Index to page after the wait times out (absent after the last level). */
  readonly nextLevel?: number;
  /** How long "Wait for acknowledgement" waits: until the next level is due (at least 1 s). */
  readonly waitSeconds: number;
  /** When that wait ends (ISO). */
  readonly waitUntil: string;
  /** The operator's sentence. */
  readonly message: string;
}

/**
 * The turn of the loop for level `index` at `now`. A level already overdue (the execution started
 * late, a step was retried) is paged at once and the next one follows a second later, so nobody
 * is skipped.
 */
export function levelStep(plan: EscalationPlan, index: number, now: Date): LevelStep {
  const level = plan.levels[index];
  if (!level) {
    throw new InvalidInputError(
      `escalation level ${index} does not exist: a ${plan.priority} incident has ${plan.levels.length} level(s)`,
    );
  }
  const next = plan.levels[index + 1];
  const until = Date.parse(next ? next.at : plan.expiresAt);
  const waitSeconds = Math.max(1, Math.ceil((until - now.getTime()) / 1000));
  const waitUntil = new Date(now.getTime() + waitSeconds * 1000).toISOString();
  const of = `level ${index + 1} of ${plan.levels.length}`;
  const message = next
    ? `Paging ${level.name} (${of}, ${level.rule}); ${next.name} follows at ${next.at} (${next.rule}) unless someone acknowledges.`
    : `Paging ${level.name} (${of}, ${level.rule}); this is the last level: the chain waits for acknowledgement or resolution until ${waitUntil}.`;
  return {
    level,
    ...(next ? { next, nextLevel: index + 1 } : {}),
    last: !next,
    waitSeconds,
    waitUntil,
    message,
  };
}

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
