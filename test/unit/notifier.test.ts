/**
 * The notifier against real HTTP receivers on 127.0.0.1 standing in for PagerDuty's Events API v2
 * and a Slack incoming webhook; bodies are checked against those formats. Waits between attempts
 * are recorded, not slept, so backoff is asserted without wall-clock time.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { backoffMs, HttpNotifier, retryAfterMs, type SnsPublish } from '../../lambdas/adapters/notifier.ts';
import { incidentId, levelStep, openIncident, planEscalation } from '../../lambdas/core/escalation.ts';
import type { SnsMessage } from '../../lambdas/core/escalation-messages.ts';
import { channelMessages, type EscalationNotice } from '../../lambdas/core/escalation-messages.ts';
import { escalationSchema } from '../../lib/config/schema.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

const PD = '/v2/enqueue';
const SLACK = '/services/T000/B000/secret-part';
const ROUTING_KEY = 'R0UT1NGKEY0000000000000000000000';
const DELIVERY = { attempts: 3, timeoutMs: 2000, initialDelayMs: 500, maxDelayMs: 4000 };

let receiver: Receiver;
let sleeps: number[];
let published: { topicArn: string; message: SnsMessage }[];
const publish: SnsPublish = async (topicArn, message) => {
  published.push({ topicArn, message });
};

beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(() => receiver.close());
beforeEach(() => {
  receiver.reset();
  sleeps = [];
  published = [];
});

const config = escalationSchema.parse({
  channels: {
    pagerduty: { routingKeySecret: 'guardian/test/pd', eventsUrl: 'http://127.0.0.1:1/unused' },
    slack: { webhookSecret: 'guardian/test/slack' },
    sns: { topic: 'stack' },
  },
});
const opened = new Date('2026-12-03T02:00:00Z');
const incident = openIncident(
  {
    environment: 'production',
    priority: 'P1',
    summary: 'HighErrorRate in production after release v1.2.3',
    alarm: { name: 'HighErrorRate', severity: 'critical', reason: 'Threshold Crossed: 5xx rate 7% > 5%' },
    release: { version: 'v1.2.3' },
  },
  incidentId('production', opened, '4f2a9c1e'),
  opened,
);
const notice: EscalationNotice = {
  kind: 'page',
  incident,
  step: levelStep(planEscalation(incident, config), 0, opened),
  links: [{ href: 'https://example.com/execution', text: 'Escalation execution' }],
};
const messages = channelMessages(notice, config.channels);

function notifier(over: Partial<ConstructorParameters<typeof HttpNotifier>[0]> = {}): HttpNotifier {
  return new HttpNotifier({
    pagerdutyUrl: `${receiver.url}${PD}`,
    sns: { topicArn: 'arn:aws:sns:ap-southeast-1:123456789012:guardian-production-alarms', publish },
    delivery: DELIVERY,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...over,
  });
}
const secretsNow = () => ({ pagerdutyRoutingKey: ROUTING_KEY, slackWebhookUrl: `${receiver.url}${SLACK}` });

describe('notifier', () => {
  it('pages on every channel once, in the Events API v2 and Slack webhook formats', async () => {
    const results = await notifier().deliver(messages, secretsNow());
    expect(results).toEqual([
      { channel: 'pagerduty', delivered: true, attempts: 1, status: 200 },
      { channel: 'slack', delivered: true, attempts: 1, status: 200 },
      { channel: 'sns', delivered: true, attempts: 1 },
    ]);
    const [pd] = receiver.received(PD);
    expect(pd?.method).toBe('POST');
    expect(pd?.headers['content-type']).toBe('application/json');
    expect(pd?.json).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: incident.id,
      payload: {
        summary: '[P1] HighErrorRate in production after release v1.2.3 (paging Primary on-call)',
        source: 'deployment-guardian/production',
        severity: 'critical',
        timestamp: '2026-12-03T02:00:00.000Z',
        group: 'production',
        class: 'HighErrorRate',
        custom_details: {
          incident: incident.id,
          environment: 'production',
          priority: 'P1',
          alarm: 'HighErrorRate',
          alarm_reason: 'Threshold Crossed: 5xx rate 7% > 5%',
          release: 'v1.2.3',
          acknowledge: `guardian ack ${incident.id}`,
          level: 1,
          contact: 'Primary on-call',
          next: 'DevOps Lead (Bolt) at 2026-12-03T02:10:00.000Z',
        },
      },
      links: [{ href: 'https://example.com/execution', text: 'Escalation execution' }],
      client: 'Deployment Guardian',
      client_url: 'https://example.com/execution',
    });
    const [slack] = receiver.received(SLACK);
    const body = slack?.json as { text: string; blocks: { type: string }[] };
    expect(body.text).toBe('[P1] HighErrorRate in production after release v1.2.3 — paging Primary on-call');
    expect(body.blocks.map((b) => b.type)).toEqual([
      'header',
      'section',
      'section',
      'section',
      'context',
      'context',
    ]);
    expect(published).toEqual([
      {
        topicArn: 'arn:aws:sns:ap-southeast-1:123456789012:guardian-production-alarms',
        message: expect.objectContaining({
          subject: '[P1] HighErrorRate in production after release v1.2.3',
        }),
      },
    ]);
    expect(sleeps).toEqual([]);
  });

  it('retries a 429 after the Retry-After PagerDuty sends, then delivers', async () => {
    receiver.script(
      PD,
      [{ status: 429, headers: { 'retry-after': '2' }, body: '{"status":"throttle event"}' }],
      {
        status: 202,
        body: '{"status":"success","message":"Event processed"}',
      },
    );
    const [pd] = await notifier().deliver({ pagerduty: messages.pagerduty }, secretsNow());
    expect(pd).toEqual({ channel: 'pagerduty', delivered: true, attempts: 2, status: 202 });
    expect(receiver.received(PD)).toHaveLength(2);
    // Retry-After (2 s) is longer than the backoff (375 ms): it wins.
    expect(sleeps).toEqual([2000]);
  });

  it('reports a Slack webhook that keeps answering 500 while PagerDuty and SNS deliver', async () => {
    receiver.script(SLACK, [], { status: 500, body: 'internal_error' });
    const results = await notifier().deliver(messages, secretsNow());
    expect(results).toEqual([
      { channel: 'pagerduty', delivered: true, attempts: 1, status: 200 },
      { channel: 'slack', delivered: false, attempts: 3, status: 500, error: 'HTTP 500: internal_error' },
      { channel: 'sns', delivered: true, attempts: 1 },
    ]);
    expect(receiver.received(SLACK)).toHaveLength(3);
    // Exponential with equal jitter (random 0.5): 0.75 × 500, 0.75 × 1000.
    expect(sleeps).toEqual([375, 750]);
  });

  it('does not retry an event PagerDuty refuses as invalid (400)', async () => {
    receiver.script(PD, [], {
      status: 400,
      body: '{"status":"invalid event","errors":["\'payload.severity\' is invalid"]}',
    });
    const [pd] = await notifier().deliver({ pagerduty: messages.pagerduty }, secretsNow());
    expect(pd).toMatchObject({ channel: 'pagerduty', delivered: false, attempts: 1, status: 400 });
    expect(pd?.error).toContain('invalid event');
    expect(sleeps).toEqual([]);
  });

  it('stops instead of overrunning the budget when Retry-After asks for longer than it allows', async () => {
    receiver.script(PD, [], { status: 429, headers: { 'retry-after': '60' } });
    const [pd] = await notifier().deliver({ pagerduty: messages.pagerduty }, secretsNow());
    expect(pd).toMatchObject({ delivered: false, attempts: 1, status: 429 });
    expect(pd?.error).toBe('HTTP 429 (asked to retry after 60 s, beyond the 4000 ms delivery budget)');
  });

  it('retries a webhook nobody listens on and never reports its URL, which is a secret', async () => {
    const closed = await startReceiver();
    const url = `${closed.url}/services/T000/B000/very-secret`;
    await closed.close();
    const [slack] = await notifier().deliver({ slack: messages.slack }, { slackWebhookUrl: url });
    expect(slack).toEqual({
      channel: 'slack',
      delivered: false,
      attempts: 3,
      error: 'network error ECONNREFUSED',
    });
    expect(JSON.stringify(slack)).not.toContain('very-secret');
  });

  it('retries a throttled SNS publish and reports one that is refused, without stopping PagerDuty', async () => {
    let calls = 0;
    const flaky: SnsPublish = async () => {
      calls++;
      if (calls === 1)
        throw Object.assign(new Error('Rate exceeded'), {
          name: 'ThrottlingException',
          $metadata: { httpStatusCode: 400 },
        });
    };
    const ok = await notifier({
      sns: { topicArn: 'arn:aws:sns:ap-southeast-1:123456789012:t', publish: flaky },
    }).deliver({ sns: messages.sns }, {});
    expect(ok).toEqual([{ channel: 'sns', delivered: true, attempts: 2 }]);

    const denied: SnsPublish = async () => {
      throw Object.assign(new Error('not authorized to perform SNS:Publish'), {
        name: 'AuthorizationErrorException',
        $metadata: { httpStatusCode: 403 },
      });
    };
    const results = await notifier({
      sns: { topicArn: 'arn:aws:sns:ap-southeast-1:123456789012:t', publish: denied },
    }).deliver(messages, secretsNow());
    expect(results.map((r) => [r.channel, r.delivered, r.attempts])).toEqual([
      ['pagerduty', true, 1],
      ['slack', true, 1],
      ['sns', false, 1],
    ]);
    expect(results[2]?.error).toBe(
      'SNS Publish failed: AuthorizationErrorException: not authorized to perform SNS:Publish',
    );
  });

  it('reports a channel whose secret was not read without calling it', async () => {
    const results = await notifier().deliver({ pagerduty: messages.pagerduty, slack: messages.slack }, {});
    expect(results).toEqual([
      { channel: 'pagerduty', delivered: false, attempts: 0, error: 'no routing key was read' },
      { channel: 'slack', delivered: false, attempts: 0, error: 'no webhook URL was read' },
    ]);
    expect(receiver.received()).toEqual([]);
  });

  it('reads Retry-After as seconds or an HTTP date, and backs off exponentially up to the cap', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs('Thu, 03 Dec 2026 02:00:05 GMT', Date.parse('2026-12-03T02:00:00Z'))).toBe(5000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(null)).toBeUndefined();
    const policy = { attempts: 6, timeoutMs: 1000, initialDelayMs: 500, maxDelayMs: 3000 };
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(policy, n, () => 1))).toEqual([500, 1000, 2000, 3000, 3000]);
    expect([1, 2, 3].map((n) => backoffMs(policy, n, () => 0))).toEqual([250, 500, 1000]);
  });
});
