/**
 * The escalation steps as the local runner builds them (exactly their ports and config slice, local
 * adapters): incidents on dynalite, PagerDuty and the Slack webhook replaced by a real HTTP receiver
 * on 127.0.0.1 that records what it gets, Secrets Manager by the local runner's dictionary, SNS by a
 * recorder. The Escalation workflow's states call these steps in this order.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IncidentClosedError } from '../../lambdas/core/errors.ts';
import {
  escalationTaskOutput,
  type Incident,
  incidentId,
  openIncident,
} from '../../lambdas/core/escalation.ts';
import type { SnsMessage } from '../../lambdas/core/escalation-messages.ts';
import { step as notify } from '../../lambdas/escalation-notify/handler.ts';
import { step as wait } from '../../lambdas/escalation-wait/handler.ts';
import { ENV_VARS } from '../../lambdas/ports/table.ts';
import type { Step, StepDeps } from '../../lambdas/shared/step.ts';
import { buildStepDeps, configSlice } from '../../lambdas/shared/wiring.ts';
import type { StepId } from '../../lambdas/steps.ts';
import { loadConfig } from '../../lib/config/load.ts';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';
import { SimulatedClock } from '../../lib/local/clock.ts';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

const ENV = 'production';
const PD = '/v2/enqueue';
const SLACK = '/services/T000/B000/XXXX';
const OPENED = new Date('2026-12-03T02:00:00Z');
const EXECUTION = {
  Id: 'arn:aws:states:ap-southeast-1:123456789012:execution:guardian-production-escalation:inc',
  Name: 'inc',
  StartTime: OPENED.toISOString(),
};

const prod = loadConfig().environments[ENV];
if (!prod) throw new Error('config/environments.yaml has no production');
const logger = new Logger({ serviceName: 'escalation-steps-test', logLevel: 'SILENT' });

let db: LocalDynamo;
let receiver: Receiver;
let clock: SimulatedClock;
let config: EnvironmentConfig;
let secrets: Record<string, string>;
let published: { topicArn: string; message: SnsMessage }[];

beforeAll(async () => {
  [db, receiver] = await Promise.all([startLocalDynamo(), startReceiver()]);
  const channels = prod.escalation.channels;
  config = {
    ...prod,
    escalation: {
      ...prod.escalation,
      channels: {
        ...channels,
        pagerduty: {
          routingKeySecret: 'guardian/production/pagerduty-routing-key',
          eventsUrl: `${receiver.url}${PD}`,
        },
      },
      // Backoff is exercised in the notifier's own tests; here a failing channel fails fast.
      delivery: { attempts: 2, timeoutMs: 2000, initialDelayMs: 1, maxDelayMs: 5 },
    },
  };
});
afterAll(async () => {
  await Promise.all([db.close(), receiver.close()]);
});
beforeEach(() => {
  receiver.reset();
  clock = new SimulatedClock(OPENED);
  published = [];
  secrets = {
    'guardian/production/pagerduty-routing-key': 'R0UT1NGKEY0000000000000000000000',
    'guardian/production/slack-webhook': `${receiver.url}${SLACK}`,
  };
});

async function depsFor<S extends StepId>(id: S): Promise<StepDeps<S>> {
  return buildStepDeps(
    id,
    {
      config: configSlice(id, config) as EnvironmentConfig,
      vars: {
        [ENV_VARS.deploymentsTable]: db.tables.deploymentsTable,
        [ENV_VARS.controlTable]: db.tables.controlTable,
      },
      clock,
    },
    {
      kind: 'local',
      context: {
        dynamo: db.doc,
        kubernetes: async () => {
          throw new Error('no escalation step uses the cluster');
        },
        clock,
        secrets,
        snsPublish: async (topicArn, message) => {
          published.push({ topicArn, message });
        },
      },
    },
    { clock, logger, metrics: new Metrics({ namespace: 'escalation-test', serviceName: 'escalation-test' }) },
  );
}

async function run<S extends StepId, E, R>(step: Step<S, E, R>, event: unknown): Promise<R> {
  return JSON.parse(JSON.stringify(await step.run(event, await depsFor(step.name)))) as R;
}

let n = 0;
async function opened(priority: Incident['priority'] = 'P1'): Promise<Incident> {
  const incident = openIncident(
    {
      environment: ENV,
      priority,
      summary: 'HighErrorRate in production after release v1.2.3',
      alarm: { name: 'HighErrorRate', severity: 'critical' },
      release: { version: 'v1.2.3' },
    },
    incidentId(ENV, OPENED, (0xa0000000 + n++).toString(16)),
    OPENED,
  );
  await db.store.putIncident(incident);
  return incident;
}

const pdActions = () => receiver.received(PD).map((r) => (r.json as { event_action: string }).event_action);

describe('escalation steps', () => {
  it('pages on-call on every channel and waits 10 minutes for the lead when a P1 opens', async () => {
    const incident = await opened();
    const out = await run(notify, {
      action: 'page',
      incidentId: incident.id,
      level: 0,
      execution: EXECUTION,
    });
    expect(out).toMatchObject({
      open: true,
      level: 0,
      contact: 'on-call',
      last: false,
      nextLevel: 1,
      waitSeconds: 600,
    });
    expect(out.deliveries).toEqual([
      { channel: 'pagerduty', delivered: true, attempts: 1, status: 200 },
      { channel: 'slack', delivered: true, attempts: 1, status: 200 },
      { channel: 'sns', delivered: true, attempts: 1 },
    ]);
    const [pd] = receiver.received(PD);
    expect(pd?.json).toMatchObject({
      routing_key: 'R0UT1NGKEY0000000000000000000000',
      event_action: 'trigger',
      dedup_key: incident.id,
      payload: { severity: 'critical', custom_details: { contact: 'Primary on-call', level: 1 } },
    });
    expect(receiver.received(SLACK)).toHaveLength(1);
    expect(published.map((p) => p.topicArn)).toEqual(['guardian-production-alarms']);
    expect(await db.store.getIncident(ENV, incident.id)).toMatchObject({
      levelReached: 0,
      levelContact: 'on-call',
      escalationExecutionArn: EXECUTION.Id,
    });
  });

  it('pages the lead when the wait times out at 10 minutes, and the CTO 10 minutes after', async () => {
    const incident = await opened();
    await run(notify, { action: 'page', incidentId: incident.id, level: 0, execution: EXECUTION });
    clock.advance(600);
    const lead = await run(notify, {
      action: 'page',
      incidentId: incident.id,
      level: 1,
      execution: EXECUTION,
    });
    expect(lead).toMatchObject({ contact: 'devops-lead', nextLevel: 2, waitSeconds: 600 });
    clock.advance(600);
    const cto = await run(notify, {
      action: 'page',
      incidentId: incident.id,
      level: 2,
      execution: EXECUTION,
    });
    expect(cto).toMatchObject({ contact: 'cto', last: true, waitSeconds: 168 * 3600 - 1200 });
    // One PagerDuty alert (same dedup key), re-triggered per level.
    expect(receiver.received(PD).map((r) => (r.json as { dedup_key: string }).dedup_key)).toEqual([
      incident.id,
      incident.id,
      incident.id,
    ]);
    expect(
      receiver
        .received(PD)
        .map(
          (r) =>
            (r.json as { payload: { custom_details: { contact: string } } }).payload.custom_details.contact,
        ),
    ).toEqual(['Primary on-call', 'DevOps Lead (Bolt)', 'CTO (Rex)']);
  });

  it('parks the token for guardian ack, which then acknowledges in PagerDuty and ends the chain', async () => {
    const incident = await opened();
    await run(notify, { action: 'page', incidentId: incident.id, level: 0, execution: EXECUTION });
    expect(await run(wait, { incidentId: incident.id, level: 0, taskToken: 'token-level-0' })).toMatchObject({
      waiting: true,
    });
    // What `guardian ack` does: the store transition, then SendTaskSuccess with the token it returns.
    const acked = await db.store.transitionIncident(
      ENV,
      incident.id,
      'acknowledged',
      { by: 'alice' },
      clock.now(),
    );
    expect(acked.incident.taskToken).toBe('token-level-0');
    expect(escalationTaskOutput(acked.incident)).toEqual({
      incidentId: incident.id,
      status: 'acknowledged',
      by: 'alice',
    });
    const closed = await run(notify, { action: 'close', incidentId: incident.id, execution: EXECUTION });
    expect(closed.message).toBe(`Incident ${incident.id} acknowledged by alice; the escalation ends.`);
    expect(pdActions()).toEqual(['trigger', 'acknowledge']);
    expect(receiver.received(PD)[1]?.json).toEqual({
      routing_key: 'R0UT1NGKEY0000000000000000000000',
      event_action: 'acknowledge',
      dedup_key: incident.id,
    });
  });

  it('resolves in PagerDuty when the alarm returns to OK', async () => {
    const incident = await opened();
    await run(notify, { action: 'page', incidentId: incident.id, level: 0, execution: EXECUTION });
    await db.store.transitionIncident(
      ENV,
      incident.id,
      'resolved',
      { by: 'alarm HighErrorRate (OK)' },
      clock.now(),
    );
    await run(notify, { action: 'close', incidentId: incident.id, execution: EXECUTION });
    expect(pdActions()).toEqual(['trigger', 'resolve']);
    expect((receiver.received(SLACK)[1]?.json as { text?: string } | undefined)?.text).toBe(
      '[P1] Resolved by alarm HighErrorRate (OK): HighErrorRate in production after release v1.2.3',
    );
  });

  it('ends the wait with IncidentClosedError when the incident was acknowledged before the token was parked', async () => {
    const incident = await opened();
    await run(notify, { action: 'page', incidentId: incident.id, level: 0, execution: EXECUTION });
    await db.store.transitionIncident(ENV, incident.id, 'acknowledged', { by: 'bob' }, clock.now());
    const attempt = run(wait, { incidentId: incident.id, level: 0, taskToken: 'never-sent' });
    await expect(attempt).rejects.toThrow(IncidentClosedError);
    await expect(attempt).rejects.toThrow(
      `incident ${incident.id} was acknowledged by bob before the wait began`,
    );
  });

  it('pages nobody when the incident was resolved before its next level', async () => {
    const incident = await opened();
    await db.store.transitionIncident(
      ENV,
      incident.id,
      'resolved',
      { by: 'alarm HighErrorRate (OK)' },
      clock.now(),
    );
    const out = await run(notify, {
      action: 'page',
      incidentId: incident.id,
      level: 1,
      execution: EXECUTION,
    });
    expect(out).toEqual({
      open: false,
      status: 'resolved',
      deliveries: [],
      message: `Incident ${incident.id} is resolved: nobody else is paged.`,
    });
    expect(receiver.received()).toEqual([]);
    expect(published).toEqual([]);
  });

  it('still pages through PagerDuty and SNS when the Slack secret is missing and reports why', async () => {
    delete secrets['guardian/production/slack-webhook'];
    const incident = await opened();
    const out = await run(notify, {
      action: 'page',
      incidentId: incident.id,
      level: 0,
      execution: EXECUTION,
    });
    expect(out.deliveries.map((d) => [d.channel, d.delivered])).toEqual([
      ['slack', false],
      ['pagerduty', true],
      ['sns', true],
    ]);
    expect(out.deliveries[0]?.error).toContain(
      "secret guardian/production/slack-webhook is not among the local runner's secrets",
    );
    expect(out).toMatchObject({ open: true, nextLevel: 1 });
  });

  it('keeps the chain going when PagerDuty keeps failing', async () => {
    receiver.script(PD, [], { status: 503, body: 'unavailable' });
    const incident = await opened();
    const out = await run(notify, {
      action: 'page',
      incidentId: incident.id,
      level: 0,
      execution: EXECUTION,
    });
    expect(out.deliveries[0]).toEqual({
      channel: 'pagerduty',
      delivered: false,
      attempts: 2,
      status: 503,
      error: 'HTTP 503: unavailable',
    });
    expect(out.deliveries.slice(1).every((d) => d.delivered)).toBe(true);
    expect(out).toMatchObject({ open: true, waitSeconds: 600 });
  });

  it('says so when the chain ran out without acknowledgement, leaving the incident open', async () => {
    const incident = await opened('P2');
    const out = await run(notify, { action: 'close', incidentId: incident.id, execution: EXECUTION });
    expect(out).toMatchObject({ status: 'open', deliveries: [] });
    expect(out.message).toContain('without acknowledgement; the incident stays open');
  });

  it('refuses an incident it cannot find', async () => {
    await expect(
      run(notify, {
        action: 'page',
        incidentId: 'production-20991231T000000Z-00000000',
        level: 0,
        execution: EXECUTION,
      }),
    ).rejects.toThrow('no incident production-20991231T000000Z-00000000 in production');
  });
});
