/**
 * "Wait for next monitoring round": a `.waitForTaskToken` task. It keeps the task token on the
 * deployment record, so the alarm handler can end the wait at once by failing it, and returns;
 * Step Functions then waits for that token until the state's TimeoutSeconds (the round interval)
 * ends the wait with States.Timeout and the next round runs. A critical alarm that arrived while
 * no wait was open (between rounds) is on the record already: it ends the deployment here.
 */
import * as z from 'zod';
import { AlarmFiredError, ConflictError } from '../core/errors.ts';
import { deploymentContextSchema, SIGNAL_PHASES } from '../core/types.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep } from '../shared/step.ts';

/** The await-signal event: the deployment, the task token, and which wait it is. */
export const awaitSignalEventSchema = z.object({
  deployment: deploymentContextSchema.pick({ environment: true, deploymentId: true }).loose(),
  token: z.string().min(1),
  phase: z.enum(SIGNAL_PHASES),
});

/** The await-signal step: AlarmFiredError if an alarm is on the record, else the token kept there. */
export const step = defineStep(
  'await-signal',
  awaitSignalEventSchema,
  async ({ deployment, token, phase }, deps) => {
    const { store, clock, config, logger } = deps;
    logger.appendKeys({ deploymentId: deployment.deploymentId });
    const record = await store.getRecord(config.name, deployment.deploymentId);
    if (record?.alarm) {
      throw new AlarmFiredError(`alarm ${record.alarm.name} fired: ${record.alarm.reason}`);
    }
    try {
      await store.updateRecord(
        config.name,
        deployment.deploymentId,
        { signal: { token, phase, since: clock.now().toISOString() } },
        // Not over an alarm the handler put there since the read above: that ends the deployment.
        { status: ['in-progress'], unset: ['alarm'] },
      );
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      // The record left in-progress meanwhile: only the alarm handler does that while a deploy waits.
      const now = await store.getRecord(config.name, deployment.deploymentId);
      if (now?.alarm) throw new AlarmFiredError(`alarm ${now.alarm.name} fired: ${now.alarm.reason}`);
      throw err;
    }
    return null;
  },
);

/** Lambda entry point: ports and config slice from lambdas/steps.ts. */
export const handler = lambdaHandler(step);
