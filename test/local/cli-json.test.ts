/**
 * `--json` is safe for scripts: every command that accepts it writes exactly one JSON document to
 * stdout, in success and in every kind of failure (usage, config, refusal), with the exit code of
 * the text mode; progress and sentences go to stderr.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS, type CommandName } from '../../lib/cli/args.ts';
import { runCli } from '../../lib/cli/commands.ts';
import { DEFAULT_CONFIG_DIR } from '../../lib/config/load.ts';

const REPO = 'ghcr.io/buywhere/buywhere-api';
const COMMAND_NAMES = Object.keys(COMMANDS) as CommandName[];

interface JsonRun {
  readonly code: number;
  /** The one document stdout held. */
  readonly doc: Record<string, unknown> & { error?: { type: string; message: string; exitCode: number } };
  readonly err: string;
}

/** Runs the CLI with `--json` and fails unless stdout got exactly one whole JSON document. */
async function json(...argv: string[]): Promise<JsonRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli([...argv, '--json'], { out: (l) => out.push(l), err: (l) => err.push(l) });
  expect(out, `stdout of ${argv.join(' ')}`).toHaveLength(1);
  const doc = JSON.parse(out.join('\n'));
  if (doc && typeof doc === 'object' && 'error' in doc) {
    expect(doc.error).toMatchObject({
      type: expect.any(String),
      message: expect.any(String),
      exitCode: code,
    });
    expect(code).not.toBe(0);
  }
  return { code, doc, err: err.join('\n') };
}

/** A command line that makes `command` do its job (with the local runner where it has one). */
function okArgs(command: CommandName, stateDir: string): string[] {
  if (command === 'demo') return ['demo'];
  const local = ['--local', '--state-dir', stateDir];
  if (command === 'alarm') {
    const event = path.join(
      path.dirname(DEFAULT_CONFIG_DIR),
      'test/fixtures/alarm-events/guardian-high-error-rate-alarm.json',
    );
    return ['alarm', 'replay', event, ...local];
  }
  if (command === 'ack') return ['ack', 'staging-20261120T101205Z-5d001925', ...local];
  if (command === 'canary') {
    return [
      'canary',
      'judge',
      '--input',
      path.join(path.dirname(DEFAULT_CONFIG_DIR), 'test/fixtures/canary-judge-input.json'),
    ];
  }
  if (command === 'backup') return ['backup', 'list', '--env', 'staging', ...local];
  if (command === 'argo') return ['argo', 'status', '--env', 'production-argo', ...local];
  const extra = command === 'deploy' ? ['--image', `${REPO}:v1.5.0`] : [];
  return [command, '--env', 'staging', ...extra, '--local', '--state-dir', stateDir];
}

let stateDir: string;
let badConfig: string;
let configFile: string;

beforeAll(() => {
  stateDir = mkdtempSync(path.join(tmpdir(), 'guardian-json-'));
  badConfig = mkdtempSync(path.join(tmpdir(), 'guardian-json-cfg-'));
  cpSync(DEFAULT_CONFIG_DIR, badConfig, { recursive: true });
  configFile = path.join(badConfig, 'environments.yaml');
  writeFileSync(
    configFile,
    readFileSync(configFile, 'utf8').replace('ttlSeconds: 7200\n', 'ttlSeconds: 600\n'),
  );
});
afterAll(() => {
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(badConfig, { recursive: true, force: true });
});

describe('--json: usage and config errors are one document with exit 2, for every command', () => {
  it.each(COMMAND_NAMES)('%s: an unknown option', async (command) => {
    const r = await json(command, '--bogus');
    expect(r.code).toBe(2);
    expect(r.doc.error).toMatchObject({ type: 'UsageError', help: `guardian ${command} --help` });
    expect(r.err).toContain("guardian: Unknown option '--bogus'");
  });

  it.each(COMMAND_NAMES)('%s: a config whose lock expires before a deployment ends', async (command) => {
    const r = await json(...okArgs(command, stateDir), '--config-dir', badConfig);
    expect(r.code).toBe(2);
    expect(r.doc.error?.type).toBe('ConfigError');
    const line = readFileSync(configFile, 'utf8').split('\n').indexOf('      ttlSeconds: 600') + 1;
    expect(r.doc.error).toMatchObject({
      problems: [
        expect.stringMatching(
          new RegExp(
            `^${configFile}:${line}: environments\\.staging\\.lock\\.ttlSeconds: the lock expires after 600 s`,
          ),
        ),
      ],
    });
  });

  it('help, with or without a command, is a document too', async () => {
    expect((await json()).doc.usage).toContain('Usage: guardian <command>');
    expect((await json('deploy', '--help')).doc.usage).toContain('Usage: guardian deploy');
    expect(await json('nonsense')).toMatchObject({ code: 2, doc: { error: { type: 'UsageError' } } });
  });

  it('bad values: a duration too long, an impossible date, a state folder that is a file', async () => {
    const tooFar = await json(
      'freeze',
      '--env',
      'staging',
      '--until',
      '999999999d',
      '--reason',
      'x',
      '--local',
    );
    expect(tooFar).toMatchObject({ code: 2, doc: { error: { type: 'UsageError' } } });
    expect(tooFar.doc.error?.message).toContain('too far ahead');
    const feb30 = await json(
      'freeze',
      '--env',
      'staging',
      '--until',
      '2026-02-30T00:00:00Z',
      '--reason',
      'x',
      '--local',
    );
    expect(feb30.doc.error?.message).toContain('is not a real time: February 2026 has 28 days');
    const file = path.join(stateDir, 'a-file');
    writeFileSync(file, '');
    const notDir = await json('status', '--env', 'staging', '--local', '--state-dir', file);
    expect(notDir).toMatchObject({ code: 2, doc: { error: { type: 'UsageError' } } });
    expect(notDir.doc.error?.message).toContain(`--state-dir '${file}' is a file, not a folder`);
    const mismatch = await json(
      'deploy',
      '--env',
      'staging',
      '--image',
      `${REPO}:v1.2.0`,
      '--version',
      'v9.9.9',
    );
    expect(mismatch).toMatchObject({ code: 2, doc: { error: { type: 'InvalidInputError' } } });
  });
});

