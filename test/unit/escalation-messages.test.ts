import { describe, expect, it } from 'vitest';
import { incidentId, levelStep, openIncident, planEscalation } from '../../lambdas/core/escalation.ts';
import {
  channelMessages,
  type EscalationNotice,
  executionConsoleUrl,
  incidentLinks,
  pagerDutyEvent,
  slackMessage,
  snsMessage,
} from '../../lambdas/core/escalation-messages.ts';
import { escalationSchema } from '../../lib/config/schema.ts';

const config = escalationSchema.parse({
  contacts: {
    'on-call': { name: 'Primary on-call' },
    'devops-lead': { name: 'DevOps Lead (Bolt)', slack: '<@U0BOLT123>' },
    cto: { name: 'CTO (Rex)', slack: '@cto <boss>' },
  },
});
const opened = new Date('2026-12-03T02:00:00Z');
const EXECUTION =
  'arn:aws:states:ap-southeast-1:123456789012:execution:guardian-production-escalation:production-20261203T020000Z-4f2a9c1e';
const DEPLOY =
  'arn:aws:states:ap-southeast-1:123456789012:execution:guardian-production-deploy:production-v1-2-3-0a1b2c3d';
const incident = openIncident(
  {
    environment: 'production',
    priority: 'P1',
    summary: 'HighErrorRate in production after release v1.2.3',
    alarm: {
      name: 'HighErrorRate',
      reason: 'Threshold Crossed: 1 datapoint [7.1 (03/12/26 01:59:00)] > 5 <&>',
    },
    release: {
      version: 'v1.2.3',
      image: 'ghcr.io/buywhere/buywhere-api:v1.2.3',
      deploymentExecutionArn: DEPLOY,
    },
  },
  incidentId('production', opened, '4f2a9c1e'),
  opened,
);
const plan = planEscalation(incident, config);
const links = incidentLinks(incident, 'ap-southeast-1', EXECUTION);
const page = (level: number): EscalationNotice => ({
  kind: 'page',
  incident,
  step: levelStep(plan, level, new Date(plan.levels[level]?.at ?? opened)),
  links,
});

describe('escalation messages', () => {
  it('links the escalation and the deployment executions in the Step Functions console', () => {
    expect(links).toEqual([
      { href: executionConsoleUrl('ap-southeast-1', EXECUTION), text: 'Escalation execution' },
      { href: executionConsoleUrl('ap-southeast-1', DEPLOY), text: 'Deployment execution' },
    ]);
    expect(links[0]?.href).toBe(
      `https://ap-southeast-1.console.aws.amazon.com/states/home?region=ap-southeast-1#/v2/executions/details/${encodeURIComponent(EXECUTION)}`,
    );
  });

  it('triggers PagerDuty with the incident id as dedup key, re-triggering it for each level', () => {
    const lead = pagerDutyEvent(page(1));
    expect(lead).toMatchObject({
      event_action: 'trigger',
      dedup_key: incident.id,
      payload: {
        severity: 'critical',
        source: 'deployment-guardian/production',
        component: 'ghcr.io/buywhere/buywhere-api:v1.2.3',
        custom_details: {
          level: 2,
          contact: 'DevOps Lead (Bolt)',
          next: 'CTO (Rex) at 2026-12-03T02:20:00.000Z',
        },
      },
      links,
      client_url: links[0]?.href,
    });
    expect(pagerDutyEvent(page(0)).dedup_key).toBe(lead.dedup_key);
    expect(lead).not.toHaveProperty('routing_key');
  });

  it('acknowledges and resolves in PagerDuty with the dedup key alone', () => {
    expect(
      pagerDutyEvent({ kind: 'acknowledged', incident: { ...incident, status: 'acknowledged' }, links }),
    ).toEqual({
      event_action: 'acknowledge',
      dedup_key: incident.id,
    });
    expect(
      pagerDutyEvent({ kind: 'resolved', incident: { ...incident, status: 'resolved' }, links }),
    ).toEqual({
      event_action: 'resolve',
      dedup_key: incident.id,
    });
  });

  it('tells Slack the environment, release, reason, who to call and the links, escaping what it did not write', () => {
    const msg = slackMessage(page(1));
    expect(msg.text).toBe(
      '[P1] HighErrorRate in production after release v1.2.3 — paging DevOps Lead (Bolt)',
    );
    expect(msg.blocks).toEqual([
      {
        type: 'header',
        text: { type: 'plain_text', text: '[P1] HighErrorRate in production after release v1.2.3' },
      },
      {
        type: 'section',
        fields: [
          { type: 'mrkdwn', text: '*Environment*\nproduction' },
          { type: 'mrkdwn', text: '*Priority*\nP1' },
          { type: 'mrkdwn', text: '*Release*\nv1.2.3' },
          { type: 'mrkdwn', text: '*Alarm*\nHighErrorRate' },
        ],
      },
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: '*Reason*\nThreshold Crossed: 1 datapoint [7.1 (03/12/26 01:59:00)] &gt; 5 &lt;&amp;&gt;',
        },
      },
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: '*Who to call*\n<@U0BOLT123> DevOps Lead (Bolt) (level 2)\nIf nobody acknowledges, CTO (Rex) is paged at 2026-12-03T02:20:00.000Z (20 min after the incident opened).',
        },
      },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: `<${links[0]?.href}|Escalation execution> · <${links[1]?.href}|Deployment execution>`,
          },
        ],
      },
      {
        type: 'context',
        elements: [{ type: 'mrkdwn', text: `Acknowledge: \`guardian ack ${incident.id}\` or in PagerDuty` }],
      },
    ]);
    // A mention that is not Slack syntax is text, escaped.
    expect(JSON.stringify(slackMessage(page(2)))).toContain('@cto &lt;boss&gt; CTO (Rex) (level 3)');
    expect(JSON.stringify(slackMessage(page(2)))).toContain('Last level of the escalation path.');
  });

  it('announces an acknowledgement in Slack without paging anyone', () => {
    const msg = slackMessage({
      kind: 'acknowledged',
      incident: { ...incident, status: 'acknowledged', acknowledgedBy: 'alice' },
      links,
    });
    expect(msg.text).toBe('[P1] Acknowledged by alice: HighErrorRate in production after release v1.2.3');
    expect(JSON.stringify(msg)).not.toContain('Who to call');
    expect(JSON.stringify(msg)).not.toContain('guardian ack');
  });

  it('gives SNS a one-line printable ASCII subject of at most 100 characters', () => {
    const long = { ...incident, summary: `Résumé ${'x'.repeat(200)}\nsecond line` };
    const msg = snsMessage({ kind: 'page', incident: long, links });
    expect(msg.subject.length).toBeLessThanOrEqual(100);
    expect(msg.subject).toMatch(/^[\x20-\x7e…]+$/);
    expect(msg.subject.startsWith('[P1] R?sum? x')).toBe(true);
    const plain = snsMessage(page(0));
    expect(plain.message).toContain(`Incident:    ${incident.id}`);
    expect(plain.message).toContain(
      'Who to call: Primary on-call, level 1; next DevOps Lead (Bolt) at 2026-12-03T02:10:00.000Z',
    );
    expect(plain.message).toContain(`Acknowledge: guardian ack ${incident.id}`);
  });

  it('renders only the channels config lists', () => {
    expect(Object.keys(channelMessages(page(0), {}))).toEqual([]);
    expect(Object.keys(channelMessages(page(0), { slack: { webhookSecret: 's' } }))).toEqual(['slack']);
  });
});
