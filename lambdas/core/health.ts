/**
 * Enhanced health check evaluation (runbook: "Enhanced Health Checks"): core endpoints and their
 * status codes, each expected JSON field, database / Redis / PgBouncer connectivity and
 * connection-pool health as `/health` reports them, and how long the release's pods took to become
 * Ready. Pure: the step (or `guardian health`) makes the HTTP calls and reads the pods, and hands
 * the results in. A response with status 0 means no HTTP response arrived; its body says why
 * (timeout, connection refused, ...), as `lambdas/adapters/http.ts` reports it.
 *
 * Every check is listed with pass / fail (or skipped, when there was nothing to read it from) and a
 * sentence an operator can act on; the release is healthy when none failed.
 */
import type {
  DatabasePoolExpectation,
  DependencyKind,
  HealthDependencies,
  PgbouncerPoolExpectation,
} from '../../lib/config/health-check.ts';
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

/** The verdict over all checks. */
export interface HealthEvaluation {
  readonly healthy: boolean;
  readonly checks: HealthCheckResult[];
  readonly summary: string;
}

/** When one pod of the release was created and when it last became Ready (ISO times, as Kubernetes reports them). */
export interface PodStartup {
  readonly pod: string;
  /** `metadata.creationTimestamp`. */
  readonly createdAt: string;
  /** `lastTransitionTime` of its Ready condition while that is True; absent while it is not Ready. */
  readonly readyAt?: string;
}

/** What was learnt about the release's pods for the startup-time check. */
export type StartupObservation =
  /** The pods of the current ReplicaSet; `now` dates the pods not Ready yet. */
  | { readonly kind: 'pods'; readonly pods: readonly PodStartup[]; readonly now: string }
  /** Not read, and why (no cluster to read from): the check is skipped, neither pass nor fail. */
  | { readonly kind: 'skipped'; readonly reason: string }
  /** The read failed (or timed out): the check fails, since startup could not be validated. */
  | { readonly kind: 'unreadable'; readonly reason: string };

/** What the enhanced health check validates beyond the endpoints (all optional). */
export interface EnhancedHealthOptions {
  /** Dependencies and pools read from one endpoint's JSON (`healthCheck.dependencies`). */
  readonly dependencies?: HealthDependencies;
  /** The startup-time check: its limit and what was observed; absent, no startup check is listed. */
  readonly startup?: { readonly maxSeconds: number; readonly observation: StartupObservation };
}

/** The name of the startup-time check. */
export const STARTUP_CHECK = 'Startup time';

function snippet(body: string): string {
  const one = body.replace(/\s+/g, ' ').trim();
  return one.length > 60 ? `${one.slice(0, 60)}…` : one || '(empty)';
}

