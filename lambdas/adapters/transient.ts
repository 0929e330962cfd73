/**
 * Whether a failed call is worth retrying, decided in one place for every adapter: AWS SDK v3
 * errors by the SDK's own rules (@smithy/service-error-classification), Node.js network failures
 * by their code, HTTP answers by their status. An adapter turns a "yes" into a TransientError,
 * which the state machines retry with backoff; what a "no" becomes is the adapter's mapping.
 */
import { isServerError, isThrottlingError, isTransientError } from '@smithy/service-error-classification';
import type { SdkError } from '@smithy/types';

/** Codes of Node.js and undici network failures that a later attempt may not meet. */
export const TRANSIENT_NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

/**
 * AWS error names the SDK does not retry but the guardian may: DynamoDB refuses a write while a
 * transaction holds the item, and a later attempt finds it released.
 */
const AWS_TRANSIENT_ERROR_NAMES: ReadonlySet<string> = new Set(['TransactionConflictException']);

/** How deep to follow `cause`: fetch wraps the socket error once, node-fetch's FetchError not at all. */
const MAX_CAUSE_DEPTH = 4;

/** Whether an HTTP status says "try again later": 429 Too Many Requests or any 5xx. */
export function isTransientHttpStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599);
}

/** Whether a request was cut short by its deadline: an abort or timeout signal, or node-fetch's timeout. */
export function isTimeoutError(err: unknown): boolean {
  const e = err as { name?: unknown; type?: unknown } | null | undefined;
  return e?.name === 'AbortError' || e?.name === 'TimeoutError' || e?.type === 'request-timeout';
}

/** The first transient network code on `err` or its causes (fetch puts the socket's on `cause`). */
export function transientNetworkCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e !== null && typeof e === 'object' && depth < MAX_CAUSE_DEPTH; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && TRANSIENT_NETWORK_CODES.has(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Whether an AWS SDK v3 error is transient: throttling, a 5xx, a request timeout, a network
 * failure or an error the service marks retryable. The SDK has already retried it (its own
 * `maxAttempts`); this decides whether the state machine tries again later.
 *
 * Clock-skew errors (isClockSkewError) are not transient on their own: that list includes
 * AccessDeniedException, which an operator must fix. An error after which the SDK corrected its
 * clock offset does count (isTransientError).
 */
export function isTransientAwsError(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const e = err as SdkError;
  return (
    AWS_TRANSIENT_ERROR_NAMES.has(e.name) || transientNetworkCode(err) !== undefined || classifiedTransient(e)
  );
}

function classifiedTransient(e: SdkError): boolean {
  try {
    return isThrottlingError(e) || isTransientError(e) || isServerError(e);
  } catch {
    // The classifiers expect SDK-shaped errors and throw on others (e.g. `cause: null`).
    return false;
  }
}
