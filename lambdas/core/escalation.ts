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
import type { EscalationConfig, EscalationLevelConfig, PRIORITIES } from '../../lib/config/schema.ts';
import { describeWallTime, nextBusinessDayStart } from './business-hours.ts';
import { InvalidInputError } from './errors.ts';
import { INCIDENT_ID_RE, type Incident, incidentSchema } from './incidents.ts';
import { MAX_EXECUTION_NAME } from './naming.ts';
import { quote } from './text.ts';

export {
  escalationTaskOutput,
  INCIDENT_STATUSES,
  type Incident,
  type IncidentActor,
  type IncidentStatus,
  type IncidentTransition,
  incidentSchema,
  planIncidentTransition,
} from './incidents.ts';

/** An incident's priority (runbook: P1 critical, P2 high, P3 medium). */
export type Priority = (typeof PRIORITIES)[number];

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
