/**
 * HTTP GET for health checks on the global `fetch`. Never throws for network trouble: a
 * timeout or a refused connection comes back as status 0 with the reason in `body`, which the
 * health evaluation reports per endpoint instead of crashing the step.
 */
import type { HttpGet } from '../core/ports.ts';
import { isTimeoutError } from './transient.ts';

/** Bodies are cut here; health payloads are small and a runaway response must not fill memory. */
const MAX_BODY = 64 * 1024;

function describe(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (isTimeoutError(err)) return `timed out after ${timeoutMs} ms`;
  const code = e.cause?.code;
  if (code === 'ECONNREFUSED') return `connection refused (${e.cause?.message ?? code})`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host not found (${e.cause?.message ?? code})`;
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET')
    return `connection reset (${e.cause?.message ?? code})`;
  if (code) return `${code}: ${e.cause?.message ?? e.message ?? 'network error'}`;
  return `request failed: ${e.cause?.message ?? e.message ?? String(err)}`;
}

/** Reads at most `max` bytes of the body, then stops the download (the rest is never buffered). */
async function readCapped(res: Response, max: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < max) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  await reader.cancel().catch(() => undefined);
  return new TextDecoder().decode(Buffer.concat(chunks).subarray(0, max));
}

/** GET `url` with a total timeout (headers and body). */
export const httpGet: HttpGet = async (url, timeoutMs) => {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const res = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      headers: {
        accept: 'application/json, text/plain;q=0.9, */*;q=0.1',
        'user-agent': 'deployment-guardian',
      },
    });
    return { status: res.status, body: await readCapped(res, MAX_BODY), elapsedMs: elapsed() };
  } catch (err) {
    return { status: 0, body: describe(err, timeoutMs), elapsedMs: elapsed() };
  }
};
