import { describe, expect, it } from 'vitest';
import {
  evaluateHealth,
  type HealthEvaluation,
  lookupField,
  STARTUP_CHECK,
  type StartupObservation,
} from '../../lambdas/core/health.ts';
import { dependenciesSchema, type HealthDependencies } from '../../lib/config/health-check.ts';

const health = {
  path: '/health',
  expectStatus: 200,
  expectJson: { status: 'ok', database: 'connected', 'pool.healthy': true },
};
const metrics = { path: '/metrics', expectStatus: 200 };
const ok = (body: unknown, status = 200) => ({
  status,
  body: typeof body === 'string' ? body : JSON.stringify(body),
  elapsedMs: 12,
});
const goodBody = { status: 'ok', database: 'connected', pool: { healthy: true } };

describe('evaluateHealth', () => {
  it('passes when every status and field matches, listing each field as its own check', () => {
    const r = evaluateHealth([health, metrics], [ok(goodBody), ok('# metrics')]);
    expect(r.healthy).toBe(true);
    expect(r.summary).toBe(
      'all 5 health checks passed (GET /health, /health status, /health database, /health pool.healthy, GET /metrics)',
    );
    expect(r.checks).toEqual([
      { name: 'GET /health', ok: true, detail: 'HTTP 200 in 12 ms' },
      { name: '/health status', ok: true, detail: 'status="ok"' },
      { name: '/health database', ok: true, detail: 'database="connected"' },
      { name: '/health pool.healthy', ok: true, detail: 'pool.healthy=true' },
      { name: 'GET /metrics', ok: true, detail: 'HTTP 200 in 12 ms' },
    ]);
  });

  it('fails on a status code mismatch, quoting the body', () => {
    const r = evaluateHealth([metrics], [ok('upstream unavailable', 503)]);
    expect(r.healthy).toBe(false);
    expect(r.summary).toBe(
      '1 of 1 health checks failed: GET /metrics: expected HTTP 200, got 503: upstream unavailable',
    );
  });

  it('fails when the body is not JSON, and skips the fields it would have held', () => {
    const r = evaluateHealth([health], [ok('<html>\n  <body>ok</body></html>')]);
    expect(r.checks[0]?.detail).toBe('HTTP 200 but the body is not JSON: <html> <body>ok</body></html>');
    expect(r.checks[1]).toEqual({
      name: '/health status',
      ok: false,
      skipped: true,
      detail: 'not checked: GET /health answered HTTP 200 without a JSON body',
    });
    expect(r.summary).toMatch(/^1 of 4 health checks failed: GET \/health: .* \(3 not checked\)$/);
  });

  it('names a missing field and a wrong value with dotted paths, one check each', () => {
    const r = evaluateHealth([health], [ok({ status: 'degraded', pool: { healthy: 'yes' } })]);
    expect(r.checks.map((c) => [c.name, c.ok, c.detail])).toEqual([
      ['GET /health', true, 'HTTP 200 in 12 ms'],
      ['/health status', false, 'field status is "degraded", expected "ok"'],
      ['/health database', false, 'field database is missing (expected "connected")'],
      ['/health pool.healthy', false, 'field pool.healthy is "yes", expected true'],
    ]);
    expect(r.summary).toMatch(/^3 of 4 health checks failed: \/health status: field status is "degraded"/);
  });

  it('distinguishes a string from a number or boolean', () => {
    const r = evaluateHealth(
      [{ path: '/ready', expectStatus: 200, expectJson: { ready: true, workers: 4 } }],
      [ok({ ready: 'true', workers: '4' })],
    );
    expect(r.checks.slice(1).map((c) => c.detail)).toEqual([
      'field ready is "true", expected true',
      'field workers is "4", expected 4',
    ]);
  });

  it('reports null and object values that do not match', () => {
    const r = evaluateHealth(
      [{ path: '/h', expectStatus: 200, expectJson: { a: 'x', b: 'y' } }],
      [ok({ a: null, b: { c: 1 } })],
    );
    expect(r.checks.slice(1).map((c) => c.detail)).toEqual([
      'field a is null, expected "x"',
      'field b is {"c":1}, expected "y"',
    ]);
  });

  it('still reads the fields of a JSON body that came with an unexpected status', () => {
    const r = evaluateHealth([health], [ok({ status: 'degraded', database: 'error' }, 503)]);
    expect(r.checks.map((c) => c.ok)).toEqual([false, false, false, false]);
    expect(r.checks[2]?.detail).toBe('field database is "error", expected "connected"');
  });

  it('names timeouts and refused connections from the HTTP adapter', () => {
    const r = evaluateHealth(
      [health, metrics],
      [
        { status: 0, body: 'timed out after 5000 ms', elapsedMs: 5001 },
        { status: 0, body: 'connection refused (connect ECONNREFUSED 127.0.0.1:9)', elapsedMs: 2 },
      ],
    );
    expect(r.healthy).toBe(false);
    expect(r.summary).toBe(
      '2 of 5 health checks failed: GET /health: no response after 5001 ms: timed out after 5000 ms (each request is bounded by healthCheck.timeoutMs: is the API overloaded or the endpoint blocked on a dependency?); GET /metrics: no response after 2 ms: connection refused (connect ECONNREFUSED 127.0.0.1:9) (3 not checked)',
    );
    expect(r.checks[1]).toMatchObject({ skipped: true, detail: 'not checked: GET /health did not answer' });
  });

  it('shortens long bodies and says when a body is empty', () => {
    const r = evaluateHealth([metrics, metrics], [ok('x'.repeat(500), 500), ok('', 502)]);
    expect(r.checks[0]?.detail).toBe(`expected HTTP 200, got 500: ${'x'.repeat(60)}…`);
    expect(r.checks[1]?.detail).toBe('expected HTTP 200, got 502: (empty)');
  });

  it('accepts a non-200 expected status', () => {
    expect(evaluateHealth([{ path: '/gone', expectStatus: 410 }], [ok('', 410)]).healthy).toBe(true);
  });

  it('is unhealthy with no endpoints, because nothing was verified', () => {
    expect(evaluateHealth([], [])).toEqual({
      healthy: false,
      checks: [],
      summary: 'no health endpoints are configured; nothing was verified',
    });
  });

  it('fails an endpoint that has no response', () => {
    const r = evaluateHealth([health, metrics], [ok(goodBody)]);
    expect(r.checks.at(-1)).toEqual({ name: 'GET /metrics', ok: false, detail: 'not called' });
  });

  it('fails JSON expectations against a JSON array or scalar', () => {
    expect(evaluateHealth([health], [ok([1, 2])]).healthy).toBe(false);
    expect(evaluateHealth([health], [ok('"ok"')]).checks[1]?.detail).toMatch(/field status is missing/);
  });
});

