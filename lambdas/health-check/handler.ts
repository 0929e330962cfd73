/**
 * "Enhanced health check": every configured endpoint, JSON field, dependency and pool once, and
 * the release's pod startup times from the workload; the state machine retries on failure.
 */
import * as z from 'zod';
import { HealthCheckFailedError, InvalidInputError } from '../core/errors.ts';
import { type HealthReport, rolloutTargetSchema } from '../core/types.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep } from '../shared/step.ts';
import { runHealthCheck } from './run.ts';

/** The health-check event (deploy or rollback target). */
export const healthCheckEventSchema = z.object({
  target: rolloutTargetSchema,
  /** Blue-green: `preview` checks the preview Service (`argo.previewUrl`) before promotion. */
  service: z.enum(['active', 'preview']).optional(),
});

/** The health-check step: returns the report when healthy, else HealthCheckFailedError with the summary. */
export const step = defineStep(
  'health-check',
  healthCheckEventSchema,
  async (event, deps): Promise<HealthReport> => {
    const { healthCheck } = deps.config;
    const apiUrl = event.service === 'preview' ? deps.config.argo?.previewUrl : deps.config.apiUrl;
    if (apiUrl === undefined) {
      throw new InvalidInputError(
        `environment '${deps.config.name}' has no argo.previewUrl in config/environments.yaml: the preview cannot be health-checked`,
      );
    }
    const { health } = await runHealthCheck({
      apiUrl,
      healthCheck,
      http: deps.http,
      startup: { read: () => deps.workload.podStartup() },
      now: () => deps.clock.now(),
    });
    if (!health.healthy) throw new HealthCheckFailedError(`${apiUrl}: ${health.summary}`);
    return { ...health, checkedAt: deps.clock.now().toISOString() };
  },
);

/** Lambda entry point: ports and config slice from lambdas/steps.ts. */
export const handler = lambdaHandler(step);
