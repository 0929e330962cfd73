/**
 * The PagerDuty webhook's decision. Payloads follow PagerDuty's published v3 format: the example
 * in "Webhooks v3 Overview" (https://developer.pagerduty.com/docs/webhooks-overview, source
 * PagerDuty/developer-docs docs/webhooks/01-Overview.md, the `incident.priority_updated` example
 * with its event type and status set to an acknowledgement), and the signature scheme of
 * "Verifying Signatures" (https://developer.pagerduty.com/docs/verifying-signatures,
 * docs/webhooks/04-Signatures.md): `v1=<hex HMAC-SHA256 of the raw body>`, comma-separated.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decidePagerDutyWebhook,
  headerValue,
  requestBody,
  signatureHeader,
  signatureValid,
  webhookResponse,
} from '../../lambdas/core/pagerduty-webhook.ts';

const SECRET = 'ChPHJ9Bsk3rVpEbyNQ0YdCgtvDGxwXzWaJ7xK5yU1-so8ImRUe2jVLWwD9kS3hZe';
const OTHER_SECRET = 'a-secret-of-another-subscription-a-secret-of-another-subscription';
const INCIDENT = 'staging-20261120T020000Z-0a1b2c3d';

/** The published example payload, as an acknowledgement of `incidentKey`. */
function payload(
  eventType = 'incident.acknowledged',
  incidentKey: string | null = INCIDENT,
  agent: Record<string, string> | null = {
    html_url: 'https://acme.pagerduty.com/users/PLH1HKV',
    id: 'PLH1HKV',
    self: 'https://api.pagerduty.com/users/PLH1HKV',
    summary: 'Tenex Engineer',
    type: 'user_reference',
  },
): Record<string, unknown> {
  return {
    event: {
      id: '5ac64822-4adc-4fda-ade0-410becf0de4f',
      event_type: eventType,
      resource_type: 'incident',
      occurred_at: '2020-10-02T18:45:22.169Z',
      agent,
      client: { name: 'PagerDuty' },
      data: {
        id: 'PGR0VU2',
        type: 'incident',
        self: 'https://api.pagerduty.com/incidents/PGR0VU2',
        html_url: 'https://acme.pagerduty.com/incidents/PGR0VU2',
        number: 2,
        status: eventType === 'incident.resolved' ? 'resolved' : 'acknowledged',
        incident_key: incidentKey,
        created_at: '2020-04-09T15:16:27Z',
        title: 'A little bump in the road',
        service: {
          html_url: 'https://acme.pagerduty.com/services/PF9KMXH',
          id: 'PF9KMXH',
          self: 'https://api.pagerduty.com/services/PF9KMXH',
          summary: 'API Service',
          type: 'service_reference',
        },
        assignees: [
          {
            html_url: 'https://acme.pagerduty.com/users/PTUXL6G',
            id: 'PTUXL6G',
            self: 'https://api.pagerduty.com/users/PTUXL6G',
            summary: 'User 123',
            type: 'user_reference',
          },
        ],
        urgency: 'high',
        resolve_reason: null,
      },
    },
  };
}

/** A delivery of `body` with the signature header PagerDuty would send. */
function delivery(body: string, signature = signatureHeader(body, SECRET)) {
  return {
    headers: { 'x-pagerduty-signature': signature, 'content-type': 'application/json' },
    body: Buffer.from(body),
  };
}

