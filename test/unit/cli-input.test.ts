/**
 * What the CLI accepts and how it prints what it stored: strict times, bounded durations,
 * control characters refused at the edge, a usable state folder, and records that cannot
 * steer the terminal that prints them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DeploymentRecord } from '../../lambdas/core/types.ts';
import {
  checkInput,
  checkLocalOptions,
  checkStateDir,
  jsonRequested,
  parseCommandLine,
  parseTime,
  UsageError,
} from '../../lib/cli/args.ts';
import {
  describeFailure,
  describeRecord,
  formatBreaker,
  formatLock,
  formatRecords,
  jsonDocument,
  terminalSafe,
} from '../../lib/cli/format.ts';
import { errorObject } from '../../lib/cli/report.ts';
import { ConfigError } from '../../lib/config/load.ts';

const NOW = new Date('2026-05-01T00:00:00Z');
/** A character a terminal would act on rather than show. */
const RAW = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

function usageErrorOf(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    if (err instanceof UsageError) return err;
    throw err;
  }
  throw new Error('expected a UsageError');
}

describe('parseTime', () => {
  it('adds a duration to now', () => {
    expect(parseTime('30m', 'until', NOW).toISOString()).toBe('2026-05-01T00:30:00.000Z');
    expect(parseTime('2h', 'until', NOW).toISOString()).toBe('2026-05-01T02:00:00.000Z');
    expect(parseTime('365d', 'until', NOW).toISOString()).toBe('2027-05-01T00:00:00.000Z');
    expect(parseTime('8760h', 'until', NOW).getTime()).toBe(parseTime('365d', 'until', NOW).getTime());
  });

  it.each(['366d', '8761h', '525601m', '999999999d', `${'9'.repeat(400)}d`])(
    'refuses %s as too far ahead, with exit 2 and the limit',
    (value) => {
      const err = usageErrorOf(() => parseTime(value, 'until', NOW));
      expect(err.message).toMatch(
        /^--until '.*' is too far ahead: a duration is at most a year \(365d, 8760h or 525600m\)/,
      );
      expect(err.message.length).toBeLessThan(300);
    },
  );

  it('reads ISO times with an offset', () => {
    expect(parseTime('2026-12-24T00:00:00+08:00', 'until', NOW).toISOString()).toBe(
      '2026-12-23T16:00:00.000Z',
    );
    expect(parseTime('2028-02-29T12:00Z', 'until', NOW).toISOString()).toBe('2028-02-29T12:00:00.000Z');
    expect(parseTime('2026-05-01T10:00:00.123456Z', 'from', NOW).toISOString()).toBe(
      '2026-05-01T10:00:00.123Z',
    );
  });

  it.each([
    ['2026-02-30T00:00:00Z', 'February 2026 has 28 days'],
    ['2027-02-29T00:00:00Z', 'February 2027 has 28 days'],
    ['2026-04-31T00:00:00+08:00', 'April 2026 has 30 days'],
    ['2026-13-01T00:00:00Z', 'there is no month 13'],
    ['2026-00-10T00:00:00Z', 'there is no month 00'],
    ['2026-05-00T00:00:00Z', 'May 2026 has 31 days'],
    ['2026-05-01T24:00:00Z', 'the time of day must be 00:00:00 to 23:59:59'],
    ['2026-05-01T12:60:00Z', 'the time of day must be'],
    ['2026-05-01T12:00:60Z', 'the time of day must be'],
    ['2026-05-01T12:00:00+24:00', 'the UTC offset must be'],
  ])('refuses the impossible time %s instead of rolling it over', (value, why) => {
    const { message } = usageErrorOf(() => parseTime(value, 'until', NOW));
    expect(message.startsWith(`--until '${value}' is not a real time: ${why}`)).toBe(true);
  });

  it.each(['tomorrow', '2026-05-01', '2026-05-01T00:00:00', '2h30m', '-2h', '1.5h', '2026-05-01 00:00:00Z'])(
    'refuses %j, saying what it takes',
    (value) => {
      expect(usageErrorOf(() => parseTime(value, 'from', NOW)).message).toMatch(
        /^--from must be an ISO time with offset .* or a duration \(30m, 2h, 3d\), got '/,
      );
    },
  );
});

