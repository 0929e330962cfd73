import { describe, expect, it } from 'vitest';
import { type AlarmEvent, parseAlarmEvent, parseCloudWatchTime } from '../../lambdas/core/alarm-event.ts';
import { alarmFixture as fixture } from '../helpers/alarm-events.ts';

function parsed(json: unknown): AlarmEvent {
  const result = parseAlarmEvent(json);
  if (!result.ok) throw new Error(`expected an alarm event, got ${result.kind}: ${result.message}`);
  return result.event;
}

function problems(json: unknown): readonly string[] {
  const result = parseAlarmEvent(json);
  if (result.ok || result.kind !== 'malformed')
    throw new Error(`expected a malformed event, got ${JSON.stringify(result)}`);
  return result.problems;
}

/** `fixture` with `edit` applied to its detail. */
function withDetail(name: string, edit: (detail: Record<string, unknown>) => void): Record<string, unknown> {
  const event = fixture(name);
  edit(event.detail as Record<string, unknown>);
  return event;
}

describe('parseAlarmEvent on the AWS documentation examples', () => {
  it('reads a single-metric alarm event', () => {
    const e = parsed(fixture('single-metric'));
    expect(e).toMatchObject({
      id: 'c4c1c1c9-6542-e61b-6ef0-8c4d36933a92',
      account: '123456789012',
      region: 'us-east-1',
      time: '2019-10-02T17:04:40.000Z',
      alarmName: 'ServerCpuTooHigh',
      alarmArn: 'arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh',
      kind: 'metric',
      state: { value: 'ALARM', at: '2019-10-02T17:04:40.989Z' },
      previousState: { value: 'OK', at: '2019-10-01T13:56:40.987Z' },
      description: 'Goes into alarm when server CPU utilization is too high!',
    });
    expect(e.state.reason).toMatch(/^Threshold Crossed: 1 out of the last 1 datapoints/);
    expect(e.tags).toBeUndefined();
  });

  it('reads a metric-math alarm event', () => {
    const e = parsed(fixture('metric-math'));
    expect(e).toMatchObject({ alarmName: 'TotalNetworkTrafficTooHigh', kind: 'metric-math' });
    expect(e.previousState?.value).toBe('INSUFFICIENT_DATA');
  });

  it('reads an anomaly-detection alarm event (its band is an expression)', () => {
    expect(parsed(fixture('anomaly-detection'))).toMatchObject({
      alarmName: 'EC2 CPU Utilization Anomaly',
      kind: 'anomaly-detection',
      state: { value: 'ALARM' },
    });
  });

  it('reads a composite alarm event: its rule and the children that moved it', () => {
    const e = parsed(fixture('composite'));
    expect(e).toMatchObject({
      alarmName: 'ServiceAggregatedAlarm',
      kind: 'composite',
      alarmRule: 'ALARM(ServerCpuTooHigh) OR ALARM(TotalNetworkTrafficTooHigh)',
      triggeringAlarms: ['arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh'],
    });
    expect(e.description).toBeUndefined();
  });

  it('reads a Metrics Insights (multi time series) alarm event as an expression alarm', () => {
    expect(parsed(fixture('metrics-insights'))).toMatchObject({
      alarmName: 'DynamoDBInsightsAlarm',
      kind: 'metric-math',
    });
  });

  it.each(['contributor-state-change', 'configuration-change'])(
    'tells a %s event is no alarm state change, without calling it malformed',
    (name) => {
      const result = parseAlarmEvent(fixture(name));
      expect(result).toMatchObject({ ok: false, kind: 'not-alarm-state-change' });
      if (!result.ok) expect(result.message).toMatch(/is not a CloudWatch alarm state change/);
    },
  );
});

describe("parseAlarmEvent on the guardian's own alarms", () => {
  it('reads the propagated tags when CloudWatch retrieved them', () => {
    const e = parsed(fixture('guardian-high-error-rate-alarm'));
    expect(e).toMatchObject({
      alarmName: 'guardian-production-HighErrorRate',
      kind: 'metric-math',
      region: 'ap-southeast-1',
      tags: { environment: 'production', service: 'buywhere-api', severity: 'critical' },
      tagsStatus: 'SUCCESS',
    });
  });

  it('does not trust tags CloudWatch reports it could not retrieve', () => {
    const e = parsed(
      withDetail('guardian-high-error-rate-alarm', (d) => {
        d.alarmTagsStatus = 'FAILED';
      }),
    );
    expect(e.tags).toBeUndefined();
    expect(e.tagsStatus).toBe('FAILED');
  });

  it('reads the composite Degraded alarm with its triggering child', () => {
    expect(parsed(fixture('guardian-degraded-alarm'))).toMatchObject({
      kind: 'composite',
      triggeringAlarms: [
        'arn:aws:cloudwatch:ap-southeast-1:123456789012:alarm:guardian-production-HighErrorRate',
      ],
      tags: { severity: 'critical' },
    });
  });

  it('reads a composite alarm whose reasonData is not JSON, without its children', () => {
    const e = parsed(
      withDetail('composite', (d) => {
        (d.state as Record<string, unknown>).reasonData = 'not json';
      }),
    );
    expect(e.kind).toBe('composite');
    expect(e.triggeringAlarms).toBeUndefined();
  });
});

