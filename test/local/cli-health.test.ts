/**
 * `guardian health` (issue 9) as an operator runs it: the real CLI process against a real API on
 * loopback, its exit code (0 healthy, 1 unhealthy, 2 usage or config), every check on stdout with
 * ✓/✗ and its reason, and with --json exactly one document. With --local it checks the demo API
 * and reads the pods' startup times from the embedded simulator.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stopStateService } from '../../lib/local/state-service.ts';
import { type CliRun as Run, runGuardian } from '../helpers/cli.ts';
import { configWith } from '../helpers/config.ts';

const guardian = (argv: readonly string[], timeoutMs = 90_000) =>
  runGuardian(argv, { env: { HOME: tmpdir() }, timeoutMs });

/** The JSON document on stdout (all of it: anything else there fails the parse). */
function documentOf(run: Run): {
  healthy: boolean;
  checks: { name: string; ok: boolean; detail: string; skipped?: true }[];
  summary: string;
  error?: { type: string; message: string; exitCode: number };
} {
  return JSON.parse(run.stdout);
}

/** What BuyWhere's /health answers when all is well. */
const HEALTHY = {
  status: 'ok',
  database: 'connected',
  redis: 'connected',
  pgbouncer: 'connected',
  pool: { size: 20, active: 3, idle: 17, waiting: 0 },
  pgbouncer_pool: { cl_active: 12, cl_waiting: 0, sv_active: 3, sv_idle: 17, maxwait_seconds: 0 },
};

/** The API on loopback: `/health` answers `health`; `/ready` is held back by `readyDelayMs`. */
const api = { health: HEALTHY as Record<string, unknown>, readyDelayMs: 0 };
let server: Server;
let apiUrl: string;
const dirs: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const json = (body: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/health') json(api.health);
    else if (req.url === '/ready') {
      const timer = setTimeout(() => json({ ready: true }), api.readyDelayMs);
      res.on('close', () => clearTimeout(timer));
    } else if (req.url === '/metrics') res.end('# TYPE up gauge\nup 1\n');
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  api.health = HEALTHY;
  api.readyDelayMs = 0;
});

