/**
 * Ports: the small interfaces through which steps reach the outside world, owned by the core.
 * Each has an AWS adapter and a local one; `lambdas/ports/table.ts` declares how each is built,
 * granted and configured.
 */

import type { ChannelMessages } from './escalation-messages.ts';
import type { Incident, IncidentActor } from './incidents.ts';
import type { AdHocFreeze, BreakerState, DeploymentRecord, LockInfo, RecordStatus } from './types.ts';

export type { WorkloadPort } from './workload.ts';

/** The one source of "now". Locally a simulated clock that Wait states advance. */
export interface Clock {
  now(): Date;
}

/** The system clock. */
export const systemClock: Clock = { now: () => new Date() };

/** Result of acquiring the environment lock. */
export type LockResult =
  | { readonly acquired: true; readonly lock: LockInfo }
  | { readonly acquired: false; readonly holder: LockInfo };

/** A guard on a record update: the write happens only if the stored record matches. */
export interface RecordCondition {
  /** The record's current status must be one of these. */
  readonly status: readonly RecordStatus[];
  /**
   * These fields must not be set yet: a claim only one writer wins (the alarm that fails or rolls
   * back a release is written once, however many alarms and duplicate deliveries race for it).
   */
  readonly unset?: readonly (keyof DeploymentRecord)[];
}

/** Durable guardian state: records, lock, circuit breaker, freezes (DynamoDB; dynalite locally). */
export interface Store {
  /** Creates a record; fails if one with the same environment and id exists. */
  putRecord(record: DeploymentRecord): Promise<void>;
  /**
   * Merges fields into an existing record and returns the result. With `condition`, only when the
   * stored record matches it; otherwise ConflictError naming the record's actual status.
   */
  updateRecord(
    environment: string,
    id: string,
    patch: Partial<DeploymentRecord>,
    condition?: RecordCondition,
  ): Promise<DeploymentRecord>;
  getRecord(environment: string, id: string): Promise<DeploymentRecord | undefined>;
  /** Newest first. */
  listRecords(environment: string, limit: number): Promise<DeploymentRecord[]>;

  /** Conditional write: succeeds if free or expired at `now`. */
  acquireLock(lock: LockInfo, now: Date): Promise<LockResult>;
  /** Releases the lock if `holder` holds it; returns whether it did. */
  releaseLock(environment: string, holder: string): Promise<boolean>;
  getLock(environment: string): Promise<LockInfo | undefined>;

  getBreaker(environment: string): Promise<BreakerState>;
  /**
   * Read-modify-write of the breaker with optimistic concurrency: `change` gets the current state
   * and returns the next one; a concurrent writer makes the store re-read and apply it again.
   * Returning the current object unchanged writes nothing. Resolves to the state written.
   */
  updateBreaker(environment: string, change: (current: BreakerState) => BreakerState): Promise<BreakerState>;

  /**
   * Remembers that event `eventId` was handled (conditional put, expiring at `expiresAt`);
   * resolves false when it was already, so an at-least-once delivery acts once.
   */
  markEventHandled(environment: string, eventId: string, expiresAt: Date): Promise<boolean>;
  /** Forgets that `eventId` was handled (its handling failed), so that EventBridge's retry acts on it. */
  forgetEvent(environment: string, eventId: string): Promise<void>;

  listFreezes(environment: string): Promise<AdHocFreeze[]>;
  putFreeze(freeze: AdHocFreeze): Promise<void>;
  deleteFreeze(environment: string, id: string): Promise<boolean>;

  // Incidents (issue 8: the escalation chain).
  /** Creates an incident; one per id: a second put returns the stored one with `created: false`. */
  putIncident(incident: Incident): Promise<{ readonly created: boolean; readonly incident: Incident }>;
  getIncident(environment: string, id: string): Promise<Incident | undefined>;
  /** Newest first (ids sort by opening time). */
  listIncidents(environment: string, limit: number): Promise<Incident[]>;
  /**
   * Moves an incident forward (open → acknowledged → resolved) with a conditional write; a
   * transition that no longer applies is a no-op that says why. NotFoundError when there is none.
   * The result carries the incident as written, with the task token to send SendTaskSuccess to.
   */
  transitionIncident(
    environment: string,
    id: string,
    to: 'acknowledged' | 'resolved',
    actor: IncidentActor,
    now: Date,
  ): Promise<IncidentTransitionResult>;
  /**
   * Records that `level` was paged, while the incident is open; returns the incident as written,
   * or undefined when it is no longer open (nothing is written).
   */
  recordEscalationLevel(
    environment: string,
    id: string,
    level: EscalationLevelReached,
  ): Promise<Incident | undefined>;
  /**
   * Stores the waiting task's token while the incident is open and still at `level`; false when
   * it was acknowledged or resolved meanwhile (the caller ends the wait itself).
   */
  setEscalationToken(environment: string, id: string, level: number, taskToken: string): Promise<boolean>;