describe('parseCommandLine: control characters', () => {
  it('turns line breaks and tabs in free text into spaces', () => {
    const args = parseCommandLine(['rollback', '--env', 'staging', '--annotate', 'high\r\nerror\trate']);
    expect(args.values.annotate).toBe('high error rate');
    const freeze = parseCommandLine(['freeze', '--env', 'staging', '--until', '2h', '--reason', 'a\nb']);
    expect(freeze.values.reason).toBe('a b');
  });

  it.each([
    ['rollback', '--annotate', 'bad\u001b[31m red', 'U+001B ESC'],
    ['freeze', '--reason', 'x\u0007', 'U+0007 BEL'],
    ['deploy', '--requested-by', 'rex\nroot', 'U+000A NEWLINE'],
    ['status', '--env', 'staging\u009b', 'U+009B CSI'],
    ['lock', '--holder', '\u202eevil', 'U+202E RIGHT-TO-LEFT OVERRIDE'],
    ['deploy', '--image', 'ghcr.io/buywhere/buywhere-api:v1\u0000', 'U+0000 NUL'],
  ])(
    'refuses %s %s with a control character, naming it without printing it',
    (command, flag, value, name) => {
      const err = usageErrorOf(() => parseCommandLine([command, flag, value]));
      expect(err.message).toMatch(
        new RegExp(
          `^${flag} contains a control character \\(${name.replace('+', '\\+')}\\) at character \\d+`,
        ),
      );
      expect(err.message).not.toMatch(RAW);
      expect(err.command).toBe(command);
    },
  );

  it('keeps an unknown option or command short and printable in its error', () => {
    const err = usageErrorOf(() => parseCommandLine(['status', `--${'x'.repeat(10_000)}`]));
    expect(err.message.length).toBeLessThan(300);
    const cmd = usageErrorOf(() => parseCommandLine([`dep\u001b[2J${'y'.repeat(5000)}`]));
    expect(cmd.message).toMatch(/^unknown command 'dep\\x1b\[2Jy+…\(5007 chars\)'; commands: /);
    expect(cmd.message).not.toMatch(RAW);
  });

  it('finds --json anywhere on the command line, even one that does not parse', () => {
    expect(jsonRequested(['status', '--bogus', '--json'])).toBe(true);
    expect(jsonRequested(['status', '--env', 'staging'])).toBe(false);
  });
});

describe('checkStateDir', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'guardian-state-check-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('accepts an existing folder and one it can create', () => {
    expect(() => checkStateDir(root)).not.toThrow();
    expect(() => checkStateDir(path.join(root, 'new', 'deeper'))).not.toThrow();
  });

  it('refuses a file, and a folder below a file, naming the path and why', () => {
    const file = path.join(root, 'state.json');
    writeFileSync(file, '{}');
    expect(usageErrorOf(() => checkStateDir(file)).message).toBe(
      `--state-dir '${file}' is a file, not a folder: give a folder for the local state (default .guardian)`,
    );
    expect(usageErrorOf(() => checkStateDir(path.join(file, 'sub'))).message).toBe(
      `--state-dir '${path.join(file, 'sub')}' cannot be created: ${file} is a file, not a folder`,
    );
  });
});