describe('--json against the local runner: results and refusals are one document each', () => {
  it('demo', async () => {
    const r = await json('demo');
    expect(r.code).toBe(0);
    expect(r.doc).toMatchObject({ passed: true });
    expect(r.doc.checks).toHaveLength(30);
    // Its progress went to stderr.
    expect(r.err).toContain('Roll back to previous revision');
  });

  it('deploy: success, a rolled-back release and a refusal', async () => {
    const ok = await json(...okArgs('deploy', stateDir));
    expect(ok).toMatchObject({ code: 0, doc: { status: 'SUCCEEDED' } });
    expect(ok.doc.error).toBeUndefined();
    expect(ok.err).toContain('Preflight checks');

    const bad = await json(
      'deploy',
      '--env',
      'staging',
      '--image',
      `${REPO}:v1.6.0-bad`,
      '--local',
      '--state-dir',
      stateDir,
    );
    expect(bad).toMatchObject({
      code: 1,
      doc: { status: 'FAILED', error: { type: 'DeploymentRolledBack' } },
    });

    const frozen = await json(
      'freeze',
      '--env',
      'staging',
      '--until',
      '1h',
      '--reason',
      'Incident 9',
      '--local',
      '--state-dir',
      stateDir,
    );
    expect(frozen).toMatchObject({ code: 0, doc: { reason: 'Incident 9' } });
    const refused = await json(
      'deploy',
      '--env',
      'staging',
      '--image',
      `${REPO}:v1.7.0`,
      '--local',
      '--state-dir',
      stateDir,
    );
    expect(refused).toMatchObject({ code: 1, doc: { error: { type: 'ChangeFreezeError' } } });
    expect(refused.doc.error?.message).toContain('Incident 9');

    const lifted = await json(
      'freeze',
      '--env',
      'staging',
      '--lift',
      String(frozen.doc.id),
      '--local',
      '--state-dir',
      stateDir,
    );
    expect(lifted).toMatchObject({ code: 0, doc: { environment: 'staging', lifted: frozen.doc.id } });
    const again = await json(
      'freeze',
      '--env',
      'staging',
      '--lift',
      String(frozen.doc.id),
      '--local',
      '--state-dir',
      stateDir,
    );
    expect(again).toMatchObject({ code: 2, doc: { error: { type: 'NotFoundError' } } });
  });

  it('rollback, status, history, circuit-breaker and freeze listing', async () => {
    expect(
      await json(
        'rollback',
        '--env',
        'staging',
        // Past the rolled-back bad release, to the seed.
        '--revision',
        '1',
        '--annotate',
        'from\nscript',
        '--local',
        '--state-dir',
        stateDir,
      ),
    ).toMatchObject({
      code: 0,
      doc: { status: 'SUCCEEDED' },
    });
    const status = await json(...okArgs('status', stateDir));
    expect(status).toMatchObject({ code: 0, doc: { environment: 'staging' } });
    const history = await json(...okArgs('history', stateDir));
    expect(history.code).toBe(0);
    // The annotation's line break was turned into a space at the edge.
    expect(history.doc).toEqual(
      expect.arrayContaining([expect.objectContaining({ annotation: 'from script' })]),
    );
    expect(
      await json('circuit-breaker', '--env', 'staging', '--reset', '--local', '--state-dir', stateDir),
    ).toMatchObject({
      code: 0,
      doc: { state: 'closed', consecutiveFailures: 0 },
    });
    expect(await json(...okArgs('freeze', stateDir))).toMatchObject({ code: 0, doc: { adHoc: [] } });
  });

  it('lock: show, and a release refused because someone else holds it', async () => {
    expect(await json(...okArgs('lock', stateDir))).toMatchObject({ code: 0 });
    const refused = await json(
      'lock',
      '--env',
      'staging',
      '--release',
      '--holder',
      'gone',
      '--local',
      '--state-dir',
      stateDir,
    );
    expect(refused).toMatchObject({ code: 1, doc: { error: { type: 'LockNotHeld', lock: null } } });
    expect(refused.err).toContain("staging is not locked by 'gone'");
  });
});
