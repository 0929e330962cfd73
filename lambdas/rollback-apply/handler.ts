/** "Undo to previous revision": `kubectl rollout undo --to-revision`, safe to retry. */
import * as z from 'zod';
import { eksClusterFromEnv } from '../adapters/aws-cluster.ts';
import { NotFoundError } from '../core/errors.ts';
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
  if (workload.revision === r.toRevision) {
    return {
      message: `${where} is already at revision ${r.toRevision} (${r.expectedImage}); nothing to undo`,
      revision: workload.revision,
    };
  }
  const revisions = await cluster.listRevisions(r.namespace, r.workload);
  const target = revisions.find((rev) => rev.revision === r.toRevision);
  if (!target) {
    // An undo renumbers the target ReplicaSet, so a retry after a successful undo lands here.
    if (workload.images[r.container] === r.expectedImage) {
      return {
        message: `${where} already runs ${r.expectedImage} (revision ${workload.revision}); the undo was applied earlier`,
        revision: workload.revision,
      };
    }
    throw new NotFoundError(
      `revision ${r.toRevision} of ${where} no longer exists (available: ${revisions.map((v) => v.revision).join(', ') || 'none'}); start a rollback naming one of them`,
    );
  }
  const cause = `guardian rollback to revision ${r.toRevision}: ${r.reason}${r.annotate ? ` (${r.annotate})` : ''}`;
  const after = await cluster.rollbackTo(r.namespace, r.workload, target, cause);
  return {
    message: `rolled ${where} back from revision ${r.fromRevision} (${r.fromImage}) to revision ${r.toRevision} (${r.expectedImage}); waiting for the rollout`,
    revision: after.revision,
  };
});

/** Lambda entry point, wired with the AWS ports this step uses (see STEP_ACCESS). */
export const handler = lambdaHandler(step, { cluster: eksClusterFromEnv });
