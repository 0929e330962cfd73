/**
 * Compensation, written once: when a step fails after taking something (the environment lock),
 * it gives it back — unless the failure is one the state machine retries (the retry needs it
 * still held). Pure orchestration: the caller passes the work and the undo.
 */
import { TransientError } from './errors.ts';

/** When to give back what the step took. */
export type CompensateWhen = 'always' | 'unless-retried';

/**
 * Runs `work`; if it throws, runs `undo` (its own failure reported to `onUndoError`, never
 * masking the original error) and rethrows. With `unless-retried`, a TransientError is rethrown
 * without undo: the state machine retries the step, which needs what it holds.
 */
export async function compensateOnFailure<T>(
  work: () => Promise<T>,
  undo: () => Promise<unknown>,
  when: CompensateWhen,
  onUndoError: (err: unknown) => void = () => undefined,
): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (when === 'always' || !(err instanceof TransientError)) {
      await undo().catch(onUndoError);
    }
    throw err;
  }
}
