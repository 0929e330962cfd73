/**
 * The alarms port's CloudWatch adapter against a real HTTP server on 127.0.0.1 answering in
 * CloudWatch's JSON protocol (AWS JSON 1.0, query-compatible errors): what it asks for, how it
 * maps the answer, and which failures are transient. moto covers the happy path end to end
 * (test/integration/preflight-alarm-aws.test.ts) but ignores AlarmTypes, which real CloudWatch
 * does not: without it, DescribeAlarms leaves composite alarms out.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CloudWatchAlarmStates } from '../../lambdas/adapters/cloudwatch-alarms.ts';
import { TransientError } from '../../lambdas/core/errors.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

const NAME = 'guardian-production-Degraded';
let cw: Receiver;
let alarms: CloudWatchAlarmStates;

beforeAll(async () => {
  cw = await startReceiver();
  alarms = new CloudWatchAlarmStates(
    new CloudWatchClient({
      endpoint: cw.url,
      region: 'ap-southeast-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      // One attempt: what the adapter makes of a failure, not the SDK's retries.
      maxAttempts: 1,
    }),
  );
});
afterAll(() => cw.close());
beforeEach(() => cw.reset());

const json = (body: unknown) => ({
  status: 200,
  body: JSON.stringify(body),
  headers: { 'content-type': 'application/x-amz-json-1.0' },
});
/** An error as CloudWatch's JSON protocol sends it, with the query-compatible code header. */
const awsError = (status: number, type: string, message: string) => ({
  status,
  body: JSON.stringify({ __type: `com.amazonaws.cloudwatch#${type}`, message }),
  headers: {
    'content-type': 'application/x-amz-json-1.0',
    'x-amzn-query-error': `${type};${status >= 500 ? 'Receiver' : 'Sender'}`,
  },
});

describe('CloudWatchAlarmStates', () => {
  it('asks DescribeAlarms for the alarm by name with both alarm types, so composite alarms are returned', async () => {
    cw.script('/', [json({ CompositeAlarms: [], MetricAlarms: [] })]);
    expect(await alarms.stateOf(NAME)).toBeUndefined();
    const [request] = cw.received('/');
    expect(request?.headers['x-amz-target']).toBe('GraniteServiceVersion20100801.DescribeAlarms');
    expect(request?.json).toEqual({ AlarmNames: [NAME], AlarmTypes: ['CompositeAlarm', 'MetricAlarm'] });
  });

  it('maps a composite alarm in ALARM: state, reason and the time its state last changed', async () => {
    cw.script('/', [
      json({
        CompositeAlarms: [
          {
            AlarmName: NAME,
            AlarmRule: 'ALARM("guardian-production-HighErrorRate")',
            StateValue: 'ALARM',
            StateReason:
              'arn:aws:cloudwatch:ap-southeast-1:123456789012:alarm:guardian-production-HighErrorRate transitioned to ALARM',
            StateUpdatedTimestamp: 1_796_278_800.5,
            StateTransitionedTimestamp: 1_796_278_500,
          },
        ],
        MetricAlarms: [],
      }),
    ]);
    expect(await alarms.stateOf(NAME)).toEqual({
      value: 'ALARM',
      reason:
        'arn:aws:cloudwatch:ap-southeast-1:123456789012:alarm:guardian-production-HighErrorRate transitioned to ALARM',
      updatedAt: new Date(1_796_278_500_000).toISOString(),
    });
  });

  it('maps a metric alarm, falling back to StateUpdatedTimestamp, and ignores alarms of other names', async () => {
    cw.script('/', [
      json({
        MetricAlarms: [
          { AlarmName: 'guardian-production-HighErrorRate', StateValue: 'ALARM' },
          { AlarmName: NAME, StateValue: 'OK', StateUpdatedTimestamp: 1_796_278_800 },
        ],
      }),
    ]);
    expect(await alarms.stateOf(NAME)).toEqual({
      value: 'OK',
      updatedAt: new Date(1_796_278_800_000).toISOString(),
    });
  });

  it('fails on a state it does not know, so preflight treats the alarm as unreadable', async () => {
    cw.script('/', [json({ CompositeAlarms: [{ AlarmName: NAME, StateValue: 'SNOOZED' }] })]);
    await expect(alarms.stateOf(NAME)).rejects.toThrow(
      `CloudWatch reported ${NAME} in an unknown state 'SNOOZED'`,
    );
  });

  it('turns throttling and 5xx into TransientError, naming the alarm', async () => {
    cw.script('/', [
      awsError(400, 'Throttling', 'Rate exceeded'),
      awsError(500, 'InternalServiceFault', 'Internal error'),
    ]);
    const throttled = alarms.stateOf(NAME);
    await expect(throttled).rejects.toThrow(TransientError);
    await expect(throttled).rejects.toThrow(`CloudWatch: DescribeAlarms for ${NAME} failed (Throttling)`);
    await expect(alarms.stateOf(NAME)).rejects.toThrow(TransientError);
  });

  it('passes AccessDenied through as it is: an operator must fix the role, retrying will not', async () => {
    cw.script('/', [
      awsError(
        403,
        'AccessDenied',
        'User: arn:aws:sts::123456789012:assumed-role/x/y is not authorized to perform: cloudwatch:DescribeAlarms',
      ),
    ]);
    const denied = alarms.stateOf(NAME);
    await expect(denied).rejects.not.toThrow(TransientError);
    await expect(denied).rejects.toMatchObject({ name: 'AccessDenied' });
  });
});
