/**
 * What each escalation channel receives, rendered from an incident, pure: a PagerDuty Events API
 * v2 event (trigger / acknowledge / resolve, `dedup_key` = incident id), a Slack incoming-webhook
 * Block Kit message, an SNS subject and message. The notifier adapter only adds the secrets
 * (routing key, webhook URL) and delivers.
 */
import type { EscalationChannels } from '../../lib/config/schema.ts';
import { type Incident, type LevelStep, type PagerDutySeverity, pagerDutySeverity } from './escalation.ts';

/** Why a notice goes out: a level is paged, or the incident was acknowledged or resolved. */
export type NoticeKind = 'page' | 'acknowledged' | 'resolved';

/** A link every channel shows. */
export interface NoticeLink {
  readonly href: string;
  readonly text: string;
}

/** One notice about an incident, before it is shaped for a channel. */
export interface EscalationNotice {
  readonly kind: NoticeKind;
  readonly incident: Incident;
  /** The level paged (kind `page`). */
  readonly step?: LevelStep;
  readonly links: readonly NoticeLink[];
}

/** A PagerDuty Events API v2 event without its `routing_key` (the adapter adds it from the secret). */
export type PagerDutyEvent =
  | {
      readonly event_action: 'trigger';
      readonly dedup_key: string;
      readonly payload: {
        readonly summary: string;
        readonly source: string;
        readonly severity: PagerDutySeverity;
        readonly timestamp: string;
        readonly component?: string;
        readonly group: string;
        readonly class: string;
        readonly custom_details: Readonly<Record<string, string | number>>;
      };
      readonly links: readonly NoticeLink[];
      readonly client: string;
      readonly client_url?: string;
    }
  | { readonly event_action: 'acknowledge' | 'resolve'; readonly dedup_key: string };

/** A Slack text object. */
export interface SlackText {
  readonly type: 'plain_text' | 'mrkdwn';
  readonly text: string;
}

/** The Block Kit blocks the guardian sends. */
export type SlackBlock =
  | { readonly type: 'header'; readonly text: SlackText }
  | { readonly type: 'section'; readonly text?: SlackText; readonly fields?: readonly SlackText[] }
  | { readonly type: 'context'; readonly elements: readonly SlackText[] };

/** A Slack incoming-webhook body: `text` is the notification and screen-reader fallback. */
export interface SlackMessage {
  readonly text: string;
  readonly blocks: readonly SlackBlock[];
}

/** An SNS publish: subject (≤ 100 printable ASCII characters, one line) and message. */
export interface SnsMessage {
  readonly subject: string;
  readonly message: string;
}

/** What each configured channel gets for one notice. */
export interface ChannelMessages {
  readonly pagerduty?: PagerDutyEvent;
  readonly slack?: SlackMessage;
  readonly sns?: SnsMessage;
}

