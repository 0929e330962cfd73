/**
 * Local state shared by several `guardian` processes, as DynamoDB and the cluster are shared in
 * AWS: concurrent commands, a command killed mid-execution, and damaged state files. Each test
 * runs the real CLI (`bin/guardian.js`) in child processes against its own state folder.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

// Several CLI processes per test on a shared 2-core machine: a limit on hanging, not a speed target.
vi.setConfig({ testTimeout: 180_000 });

import { stopStateService } from '../../lib/local/state-service.ts';

const BIN = path.resolve('bin/guardian.js');
const REPO = 'ghcr.io/buywhere/buywhere-api';
const dirs: string[] = [];

interface Run {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

function start(
  stateDir: string,
  argv: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [BIN, ...argv, '--local', '--state-dir', stateDir], {
    env: { ...process.env, NO_COLOR: '1', GUARDIAN_SERVICE_IDLE_SECONDS: '20', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const done = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, out, err })));
  return { child, done };
}

const run = (stateDir: string, ...argv: string[]) => start(stateDir, argv).done;

/** Waits until the process paused by GUARDIAN_TEST_PAUSE_BEFORE says so. */
async function paused(stateDir: string, child: ChildProcess): Promise<string> {
  const file = path.join(stateDir, `paused-${child.pid}`);
  for (let i = 0; i < 2400 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(file)) throw new Error(`process ${child.pid} never paused`);
  return file;
}

function stateDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'guardian-state-'));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  for (const dir of dirs.splice(0)) {
    await stopStateService(dir);
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('two local commands at once behave as they would in AWS', () => {
  it('refuses a second deploy to an environment being deployed, naming the holder; another environment and reads proceed', async () => {
    const dir = stateDir();
    // Paused in post-deployment monitoring, holding the lock: the production deploy beside it moves
    // the shared simulated clock through its own monitoring (600 s), as real time would move for
    // both in AWS. Paused before its rollout instead, the first deploy would find its rollout
    // deadline gone (the wait it was paused in is the one a real clock would also have seen).
    const first = start(dir, ['deploy', '--env', 'staging', '--image', `${REPO}:v1.5.0`], {
      GUARDIAN_TEST_PAUSE_BEFORE: 'monitor-round',
    });
    const pause = await paused(dir, first.child);

    const [second, production, status, history, lock] = await Promise.all([
      run(dir, 'deploy', '--env', 'staging', '--image', `${REPO}:v1.5.1`),
      run(dir, 'deploy', '--env', 'production', '--image', `${REPO}:v1.2.3`, '--version', 'v1.2.3'),
      run(dir, 'status', '--env', 'staging'),
      run(dir, 'history', '--env', 'staging'),
      run(dir, 'lock', '--env', 'staging', '--json'),
    ]);
    const holder = (JSON.parse(lock.out) as { holder: string }).holder;
    expect(holder).toMatch(/^staging-v1-5-0-/);
    expect(second.code).toBe(1);
    expect(second.out).toContain(`locked by ${holder}`);
    expect(second.out).toContain(
      `guardian lock --env staging --local --state-dir ${dir} --release --holder ${holder}`,
    );
    expect(production).toMatchObject({ code: 0 });
    expect(status.code).toBe(0);
    expect(status.out).toContain(`held by ${holder}`);
    expect(history.code).toBe(0);
    expect(`${second.err}${production.err}${status.err}`).not.toMatch(
      /Database is not open|LEVEL_|at .*\.ts:\d+/,
    );

    rmSync(pause);
    expect(await first.done).toMatchObject({ code: 0 });
    const after = await run(dir, 'status', '--env', 'staging', '--json');
    expect(JSON.parse(after.out)).toMatchObject({ lock: null, workload: { image: `${REPO}:v1.5.0` } });
  });
});

describe('a killed command leaves nothing stuck', () => {
  it('ends a deploy whose process was killed as ABORTED: lock released, record failed, breaker opened', async () => {
    const dir = stateDir();
    const victim = start(dir, ['deploy', '--env', 'staging', '--image', `${REPO}:v1.5.0`], {
      GUARDIAN_TEST_PAUSE_BEFORE: 'rollout-status',
    });
    await paused(dir, victim.child);
    victim.child.kill('SIGKILL');
    await victim.done;

    const status = await run(dir, 'status', '--env', 'staging', '--json');
    expect(status.code).toBe(0);
    expect(status.err).toMatch(/staging-v1-5-0-\S+ was abandoned .* ended it as ABORTED/);
    const s = JSON.parse(status.out) as {
      lock: unknown;
      breaker: { state: string };
      last: { status: string };
      workload: { image: string };
    };
    expect(s.lock).toBeNull();
    expect(s.last.status).toBe('failed');
    // Set image ran before the kill: the workload may be half changed, so nobody deploys on top of it.
    expect(s.breaker.state).toBe('open');
    expect(s.workload.image).toBe(`${REPO}:v1.5.0`);
    expect(readdirSync(path.join(dir, 'running'))).toEqual([]);

    // Said once: the next command finds nothing left to clean up.
    expect((await run(dir, 'history', '--env', 'staging')).err).not.toContain('abandoned');

    // The open breaker refuses the next deploy and says how to close it, for this very state.
    const refused = await run(dir, 'deploy', '--env', 'staging', '--image', `${REPO}:v1.5.1`);
    expect(refused.code).toBe(1);
    expect(refused.out + refused.err).toContain(
      `guardian circuit-breaker --env staging --local --state-dir ${dir} --reset`,
    );
  });
});

describe('corrupt or missing local state is an error that names the file', () => {
  it('says so, once, when the state folder is deleted under a running deploy', async () => {
    const dir = stateDir();
    const victim = start(dir, ['deploy', '--env', 'staging', '--image', `${REPO}:v1.5.0`, '--json'], {
      GUARDIAN_TEST_PAUSE_BEFORE: 'rollout-status',
    });
    await paused(dir, victim.child);
    rmSync(dir, { recursive: true, force: true });
    const r = await victim.done;
    expect(r.code).toBe(1);
    expect(r.err).toContain(`the local state folder ${dir} was deleted while this command ran`);
    expect(r.err).not.toMatch(/at .*\.(ts|mjs):\d+/);
    // --json: still exactly one document on stdout, the error.
    const doc = JSON.parse(r.out) as { error: { type: string; exitCode: number } };
    expect(doc.error).toMatchObject({ type: 'LocalStateError', exitCode: 1 });
    expect(existsSync(dir)).toBe(false);
  });

  it.each([
    ['clock.json', '{"now": "2026-'],
    ['cluster.json', '{"version": 1, "deployments": {'],
  ])('a truncated %s', async (file, content) => {
    const dir = stateDir();
    expect((await run(dir, 'history', '--env', 'staging')).code).toBe(0);
    await stopStateService(dir);
    writeFileSync(path.join(dir, file), content);
    const r = await run(dir, 'status', '--env', 'staging');
    expect(r.code).toBe(1);
    expect(r.err).toContain(path.join(dir, file));
    expect(r.err).toContain('delete the whole state folder');
    expect(r.err).not.toMatch(/at .*\.(ts|mjs):\d+/);
  });

  it('a damaged database folder', async () => {
    const dir = stateDir();
    expect((await run(dir, 'history', '--env', 'staging')).code).toBe(0);
    await stopStateService(dir);
    const db = path.join(dir, 'dynamodb');
    for (const f of readdirSync(db))
      if (/^(CURRENT|MANIFEST)/.test(f)) writeFileSync(path.join(db, f), 'garbage');
    const r = await run(dir, 'history', '--env', 'staging');
    expect(r.code).toBe(1);
    expect(r.err).toContain(db);
    expect(r.err).not.toMatch(/at .*\.(ts|mjs):\d+/);
  });
});