function show(value: unknown): string {
  return JSON.stringify(value) ?? 'undefined';
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

/** An endpoint's body as JSON, or why it cannot be read as JSON. */
type Parsed = { readonly json: unknown } | { readonly unreadable: string };

function parseBody(name: string, response: HealthResponse | undefined): Parsed {
  if (!response) return { unreadable: `${name} was not called` };
  if (response.status === 0) return { unreadable: `${name} did not answer` };
  try {
    return { json: JSON.parse(response.body) as unknown };
  } catch {
    return { unreadable: `${name} answered HTTP ${response.status} without a JSON body` };
  }
}

function endpointCheck(
  endpoint: HealthEndpoint,
  response: HealthResponse | undefined,
  needsJson: boolean,
  timeoutHint: string,
): HealthCheckResult {
  const name = `GET ${endpoint.path}`;
  const fail = (detail: string): HealthCheckResult => ({ name, ok: false, detail });
  if (!response) return fail('not called');
  if (response.status === 0) {
    const timedOut = /^timed out/.test(response.body);
    return fail(`no response after ${response.elapsedMs} ms: ${response.body}${timedOut ? timeoutHint : ''}`);
  }
  if (response.status !== endpoint.expectStatus) {
    return fail(`expected HTTP ${endpoint.expectStatus}, got ${response.status}: ${snippet(response.body)}`);
  }
  if (needsJson && 'unreadable' in parseBody(name, response)) {
    return fail(`HTTP ${response.status} but the body is not JSON: ${snippet(response.body)}`);
  }
  return { name, ok: true, detail: `HTTP ${response.status} in ${response.elapsedMs} ms` };
}

/** One expected field of an endpoint's JSON (`expectJson`). */
function fieldCheck(path: string, field: string, want: unknown, parsed: Parsed): HealthCheckResult {
  const name = `${path} ${field}`;
  if ('unreadable' in parsed)
    return { name, ok: false, skipped: true, detail: `not checked: ${parsed.unreadable}` };
  const got = lookupField(parsed.json, field);
  if (!got.found) return { name, ok: false, detail: `field ${field} is missing (expected ${show(want)})` };
  if (got.value !== want) {
    return { name, ok: false, detail: `field ${field} is ${show(got.value)}, expected ${show(want)}` };
  }
  return { name, ok: true, detail: `${field}=${show(want)}` };
}

/** What an operator looks at when a dependency is unreachable. */
const CONNECTIVITY: Readonly<Record<DependencyKind, { readonly name: string; readonly hint: string }>> = {
  database: {
    name: 'Database',
    hint: 'the API cannot reach PostgreSQL: check the database endpoint and credentials the release uses (DATABASE_URL), its security group, and RDS events for a failover or maintenance',
  },
  redis: {
    name: 'Redis',
    hint: 'the API cannot reach Redis: check the endpoint the release uses (REDIS_URL), its security group, and ElastiCache events for a failover',
  },
  pgbouncer: {
    name: 'PgBouncer',
    hint: 'the API cannot reach PgBouncer: check the PgBouncer pods and Service (kubectl get pods,svc -l app=pgbouncer), its auth file and SHOW POOLS',
  },
};

function connectivityCheck(
  kind: DependencyKind,
  expectation: { readonly field: string; readonly expect: string | number | boolean },
  endpoint: string,
  parsed: Parsed,
): HealthCheckResult {
  const { name, hint } = CONNECTIVITY[kind];
  if ('unreadable' in parsed)
    return { name, ok: false, skipped: true, detail: `not checked: ${parsed.unreadable}` };
  const got = lookupField(parsed.json, expectation.field);
  if (!got.found) {
    return {
      name,
      ok: false,
      detail: `${endpoint} does not report ${expectation.field} (expected ${show(expectation.expect)}): the release may no longer report it; fix the API or healthCheck.dependencies.connectivity.${kind}.field`,
    };
  }
  if (got.value !== expectation.expect) {
    return {
      name,
      ok: false,
      detail: `${expectation.field} is ${show(got.value)}, expected ${show(expectation.expect)} — ${hint}`,
    };
  }
  return { name, ok: true, detail: `${expectation.field}=${show(got.value)} (${endpoint})` };
}

/** The named numbers of a pool object; a missing or non-numeric one is a problem. */
function figures<K extends string>(
  value: unknown,
  required: readonly K[],
  optional: readonly string[] = [],
):
  | { ok: true; values: Record<K, number> & Record<string, number | undefined> }
  | { ok: false; problem: string } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, problem: `is ${show(value)}, not an object with ${required.join(', ')}` };
  }
  const values: Record<string, number | undefined> = {};
  const problems: string[] = [];
  for (const key of [...required, ...optional]) {
    const v = (value as Record<string, unknown>)[key];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) values[key] = v;
    else if (v === undefined && !(required as readonly string[]).includes(key)) values[key] = undefined;
    else problems.push(v === undefined ? `${key} is missing` : `${key} is ${show(v)}, not a count`);
  }
  if (problems.length > 0) return { ok: false, problem: problems.join(', ') };
  return { ok: true, values: values as Record<K, number> & Record<string, number | undefined> };
}

function databasePoolCheck(p: DatabasePoolExpectation, endpoint: string, parsed: Parsed): HealthCheckResult {
  const name = 'Database pool';
  if ('unreadable' in parsed)
    return { name, ok: false, skipped: true, detail: `not checked: ${parsed.unreadable}` };
  const got = lookupField(parsed.json, p.field);
  if (!got.found) {
    return {
      name,
      ok: false,
      detail: `${endpoint} does not report ${p.field} ({size, active, idle, waiting}); fix the API or healthCheck.dependencies.pools.database.field`,
    };
  }
  const f = figures(got.value, ['size', 'active', 'idle', 'waiting'] as const);
  if (!f.ok) return { name, ok: false, detail: `${p.field} ${f.problem}` };
  const { size, active, idle, waiting } = f.values;
  const utilisation = size > 0 ? Math.round((active / size) * 100) : active > 0 ? Infinity : 0;
  const shown = `${active} of ${size} connections in use (${Number.isFinite(utilisation) ? `${utilisation}%` : 'no capacity'}), ${idle} idle, ${waiting} waiting`;
  const fix =
    'raise the pool size (pool_size / max_overflow) or find what holds connections (slow queries, leaked sessions: pg_stat_activity)';
  if (waiting > p.maxWaiting) {
    return {
      name,
      ok: false,
      detail: `${waiting} requests waiting for a database connection (max ${p.maxWaiting}) — pool exhausted: ${shown}; ${fix}`,
    };
  }
  if (utilisation > p.maxUtilisationPercent) {
    return {
      name,
      ok: false,
      detail: `${shown}, above ${p.maxUtilisationPercent}% — pool near exhaustion: ${fix}`,
    };
  }
  return { name, ok: true, detail: `${shown} (max ${p.maxUtilisationPercent}%, ${p.maxWaiting} waiting)` };
}

