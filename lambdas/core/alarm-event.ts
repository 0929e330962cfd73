/**
 * The EventBridge "CloudWatch Alarm State Change" event, in the formats CloudWatch sends
 * (CloudWatch User Guide, "Alarm events and EventBridge"): single-metric, metric-math,
 * anomaly-detection and Metrics Insights alarms carry `detail.configuration.metrics[]`; composite
 * alarms carry `detail.configuration.alarmRule`; alarms with tag propagation add `detail.alarmTags`
 * and `detail.alarmTagsStatus`. Pure: parsing says exactly what is wrong and where, and tells an
 * event that is no alarm state change at all (ignored) from a malformed one (bad input).
 */
import * as z from 'zod';
import { shorten } from './text.ts';

/** `source` of CloudWatch's alarm events. */
export const ALARM_EVENT_SOURCE = 'aws.cloudwatch';
/** `detail-type` of an alarm state change. */
export const ALARM_STATE_CHANGE = 'CloudWatch Alarm State Change';
/** The states an alarm can be in. */
export const ALARM_STATES = ['OK', 'ALARM', 'INSUFFICIENT_DATA'] as const;
/** The state an alarm is in. */
export type AlarmStateValue = (typeof ALARM_STATES)[number];

/** CloudWatch's timestamps: ISO-8601 with `Z` or an offset written `+0000` or `+00:00`. */
const CLOUDWATCH_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$/;

