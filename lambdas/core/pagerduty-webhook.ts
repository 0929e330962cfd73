/**
 * Acknowledging in PagerDuty (issue 8): what a PagerDuty Webhooks v3 delivery to the guardian's
 * Function URL means. Pure: the signature check, the parse and the decision take the raw request
 * and the signing secret and return plain data with the sentence an operator reads; the
 * `pagerduty-webhook` step carries it out.
 *
 * Format (PagerDuty developer docs, "Webhooks v3 Overview" and "Verifying Signatures",
 * https://developer.pagerduty.com/docs/webhooks-overview,
 * https://developer.pagerduty.com/docs/verifying-signatures):
 * - the body is `{"event": {id, event_type, resource_type, occurred_at, agent, client, data}}`,
 *   one event per delivery; for `incident.*` events `data` is the incident (`id`, `status`,
 *   `html_url`, `incident_key`, ...); `agent` is who acted (a `user_reference` with `summary` =
 *   the person's name), or null;
 * - `X-PagerDuty-Signature` holds `v1=<hex HMAC-SHA256 of the raw body, keyed by the subscription's
 *   signing secret>`, comma-separated when several secrets sign during a rotation.
 *
 * Mapping to our incidents: the guardian triggers PagerDuty through Events API v2 with
 * `dedup_key` = our incident id (escalation-messages.ts `pagerDutyEvent`); PagerDuty keeps an
 * incident's de-duplication key as the incident's `incident_key`, which is what webhooks carry in
 * `event.data.incident_key`. An incident whose key is no incident id of this environment is not
 * ours (another integration, another environment's guardian, or a service whose alert grouping
 * made PagerDuty open its own incident) and is ignored.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import * as z from 'zod';
import { INCIDENT_ID_RE } from './incident-schema.ts';
import type { IncidentActor } from './incidents.ts';
import { shorten, storableText } from './text.ts';

/** The header PagerDuty signs each delivery in. */
export const PAGERDUTY_SIGNATURE_HEADER = 'x-pagerduty-signature';

/** PagerDuty's signature scheme this guardian checks (the only one it publishes). */
const SIGNATURE_VERSION = 'v1';

/** What PagerDuty sends (the fields the guardian reads; anything else is ignored, not refused). */
const webhookSchema = z.looseObject({
  event: z.looseObject({
    id: z.string().min(1),
    event_type: z.string().min(1),
    resource_type: z.string().min(1).optional(),
    occurred_at: z.string().min(1).optional(),
    agent: z
      .looseObject({
        id: z.string().optional(),
        summary: z.string().optional(),
        type: z.string().optional(),
      })
      .nullish(),
    data: z.looseObject({
      id: z.string().optional(),
      type: z.string().optional(),
      status: z.string().optional(),
      html_url: z.string().optional(),
      incident_key: z.string().nullish(),
    }),
  }),
});

/** A PagerDuty v3 webhook payload (the fields the guardian reads). */
export type PagerDutyWebhook = z.infer<typeof webhookSchema>;

/** The request as the Function URL (or the local runner) hands it over. */
export interface WebhookRequest {
  /** Header names in any case (Function URLs lower-case them). */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The body exactly as received: the signature is over these bytes. */
  readonly body: Buffer;
}

/** What to do with one delivery. `status` is the HTTP status to answer with. */
export type WebhookDecision =
  | { readonly kind: 'refuse'; readonly status: 401; readonly reason: string }
  | { readonly kind: 'malformed'; readonly status: 400; readonly reason: string }
  | {
      readonly kind: 'ignore';
      readonly status: 200;
      readonly reason: string;
      readonly eventId?: string;
      readonly eventType?: string;
    }
  | {
      readonly kind: 'acknowledge' | 'resolve';
      readonly status: 200;
      /** Our incident id (PagerDuty's `incident_key`). */
      readonly incidentId: string;
      /** `pagerduty:<who>`, with PagerDuty's incident in the reason. */
      readonly actor: IncidentActor;
      readonly eventId: string;
      readonly eventType: string;
      /** PagerDuty's incident: its id and link. */
      readonly pagerDutyIncident: { readonly id?: string; readonly url?: string };
      readonly reason: string;
    };

/** The body bytes of a Function URL event (base64 when Lambda says so). */
export function requestBody(body: string | undefined, isBase64Encoded: boolean): Buffer {
  if (body === undefined) return Buffer.alloc(0);
  return isBase64Encoded ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8');
}

