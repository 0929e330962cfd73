/**
 * The real alarm-handler step under a load of duplicate deliveries and concurrent critical alarms
 * (the small version of `npm run bench -- alarm-throughput`): its store on dynalite, its notifier
 * on a loopback receiver, Rollback and Escalation starts counted by name. A correctness check, not
 * a timing one: however the deliveries interleave, each release is rolled back exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config/load.ts';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';
import { SimulatedClock } from '../../lib/local/clock.ts';
import { runAlarmLoad } from '../helpers/alarm-load.ts';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

const staging = loadConfig().environments.staging as EnvironmentConfig;
let db: LocalDynamo;
let receiver: Receiver;

beforeAll(async () => {
  [db, receiver] = await Promise.all([startLocalDynamo(), startReceiver()]);
});
afterAll(async () => {
  await Promise.all([db.close(), receiver.close()]);
});

describe('alarm handler under load', () => {
  it('rolls each release back exactly once when duplicate deliveries and other critical alarms arrive concurrently', async () => {
    const shape = { releases: 4, alarmsPerRelease: 3, deliveries: 8, concurrency: 16 };
    const result = await runAlarmLoad(
      {
        db,
        staging,
        clock: new SimulatedClock(new Date('2026-11-20T02:00:00Z')),
        secrets: { [staging.escalation.channels.slack?.webhookSecret as string]: `${receiver.url}/slack` },
      },
      shape,
      'load',
    );
    expect(result.events).toBe(4 * 3 * 8);
    expect(result.failed).toBe(0);
    expect([...result.rollbacksPerRelease.values()]).toEqual([1, 1, 1, 1]);
    // One incident per release, escalated once; the alarms that lost the claim only notify.
    expect([...result.escalationStarts.values()]).toEqual([1, 1, 1, 1]);
    expect(result.actions['rollback-release']).toBe(4);
    // Every delivery but the first of each event is a no-op (a retried one included).
    expect(result.actions.ignore).toBe(4 * 3 * 7);
    expect(receiver.received('/slack').length).toBeGreaterThanOrEqual(4 * 2);
  });
});