describe('parseAlarmEvent on bad input', () => {
  it('says exactly which field is missing', () => {
    expect(
      problems(
        withDetail('single-metric', (d) => {
          delete (d.state as Record<string, unknown>).value;
        }),
      ),
    ).toEqual(['detail.state.value is missing']);
    expect(
      problems(
        withDetail('single-metric', (d) => {
          delete d.state;
        }),
      ),
    ).toEqual(['detail.state is missing']);
  });

  it('names an unknown state and the states it knows', () => {
    expect(
      problems(
        withDetail('single-metric', (d) => {
          (d.state as Record<string, unknown>).value = 'BROKEN';
        }),
      ),
    ).toEqual(['detail.state.value must be one of OK, ALARM, INSUFFICIENT_DATA, got "BROKEN"']);
  });

  it('refuses a timestamp that is no time, and wrong types, each with its path', () => {
    const event = withDetail('metric-math', (d) => {
      (d.previousState as Record<string, unknown>).timestamp = 'yesterday';
      d.alarmName = 42;
      ((d.configuration as { metrics: Record<string, unknown>[] }).metrics[1] as Record<string, unknown>).id =
        null;
    });
    expect(problems(event)).toEqual([
      'detail.alarmName must be a string, got a number',
      'detail.previousState.timestamp must be a time such as 2019-10-02T17:04:40.989+0000',
      'detail.configuration.metrics[1].id must be a string, got null',
    ]);
  });

  it('refuses what is not an EventBridge event at all', () => {
    expect(problems('{"source": "aws.cloudwatch"}')).toEqual([
      'not an EventBridge event: expected a JSON object, got a string',
    ]);
    expect(problems([])).toEqual(['not an EventBridge event: expected a JSON object, got an array']);
    expect(problems({ detail: {} })).toEqual(['source is missing', 'detail-type is missing']);
    expect(problems({ source: 7, 'detail-type': 'CloudWatch Alarm State Change' })).toEqual([
      'source must be a string, got a number',
    ]);
  });

  it('tells an event of another source is no alarm state change', () => {
    const result = parseAlarmEvent({
      version: '0',
      id: 'x',
      source: 'aws.states',
      'detail-type': 'Step Functions Execution Status Change',
      detail: {},
    });
    expect(result).toEqual({
      ok: false,
      kind: 'not-alarm-state-change',
      message:
        'event aws.states / Step Functions Execution Status Change is not a CloudWatch alarm state change (aws.cloudwatch / CloudWatch Alarm State Change)',
    });
  });

  it('refuses an alarm event without its envelope fields', () => {
    const event = fixture('single-metric');
    delete event.id;
    delete event.account;
    expect(problems(event)).toEqual(['id is missing', 'account is missing']);
  });
});

describe('parseCloudWatchTime', () => {
  it('reads the +0000 offset CloudWatch writes, Z and +hh:mm, and refuses the rest', () => {
    expect(parseCloudWatchTime('2019-10-02T17:04:40.989+0000')).toBe(Date.UTC(2019, 9, 2, 17, 4, 40, 989));
    expect(parseCloudWatchTime('2019-10-02T19:04:40.989+0200')).toBe(Date.UTC(2019, 9, 2, 17, 4, 40, 989));
    expect(parseCloudWatchTime('2019-10-02T17:04:40Z')).toBe(Date.UTC(2019, 9, 2, 17, 4, 40));
    expect(parseCloudWatchTime('2019-10-02T17:04:40+00:00')).toBe(Date.UTC(2019, 9, 2, 17, 4, 40));
    expect(parseCloudWatchTime('2019-10-02')).toBeNaN();
    expect(parseCloudWatchTime('2019-10-02T17:04:40')).toBeNaN();
  });
});
