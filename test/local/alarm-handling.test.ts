/**
 * The alarm handler end to end, locally: the synthesized stacks' real `alarm-handler` step gets
 * real-format CloudWatch alarm events; its rollbacks and escalations run as local executions of
 * the synthesized Rollback and Escalation state machines on the cluster simulator and the
 * simulated clock. PagerDuty and Slack are real HTTP receivers on loopback.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AlarmHandlerResult } from '../../lambdas/alarm-handler/handler.ts';
import { loadConfig } from '../../lib/config/load.ts';
import type { SimulatedClock } from '../../lib/local/clock.ts';
import type { LocalEvent } from '../../lib/local/executor.ts';
import { LocalGuardian } from '../../lib/local/guardian.ts';
import { alarmFixture } from '../helpers/alarm-events.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

const config = loadConfig();
const REPO = 'ghcr.io/buywhere/buywhere-api';
const SEED = `${REPO}:v1.0.0`;
const ROUTING_KEY = 'R0123456789abcdef0123456789abcdef';
let receiver: Receiver;
let guardian: LocalGuardian | undefined;

beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver.close();
});
afterEach(async () => {
  await guardian?.close();
  guardian = undefined;
  receiver.reset();
});

async function start(
  opts: { onEvent?: (e: LocalEvent) => void; advanceWhenIdle?: boolean } = {},
): Promise<LocalGuardian> {
  guardian = await LocalGuardian.start({
    config,
    seedImages: { staging: SEED, production: SEED },
    startTime: new Date('2026-11-20T02:00:00Z'), // 10:00 in Singapore, a Friday
    secrets: {
      'guardian/staging/pagerduty-routing-key': ROUTING_KEY,
      'guardian/staging/slack-webhook': `${receiver.url}/slack`,
    },
    pagerdutyEventsUrl: `${receiver.url}/pagerduty`,
    ...(opts.advanceWhenIdle === false ? { advanceWhenIdle: false } : {}),
    ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
  });
  return guardian;
}

/** CloudWatch's timestamp format in alarm events (`2026-11-20T10:12:05.485+0000`). */
const cwTime = (d: Date) => d.toISOString().replace('Z', '+0000');

/** A real-format alarm state change of `guardian-staging-<name>` at `at`. */
function alarmEvent(
  name: string,
  value: 'ALARM' | 'OK' | 'INSUFFICIENT_DATA',
  at: Date,
  opts: { id?: string; severity?: string; previous?: string } = {},
): Record<string, unknown> {
  const e = alarmFixture('guardian-high-error-rate-alarm');
  const alarmName = `guardian-staging-${name}`;
  const detail = e.detail as Record<string, Record<string, unknown>>;
  e.id = opts.id ?? randomUUID();
  e.time = at.toISOString().replace(/\.\d+Z$/, 'Z');
  e.resources = [`arn:aws:cloudwatch:ap-southeast-1:123456789012:alarm:${alarmName}`];
  (detail as Record<string, unknown>).alarmName = alarmName;
  detail.alarmTags = {
    environment: 'staging',
    service: 'buywhere-api',
    severity: opts.severity ?? 'critical',
  };
  detail.state = {
    ...detail.state,
    value,
    timestamp: cwTime(at),
    reason:
      value === 'OK'
        ? 'Threshold Crossed: 5 datapoints were not greater than the threshold (2.0).'
        : `${name} crossed its threshold`,
  };
  detail.previousState = {
    ...detail.previousState,
    value: opts.previous ?? (value === 'OK' ? 'ALARM' : 'OK'),
  };
  return e;
}

async function imageOf(g: LocalGuardian): Promise<string | undefined> {
  return (await g.observeWorkload('staging')).image;
}

/** Deploys `tag` to staging and checks it was promoted. */
async function promote(g: LocalGuardian, tag: string): Promise<string> {
  const result = await g.deploy({
    environment: 'staging',
    image: `${REPO}:${tag}`,
    trigger: 'ci',
    requestedBy: 'github-actions',
  });
  expect(result.status, JSON.stringify(result.cause)).toBe('SUCCEEDED');
  return result.name;
}

const pagerDutyEvents = () =>
  receiver.received('/pagerduty').map(
    (r) =>
      r.json as {
        event_action: string;
        dedup_key: string;
        routing_key: string;
        payload?: { summary: string; severity: string };
      },
  );

