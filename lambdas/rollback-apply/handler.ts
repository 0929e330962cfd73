/** "Undo to previous revision": `kubectl rollout undo --to-revision`, safe to retry. */
import * as z from 'zod';
import { eksClusterFromEnv } from '../adapters/aws-cluster.ts';
import { capBytes } from '../core/context.ts';
import { NotFoundError } from '../core/errors.ts';
import { undoNeeded } from '../core/rollback.ts';
import { rollbackContextSchema } from '../core/types.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep } from '../shared/step.ts';

/** The rollback-apply event. */
export const rollbackApplyEventSchema = z.object({ rollback: rollbackContextSchema });

/** The rollback-apply step. */
export const step = defineStep('rollback-apply', rollbackApplyEventSchema, async ({ rollback: r }, deps) => {
  deps.logger.appendKeys({ rollbackId: r.rollbackId, executionArn: r.executionArn });
  const cluster = await deps.cluster();
  const where = `${r.namespace}/${r.workload}`;
  const workload = await cluster.getWorkload(r.namespace, r.workload);
  // Images, not revision numbers: the revision annotation lags a template the controller has not acted on.
  if (!undoNeeded(workload, r.container, r.expectedImage)) {
    return {
      message: `${where} already runs ${r.expectedImage} (revision ${workload.revision}); nothing to undo (the undo was applied earlier or the deployment never changed it)`,
      revision: workload.revision,
    };
  }
  const revisions = await cluster.listRevisions(r.namespace, r.workload);
  const target = revisions.find(
    (rev) => rev.revision === r.toRevision && rev.images[r.container] === r.expectedImage,
  );
  if (!target) {
    throw new NotFoundError(
      `revision ${r.toRevision} of ${where} running ${r.expectedImage} no longer exists (available: ${revisions.map((v) => v.revision).join(', ') || 'none'}); start a rollback naming one of them`,
    );
  }
  const cause = capBytes(
    `guardian rollback to revision ${r.toRevision}: ${r.reason}${r.annotate ? ` (${r.annotate})` : ''}`,
  );
  const after = await cluster.rollbackTo(r.namespace, r.workload, target, cause);
  return {
    message: `rolled ${where} back from revision ${r.fromRevision} (${r.fromImage}) to revision ${r.toRevision} (${r.expectedImage}); waiting for the rollout`,
    revision: after.revision,
  };
});

/** Lambda entry point, wired with the AWS ports this step uses (see STEP_ACCESS). */
export const handler = lambdaHandler(step, { cluster: eksClusterFromEnv });
