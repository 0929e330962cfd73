/**
 * The runbook's alerts and rollback criteria for one environment as CloudWatch alarms, plus the
 * composite "Degraded" alarm that ORs the critical ones (preflight refuses while it is in ALARM).
 * Every alarm is named `guardian-<environment>-<Name>`, tagged environment / service / severity,
 * and propagates those tags into its EventBridge state-change events, so the alarm handler can
 * tell whose alarm fired without a lookup.
 */
import { Duration, Tags } from 'aws-cdk-lib';
import {
  Alarm,
  AlarmRule,
  AlarmState,
  type CfnAlarm,
  type CfnCompositeAlarm,
  ComparisonOperator,
  CompositeAlarm,
  type IAlarm,
  type IMetric,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import {
  ALARM_TAG_KEYS,
  type AlarmSeverity,
  DEGRADED_ALARM_ID,
  DEGRADED_SEVERITY,
  guardianAlarmName,
  METRIC_ALARM_IDS,
  METRIC_ALARMS,
  type MetricAlarmId,
} from '../../lambdas/core/alarm-catalog.ts';
import type { AlarmMetrics, AlarmsConfig, Thresholds } from '../config/schema.ts';

/** Every criterion is judged on one-minute datapoints (ALB and Container Insights publish per minute). */
const PERIOD = Duration.minutes(1);
/** The runbook's "> 5 min" criteria: five breaching one-minute datapoints in a row. */
const FIVE_MINUTES = 5;
/** The runbook's "> 2 min" criterion for running pods. */
const TWO_MINUTES = 2;
/** No log events for this long is NoLogsReceived (the runbook gives no duration; two 5-minute sums). */
const NO_LOGS_PERIOD = Duration.minutes(5);
const NO_LOGS_PERIODS = 2;

/** Properties of {@link GuardianAlarms}. */
export interface GuardianAlarmsProps {
  /** Environment name: alarms are `guardian-<environment>-<Name>` and carry it in tag `environment`. */
  readonly environment: string;
  /** Value of every alarm's `service` tag (config `service`, default the workload name). */
  readonly service: string;
  /** `error_rate_threshold` (percent) and `latency_p99_threshold_ms` of config/deployment-thresholds.yaml. */
  readonly thresholds: Pick<Thresholds, 'error_rate_threshold' | 'latency_p99_threshold_ms'>;
  /** The environment's `alarms` block of config/environments.yaml. */
  readonly alarms: AlarmsConfig;
}

/** The environment's metric alarms and the composite alarm over the critical ones. */
export class GuardianAlarms extends Construct {
  /** The metric alarms this construct created, by criterion (none for a criterion an existing alarm replaces). */
  readonly metricAlarms: Readonly<Partial<Record<MetricAlarmId, Alarm>>>;
  /** `guardian-<env>-Degraded`: ALARM while any critical alarm (created or existing) is. */
  readonly degraded: CompositeAlarm;
  /** Name of {@link degraded}, for preflight's state check. */
  readonly degradedAlarmName: string;
  /** ARN of {@link degraded}. */
  readonly degradedAlarmArn: string;

  constructor(scope: Construct, id: string, props: GuardianAlarmsProps) {
    super(scope, id);
    const { environment, alarms } = props;
    if (!/^[a-z0-9-]+$/.test(environment)) {
      throw new Error(`GuardianAlarms: environment '${environment}' must be a lowercase name (a-z, 0-9, -)`);
    }
    const replaced = new Set(alarms.existing.flatMap((e) => (e.replaces ? [e.replaces] : [])));
    const created: Partial<Record<MetricAlarmId, Alarm>> = {};
    for (const alarmId of METRIC_ALARM_IDS) {
      if (replaced.has(alarmId)) continue;
      const alarm = new Alarm(this, alarmId, {
        alarmName: guardianAlarmName(environment, alarmId),
        ...this.definitionOf(alarmId, props),
      });
      this.tag(alarm.node.defaultChild as CfnAlarm, METRIC_ALARMS[alarmId].severity, props);
      created[alarmId] = alarm;
    }
    this.metricAlarms = created;

    const critical: IAlarm[] = [
      ...METRIC_ALARM_IDS.flatMap((a) => {
        const alarm = created[a];
        return alarm && METRIC_ALARMS[a].severity === 'critical' ? [alarm] : [];
      }),
      ...alarms.existing
        .filter((e) => e.severity === 'critical')
        .map((e, i) => Alarm.fromAlarmName(this, `Existing${i}`, e.name)),
    ];
    if (critical.length === 0) {
      throw new Error(
        `GuardianAlarms: ${environment} has no critical alarm for ${guardianAlarmName(environment, DEGRADED_ALARM_ID)} to watch; ` +
          'leave at least one critical criterion to the guardian or list an existing alarm with severity: critical',
      );
    }
    const degradedName = guardianAlarmName(environment, DEGRADED_ALARM_ID);
    this.degraded = new CompositeAlarm(this, DEGRADED_ALARM_ID, {
      compositeAlarmName: degradedName,
      alarmDescription:
        `Deployment Guardian (${environment}): ${props.service} is degraded (a critical alarm is in ALARM). ` +
        'Deployments are refused while it is; a release promoted within the guard window is rolled back.',
      alarmRule: AlarmRule.anyOf(...critical.map((a) => AlarmRule.fromAlarm(a, AlarmState.ALARM))),
    });
    this.tag(this.degraded.node.defaultChild as CfnCompositeAlarm, DEGRADED_SEVERITY, props);
    this.degradedAlarmName = degradedName;
    this.degradedAlarmArn = this.degraded.alarmArn;
  }

  /** Tags `alarm` environment / service / severity and has CloudWatch put those tags into its events. */
  private tag(
    alarm: CfnAlarm | CfnCompositeAlarm,
    severity: AlarmSeverity,
    props: GuardianAlarmsProps,
  ): void {
    Tags.of(alarm).add(ALARM_TAG_KEYS.environment, props.environment);
    Tags.of(alarm).add(ALARM_TAG_KEYS.service, props.service);
    Tags.of(alarm).add(ALARM_TAG_KEYS.severity, severity);
    // Without propagation the events carry no tags and the handler falls back to the alarm's name.
    alarm.actionConfiguration = {
      alarmTagsPropagation: { enabled: true, includedTagKeys: Object.values(ALARM_TAG_KEYS) },
    };
  }

  /** The metric, threshold and evaluation of one criterion (runbook: "Rollback Criteria", "Key Alerts"). */
  private definitionOf(alarmId: MetricAlarmId, props: GuardianAlarmsProps) {
    const { alarms, thresholds, environment, service } = props;
    const m = alarms.metrics;
    const who = `Deployment Guardian (${environment}): ${service}`;
    switch (alarmId) {
      case 'HighErrorRate':
        return {
          alarmDescription: `${who}: more than ${thresholds.error_rate_threshold}% of requests answered 5xx for 5 minutes. Critical: page on-call; the guardian rolls back a recent release.`,
          // No traffic is no error rate, and a minute without 5xx publishes no 5xx datapoint.
          metric: new MathExpression({
            expression: 'IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)',
            usingMetrics: {
              requests: metricOf(need(m, 'requests', alarmId), 'Sum'),
              errors: metricOf(need(m, 'errors', alarmId), 'Sum'),
            },
            label: '5xx rate (%)',
            period: PERIOD,
          }),
          threshold: thresholds.error_rate_threshold,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: FIVE_MINUTES,
          datapointsToAlarm: FIVE_MINUTES,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        };
      case 'APIServiceDown':
        return {
          alarmDescription: `${who}: the health check has answered non-200 for 5 minutes. Critical: page on-call; the guardian rolls back a recent release.`,
          // Minimum: every health check of the minute failed, not one flap.
          metric: metricOf(need(m, 'healthFailures', alarmId), 'Minimum'),
          threshold: 0,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: FIVE_MINUTES,
          datapointsToAlarm: FIVE_MINUTES,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        };
      case 'HighLatencyP99': {
        const latency = need(m, 'latencyP99', alarmId);
        const ms = thresholds.latency_p99_threshold_ms;
        return {
          alarmDescription: `${who}: p99 latency above ${ms} ms for 5 minutes. Critical: the guardian rolls back a recent release.`,
          metric: metricOf(latency, 'p99'),
          // ALB reports TargetResponseTime in seconds; the thresholds file speaks milliseconds.
          threshold: latency.unit === 'seconds' ? ms / 1000 : ms,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: FIVE_MINUTES,
          datapointsToAlarm: FIVE_MINUTES,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        };
      }
      case 'PodsBelowReplicas': {
        const replicas = alarms.replicas;
        if (replicas === undefined) {
          throw new Error(`GuardianAlarms: ${environment} needs alarms.replicas for PodsBelowReplicas`);
        }
        return {
          alarmDescription: `${who}: fewer than ${replicas - 1} of ${replicas} pods running for 2 minutes. Critical: the guardian rolls back a recent release.`,
          metric: metricOf(need(m, 'runningPods', alarmId), 'Minimum'),
          threshold: replicas - 1,
          comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
          evaluationPeriods: TWO_MINUTES,
          datapointsToAlarm: TWO_MINUTES,
          // Container Insights stops reporting a service with no pods at all.
          treatMissingData: TreatMissingData.BREACHING,
        };
      }
      case 'NoLogsReceived':
        return {
          alarmDescription: `${who}: no log events for 10 minutes. Warning: investigate (is the service up, is log shipping working?).`,
          metric: metricOf(need(m, 'incomingLogs', alarmId), 'Sum', NO_LOGS_PERIOD),
          threshold: 1,
          comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
          evaluationPeriods: NO_LOGS_PERIODS,
          datapointsToAlarm: NO_LOGS_PERIODS,
          // A log group that receives nothing publishes no IncomingLogEvents datapoint at all.
          treatMissingData: TreatMissingData.BREACHING,
        };
    }
  }
}

/** The configured metric `key`, or a constructor error saying which alarm needs it (the schema checks this first). */
function need<K extends keyof AlarmMetrics>(
  metrics: AlarmMetrics,
  key: K,
  alarmId: MetricAlarmId,
): NonNullable<AlarmMetrics[K]> {
  const metric = metrics[key];
  if (!metric) {
    throw new Error(
      `GuardianAlarms: alarms.metrics.${key} is missing; the ${alarmId} alarm reads it (or list an existing alarm with replaces: ${alarmId})`,
    );
  }
  return metric;
}

function metricOf(
  source: { readonly namespace: string; readonly name: string; readonly dimensions: Record<string, string> },
  statistic: string,
  period: Duration = PERIOD,
): IMetric {
  return new Metric({
    namespace: source.namespace,
    metricName: source.name,
    dimensionsMap: source.dimensions,
    statistic,
    period,
  });
}
