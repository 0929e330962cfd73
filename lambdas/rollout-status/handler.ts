/** "Check rollout status": `kubectl rollout status` once, judged against the guardian's deadline. */
import * as z from 'zod';
import { judgeRollout } from '../core/rollout.ts';
import { rolloutTargetSchema } from '../core/types.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep } from '../shared/step.ts';

/** The rollout-status event (deploy or rollback target). */
export const rolloutStatusEventSchema = z.object({
  target: rolloutTargetSchema,
  /** The deadline "Set image" set when the rollout started (Deploy); else the target's. */
  rolloutDeadlineAt: z.iso.datetime({ offset: true }).optional(),
  /** Blue-green: `preview` waits for the preview to be ready for promotion (default: the release). */
  stage: z.enum(['release', 'preview']).optional(),
});

/** The rollout-status step; a failed rollout is a result (the Choice state routes it), not an error. */
export const step = defineStep(
  'rollout-status',
  rolloutStatusEventSchema,
  async ({ target, rolloutDeadlineAt, stage }, deps) => {
    const judged = {
      ...target,
      ...(rolloutDeadlineAt && { rolloutDeadlineAt }),
      ...(stage && { stage }),
    };
    const status = judgeRollout(await deps.workload.observe(), judged, deps.clock.now());
    deps.logger.info('rollout status', { phase: status.phase, message: status.message });
    return status;
  },
);

/** Lambda entry point: ports and config slice from lambdas/steps.ts. */
export const handler = lambdaHandler(step);