  // Alarm states (issue 8: preflight's alarm check, locally). The local Alarms adapter reads them;
  // the local runner's alarm replay writes them. In AWS, CloudWatch keeps them (DescribeAlarms).
  /** The last stored state of alarm `name` of `environment`; undefined when none was stored. */
  getAlarmState(environment: string, name: string): Promise<AlarmState | undefined>;
  /**
   * Stores the state of alarm `name`, unless a state with a later `updatedAt` is stored already
   * (events arrive out of order); resolves whether it was written.
   */
  putAlarmState(environment: string, name: string, state: AlarmState): Promise<boolean>;
}

/** What {@link Store.transitionIncident} did. */
export interface IncidentTransitionResult {
  /** Whether this call changed the status (false: a no-op, see `message`). */
  readonly changed: boolean;
  readonly incident: Incident;
  readonly message: string;
}

/** One paged level, as the incident keeps it. */
export interface EscalationLevelReached {
  readonly level: number;
  readonly contact: string;
  readonly at: string;
  readonly executionArn: string;
}

/** Secret values by name or ARN: Secrets Manager in AWS (cached per container), a dict locally. */
export interface Secrets {
  /** The secret's string value; NotFoundError naming the secret when there is none. */
  get(nameOrArn: string): Promise<string>;
}

/** The escalation channels. */
export type ChannelName = 'pagerduty' | 'slack' | 'sns';

/** What delivering one notice to one channel came to. */
export interface ChannelResult {
  readonly channel: ChannelName;
  readonly delivered: boolean;
  /** Attempts made (retries of 429, 5xx and network errors included). */
  readonly attempts: number;
  /** The last HTTP status, when there was one. */
  readonly status?: number;
  /** Why it was not delivered, for the operator. */
  readonly error?: string;
}

/** The secret values a delivery needs (read through the Secrets port by the step). */
export interface ChannelSecrets {
  readonly pagerdutyRoutingKey?: string;
  readonly slackWebhookUrl?: string;
}

/**
 * Delivers rendered messages to every channel in parallel, each with bounded retries; one
 * channel's failure is reported in its result and never stops the others. Never throws for a
 * delivery problem.
 */
export interface Notifier {
  deliver(messages: ChannelMessages, secrets: ChannelSecrets): Promise<ChannelResult[]>;
}

/** A plain HTTP GET used by health checks (global `fetch` in AWS and locally). */
export type HttpGet = (
  url: string,
  timeoutMs: number,
) => Promise<{ status: number; body: string; elapsedMs: number }>;

/** A workflow the guardian starts from an event (the alarm handler). */
export type StartableWorkflow = 'rollback' | 'escalation';

/**
 * Step Functions as the alarm handler drives it: start the environment's workflows and end tasks
 * waiting for a task token (a deploy's rollout or monitoring wait). Executions are named by the
 * caller, so an at-least-once event that starts the same one twice gets the first one back.
 */
export interface Workflows {
  /** Starts `kind` named `name`; an execution of that name that exists already is returned with `started: false`. */
  start(
    kind: StartableWorkflow,
    name: string,
    input: unknown,
  ): Promise<{ readonly executionArn: string; readonly started: boolean }>;
  /** Fails the task waiting for `token`; false when nothing waits for it any more (it timed out or ended). */
  failTask(token: string, error: string, cause: string): Promise<boolean>;
  /** Ends the task waiting for `token` with `output`; false when nothing waits for it any more. */
  succeedTask(token: string, output: unknown): Promise<boolean>;
}

// --- Alarm states (issue 8): preflight refuses while the environment's composite alarm fires. ---

/** The states of a CloudWatch alarm. */
export const ALARM_STATE_VALUES = ['OK', 'ALARM', 'INSUFFICIENT_DATA'] as const;
/** A CloudWatch alarm state. */
export type AlarmStateValue = (typeof ALARM_STATE_VALUES)[number];

/** An alarm's current state as CloudWatch reports it. */
export interface AlarmState {
  readonly value: AlarmStateValue;
  /** CloudWatch's StateReason: why the alarm is in this state. */
  readonly reason?: string;
  /** When the alarm entered this state (ISO 8601). */
  readonly updatedAt?: string;
}

/**
 * Reads alarm states: CloudWatch DescribeAlarms in AWS; locally the last state the alarm replay
 * stored (no stored state reads as OK).
 */
export interface AlarmStates {
  /** The state of alarm `alarmName` (metric or composite); undefined when there is no such alarm. */
  stateOf(alarmName: string): Promise<AlarmState | undefined>;
}