describe('printing stored text', () => {
  const hostile = 'boom\u001b[2J\u001b]0;owned\u0007\nFAKE LINE\u202e';
  const record: DeploymentRecord = {
    environment: 'staging',
    id: 'staging-rollback-0000abcd',
    kind: 'rollback',
    status: 'rolled-back',
    executionArn: 'arn:aws:states:ap-southeast-1:000000000000:execution:x:y',
    trigger: 'operator',
    requestedBy: `mallory${hostile}`,
    image: `ghcr.io/buywhere/buywhere-api:v1.0.0${hostile}`,
    rollbackPoint: { platform: 'kubernetes', image: 'ghcr.io/buywhere/buywhere-api:v1.0.0', revision: 1 },
    revision: 1,
    reason: hostile,
    annotation: hostile,
    startedAt: '2026-05-01T00:00:00.000Z',
  } as DeploymentRecord;

  it('escapes control characters in history rows, the one-line record, lock and breaker', () => {
    const lines = [
      ...formatRecords([record]),
      describeRecord(record),
      formatLock(
        {
          environment: 'staging',
          holder: `x${hostile}`,
          executionArn: 'arn',
          acquiredAt: '2026-05-01T00:00:00Z',
          expiresAt: '2026-05-01T01:00:00Z',
        },
        NOW,
      ),
      formatBreaker({ environment: 'staging', state: 'closed', consecutiveFailures: 0, reason: hostile }, 2),
      describeFailure('HealthCheckFailedError', JSON.stringify({ errorMessage: hostile })),
    ];
    for (const line of lines) {
      expect(line).not.toMatch(RAW);
    }
    expect(formatRecords([record])).toHaveLength(2);
    expect(describeRecord(record)).toContain('boom\\x1b[2J\\x1b]0;owned\\x07\\nFAKE LINE\\u202e');
  });

  it("keeps the CLI's own colours and line breaks on a terminal, and escapes everything else", () => {
    expect(terminalSafe('\u001b[32m✓\u001b[0m ok\nnext')).toBe('\u001b[32m✓\u001b[0m ok\nnext');
    expect(terminalSafe('a\u001b[2Jb\u009bc\u0007')).toBe('a\\x1b[2Jb\\x9bc\\x07');
  });

  it('writes JSON that parses to the same data with nothing raw a terminal acts on', () => {
    const value = { reason: `C1\u009b bidi\u202e line\u2028 esc\u001b`, n: 1 };
    const doc = jsonDocument(value);
    // Its own line breaks aside.
    expect(doc.replaceAll('\n', '')).not.toMatch(RAW);
    expect(doc).not.toMatch(/\u2028/);
    expect(JSON.parse(doc)).toEqual(value);
  });
});

describe('JSON errors', () => {
  it('carry type, message and exit code, plus what the kind of error adds', () => {
    expect(errorObject(new UsageError('--env is required', 'status'))).toEqual({
      type: 'UsageError',
      message: '--env is required',
      exitCode: 2,
      help: 'guardian status --help',
    });
    expect(errorObject(new ConfigError(['f:1: x: y']))).toMatchObject({
      type: 'ConfigError',
      exitCode: 2,
      problems: ['f:1: x: y'],
    });
    const locked = Object.assign(new Error('held'), { name: 'LockHeldError' });
    expect(errorObject(locked)).toEqual({
      type: 'LockHeldError',
      message: 'held',
      exitCode: 1,
      refused: true,
    });
    expect(errorObject(new TypeError('boom'))).toEqual({ type: 'TypeError', message: 'boom', exitCode: 1 });
  });
});

describe('checkInput', () => {
  it("refuses what the workflow's schema would, naming the option once", async () => {
    const { deployInputSchema } = await import('../../lambdas/core/types.ts');
    const input = {
      environment: 'staging',
      image: 'ghcr.io/buywhere/buywhere-api:v1.0.0',
      requestedBy: 'rex',
    };
    expect(() => checkInput(deployInputSchema, input)).not.toThrow();
    const err = usageErrorOf(() => checkInput(deployInputSchema, { ...input, ciRunUrl: 'not a url' }));
    expect(err.message).toMatch(/^--ci-run-url: [^;]+$/);
  });
});

describe('checkLocalOptions', () => {
  it('refuses an --api-url that is not http(s), before the runner starts', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'guardian-local-opts-'));
    try {
      const args = (...extra: string[]) =>
        parseCommandLine(['status', '--env', 'staging', '--local', '--state-dir', dir, ...extra]);
      expect(() =>
        checkLocalOptions(args('--kubeconfig', 'k', '--api-url', 'https://api.example.com')),
      ).not.toThrow();
      expect(
        usageErrorOf(() => checkLocalOptions(args('--kubeconfig', 'k', '--api-url', 'ftp://x'))).message,
      ).toBe("--api-url 'ftp://x' is not an http(s) URL, e.g. https://api-staging.example.com");
      expect(() => checkLocalOptions(args('--api-url', 'not a url'))).toThrow(UsageError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