describe('signatureValid', () => {
  const body = Buffer.from(JSON.stringify(payload()));
  const hex = createHmac('sha256', SECRET).update(body).digest('hex');

  it('accepts the v1 HMAC-SHA256 hex digest of the raw body', () => {
    expect(signatureValid(body, `v1=${hex}`, SECRET)).toBe(true);
    expect(signatureValid(body, `v1=${hex.toUpperCase()}`, SECRET)).toBe(true);
  });

  it('accepts any one of several comma-separated signatures during a secret rotation', () => {
    const old = createHmac('sha256', OTHER_SECRET).update(body).digest('hex');
    expect(signatureValid(body, `v1=${old},v1=${hex}`, SECRET)).toBe(true);
    expect(signatureValid(body, `v1=${hex}, v1=${old}`, SECRET)).toBe(true);
  });

  it('refuses a signature by another secret, of another body, of another version, or none', () => {
    expect(signatureValid(body, signatureHeader(body, OTHER_SECRET), SECRET)).toBe(false);
    expect(signatureValid(Buffer.from(`${body} `), `v1=${hex}`, SECRET)).toBe(false);
    expect(signatureValid(body, `v0=${hex}`, SECRET)).toBe(false);
    expect(signatureValid(body, hex, SECRET)).toBe(false);
    expect(signatureValid(body, `v1=${hex.slice(0, 40)}`, SECRET)).toBe(false);
    expect(signatureValid(body, 'v1=', SECRET)).toBe(false);
    expect(signatureValid(body, undefined, SECRET)).toBe(false);
    expect(signatureValid(body, `v1=${hex}`, '')).toBe(false);
  });

  it('signs the bytes as received, unicode included', () => {
    const unicode = Buffer.from(
      '{"event":{"id":"e","event_type":"incident.acknowledged","data":{"title":"Dépôt ☕"}}}',
    );
    expect(signatureValid(unicode, signatureHeader(unicode, SECRET), SECRET)).toBe(true);
    expect(
      signatureValid(
        Buffer.from(unicode.toString('latin1'), 'utf8'),
        signatureHeader(unicode, SECRET),
        SECRET,
      ),
    ).toBe(false);
  });
});

