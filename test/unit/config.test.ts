import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG_DIR, loadConfig } from '../../lib/config/load.ts';
import { environmentConfigSchema, LOG_RETENTION_DAYS } from '../../lib/config/schema.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the shipped config folder with `edit` applied to environments.yaml. */
function configWith(edit: (yaml: string) => string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'guardian-config-'));
  dirs.push(dir);
  cpSync(DEFAULT_CONFIG_DIR, dir, { recursive: true });
  const file = path.join(dir, 'environments.yaml');
  const before = readFileSync(file, 'utf8');
  const after = edit(before);
  if (after === before) throw new Error('the edit changed nothing in environments.yaml');
  writeFileSync(file, after);
  return dir;
}

describe('requireVersionTag', () => {
  it('is set explicitly in the shipped config: staging accepts any tag, production needs a version', () => {
    const { environments } = loadConfig();
    expect(environments.staging?.requireVersionTag).toBe(false);
    expect(environments.production?.requireVersionTag).toBe(true);
    const yaml = readFileSync(path.join(DEFAULT_CONFIG_DIR, 'environments.yaml'), 'utf8');
    expect(yaml.match(/^ {4}requireVersionTag: (true|false)$/gm)).toHaveLength(2);
  });

  it('requires a version tag when an environment leaves the key out', () => {
    const dir = configWith((yaml) => yaml.replace(/^ {4}requireVersionTag: true\n/m, ''));
    expect(readFileSync(path.join(dir, 'environments.yaml'), 'utf8')).not.toMatch(/requireVersionTag: true/);
    expect(loadConfig(dir).environments.production?.requireVersionTag).toBe(true);
  });
});

