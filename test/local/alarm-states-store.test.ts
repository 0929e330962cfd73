/**
 * Alarm states in the Control table, on dynalite (what the local alarm replay writes and the
 * alarms port's local adapter reads): one item per alarm, the latest transition wins whatever
 * order events arrive in; read through the port table's local factory, no item reads as OK.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTROL_TABLE } from '../../lambdas/adapters/tables.ts';
import type { AlarmStates } from '../../lambdas/core/ports.ts';
import { RuntimeEnvError } from '../../lambdas/core/runtime-env.ts';
import { ENV_VARS, PORTS } from '../../lambdas/ports/table.ts';
import { loadConfig } from '../../lib/config/load.ts';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';
import { SimulatedClock } from '../../lib/local/clock.ts';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.ts';

let db: LocalDynamo;
beforeAll(async () => {
  db = await startLocalDynamo();
});
afterAll(() => db.close());

const staging = loadConfig().environments.staging as EnvironmentConfig;
const DEGRADED = 'guardian-staging-Degraded';

describe('alarm state store', () => {
  it('keeps one item per alarm under alarm#<env>, with value, reason and updatedAt', async () => {
    const alarm = {
      value: 'ALARM',
      reason: 'HighErrorRate in ALARM',
      updatedAt: '2026-12-03T06:00:00.000Z',
    } as const;
    expect(await db.store.putAlarmState('staging', DEGRADED, alarm)).toBe(true);
    expect(await db.store.getAlarmState('staging', DEGRADED)).toEqual(alarm);
    expect(await db.store.getAlarmState('production', DEGRADED)).toBeUndefined();
    expect(await db.store.getAlarmState('staging', 'guardian-staging-HighErrorRate')).toBeUndefined();
    const raw = await db.doc.send(
      new GetCommand({
        TableName: db.tables.controlTable,
        Key: { [CONTROL_TABLE.partitionKey]: 'alarm#staging', [CONTROL_TABLE.sortKey]: DEGRADED },
      }),
    );
    expect(raw.Item).toMatchObject({ value: 'ALARM', reason: 'HighErrorRate in ALARM' });
  });

  it('keeps the latest transition when an older event arrives after a newer one', async () => {
    const env = 'ordering';
    expect(
      await db.store.putAlarmState(env, DEGRADED, { value: 'OK', updatedAt: '2026-12-03T06:10:00Z' }),
    ).toBe(true);
    // CloudWatch event time format: +0000 rather than Z, same instant ordering.
    expect(
      await db.store.putAlarmState(env, DEGRADED, {
        value: 'ALARM',
        updatedAt: '2026-12-03T06:05:00.000+0000',
      }),
    ).toBe(false);
    expect(await db.store.getAlarmState(env, DEGRADED)).toEqual({
      value: 'OK',
      updatedAt: '2026-12-03T06:10:00Z',
    });
    expect(
      await db.store.putAlarmState(env, DEGRADED, { value: 'ALARM', updatedAt: '2026-12-03T06:15:00Z' }),
    ).toBe(true);
    expect((await db.store.getAlarmState(env, DEGRADED))?.value).toBe('ALARM');
  });

  it('writes a redelivered transition again (same time) and an undated state as the latest', async () => {
    const env = 'redelivery';
    const at = '2026-12-03T06:20:00Z';
    expect(await db.store.putAlarmState(env, DEGRADED, { value: 'ALARM', updatedAt: at })).toBe(true);
    expect(await db.store.putAlarmState(env, DEGRADED, { value: 'ALARM', updatedAt: at })).toBe(true);
    expect(await db.store.putAlarmState(env, DEGRADED, { value: 'INSUFFICIENT_DATA' })).toBe(true);
    expect(await db.store.getAlarmState(env, DEGRADED)).toEqual({ value: 'INSUFFICIENT_DATA' });
  });

  it("reads states through the alarms port's local adapter, an alarm with no stored state as OK", async () => {
    const alarms = (await PORTS.alarms.local(
      {
        config: staging,
        clock: new SimulatedClock(),
        vars: {
          [ENV_VARS.deploymentsTable]: db.tables.deploymentsTable,
          [ENV_VARS.controlTable]: db.tables.controlTable,
        },
      },
      {
        dynamo: db.doc,
        kubernetes: () => Promise.reject(new Error('no cluster')),
        clock: new SimulatedClock(),
      },
    )) as AlarmStates;
    expect(await alarms.stateOf('guardian-staging-APIServiceDown')).toEqual({ value: 'OK' });
    await db.store.putAlarmState('staging', 'guardian-staging-APIServiceDown', {
      value: 'ALARM',
      reason: 'Threshold Crossed',
      updatedAt: '2026-12-03T06:30:00Z',
    });
    expect(await alarms.stateOf('guardian-staging-APIServiceDown')).toEqual({
      value: 'ALARM',
      reason: 'Threshold Crossed',
      updatedAt: '2026-12-03T06:30:00Z',
    });
  });

  it("refuses to build the local adapter without the store's tables, saying the step needs the store port", async () => {
    const build = PORTS.alarms.local(
      { config: staging, clock: new SimulatedClock(), vars: {} },
      {
        dynamo: db.doc,
        kubernetes: () => Promise.reject(new Error('no cluster')),
        clock: new SimulatedClock(),
      },
    );
    await expect(build).rejects.toThrow(RuntimeEnvError);
    await expect(build).rejects.toThrow('a step with the alarms port needs the store port too');
  });
});