describe('decidePagerDutyWebhook', () => {
  it('acknowledges our incident when PagerDuty reports incident.acknowledged, naming who acted', () => {
    const decision = decidePagerDutyWebhook(delivery(JSON.stringify(payload())), SECRET, 'staging');
    expect(decision).toMatchObject({
      kind: 'acknowledge',
      status: 200,
      incidentId: INCIDENT,
      actor: { by: 'pagerduty:Tenex Engineer' },
      eventId: '5ac64822-4adc-4fda-ade0-410becf0de4f',
      eventType: 'incident.acknowledged',
      pagerDutyIncident: { id: 'PGR0VU2', url: 'https://acme.pagerduty.com/incidents/PGR0VU2' },
    });
    if (decision.kind !== 'acknowledge') throw new Error('unreachable');
    expect(decision.actor.reason).toContain('PGR0VU2');
    expect(decision.reason).toBe(
      `pagerduty:Tenex Engineer acknowledged PagerDuty incident PGR0VU2, which is incident ${INCIDENT}`,
    );
  });

  it('resolves our incident on incident.resolved', () => {
    const decision = decidePagerDutyWebhook(
      delivery(JSON.stringify(payload('incident.resolved'))),
      SECRET,
      'staging',
    );
    expect(decision).toMatchObject({
      kind: 'resolve',
      incidentId: INCIDENT,
      actor: { by: 'pagerduty:Tenex Engineer' },
    });
  });

  it('names the agent by id without a summary, and says unknown without an agent', () => {
    const byId = decidePagerDutyWebhook(
      delivery(
        JSON.stringify(payload('incident.acknowledged', INCIDENT, { id: 'PLH1HKV', type: 'user_reference' })),
      ),
      SECRET,
      'staging',
    );
    expect(byId).toMatchObject({ actor: { by: 'pagerduty:PLH1HKV' } });
    const nobody = decidePagerDutyWebhook(
      delivery(JSON.stringify(payload('incident.resolved', INCIDENT, null))),
      SECRET,
      'staging',
    );
    expect(nobody).toMatchObject({ kind: 'resolve', actor: { by: 'pagerduty:unknown' } });
  });

  it('refuses (401) a delivery without a signature before reading its body', () => {
    const decision = decidePagerDutyWebhook(
      { headers: {}, body: Buffer.from('not even json') },
      SECRET,
      'staging',
    );
    expect(decision).toMatchObject({ kind: 'refuse', status: 401 });
    expect(decision.reason).toMatch(/no x-pagerduty-signature header/);
  });

  it('refuses (401) a wrongly signed delivery even when its body is malformed', () => {
    const body = JSON.stringify(payload());
    expect(
      decidePagerDutyWebhook(delivery(body, signatureHeader(body, OTHER_SECRET)), SECRET, 'staging'),
    ).toMatchObject({
      kind: 'refuse',
      status: 401,
    });
    expect(
      decidePagerDutyWebhook(delivery('{', signatureHeader('{}', SECRET)), SECRET, 'staging'),
    ).toMatchObject({
      kind: 'refuse',
    });
  });

  it('finds the signature header whatever its case', () => {
    const body = JSON.stringify(payload());
    const decision = decidePagerDutyWebhook(
      { headers: { 'X-PagerDuty-Signature': signatureHeader(body, SECRET) }, body: Buffer.from(body) },
      SECRET,
      'staging',
    );
    expect(decision.kind).toBe('acknowledge');
    expect(headerValue({ 'X-PagerDuty-Signature': 'v1=x' }, 'x-pagerduty-signature')).toBe('v1=x');
  });

  it('answers 400 to a signed body that is not JSON or not a v3 payload', () => {
    expect(decidePagerDutyWebhook(delivery('{"event":'), SECRET, 'staging')).toMatchObject({
      kind: 'malformed',
      status: 400,
      reason: 'the body is not JSON',
    });
    const v2 = decidePagerDutyWebhook(delivery(JSON.stringify({ messages: [] })), SECRET, 'staging');
    expect(v2).toMatchObject({ kind: 'malformed', status: 400 });
    expect(v2.reason).toMatch(/not a PagerDuty v3 webhook payload: event: /);
  });

  it('ignores event types that do not acknowledge or resolve, saying which', () => {
    for (const type of ['incident.triggered', 'incident.priority_updated', 'incident.unacknowledged']) {
      const decision = decidePagerDutyWebhook(delivery(JSON.stringify(payload(type))), SECRET, 'staging');
      expect(decision).toMatchObject({ kind: 'ignore', status: 200, eventType: type });
      expect(decision.reason).toContain(type);
    }
  });

  it('ignores PagerDuty incidents the guardian did not open (other keys, no key)', () => {
    // The published example's own key: an incident of another integration.
    const foreign = decidePagerDutyWebhook(
      delivery(JSON.stringify(payload('incident.acknowledged', 'd3640fbd41094207a1c11e58e46b1662'))),
      SECRET,
      'staging',
    );
    expect(foreign).toMatchObject({ kind: 'ignore', status: 200 });
    expect(foreign.reason).toMatch(
      /PGR0VU2 is not one the guardian opened: its incident_key 'd3640fbd41094207a1c11e58e46b1662'/,
    );
    const none = decidePagerDutyWebhook(
      delivery(JSON.stringify(payload('incident.acknowledged', null))),
      SECRET,
      'staging',
    );
    expect(none).toMatchObject({ kind: 'ignore' });
    expect(none.reason).toMatch(/incident_key is missing/);
  });

  it("ignores another environment's incident on this environment's webhook", () => {
    const decision = decidePagerDutyWebhook(
      delivery(JSON.stringify(payload('incident.acknowledged', 'production-20261120T020000Z-0a1b2c3d'))),
      SECRET,
      'staging',
    );
    expect(decision).toMatchObject({ kind: 'ignore' });
    expect(decision.reason).toMatch(/of environment 'production', not of staging/);
  });
});

describe('requestBody and webhookResponse', () => {
  it('decodes a base64 Function URL body to the bytes that were signed', () => {
    const body = JSON.stringify(payload());
    const decoded = requestBody(Buffer.from(body).toString('base64'), true);
    expect(decoded.toString('utf8')).toBe(body);
    expect(
      decidePagerDutyWebhook({ headers: delivery(body).headers, body: decoded }, SECRET, 'staging').kind,
    ).toBe('acknowledge');
    expect(requestBody(undefined, false)).toHaveLength(0);
  });

  it('answers JSON with the status', () => {
    expect(webhookResponse(401, { error: 'no' })).toEqual({
      statusCode: 401,
      headers: { 'content-type': 'application/json' },
      body: '{"error":"no"}',
    });
  });
});
