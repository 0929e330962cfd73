/**
 * The alarms port's AWS adapter, built by the port table's AWS factory exactly as in Lambda,
 * against moto server: DescribeAlarms of a composite alarm (ALARM, OK) and of a metric alarm, and
 * an alarm that does not exist. Gaps of moto: no PutCompositeAlarm (see putCompositeAlarm), it does
 * not evaluate a composite's rule (the state is set with SetAlarmState here) and does not enforce IAM, so AccessDenied (not transient,
 * refused by preflight as unreadable) is covered by the unit tests of the decision only.
 */
import { CloudWatchClient, PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEGRADED_ALARM_ID, guardianAlarmName } from '../../lambdas/core/alarm-catalog.ts';
import type { AlarmStates } from '../../lambdas/core/ports.ts';
import { PORTS } from '../../lambdas/ports/table.ts';
import { loadConfig } from '../../lib/config/load.ts';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';
import { SimulatedClock } from '../../lib/local/clock.ts';
import { type Moto, startMoto, useMotoEnvironment } from '../helpers/moto.ts';

const REGION = 'ap-southeast-1';
let moto: Moto | undefined;
let endpoint = '';
let restoreEnv: () => void = () => undefined;

beforeAll(async () => {
  moto = await startMoto();
  endpoint = moto.endpoint;
  // The client the factory builds (`new CloudWatchClient({})`) finds moto through these.
  restoreEnv = useMotoEnvironment(endpoint, REGION);
});

afterAll(() => {
  restoreEnv();
  moto?.stop();
});

const prod = loadConfig().environments.production as EnvironmentConfig;
const DEGRADED = guardianAlarmName('production', DEGRADED_ALARM_ID);
const HIGH_ERROR_RATE = guardianAlarmName('production', 'HighErrorRate');

/**
 * Creates a composite alarm in moto. Moto 5.2.5 has no PutCompositeAlarm; it keeps a PutMetricAlarm
 * that carries an AlarmRule as a composite alarm (and DescribeAlarms returns it under
 * CompositeAlarms). The SDK's PutMetricAlarm drops AlarmRule, so this sends the JSON request itself.
 */
async function putCompositeAlarm(name: string, rule: string): Promise<void> {
  const res = await fetch(`${endpoint}/`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': 'GraniteServiceVersion20100801.PutMetricAlarm',
      // Moto takes the service and region from the credential scope; it checks no signature.
      authorization: `AWS4-HMAC-SHA256 Credential=testing/20261203/${REGION}/monitoring/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify({ AlarmName: name, AlarmRule: rule }),
  });
  if (!res.ok) throw new Error(`moto refused the composite alarm ${name}: ${res.status} ${await res.text()}`);
}

async function alarmsPort(): Promise<AlarmStates> {
  return (await PORTS.alarms.aws({ config: prod, clock: new SimulatedClock(), vars: {} })) as AlarmStates;
}

describe('alarms port on CloudWatch (moto)', () => {
  it("reads the composite alarm's ALARM and OK states with reason and time, and a metric alarm's, by name", async () => {
    const cw = new CloudWatchClient({ region: REGION, endpoint });
    await cw.send(
      new PutMetricAlarmCommand({
        AlarmName: HIGH_ERROR_RATE,
        Namespace: 'AWS/ApplicationELB',
        MetricName: 'HTTPCode_Target_5XX_Count',
        Statistic: 'Sum',
        Period: 60,
        EvaluationPeriods: 5,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanThreshold',
      }),
    );
    await putCompositeAlarm(DEGRADED, `ALARM("${HIGH_ERROR_RATE}")`);
    const alarms = await alarmsPort();

    await cw.send(
      new SetAlarmStateCommand({
        AlarmName: DEGRADED,
        StateValue: 'ALARM',
        StateReason: `${HIGH_ERROR_RATE} transitioned to ALARM`,
      }),
    );
    const firing = await alarms.stateOf(DEGRADED);
    expect(firing).toMatchObject({ value: 'ALARM', reason: `${HIGH_ERROR_RATE} transitioned to ALARM` });
    expect(firing?.updatedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    await cw.send(
      new SetAlarmStateCommand({ AlarmName: DEGRADED, StateValue: 'OK', StateReason: 'recovered' }),
    );
    expect(await alarms.stateOf(DEGRADED)).toMatchObject({ value: 'OK', reason: 'recovered' });

    await cw.send(
      new SetAlarmStateCommand({
        AlarmName: HIGH_ERROR_RATE,
        StateValue: 'ALARM',
        StateReason: 'Threshold Crossed',
      }),
    );
    expect(await alarms.stateOf(HIGH_ERROR_RATE)).toMatchObject({
      value: 'ALARM',
      reason: 'Threshold Crossed',
    });
  });

  it('reads an alarm that does not exist as undefined, not as OK', async () => {
    const alarms = await alarmsPort();
    expect(await alarms.stateOf(guardianAlarmName('staging', DEGRADED_ALARM_ID))).toBeUndefined();
    // A prefix of an existing name is another alarm.
    expect(await alarms.stateOf('guardian-production-Degrade')).toBeUndefined();
  });
});
