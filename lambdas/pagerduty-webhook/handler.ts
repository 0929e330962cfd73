/**
 * "PagerDuty webhook" (issue 8): PagerDuty's v3 webhook subscription posts incident events to this
 * function's URL. The signature is checked against the subscription's signing secret before
 * anything else is read (core/pagerduty-webhook.ts); an acknowledgement or resolution of one of
 * this environment's incidents moves it forward and ends the wait of its escalation, as
 * `guardian ack` does, so no further level is paged. Every answer is JSON: 401 unsigned or wrongly
 * signed, 400 malformed (PagerDuty drops a 4xx), 200 done or ignored with the reason, 503/500 when
 * the secret or the store cannot be reached (PagerDuty retries a 5xx for about 20 minutes). A
 * repeated delivery is harmless: the incident's transition is a conditional write, a no-op the
 * second time.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import * as z from 'zod';
import { NotFoundError } from '../core/errors.ts';
import { escalationTaskOutput } from '../core/incidents.ts';
import {
  decidePagerDutyWebhook,
  requestBody,
  type WebhookResponse,
  webhookResponse,
} from '../core/pagerduty-webhook.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep } from '../shared/step.ts';

/** The Function URL request (payload format 2.0), the fields the step reads. */
export const pagerDutyWebhookEventSchema = z.looseObject({
  headers: z.record(z.string(), z.string()).default({}),
  body: z.string().optional(),
  isBase64Encoded: z.boolean().default(false),
});

/** The pagerduty-webhook step: answers one delivery with a Function URL response. */
export const step = defineStep(
  'pagerduty-webhook',
  pagerDutyWebhookEventSchema,
  async (event, deps): Promise<WebhookResponse> => {
    const { config, store, workflows, signingSecret, clock, logger, metrics } = deps;
    const ref = config.escalation.channels.pagerduty?.webhookSecret;
    if (!ref) {
      // The stack creates no URL without the secret; reaching here is a wiring mistake.
      logger.error('escalation.channels.pagerduty.webhookSecret is not configured');
      return webhookResponse(503, {
        error: 'this environment has no PagerDuty webhook signing secret configured',
      });
    }
    let secret: string;
    try {
      secret = await signingSecret.get(ref);
    } catch (err) {
      logger.error(`reading the webhook signing secret ${ref} failed`, err as Error);
      return webhookResponse(503, { error: 'cannot verify deliveries right now; retry later' });
    }
    const decision = decidePagerDutyWebhook(
      { headers: event.headers, body: requestBody(event.body, event.isBase64Encoded) },
      secret,
      config.name,
    );
    metrics.addMetric(`PagerDutyWebhook_${decision.kind}`, MetricUnit.Count, 1);
    if (decision.kind === 'refuse' || decision.kind === 'malformed') {
      logger.warn(decision.reason);
      return webhookResponse(decision.status, { error: decision.reason });
    }
    if (decision.kind === 'ignore') {
      logger.info(decision.reason);
      return webhookResponse(200, { action: 'ignore', reason: decision.reason });
    }
    logger.appendKeys({ incidentId: decision.incidentId, pagerDutyEventId: decision.eventId });
    const to = decision.kind === 'acknowledge' ? 'acknowledged' : 'resolved';
    try {
      const result = await store.transitionIncident(
        config.name,
        decision.incidentId,
        to,
        decision.actor,
        clock.now(),
      );
      const token = result.changed ? result.incident.taskToken : undefined;
      // As `guardian ack`: the waiting escalation ends and announces who stopped it. Without a
      // token it is paging right now and reads the new status itself before it waits again.
      const chainEnded = token
        ? await workflows.succeedTask(token, escalationTaskOutput(result.incident))
        : false;
      const message = `${decision.reason}. ${result.message}${chainEnded ? ' Its escalation ends now.' : ''}`;
      logger.warn(message);
      return webhookResponse(200, {
        action: decision.kind,
        incidentId: decision.incidentId,
        changed: result.changed,
        chainEnded,
        message,
      });
    } catch (err) {
      if (err instanceof NotFoundError) {
        const reason = `${decision.reason}, but ${config.name} has no incident ${decision.incidentId}: nothing to ${decision.kind}`;
        logger.info(reason);
        return webhookResponse(200, { action: 'ignore', reason });
      }
      logger.error(`${decision.kind} of incident ${decision.incidentId} failed`, err as Error);
      return webhookResponse(500, {
        error: `could not ${decision.kind} incident ${decision.incidentId}; retry later`,
      });
    }
  },
);

/** Lambda entry point: ports and config slice from lambdas/steps.ts. */
export const handler = lambdaHandler(step);