const h200 = { path: '/health', expectStatus: 200 };
const ready = { path: '/ready', expectStatus: 200 };
/** The runbook's dependencies and both pools, as config/environments.yaml sets them. */
const dependencies: HealthDependencies = dependenciesSchema.parse({
  pools: {
    database: { maxUtilisationPercent: 90, maxWaiting: 2 },
    pgbouncer: { maxWaiting: 5, maxWaitSeconds: 1 },
  },
});
/** What BuyWhere's /health says when all is well. */
const healthyBody = {
  status: 'ok',
  database: 'connected',
  redis: 'connected',
  pgbouncer: 'connected',
  pool: { size: 20, active: 3, idle: 17, waiting: 0 },
  pgbouncer_pool: { cl_active: 14, cl_waiting: 0, sv_active: 3, sv_idle: 17, maxwait_seconds: 0 },
};
const withDeps = (body: unknown, status = 200) =>
  evaluateHealth([h200, ready], [ok(body, status), ok({ ready: true })], { dependencies });
const check = (r: HealthEvaluation, name: string) => {
  const found = r.checks.find((c) => c.name === name);
  if (!found) throw new Error(`no check ${name} in ${r.checks.map((c) => c.name).join(', ')}`);
  return found;
};

describe('evaluateHealth: dependencies and pools', () => {
  it('passes every dependency and pool when /health reports them healthy, each as its own check', () => {
    const r = withDeps(healthyBody);
    expect(r.healthy).toBe(true);
    expect(r.checks.map((c) => c.name)).toEqual([
      'GET /health',
      'GET /ready',
      'Database',
      'Redis',
      'PgBouncer',
      'Database pool',
      'PgBouncer pool',
    ]);
    expect(check(r, 'Database').detail).toBe('database="connected" (/health)');
    expect(check(r, 'Database pool').detail).toBe(
      '3 of 20 connections in use (15%), 17 idle, 0 waiting (max 90%, 2 waiting)',
    );
    expect(check(r, 'PgBouncer pool').detail).toBe(
      '0 clients waiting (max 5), longest wait 0 s (max 1 s) (14 clients active, 3 server connections active, 17 idle)',
    );
  });

  it.each([
    ['database', 'Database', /DATABASE_URL/],
    ['redis', 'Redis', /REDIS_URL/],
    ['pgbouncer', 'PgBouncer', /kubectl get pods,svc -l app=pgbouncer/],
  ])('fails %s connectivity with the value and what to check', (field, name, hint) => {
    const r = withDeps({ ...healthyBody, [field]: 'error' });
    expect(r.healthy).toBe(false);
    const c = check(r, name);
    expect(c.ok).toBe(false);
    expect(c.detail).toMatch(new RegExp(`^${field} is "error", expected "connected" — `));
    expect(c.detail).toMatch(hint);
    expect(r.checks.filter((x) => !x.ok).map((x) => x.name)).toEqual([name]);
  });

  it('fails a dependency /health no longer reports, naming the config key to fix', () => {
    const { redis: _redis, ...body } = healthyBody;
    expect(check(withDeps(body), 'Redis').detail).toBe(
      '/health does not report redis (expected "connected"): the release may no longer report it; fix the API or healthCheck.dependencies.connectivity.redis.field',
    );
  });

  it('reads dependencies from a configured field path and expected value', () => {
    const custom = dependenciesSchema.parse({
      connectivity: { database: { field: 'checks.db', expect: true } },
    });
    const r = evaluateHealth([h200], [ok({ checks: { db: true } })], { dependencies: custom });
    expect(r.checks.map((c) => [c.name, c.ok])).toEqual([
      ['GET /health', true],
      ['Database', true],
    ]);
    const down = evaluateHealth([h200], [ok({ checks: { db: false } })], { dependencies: custom });
    expect(check(down, 'Database').detail).toMatch(/^checks\.db is false, expected true — /);
  });

  it('fails the database pool when requests wait for a connection, though /health says ok', () => {
    const r = withDeps({ ...healthyBody, pool: { size: 20, active: 20, idle: 0, waiting: 37 } });
    expect(r.healthy).toBe(false);
    expect(check(r, 'Database pool').detail).toBe(
      '37 requests waiting for a database connection (max 2) — pool exhausted: 20 of 20 connections in use (100%), 0 idle, 37 waiting; raise the pool size (pool_size / max_overflow) or find what holds connections (slow queries, leaked sessions: pg_stat_activity)',
    );
  });

  it('fails the database pool above its utilisation limit with nobody waiting yet', () => {
    const r = withDeps({ ...healthyBody, pool: { size: 20, active: 19, idle: 1, waiting: 0 } });
    expect(check(r, 'Database pool').detail).toMatch(
      /^19 of 20 connections in use \(95%\), 1 idle, 0 waiting, above 90% — pool near exhaustion: /,
    );
  });

  it('fails the PgBouncer pool on waiting clients, with SHOW POOLS and default_pool_size in the reason', () => {
    const r = withDeps({
      ...healthyBody,
      pgbouncer_pool: { cl_active: 40, cl_waiting: 14, sv_active: 20, sv_idle: 0, maxwait_seconds: 3 },
    });
    expect(check(r, 'PgBouncer pool').detail).toBe(
      '14 clients waiting (max 5), the oldest for 3 s (40 clients active, 20 server connections active, 0 idle) — pool exhausted: check pgbouncer SHOW POOLS / raise default_pool_size (or max_db_connections), and look for long transactions holding server connections',
    );
  });

  it('fails the PgBouncer pool when the oldest client has waited too long, even with few waiting', () => {
    const r = withDeps({ ...healthyBody, pgbouncer_pool: { cl_waiting: 2, maxwait_seconds: 4 } });
    expect(check(r, 'PgBouncer pool').detail).toMatch(
      /^the oldest waiting client has waited 4 s \(max 1 s\), 2 waiting — servers are not keeping up: /,
    );
  });

  it('fails a pool whose figures are missing or not counts, naming them', () => {
    const r = withDeps({ ...healthyBody, pool: { size: 20, active: '3' }, pgbouncer_pool: 'ok' });
    expect(check(r, 'Database pool').detail).toBe(
      'pool active is "3", not a count, idle is missing, waiting is missing',
    );
    expect(check(r, 'PgBouncer pool').detail).toBe(
      'pgbouncer_pool is "ok", not an object with cl_waiting, maxwait_seconds',
    );
    const { pool: _pool, ...noPool } = healthyBody;
    expect(check(withDeps(noPool), 'Database pool').detail).toMatch(
      /^\/health does not report pool \(\{size, active, idle, waiting\}\); fix the API or healthCheck\.dependencies\.pools\.database\.field$/,
    );
  });

  it('still names the dependency that is down when /health answers 503 with JSON', () => {
    const r = withDeps({ ...healthyBody, status: 'degraded', database: 'error' }, 503);
    expect(r.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['GET /health', 'Database']);
  });

  it('skips, not passes, the dependency checks when /health did not answer', () => {
    const r = evaluateHealth(
      [h200, ready],
      [{ status: 0, body: 'timed out after 5000 ms', elapsedMs: 5002 }, ok({ ready: true })],
      { dependencies },
    );
    expect(r.healthy).toBe(false);
    for (const name of ['Database', 'Redis', 'PgBouncer', 'Database pool', 'PgBouncer pool']) {
      expect(check(r, name)).toEqual({
        name,
        ok: false,
        skipped: true,
        detail: 'not checked: GET /health did not answer',
      });
    }
    expect(r.summary).toMatch(
      /^1 of 7 health checks failed: GET \/health: no response after 5002 ms: timed out after 5000 ms \(each request is bounded by healthCheck\.timeoutMs.* \(5 not checked\)$/,
    );
  });

  it('fails the dependencies when their endpoint is not one of those called', () => {
    const r = evaluateHealth([ready], [ok({ ready: true })], { dependencies });
    expect(check(r, 'Database')).toMatchObject({
      skipped: true,
      detail: 'not checked: /health is not one of the configured endpoints',
    });
  });
});

const MAX = 120;
const T0 = '2026-05-01T00:00:00Z';
const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000).toISOString();
const startupOf = (observation: StartupObservation) =>
  evaluateHealth([h200], [ok({})], { startup: { maxSeconds: MAX, observation } });

