/**
 * "Alarm handler": EventBridge delivers every CloudWatch alarm state change the environment's rule
 * matches (at least once, retried, then dead-lettered). The event is parsed (alarm-event.ts),
 * resolved to this environment or ignored, deduplicated by its id, and decided on from the store
 * (alarm-situation.ts, alarm-decision.ts); then exactly one action is carried out:
 * - rollback-deployment: a conditional write puts the alarm on the running deployment's record
 *   and the task it waits on is failed, so it rolls back through its own path at once (or at its
 *   next wait, which reads the record);
 * - rollback-release: a conditional write claims the promoted release (one rollback however many
 *   alarms fire), the Rollback workflow is started as an automatic rollback caused by the alarm,
 *   and an incident is opened and escalated;
 * - escalate: an incident is opened and its Escalation execution started (named by the incident,
 *   so a second start is refused by Step Functions);
 * - resolve: the alarm's incident is resolved and its escalation ended;
 * - notify: Slack and SNS are told (PagerDuty only gets incidents);
 * - ignore: nothing, with the reason logged.
 * If carrying out fails, the event is forgotten again so EventBridge's retry acts on it.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import * as z from 'zod';
import {
  ALARM_EVENT_DEDUPE_TTL_SECONDS,
  type AlarmAction,
  type AlarmActionName,
  type AlarmResolution,
  afterClaimLost,
  alarmEnvironmentOf,
  decideAlarm,
  type EscalateAction,
  type OpenIncident,
  type ResolveAction,
  type RollbackDeploymentAction,
  type RollbackReleaseAction,
  resolveAlarm,
} from '../core/alarm-decision.ts';
import { type AlarmEvent, parseAlarmEvent } from '../core/alarm-event.ts';
import { ALARM_RECORDS_READ, type AlarmSituation, alarmSituation } from '../core/alarm-situation.ts';
import { ConflictError, InvalidInputError } from '../core/errors.ts';
import { escalationExecutionName, type Incident, openIncident, type Priority } from '../core/escalation.ts';
import {
  alarmNoticeMessages,
  channelMessages,
  executionConsoleUrl,
  incidentLinks,
  type NoticeLink,
} from '../core/escalation-messages.ts';
import { escalationTaskOutput } from '../core/incidents.ts';
import { releaseLabel } from '../core/naming.ts';
import type { ChannelResult } from '../core/ports.ts';
import { shorten, storableText } from '../core/text.ts';
import type { AlarmMark, DeploymentRecord } from '../core/types.ts';
import { deliverMessages } from '../shared/deliver.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep, type StepDeps } from '../shared/step.ts';

type Deps = StepDeps<'alarm-handler'>;

/** Any JSON: parseAlarmEvent says exactly what is wrong with it. */
export const alarmHandlerEventSchema = z.unknown();

/** How many incidents are read to find the one an alarm opened. */
const INCIDENTS_READ = 50;
/** Step Functions' limit on an execution name. */
const EXECUTION_NAME_MAX = 80;
/** Suffix of the Rollback execution an alarm starts: `<deployment id>-alarm`. */
export const ALARM_ROLLBACK_SUFFIX = '-alarm';

/** What the handler did (also what `guardian alarm replay --json` prints). */
export interface AlarmHandlerResult {
  readonly action: AlarmActionName;
  readonly environment?: string;
  readonly alarm: string;
  readonly severity?: string;
  readonly state?: string;
  /** The decision's sentence. */
  readonly reason: string;
  readonly eventId?: string;
  /** rollback-deployment: the deployment failed; rollback-release: the release rolled back. */
  readonly deploymentId?: string;
  /** rollback-release: the image rolled back to. */
  readonly rollbackTo?: string;
  readonly rollback?: { readonly executionArn: string; readonly started: boolean };
  /** rollback-deployment: whether the deployment's wait was ended at once (else its next wait ends it). */
  readonly waitEnded?: boolean;
  readonly incidentId?: string;
  readonly escalation?: { readonly executionArn: string; readonly started: boolean };
  /** Channels told, one result each. */
  readonly deliveries?: readonly ChannelResult[];
  /** What was done, as an operator reads it. */
  readonly message: string;
}

/** The rollback an alarm starts for `recordId`: `<id>-alarm`, within Step Functions' 80 characters. */
export function alarmRollbackName(recordId: string): string {
  return `${recordId.slice(0, EXECUTION_NAME_MAX - ALARM_ROLLBACK_SUFFIX.length)}${ALARM_ROLLBACK_SUFFIX}`;
}

