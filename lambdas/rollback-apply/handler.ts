/** "Undo to previous revision": restores the rollback point, like `kubectl rollout undo --to-revision`; safe to retry. */
import * as z from 'zod';
import { capBytes } from '../core/context.ts';
import { restoreNeeded } from '../core/rollback.ts';
import { rollbackContextSchema } from '../core/types.ts';
import { describePoint } from '../core/workload.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep } from '../shared/step.ts';

/** The rollback-apply event. */
export const rollbackApplyEventSchema = z.object({ rollback: rollbackContextSchema });

/** The rollback-apply step. */
export const step = defineStep('rollback-apply', rollbackApplyEventSchema, async ({ rollback: r }, deps) => {
  deps.logger.appendKeys({ rollbackId: r.rollbackId, executionArn: r.executionArn });
  const now = await deps.workload.observe();
  // Images, not revision numbers: a revision lags a desired state the platform has not acted on.
  // A blue-green Rollout on the right template may still need its abort or promotion finished.
  const unsettled = now.blueGreen !== undefined && now.blueGreen.stage !== 'stable';
  if (!restoreNeeded(now.image, r.to) && !unsettled) {
    return {
      message: `${r.workload} already runs ${r.to.image} (revision ${now.revision}); nothing to undo (the undo was applied earlier or the deployment never changed it)`,
      revision: now.revision,
    };
  }
  const cause = capBytes(
    `guardian rollback to revision ${r.to.revision}: ${r.reason}${r.annotate ? ` (${r.annotate})` : ''}`,
  );
  const after = await deps.workload.restore(r.to, cause);
  return {
    message: `rolled ${r.workload} back from ${describePoint(r.from)} to ${describePoint(r.to)}; waiting for the rollout`,
    revision: after.revision,
  };
});

/** Lambda entry point: ports and config slice from lambdas/steps.ts. */
export const handler = lambdaHandler(step);
