/**
 * The alarms the guardian defines for an environment, by name and severity, and how their
 * CloudWatch names are built. Pure data shared by the config schema (which alarms `existing`
 * may replace), the CDK construct (what it creates) and the alarm handler (what it recognises),
 * so the three cannot disagree on a name.
 */

/** Prefix of every alarm the guardian creates: `guardian-<environment>-<Name>`. */
export const ALARM_NAME_PREFIX = 'guardian';

/** How bad an alarm is: critical ones page and roll back, warnings only notify (runbook: "Key Alerts"). */
export const ALARM_SEVERITIES = ['critical', 'warning'] as const;
/** How bad an alarm is. */
export type AlarmSeverity = (typeof ALARM_SEVERITIES)[number];

/**
 * The runbook's alerts and rollback criteria, one metric alarm each. HighErrorRate, APIServiceDown
 * and NoLogsReceived are the runbook's "Key Alerts"; HighLatencyP99 and PodsBelowReplicas are its
 * remaining "Rollback Criteria", critical because the runbook rolls back on them.
 */
export const METRIC_ALARMS = {
  HighErrorRate: { severity: 'critical' },
  APIServiceDown: { severity: 'critical' },
  HighLatencyP99: { severity: 'critical' },
  PodsBelowReplicas: { severity: 'critical' },
  NoLogsReceived: { severity: 'warning' },
} as const satisfies Record<string, { readonly severity: AlarmSeverity }>;

/** One of the guardian's metric alarms (its criterion). */
export type MetricAlarmId = keyof typeof METRIC_ALARMS;
/** The metric alarms in catalogue order. */
export const METRIC_ALARM_IDS = Object.keys(METRIC_ALARMS) as MetricAlarmId[];

/** The composite alarm that ORs the critical ones: preflight refuses while it is in ALARM. */
export const DEGRADED_ALARM_ID = 'Degraded';
/** Severity of the composite alarm: it is in ALARM only when a critical alarm is. */
export const DEGRADED_SEVERITY: AlarmSeverity = 'critical';

/** Tag keys every guardian alarm carries, and the only ones it propagates into its events. */
export const ALARM_TAG_KEYS = {
  environment: 'environment',
  service: 'service',
  severity: 'severity',
} as const;

/** `guardian-<environment>-<id>`: the stable CloudWatch name of one of the guardian's alarms. */
export function guardianAlarmName(environment: string, id: MetricAlarmId | typeof DEGRADED_ALARM_ID): string {
  return `${ALARM_NAME_PREFIX}-${environment}-${id}`;
}

/** Whether `id` names one of the guardian's metric alarms. */
export function isMetricAlarmId(id: string): id is MetricAlarmId {
  return Object.hasOwn(METRIC_ALARMS, id);
}
