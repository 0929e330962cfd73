/**
 * "A rollback never restores a release the guardian rolled back", end to end: the `guardian`
 * CLI as an operator runs it (real argument parsing, exit codes, what is printed), against the
 * local runner with state kept in a temporary folder between commands. The synthesized Rollback
 * state machine decides; assertions are on what the operator reads, the records and the cluster.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BreakerState, DeploymentRecord } from '../../lambdas/core/types.ts';
import { runCli } from '../../lib/cli/commands.ts';

const REPO = 'ghcr.io/buywhere/buywhere-api';
const GOOD = `${REPO}:v7.0.0`;
const BAD = `${REPO}:v7.1.0-bad`;
const NEXT = `${REPO}:v7.2.0`;
let stateDir: string;

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli([...argv, '--local', '--state-dir', stateDir], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function history(): Promise<DeploymentRecord[]> {
  return JSON.parse((await cli('history', '--env', 'staging', '--json')).out) as DeploymentRecord[];
}

async function status(): Promise<{ workload: { image: string; revision: number }; breaker: BreakerState }> {
  return JSON.parse((await cli('status', '--env', 'staging', '--json')).out);
}

beforeAll(() => {
  stateDir = mkdtempSync(path.join(tmpdir(), 'guardian-rollback-rule-'));
});
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

describe('guardian rollback goes to the last known-good release, never to one the guardian rolled back', () => {
  let badRevision = 0;
  let badDeployment = '';

  it('deploys v7.0.0, then rolls v7.1.0-bad back automatically (one failed release counted)', async () => {
    expect((await cli('deploy', '--env', 'staging', '--image', GOOD)).code).toBe(0);
    const bad = await cli('deploy', '--env', 'staging', '--image', BAD);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain('DeploymentRolledBack');

    const records = await history();
    const deployment = records.find((r) => r.kind === 'deploy' && r.image === BAD);
    const automatic = records.find((r) => r.kind === 'rollback' && r.deploymentId === deployment?.id);
    expect(deployment?.status).toBe('rolled-back');
    expect(automatic).toMatchObject({ trigger: 'deploy-failure', status: 'rolled-back' });
    // The automatic rollback moved away from the bad revision.
    expect(automatic?.rollbackPoint.image).toBe(BAD);
    badRevision = automatic?.rollbackPoint.revision ?? 0;
    badDeployment = deployment?.id ?? '';
    const s = await status();
    expect(s.workload.image).toBe(GOOD);
    expect(s.breaker).toMatchObject({
      state: 'closed',
      consecutiveFailures: 1,
      counted: [{ id: badDeployment, image: BAD }],
    });
  });

  it('refuses a plain rollback with exit 1: staging is already on the last known-good release', async () => {
    const before = await history();
    const r = await cli('rollback', '--env', 'staging');
    expect(r.code).toBe(1);
    expect(r.out).toContain('Roll back staging to its last known-good release');
    expect(r.out).toContain('NothingToRollBackError');
    expect(r.out).toContain('already on the last known-good release v7.0.0');
    expect(r.out).toContain(
      `v7.1.0-bad after it the guardian rolled back as bad (deployment ${badDeployment}`,
    );
    expect(r.out).toContain('guardian rollback --env staging --revision N');
    // Refused before anything changed: no record, the cluster untouched, the lock free.
    expect(await history()).toEqual(before);
    const s = await status();
    expect(s.workload.image).toBe(GOOD);
  });

  it('after v7.2.0, a plain rollback restores v7.0.0 (not the bad release), says so, and is not counted', async () => {
    expect((await cli('deploy', '--env', 'staging', '--image', NEXT)).code).toBe(0);
    const r = await cli('rollback', '--env', 'staging', '--requested-by', 'rex');
    expect(r.code).toBe(0);
    // Printed by "Prepare rollback", before the undo starts.
    const plan = r.out.indexOf('the last known-good release v7.0.0');
    expect(plan).toBeGreaterThan(0);
    expect(plan).toBeLessThan(r.out.indexOf('Undo to previous revision'));
    expect(r.out).toMatch(
      /restoring revision \d+ \(ghcr\.io\/buywhere\/buywhere-api:v7\.0\.0\), the last known-good release v7\.0\.0/,
    );
    expect(r.out).toContain("An operator's rollback is not counted as a failed release");

    const s = await status();
    expect(s.workload.image).toBe(GOOD);
    // The success of v7.2.0 reset the count; the manual rollback did not add to it.
    expect(s.breaker).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
    const [latest, undone] = await history();
    expect(latest).toMatchObject({
      kind: 'rollback',
      status: 'rolled-back',
      trigger: 'operator',
      requestedBy: 'rex',
      image: GOOD,
      decision: expect.stringContaining('the last known-good release v7.0.0'),
    });
    expect(undone).toMatchObject({
      kind: 'deploy',
      image: NEXT,
      status: 'rolled-back',
      rolledBackBy: latest?.id,
    });

    // Asked again, it does not toggle back to v7.2.0.
    const again = await cli('rollback', '--env', 'staging');
    expect(again.code).toBe(1);
    expect(again.out).toContain('already on the last known-good release v7.0.0');
  });

  it('refuses --revision naming the bad release without --force (exit 1), and --force without --revision (exit 2)', async () => {
    const r = await cli('rollback', '--env', 'staging', '--revision', String(badRevision));
    expect(r.code).toBe(1);
    expect(r.out).toContain('RolledBackReleaseError');
    expect(r.out).toContain(
      `is release v7.1.0-bad, which the guardian rolled back as bad (deployment ${badDeployment}`,
    );
    expect(r.out).toContain(`--revision ${badRevision} --force`);
    expect((await status()).workload.image).toBe(GOOD);

    const usage = await cli('rollback', '--env', 'staging', '--force');
    expect(usage.code).toBe(2);
    expect(usage.err).toContain('--force goes with --revision N');
  });

  it('a second successful manual rollback (to a named revision) leaves the breaker closed', async () => {
    const r = await cli('rollback', '--env', 'staging', '--revision', '1');
    expect(r.code).toBe(0);
    expect(r.out).toContain('as --revision 1 asks');
    const s = await status();
    expect(s.workload.image).toBe(`${REPO}:v1.0.0`);
    expect(s.breaker).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
  });

  it('restores the bad release with --force, saying what it restores; its failed health check opens the breaker', async () => {
    const r = await cli('rollback', '--env', 'staging', '--revision', String(badRevision), '--force');
    expect(r.out).toContain('Roll back staging to revision');
    expect(r.out).toMatch(
      new RegExp(
        `restoring revision ${badRevision} \\(.*v7\\.1\\.0-bad\\), which the guardian rolled back as bad \\(deployment ${badDeployment}.*because --force`,
      ),
    );
    expect(r.code).toBe(1);
    const s = await status();
    expect(s.breaker.state).toBe('open');
    expect(s.breaker.reason).toMatch(/^rollback staging-rollback-\w+ failed: /);
    expect(s.breaker.counted?.at(-1)?.image).toBe(BAD);
  });

  it('a plain rollback then leaves the bad release for the last known-good one', async () => {
    const r = await cli('rollback', '--env', 'staging');
    expect(r.code).toBe(0);
    expect(r.out).toContain('the last known-good release v7.0.0');
    expect(r.out).toContain('staging runs v7.1.0-bad now, which the guardian rolled back as bad');
    expect((await status()).workload.image).toBe(GOOD);
    const open = await cli('status', '--env', 'staging');
    expect(open.out).toMatch(
      /circuit breaker: OPEN — deployments blocked since \S+, \d+\/2 consecutive failed releases: rollback staging-rollback-\w+ failed/,
    );
  });
});