/** Who sends, as PagerDuty shows it. */
export const PAGERDUTY_CLIENT = 'Deployment Guardian';
/** PagerDuty's limit on `payload.summary`. */
const PAGERDUTY_SUMMARY_MAX = 1024;
/** Block Kit's limit on header text. */
const SLACK_HEADER_MAX = 150;
/** Block Kit's limit on a section's text. */
const SLACK_TEXT_MAX = 3000;
/** SNS's limit on a subject. */
const SNS_SUBJECT_MAX = 100;

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The Step Functions console page of an execution. */
export function executionConsoleUrl(region: string, executionArn: string): string {
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${encodeURIComponent(executionArn)}`;
}

/** Links of an incident: its Escalation execution and the deployment it concerns. */
export function incidentLinks(
  incident: Incident,
  region: string,
  executionArn: string | undefined,
): NoticeLink[] {
  const links: NoticeLink[] = [];
  const escalation = executionArn ?? incident.escalationExecutionArn;
  if (escalation) links.push({ href: executionConsoleUrl(region, escalation), text: 'Escalation execution' });
  const deploy = incident.release?.deploymentExecutionArn;
  if (deploy) links.push({ href: executionConsoleUrl(region, deploy), text: 'Deployment execution' });
  return links;
}

function release(incident: Incident): string {
  const r = incident.release;
  if (!r) return 'no recent release';
  return r.version ?? r.image ?? r.deploymentId ?? 'unknown release';
}

/** What the page says about who is called now and who follows. */
function whoToCall(step: LevelStep | undefined): string {
  if (!step) return '';
  const now = `${step.level.name}${step.level.slack ? ` (${step.level.slack})` : ''}`;
  return step.next
    ? `${now}, level ${step.level.index + 1}; next ${step.next.name} at ${step.next.at}`
    : `${now}, level ${step.level.index + 1} (last)`;
}

function headline(n: EscalationNotice): string {
  const i = n.incident;
  switch (n.kind) {
    case 'page':
      return `[${i.priority}] ${i.summary}`;
    case 'acknowledged':
      return `[${i.priority}] Acknowledged by ${i.acknowledgedBy ?? 'someone'}: ${i.summary}`;
    case 'resolved':
      return `[${i.priority}] Resolved by ${i.resolvedBy ?? 'someone'}: ${i.summary}`;
  }
}

/** The PagerDuty event of a notice: a trigger per paged level, acknowledge/resolve after. */
export function pagerDutyEvent(n: EscalationNotice): PagerDutyEvent {
  const i = n.incident;
  if (n.kind !== 'page') {
    return { event_action: n.kind === 'acknowledged' ? 'acknowledge' : 'resolve', dedup_key: i.id };
  }
  const details: Record<string, string | number> = {
    incident: i.id,
    environment: i.environment,
    priority: i.priority,
    alarm: i.alarm.name,
    release: release(i),
    acknowledge: `guardian ack ${i.id}`,
  };
  if (i.alarm.reason) details.alarm_reason = i.alarm.reason;
  if (n.step) {
    details.level = n.step.level.index + 1;
    details.contact = n.step.level.name;
    if (n.step.next) details.next = `${n.step.next.name} at ${n.step.next.at}`;
  }
  const first = n.links[0];
  return {
    event_action: 'trigger',
    dedup_key: i.id,
    payload: {
      summary: cut(`${headline(n)}${n.step ? ` (paging ${n.step.level.name})` : ''}`, PAGERDUTY_SUMMARY_MAX),
      source: `deployment-guardian/${i.environment}`,
      severity: pagerDutySeverity(i.priority),
      timestamp: i.openedAt,
      ...(i.release?.image ? { component: i.release.image } : {}),
      group: i.environment,
      class: i.alarm.name,
      custom_details: details,
    },
    links: n.links,
    client: PAGERDUTY_CLIENT,
    ...(first ? { client_url: first.href } : {}),
  };
}

/** Escapes Slack's control characters in text we did not write (mrkdwn). */
function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A mention as configured (`<@U123>` is Slack syntax and kept; anything else is escaped text). */
function mention(slack: string): string {
  return /^<[@!#][A-Za-z0-9^|._-]+>$/.test(slack) ? slack : esc(slack);
}

/** The Slack message of a notice: header, facts, reason, who to call, links, how to acknowledge. */
export function slackMessage(n: EscalationNotice): SlackMessage {
  const i = n.incident;
  const title = headline(n);
  const blocks: SlackBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: cut(title, SLACK_HEADER_MAX) } },
    {
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: `*Environment*\n${esc(i.environment)}` },
        { type: 'mrkdwn', text: `*Priority*\n${i.priority}` },
        { type: 'mrkdwn', text: `*Release*\n${esc(release(i))}` },
        { type: 'mrkdwn', text: `*Alarm*\n${esc(i.alarm.name)}` },
      ],
    },
  ];
  if (i.alarm.reason) {
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: cut(`*Reason*\n${esc(i.alarm.reason)}`, SLACK_TEXT_MAX) },
    });
  }
  if (n.kind === 'page' && n.step) {
    const s = n.step;
    const now = `${s.level.slack ? mention(s.level.slack) : ''} ${esc(s.level.name)}`.trim();
    const next = s.next
      ? `If nobody acknowledges, ${esc(s.next.name)} is paged at ${s.next.at} (${esc(s.next.rule)}).`
      : 'Last level of the escalation path.';
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: `*Who to call*\n${now} (level ${s.level.index + 1})\n${next}` },
    });
  }
  const links = n.links.map((l) => `<${l.href}|${esc(l.text)}>`);
  if (links.length) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: links.join(' · ') }] });
  if (n.kind === 'page') {
    blocks.push({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `Acknowledge: \`guardian ack ${i.id}\` or in PagerDuty` }],
    });
  }
  const fallback = n.kind === 'page' && n.step ? `${title} — paging ${n.step.level.name}` : title;
  return { text: fallback, blocks };
}

