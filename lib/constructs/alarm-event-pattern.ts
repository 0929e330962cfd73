/**
 * Which CloudWatch alarm state changes EventBridge hands to an environment's alarm handler: the
 * alarms the handler recognises for that environment (lambdas/core/alarm-decision.ts
 * `resolveAlarm`), by exact name or by their propagated `environment` tag, and nothing else.
 * Exact names rather than a `guardian-<env>-` prefix: the prefix would also match the guardian's
 * own dead-letter and workflow alarms (an alarm about the guardian must never roll a release
 * back) and, for `prod`, every alarm of `prod-eu`.
 */
import type { EventPattern } from 'aws-cdk-lib/aws-events';
import {
  ALARM_TAG_KEYS,
  DEGRADED_ALARM_ID,
  guardianAlarmName,
  METRIC_ALARM_IDS,
} from '../../lambdas/core/alarm-catalog.ts';
import type { EnvironmentConfig } from '../config/schema.ts';

/** What CloudWatch puts in `source` of its alarm events. */
export const ALARM_EVENT_SOURCE = 'aws.cloudwatch';
/** The `detail-type` of an alarm state change (not a configuration or contributor change). */
export const ALARM_STATE_CHANGE = 'CloudWatch Alarm State Change';

/**
 * EventBridge's default quota on a rule's event pattern (characters of its JSON); it can be raised
 * to 4096 with a service quota increase, which the guardian does not assume.
 */
export const EVENT_PATTERN_MAX_CHARS = 2048;

/**
 * The names of the alarms an environment's handler acts on: the guardian's metric alarms it
 * creates (not those an existing alarm `replaces`), its composite Degraded alarm, and every
 * `alarms.existing` name; in that order, without repeats.
 */
export function watchedAlarmNames(env: Pick<EnvironmentConfig, 'name' | 'alarms'>): string[] {
  const replaced = new Set(env.alarms.existing.flatMap((e) => (e.replaces ? [e.replaces] : [])));
  const names = [
    ...METRIC_ALARM_IDS.filter((id) => !replaced.has(id)).map((id) => guardianAlarmName(env.name, id)),
    guardianAlarmName(env.name, DEGRADED_ALARM_ID),
    ...env.alarms.existing.map((e) => e.name),
  ];
  return [...new Set(names)];
}

/**
 * The event pattern of the environment's `AlarmStateChange` rule: a CloudWatch alarm state change
 * whose `detail.alarmName` is one of {@link watchedAlarmNames}, or whose propagated
 * `detail.alarmTags.environment` is the environment's name (`$or` inside `detail`). Account and
 * region are not matched: AWS delivers an alarm's events only to the default bus of its own
 * account and region, where the stack is, and the handler checks both again. Throws when the
 * pattern outgrows EventBridge's default quota, naming the way out.
 */
export function alarmEventPattern(env: Pick<EnvironmentConfig, 'name' | 'alarms'>): EventPattern {
  const pattern: EventPattern = {
    source: [ALARM_EVENT_SOURCE],
    detailType: [ALARM_STATE_CHANGE],
    detail: {
      $or: [
        { alarmName: watchedAlarmNames(env) },
        { alarmTags: { [ALARM_TAG_KEYS.environment]: [env.name] } },
      ],
    },
  };
  // As EventBridge stores it: `detail-type`, not CDK's `detailType`.
  const { detailType, ...rest } = pattern;
  const size = JSON.stringify({ ...rest, 'detail-type': detailType }).length;
  if (size > EVENT_PATTERN_MAX_CHARS) {
    throw new Error(
      `alarm rule of ${env.name}: its event pattern has ${size} characters, more than EventBridge's ` +
        `default quota of ${EVENT_PATTERN_MAX_CHARS}, because alarms.existing names ${env.alarms.existing.length} alarms. ` +
        `List fewer of them in alarms.existing: an alarm tagged ${ALARM_TAG_KEYS.environment}=${env.name}, ` +
        `${ALARM_TAG_KEYS.service} and ${ALARM_TAG_KEYS.severity}, with tag propagation into its events, reaches the ` +
        `handler without being listed (it is then not part of ${guardianAlarmName(env.name, DEGRADED_ALARM_ID)}).`,
    );
  }
  return pattern;
}
