/** Small pure checks the steps share: the environment asked for, a workload's container, deadlines. */
import type { WorkloadState } from '../adapters/ports.ts';
import { InvalidInputError, NotFoundError } from './errors.ts';

/** Each stack guards one environment; a request for another one is refused. */
export function checkEnvironment(guarded: string, requested: string): void {
  if (requested !== guarded) {
    throw new InvalidInputError(
      `environment '${requested}' is not guarded by this stack (it guards '${guarded}'); start the execution in the ${requested} guardian`,
    );
  }
}

/** The image a workload's container runs; NotFoundError lists the containers when it is absent. */
export function containerImage(workload: WorkloadState, container: string): string {
  const image = workload.images[container];
  if (image === undefined) {
    throw new NotFoundError(
      `deployment ${workload.namespace}/${workload.name} has no container '${container}' (containers: ${Object.keys(workload.images).join(', ') || 'none'}); fix 'container' in environments.yaml`,
    );
  }
  return image;
}

/** `now + seconds` as an ISO time. */
export function deadlineAt(now: Date, seconds: number): string {
  return new Date(now.getTime() + seconds * 1000).toISOString();
}

/**
 * An operator-readable sentence from a Catch's `{Error, Cause}`. Lambda failures arrive with a
 * JSON Cause (`{errorType, errorMessage, ...}`); Pass/Fail states give plain text.
 */
export function failureText(
  failure: { readonly Error: string; readonly Cause?: string } | undefined,
): string {
  if (!failure) return 'no failure details';
  const cause = failure.Cause?.trim();
  if (!cause) return failure.Error;
  try {
    const parsed = JSON.parse(cause) as {
      errorType?: unknown;
      errorMessage?: unknown;
      Error?: unknown;
      Cause?: unknown;
      ExecutionArn?: unknown;
    };
    if (typeof parsed.errorMessage === 'string') {
      return `${typeof parsed.errorType === 'string' ? parsed.errorType : failure.Error}: ${parsed.errorMessage}`;
    }
    // A failed child execution (startExecution.sync): its own Error and Cause.
    if (typeof parsed.Error === 'string') {
      const child =
        typeof parsed.ExecutionArn === 'string' ? ` (execution ${parsed.ExecutionArn.split(':').pop()})` : '';
      return `${parsed.Error}${typeof parsed.Cause === 'string' ? `: ${parsed.Cause}` : ''}${child}`;
    }
  } catch {
    // Not JSON: a plain-text cause.
  }
  return `${failure.Error}: ${cause}`;
}
