/** The Alarms port on CloudWatch DescribeAlarms (composite and metric alarms by name). */
import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { TransientError } from '../core/errors.ts';
import {
  ALARM_STATE_VALUES,
  type AlarmState,
  type AlarmStates,
  type AlarmStateValue,
} from '../core/ports.ts';
import { isTransientAwsError } from './transient.ts';

/** Throttles, 5xx and network errors become TransientError; anything else (AccessDenied, ...) as it is. */
function classifyAwsError(err: unknown, alarmName: string): unknown {
  if (!isTransientAwsError(err)) return err;
  const e = err as { name?: string; message?: string };
  return new TransientError(
    `CloudWatch: DescribeAlarms for ${alarmName} failed (${e.name}): ${e.message ?? ''}; retrying is safe`,
    { cause: err },
  );
}

const isStateValue = (v: unknown): v is AlarmStateValue =>
  (ALARM_STATE_VALUES as readonly unknown[]).includes(v);

/** The fields both alarm kinds report about their state. */
interface DescribedState {
  readonly AlarmName?: string | undefined;
  readonly StateValue?: string | undefined;
  readonly StateReason?: string | undefined;
  readonly StateUpdatedTimestamp?: Date | undefined;
  readonly StateTransitionedTimestamp?: Date | undefined;
}

/** Alarm states from CloudWatch. */
export class CloudWatchAlarmStates implements AlarmStates {
  constructor(private readonly client: CloudWatchClient) {}

  async stateOf(alarmName: string): Promise<AlarmState | undefined> {
    let out: { CompositeAlarms?: DescribedState[]; MetricAlarms?: DescribedState[] };
    try {
      out = await this.client.send(
        new DescribeAlarmsCommand({
          AlarmNames: [alarmName],
          // Without AlarmTypes, DescribeAlarms returns metric alarms only.
          AlarmTypes: ['CompositeAlarm', 'MetricAlarm'],
        }),
      );
    } catch (err) {
      throw classifyAwsError(err, alarmName);
    }
    const alarm = [...(out.CompositeAlarms ?? []), ...(out.MetricAlarms ?? [])].find(
      (a) => a.AlarmName === alarmName,
    );
    if (!alarm) return undefined;
    if (!isStateValue(alarm.StateValue)) {
      throw new Error(`CloudWatch reported ${alarmName} in an unknown state '${String(alarm.StateValue)}'`);
    }
    // "Since when": the last change of the state value, not the last update of its reason.
    const at = alarm.StateTransitionedTimestamp ?? alarm.StateUpdatedTimestamp;
    return {
      value: alarm.StateValue,
      ...(alarm.StateReason ? { reason: alarm.StateReason } : {}),
      ...(at ? { updatedAt: at.toISOString() } : {}),
    };
  }
}

/** The adapter as the port table builds it. */
export function cloudWatchAlarmStates(): AlarmStates {
  return new CloudWatchAlarmStates(new CloudWatchClient({}));
}
