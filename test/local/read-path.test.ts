/**
 * The read path: `status`, `history`, `lock`, `circuit-breaker` and `freeze` answered by the
 * running state service. It must answer exactly as the full local runner does, refuse writes
 * before anything changes, and step aside whenever the full runner has something to do first.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localReadBackend } from '../../lib/cli/local-read.ts';
import { loadConfig } from '../../lib/config/load.ts';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';
import { LocalGuardian } from '../../lib/local/guardian.ts';
import { statePaths, stopStateService } from '../../lib/local/state-service.ts';

const BIN = path.resolve('bin/guardian.js');
const config = loadConfig();
const staging = config.environments.staging as EnvironmentConfig;
let stateDir: string;

function cli(...argv: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [BIN, ...argv, '--local', '--state-dir', stateDir], {
    env: { ...process.env, NO_COLOR: '1', GUARDIAN_SERVICE_IDLE_SECONDS: '60' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

beforeAll(async () => {
  stateDir = mkdtempSync(path.join(tmpdir(), 'guardian-read-'));
  const good = await cli('deploy', '--env', 'staging', '--image', 'ghcr.io/buywhere/buywhere-api:v2.0.0');
  expect(good.code, good.err).toBe(0);
  const bad = await cli('deploy', '--env', 'staging', '--image', 'ghcr.io/buywhere/buywhere-api:v2.1.0-bad');
  expect(bad.code, bad.err).toBe(1);
}, 120_000);

afterAll(async () => {
  await stopStateService(stateDir);
  rmSync(stateDir, { recursive: true, force: true });
});

describe('reads answered by the running state service', () => {
  it('answers every read exactly as the full local runner does', async () => {
    const fast = await localReadBackend(stateDir, config, staging);
    expect(fast).toBeDefined();
    const full = await LocalGuardian.start({ config, stateDir });
    try {
      const store = full.store('staging');
      expect(await fast?.store.listRecords('staging', 10)).toEqual(await store.listRecords('staging', 10));
      expect(await fast?.store.getBreaker('staging')).toEqual(await store.getBreaker('staging'));
      expect(await fast?.store.getLock('staging')).toEqual(await store.getLock('staging'));
      expect(await fast?.store.listFreezes('staging')).toEqual(await store.listFreezes('staging'));
      expect(await fast?.workload?.()).toEqual(await full.observeWorkload('staging'));
      expect(fast?.now().getTime()).toBeLessThanOrEqual(full.clock.now().getTime());
    } finally {
      await full.close();
    }
    const records = await fast?.store.listRecords('staging', 10);
    // Newest first: the bad release rolled back, the good one before it.
    expect(records?.[0]?.status).toBe('rolled-back');
    expect(records?.at(-1)?.status).toBe('succeeded');
  });

  it('refuses a write before anything changes, so the command falls back to the full runner', async () => {
    const fast = await localReadBackend(stateDir, config, staging);
    const freeze = {
      environment: 'staging',
      id: 'f1',
      start: '2026-01-01T00:00:00Z',
      end: '2099-01-01T00:00:00Z',
      reason: 'x',
      createdBy: 'me',
    };
    await expect(fast?.store.putFreeze(freeze)).rejects.toMatchObject({ name: 'ReadPathUnavailable' });
    expect(await fast?.store.listFreezes('staging')).toEqual([]);
  });

  it('gives the CLI the same JSON document on the read path as after a full start', async () => {
    const viaService = await cli('history', '--env', 'staging', '--json');
    expect(viaService.code).toBe(0);
    await stopStateService(stateDir); // the next command has no service: the full runner answers
    const viaRunner = await cli('history', '--env', 'staging', '--json');
    expect(viaRunner.code).toBe(0);
    expect(JSON.parse(viaService.out)).toEqual(JSON.parse(viaRunner.out));
  }, 60_000);

  it('steps aside for the full runner when an execution’s process died, so it is reaped and reported', async () => {
    await cli('status', '--env', 'staging'); // service and simulator up
    expect(await localReadBackend(stateDir, config, staging)).toBeDefined();
    const running = statePaths(stateDir).running;
    mkdirSync(running, { recursive: true });
    writeFileSync(
      path.join(running, 'dead.json'),
      JSON.stringify({
        pid: 2 ** 22 + 17, // above Linux's pid_max: never a live process
        environment: 'production',
        name: 'production-dead',
        executionArn: 'arn:aws:states:ap-southeast-1:000000000000:execution:x:production-dead',
        stateMachineArn: 'arn:aws:states:ap-southeast-1:000000000000:stateMachine:x',
        input: {},
        startedAt: new Date().toISOString(),
      }),
    );
    expect(await localReadBackend(stateDir, config, staging)).toBeUndefined();
  });

  it('steps aside when no state service runs for the folder', async () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'guardian-read-empty-'));
    try {
      expect(await localReadBackend(empty, config, staging)).toBeUndefined();
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