/** The SNS subject and message of a notice (email subscribers read them as they are). */
export function snsMessage(n: EscalationNotice): SnsMessage {
  const i = n.incident;
  // SNS refuses subjects with line breaks or non-ASCII; keep it printable ASCII.
  const subject = cut(headline(n).replace(/[^\x20-\x7e]/g, '?'), SNS_SUBJECT_MAX);
  const lines = [
    headline(n),
    '',
    `Incident:    ${i.id}`,
    `Environment: ${i.environment}`,
    `Priority:    ${i.priority}`,
    `Release:     ${release(i)}`,
    `Alarm:       ${i.alarm.name}${i.alarm.reason ? ` — ${i.alarm.reason}` : ''}`,
  ];
  const who = whoToCall(n.step);
  if (n.kind === 'page' && who) lines.push(`Who to call: ${who}`);
  for (const l of n.links) lines.push(`${l.text}: ${l.href}`);
  if (n.kind === 'page') lines.push('', `Acknowledge: guardian ack ${i.id}`);
  return { subject, message: lines.join('\n') };
}

/** What each configured channel receives for `notice`; unconfigured channels get nothing. */
export function channelMessages(notice: EscalationNotice, channels: EscalationChannels): ChannelMessages {
  return {
    ...(channels.pagerduty ? { pagerduty: pagerDutyEvent(notice) } : {}),
    ...(channels.slack ? { slack: slackMessage(notice) } : {}),
    ...(channels.sns ? { sns: snsMessage(notice) } : {}),
  };
}

/** An alarm the guardian tells people about without paging anyone (a warning, an OK, a rollback of a running deployment). */
export interface AlarmNotice {
  readonly environment: string;
  readonly alarm: string;
  readonly severity?: string;
  readonly state: string;
  /** The guardian's sentence: what it did and why. */
  readonly reason: string;
  /** CloudWatch's reason for the state. */
  readonly alarmReason?: string;
  readonly links: readonly NoticeLink[];
}

/** Slack and SNS messages of an alarm notice; PagerDuty only ever gets incidents (pages). */
export function alarmNoticeMessages(n: AlarmNotice, channels: EscalationChannels): ChannelMessages {
  const title = cut(`[${n.environment}] ${n.alarm} is ${n.state}`, SLACK_HEADER_MAX);
  const blocks: SlackBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: title } },
    {
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: `*Environment*\n${esc(n.environment)}` },
        { type: 'mrkdwn', text: `*Alarm*\n${esc(n.alarm)}` },
        { type: 'mrkdwn', text: `*State*\n${esc(n.state)}` },
        { type: 'mrkdwn', text: `*Severity*\n${esc(n.severity ?? 'unknown')}` },
      ],
    },
    { type: 'section', text: { type: 'mrkdwn', text: cut(`*Guardian*\n${esc(n.reason)}`, SLACK_TEXT_MAX) } },
  ];
  if (n.alarmReason) {
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: cut(`*CloudWatch*\n${esc(n.alarmReason)}`, SLACK_TEXT_MAX) },
    });
  }
  const links = n.links.map((l) => `<${l.href}|${esc(l.text)}>`);
  if (links.length) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: links.join(' · ') }] });
  const lines = [
    title,
    '',
    `Environment: ${n.environment}`,
    `Alarm:       ${n.alarm} (${n.severity ?? 'unknown severity'})`,
    `State:       ${n.state}`,
    `Guardian:    ${n.reason}`,
    ...(n.alarmReason ? [`CloudWatch:  ${n.alarmReason}`] : []),
    ...n.links.map((l) => `${l.text}: ${l.href}`),
  ];
  return {
    ...(channels.slack ? { slack: { text: title, blocks } } : {}),
    ...(channels.sns
      ? {
          sns: {
            subject: cut(title.replace(/[^\x20-\x7e]/g, '?'), SNS_SUBJECT_MAX),
            message: lines.join('\n'),
          },
        }
      : {}),
  };
}