describe('guardian health --api-url', () => {
  it('exits 0 and lists every check with ✓, the startup check skipped because no cluster was read', async () => {
    const r = await guardian(['health', '--env', 'staging', '--api-url', apiUrl]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe(`Enhanced health check of staging (${apiUrl})`);
    expect(lines.slice(1, -1).map((l) => l.slice(0, 4))).toEqual([
      ...Array.from({ length: 10 }, () => '  ✓ '),
      '  – ',
    ]);
    expect(r.stdout).toContain(
      '  ✓ PgBouncer pool: 0 clients waiting (max 10), longest wait 0 s (max 1 s) (12 clients active, 3 server connections active, 17 idle)\n',
    );
    expect(r.stdout).toContain(
      '  – Startup time: skipped: --api-url names an API, not a cluster, so pod startup times were not read',
    );
    expect(lines.at(-1)).toMatch(
      /^healthy: 10 of 11 health checks passed, 1 skipped: Startup time: skipped: /,
    );
  });

  it('prints one JSON document {healthy, checks, summary} with --json', async () => {
    const r = await guardian(['health', '--env', 'staging', '--api-url', apiUrl, '--json']);
    expect(r.code).toBe(0);
    const doc = documentOf(r);
    expect(doc).toMatchObject({
      healthy: true,
      summary: expect.stringMatching(/^10 of 11 health checks passed/),
    });
    expect(doc.checks.map((c) => c.name)).toEqual([
      'GET /health',
      '/health status',
      'GET /ready',
      '/ready ready',
      'GET /metrics',
      'Database',
      'Redis',
      'PgBouncer',
      'Database pool',
      'PgBouncer pool',
      'Startup time',
    ]);
    expect(doc.checks.at(-1)).toMatchObject({ ok: false, skipped: true });
  });

  it('exits 1 and says what to check when a dependency is down', async () => {
    api.health = { ...HEALTHY, redis: 'error' };
    const r = await guardian(['health', '--env', 'staging', '--api-url', apiUrl]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^ {2}✗ Redis: redis is "error", expected "connected" — the API cannot reach Redis: .*REDIS_URL/m,
    );
    expect(r.stdout).toMatch(/^UNHEALTHY: 1 of 11 health checks failed: Redis: /m);
  });

  it('exits 1 when the pools are exhausted behind a 200 with status ok', async () => {
    api.health = {
      ...HEALTHY,
      pool: { size: 20, active: 20, idle: 0, waiting: 37 },
      pgbouncer_pool: { cl_active: 20, cl_waiting: 14, sv_active: 20, sv_idle: 0, maxwait_seconds: 3 },
    };
    const r = await guardian(['health', '--env', 'staging', '--api-url', apiUrl, '--json']);
    expect(r.code).toBe(1);
    const doc = documentOf(r);
    expect(doc.healthy).toBe(false);
    expect(doc.checks.filter((c) => !c.ok && !c.skipped).map((c) => c.name)).toEqual([
      'Database pool',
      'PgBouncer pool',
    ]);
    expect(doc.checks.find((c) => c.name === 'PgBouncer pool')?.detail).toMatch(
      /^14 clients waiting \(max 10\), the oldest for 3 s .* — pool exhausted: check pgbouncer SHOW POOLS \/ raise default_pool_size/,
    );
    expect(doc.checks.find((c) => c.name === 'GET /health')?.ok).toBe(true);
  });

  it('exits 1 naming the endpoint that timed out, bounded by healthCheck.timeoutMs', async () => {
    const dir = configWith(dirs, (yaml) => yaml.replace('      timeoutMs: 5000', '      timeoutMs: 300'));
    api.readyDelayMs = 5000;
    const r = await guardian(['health', '--env', 'staging', '--api-url', apiUrl, '--config-dir', dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^ {2}✗ GET \/ready: no response after \d+ ms: timed out after 300 ms \(each request is bounded by healthCheck\.timeoutMs/m,
    );
    expect(r.stdout).toMatch(/^ {2}– \/ready ready: not checked: GET \/ready did not answer$/m);
    expect(r.stdout).toMatch(/^ {2}✓ GET \/health: /m);
  });

  it('exits 1 naming a refused connection', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const r = await guardian(['health', '--env', 'staging', '--api-url', `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^ {2}✗ GET \/health: no response after \d+ ms: connection refused/m);
    expect(r.stdout).toMatch(/^UNHEALTHY: 3 of 11 health checks failed: .* \(8 not checked\)$/m);
  });

  it('exits 2 on an --api-url that is no http(s) URL, checking nothing', async () => {
    const r = await guardian(['health', '--env', 'staging', '--api-url', 'ftp://api.example.com', '--json']);
    expect(r.code).toBe(2);
    expect(documentOf(r).error).toMatchObject({
      type: 'UsageError',
      exitCode: 2,
      message:
        "--api-url 'ftp://api.example.com' is not an http(s) URL, e.g. https://api-staging.example.com",
    });
  });

  it('exits 2 on an unknown --env, naming the known ones', async () => {
    const r = await guardian(['health', '--env', 'qa', '--api-url', apiUrl]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/unknown environment 'qa'; known: staging, production/);
  });

  it('exits 2 when --env is missing, and refuses --kubeconfig without --local', async () => {
    expect((await guardian(['health', '--api-url', apiUrl])).stderr).toMatch(/--env is required/);
    const r = await guardian(['health', '--env', 'staging', '--kubeconfig', '/tmp/k']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--kubeconfig needs --local/);
  });
});

describe('guardian health --local', () => {
  it('checks the demo API and reads the startup times from the simulator', async () => {
    const stateDir = mkdtempSync(path.join(tmpdir(), 'guardian-health-'));
    dirs.push(stateDir);
    try {
      const r = await guardian(
        ['health', '--env', 'staging', '--local', '--state-dir', stateDir, '--json'],
        180_000,
      );
      expect(r.code).toBe(0);
      const doc = documentOf(r);
      expect(doc.healthy).toBe(true);
      expect(doc.checks.every((c) => c.ok)).toBe(true);
      expect(doc.checks.at(-1)).toMatchObject({
        name: 'Startup time',
        detail: expect.stringMatching(
          /^3 of 3 pods Ready within \d+ s of creation \(max 120 s; slowest buywhere-api-/,
        ),
      });
    } finally {
      await stopStateService(stateDir);
    }
  }, 200_000);
});