describe('alarm handler (local, end to end)', () => {
  it('rolls a promoted release back to the previous image when its HighErrorRate fires, opens an incident and pages PagerDuty', async () => {
    const g = await start();
    const releaseId = await promote(g, 'v1.1.0');
    expect(await imageOf(g)).toBe(`${REPO}:v1.1.0`);
    const result = await g.handleAlarmEvent(alarmEvent('HighErrorRate', 'ALARM', g.clock.now()));
    expect(result).toMatchObject({
      action: 'rollback-release',
      environment: 'staging',
      alarm: 'guardian-staging-HighErrorRate',
      severity: 'critical',
      deploymentId: releaseId,
      rollbackTo: SEED,
      rollback: { started: true },
      escalation: { started: true },
    });
    await g.settle();
    expect(await imageOf(g)).toBe(SEED);
    const records = await g.store('staging').listRecords('staging', 5);
    const rollback = records.find((r) => r.kind === 'rollback');
    expect(rollback).toMatchObject({
      status: 'rolled-back',
      trigger: 'alarm',
      deploymentId: releaseId,
      image: SEED,
    });
    expect(rollback?.reason).toContain('guardian-staging-HighErrorRate');
    const release = records.find((r) => r.id === releaseId);
    expect(release).toMatchObject({
      status: 'rolled-back',
      alarm: { name: 'guardian-staging-HighErrorRate' },
    });
    const incident = await g.store('staging').getIncident('staging', result.incidentId as string);
    expect(incident).toMatchObject({ priority: 'P1', alarm: { name: 'guardian-staging-HighErrorRate' } });
    expect(incident?.release?.rollbackId).toBe(rollback?.id);
    const triggers = pagerDutyEvents().filter((e) => e.event_action === 'trigger');
    expect(triggers.length).toBeGreaterThan(0);
    expect(triggers[0]).toMatchObject({
      dedup_key: result.incidentId,
      routing_key: ROUTING_KEY,
      payload: { severity: 'critical' },
    });
    expect(receiver.received('/slack').length).toBeGreaterThan(0);
  });

  it('100 duplicate deliveries and two other critical alarms for the same release cause exactly one rollback', async () => {
    const g = await start();
    const releaseId = await promote(g, 'v1.1.0');
    const now = g.clock.now();
    const first = alarmEvent('HighErrorRate', 'ALARM', now, { id: randomUUID() });
    const deliveries: Promise<AlarmHandlerResult>[] = [];
    for (let i = 0; i < 100; i++) deliveries.push(g.handleAlarmEvent(structuredClone(first)));
    deliveries.push(g.handleAlarmEvent(alarmEvent('APIServiceDown', 'ALARM', now)));
    deliveries.push(g.handleAlarmEvent(alarmEvent('PodsBelowReplicas', 'ALARM', now)));
    const results = await Promise.all(deliveries);
    await g.settle();
    const byAction = (a: string) => results.filter((r) => r.action === a);
    expect(byAction('rollback-release')).toHaveLength(1);
    // Every other delivery of the first event is a no-op; the other two alarms join the rollback.
    expect(results.slice(0, 100).filter((r) => r.action === 'ignore')).toHaveLength(99);
    expect(results.slice(100).every((r) => r.action === 'notify' || r.action === 'rollback-release')).toBe(
      true,
    );
    const records = await g.store('staging').listRecords('staging', 10);
    expect(records.filter((r) => r.kind === 'rollback')).toHaveLength(1);
    expect(records.find((r) => r.id === releaseId)?.status).toBe('rolled-back');
    expect(await imageOf(g)).toBe(SEED);
  });

  it('an alarm during post-deployment monitoring fails that deployment, which rolls back through its own path', async () => {
    let alarmed: Promise<AlarmHandlerResult> | undefined;
    const g = await start({
      onEvent: (e) => {
        if (!alarmed && e.type === 'StateEntered' && e.state === 'Monitoring round' && guardian) {
          alarmed = guardian.handleAlarmEvent(alarmEvent('HighErrorRate', 'ALARM', guardian.clock.now()));
        }
      },
    });
    const result = await g.deploy({
      environment: 'staging',
      image: `${REPO}:v1.1.0`,
      trigger: 'ci',
      requestedBy: 'github-actions',
    });
    const decision = await alarmed;
    expect(decision).toMatchObject({ action: 'rollback-deployment', deploymentId: result.name });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('DeploymentRolledBack');
    expect(JSON.stringify(result.cause)).toContain('guardian-staging-HighErrorRate');
    const record = await g.store('staging').getRecord('staging', result.name);
    expect(record).toMatchObject({
      status: 'rolled-back',
      alarm: { name: 'guardian-staging-HighErrorRate' },
    });
    expect(await g.store('staging').getLock('staging')).toBeUndefined();
    expect(await imageOf(g)).toBe(SEED);
    // Its own path: the Deploy execution's child rollback, no second rollback from the handler.
    const rollbacks = (await g.store('staging').listRecords('staging', 10)).filter(
      (r) => r.kind === 'rollback',
    );
    expect(rollbacks).toHaveLength(1);
    expect(rollbacks[0]?.trigger).toBe('deploy-failure');
    expect(g.startedExecutions()).toEqual([]);
  });

  it('escalates without rolling back when no release is recent, saying why', async () => {
    const g = await start();
    const result = await g.handleAlarmEvent(alarmEvent('APIServiceDown', 'ALARM', g.clock.now()));
    expect(result.action).toBe('escalate');
    expect(result.reason).toMatch(/no release of staging is on record/);
    await g.settle();
    expect(await imageOf(g)).toBe(SEED);
    expect(
      (await g.store('staging').listRecords('staging', 5)).filter((r) => r.kind === 'rollback'),
    ).toHaveLength(0);
    expect(
      pagerDutyEvents().some((e) => e.event_action === 'trigger' && e.dedup_key === result.incidentId),
    ).toBe(true);
  });

  it('escalates to the lead at 10 simulated minutes and the CTO at 20, and stops when acknowledged', async () => {
    const g = await start({ advanceWhenIdle: false });
    const opened = g.clock.now();
    const result = await g.handleAlarmEvent(alarmEvent('APIServiceDown', 'ALARM', opened));
    const id = result.incidentId as string;
    const store = g.store('staging');
    const levelAt = async (level: number) => {
      for (let i = 0; i < 400; i++) {
        const incident = await store.getIncident('staging', id);
        if ((incident?.levelReached ?? -1) >= level && incident?.taskToken) return incident;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`level ${level} was not reached`);
    };
    expect((await levelAt(0)).levelContact).toBe('on-call');
    (g.clock as SimulatedClock).advance(9 * 60);
    await new Promise((r) => setTimeout(r, 100));
    expect((await store.getIncident('staging', id))?.levelReached).toBe(0);
    (g.clock as SimulatedClock).advance(60);
    const lead = await levelAt(1);
    expect(lead.levelContact).toBe('devops-lead');
    expect(Date.parse(lead.levelReachedAt as string) - opened.getTime()).toBe(10 * 60_000);
    (g.clock as SimulatedClock).advance(10 * 60);
    const cto = await levelAt(2);
    expect(cto.levelContact).toBe('cto');
    expect(Date.parse(cto.levelReachedAt as string) - opened.getTime()).toBe(20 * 60_000);
    const ack = await g.acknowledge('staging', id, { by: 'alice' });
    expect(ack.incident.status).toBe('acknowledged');
    const [escalation] = await g.settle();
    expect(escalation?.status).toBe('SUCCEEDED');
    const pages = pagerDutyEvents().filter((e) => e.dedup_key === id);
    expect(pages.map((e) => e.event_action)).toEqual(['trigger', 'trigger', 'trigger', 'acknowledge']);
  });

  it('resolves the incident and its PagerDuty incident when the alarm is OK again', async () => {
    const g = await start({ advanceWhenIdle: false });
    const fired = await g.handleAlarmEvent(alarmEvent('APIServiceDown', 'ALARM', g.clock.now()));
    const id = fired.incidentId as string;
    for (let i = 0; i < 400 && !(await g.store('staging').getIncident('staging', id))?.taskToken; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    (g.clock as SimulatedClock).advance(120);
    const ok = await g.handleAlarmEvent(alarmEvent('APIServiceDown', 'OK', g.clock.now()));
    expect(ok).toMatchObject({ action: 'resolve', incidentId: id });
    await g.settle();
    expect((await g.store('staging').getIncident('staging', id))?.status).toBe('resolved');
    expect(
      pagerDutyEvents()
        .filter((e) => e.dedup_key === id)
        .map((e) => e.event_action),
    ).toEqual(['trigger', 'resolve']);
  });

  it('a warning notifies Slack only; an alarm of another service is ignored, saying why', async () => {
    const g = await start();
    const warning = await g.handleAlarmEvent(
      alarmEvent('NoLogsReceived', 'ALARM', g.clock.now(), { severity: 'warning' }),
    );
    expect(warning.action).toBe('notify');
    expect(receiver.received('/slack')).toHaveLength(1);
    expect(pagerDutyEvents()).toHaveLength(0);
    const other = alarmEvent('HighErrorRate', 'ALARM', g.clock.now());
    const detail = other.detail as Record<string, unknown>;
    detail.alarmName = 'checkout-HighErrorRate';
    detail.alarmTags = { environment: 'staging', service: 'checkout', severity: 'critical' };
    const ignored = await g.handleAlarmEvent(other);
    expect(ignored.action).toBe('ignore');
    expect(ignored.reason).toMatch(/belongs to service 'checkout'/);
  });

  it('refuses an event that is no alarm state change before anything changes', async () => {
    const g = await start();
    const broken = alarmEvent('HighErrorRate', 'ALARM', g.clock.now());
    delete ((broken.detail as Record<string, unknown>).state as Record<string, unknown>).value;
    await expect(g.handleAlarmEvent(broken)).rejects.toThrow(/detail\.state\.value/);
    expect(await g.store('staging').listIncidents('staging', 5)).toEqual([]);
  });
});
