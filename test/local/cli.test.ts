/**
 * The `guardian` CLI as an operator uses it: real argument parsing, the local runner with
 * state persisted in a temporary folder between commands, exit codes and what is printed.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../lib/cli/commands.ts';
import { DEFAULT_CONFIG_DIR } from '../../lib/config/load.ts';

const REPO = 'ghcr.io/buywhere/buywhere-api';
let stateDir: string;

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}
const local = (...argv: string[]) => cli(...argv, '--local', '--state-dir', stateDir);

beforeAll(() => {
  stateDir = mkdtempSync(path.join(tmpdir(), 'guardian-cli-'));
});
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

describe('guardian CLI: usage errors exit 2 and name what is wrong', () => {
  it('prints the commands with no arguments and exits 0', async () => {
    const r = await cli();
    expect(r.code).toBe(0);
    expect(r.out).toContain('Usage: guardian <command>');
    for (const c of ['demo', 'deploy', 'rollback', 'status', 'history', 'circuit-breaker'])
      expect(r.out).toContain(c);
  });

  it('rejects an unknown command, a missing --env, an unknown flag and a bad --revision', async () => {
    expect(await cli('deplyo')).toMatchObject({
      code: 2,
      err: expect.stringContaining("unknown command 'deplyo'"),
    });
    expect(await cli('deploy', '--image', `${REPO}:v1.0.0`)).toMatchObject({
      code: 2,
      err: expect.stringContaining('--env is required'),
    });
    expect(await cli('status', '--env', 'staging', '--colour')).toMatchObject({
      code: 2,
      err: expect.stringContaining("'--colour'"),
    });
    expect(await cli('rollback', '--env', 'staging', '--revision', 'three', '--local')).toMatchObject({
      code: 2,
      err: expect.stringContaining('--revision must be a whole number'),
    });
    expect(await cli('history', '--env', 'staging', '--limit', '0', '--local')).toMatchObject({ code: 2 });
    expect(await cli('status', '--env', 'staging', '--kubeconfig', '/nope')).toMatchObject({
      code: 2,
      err: expect.stringContaining('--kubeconfig needs --local'),
    });
  });

  it('rejects an unknown environment listing the known ones', async () => {
    const r = await cli('status', '--env', 'qa', '--local', '--state-dir', stateDir);
    expect(r.code).toBe(2);
    expect(r.err).toContain("unknown environment 'qa'; known: staging, production");
  });

  it('rejects a config with a typo, naming the file, line and key', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'guardian-cfg-'));
    try {
      cpSync(DEFAULT_CONFIG_DIR, dir, { recursive: true });
      const file = path.join(dir, 'deployment-thresholds.yaml');
      writeFileSync(
        file,
        readFileSync(file, 'utf8').replace('error_rate_threshold: 10', 'error_rate_treshold: 10'),
      );
      const r = await cli('status', '--env', 'staging', '--local', '--config-dir', dir);
      expect(r.code).toBe(2);
      expect(r.err).toContain(`${file}:`);
      expect(r.err).toContain("staging.error_rate_treshold: unknown key 'error_rate_treshold'");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('guardian CLI against the local runner (state kept between commands)', () => {
  it('dry run prints the plan and changes nothing', async () => {
    const r = await local('deploy', '--env', 'staging', '--image', `${REPO}:v1.5.0`, '--dry-run');
    expect(r.code).toBe(0);
    expect(r.out).toContain('Preflight checks');
    expect(r.out).toContain(`${REPO}:v1.5.0`);
    expect(r.out).toContain('dry run: nothing was changed');
    const h = await local('history', '--env', 'staging');
    expect(h.out).toContain('no deployments or rollbacks recorded yet');
  });

  it('deploys, shows status and history, and remembers them in the next command', async () => {
    const r = await local('deploy', '--env', 'staging', '--image', `${REPO}:v1.5.0`, '--requested-by', 'rex');
    expect(r.code).toBe(0);
    for (const state of [
      'Preflight checks',
      'Set image',
      'Check rollout status',
      'Enhanced health check',
      'Record deployment',
    ]) {
      expect(r.out).toContain(state);
    }
    expect(r.out).toMatch(/SUCCEEDED/);

    const s = await local('status', '--env', 'staging');
    expect(s.code).toBe(0);
    expect(s.out).toContain(`${REPO}:v1.5.0 (revision 2)`);
    expect(s.out).toMatch(/lock:\s+free/);
    expect(s.out).toContain('closed');

    const h = await local('history', '--env', 'staging', '--json');
    const records = JSON.parse(h.out) as { image: string; status: string; requestedBy: string }[];
    expect(records[0]).toMatchObject({ image: `${REPO}:v1.5.0`, status: 'succeeded', requestedBy: 'rex' });
  });

  it('exits 1 when a bad release is rolled back, and 2 for an invalid image', async () => {
    const bad = await local('deploy', '--env', 'staging', '--image', `${REPO}:v1.6.0-bad`);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain('Roll back to previous revision');
    expect(bad.out).toContain('DeploymentRolledBack');
    const s = await local('status', '--env', 'staging', '--json');
    const status = JSON.parse(s.out) as {
      workload: { image: string; rollout: { phase: string } };
      breaker: { consecutiveFailures: number };
    };
    expect(status.workload.image).toBe(`${REPO}:v1.5.0`);
    expect(status.workload.rollout.phase).toBe('complete');
    expect(status.breaker.consecutiveFailures).toBe(1);

    // Refused at the edge with preflight's own rules, before any execution starts.
    const invalid = await local('deploy', '--env', 'staging', '--image', 'docker.io/x/y:1');
    expect(invalid.code).toBe(2);
    expect(invalid.out).toBe('');
    expect(invalid.err).toContain("image 'docker.io/x/y:1' is from repository 'docker.io/x/y'");
  });

  it('rolls back to a named revision with an annotation, and resets the circuit breaker', async () => {
    const r = await local(
      'rollback',
      '--env',
      'staging',
      '--revision',
      '1',
      '--annotate',
      'Emergency rollback due to high error rate',
    );
    expect(r.code).toBe(0);
    const h = await local('history', '--env', 'staging', '--limit', '1');
    expect(h.out).toContain('Emergency rollback due to high error rate');
    const s = await local('status', '--env', 'staging', '--json');
    expect(JSON.parse(s.out).workload.image).toBe(`${REPO}:v1.0.0`);
    // A manual rollback is not a failed release: the breaker still counts only the bad one.
    expect(JSON.parse(s.out).breaker).toMatchObject({ state: 'closed', consecutiveFailures: 1 });

    const reset = await local('circuit-breaker', '--env', 'staging', '--reset', '--requested-by', 'bolt');
    expect(reset.code).toBe(0);
    expect(reset.out).toContain('closed');
    expect(reset.out).toContain('0/2');
    expect(reset.out).toContain('reset by bolt');
  });

  it('sets, lists and lifts an ad-hoc freeze that refuses deployments meanwhile', async () => {
    expect(await local('freeze', '--env', 'staging', '--until', '2h')).toMatchObject({
      code: 2,
      err: expect.stringContaining('--reason is required'),
    });
    expect(await local('freeze', '--env', 'staging', '--until', 'tomorrow', '--reason', 'x')).toMatchObject({
      code: 2,
      err: expect.stringContaining('--until must be an ISO time with offset'),
    });
    const set = await local(
      'freeze',
      '--env',
      'staging',
      '--until',
      '2h',
      '--reason',
      'Incident 7 under way',
      '--json',
    );
    expect(set.code).toBe(0);
    const { id } = JSON.parse(set.out) as { id: string };
    const listed = await local('freeze', '--env', 'staging');
    expect(listed.out).toContain(id);
    expect(listed.out).toContain('Incident 7 under way');

    const refused = await local('deploy', '--env', 'staging', '--image', `${REPO}:v1.8.0`);
    expect(refused.code).toBe(1);
    expect(refused.out).toContain('ChangeFreezeError');
    expect(refused.out).toContain('Incident 7 under way');

    expect(await local('freeze', '--env', 'staging', '--lift', id)).toMatchObject({ code: 0 });
    expect(await local('freeze', '--env', 'staging', '--lift', id)).toMatchObject({ code: 2 });
    expect((await local('deploy', '--env', 'staging', '--image', `${REPO}:v1.8.0`)).code).toBe(0);
  });
});

describe('guardian lock', () => {
  it('shows the lock and releases it only from the named holder', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'guardian-lock-'));
    const run = (...argv: string[]) => cli(...argv, '--local', '--state-dir', dir);
    try {
      expect((await run('lock', '--env', 'staging')).out).toContain('staging lock: free');
      expect(await run('lock', '--env', 'staging', '--release')).toMatchObject({
        code: 2,
        err: expect.stringContaining('--release needs --holder'),
      });
      // A holder that died without releasing: put the lock the way a crashed execution leaves it.
      const { LocalGuardian } = await import('../../lib/local/guardian.ts');
      const { loadConfig } = await import('../../lib/config/load.ts');
      const g = await LocalGuardian.start({ config: loadConfig(), stateDir: dir });
      const now = g.clock.now();
      await g.store('staging').acquireLock(
        {
          environment: 'staging',
          holder: 'staging-v9-9-9-deadbeef',
          executionArn:
            'arn:aws:states:ap-southeast-1:000000000000:execution:guardian-staging-deploy:staging-v9-9-9-deadbeef',
          acquiredAt: now.toISOString(),
          expiresAt: new Date(now.getTime() + 3_600_000).toISOString(),
        },
        now,
      );
      await g.close();
      expect((await run('lock', '--env', 'staging')).out).toContain('held by staging-v9-9-9-deadbeef');
      const refused = await run('deploy', '--env', 'staging', '--image', `${REPO}:v2.0.0`);
      expect(refused.code).toBe(1);
      expect(refused.out).toContain('staging-v9-9-9-deadbeef');
      expect(await run('lock', '--env', 'staging', '--release', '--holder', 'someone-else')).toMatchObject({
        code: 1,
        err: expect.stringContaining("not locked by 'someone-else'"),
      });
      expect(
        await run('lock', '--env', 'staging', '--release', '--holder', 'staging-v9-9-9-deadbeef'),
      ).toMatchObject({
        code: 0,
        out: 'released the staging lock held by staging-v9-9-9-deadbeef',
      });
      const last = await run('deploy', '--env', 'staging', '--image', `${REPO}:v2.0.0`);
      expect(last.code, last.out + last.err).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('guardian demo', () => {
  it('passes on a clean state of its own and leaves no .guardian folder behind', async () => {
    const cwd = process.cwd();
    const dir = mkdtempSync(path.join(tmpdir(), 'guardian-demo-cwd-'));
    try {
      process.chdir(dir);
      const r = await cli('demo');
      expect(r.code).toBe(0);
      expect(r.out).toContain('demo passed: 30 checks');
      expect(r.out).toContain('Roll back to previous revision');
      expect(existsSync(path.join(dir, '.guardian'))).toBe(false);
    } finally {
      process.chdir(cwd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