function pgbouncerPoolCheck(
  p: PgbouncerPoolExpectation,
  endpoint: string,
  parsed: Parsed,
): HealthCheckResult {
  const name = 'PgBouncer pool';
  if ('unreadable' in parsed)
    return { name, ok: false, skipped: true, detail: `not checked: ${parsed.unreadable}` };
  const got = lookupField(parsed.json, p.field);
  if (!got.found) {
    return {
      name,
      ok: false,
      detail: `${endpoint} does not report ${p.field} ({cl_waiting, maxwait_seconds} from SHOW POOLS); fix the API or healthCheck.dependencies.pools.pgbouncer.field`,
    };
  }
  const f = figures(got.value, ['cl_waiting', 'maxwait_seconds'] as const, [
    'cl_active',
    'sv_active',
    'sv_idle',
  ]);
  if (!f.ok) return { name, ok: false, detail: `${p.field} ${f.problem}` };
  const { cl_waiting: waiting, maxwait_seconds: maxwait, cl_active, sv_active, sv_idle } = f.values;
  const extra = [
    cl_active === undefined ? undefined : `${cl_active} clients active`,
    sv_active === undefined ? undefined : `${sv_active} server connections active`,
    sv_idle === undefined ? undefined : `${sv_idle} idle`,
  ].filter((x): x is string => x !== undefined);
  const context = extra.length > 0 ? ` (${extra.join(', ')})` : '';
  const fix =
    'check pgbouncer SHOW POOLS / raise default_pool_size (or max_db_connections), and look for long transactions holding server connections';
  if (waiting > p.maxWaiting) {
    return {
      name,
      ok: false,
      detail: `${waiting} clients waiting (max ${p.maxWaiting}), the oldest for ${maxwait} s${context} — pool exhausted: ${fix}`,
    };
  }
  if (maxwait > p.maxWaitSeconds) {
    return {
      name,
      ok: false,
      detail: `the oldest waiting client has waited ${maxwait} s (max ${p.maxWaitSeconds} s), ${waiting} waiting${context} — servers are not keeping up: ${fix}`,
    };
  }
  return {
    name,
    ok: true,
    detail: `${waiting} clients waiting (max ${p.maxWaiting}), longest wait ${maxwait} s (max ${p.maxWaitSeconds} s)${context}`,
  };
}

/** Seconds between two ISO times (NaN when either is not a time). */
function secondsBetween(from: string, to: string): number {
  return (Date.parse(to) - Date.parse(from)) / 1000;
}

/** The startup-time check: every pod of the release Ready within `maxSeconds` of its creation. */
export function startupCheck(maxSeconds: number, observation: StartupObservation): HealthCheckResult {
  const name = STARTUP_CHECK;
  if (observation.kind === 'skipped')
    return { name, ok: false, skipped: true, detail: `skipped: ${observation.reason}` };
  if (observation.kind === 'unreadable') {
    return { name, ok: false, detail: `pod startup times could not be read: ${observation.reason}` };
  }
  const { pods, now } = observation;
  if (pods.length === 0) {
    return {
      name,
      ok: false,
      skipped: true,
      detail: 'skipped: the current ReplicaSet has no pods (scaled to 0, or not created yet)',
    };
  }
  const ready = pods
    .filter((p) => p.readyAt !== undefined)
    .map((p) => ({
      pod: p.pod,
      seconds: Math.max(0, Math.round(secondsBetween(p.createdAt, p.readyAt as string))),
    }));
  const waiting = pods
    .filter((p) => p.readyAt === undefined)
    .map((p) => ({ pod: p.pod, seconds: Math.max(0, Math.round(secondsBetween(p.createdAt, now))) }));
  const slow = ready.filter((p) => p.seconds > maxSeconds);
  const stuck = waiting.filter((p) => p.seconds > maxSeconds);
  const list = (xs: readonly { pod: string; seconds: number }[]) =>
    xs
      .slice(0, 5)
      .map((p) => `${p.pod} ${p.seconds} s`)
      .join(', ') + (xs.length > 5 ? `, and ${xs.length - 5} more` : '');
  const fix =
    'look at the readiness probe (initialDelaySeconds, periodSeconds), image pull time and work done at start (migrations, cache warm-up): kubectl describe pod';
  if (slow.length + stuck.length > 0) {
    const parts = [
      slow.length > 0
        ? `${slow.length} of ${pods.length} pods took longer than ${maxSeconds} s to become Ready (${list(slow)})`
        : undefined,
      stuck.length > 0
        ? `${stuck.length} not Ready after more than ${maxSeconds} s (${list(stuck)})`
        : undefined,
    ].filter((x): x is string => x !== undefined);
    return { name, ok: false, detail: `${parts.join('; ')} — ${fix}` };
  }
  const slowest = [...ready].sort((a, b) => b.seconds - a.seconds)[0];
  const pending =
    waiting.length > 0 ? `; ${waiting.length} not Ready yet (${list(waiting)}, within ${maxSeconds} s)` : '';
  return {
    name,
    ok: true,
    detail:
      ready.length > 0
        ? `${ready.length} of ${pods.length} pods Ready within ${slowest?.seconds ?? 0} s of creation (max ${maxSeconds} s; slowest ${slowest?.pod ?? '?'})${pending}`
        : `no pod Ready yet, none older than ${maxSeconds} s${pending}`,
  };
}