/** Milliseconds since the epoch of a CloudWatch timestamp, or NaN. */
export function parseCloudWatchTime(value: string): number {
  if (!CLOUDWATCH_TIME.test(value)) return Number.NaN;
  // `+0000` is how CloudWatch writes UTC; Date.parse is only specified for `+00:00`.
  return Date.parse(value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
}

const cloudWatchTime = z
  .string()
  .refine(
    (v) => !Number.isNaN(parseCloudWatchTime(v)),
    'must be a time such as 2019-10-02T17:04:40.989+0000',
  );

const stateSchema = z.looseObject({
  value: z.enum(ALARM_STATES),
  reason: z.string().optional(),
  /** JSON text: datapoints for metric alarms, `triggeringAlarms` for composite ones. */
  reasonData: z.string().optional(),
  timestamp: cloudWatchTime,
  actionsSuppressedBy: z.string().optional(),
  actionsSuppressedReason: z.string().optional(),
});

const metricStatSchema = z.looseObject({
  metric: z.looseObject({
    namespace: z.string(),
    name: z.string(),
    dimensions: z.record(z.string(), z.string()).optional(),
  }),
  period: z.number(),
  stat: z.string(),
  unit: z.string().optional(),
});

const metricQuerySchema = z.looseObject({
  id: z.string(),
  metricStat: metricStatSchema.optional(),
  expression: z.string().optional(),
  label: z.string().optional(),
  returnData: z.boolean().optional(),
  period: z.number().optional(),
});

/** `detail.configuration`: metrics[] for metric alarms, alarmRule for composite ones. */
const configurationSchema = z.looseObject({
  description: z.string().optional(),
  metrics: z.array(metricQuerySchema).optional(),
  alarmRule: z.string().optional(),
  actionsSuppressor: z.string().optional(),
  actionsSuppressorWaitPeriod: z.number().optional(),
  actionsSuppressorExtensionPeriod: z.number().optional(),
});

/** The alarm state change event, as CloudWatch sends it to EventBridge (fields the guardian reads). */
export const alarmStateChangeEventSchema = z.looseObject({
  version: z.string(),
  id: z.string().min(1),
  'detail-type': z.literal(ALARM_STATE_CHANGE),
  source: z.literal(ALARM_EVENT_SOURCE),
  account: z.string().min(1),
  time: cloudWatchTime,
  region: z.string().min(1),
  resources: z.array(z.string()),
  detail: z.looseObject({
    alarmName: z.string().min(1),
    state: stateSchema,
    previousState: stateSchema.optional(),
    configuration: configurationSchema.optional(),
    alarmTags: z.record(z.string(), z.string()).optional(),
    alarmTagsStatus: z.string().optional(),
  }),
});
/** The alarm state change event as CloudWatch sends it. */
export type RawAlarmEvent = z.infer<typeof alarmStateChangeEventSchema>;

/** What kind of alarm changed state (their `detail.configuration` shapes differ). */
export type AlarmKind = 'metric' | 'metric-math' | 'anomaly-detection' | 'composite';

/** One state of the alarm, its time normalised to ISO-8601 UTC. */
export interface AlarmEventState {
  readonly value: AlarmStateValue;
  readonly reason: string;
  /** When the alarm entered this state (ISO-8601 UTC). */
  readonly at: string;
}

/** An alarm state change, as the guardian decides on it. */
export interface AlarmEvent {
  /** EventBridge event id: the same for every delivery of one event (the dedupe key). */
  readonly id: string;
  readonly account: string;
  readonly region: string;
  /** When EventBridge received the event (ISO-8601 UTC). */
  readonly time: string;
  readonly alarmName: string;
  /** The alarm's ARN (`resources[0]`), when the event names it. */
  readonly alarmArn?: string;
  readonly kind: AlarmKind;
  readonly state: AlarmEventState;
  readonly previousState?: AlarmEventState;
  /** `detail.alarmTags` when CloudWatch retrieved them (`alarmTagsStatus` SUCCESS). */
  readonly tags?: Readonly<Record<string, string>>;
  /** `detail.alarmTagsStatus` as sent, when present. */
  readonly tagsStatus?: string;
  readonly description?: string;
  /** A composite alarm's rule. */
  readonly alarmRule?: string;
  /** ARNs of the children that moved a composite alarm (its `reasonData.triggeringAlarms`). */
  readonly triggeringAlarms?: readonly string[];
}

/** Result of {@link parseAlarmEvent}. */
export type ParsedAlarmEvent =
  | { readonly ok: true; readonly event: AlarmEvent }
  /** An EventBridge event, but no alarm state change: the handler ignores it. */
  | { readonly ok: false; readonly kind: 'not-alarm-state-change'; readonly message: string }
  /** Not an EventBridge event, or an alarm event with fields missing or wrong: bad input. */
  | {
      readonly ok: false;
      readonly kind: 'malformed';
      readonly message: string;
      readonly problems: readonly string[];
    };

/** `a.b[0].c`, the path of a field as an operator reads it. */
function pathText(path: readonly PropertyKey[]): string {
  return path
    .map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`))
    .join('');
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** The value at `path` in `root` (for the "got ..." part of a problem). */
function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/** One sentence per zod issue: `detail.state.value is missing`, `... must be one of ...`. */
function problemsOf(error: z.ZodError, input: unknown): string[] {
  return error.issues.map((issue) => {
    const where = pathText(issue.path as PropertyKey[]);
    const got = valueAt(input, issue.path as PropertyKey[]);
    // zod reports a missing enum or literal as a wrong value; the operator needs to hear it is missing.
    if ((issue.code === 'invalid_type' || issue.code === 'invalid_value') && got === undefined)
      return `${where} is missing`;
    if (issue.code === 'invalid_type')
      return `${where} must be ${issue.expected === 'object' ? 'an object' : `a ${issue.expected}`}, got ${typeName(got)}`;
    if (issue.code === 'invalid_value') {
      return `${where} must be one of ${issue.values.map(String).join(', ')}, got ${shorten(JSON.stringify(got) ?? String(got), 60)}`;
    }
    return `${where} ${issue.message}`;
  });
}

function stateOf(s: z.infer<typeof stateSchema>): AlarmEventState {
  return {
    value: s.value,
    reason: s.reason ?? '',
    at: new Date(parseCloudWatchTime(s.timestamp)).toISOString(),
  };
}

/** The kind of alarm, from the shape of its configuration. */
function kindOf(configuration: z.infer<typeof configurationSchema> | undefined): AlarmKind {
  if (configuration?.alarmRule !== undefined) return 'composite';
  const expressions = (configuration?.metrics ?? []).flatMap((m) => (m.expression ? [m.expression] : []));
  if (expressions.some((e) => /\bANOMALY_DETECTION_BAND\s*\(/i.test(e))) return 'anomaly-detection';
  return expressions.length > 0 ? 'metric-math' : 'metric';
}

/** The children named in a composite alarm's `reasonData` (JSON text); none when it has no such list. */
function triggeringAlarmsOf(reasonData: string | undefined): string[] | undefined {
  if (!reasonData) return undefined;
  try {
    const data = JSON.parse(reasonData) as { triggeringAlarms?: { arn?: unknown }[] };
    if (!Array.isArray(data.triggeringAlarms)) return undefined;
    return data.triggeringAlarms.flatMap((t) => (typeof t?.arn === 'string' ? [t.arn] : []));
  } catch {
    // reasonData is informational: a composite alarm is understood without it.
    return undefined;
  }
}

/**
 * Parses an EventBridge event. An object with another `source` or `detail-type` is an event, just
 * not an alarm state change (`not-alarm-state-change`); anything without a source and detail-type,
 * or an alarm state change with a field missing or wrong, is `malformed`, each problem naming its
 * path (`detail.state.value is missing`).
 */
export function parseAlarmEvent(json: unknown): ParsedAlarmEvent {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    const message = `not an EventBridge event: expected a JSON object, got ${typeName(json)}`;
    return { ok: false, kind: 'malformed', message, problems: [message] };
  }
  const envelope = json as Record<string, unknown>;
  const source = envelope.source;
  const detailType = envelope['detail-type'];
  const envelopeProblems = [
    ...(typeof source === 'string'
      ? []
      : [source === undefined ? 'source is missing' : `source must be a string, got ${typeName(source)}`]),
    ...(typeof detailType === 'string'
      ? []
      : [
          detailType === undefined
            ? 'detail-type is missing'
            : `detail-type must be a string, got ${typeName(detailType)}`,
        ]),
  ];
  if (envelopeProblems.length > 0) {
    return {
      ok: false,
      kind: 'malformed',
      message: `not an EventBridge event: ${envelopeProblems.join('; ')}`,
      problems: envelopeProblems,
    };
  }
  if (source !== ALARM_EVENT_SOURCE || detailType !== ALARM_STATE_CHANGE) {
    return {
      ok: false,
      kind: 'not-alarm-state-change',
      message: `event ${shorten(String(source), 60)} / ${shorten(String(detailType), 60)} is not a CloudWatch alarm state change (${ALARM_EVENT_SOURCE} / ${ALARM_STATE_CHANGE})`,
    };
  }
  const parsed = alarmStateChangeEventSchema.safeParse(json);
  if (!parsed.success) {
    const problems = problemsOf(parsed.error, json);
    return {
      ok: false,
      kind: 'malformed',
      message: `malformed alarm state change event: ${problems.join('; ')}`,
      problems,
    };
  }
  const e = parsed.data;
  const d = e.detail;
  const kind = kindOf(d.configuration);
  const tagsRetrieved =
    d.alarmTags !== undefined && (d.alarmTagsStatus === undefined || d.alarmTagsStatus === 'SUCCESS');
  const triggering = kind === 'composite' ? triggeringAlarmsOf(d.state.reasonData) : undefined;
  const event: AlarmEvent = {
    id: e.id,
    account: e.account,
    region: e.region,
    time: new Date(parseCloudWatchTime(e.time)).toISOString(),
    alarmName: d.alarmName,
    ...(e.resources[0] ? { alarmArn: e.resources[0] } : {}),
    kind,
    state: stateOf(d.state),
    ...(d.previousState ? { previousState: stateOf(d.previousState) } : {}),
    ...(tagsRetrieved && d.alarmTags ? { tags: d.alarmTags } : {}),
    ...(d.alarmTagsStatus !== undefined ? { tagsStatus: d.alarmTagsStatus } : {}),
    ...(d.configuration?.description !== undefined ? { description: d.configuration.description } : {}),
    ...(d.configuration?.alarmRule !== undefined ? { alarmRule: d.configuration.alarmRule } : {}),
    ...(triggering ? { triggeringAlarms: triggering } : {}),
  };
  return { ok: true, event };
}
