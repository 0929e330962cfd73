/**
 * The Step Functions errors and task token format of the local executor, apart from it so that a
 * command that only sends a token (through the local state service) loads nothing heavy.
 */
import { randomBytes } from 'node:crypto';

/**
 * A task token the executor does not wait for, named as Step Functions names it: `InvalidToken`
 * if it is not a task token at all, `TaskDoesNotExist` if no task was given it, `TaskTimedOut` if
 * its task has ended (succeeded, failed, timed out or its execution stopped).
 */
export class TaskTokenError extends Error {
  constructor(
    override readonly name: 'InvalidToken' | 'TaskDoesNotExist' | 'TaskTimedOut',
    message: string,
  ) {
    super(message);
  }
}

/** A `stopExecution` that found nothing to stop, named as Step Functions names it. */
export class StopExecutionError extends Error {
  constructor(
    override readonly name: 'ExecutionDoesNotExist' | 'InvalidArn',
    message: string,
  ) {
    super(message);
  }
}

/** A fresh task token: 48 random bytes as URL-safe base64. */
export function newTaskToken(): string {
  return randomBytes(48).toString('base64url');
}

/** What every task token looks like: 48 random bytes as URL-safe base64. */
export const TASK_TOKEN_PATTERN = /^[A-Za-z0-9_-]{64}$/;

/** Why `token` is refused before any executor is asked (`InvalidToken`), or undefined if it is well formed. */
export function malformedTaskToken(token: unknown): TaskTokenError | undefined {
  return typeof token === 'string' && TASK_TOKEN_PATTERN.test(token)
    ? undefined
    : new TaskTokenError('InvalidToken', 'this is not a task token (64 URL-safe base64 characters)');
}

/** Where a task token was issued: told to {@link LocalExecutorOptions.onTaskToken}. */
export interface IssuedTaskToken {
  readonly token: string;
  readonly executionArn: string;
  readonly stateName: string;
}

/** The answer to `stopExecution`, as StopExecution gives it. */
export interface StopExecutionResult {
  readonly stopDate: Date;
}
