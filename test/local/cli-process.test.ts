/**
 * `node bin/guardian.js` as a script or an operator runs it: a real process, its exit code, and
 * exactly what reaches stdout and stderr. Misuse exits 2 quickly with a sentence naming what is
 * wrong, never a stack trace or a hang; `--json` leaves one document on stdout and nothing else.
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_DIR } from '../../lib/config/load.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin', 'guardian.js');
const REPO = 'ghcr.io/buywhere/buywhere-api';
/** Longest a misuse may take to be refused: start-up, no runner. */
const QUICK_MS = 60_000;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI; `asUser` runs it as another (unprivileged) user through setpriv. */
function guardian(
  argv: readonly string[],
  options: { asUser?: number; timeoutMs?: number } = {},
): Promise<Run> {
  const command = options.asUser === undefined ? process.execPath : 'setpriv';
  const args =
    options.asUser === undefined
      ? [BIN, ...argv]
      : [
          `--reuid=${options.asUser}`,
          `--regid=${options.asUser}`,
          '--clear-groups',
          process.execPath,
          BIN,
          ...argv,
        ];
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: tmpdir(),
      env: { ...process.env, NO_COLOR: '1', HOME: tmpdir() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`guardian ${argv.join(' ')} did not end within ${options.timeoutMs ?? QUICK_MS} ms`));
    }, options.timeoutMs ?? QUICK_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The one JSON document stdout holds (JSON.parse of all of it fails on anything else). */
function onlyDocument(
  run: Run,
): { error?: { type: string; message: string; exitCode: number; problems?: string[] } } & Record<
  string,
  unknown
> {
  const doc = JSON.parse(run.stdout);
  if (doc && typeof doc === 'object' && 'error' in doc) expect(doc.error.exitCode).toBe(run.code);
  return doc;
}

let work: string;
let stateDir: string;

/** A copy of the shipped config folder with `file` edited. */
function configWith(file: string, edit: (text: string) => string): string {
  const dir = mkdtempSync(path.join(work, 'config-'));
  cpSync(DEFAULT_CONFIG_DIR, dir, { recursive: true });
  const p = path.join(dir, file);
  writeFileSync(p, edit(readFileSync(p, 'utf8')));
  return dir;
}

/**
 * Lets another user reach the checkout's files (search permission on each folder above them that
 * lacks it, as a clone into a `mktemp -d` folder does), and gives back a function that undoes it.
 */
