import { describe, expect, it } from 'vitest';
import { evaluateHealth, lookupField } from '../../lambdas/core/health.ts';

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
  it('passes when every status and field matches', () => {
    const r = evaluateHealth([health, metrics], [ok(goodBody), ok('# metrics')]);
    expect(r.healthy).toBe(true);
    expect(r.summary).toBe('all 2 health checks passed (GET /health, GET /metrics)');
    expect(r.checks[0]).toEqual({
      name: 'GET /health',
      ok: true,
      detail: 'HTTP 200 in 12 ms; status="ok", database="connected", pool.healthy=true',
    });
    expect(r.checks[1]).toEqual({ name: 'GET /metrics', ok: true, detail: 'HTTP 200 in 12 ms' });
  });

  it('fails on a status code mismatch, quoting the body', () => {
    const r = evaluateHealth([metrics], [ok('upstream unavailable', 503)]);
    expect(r.healthy).toBe(false);
    expect(r.summary).toBe(
      '1 of 1 health checks failed: GET /metrics: expected HTTP 200, got 503: upstream unavailable',
    );
  });

  it('fails when the body is not JSON', () => {
    const r = evaluateHealth([health], [ok('<html>\n  <body>ok</body></html>')]);
    expect(r.checks[0]?.detail).toBe('HTTP 200 but the body is not JSON: <html> <body>ok</body></html>');
  });

  it('names a missing field and a wrong value with dotted paths', () => {
    const r = evaluateHealth([health], [ok({ status: 'degraded', pool: { healthy: 'yes' } })]);
    expect(r.checks[0]?.detail).toBe(
      'field status is "degraded", expected "ok"; field database is missing (expected "connected"); field pool.healthy is "yes", expected true',
    );
  });

  it('distinguishes a string from a number or boolean', () => {
    const r = evaluateHealth(
      [{ path: '/ready', expectStatus: 200, expectJson: { ready: true, workers: 4 } }],
      [ok({ ready: 'true', workers: '4' })],
    );
    expect(r.checks[0]?.detail).toBe(
      'field ready is "true", expected true; field workers is "4", expected 4',
    );
  });

  it('reports null and object values that do not match', () => {
    const r = evaluateHealth(
      [{ path: '/h', expectStatus: 200, expectJson: { a: 'x', b: 'y' } }],
      [ok({ a: null, b: { c: 1 } })],
    );
    expect(r.checks[0]?.detail).toBe('field a is null, expected "x"; field b is {"c":1}, expected "y"');
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
      '2 of 2 health checks failed: GET /health: no response after 5001 ms: timed out after 5000 ms; GET /metrics: no response after 2 ms: connection refused (connect ECONNREFUSED 127.0.0.1:9)',
    );
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
    expect(r.checks[1]).toEqual({ name: 'GET /metrics', ok: false, detail: 'not called' });
  });

  it('fails JSON expectations against a JSON array or scalar', () => {
    expect(evaluateHealth([health], [ok([1, 2])]).healthy).toBe(false);
    expect(evaluateHealth([health], [ok('"ok"')]).checks[0]?.detail).toMatch(/field status is missing/);
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