describe('evaluateHealth: startup time', () => {
  it('passes when every pod of the release became Ready within the limit, naming the slowest', () => {
    const r = startupOf({
      kind: 'pods',
      now: at(600),
      pods: [
        { pod: 'api-abc-1', createdAt: at(0), readyAt: at(5) },
        { pod: 'api-abc-2', createdAt: at(10), readyAt: at(52) },
      ],
    });
    expect(r.healthy).toBe(true);
    expect(check(r, STARTUP_CHECK).detail).toBe(
      '2 of 2 pods Ready within 42 s of creation (max 120 s; slowest api-abc-2)',
    );
  });

  it('fails when a pod took longer than maxStartupSeconds to become Ready, naming it and what to look at', () => {
    const r = startupOf({
      kind: 'pods',
      now: at(600),
      pods: [
        { pod: 'api-slow-1', createdAt: at(0), readyAt: at(240) },
        { pod: 'api-slow-2', createdAt: at(240), readyAt: at(300) },
      ],
    });
    expect(r.healthy).toBe(false);
    expect(check(r, STARTUP_CHECK).detail).toBe(
      '1 of 2 pods took longer than 120 s to become Ready (api-slow-1 240 s) — look at the readiness probe (initialDelaySeconds, periodSeconds), image pull time and work done at start (migrations, cache warm-up): kubectl describe pod',
    );
  });

  it('passes at exactly the limit', () => {
    const r = startupOf({
      kind: 'pods',
      now: at(600),
      pods: [{ pod: 'p', createdAt: at(0), readyAt: at(120) }],
    });
    expect(r.healthy).toBe(true);
  });

  it('fails a pod not Ready yet and older than the limit, but not a young one', () => {
    const r = startupOf({
      kind: 'pods',
      now: at(200),
      pods: [
        { pod: 'old', createdAt: at(0) },
        { pod: 'young', createdAt: at(150) },
        { pod: 'fine', createdAt: at(0), readyAt: at(5) },
      ],
    });
    expect(check(r, STARTUP_CHECK).detail).toMatch(/^1 not Ready after more than 120 s \(old 200 s\) — /);
    const young = startupOf({ kind: 'pods', now: at(200), pods: [{ pod: 'young', createdAt: at(150) }] });
    expect(check(young, STARTUP_CHECK)).toEqual({
      name: STARTUP_CHECK,
      ok: true,
      detail: 'no pod Ready yet, none older than 120 s; 1 not Ready yet (young 50 s, within 120 s)',
    });
  });

  it('lists at most five slow pods', () => {
    const pods = Array.from({ length: 7 }, (_, i) => ({
      pod: `p${i}`,
      createdAt: at(0),
      readyAt: at(200 + i),
    }));
    expect(check(startupOf({ kind: 'pods', now: at(600), pods }), STARTUP_CHECK).detail).toMatch(
      /^7 of 7 pods took longer than 120 s to become Ready \(p0 200 s, p1 201 s, p2 202 s, p3 203 s, p4 204 s, and 2 more\)/,
    );
  });

  it('skips the check, neither passing nor failing the release, when there is no cluster to read', () => {
    const r = startupOf({ kind: 'skipped', reason: 'no cluster' });
    expect(check(r, STARTUP_CHECK)).toEqual({
      name: STARTUP_CHECK,
      ok: false,
      skipped: true,
      detail: 'skipped: no cluster',
    });
    expect(r.healthy).toBe(true);
    expect(r.summary).toBe('1 of 2 health checks passed, 1 skipped: Startup time: skipped: no cluster');
  });

  it('skips the check when the release has no pods', () => {
    expect(check(startupOf({ kind: 'pods', now: at(0), pods: [] }), STARTUP_CHECK)).toMatchObject({
      skipped: true,
      detail: 'skipped: the current ReplicaSet has no pods (scaled to 0, or not created yet)',
    });
  });

  it('fails when the pods could not be read, saying why', () => {
    const r = startupOf({
      kind: 'unreadable',
      reason: 'reading the pods from the cluster timed out after 5000 ms',
    });
    expect(r.healthy).toBe(false);
    expect(check(r, STARTUP_CHECK).detail).toBe(
      'pod startup times could not be read: reading the pods from the cluster timed out after 5000 ms',
    );
  });

  it('lists no startup check when none was asked for (monitoring rounds)', () => {
    expect(evaluateHealth([h200], [ok({})]).checks.map((c) => c.name)).toEqual(['GET /health']);
  });
});

describe('lookupField', () => {
  it('prefers a literal key containing a dot over the dotted path', () => {
    expect(lookupField({ 'a.b': 1, a: { b: 2 } }, 'a.b')).toEqual({ found: true, value: 1 });
    expect(lookupField({ a: { b: 2 } }, 'a.b')).toEqual({ found: true, value: 2 });
  });

  it('does not walk into arrays or inherited properties', () => {
    expect(lookupField({ a: [{ b: 1 }] }, 'a.0.b')).toEqual({ found: false });
    expect(lookupField({}, 'toString')).toEqual({ found: false });
  });

  it('finds a field whose value is false or null', () => {
    expect(lookupField({ a: false }, 'a')).toEqual({ found: true, value: false });
    expect(lookupField({ a: { b: null } }, 'a.b')).toEqual({ found: true, value: null });
  });
});