/** The value of header `name`, whatever case the sender used. */
export function headerValue(headers: WebhookRequest['headers'], name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

/**
 * Whether `header` carries a `v1` signature of `body` by `secret`. Every candidate is compared in
 * constant time (timingSafeEqual on equal-length digests), so timing reveals nothing about how
 * much of a forged signature was right.
 */
export function signatureValid(body: Buffer, header: string | undefined, secret: string): boolean {
  if (!header || secret === '') return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  let valid = false;
  for (const part of header.split(',')) {
    const [version, hex] = part.trim().split('=', 2);
    if (version !== SIGNATURE_VERSION || hex === undefined || !/^[0-9a-fA-F]{64}$/.test(hex)) continue;
    // No early return: every candidate is checked, whichever one matches.
    if (timingSafeEqual(Buffer.from(hex, 'hex'), expected)) valid = true;
  }
  return valid;
}

/** `v1=<hex>`: the header PagerDuty would send for `body` signed with `secret` (tests, the local runner). */
export function signatureHeader(body: Buffer | string, secret: string): string {
  return `${SIGNATURE_VERSION}=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Who acted in PagerDuty, as the incident records it: `pagerduty:<name or id>`. */
export function pagerDutyActor(agent: PagerDutyWebhook['event']['agent']): string {
  const who = agent?.summary?.trim() || agent?.id?.trim() || 'unknown';
  return `pagerduty:${shorten(storableText(who), 100)}`;
}

/** The PagerDuty event types the guardian acts on, and what each does to our incident. */
const ACTIONS: Readonly<Record<string, 'acknowledge' | 'resolve'>> = {
  'incident.acknowledged': 'acknowledge',
  'incident.resolved': 'resolve',
};

/**
 * Decides on one delivery to `environment`'s webhook: the signature is checked first (nothing of
 * an unsigned body is read), then the payload is parsed and mapped to our incident by its
 * `incident_key`.
 */
export function decidePagerDutyWebhook(
  request: WebhookRequest,
  secret: string,
  environment: string,
): WebhookDecision {
  const header = headerValue(request.headers, PAGERDUTY_SIGNATURE_HEADER);
  if (!header) {
    return {
      kind: 'refuse',
      status: 401,
      reason: `no ${PAGERDUTY_SIGNATURE_HEADER} header: only PagerDuty webhook deliveries signed with this subscription's secret are accepted`,
    };
  }
  if (!signatureValid(request.body, header, secret)) {
    return {
      kind: 'refuse',
      status: 401,
      reason: `${PAGERDUTY_SIGNATURE_HEADER} does not match the body: not signed with the subscription's secret (or the secret in Secrets Manager is not this subscription's)`,
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(request.body.toString('utf8'));
  } catch {
    return { kind: 'malformed', status: 400, reason: 'the body is not JSON' };
  }
  const parsed = webhookSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (i) => `${i.path.map(String).join('.') || '(body)'}: ${i.message}`,
    );
    return {
      kind: 'malformed',
      status: 400,
      reason: `not a PagerDuty v3 webhook payload: ${problems.join('; ')}`,
    };
  }
  const { event } = parsed.data;
  const ids = { eventId: event.id, eventType: event.event_type };
  const action = ACTIONS[event.event_type];
  if (!action) {
    return {
      kind: 'ignore',
      status: 200,
      ...ids,
      reason: `PagerDuty event ${event.event_type} changes nothing here: only incident.acknowledged and incident.resolved do`,
    };
  }
  const key = event.data.incident_key ?? undefined;
  const pdIncident = `PagerDuty incident ${event.data.id ?? '(no id)'}`;
  const match = key === undefined ? null : INCIDENT_ID_RE.exec(key);
  if (key === undefined || !match) {
    return {
      kind: 'ignore',
      status: 200,
      ...ids,
      reason: `${pdIncident} is not one the guardian opened: its incident_key ${key === undefined ? 'is missing' : `'${shorten(storableText(key), 80)}'`} is no guardian incident id`,
    };
  }
  if (match[1] !== environment) {
    return {
      kind: 'ignore',
      status: 200,
      ...ids,
      reason: `${pdIncident} is incident ${key} of environment '${match[1]}', not of ${environment}: that environment's guardian has its own webhook`,
    };
  }
  const by = pagerDutyActor(event.agent);
  const verb = action === 'acknowledge' ? 'acknowledged' : 'resolved';
  return {
    kind: action,
    status: 200,
    incidentId: key,
    actor: {
      by,
      reason: `${verb} in ${pdIncident}${event.data.html_url ? ` (${event.data.html_url})` : ''}`,
    },
    ...ids,
    pagerDutyIncident: {
      ...(event.data.id && { id: event.data.id }),
      ...(event.data.html_url && { url: event.data.html_url }),
    },
    reason: `${by} ${verb} ${pdIncident}, which is incident ${key}`,
  };
}

/** A Function URL response (payload format 2.0): JSON, never a stack trace. */
export interface WebhookResponse {
  readonly statusCode: number;
  readonly headers: { readonly 'content-type': 'application/json' };
  readonly body: string;
}

/** The response carrying `body` as JSON with `status`. */
export function webhookResponse(status: number, body: Record<string, unknown>): WebhookResponse {
  return { statusCode: status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}
