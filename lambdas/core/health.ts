/**
 * Enhanced health check evaluation (runbook: "Enhanced Health Checks"): status codes and JSON
 * field values of each configured endpoint. Pure: the step does the HTTP calls and hands the
 * responses in. A response with status 0 means no HTTP response arrived; its body says why
 * (timeout, connection refused, ...), as `lambdas/adapters/http.ts` reports it.
 */
import type { HealthCheckResult } from './types.ts';

/** One configured endpoint (`healthCheck.endpoints[]`). */
export interface HealthEndpoint {
  readonly path: string;
  readonly expectStatus: number;
  readonly expectJson?: Readonly<Record<string, string | number | boolean>>;
}

/** What the HTTP call to one endpoint returned. */
export interface HealthResponse {
  readonly status: number;
  readonly body: string;
  readonly elapsedMs: number;
}

/** The verdict over all endpoints. */
export interface HealthEvaluation {
  readonly healthy: boolean;
  readonly checks: HealthCheckResult[];
  readonly summary: string;
}

function snippet(body: string): string {
  const one = body.replace(/\s+/g, ' ').trim();
  return one.length > 60 ? `${one.slice(0, 60)}…` : one || '(empty)';
}

/** Looks a field up by its literal name first, then as a dotted path into nested objects. */
export function lookupField(
  json: unknown,
  field: string,
): { found: true; value: unknown } | { found: false } {
  if (json !== null && typeof json === 'object' && Object.hasOwn(json, field)) {
    return { found: true, value: (json as Record<string, unknown>)[field] };
  }
  let current: unknown = json;
  for (const key of field.split('.')) {
    if (
      current === null ||
      typeof current !== 'object' ||
      Array.isArray(current) ||
      !Object.hasOwn(current, key)
    ) {
      return { found: false };
    }
    current = (current as Record<string, unknown>)[key];
  }
  return { found: true, value: current };
}

function checkEndpoint(endpoint: HealthEndpoint, response: HealthResponse): HealthCheckResult {
  const name = `GET ${endpoint.path}`;
  const fail = (detail: string): HealthCheckResult => ({ name, ok: false, detail });
  if (response.status === 0) return fail(`no response after ${response.elapsedMs} ms: ${response.body}`);
  if (response.status !== endpoint.expectStatus) {
    return fail(`expected HTTP ${endpoint.expectStatus}, got ${response.status}: ${snippet(response.body)}`);
  }
  const expected = Object.entries(endpoint.expectJson ?? {});
  if (expected.length === 0)
    return { name, ok: true, detail: `HTTP ${response.status} in ${response.elapsedMs} ms` };
  let json: unknown;
  try {
    json = JSON.parse(response.body);
  } catch {
    return fail(`HTTP ${response.status} but the body is not JSON: ${snippet(response.body)}`);
  }
  const problems: string[] = [];
  for (const [field, want] of expected) {
    const got = lookupField(json, field);
    if (!got.found) problems.push(`field ${field} is missing (expected ${JSON.stringify(want)})`);
    else if (got.value !== want) {
      problems.push(
        `field ${field} is ${JSON.stringify(got.value) ?? 'undefined'}, expected ${JSON.stringify(want)}`,
      );
    }
  }
  if (problems.length > 0) return fail(problems.join('; '));
  return {
    name,
    ok: true,
    detail: `HTTP ${response.status} in ${response.elapsedMs} ms; ${expected.map(([f, v]) => `${f}=${JSON.stringify(v)}`).join(', ')}`,
  };
}

/**
 * Evaluates each endpoint with its response (same order). A missing response fails its endpoint;
 * no endpoints at all is unhealthy, because nothing was verified.
 */
export function evaluateHealth(
  endpoints: readonly HealthEndpoint[],
  responses: readonly (HealthResponse | undefined)[],
): HealthEvaluation {
  if (endpoints.length === 0) {
    return {
      healthy: false,
      checks: [],
      summary: 'no health endpoints are configured; nothing was verified',
    };
  }
  const checks = endpoints.map((e, i) => {
    const r = responses[i];
    return r ? checkEndpoint(e, r) : { name: `GET ${e.path}`, ok: false, detail: 'not called' };
  });
  const failed = checks.filter((c) => !c.ok);
  const summary =
    failed.length === 0
      ? `all ${checks.length} health checks passed (${checks.map((c) => c.name).join(', ')})`
      : `${failed.length} of ${checks.length} health checks failed: ${failed.map((c) => `${c.name}: ${c.detail}`).join('; ')}`;
  return { healthy: failed.length === 0, checks, summary };
}
