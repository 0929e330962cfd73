/**
 * How the CLI reports a failure, the same way for every command: one exit code per kind of error
 * (2 bad usage or bad input, 1 failed or refused), the sentence on stderr and, with `--json`, one
 * `{"error": {"type", "message", "exitCode", …}}` document on stdout instead of any other output.
 */
import { REFUSAL_ERRORS } from '../../lambdas/core/errors.ts';
import { printable } from '../../lambdas/core/text.ts';
import type { ConfigError } from '../config/load.ts';
import { UsageError } from './args.ts';
import { jsonDocument, type Output } from './format.ts';

/** Guardian errors that mean the request itself was wrong (exit 2) rather than refused (exit 1). */
export const BAD_INPUT_ERRORS: ReadonlySet<string> = new Set(['InvalidInputError', 'NotFoundError']);

/**
 * A command's own refusal that no guardian error names (a lock held by someone else than the
 * holder given, say): its `type` is the JSON error type, and it exits 1.
 */
export class CommandRefusedError extends Error {
  override readonly name = 'CommandRefusedError';
  constructor(
    message: string,
    /** Stable type for scripts, e.g. `LockNotHeld`. */
    readonly type: string,
    /** Extra fields of the JSON error. */
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }
}

/**
 * A config problem (by name: the config loader is loaded lazily, so `--help` does not pay for
 * YAML and the schema).
 */
function isConfigError(err: unknown): err is ConfigError {
  return err instanceof Error && err.name === 'ConfigError' && Array.isArray((err as ConfigError).problems);
}

/** Exit code of an error name (a guardian error, or an execution's error). */
export function exitCodeOfErrorName(name: string | undefined): number {
  return BAD_INPUT_ERRORS.has(name ?? '') ? 2 : 1;
}

/** The exit code of anything a command threw. */
export function exitCodeOfError(err: unknown): number {
  if (err instanceof UsageError || isConfigError(err)) return 2;
  return exitCodeOfErrorName((err as Error | undefined)?.name);
}

/** The `error` member of a JSON document for `err`. */
export function errorObject(err: unknown, command?: string): Record<string, unknown> {
  const e = err instanceof Error ? err : new Error(String(err));
  const exitCode = exitCodeOfError(e);
  if (e instanceof CommandRefusedError) return { type: e.type, message: e.message, exitCode, ...e.details };
  if (isConfigError(e)) return { type: e.name, message: e.message, exitCode, problems: e.problems };
  if (e instanceof UsageError) {
    const cmd = e.command ?? command;
    return { type: e.name, message: e.message, exitCode, help: `guardian ${cmd ? `${cmd} ` : ''}--help` };
  }
  const refusal = (REFUSAL_ERRORS as readonly string[]).includes(e.name);
  return { type: e.name, message: e.message ?? String(e), exitCode, ...(refusal && { refused: true }) };
}

/**
 * Reports `err` and returns its exit code: the sentence (and, for a usage error, where help is)
 * on stderr; with `json`, also the error document as the only thing on stdout.
 */
export function reportError(err: unknown, output: Output, json: boolean, command?: string): number {
  const exitCode = exitCodeOfError(err);
  const message = err instanceof Error ? err.message : String(err);
  // A config error lists its problems one per line; any other line break is data, kept escaped.
  output.err(`guardian: ${message.split('\n').map(printable).join('\n')}`);
  if (err instanceof UsageError) {
    const cmd = err.command ?? command;
    output.err(`Run 'guardian ${cmd ? `${cmd} ` : ''}--help'.`);
  }
  if (json) output.out(jsonDocument({ error: errorObject(err, command) }));
  return exitCode;
}
