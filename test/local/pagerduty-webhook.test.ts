/**
 * Acknowledging in PagerDuty stops the chain, locally end to end: an alarm opens an incident whose
 * escalation (the synthesized Escalation state machine on the simulated clock) pages PagerDuty, a
 * real HTTP receiver on loopback; then a PagerDuty v3 webhook delivery (the published payload
 * format, https://developer.pagerduty.com/docs/webhooks-overview, signed as
 * https://developer.pagerduty.com/docs/verifying-signatures describes) is handed to the
 * environment's real `pagerduty-webhook` step, as its Function URL would.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signatureHeader } from '../../lambdas/core/pagerduty-webhook.ts';
import { loadConfig } from '../../lib/config/load.ts';
import type { SimulatedClock } from '../../lib/local/clock.ts';
import { LocalGuardian } from '../../lib/local/guardian.ts';
import { alarmFixture } from '../helpers/alarm-events.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

const config = loadConfig();
const SEED = 'ghcr.io/buywhere/buywhere-api:v1.0.0';
const SIGNING_SECRET = 'q8Vb3kTzL0pXw2sN7yRj5mHc9dFg4aEu6iOo1lKe-signing';
const WEBHOOK_SECRET_NAME = config.environments.staging?.escalation.channels.pagerduty?.webhookSecret;
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

async function start(): Promise<LocalGuardian> {
  if (!WEBHOOK_SECRET_NAME)
    throw new Error('config/environments.yaml: staging has no PagerDuty webhookSecret');
  guardian = await LocalGuardian.start({
    config,
    seedImages: { staging: SEED, production: SEED },
    startTime: new Date('2026-11-20T02:00:00Z'),
    secrets: {
      'guardian/staging/pagerduty-routing-key': 'R0123456789abcdef0123456789abcdef',
      'guardian/staging/slack-webhook': `${receiver.url}/slack`,
      [WEBHOOK_SECRET_NAME]: SIGNING_SECRET,
    },
    pagerdutyEventsUrl: `${receiver.url}/pagerduty`,
    advanceWhenIdle: false,
  });
  return guardian;
}

/** A real-format critical alarm state change of staging's APIServiceDown. */
function apiServiceDown(at: Date): Record<string, unknown> {
  const e = alarmFixture('guardian-high-error-rate-alarm');
  const alarmName = 'guardian-staging-APIServiceDown';
  const detail = e.detail as Record<string, unknown>;
  e.id = randomUUID();
  e.time = at.toISOString().replace(/\.\d+Z$/, 'Z');
  e.resources = [`arn:aws:cloudwatch:ap-southeast-1:123456789012:alarm:${alarmName}`];
  detail.alarmName = alarmName;
  detail.alarmTags = { environment: 'staging', service: 'buywhere-api', severity: 'critical' };
  detail.state = {
    ...(detail.state as object),
    value: 'ALARM',
    timestamp: at.toISOString().replace('Z', '+0000'),
    reason: 'APIServiceDown crossed its threshold',
  };
  detail.previousState = { ...(detail.previousState as object), value: 'OK' };
  return e;
}

/** PagerDuty's v3 delivery of `eventType` for the incident whose dedup key is `incidentKey`. */
function webhookBody(eventType: string, incidentKey: string): string {
  return JSON.stringify({
    event: {
      id: randomUUID(),
      event_type: eventType,
      resource_type: 'incident',
      occurred_at: '2026-11-20T02:10:30.169Z',
      agent: {
        html_url: 'https://buywhere.pagerduty.com/users/PLH1HKV',
        id: 'PLH1HKV',
        self: 'https://api.pagerduty.com/users/PLH1HKV',
        summary: 'Bolt',
        type: 'user_reference',
      },
      client: { name: 'PagerDuty' },
      data: {
        id: 'PGR0VU2',
        type: 'incident',
        self: 'https://api.pagerduty.com/incidents/PGR0VU2',
        html_url: 'https://buywhere.pagerduty.com/incidents/PGR0VU2',
        number: 2,
        status: eventType === 'incident.resolved' ? 'resolved' : 'acknowledged',
        incident_key: incidentKey,
        created_at: '2026-11-20T02:00:01Z',
        title: 'guardian-staging-APIServiceDown in staging',
        urgency: 'high',
        resolve_reason: null,
      },
    },
  });
}

const pagerDutyActions = (id: string) =>
  receiver
    .received('/pagerduty')
    .map((r) => r.json as { event_action: string; dedup_key: string })
    .filter((e) => e.dedup_key === id)
    .map((e) => e.event_action);

/** Fires the alarm and waits until its escalation waits at `level` with a token. */
async function escalating(g: LocalGuardian): Promise<string> {
  const fired = await g.handleAlarmEvent(apiServiceDown(g.clock.now()));
  const id = fired.incidentId as string;
  expect(id).toMatch(/^staging-/);
  await waitForLevel(g, id, 0);
  return id;
}