/** The priority of an incident an alarm opens: critical pages as P1, INSUFFICIENT_DATA as P2, a warning as P3. */
export function priorityOf(action: Pick<AlarmAction, 'severity' | 'state'>): Priority {
  if (action.state === 'INSUFFICIENT_DATA') return 'P2';
  return action.severity === 'critical' ? 'P1' : 'P3';
}

function resultOf(action: AlarmAction, extra: Partial<AlarmHandlerResult> = {}): AlarmHandlerResult {
  return {
    action: action.action,
    ...(action.environment !== undefined && { environment: action.environment }),
    alarm: action.alarm,
    ...(action.severity !== undefined && { severity: action.severity }),
    state: action.state,
    reason: action.reason,
    eventId: action.eventId,
    message: action.reason,
    ...extra,
  };
}

/** The mark a critical alarm leaves on the record it fails or rolls back. */
function alarmMark(event: AlarmEvent): AlarmMark {
  return {
    name: event.alarmName,
    reason: storableText(shorten(event.state.reason || `${event.alarmName} is ${event.state.value}`, 1000)),
    at: event.state.at,
    eventId: event.id,
  };
}

/** The alarm handler step. */
export const step = defineStep('alarm-handler', alarmHandlerEventSchema, async (raw, deps) => {
  const { config, store, clock, logger } = deps;
  const parsed = parseAlarmEvent(raw);
  if (!parsed.ok) {
    if (parsed.kind === 'malformed') {
      throw new InvalidInputError(`not a valid alarm state change event: ${parsed.problems.join('; ')}`);
    }
    logger.info(parsed.message);
    const id = (raw as { id?: unknown }).id;
    return {
      action: 'ignore',
      alarm: '',
      ...(typeof id === 'string' && { eventId: id }),
      reason: parsed.message,
      message: parsed.message,
    } satisfies AlarmHandlerResult;
  }
  const event = parsed.event;
  logger.appendKeys({ eventId: event.id, alarmName: event.alarmName, alarmState: event.state.value });
  const resolution = resolveAlarm(event, [alarmEnvironmentOf(config)]);
  const now = clock.now();
  const base = {
    event,
    resolution,
    now,
    guardWindowSeconds: config.alarms.guardWindowSeconds,
    insufficientData: config.alarms.insufficientData,
    openIncidents: [],
  } as const;
  if (!resolution.resolved) {
    const ignored = decideAlarm({ ...base, duplicate: false });
    logger.info(ignored.reason);
    return resultOf(ignored);
  }
  const expiresAt = new Date(now.getTime() + ALARM_EVENT_DEDUPE_TTL_SECONDS * 1000);
  if (!(await store.markEventHandled(config.name, event.id, expiresAt))) {
    const duplicate = decideAlarm({ ...base, duplicate: true });
    logger.info(duplicate.reason);
    deps.metrics.addMetric('AlarmEventDuplicate', MetricUnit.Count, 1);
    return resultOf(duplicate);
  }
  try {
    const result = await handle(event, resolution, deps);
    deps.metrics.addMetric(`AlarmAction_${result.action}`, MetricUnit.Count, 1);
    (result.action === 'ignore' ? logger.info : logger.warn).call(logger, result.message);
    return result;
  } catch (err) {
    // Not handled after all: EventBridge's retry must find the event new.
    await store.forgetEvent(config.name, event.id).catch(() => undefined);
    throw err;
  }
});

/** Reads where the environment stands and carries out the decision. */
async function handle(
  event: AlarmEvent,
  resolution: Extract<AlarmResolution, { resolved: true }>,
  deps: Deps,
  attempt = 1,
): Promise<AlarmHandlerResult> {
  const { config, store, clock } = deps;
  const now = clock.now();
  const [lock, records, incidents] = await Promise.all([
    store.getLock(config.name),
    store.listRecords(config.name, ALARM_RECORDS_READ),
    store.listIncidents(config.name, INCIDENTS_READ),
  ]);
  const situation: AlarmSituation = alarmSituation(lock, records, now);
  const openIncidents: OpenIncident[] = incidents
    .filter((i) => i.status !== 'resolved')
    .map((i) => ({ id: i.id, environment: i.environment, alarm: i.alarm.name }));
  const action = decideAlarm({
    event,
    resolution,
    duplicate: false,
    ...situation,
    now,
    guardWindowSeconds: config.alarms.guardWindowSeconds,
    insufficientData: config.alarms.insufficientData,
    openIncidents,
  });
  const again = () => {
    // The record moved on between the read and the claim (the deployment finished, an operator
    // rolled back): decide once more on what the store says now.
    if (attempt >= 3)
      throw new ConflictError(`the ${config.name} records kept changing while handling ${event.id}`);
    return handle(event, resolution, deps, attempt + 1);
  };
  switch (action.action) {
    case 'ignore':
      return resultOf(action);
    case 'notify':
      return notify(action, event, deps);
    case 'resolve':
      return resolve(action, incidents, deps);
    case 'escalate':
      return escalate(action, event, records, deps);
    case 'rollback-deployment':
      return failDeployment(action, event, deps, again);
    case 'rollback-release':
      return rollbackRelease(action, event, records, deps, again);
  }
}

