/**
 * `guardian canary run|approve|reject` (issue 9) as an operator runs them: the real CLI process
 * against the local runner (its state folder, demo API and simulated clock), exit codes and the
 * single JSON document of --json. `canary judge` has its own tests (test/judge/cli.test.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stopStateService } from '../../lib/local/state-service.ts';
import { runGuardian } from '../helpers/cli.ts';

const guardian = (argv: readonly string[]) =>
  runGuardian(argv, { env: { HOME: tmpdir() }, timeoutMs: 120_000 });

const IMAGE = 'ghcr.io/buywhere/buywhere-api:v1.5.0';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) {
    await stopStateService(d).catch(() => undefined);
    rmSync(d, { recursive: true, force: true });
  }
});

describe('guardian canary run|approve|reject', () => {
  it('runs the analysis of the release a local deployment promoted against the baseline it recorded', async () => {
    const stateDir = mkdtempSync(path.join(tmpdir(), 'guardian-canary-'));
    dirs.push(stateDir);
    const deployed = await guardian([
      'deploy',
      '--env',
      'staging',
      '--image',
      IMAGE,
      '--local',
      '--state-dir',
      stateDir,
    ]);
    expect(deployed.code, deployed.stderr).toBe(0);

    const run = await guardian([
      'canary',
      'run',
      '--env',
      'staging',
      '--duration',
      '90',
      '--local',
      '--state-dir',
      stateDir,
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Canary analysis of v1.5.0 in staging: 3 rounds of 30 s');
    expect(run.stdout).toMatch(
      /baseline: the baseline deployment staging-v1-5-0-\S+ recorded \(6 intervals\)/,
    );
    expect(run.stdout).toContain('round 3 of 3: pass');
    expect(run.stdout).toMatch(/✓ error-rate +Pass/);

    const json = await guardian([
      'canary',
      'run',
      '--env',
      'staging',
      '--duration',
      '60',
      '--local',
      '--state-dir',
      stateDir,
      '--json',
    ]);
    expect(json.code, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout) as {
      outcome: string;
      release: { version: string };
      metrics: { name: string; classification: string; reason: string }[];
      samples: { baseline: unknown[]; canary: unknown[] };
    };
    expect(doc.outcome).toBe('pass');
    expect(doc.release.version).toBe('v1.5.0');
    expect(doc.metrics.map((m) => m.name)).toEqual([
      'error-rate',
      'p99-latency',
      'error-count',
      'seed-thresholds',
    ]);
    expect(doc.samples.canary).toHaveLength(2);
    // Progress goes to stderr with --json: stdout is the one document.
    expect(json.stderr).toContain('round 2 of 2: pass');

    // Nothing is held: approving is refused with exit 1 and says why.
    const approve = await guardian([
      'canary',
      'approve',
      '--env',
      'staging',
      '--local',
      '--state-dir',
      stateDir,
      '--json',
    ]);
    expect(approve.code).toBe(1);
    const refused = JSON.parse(approve.stdout) as {
      error: { type: string; message: string; exitCode: number };
    };
    expect(refused.error).toMatchObject({ type: 'NotHeld', exitCode: 1 });
    expect(refused.error.message).toContain('no deployment is running in staging');
  }, 300_000);

  it('refuses to run without a promoted release to compare', async () => {
    const stateDir = mkdtempSync(path.join(tmpdir(), 'guardian-canary-'));
    dirs.push(stateDir);
    const run = await guardian([
      'canary',
      'run',
      '--env',
      'staging',
      '--local',
      '--state-dir',
      stateDir,
      '--json',
    ]);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ error: { type: 'NoRelease', exitCode: 1 } });
  }, 120_000);

  it.each([
    [['canary', 'frob'], "unknown canary subcommand 'frob'; one of: judge, run, approve, reject"],
    [['canary'], 'a subcommand (judge, run, approve, reject) is missing'],
    [
      ['canary', 'run', '--env', 'staging', '--duration', '5'],
      '--duration must be a whole number from 30 to 86400',
    ],
    [
      ['canary', 'approve', '--env', 'staging', '--input', 'x.json'],
      '--input is not an option of canary approve',
    ],
    [['canary', 'run', '--env', 'nope'], "unknown environment 'nope'"],
    [['canary', 'reject'], '--env is required'],
  ])('exits 2 for %j, saying what is wrong', async (argv, message) => {
    const run = await guardian([...argv, '--json']);
    expect(run.code).toBe(2);
    const doc = JSON.parse(run.stdout) as { error: { message: string; exitCode: number } };
    expect(doc.error.exitCode).toBe(2);
    expect(doc.error.message).toContain(message);
  });
});
