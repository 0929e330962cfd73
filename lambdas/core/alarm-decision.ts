/**
 * What the guardian does about an alarm state change. Pure: the handler parses the event
 * (alarm-event.ts), reads the environment's current deployment, its last promoted release and the
 * open incidents, and hands them in; this returns exactly one action with the sentence an operator
 * reads and the ids needed to carry it out. The keys for at-least-once delivery (one event handled
 * once) and for "one rollback per release" are defined here so the handler's conditional writes
 * and these decisions agree.
 */

import type { EnvironmentConfig } from '../../lib/config/schema.ts';
import {
  ALARM_SEVERITIES,
  ALARM_TAG_KEYS,
  type AlarmSeverity,
  DEGRADED_ALARM_ID,
  DEGRADED_SEVERITY,
  guardianAlarmName,
  METRIC_ALARM_IDS,
  METRIC_ALARMS,
} from './alarm-catalog.ts';
import type { AlarmEvent } from './alarm-event.ts';
import { incidentId } from './escalation.ts';
import { quote, shorten } from './text.ts';

// --- Keys for the handler's conditional writes ----------------------------------------------------

/**
 * How long a handled event id is remembered: EventBridge retries a delivery for up to 24 hours
 * (a target's maximum event age), so two days outlives every redelivery.
 */
export const ALARM_EVENT_DEDUPE_TTL_SECONDS = 2 * 24 * 3600;

/** Key of the "event handled" record: the EventBridge event id, the same for every delivery. */
export function alarmEventDedupeKey(eventId: string): string {
  return `alarm-event#${eventId}`;
}

/**
 * Key of the claim "this release is being rolled back": written once, conditionally (only if
 * absent), on the release's record before a rollback starts, so that several alarms for one bad
 * release, or duplicate deliveries racing each other, start at most one rollback.
 */
export function releaseRollbackClaimKey(environment: string, recordId: string): string {
  return `rollback-claim#${environment}#${recordId}`;
}

/** FNV-1a, 32 bits, as 8 hex digits: a stable suffix, not a secret. */
export function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/**
 * Id of the incident an alarm event opens (`<env>-<yyyymmddThhmmssZ>-<8 hex>`, the escalation's
 * execution name and PagerDuty's dedup_key): the alarm's transition time and a hash of its name
 * and that time, so every delivery of the event, and every alarm handler, names the same incident.
 */
export function incidentIdOf(environment: string, event: Pick<AlarmEvent, 'alarmName' | 'state'>): string {
  const at = new Date(event.state.at);
  const when = Number.isNaN(at.getTime()) ? new Date(0) : at;
  return incidentId(environment, when, fnv1a(`${event.alarmName}\0${event.state.at}`));
}

// --- Which environment an alarm belongs to ----------------------------------------------------------

/** What resolution needs to know about one environment. */
export interface AlarmEnvironment {
  readonly name: string;
  readonly account: string;
  readonly region: string;
  readonly service: string;
  /** Alarms the team already had, recognised by name (config `alarms.existing`). */
  readonly existing: readonly { readonly name: string; readonly severity: AlarmSeverity }[];
}

/** What {@link resolveAlarm} needs of one environment's config. */
export function alarmEnvironmentOf(
  config: Pick<EnvironmentConfig, 'name' | 'account' | 'region' | 'service' | 'alarms'>,
): AlarmEnvironment {
  return {
    name: config.name,
    account: config.account,
    region: config.region,
    service: config.service,
    existing: config.alarms.existing.map(({ name, severity }) => ({ name, severity })),
  };
}

/** Whose alarm it is, or why it is none of the guardian's business. */
export type AlarmResolution =
  | {
      readonly resolved: true;
      readonly environment: string;
      readonly severity: AlarmSeverity;
      /** How it was recognised: its tags, or its name (the guardian's scheme or `alarms.existing`). */
      readonly via: 'tags' | 'name';
    }
  | { readonly resolved: false; readonly reason: string };