/** The problems `loadConfig(dir)` reports; fails the test when it loads. */
function problemsOf(dir: string): readonly string[] {
  try {
    loadConfig(dir);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('the config loaded, but a problem was expected');
}

/** The line of `environments.yaml` in `dir` that contains `text` (1-based). */
function lineOf(dir: string, text: string): number {
  const lines = readFileSync(path.join(dir, 'environments.yaml'), 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(text));
  if (i < 0) throw new Error(`no line contains ${text}`);
  return i + 1;
}

/** Replaces staging's `alarmTopic` block with one listing `subscriptions` (YAML flow items). */
const stagingSubscriptions =
  (...subscriptions: string[]) =>
  (yaml: string): string =>
    yaml.replace(
      /^ {4}alarmTopic:\n {6}subscriptions: \[\]\n/m,
      `    alarmTopic:\n      subscriptions:\n${subscriptions.map((s) => `        - ${s}\n`).join('')}`,
    );

describe('alarmTopic', () => {
  it('has no subscribers in the shipped config, for each environment explicitly', () => {
    const { stacks } = loadConfig();
    expect(stacks.staging?.alarmTopic).toEqual({ subscriptions: [] });
    expect(stacks.production?.alarmTopic).toEqual({ subscriptions: [] });
    const yaml = readFileSync(path.join(DEFAULT_CONFIG_DIR, 'environments.yaml'), 'utf8');
    expect(yaml.match(/^ {4}alarmTopic:$/gm)).toHaveLength(2);
  });

  it('reads a subscriber of every protocol', () => {
    const dir = configWith(
      stagingSubscriptions(
        '{ protocol: email, endpoint: devops@buywhere.io }',
        '{ protocol: https, endpoint: "https://hooks.buywhere.io/guardian?team=devops" }',
        '{ protocol: sqs, endpoint: "arn:aws:sqs:ap-southeast-1:123456789012:guardian-alarms" }',
        '{ protocol: lambda, endpoint: "arn:aws:lambda:ap-southeast-1:123456789012:function:page-oncall:live" }',
      ),
    );
    expect(loadConfig(dir).stacks.staging?.alarmTopic.subscriptions).toEqual([
      { protocol: 'email', endpoint: 'devops@buywhere.io' },
      { protocol: 'https', endpoint: 'https://hooks.buywhere.io/guardian?team=devops' },
      { protocol: 'sqs', endpoint: 'arn:aws:sqs:ap-southeast-1:123456789012:guardian-alarms' },
      {
        protocol: 'lambda',
        endpoint: 'arn:aws:lambda:ap-southeast-1:123456789012:function:page-oncall:live',
      },
    ]);
  });

  it('reports an email subscriber without an address with its file, line and path', () => {
    const dir = configWith(stagingSubscriptions('{ protocol: email, endpoint: devops-at-buywhere }'));
    expect(problemsOf(dir)).toEqual([
      `${path.join(dir, 'environments.yaml')}:${lineOf(dir, 'devops-at-buywhere')}: ` +
        'environments.staging.alarmTopic.subscriptions[0].endpoint: must be an email address, e.g. devops@example.com',
    ]);
  });

  it.each([
    ['https', 'http://hooks.buywhere.io/guardian', /\.endpoint: must be an https:\/\/ URL/],
    ['https', 'devops@buywhere.io', /\.endpoint: must be an https:\/\/ URL/],
    [
      'sqs',
      'https://sqs.ap-southeast-1.amazonaws.com/123456789012/alarms',
      /\.endpoint: must be the ARN of a standard SQS queue/,
    ],
    [
      'sqs',
      'arn:aws:sqs:ap-southeast-1:123456789012:alarms.fifo',
      /\.endpoint: must be the ARN of a standard SQS queue/,
    ],
    [
      'lambda',
      'arn:aws:sqs:ap-southeast-1:123456789012:alarms',
      /\.endpoint: must be the ARN of a Lambda function/,
    ],
    ['lambda', 'page-oncall', /\.endpoint: must be the ARN of a Lambda function/],
  ])('refuses a %s subscriber whose endpoint is %s', (protocol, endpoint, message) => {
    const dir = configWith(stagingSubscriptions(`{ protocol: ${protocol}, endpoint: "${endpoint}" }`));
    const problems = problemsOf(dir);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(
      `:${lineOf(dir, endpoint)}: environments.staging.alarmTopic.subscriptions[0]`,
    );
    expect(problems[0]).toMatch(message);
  });

  it('names the protocols it knows when a subscriber uses another', () => {
    const dir = configWith(stagingSubscriptions('{ protocol: sms, endpoint: "+6590000000" }'));
    expect(problemsOf(dir)).toEqual([
      expect.stringMatching(
        /:\d+: environments\.staging\.alarmTopic\.subscriptions\[0\]\.protocol: must be one of email, https, sqs, lambda$/,
      ),
    ]);
  });

  it('refuses the same subscriber listed twice', () => {
    const dir = configWith(
      stagingSubscriptions(
        '{ protocol: email, endpoint: devops@buywhere.io }',
        '{ protocol: email, endpoint: devops@buywhere.io }',
      ),
    );
    expect(problemsOf(dir)).toEqual([
      expect.stringMatching(
        /environments\.staging\.alarmTopic\.subscriptions\[1\]: duplicate subscription \(email devops@buywhere\.io\)/,
      ),
    ]);
  });

  it('refuses unknown keys in a subscriber', () => {
    const dir = configWith(
      stagingSubscriptions('{ protocol: email, endpoint: devops@buywhere.io, filter: deploys }'),
    );
    expect(problemsOf(dir)).toEqual([
      expect.stringMatching(
        /environments\.staging\.alarmTopic\.subscriptions\[0\]\.filter: unknown key 'filter'$/,
      ),
    ]);
  });
});

describe('retention', () => {
  it("keeps today's behaviour, explicitly: staging a month and disposable, production a year and retained", () => {
    const { stacks } = loadConfig();
    expect(stacks.staging?.retention).toEqual({ logRetentionDays: 30, removalPolicy: 'destroy' });
    expect(stacks.production?.retention).toEqual({ logRetentionDays: 365, removalPolicy: 'retain' });
    const yaml = readFileSync(path.join(DEFAULT_CONFIG_DIR, 'environments.yaml'), 'utf8');
    expect(yaml.match(/^ {6}removalPolicy: (retain|destroy)$/gm)).toHaveLength(2);
  });

  it('retains everything and keeps a year of logs when an environment leaves the keys out', () => {
    const dir = configWith((yaml) =>
      yaml.replace(/^ {4}# Staging is disposable.*\n {4}retention:\n( {6}.*\n){2}/m, ''),
    );
    expect(loadConfig(dir).stacks.staging?.retention).toEqual({
      logRetentionDays: 365,
      removalPolicy: 'retain',
    });
  });

  it('names the periods CloudWatch Logs accepts when logRetentionDays is another', () => {
    const dir = configWith((yaml) => yaml.replace('logRetentionDays: 30', 'logRetentionDays: 31'));
    expect(problemsOf(dir)).toEqual([
      `${path.join(dir, 'environments.yaml')}:${lineOf(dir, 'logRetentionDays: 31')}: ` +
        `environments.staging.retention.logRetentionDays: must be a retention period CloudWatch Logs accepts: one of ${LOG_RETENTION_DAYS.join(', ')} (days)`,
    ]);
  });

  it('refuses a removal policy other than retain or destroy', () => {
    const dir = configWith((yaml) => yaml.replace('removalPolicy: destroy', 'removalPolicy: snapshot'));
    expect(problemsOf(dir)).toEqual([
      expect.stringMatching(
        /:\d+: environments\.staging\.retention\.removalPolicy: must be 'retain' \(kept when the stack is deleted\) or 'destroy' \(deleted with the stack\)$/,
      ),
    ]);
  });

  it('keeps alarmTopic and retention out of the config the functions receive', () => {
    const { environments, stacks } = loadConfig();
    const staging = environments.staging;
    expect(staging).not.toHaveProperty('alarmTopic');
    expect(staging).not.toHaveProperty('retention');
    expect(environmentConfigSchema.safeParse(staging).success).toBe(true);
    // The functions' schema is strict: a stack-only key handed to them would be refused.
    expect(
      environmentConfigSchema.safeParse({ ...staging, retention: stacks.staging?.retention }).success,
    ).toBe(false);
  });
});
