/**
 * The Notifier port: delivers an escalation notice to PagerDuty (Events API v2), Slack (incoming
 * webhook) and SNS in parallel, on the global fetch and an SNS publish function. Each channel is
 * tried a bounded number of times: HTTP 429 and 5xx, network errors and timeouts are retried with
 * exponential backoff and jitter (a Retry-After is honoured when it fits the budget); other answers
 * are final. A channel that keeps failing is reported in its result and never stops the others.
 * The webhook URL and routing key are secrets: no message here ever contains them.
 */
import type { EscalationConfig } from '../../lib/config/schema.ts';
import type { ChannelMessages, SnsMessage } from '../core/escalation-messages.ts';
import type { ChannelName, ChannelResult, ChannelSecrets, Notifier } from '../core/ports.ts';
import {
  isTimeoutError,
  isTransientAwsError,
  isTransientHttpStatus,
  transientNetworkCode,
} from './transient.ts';

/** Publishes one SNS message (the SDK in AWS; the local runner's stand-in locally). */
export type SnsPublish = (topicArn: string, message: SnsMessage) => Promise<void>;

/** Retry settings of every channel (`escalation.delivery` in config). */
export type DeliveryPolicy = EscalationConfig['delivery'];

/** How the notifier reaches the channels. */
export interface HttpNotifierOptions {
  /** The PagerDuty Events API v2 enqueue URL. */
  readonly pagerdutyUrl?: string;
  /** The SNS topic and how to publish to it; absent when SNS is not configured. */
  readonly sns?: { readonly topicArn: string; readonly publish: SnsPublish };
  readonly delivery: DeliveryPolicy;
  /** Waits between attempts. @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Jitter source in [0, 1). @default Math.random */
  readonly random?: () => number;
}

/** One attempt's outcome. */
type Attempt =
  | { readonly ok: true; readonly status?: number }
  | {
      readonly ok: false;
      readonly transient: boolean;
      readonly error: string;
      readonly status?: number;
      readonly retryAfterMs?: number;
    };

/** Bodies of error answers are cut here in reports: enough for PagerDuty's `errors` list. */
const MAX_ERROR_BODY = 300;

/** Retry-After in milliseconds: delta-seconds or an HTTP date. */
export function retryAfterMs(header: string | null, now: number = Date.now()): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The wait before attempt `attempt + 1`: exponential with "equal jitter" (half fixed, half random). */
export function backoffMs(policy: DeliveryPolicy, attempt: number, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

function describeNetworkError(err: unknown, timeoutMs: number): string {
  if (isTimeoutError(err)) return `no answer within ${timeoutMs} ms`;
  const code = transientNetworkCode(err);
  if (code) return `network error ${code}`;
  // Not the error's message: fetch puts the URL in it, and a webhook URL is a secret.
  const name = (err as { name?: string }).name ?? 'Error';
  return `request failed (${name}); check that the secret holds a valid https URL`;
}

/** POSTs JSON to `url`; the URL itself is never reported (a Slack webhook URL is a secret). */
async function postJson(url: string, body: unknown, timeoutMs: number): Promise<Attempt> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'deployment-guardian' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    return {
      ok: false,
      transient: isTimeoutError(err) || transientNetworkCode(err) !== undefined,
      error: describeNetworkError(err, timeoutMs),
    };
  }
  const text = await res.text().catch(() => '');
  if (res.ok) return { ok: true, status: res.status };
  const retryAfter = retryAfterMs(res.headers.get('retry-after'));
  return {
    ok: false,
    status: res.status,
    transient: isTransientHttpStatus(res.status),
    error: `HTTP ${res.status}${text ? `: ${text.slice(0, MAX_ERROR_BODY)}` : ''}`,
    ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}),
  };
}

/** Delivers to PagerDuty, Slack and SNS over HTTP (fetch) and the given SNS publish. */
export class HttpNotifier implements Notifier {
  readonly #o: HttpNotifierOptions;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;

  constructor(options: HttpNotifierOptions) {
    this.#o = options;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#random = options.random ?? Math.random;
  }

  /** Every channel with a message, in parallel; never throws for a delivery problem. */
  async deliver(messages: ChannelMessages, secrets: ChannelSecrets): Promise<ChannelResult[]> {
    const { timeoutMs } = this.#o.delivery;
    const jobs: Promise<ChannelResult>[] = [];
    if (messages.pagerduty) {
      const event = messages.pagerduty;
      const url = this.#o.pagerdutyUrl;
      const key = secrets.pagerdutyRoutingKey;
      jobs.push(
        url && key
          ? this.#retry('pagerduty', () => postJson(url, { routing_key: key, ...event }, timeoutMs))
          : Promise.resolve(
              missing('pagerduty', url ? 'no routing key was read' : 'no events URL configured'),
            ),
      );
    }
    if (messages.slack) {
      const body = messages.slack;
      const url = secrets.slackWebhookUrl;
      jobs.push(
        url
          ? this.#retry('slack', () => postJson(url, body, timeoutMs))
          : Promise.resolve(missing('slack', 'no webhook URL was read')),
      );
    }
    if (messages.sns) {
      const message = messages.sns;
      const sns = this.#o.sns;
      jobs.push(
        sns
          ? this.#retry('sns', () => publishOnce(sns, message))
          : Promise.resolve(missing('sns', 'no topic configured')),
      );
    }
    return Promise.all(jobs);
  }

  async #retry(channel: ChannelName, attempt: () => Promise<Attempt>): Promise<ChannelResult> {
    const policy = this.#o.delivery;
    let last: Attempt | undefined;
    for (let n = 1; n <= policy.attempts; n++) {
      last = await attempt();
      if (last.ok)
        return { channel, delivered: true, attempts: n, ...(last.status ? { status: last.status } : {}) };
      if (!last.transient || n === policy.attempts) return failed(channel, n, last);
      const wait = Math.max(last.retryAfterMs ?? 0, backoffMs(policy, n, this.#random));
      if (wait > policy.maxDelayMs) {
        // Honouring it would overrun the step's budget: report instead of waiting past the timeout.
        return failed(channel, n, {
          ...last,
          error: `${last.error} (asked to retry after ${Math.ceil(wait / 1000)} s, beyond the ${policy.maxDelayMs} ms delivery budget)`,
        });
      }
      await this.#sleep(wait);
    }
    // attempts >= 1 (schema), so the loop returned; this keeps the compiler sure of it.
    return failed(channel, policy.attempts, last ?? { ok: false, transient: false, error: 'not attempted' });
  }
}

function failed(channel: ChannelName, attempts: number, a: Attempt): ChannelResult {
  if (a.ok) return { channel, delivered: true, attempts };
  return { channel, delivered: false, attempts, error: a.error, ...(a.status ? { status: a.status } : {}) };
}

function missing(channel: ChannelName, why: string): ChannelResult {
  return { channel, delivered: false, attempts: 0, error: why };
}

async function publishOnce(
  sns: NonNullable<HttpNotifierOptions['sns']>,
  message: SnsMessage,
): Promise<Attempt> {
  try {
    await sns.publish(sns.topicArn, message);
    return { ok: true };
  } catch (err) {
    const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const status = e.$metadata?.httpStatusCode;
    return {
      ok: false,
      transient: isTransientAwsError(err),
      error: `SNS Publish failed: ${e.name ?? 'Error'}${e.message ? `: ${e.message}` : ''}`,
      ...(status ? { status } : {}),
    };
  }
}
