/**
 * `guardian argo status|promote|abort|pause|resume` and `guardian rollback` on a blue-green
 * environment (issue 11), as an operator runs them: the real CLI process against the local
 * runner's cluster simulator in a state folder, exit codes, and the single JSON document of --json.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopStateService } from '../../lib/local/state-service.ts';
import { runGuardian } from '../helpers/cli.ts';
import { configWith } from '../helpers/config.ts';

const guardian = (argv: readonly string[]) =>
  runGuardian(argv, { env: { HOME: tmpdir() }, timeoutMs: 120_000 });

const ENV = 'production-argo';
const REPO = 'ghcr.io/buywhere/buywhere-api';
const dirs: string[] = [];
let configDir = '';
let stateDir = '';
/** `--env production-argo --local --state-dir D --config-dir C`. */
let local: string[] = [];

beforeAll(() => {
  // No database to back up, no freeze window: the deploys here are about the Rollout.
  configDir = configWith(dirs, (yaml) =>
    yaml
      .replaceAll('database: { kind: instance, identifier: buywhere-prod }', 'database: none')
      .replaceAll('start: "2026-12-24T00:00:00+08:00"', 'start: "2030-12-24T00:00:00+08:00"')
      .replaceAll('end: "2027-01-02T00:00:00+08:00"', 'end: "2031-01-02T00:00:00+08:00"'),
  );
  stateDir = mkdtempSync(path.join(tmpdir(), 'guardian-argo-'));
  dirs.push(stateDir);
  local = ['--env', ENV, '--local', '--state-dir', stateDir, '--config-dir', configDir];
});

afterAll(async () => {
  for (const d of dirs) {
    await stopStateService(d).catch(() => undefined);
    rmSync(d, { recursive: true, force: true });
  }
});

/** The `--json` document of an argo subcommand. */
interface ArgoDoc {
  command: string;
  stage: string;
  phase: string;
  changed: boolean;
  message?: string;
  activeService: string;
  previewService: string | null;
  stable: { revision: number; image: string } | null;
  preview: { revision: number; image: string } | null;
}

const json = <T>(stdout: string): T => JSON.parse(stdout) as T;

describe('guardian argo', () => {
  it('shows the Rollout, and refuses what its state does not allow with exit 1 and one JSON error', async () => {
    const status = await guardian(['argo', 'status', ...local, '--json']);
    expect(status.code, status.stderr).toBe(0);
    const doc = json<ArgoDoc>(status.stdout);
    expect(doc).toMatchObject({
      command: 'status',
      stage: 'stable',
      phase: 'Healthy',
      activeService: 'buywhere-api-bluegreen-active',
      previewService: 'buywhere-api-bluegreen-preview',
      stable: { image: `${REPO}:v1.0.0` },
    });

    const text = await guardian(['argo', 'status', ...local]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/Active: +buywhere-api-bluegreen-active → revision \d+ ghcr\.io/);

    // Nothing in progress: abort is refused, promote has nothing to do.
    const abort = await guardian(['argo', 'abort', ...local, '--json']);
    expect(abort.code).toBe(1);
    expect(json<{ error: { type: string; message: string } }>(abort.stdout).error).toMatchObject({
      type: 'ArgoRefused',
      message: expect.stringContaining('no release in progress to abort'),
    });
    const promote = await guardian(['argo', 'promote', ...local, '--json']);
    expect(promote.code).toBe(0);
    expect(json<ArgoDoc>(promote.stdout)).toMatchObject({
      changed: false,
      message: expect.stringMatching(/nothing to promote/),
    });

    const resume = await guardian(['argo', 'resume', ...local]);
    expect(resume.code).toBe(1);
    expect(resume.stderr).toMatch(/is not paused by anyone/);
  });

  it('pauses: a deploy is then refused before anything changes; resume lets it through', async () => {
    const pause = await guardian(['argo', 'pause', ...local, '--json']);
    expect(pause.code, pause.stderr).toBe(0);
    expect(json<ArgoDoc>(pause.stdout)).toMatchObject({ changed: true, stage: 'paused', phase: 'Paused' });

    const refused = await guardian(['deploy', ...local, '--image', `${REPO}:v1.5.0`, '--json']);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toMatch(/paused by someone/);
    const history = await guardian(['history', ...local, '--json']);
    expect(json<unknown[]>(history.stdout)).toEqual([]);

    const resume = await guardian(['argo', 'resume', ...local, '--json']);
    expect(resume.code, resume.stderr).toBe(0);
    expect(json<ArgoDoc>(resume.stdout)).toMatchObject({ changed: true, stage: 'stable' });

    const deploy = await guardian(['deploy', ...local, '--image', `${REPO}:v1.5.0`]);
    expect(deploy.code, deploy.stdout + deploy.stderr).toBe(0);
    const after = json<ArgoDoc>((await guardian(['argo', 'status', ...local, '--json'])).stdout);
    expect(after).toMatchObject({ stage: 'stable', stable: { image: `${REPO}:v1.5.0` } });
  });

  it('rolls a promoted release back with guardian rollback', async () => {
    const rollback = await guardian(['rollback', ...local, '--annotate', 'post-promotion errors', '--json']);
    expect(rollback.code, rollback.stdout + rollback.stderr).toBe(0);
    const after = json<ArgoDoc>((await guardian(['argo', 'status', ...local, '--json'])).stdout);
    expect(after).toMatchObject({ stage: 'stable', stable: { image: `${REPO}:v1.0.0` } });
  });

  it('refuses bad usage with exit 2', async () => {
    const staging = await guardian([
      'argo',
      'status',
      '--env',
      'staging',
      '--local',
      '--state-dir',
      stateDir,
      '--config-dir',
      configDir,
    ]);
    expect(staging.code).toBe(2);
    expect(staging.stderr).toMatch(/not argo-rollouts/);
    const sub = await guardian(['argo', 'promte', ...local]);
    expect(sub.code).toBe(2);
    const foreign = await guardian(['argo', 'status', ...local, '--image', 'x']);
    expect(foreign.code).toBe(2);
    const noLocal = await guardian([
      'argo',
      'status',
      '--env',
      ENV,
      '--state-dir',
      stateDir,
      '--config-dir',
      configDir,
    ]);
    expect(noLocal.code).toBe(2);
    expect(noLocal.stderr).toMatch(/--state-dir needs --local/);
  });
});
