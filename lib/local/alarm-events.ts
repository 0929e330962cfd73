/**
 * A CloudWatch "Alarm State Change" event in EventBridge's format (a single-metric alarm, as
 * CloudWatch sends it: `detail.state.timestamp` in CloudWatch's `+0000` form, tags propagated),
 * for the demo and the benchmarks, which fire the guardian's own alarms at the local handler.
 */
import { randomUUID } from 'node:crypto';

/** What the event says. */
export interface AlarmEventSpec {
  readonly account: string;
  readonly region: string;
  readonly alarmName: string;
  readonly state: 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';
  readonly previousState?: 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';
  /** When the alarm entered the state. */
  readonly at: Date;
  readonly reason: string;
  /** `environment`, `service`, `severity`. */
  readonly tags?: Readonly<Record<string, string>>;
  /** The EventBridge event id (the same for every delivery of one event). @default a new UUID */
  readonly id?: string;
}

/** `2026-11-20T10:12:05.485+0000`: CloudWatch's timestamps in alarm events. */
function cloudWatchTime(at: Date): string {
  return at.toISOString().replace('Z', '+0000');
}

/** The event EventBridge delivers for `spec`. */
export function alarmStateChangeEvent(spec: AlarmEventSpec): Record<string, unknown> {
  const arn = `arn:aws:cloudwatch:${spec.region}:${spec.account}:alarm:${spec.alarmName}`;
  return {
    version: '0',
    id: spec.id ?? randomUUID(),
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    account: spec.account,
    time: spec.at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: spec.region,
    resources: [arn],
    detail: {
      alarmName: spec.alarmName,
      state: { value: spec.state, reason: spec.reason, timestamp: cloudWatchTime(spec.at) },
      previousState: {
        value: spec.previousState ?? (spec.state === 'OK' ? 'ALARM' : 'OK'),
        reason: 'previous state',
        timestamp: cloudWatchTime(new Date(spec.at.getTime() - 300_000)),
      },
      configuration: {
        description: `${spec.alarmName} (Deployment Guardian)`,
        metrics: [
          {
            id: 'm1',
            metricStat: {
              metric: { namespace: 'AWS/ApplicationELB', name: 'HTTPCode_Target_5XX_Count', dimensions: {} },
              period: 60,
              stat: 'Sum',
            },
            returnData: true,
          },
        ],
      },
      ...(spec.tags ? { alarmTags: { ...spec.tags }, alarmTagsStatus: 'SUCCESS' } : {}),
    },
  };
}