async function notify(
  action: AlarmAction & { environment: string },
  event: AlarmEvent,
  deps: Deps,
  links: readonly NoticeLink[] = [],
): Promise<AlarmHandlerResult> {
  const deliveries = await deliverMessages(
    alarmNoticeMessages(
      {
        environment: action.environment,
        alarm: action.alarm,
        ...(action.severity && { severity: action.severity }),
        state: action.state,
        reason: action.reason,
        ...(event.state.reason && { alarmReason: event.state.reason }),
        links,
      },
      deps.config.escalation.channels,
    ),
    deps,
    `alarm ${event.alarmName} (${event.state.value})`,
  );
  return resultOf(action, { deliveries });
}

/**
 * Fails the running deployment: the alarm goes on its record (only while it is in progress and no
 * alarm is there yet), then the task it waits on is failed with AlarmFiredError; between waits,
 * its next wait reads the alarm from the record and fails.
 */
async function failDeployment(
  action: RollbackDeploymentAction,
  event: AlarmEvent,
  deps: Deps,
  again: () => Promise<AlarmHandlerResult>,
): Promise<AlarmHandlerResult> {
  const { config, store, workflows } = deps;
  let record: DeploymentRecord;
  try {
    record = await store.updateRecord(
      config.name,
      action.deploymentId,
      { alarm: alarmMark(event) },
      { status: ['in-progress'], unset: ['alarm'] },
    );
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    const current = await store.getRecord(config.name, action.deploymentId);
    if (!current?.alarm) return again();
    if (current.alarm.eventId !== event.id) {
      return notifyClaimLost(afterClaimLost(action, `alarm ${current.alarm.name}`), event, deps);
    }
    record = current; // This event's own claim, from a delivery that failed after it.
  }
  const token = record.signal?.token;
  const cause = `alarm ${event.alarmName} fired: ${alarmMark(event).reason}`;
  const waitEnded = token ? await workflows.failTask(token, 'AlarmFiredError', cause) : false;
  const done = waitEnded
    ? `Ended its ${record.signal?.phase ?? ''} wait at once; it rolls back now.`.replace('  ', ' ')
    : 'It is between waits: its next wait reads the alarm from its record and rolls back.';
  const notified = await notify(action, event, deps, [
    { href: executionConsoleUrl(config.region, action.executionArn), text: 'Deployment execution' },
  ]);
  return {
    ...notified,
    deploymentId: action.deploymentId,
    waitEnded,
    message: `${action.reason} ${done}`,
  };
}

/** A claim lost to another alarm: nothing is rolled back twice; the channels hear the alarm joined it. */
async function notifyClaimLost(
  action: ReturnType<typeof afterClaimLost>,
  event: AlarmEvent,
  deps: Deps,
): Promise<AlarmHandlerResult> {
  return notify(action, event, deps);
}

/**
 * Rolls the promoted release back: claims it (a conditional write on its record: at most one
 * rollback per release), starts the Rollback workflow as an automatic rollback caused by the
 * alarm, then opens the incident and starts its escalation.
 */
async function rollbackRelease(
  action: RollbackReleaseAction,
  event: AlarmEvent,
  records: readonly DeploymentRecord[],
  deps: Deps,
  again: () => Promise<AlarmHandlerResult>,
): Promise<AlarmHandlerResult> {
  const { config, store, workflows } = deps;
  const releaseId = action.release.recordId;
  try {
    await store.updateRecord(
      config.name,
      releaseId,
      { alarm: alarmMark(event) },
      { status: ['succeeded'], unset: ['alarm'] },
    );
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    const current = await store.getRecord(config.name, releaseId);
    if (!current?.alarm) return again();
    if (current.alarm.eventId !== event.id) {
      return notifyClaimLost(afterClaimLost(action, `alarm ${current.alarm.name}`), event, deps);
    }
  }
  const rollbackName = alarmRollbackName(releaseId);
  const rollback = await workflows.start('rollback', rollbackName, {
    environment: config.name,
    deploymentId: releaseId,
    trigger: 'alarm',
    requestedBy: 'guardian',
    reason: `alarm ${event.alarmName} fired ${event.state.at}: ${alarmMark(event).reason}`,
  });
  const release = records.find((r) => r.id === releaseId);
  const escalated = await openAndEscalate(action, event, deps, {
    image: action.release.image,
    ...(release?.version && { version: release.version }),
    deploymentId: releaseId,
    ...(release && { deploymentExecutionArn: release.executionArn }),
    rollbackId: rollbackName,
  });
  return {
    ...escalated,
    ...resultOf(action),
    deploymentId: releaseId,
    rollbackTo: action.rollbackTo.image,
    rollback,
    incidentId: action.incidentId,
    message: `${action.reason} Rollback ${rollbackName} ${rollback.started ? 'started' : 'was already running'}; incident ${action.incidentId} ${escalated.escalation?.started ? 'opened and escalated' : 'was already escalated'}.`,
  };
}