async function waitForLevel(g: LocalGuardian, id: string, level: number) {
  for (let i = 0; i < 400; i++) {
    const incident = await g.store('staging').getIncident('staging', id);
    if ((incident?.levelReached ?? -1) >= level && incident?.taskToken) return incident;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`level ${level} was not reached`);
}

describe('PagerDuty webhook (local, end to end)', () => {
  it('stops the escalation when PagerDuty reports the incident acknowledged; a wrongly signed delivery changes nothing', async () => {
    const g = await start();
    const id = await escalating(g);
    (g.clock as SimulatedClock).advance(10 * 60);
    expect((await waitForLevel(g, id, 1)).levelContact).toBe('devops-lead');

    const body = webhookBody('incident.acknowledged', id);
    const forged = await g.handlePagerDutyWebhook('staging', {
      headers: {
        'Content-Type': 'application/json',
        'X-PagerDuty-Signature': signatureHeader(body, 'guessed'),
      },
      body,
    });
    expect(forged.statusCode).toBe(401);
    expect(JSON.parse(forged.body).error).toMatch(/not signed with the subscription's secret/);
    const unsigned = await g.handlePagerDutyWebhook('staging', { headers: {}, body });
    expect(unsigned.statusCode).toBe(401);
    const stillOpen = await g.store('staging').getIncident('staging', id);
    expect(stillOpen).toMatchObject({ status: 'open', levelReached: 1 });
    expect(stillOpen?.acknowledgedBy).toBeUndefined();

    const ack = await g.handlePagerDutyWebhook('staging', {
      headers: {
        'Content-Type': 'application/json',
        'X-PagerDuty-Signature': signatureHeader(body, SIGNING_SECRET),
      },
      body,
    });
    expect(ack.statusCode).toBe(200);
    expect(JSON.parse(ack.body)).toMatchObject({
      action: 'acknowledge',
      incidentId: id,
      changed: true,
      chainEnded: true,
    });
    const [escalation] = await g.settle();
    expect(escalation?.status).toBe('SUCCEEDED');
    const incident = await g.store('staging').getIncident('staging', id);
    expect(incident).toMatchObject({
      status: 'acknowledged',
      acknowledgedBy: 'pagerduty:Bolt',
      levelReached: 1,
    });
    // On-call and the lead were paged; the CTO never is; PagerDuty hears the acknowledgement back.
    expect(pagerDutyActions(id)).toEqual(['trigger', 'trigger', 'acknowledge']);

    // PagerDuty delivers at least once: the same delivery again is a no-op that says who was first.
    const again = await g.handlePagerDutyWebhook('staging', {
      headers: { 'x-pagerduty-signature': signatureHeader(body, SIGNING_SECRET) },
      body: Buffer.from(body).toString('base64'),
      isBase64Encoded: true,
    });
    expect(again.statusCode).toBe(200);
    expect(JSON.parse(again.body)).toMatchObject({ changed: false, chainEnded: false });
    expect(JSON.parse(again.body).message).toMatch(/already acknowledged by pagerduty:Bolt/);
  });

  it('resolves the incident when PagerDuty reports it resolved, and ignores incidents that are not ours', async () => {
    const g = await start();
    const id = await escalating(g);
    const sign = (body: string) => ({ 'x-pagerduty-signature': signatureHeader(body, SIGNING_SECRET) });

    const foreign = webhookBody('incident.resolved', 'd3640fbd41094207a1c11e58e46b1662');
    const ignored = await g.handlePagerDutyWebhook('staging', { headers: sign(foreign), body: foreign });
    expect(ignored.statusCode).toBe(200);
    expect(JSON.parse(ignored.body)).toMatchObject({ action: 'ignore' });
    const unknown = webhookBody('incident.resolved', 'staging-20261120T015959Z-00000000');
    expect(
      JSON.parse((await g.handlePagerDutyWebhook('staging', { headers: sign(unknown), body: unknown })).body),
    ).toMatchObject({ action: 'ignore', reason: expect.stringMatching(/has no incident/) });
    expect((await g.store('staging').getIncident('staging', id))?.status).toBe('open');

    const malformed = '{"event":';
    expect(
      (await g.handlePagerDutyWebhook('staging', { headers: sign(malformed), body: malformed })).statusCode,
    ).toBe(400);

    const body = webhookBody('incident.resolved', id);
    const resolved = await g.handlePagerDutyWebhook('staging', { headers: sign(body), body });
    expect(JSON.parse(resolved.body)).toMatchObject({ action: 'resolve', changed: true, chainEnded: true });
    const [escalation] = await g.settle();
    expect(escalation?.status).toBe('SUCCEEDED');
    expect(await g.store('staging').getIncident('staging', id)).toMatchObject({
      status: 'resolved',
      resolvedBy: 'pagerduty:Bolt',
    });
    expect(pagerDutyActions(id)).toEqual(['trigger', 'resolve']);
  });
});