/** One line over every check: all passed, or which failed (and which were skipped). */
function summarise(checks: readonly HealthCheckResult[]): string {
  const failed = checks.filter((c) => !c.ok && !c.skipped);
  const skipped = checks.filter((c) => c.skipped);
  const passed = checks.filter((c) => c.ok);
  if (failed.length > 0) {
    const notChecked = skipped.length > 0 ? ` (${skipped.length} not checked)` : '';
    return `${failed.length} of ${checks.length} health checks failed: ${failed.map((c) => `${c.name}: ${c.detail}`).join('; ')}${notChecked}`;
  }
  if (skipped.length > 0) {
    return `${passed.length} of ${checks.length} health checks passed, ${skipped.length} skipped: ${skipped.map((c) => `${c.name}: ${c.detail}`).join('; ')}`;
  }
  return `all ${checks.length} health checks passed (${checks.map((c) => c.name).join(', ')})`;
}

/**
 * Evaluates each endpoint with its response (same order), each expected JSON field, and — with
 * `options` — the dependencies and pools from their endpoint's JSON and the pods' startup times.
 * A missing response fails its endpoint; no endpoints at all is unhealthy, because nothing was
 * verified. Checks that read an endpoint's JSON are skipped when that endpoint gave none (its own
 * check has failed already); a JSON body is read even with an unexpected status, so a 503 still
 * says which dependency is down.
 */
export function evaluateHealth(
  endpoints: readonly HealthEndpoint[],
  responses: readonly (HealthResponse | undefined)[],
  options: EnhancedHealthOptions = {},
): HealthEvaluation {
  if (endpoints.length === 0) {
    return {
      healthy: false,
      checks: [],
      summary: 'no health endpoints are configured; nothing was verified',
    };
  }
  const deps = options.dependencies;
  const timeoutHint =
    ' (each request is bounded by healthCheck.timeoutMs: is the API overloaded or the endpoint blocked on a dependency?)';
  const checks: HealthCheckResult[] = [];
  endpoints.forEach((e, i) => {
    const response = responses[i];
    const fields = Object.entries(e.expectJson ?? {});
    const needsJson = fields.length > 0 || deps?.endpoint === e.path;
    checks.push(endpointCheck(e, response, needsJson, timeoutHint));
    const parsed = parseBody(`GET ${e.path}`, response);
    for (const [field, want] of fields) checks.push(fieldCheck(e.path, field, want, parsed));
  });
  if (deps) {
    const index = endpoints.findIndex((e) => e.path === deps.endpoint);
    const parsed: Parsed =
      index === -1
        ? { unreadable: `${deps.endpoint} is not one of the configured endpoints` }
        : parseBody(`GET ${deps.endpoint}`, responses[index]);
    for (const kind of ['database', 'redis', 'pgbouncer'] as const) {
      const expectation = deps.connectivity[kind];
      if (expectation) checks.push(connectivityCheck(kind, expectation, deps.endpoint, parsed));
    }
    if (deps.pools.database) checks.push(databasePoolCheck(deps.pools.database, deps.endpoint, parsed));
    if (deps.pools.pgbouncer) checks.push(pgbouncerPoolCheck(deps.pools.pgbouncer, deps.endpoint, parsed));
  }
  if (options.startup) checks.push(startupCheck(options.startup.maxSeconds, options.startup.observation));
  const failed = checks.filter((c) => !c.ok && !c.skipped);
  return { healthy: failed.length === 0, checks, summary: summarise(checks) };
}
