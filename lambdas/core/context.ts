/** Small pure checks the steps share: the environment asked for, a paused workload, deadlines, reasons. */
import { InvalidInputError } from './errors.ts';
import { quote } from './text.ts';
import type { WorkloadObservation } from './workload.ts';

/** Each stack guards one environment; a request for another one is refused. */
export function checkEnvironment(guarded: string, requested: string): void {
  if (requested !== guarded) {
    throw new InvalidInputError(
      `environment ${quote(requested)} is not guarded by this stack (it guards '${guarded}'); start the execution in that environment's guardian`,
    );
  }
}

/** `now + seconds` as an ISO time. */
export function deadlineAt(now: Date, seconds: number): string {
  return new Date(now.getTime() + seconds * 1000).toISOString();
}

/** Whole seconds from the ISO time `since` to `now` (0 if `since` is unreadable or later). */
export function secondsSince(since: string, now: Date): number {
  const start = Date.parse(since);
  return Number.isFinite(start) ? Math.max(0, Math.round((now.getTime() - start) / 1000)) : 0;
}

/**
 * Refuses to deploy to a paused workload: its platform would not roll the new release out, so the
 * guardian would wait for its deadline and then "roll back" a change that never ran.
 */
export function checkNotPaused(workload: WorkloadObservation): void {
  if (workload.rollout.phase === 'paused') {
    throw new InvalidInputError(`${workload.rollout.message}; resume it or deploy after the pause is lifted`);
  }
}

/** A JSON string literal's value (`"a\"b"` -> `a"b`), or undefined when it is not one. */
function jsonString(literal: string): string | undefined {
  try {
    const value: unknown = JSON.parse(literal);
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** `"key": "value"` of a JSON text too long to parse (Step Functions cuts causes at 32 768 characters). */
function jsonField(text: string, key: string): string | undefined {
  const m = new RegExp(`"${key}"\\s*:\\s*("(?:[^"\\\\]|\\\\.)*")`).exec(text);
  return m?.[1] === undefined ? undefined : jsonString(m[1]);
}

/**
 * The sentence inside a failure Cause, or undefined for plain text: a Lambda error's
 * `errorType: errorMessage` (its stack trace dropped), a failed child execution's `Error: Cause`.
 */
function causeSentence(cause: string, fallbackType?: string): string | undefined {
  if (!cause.startsWith('{')) return undefined;
  let parsed: {
    errorType?: unknown;
    errorMessage?: unknown;
    Error?: unknown;
    Cause?: unknown;
    ExecutionArn?: unknown;
  };
  try {
    parsed = JSON.parse(cause) as typeof parsed;
  } catch {
    const message = jsonField(cause, 'errorMessage');
    if (message === undefined) return undefined;
    const type = jsonField(cause, 'errorType') ?? fallbackType;
    return type ? `${type}: ${message}` : message;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  if (typeof parsed.errorMessage === 'string') {
    const type = typeof parsed.errorType === 'string' ? parsed.errorType : fallbackType;
    return type ? `${type}: ${parsed.errorMessage}` : parsed.errorMessage;
  }
  // A failed child execution (startExecution.sync): its own Error and Cause, which may be a Lambda's.
  if (typeof parsed.Error === 'string') {
    const inner = typeof parsed.Cause === 'string' ? parsed.Cause.trim() : '';
    const child =
      typeof parsed.ExecutionArn === 'string' ? ` (execution ${parsed.ExecutionArn.split(':').pop()})` : '';
    const text = inner ? (causeSentence(inner, parsed.Error) ?? `${parsed.Error}: ${inner}`) : parsed.Error;
    return `${text}${child}`;
  }
  return undefined;
}

/**
 * An operator-readable rollback reason from what the Deploy workflow passes (`$.failure.Cause`):
 * Lambda error JSON -> `errorType: errorMessage`, child-execution JSON -> `Error: Cause`, plain
 * text unchanged (trimmed). Recorded, shown as the breaker reason and the change-cause.
 */
export function reasonText(raw: string): string {
  const text = raw.trim();
  return (causeSentence(text) ?? text).trim();
}

/** Longest `kubernetes.io/change-cause` the guardian writes, in UTF-8 bytes (annotations total ≤ 256 KiB). */
export const CHANGE_CAUSE_MAX_BYTES = 1024;

/** Cuts `text` to at most `maxBytes` UTF-8 bytes, ending in `…` when cut (never mid-character). */
export function capBytes(text: string, maxBytes = CHANGE_CAUSE_MAX_BYTES): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  const ellipsis = '…';
  let budget = maxBytes - Buffer.byteLength(ellipsis, 'utf8');
  let out = '';
  for (const ch of text) {
    const size = Buffer.byteLength(ch, 'utf8');
    if (size > budget) break;
    out += ch;
    budget -= size;
  }
  return out + ellipsis;
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
  return causeSentence(cause, failure.Error) ?? `${failure.Error}: ${cause}`;
}