function isSeverity(value: string): value is AlarmSeverity {
  return (ALARM_SEVERITIES as readonly string[]).includes(value);
}

/** The severity of `alarmName` by configured name in `env`: the guardian's own scheme or `existing`. */
function severityByName(alarmName: string, env: AlarmEnvironment): AlarmSeverity | undefined {
  for (const id of METRIC_ALARM_IDS) {
    if (guardianAlarmName(env.name, id) === alarmName) return METRIC_ALARMS[id].severity;
  }
  if (guardianAlarmName(env.name, DEGRADED_ALARM_ID) === alarmName) return DEGRADED_SEVERITY;
  return env.existing.find((e) => e.name === alarmName)?.severity;
}

/**
 * Which environment and severity an alarm event belongs to. Only environments in the event's
 * account and region qualify. A configured name (the guardian's `guardian-<env>-<Name>` or one in
 * `alarms.existing`) is authoritative; otherwise the alarm's propagated tags must name one of
 * those environments, its service and a known severity. Anything else is ignored, saying why.
 */
export function resolveAlarm(event: AlarmEvent, environments: readonly AlarmEnvironment[]): AlarmResolution {
  const alarm = quote(event.alarmName);
  const inAccount = environments.filter((e) => e.account === event.account);
  const candidates = inAccount.filter((e) => e.region === event.region);
  if (candidates.length === 0) {
    const where = environments.map((e) => `${e.name} in ${e.account}/${e.region}`).join(', ');
    const what =
      inAccount.length === 0
        ? `account ${shorten(event.account, 40)}, which no environment of this guardian runs in`
        : `region ${shorten(event.region, 40)} of account ${event.account}, where no environment of this guardian runs`;
    return { resolved: false, reason: `Alarm ${alarm} is in ${what} (${where}).` };
  }
  for (const env of candidates) {
    const severity = severityByName(event.alarmName, env);
    if (severity) return { resolved: true, environment: env.name, severity, via: 'name' };
  }
  const tags = event.tags;
  const envTag = tags?.[ALARM_TAG_KEYS.environment];
  if (!tags || envTag === undefined) {
    const tagNote =
      event.tagsStatus !== undefined && event.tagsStatus !== 'SUCCESS'
        ? ` (CloudWatch could not attach its tags: alarmTagsStatus ${quote(event.tagsStatus)})`
        : '';
    return {
      resolved: false,
      reason: `Alarm ${alarm} is not one of the guardian's alarms (guardian-<environment>-<Name> or alarms.existing) and carries no environment tag${tagNote}.`,
    };
  }
  const env = candidates.find((e) => e.name === envTag);
  if (!env) {
    return {
      resolved: false,
      reason: `Alarm ${alarm} is tagged environment=${quote(envTag)}, which is not an environment of this guardian in ${event.account}/${event.region} (${candidates.map((e) => e.name).join(', ')}).`,
    };
  }
  const service = tags[ALARM_TAG_KEYS.service];
  if (service !== env.service) {
    return {
      resolved: false,
      reason:
        service === undefined
          ? `Alarm ${alarm} is tagged environment=${env.name} but has no service tag; the guardian acts only on ${quote(env.service)}'s alarms.`
          : `Alarm ${alarm} belongs to service ${quote(service)}, not ${quote(env.service)} which the guardian deploys in ${env.name}.`,
    };
  }
  const severity = tags[ALARM_TAG_KEYS.severity];
  if (severity === undefined || !isSeverity(severity)) {
    return {
      resolved: false,
      reason: `Alarm ${alarm} of ${env.name} has ${severity === undefined ? 'no severity tag' : `severity ${quote(severity)}`}; the guardian knows ${ALARM_SEVERITIES.join(' and ')}.`,
    };
  }
  return { resolved: true, environment: env.name, severity, via: 'tags' };
}

// --- The decision -----------------------------------------------------------------------------------

