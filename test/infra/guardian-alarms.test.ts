import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { guardianAlarmName, METRIC_ALARM_IDS } from '../../lambdas/core/alarm-catalog.ts';
import { type AlarmsConfig, alarmsSchema } from '../../lib/config/schema.ts';
import { GuardianAlarms } from '../../lib/constructs/guardian-alarms.ts';
import { DEGRADED_ALARM_OUTPUTS } from '../../lib/stacks/guardian-stack.ts';
import { synthesized, templateOf } from './fixtures.ts';

const TAG_KEYS = ['environment', 'service', 'severity'];

/** The tags of the alarm named `name` in `t`, as a key -> value map. */
function tagsOf(t: Template, type: string, nameKey: string, name: string): Record<string, string> {
  const found = Object.values(t.findResources(type, { Properties: { [nameKey]: name } }));
  expect(found, name).toHaveLength(1);
  const tags = (found[0]?.Properties.Tags ?? []) as { Key: string; Value: string }[];
  return Object.fromEntries(tags.map((tag) => [tag.Key, tag.Value]));
}

/** A stack holding only a GuardianAlarms built from `alarms` (production's thresholds). */
function alarmsStack(alarms: AlarmsConfig): Template {
  const stack = new Stack(new App(), 'AlarmsOnly', { env: { region: 'ap-southeast-1' } });
  new GuardianAlarms(stack, 'WorkloadAlarms', {
    environment: 'production',
    service: 'buywhere-api',
    thresholds: { error_rate_threshold: 5, latency_p99_threshold_ms: 1500 },
    alarms,
  });
  return Template.fromStack(stack);
}

const productionAlarms = (): AlarmsConfig => {
  const env = synthesized().config.environments.production;
  if (!env) throw new Error('no production environment');
  return env.alarms;
};

describe('GuardianAlarms in the environment stacks', () => {
  it.each(['staging', 'production'])('names every %s alarm guardian-<env>-<Name>', (env) => {
    const t = templateOf(env);
    for (const id of METRIC_ALARM_IDS) {
      t.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: guardianAlarmName(env, id) });
    }
    t.hasResourceProperties('AWS::CloudWatch::CompositeAlarm', {
      AlarmName: `guardian-${env}-Degraded`,
    });
  });

  it('rolls back on a 5xx rate above the environment threshold for 5 minutes, computed as errors / requests', () => {
    for (const [env, threshold] of [
      ['staging', 10],
      ['production', 5],
    ] as const) {
      templateOf(env).hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `guardian-${env}-HighErrorRate`,
        Threshold: threshold,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 5,
        DatapointsToAlarm: 5,
        TreatMissingData: 'notBreaching',
        Metrics: Match.arrayWith([
          Match.objectLike({
            Id: 'expr_1',
            Expression: 'IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)',
            ReturnData: true,
          }),
          Match.objectLike({
            Id: 'requests',
            ReturnData: false,
            MetricStat: Match.objectLike({
              Stat: 'Sum',
              Period: 60,
              Metric: Match.objectLike({ Namespace: 'AWS/ApplicationELB', MetricName: 'RequestCount' }),
            }),
          }),
          Match.objectLike({
            Id: 'errors',
            ReturnData: false,
            MetricStat: Match.objectLike({
              Stat: 'Sum',
              Metric: Match.objectLike({
                Namespace: 'AWS/ApplicationELB',
                MetricName: 'HTTPCode_Target_5XX_Count',
              }),
            }),
          }),
        ]),
      });
    }
  });

  it('rolls back on p99 above latency_p99_threshold_ms for 5 minutes, in the metric unit (seconds for the ALB)', () => {
    templateOf('production').hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'guardian-production-HighLatencyP99',
      Namespace: 'AWS/ApplicationELB',
      MetricName: 'TargetResponseTime',
      ExtendedStatistic: 'p99',
      Period: 60,
      Threshold: 1.5,
      EvaluationPeriods: 5,
      DatapointsToAlarm: 5,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    templateOf('staging').hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'guardian-staging-HighLatencyP99',
      Threshold: 2,
    });
  });

  it('rolls back when the health check answers non-200 for 5 minutes (APIServiceDown)', () => {
    templateOf('production').hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'guardian-production-APIServiceDown',
      MetricName: 'UnHealthyHostCount',
      Statistic: 'Minimum',
      Period: 60,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 5,
      DatapointsToAlarm: 5,
      Dimensions: Match.arrayWith([Match.objectLike({ Name: 'TargetGroup' })]),
    });
  });

  it('rolls back when running pods stay below replicas - 1 for 2 minutes, and counts no data as no pods', () => {
    templateOf('production').hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'guardian-production-PodsBelowReplicas',
      Namespace: 'ContainerInsights',
      MetricName: 'service_number_of_running_pods',
      Statistic: 'Minimum',
      Period: 60,
      Threshold: 2,
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      TreatMissingData: 'breaching',
      Dimensions: Match.arrayWith([
        { Name: 'ClusterName', Value: 'buywhere-prod' },
        { Name: 'Namespace', Value: 'production' },
      ]),
    });
  });

  it('warns when no log events arrive for 10 minutes (NoLogsReceived), no data counting as no logs', () => {
    templateOf('staging').hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'guardian-staging-NoLogsReceived',
      Namespace: 'AWS/Logs',
      MetricName: 'IncomingLogEvents',
      Dimensions: [{ Name: 'LogGroupName', Value: '/aws/containerinsights/buywhere-staging/application' }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 2,
      TreatMissingData: 'breaching',
    });
  });

  it('tags every alarm environment, service and severity and propagates exactly those tags into its events', () => {
    const t = templateOf('production');
    const severities: Record<string, string> = {
      HighErrorRate: 'critical',
      APIServiceDown: 'critical',
      HighLatencyP99: 'critical',
      PodsBelowReplicas: 'critical',
      NoLogsReceived: 'warning',
    };
    for (const [id, severity] of Object.entries(severities)) {
      const name = `guardian-production-${id}`;
      expect(tagsOf(t, 'AWS::CloudWatch::Alarm', 'AlarmName', name)).toEqual({
        environment: 'production',
        service: 'buywhere-api',
        severity,
      });
      t.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: name,
        ActionConfiguration: { AlarmTagsPropagation: { Enabled: true, IncludedTagKeys: TAG_KEYS } },
      });
    }
    expect(tagsOf(t, 'AWS::CloudWatch::CompositeAlarm', 'AlarmName', 'guardian-production-Degraded')).toEqual(
      { environment: 'production', service: 'buywhere-api', severity: 'critical' },
    );
    t.hasResourceProperties('AWS::CloudWatch::CompositeAlarm', {
      AlarmName: 'guardian-production-Degraded',
      ActionConfiguration: { AlarmTagsPropagation: { Enabled: true, IncludedTagKeys: TAG_KEYS } },
    });
  });

  it('makes Degraded the OR of the critical alarms only', () => {
    const t = templateOf('staging');
    const idOf = (name: string) => {
      const ids = Object.keys(t.findResources('AWS::CloudWatch::Alarm', { Properties: { AlarmName: name } }));
      expect(ids, name).toHaveLength(1);
      return ids[0] as string;
    };
    const [composite] = Object.values(t.findResources('AWS::CloudWatch::CompositeAlarm'));
    const rule = JSON.stringify(composite?.Properties.AlarmRule);
    for (const id of ['HighErrorRate', 'APIServiceDown', 'HighLatencyP99', 'PodsBelowReplicas']) {
      expect(rule).toContain(JSON.stringify({ 'Fn::GetAtt': [idOf(`guardian-staging-${id}`), 'Arn'] }));
    }
    expect(rule).not.toContain(idOf('guardian-staging-NoLogsReceived'));
    expect(rule.match(/ALARM\(/g)).toHaveLength(4);
    expect(rule.match(/ OR /g)).toHaveLength(3);
  });

  it('gives the workload alarms no SNS actions: the alarm handler hears them through EventBridge', () => {
    const t = templateOf('production');
    for (const id of METRIC_ALARM_IDS) {
      const [alarm] = Object.values(
        t.findResources('AWS::CloudWatch::Alarm', {
          Properties: { AlarmName: guardianAlarmName('production', id) },
        }),
      );
      expect(alarm?.Properties.AlarmActions, id).toBeUndefined();
      expect(alarm?.Properties.OKActions, id).toBeUndefined();
    }
  });

  it('exposes the Degraded alarm name and ARN as stack outputs for preflight', () => {
    const t = templateOf('production');
    t.hasOutput(DEGRADED_ALARM_OUTPUTS.name, { Value: 'guardian-production-Degraded' });
    t.hasOutput(DEGRADED_ALARM_OUTPUTS.arn, { Value: Match.anyValue() });
    const stack = synthesized().app.stacks.production;
    expect(stack?.workloadAlarms.degradedAlarmName).toBe('guardian-production-Degraded');
  });
});

