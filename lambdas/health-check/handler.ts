/** "Enhanced health check": every configured endpoint once; the state machine retries on failure. */
import * as z from 'zod';
import { HealthCheckFailedError } from '../core/errors.ts';
import { evaluateHealth } from '../core/health.ts';
import { type HealthReport, rolloutTargetSchema } from '../core/types.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep } from '../shared/step.ts';

/** The health-check event (deploy or rollback target). */
export const healthCheckEventSchema = z.object({ target: rolloutTargetSchema });

/** The health-check step: returns the report when healthy, else HealthCheckFailedError with the summary. */
export const step = defineStep(
  'health-check',
  healthCheckEventSchema,
  async (_event, deps): Promise<HealthReport> => {
    const { apiUrl, healthCheck } = deps.config;
    const responses = await Promise.all(
      healthCheck.endpoints.map((e) =>
        deps.http(`${apiUrl.replace(/\/+$/, '')}${e.path}`, healthCheck.timeoutMs),
      ),
    );
    const verdict = evaluateHealth(healthCheck.endpoints, responses);
    if (!verdict.healthy) throw new HealthCheckFailedError(`${apiUrl}: ${verdict.summary}`);
    return { ...verdict, checkedAt: deps.clock.now().toISOString() };
  },
);

/** Lambda entry point: ports and config slice from lambdas/steps.ts. */
export const handler = lambdaHandler(step);