/** The environment's deployment that is running now (it holds the lock). */
export interface CurrentDeployment {
  readonly id: string;
  /** `in-progress`: rolling out / checking; `monitoring`: in post-deployment monitoring. */
  readonly status: 'in-progress' | 'monitoring';
  readonly executionName: string;
  readonly executionArn: string;
  readonly image: string;
}

/** A release as the store records it. */
export interface ReleaseRef {
  readonly recordId: string;
  readonly image: string;
}

/** The environment's last promoted release and the one before it. */
export interface PromotedRelease extends ReleaseRef {
  /** When it was promoted (its record finished succeeded), ISO-8601. */
  readonly promotedAt: string;
  /** The release before it: what rolling it back restores. */
  readonly previous?: ReleaseRef;
}

/** An incident the guardian opened and nobody resolved yet. */
export interface OpenIncident {
  readonly id: string;
  readonly environment: string;
  readonly alarm: string;
}

/** What the guardian does when an alarm has too little data (config `alarms.insufficientData`). */
export type InsufficientDataPolicy = 'ignore' | 'notify' | 'escalate';

/** Everything {@link decideAlarm} decides on. */
export interface AlarmDecisionInput {
  readonly event: AlarmEvent;
  readonly resolution: AlarmResolution;
  /** Whether this event id was handled before (an EventBridge redelivery). */
  readonly duplicate: boolean;
  readonly deployment?: CurrentDeployment;
  readonly promoted?: PromotedRelease;
  /** Why no release counts as promoted, when there is more to say than "none on record". */
  readonly noPromotion?: string;
  readonly now: Date;
  readonly guardWindowSeconds: number;
  readonly openIncidents: readonly OpenIncident[];
  readonly insufficientData: InsufficientDataPolicy;
}

/** Fields every action carries. */
interface ActionBase {
  /** The environment, once the alarm is resolved to one. */
  readonly environment?: string;
  readonly alarm: string;
  readonly severity?: AlarmSeverity;
  readonly state: AlarmEvent['state']['value'];
  /** What the guardian does and why, as an operator reads it. */
  readonly reason: string;
  readonly eventId: string;
}

/** Fail the running deployment with the alarm as its reason; it rolls back through its own path. */
export interface RollbackDeploymentAction extends ActionBase {
  readonly action: 'rollback-deployment';
  readonly environment: string;
  readonly severity: AlarmSeverity;
  readonly deploymentId: string;
  readonly executionName: string;
  readonly executionArn: string;
  /** Conditional claim on the deployment's record: one rollback however many alarms fire. */
  readonly claimKey: string;
}

/** Roll the promoted release back to the one before it (an automatic rollback caused by the alarm), and open an incident. */
export interface RollbackReleaseAction extends ActionBase {
  readonly action: 'rollback-release';
  readonly environment: string;
  readonly severity: AlarmSeverity;
  readonly release: ReleaseRef;
  readonly rollbackTo: ReleaseRef;
  /** Conditional claim on the release's record: one rollback per release. */
  readonly claimKey: string;
  readonly incidentId: string;
}

/** Page people by the escalation policy; `why` says why a rollback would not help. */
export interface EscalateAction extends ActionBase {
  readonly action: 'escalate';
  readonly environment: string;
  readonly severity: AlarmSeverity;
  readonly why: string;
  readonly incidentId: string;
}

/** Tell the channels; nobody is paged. */
export interface NotifyAction extends ActionBase {
  readonly action: 'notify';
  readonly environment: string;
}

/** Resolve the incident this alarm opened (its OK arrived). */
export interface ResolveAction extends ActionBase {
  readonly action: 'resolve';
  readonly environment: string;
  readonly incidentId: string;
}

/** Do nothing, saying why. */
export interface IgnoreAction extends ActionBase {
  readonly action: 'ignore';
}

/** Exactly one thing the guardian does about an alarm event. */
export type AlarmAction =
  | RollbackDeploymentAction
  | RollbackReleaseAction
  | EscalateAction
  | NotifyAction
  | ResolveAction
  | IgnoreAction;