describe('GuardianAlarms with existing alarms', () => {
  it('creates no alarm for a criterion an existing alarm replaces and watches that alarm in Degraded instead', () => {
    const alarms = alarmsSchema.parse({
      ...productionAlarms(),
      existing: [
        { name: 'team-api-5xx', severity: 'critical', replaces: 'HighErrorRate' },
        { name: 'team-api-logs', severity: 'warning', replaces: 'NoLogsReceived' },
        { name: 'team-db-cpu', severity: 'critical' },
      ],
    });
    const t = alarmsStack(alarms);
    const names = Object.values(t.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties.AlarmName);
    expect(names.sort()).toEqual([
      'guardian-production-APIServiceDown',
      'guardian-production-HighLatencyP99',
      'guardian-production-PodsBelowReplicas',
    ]);
    const [composite] = Object.values(t.findResources('AWS::CloudWatch::CompositeAlarm'));
    const rule = JSON.stringify(composite?.Properties.AlarmRule);
    expect(rule).toContain(':alarm:team-api-5xx');
    expect(rule).toContain(':alarm:team-db-cpu');
    expect(rule).not.toContain('team-api-logs');
    expect(rule).not.toContain('HighErrorRate');
  });

  it('refuses a configuration that leaves Degraded nothing critical to watch, saying how to fix it', () => {
    const alarms = alarmsSchema.parse({
      ...productionAlarms(),
      existing: ['HighErrorRate', 'APIServiceDown', 'HighLatencyP99', 'PodsBelowReplicas'].map((id) => ({
        name: `team-${id}`,
        severity: 'warning',
        replaces: id,
      })),
    });
    expect(() => alarmsStack(alarms)).toThrow(
      /production has no critical alarm for guardian-production-Degraded to watch; .*severity: critical/,
    );
  });
});
