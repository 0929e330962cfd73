/**
 * Delivering one notice to every configured channel: read the channels' secrets (a secret that
 * cannot be read fails only its channel), hand the messages to the notifier, count and log what
 * did not arrive. A failed channel never stops the others or the caller. Used by the escalation
 * (pages, acknowledgements, resolutions) and the alarm handler (notices).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { EscalationConfig } from '../../lib/config/schema.ts';
import type { ChannelMessages } from '../core/escalation-messages.ts';
import type { ChannelResult, Notifier, Secrets } from '../core/ports.ts';

/** What delivering needs. */
export interface DeliverDeps {
  readonly config: { readonly name: string; readonly escalation: EscalationConfig };
  readonly secrets: Secrets;
  readonly notifier: Notifier;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** Delivers `messages` (one per configured channel); `what` names the notice in logs. Never throws for a channel. */
export async function deliverMessages(
  input: ChannelMessages,
  deps: DeliverDeps,
  what: string,
): Promise<ChannelResult[]> {
  const { channels } = deps.config.escalation;
  const messages = { ...input };
  const read = async (ref: string | undefined) => (ref ? deps.secrets.get(ref) : undefined);
  const [routingKey, webhook] = await Promise.allSettled([
    messages.pagerduty ? read(channels.pagerduty?.routingKeySecret) : Promise.resolve(undefined),
    messages.slack ? read(channels.slack?.webhookSecret) : Promise.resolve(undefined),
  ]);
  const unread: ChannelResult[] = [];
  if (routingKey.status === 'rejected' && messages.pagerduty) {
    delete messages.pagerduty;
    unread.push({
      channel: 'pagerduty',
      delivered: false,
      attempts: 0,
      error: (routingKey.reason as Error).message,
    });
  }
  if (webhook.status === 'rejected' && messages.slack) {
    delete messages.slack;
    unread.push({
      channel: 'slack',
      delivered: false,
      attempts: 0,
      error: (webhook.reason as Error).message,
    });
  }
  const results = await deps.notifier.deliver(messages, {
    ...(routingKey.status === 'fulfilled' && routingKey.value
      ? { pagerdutyRoutingKey: routingKey.value }
      : {}),
    ...(webhook.status === 'fulfilled' && webhook.value ? { slackWebhookUrl: webhook.value } : {}),
  });
  const all = [...unread, ...results];
  const failed = all.filter((r) => !r.delivered);
  deps.metrics.addMetric('EscalationDeliveryFailed', MetricUnit.Count, failed.length);
  if (all.length === 0) {
    deps.logger.error(
      `no notification channel is configured for ${deps.config.name}: nobody was told about ${what}`,
    );
  } else if (failed.length) {
    deps.logger.warn(`${what}: ${failed.map((r) => `${r.channel} not delivered (${r.error})`).join('; ')}`);
  }
  return all;
}