/** The action names, as `guardian alarm replay --json` prints them. */
export type AlarmActionName = AlarmAction['action'];

/** `12 min` / `45 s`: a duration as an operator reads it. */
function duration(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m} min` : `${Math.round(m / 6) / 10} h`;
}

/**
 * How far an alarm's transition may precede the promotion and still be blamed on the release:
 * CloudWatch stamps the transition when it evaluates, and the guardian's clock and CloudWatch's
 * can differ by a few seconds.
 */
export const CLOCK_SKEW_TOLERANCE_MS = 60_000;

/**
 * Decides what to do about one alarm event. In order: a redelivered event and an alarm that is
 * not the guardian's are ignored; OK resolves the alarm's open incident (or notifies when it
 * recovers from ALARM without one); INSUFFICIENT_DATA follows the configured policy; a warning
 * ALARM notifies; a critical ALARM fails the running deployment (it rolls back through its own
 * path), else rolls back a release promoted within the guard window to the one before it, else
 * escalates, saying why a rollback would not help. The guard window is measured from the
 * promotion to the moment the alarm entered ALARM (not to the delivery, which may be retried
 * late); the window's end is inclusive.
 */
export function decideAlarm(input: AlarmDecisionInput): AlarmAction {
  const { event, resolution } = input;
  const alarm = event.alarmName;
  const shown = quote(alarm);
  const base = { alarm, state: event.state.value, eventId: event.id } as const;
  if (input.duplicate) {
    return {
      ...base,
      action: 'ignore',
      ...(resolution.resolved ? { environment: resolution.environment, severity: resolution.severity } : {}),
      reason: `Event ${shorten(event.id, 80)} (${shown} ${event.state.value}) was already handled; EventBridge delivers at least once, so this delivery changes nothing.`,
    };
  }
  if (!resolution.resolved) return { ...base, action: 'ignore', reason: resolution.reason };
  const { environment, severity } = resolution;
  const ours = { ...base, environment, severity } as const;
  const kind = event.kind === 'composite' ? 'composite alarm' : 'alarm';

  if (event.state.value === 'OK') {
    const incident = input.openIncidents.find((i) => i.environment === environment && i.alarm === alarm);
    if (incident) {
      return {
        ...ours,
        action: 'resolve',
        incidentId: incident.id,
        reason: `${environment}: ${kind} ${shown} is OK again; resolving incident ${incident.id}.`,
      };
    }
    if (event.previousState?.value === 'ALARM') {
      return {
        ...ours,
        action: 'notify',
        reason: `${environment}: ${kind} ${shown} is OK again (no incident was open for it).`,
      };
    }
    return {
      ...ours,
      action: 'ignore',
      reason: `${environment}: ${kind} ${shown} is OK (from ${event.previousState?.value ?? 'no previous state'}); no incident is open and nothing was wrong.`,
    };
  }

  if (event.state.value === 'INSUFFICIENT_DATA') {
    const what = `${environment}: ${kind} ${shown} has too little data to evaluate (is the metric still reported?)`;
    switch (input.insufficientData) {
      case 'ignore':
        return { ...ours, action: 'ignore', reason: `${what}; alarms.insufficientData is ignore.` };
      case 'notify':
        return { ...ours, action: 'notify', reason: `${what}; notifying (alarms.insufficientData: notify).` };
      case 'escalate':
        return {
          ...ours,
          action: 'escalate',
          incidentId: incidentIdOf(environment, event),
          why: 'missing data is no evidence against the release, so nothing is rolled back',
          reason: `${what}; escalating (alarms.insufficientData: escalate). Missing data is no evidence against the release, so nothing is rolled back.`,
        };
    }
  }

  if (severity !== 'critical') {
    return {
      ...ours,
      action: 'notify',
      reason: `${environment}: warning ${kind} ${shown} is in ALARM: investigate (warnings notify; only critical alarms roll back or page).`,
    };
  }

  const deployment = input.deployment;
  if (deployment) {
    const phase = deployment.status === 'monitoring' ? 'in post-deployment monitoring' : 'in progress';
    return {
      ...ours,
      action: 'rollback-deployment',
      deploymentId: deployment.id,
      executionName: deployment.executionName,
      executionArn: deployment.executionArn,
      claimKey: releaseRollbackClaimKey(environment, deployment.id),
      reason: `${environment}: critical ${kind} ${shown} is in ALARM while deployment ${deployment.id} (${deployment.image}) is ${phase}; failing it so it rolls back through its own rollback path.`,
    };
  }

  const escalate = (why: string): EscalateAction => {
    const open = input.openIncidents.find((i) => i.environment === environment && i.alarm === alarm);
    return {
      ...ours,
      action: 'escalate',
      why,
      incidentId: open?.id ?? incidentIdOf(environment, event),
      reason: `${environment}: critical ${kind} ${shown} is in ALARM; escalating without a rollback: ${why}.`,
    };
  };
  const promoted = input.promoted;
  if (!promoted)
    return escalate(
      input.noPromotion ?? `no release of ${environment} is on record, so there is nothing to roll back`,
    );

  const promotedAt = Date.parse(promoted.promotedAt);
  const firedAt = Date.parse(event.state.at);
  const since = firedAt - promotedAt;
  const windowMs = input.guardWindowSeconds * 1000;
  if (since < -CLOCK_SKEW_TOLERANCE_MS) {
    return escalate(
      `the alarm fired at ${event.state.at}, ${duration(since)} before release ${promoted.recordId} (${promoted.image}) was promoted at ${promoted.promotedAt}, so that release did not cause it`,
    );
  }
  if (since > windowMs) {
    return escalate(
      `the last release, ${promoted.recordId} (${promoted.image}), was promoted ${duration(since)} before the alarm, beyond the ${duration(windowMs)} guard window, so it is unlikely to be the cause`,
    );
  }
  const previous = promoted.previous;
  if (!previous) {
    return escalate(
      `release ${promoted.recordId} (${promoted.image}) was promoted ${duration(Math.max(since, 0))} before the alarm, but no release before it is on record to roll back to`,
    );
  }
  if (previous.image === promoted.image) {
    return escalate(
      `release ${promoted.recordId} runs the same image as the release before it (${promoted.image}), so rolling back would change nothing`,
    );
  }
  return {
    ...ours,
    action: 'rollback-release',
    release: { recordId: promoted.recordId, image: promoted.image },
    rollbackTo: { recordId: previous.recordId, image: previous.image },
    claimKey: releaseRollbackClaimKey(environment, promoted.recordId),
    incidentId: incidentIdOf(environment, event),
    reason: `${environment}: critical ${kind} ${shown} went into ALARM ${duration(Math.max(since, 0))} after release ${promoted.recordId} (${promoted.image}) was promoted, within the ${duration(windowMs)} guard window; rolling it back to ${previous.recordId} (${previous.image}) and opening an incident.`,
  };
}

/**
 * The action when the conditional claim of a rollback failed because another event claimed the
 * release first: nothing is rolled back a second time; the operator hears that this alarm joined it.
 */
export function afterClaimLost(
  action: RollbackDeploymentAction | RollbackReleaseAction,
  claimedBy: string,
): NotifyAction {
  const target =
    action.action === 'rollback-release'
      ? `release ${action.release.recordId}`
      : `deployment ${action.deploymentId}`;
  return {
    action: 'notify',
    environment: action.environment,
    alarm: action.alarm,
    severity: action.severity,
    state: action.state,
    eventId: action.eventId,
    reason: `${action.environment}: critical alarm ${quote(action.alarm)} is in ALARM too; ${target} is already being rolled back (claimed by ${claimedBy}), so nothing is rolled back twice.`,
  };
}