/** Escalation only: opens the incident (one per id) and starts its escalation (one per incident). */
async function escalate(
  action: EscalateAction,
  event: AlarmEvent,
  records: readonly DeploymentRecord[],
  deps: Deps,
): Promise<AlarmHandlerResult> {
  const live = records.find((r) => r.status === 'succeeded');
  const escalated = await openAndEscalate(
    action,
    event,
    deps,
    live
      ? { image: live.image, ...(live.version && { version: live.version }), deploymentId: live.id }
      : undefined,
  );
  return {
    ...escalated,
    message: `${action.reason} Incident ${action.incidentId} ${escalated.escalation?.started ? 'opened and escalated' : 'was already escalated'}.`,
  };
}

async function openAndEscalate(
  action: EscalateAction | RollbackReleaseAction,
  event: AlarmEvent,
  deps: Deps,
  release: Incident['release'],
): Promise<AlarmHandlerResult> {
  const { config, store, workflows, clock } = deps;
  const releaseText = release?.version ?? release?.image;
  const summary =
    action.action === 'rollback-release'
      ? `${event.alarmName} in ${config.name} after release ${releaseLabel(action.release.image)}: rolled back to ${releaseLabel(action.rollbackTo.image)}`
      : `${event.alarmName} in ${config.name}${releaseText ? ` (running ${releaseText})` : ''}: ${action.why}`;
  const incident = openIncident(
    {
      environment: config.name,
      priority: priorityOf(action),
      summary: shorten(summary, 300),
      alarm: {
        name: event.alarmName,
        severity: action.severity,
        ...(event.state.reason && { reason: event.state.reason }),
        ...(event.alarmArn && { arn: event.alarmArn }),
      },
      ...(release && { release }),
    },
    action.incidentId,
    clock.now(),
  );
  const { incident: stored } = await store.putIncident(incident);
  const escalation = await workflows.start('escalation', escalationExecutionName(stored), {
    incidentId: stored.id,
  });
  return resultOf(action, { incidentId: stored.id, escalation });
}

/** Resolves the alarm's incident and ends its escalation (which then tells the channels). */
async function resolve(
  action: ResolveAction,
  incidents: readonly Incident[],
  deps: Deps,
): Promise<AlarmHandlerResult> {
  const { config, store, workflows, clock } = deps;
  const result = await store.transitionIncident(
    config.name,
    action.incidentId,
    'resolved',
    { by: `alarm ${action.alarm} (OK)`, reason: `${action.alarm} returned to OK` },
    clock.now(),
  );
  if (!result.changed) return resultOf(action, { incidentId: action.incidentId, message: result.message });
  const token = result.incident.taskToken;
  const chainEnded = token
    ? await workflows.succeedTask(token, escalationTaskOutput(result.incident))
    : false;
  // A chain that is not waiting (it ran out of levels, or pages right now) does not announce the
  // resolution: the handler does, and PagerDuty's resolve is idempotent by dedup key.
  const known = incidents.find((i) => i.id === action.incidentId);
  const deliveries = chainEnded
    ? []
    : await deliverMessages(
        channelMessages(
          {
            kind: 'resolved',
            incident: result.incident,
            links: incidentLinks(result.incident, config.region, known?.escalationExecutionArn),
          },
          config.escalation.channels,
        ),
        deps,
        `incident ${action.incidentId}`,
      );
  return resultOf(action, {
    incidentId: action.incidentId,
    deliveries,
    message: `${result.message} ${chainEnded ? 'Its escalation ends and announces it.' : 'Its escalation was not waiting; the channels were told directly.'}`,
  });
}

/** Lambda entry point: ports and config slice from lambdas/steps.ts. */
export const handler = lambdaHandler(step);