function letOthersReach(dir: string): () => void {
  const changed: { dir: string; mode: number }[] = [];
  for (let d = dir; ; d = path.dirname(d)) {
    const mode = statSync(d).mode & 0o7777;
    if ((mode & 0o001) === 0) {
      chmodSync(d, mode | 0o001);
      changed.push({ dir: d, mode });
    }
    if (path.dirname(d) === d) break;
  }
  return () => {
    for (const { dir: d, mode } of changed) chmodSync(d, mode);
  };
}

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'guardian-process-'));
  stateDir = path.join(work, 'state');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.concurrent('guardian (process): every config problem exits 2 naming the file, line and path', () => {
  it('a lock that expires before a deployment can end, in the --config-dir given', async () => {
    const dir = configWith('environments.yaml', (t) => t.replace('ttlSeconds: 7200\n', 'ttlSeconds: 600\n'));
    const file = path.join(dir, 'environments.yaml');
    const line = readFileSync(file, 'utf8').split('\n').indexOf('      ttlSeconds: 600') + 1;
    const r = await guardian(['status', '--env', 'staging', '--config-dir', dir, '--json']);
    expect(r.code).toBe(2);
    expect(onlyDocument(r).error?.problems).toEqual([
      expect.stringMatching(
        new RegExp(
          `^${file}:${line}: environments\\.staging\\.lock\\.ttlSeconds: the lock expires after 600 s`,
        ),
      ),
    ]);
    expect(r.stderr).not.toContain('config/environments.yaml');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a YAML alias bomb', async () => {
    const levels = ['a: &a [x,x,x,x,x,x,x,x,x]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const dir = configWith('deployment-thresholds.yaml', () => `${levels.join('\n')}\n`);
    const r = await guardian(['history', '--env', 'staging', '--config-dir', dir]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      `${path.join(dir, 'deployment-thresholds.yaml')}:2: aliases (*name) expand to too much data`,
    );
  });
});

describe.concurrent('guardian (process): every bad argument exits 2 with a sentence', () => {
  it('a freeze duration beyond a year', async () => {
    const r = await guardian([
      'freeze',
      '--env',
      'staging',
      '--until',
      '999999999d',
      '--reason',
      'x',
      '--json',
    ]);
    expect(r.code).toBe(2);
    expect(onlyDocument(r).error).toMatchObject({ type: 'UsageError' });
    expect(r.stderr).toContain("guardian: --until '999999999d' is too far ahead");
    expect(r.stderr).not.toContain('Invalid time value');
  });

  it('an impossible date', async () => {
    const r = await guardian([
      'freeze',
      '--env',
      'staging',
      '--until',
      '2026-02-30T00:00:00+08:00',
      '--reason',
      'x',
    ]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('is not a real time: February 2026 has 28 days');
  });

  it('a --state-dir that is a file', async () => {
    const file = path.join(work, 'state-file');
    writeFileSync(file, '');
    const r = await guardian(['status', '--env', 'staging', '--local', '--state-dir', file]);
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toContain(`--state-dir '${file}' is a file, not a folder`);
  });

  it('a --state-dir the user may not read or write, without hanging', async () => {
    // Unreadable to an unprivileged user; root reads anything, so as root run the CLI as nobody.
    const parent = path.join(work, 'perm');
    mkdirSync(parent);
    const locked = path.join(parent, 'locked');
    mkdirSync(locked);
    chmodSync(work, 0o755);
    chmodSync(parent, 0o755);
    chmodSync(locked, 0o000);
    const asUser = process.getuid?.() === 0 ? 65_534 : undefined;
    const restore = asUser === undefined ? undefined : letOthersReach(ROOT);
    try {
      const r = await guardian(['status', '--env', 'staging', '--local', '--state-dir', locked, '--json'], {
        ...(asUser !== undefined && { asUser }),
      });
      expect(r.code).toBe(2);
      expect(onlyDocument(r).error?.message).toBe(
        `--state-dir '${locked}' is not readable and writable by you (EACCES): fix its permissions or give another folder`,
      );
      const below = await guardian(
        ['history', '--env', 'staging', '--local', '--state-dir', path.join(locked, 'x')],
        {
          ...(asUser !== undefined && { asUser }),
        },
      );
      expect(below.code).toBe(2);
      expect(below.stderr).toMatch(/cannot be created: no permission to write in .*locked \(EACCES\)/);
    } finally {
      chmodSync(locked, 0o755);
      restore?.();
    }
  });

  it('a version that is not the image tag, refused before anything runs', async () => {
    const r = await guardian([
      'deploy',
      '--env',
      'staging',
      '--image',
      `${REPO}:v1.2.0`,
      '--version',
      'v9.9.9',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("tag 'v1.2.0' != version 'v9.9.9'");
  });

  it('a 10,000-character image, named once and shortened', async () => {
    const image = `ghcr.io/buywhere/${'a'.repeat(10_000)}:v1.0.0`;
    const r = await guardian([
      'deploy',
      '--env',
      'staging',
      '--image',
      image,
      '--local',
      '--state-dir',
      stateDir,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr.match(/ghcr\.io\/buywhere\/a+/g)).toHaveLength(1);
    expect(r.stderr).toContain(`…(${image.length} chars)`);
    expect(r.stderr.length).toBeLessThan(600);
  });

  it('an annotation with terminal escapes, refused without echoing them', async () => {
    const r = await guardian([
      'rollback',
      '--env',
      'staging',
      '--annotate',
      'ok\u001b]0;owned\u0007',
      '--json',
    ]);
    expect(r.code).toBe(2);
    expect(onlyDocument(r).error?.message).toContain(
      'contains a control character (U+001B ESC) at character 3',
    );
    expect(r.stdout + r.stderr).not.toContain('\u001b');
  });
});

describe('guardian (process): kubeconfigs and results', () => {
  it('an empty kubeconfig gets a sentence naming the file', async () => {
    const kubeconfig = path.join(work, 'empty.kubeconfig');
    writeFileSync(kubeconfig, '');
    const r = await guardian(
      [
        'status',
        '--env',
        'staging',
        '--local',
        '--state-dir',
        stateDir,
        '--kubeconfig',
        kubeconfig,
        '--json',
      ],
      { timeoutMs: 120_000 },
    );
    expect(r.code).toBe(2);
    expect(onlyDocument(r).error).toMatchObject({
      type: 'InvalidInputError',
      message: expect.stringMatching(
        new RegExp(`^kubeconfig '${kubeconfig}' is empty: expected a kubeconfig`),
      ),
    });
    expect(r.stderr).not.toContain('Cannot read properties');
  });

  it('deploy --json: progress on stderr, one document on stdout, the exit code of the result', async () => {
    const r = await guardian(
      [
        'deploy',
        '--env',
        'staging',
        '--image',
        `${REPO}:v1.6.0-bad`,
        '--local',
        '--state-dir',
        stateDir,
        '--json',
      ],
      { timeoutMs: 240_000 },
    );
    expect(r.code).toBe(1);
    expect(onlyDocument(r)).toMatchObject({
      status: 'FAILED',
      error: { type: 'DeploymentRolledBack', exitCode: 1 },
    });
    expect(r.stderr).toContain('Roll back to previous revision');
  });
});
