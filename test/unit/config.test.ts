import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_DIR, loadConfig } from '../../lib/config/load.ts';
import { environmentConfigSchema, LOG_RETENTION_DAYS } from '../../lib/config/schema.ts';
import { problemsOf, configWith as sharedConfigWith } from '../helpers/config.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the shipped config folder with `edit` applied to environments.yaml. */
const configWith = (edit: (yaml: string) => string): string => sharedConfigWith(dirs, edit);

describe('requireVersionTag', () => {
  it('is set explicitly in the shipped config: staging accepts any tag, production needs a version', () => {
    const { environments } = loadConfig();
    expect(environments.staging?.requireVersionTag).toBe(false);
    expect(environments.production?.requireVersionTag).toBe(true);
    const yaml = readFileSync(path.join(DEFAULT_CONFIG_DIR, 'environments.yaml'), 'utf8');
    expect(yaml.match(/^ {4}requireVersionTag: (true|false)$/gm)).toHaveLength(4);
  });

  it('requires a version tag when an environment leaves the key out', () => {
    const dir = configWith((yaml) => yaml.replace(/^ {4}requireVersionTag: true\n/gm, ''));
    expect(readFileSync(path.join(dir, 'environments.yaml'), 'utf8')).not.toMatch(/requireVersionTag: true/);
    expect(loadConfig(dir).environments.production?.requireVersionTag).toBe(true);
    expect(loadConfig(dir).environments['production-argo']?.requireVersionTag).toBe(true);
  });
});

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
    expect(yaml.match(/^ {4}alarmTopic:$/gm)).toHaveLength(4);
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
    expect(yaml.match(/^ {6}removalPolicy: (retain|destroy)$/gm)).toHaveLength(4);
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

/** The line of `file` that contains `text` (1-based). */
function lineIn(file: string, text: string): number {
  const i = readFileSync(file, 'utf8')
    .split('\n')
    .findIndex((l) => l.includes(text));
  if (i < 0) throw new Error(`no line of ${file} contains ${text}`);
  return i + 1;
}

/** A copy of the shipped config folder with `file` in it replaced by `text`. */
function configWithFile(file: string, text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'guardian-config-'));
  dirs.push(dir);
  cpSync(DEFAULT_CONFIG_DIR, dir, { recursive: true });
  writeFileSync(path.join(dir, file), text);
  return dir;
}

describe('every config problem names the file, the exact line and the path', () => {
  it('reports an unknown key on its own line, not on its parent block', () => {
    const dir = configWith((yaml) =>
      yaml.replace(
        '      pollIntervalSeconds: 10\n',
        '      pollIntervalSeconds: 10\n      pollIntervalSecs: 5\n      colour: blue\n',
      ),
    );
    const file = path.join(dir, 'environments.yaml');
    expect(problemsOf(dir)).toEqual([
      `${file}:${lineOf(dir, 'pollIntervalSecs:')}: environments.staging.rollout.pollIntervalSecs: unknown key 'pollIntervalSecs'`,
      `${file}:${lineOf(dir, 'colour:')}: environments.staging.rollout.colour: unknown key 'colour'`,
    ]);
  });

  it('reports an unknown key of the thresholds file on its own line', () => {
    const text = readFileSync(path.join(DEFAULT_CONFIG_DIR, 'deployment-thresholds.yaml'), 'utf8');
    const dir = configWithFile(
      'deployment-thresholds.yaml',
      text.replace(
        '  monitoring_duration_seconds: 600',
        '  monitoring_duration_seconds: 600\n  latency_p95: 3',
      ),
    );
    const file = path.join(dir, 'deployment-thresholds.yaml');
    expect(problemsOf(dir)).toEqual([
      `${file}:${lineIn(file, 'latency_p95')}: production.latency_p95: unknown key 'latency_p95'`,
    ]);
  });

  it('reports a missing key on the line of the block that lacks it', () => {
    const dir = configWith((yaml) => yaml.replace('    region: ap-southeast-1\n', ''));
    expect(problemsOf(dir)).toEqual([
      expect.stringMatching(
        new RegExp(`environments\\.yaml:${lineOf(dir, '  staging:')}: environments\\.staging\\.region: `),
      ),
    ]);
  });

  it('reports a wrong value on its line', () => {
    const dir = configWith((yaml) => yaml.replace('deadlineSeconds: 600', 'deadlineSeconds: 6000'));
    expect(problemsOf(dir)).toEqual([
      expect.stringMatching(
        new RegExp(
          `environments\\.yaml:${lineOf(dir, 'deadlineSeconds: 6000')}: environments\\.production\\.rollout\\.deadlineSeconds: `,
        ),
      ),
    ]);
  });

  it('refuses a YAML alias bomb quickly, naming the file and the line of the first alias', () => {
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const dir = configWithFile('deployment-thresholds.yaml', `${levels.join('\n')}\n`);
    const started = performance.now();
    const problems = problemsOf(dir);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(problems).toEqual([
      `${path.join(dir, 'deployment-thresholds.yaml')}:2: aliases (*name) expand to too much data (more than 100 alias expansions): write the values out or use fewer aliases`,
    ]);
  });

  it('still reads an anchor shared between environments', () => {
    const dir = configWith((yaml) =>
      yaml
        .replace('    healthCheck:\n      timeoutMs: 5000', '    healthCheck: &health\n      timeoutMs: 5000')
        .replace(
          /( {2}production:[\s\S]*?) {4}healthCheck:\n( {6}.*\n| {8}.*\n| {10}.*\n)+/,
          '$1    healthCheck: *health\n',
        ),
    );
    expect(readFileSync(path.join(dir, 'environments.yaml'), 'utf8')).toContain('    healthCheck: *health\n');
    expect(loadConfig(dir).environments.production?.healthCheck.endpoints).toHaveLength(3);
  });

  it('reports YAML syntax errors with line and column', () => {
    const dir = configWith((yaml) =>
      yaml.replace('    region: ap-southeast-1', '    region: [ap-southeast-1'),
    );
    const [first] = problemsOf(dir);
    expect(first).toMatch(new RegExp(`^${path.join(dir, 'environments.yaml')}:\\d+:\\d+: not valid YAML: `));
  });

  it('reports an empty file at line 1 and a missing one by name', () => {
    const empty = configWithFile('deployment-thresholds.yaml', '');
    expect(problemsOf(empty)).toEqual([
      `${path.join(empty, 'deployment-thresholds.yaml')}:1: (top level): Invalid input: expected record, received null`,
    ]);
    const missing = path.join(tmpdir(), 'guardian-no-such-config');
    expect(problemsOf(missing)).toEqual([
      `${path.join(missing, 'environments.yaml')}: cannot read (no such file)`,
      `${path.join(missing, 'deployment-thresholds.yaml')}: cannot read (no such file)`,
    ]);
  });

  it('names the file and line of an environment without thresholds, and of thresholds without an environment', () => {
    const text = readFileSync(path.join(DEFAULT_CONFIG_DIR, 'deployment-thresholds.yaml'), 'utf8');
    const dir = configWithFile('deployment-thresholds.yaml', text.replace('production:', 'prod:'));
    const thresholds = path.join(dir, 'deployment-thresholds.yaml');
    expect(problemsOf(dir)).toEqual([
      `${path.join(dir, 'environments.yaml')}:${lineOf(dir, '  production:')}: environments.production: no thresholds for this environment in ${thresholds}`,
      `${thresholds}:${lineIn(thresholds, 'prod:')}: prod: thresholds for an environment that is not in ${path.join(dir, 'environments.yaml')}`,
    ]);
  });
});

describe('lock TTL versus the Deploy execution timeout', () => {
  it('refuses a lock that expires before a Deploy execution may end, at the line of lock.ttlSeconds', () => {
    const dir = configWith((yaml) => yaml.replace('ttlSeconds: 7200\n', 'ttlSeconds: 6539\n'));
    expect(problemsOf(dir)).toEqual([
      `${path.join(dir, 'environments.yaml')}:${lineOf(dir, 'ttlSeconds: 6539')}: environments.staging.lock.ttlSeconds: ` +
        'the lock expires after 6539 s, but a Deploy execution may run 6540 s = backup 1890 + rollout.deadlineSeconds 300 + ' +
        'health check 75 + canary analysis 2250 (its hold included) + monitoring 450 + rollback 975 + margin 600; ' +
        'set lock.ttlSeconds to at least 6540 ' +
        '(or shorten the backup deadline, the rollout deadline, the health check, the canary analysis or the monitoring)',
    ]);
    expect(() =>
      loadConfig(configWith((yaml) => yaml.replace('ttlSeconds: 7200\n', 'ttlSeconds: 6540\n'))),
    ).not.toThrow();
  });

  it('points at the environment when the default TTL is the one too short', () => {
    const dir = configWith((yaml) =>
      yaml
        .replace('      deadlineSeconds: 300\n', '      deadlineSeconds: 3600\n')
        .replace(/ {4}lock:\n( {6}#.*\n)* {6}ttlSeconds: 7200\n/, ''),
    );
    expect(problemsOf(dir)).toEqual([
      expect.stringMatching(
        new RegExp(
          `environments\\.yaml:${lineOf(dir, '  staging:')}: environments\\.staging\\.lock\\.ttlSeconds: the lock expires after 3600 s, .* at least 13140 `,
        ),
      ),
    ]);
  });

  it('computes the same minimum as the synthesized Deploy workflow', async () => {
    const { deployTimeoutOf } = await import('../../lib/constructs/deploy-workflow.ts');
    const { rollbackTimeoutOf } = await import('../../lib/constructs/rollback-workflow.ts');
    const { deployTimeoutSeconds } = await import('../../lib/config/timeouts.ts');
    for (const env of Object.values(loadConfig().environments)) {
      expect(deployTimeoutSeconds(env)).toBe(deployTimeoutOf(env, rollbackTimeoutOf(env)).toSeconds());
    }
  });
});

// --- Alarms (issue 8) ----------------------------------------------------------------------------

/** Staging's `existing: []` replaced by the given YAML flow items. */
const stagingExisting =
  (...items: string[]) =>
  (yaml: string): string =>
    yaml.replace(
      /^ {6}existing: \[\]\n/m,
      `      existing:\n${items.map((i) => `        - ${i}\n`).join('')}`,
    );

/** Staging's `metrics.<key>` block (up to the next key at its indentation) removed. */
const withoutStagingMetric =
  (key: string) =>
  (yaml: string): string => {
    const start = yaml.indexOf(`        ${key}:\n`);
    if (start < 0 || start > yaml.indexOf('  production:')) throw new Error(`no staging metric ${key}`);
    const rest = yaml.slice(start + key.length + 10);
    const end = rest.search(/^ {0,8}\S/m);
    return yaml.slice(0, start) + rest.slice(end);
  };

describe('account, service and alarms', () => {
  it('reads the shipped alarms with the runbook defaults, for each environment explicitly', () => {
    const { environments } = loadConfig();
    for (const env of [environments.staging, environments.production]) {
      expect(env?.account).toBe('123456789012');
      expect(env?.service).toBe('buywhere-api');
      expect(env?.alarms).toMatchObject({
        guardWindowSeconds: 1800,
        insufficientData: 'notify',
        preflightFailClosed: true,
        existing: [],
      });
    }
    expect(environments.production?.alarms.replicas).toBe(3);
    expect(environments.production?.alarms.metrics.latencyP99?.unit).toBe('seconds');
    const yaml = readFileSync(path.join(DEFAULT_CONFIG_DIR, 'environments.yaml'), 'utf8');
    expect(yaml.match(/^ {4}alarms:$/gm)).toHaveLength(4);
    expect(yaml.match(/^ {6}guardWindowSeconds: 1800$/gm)).toHaveLength(4);
  });

  it('defaults the guard window, the insufficient-data policy and fail-closed preflight when left out', () => {
    const dir = configWith((yaml) =>
      yaml
        .replace(/^ {6}guardWindowSeconds: 1800\n/m, '')
        .replace(/^ {6}insufficientData: notify\n/m, '')
        .replace(/^ {6}preflightFailClosed: true\n/m, ''),
    );
    expect(loadConfig(dir).environments.staging?.alarms).toMatchObject({
      guardWindowSeconds: 1800,
      insufficientData: 'notify',
      preflightFailClosed: true,
    });
  });

  it('tags alarms with the workload name when service is left out', () => {
    const dir = configWith((yaml) => yaml.replace(/^ {4}service: buywhere-api\n/m, ''));
    expect(loadConfig(dir).environments.staging?.service).toBe('buywhere-api');
    const renamed = configWith((yaml) =>
      yaml.replace(/^ {4}service: buywhere-api\n/m, '    service: BuyWhere API\n'),
    );
    expect(loadConfig(renamed).environments.staging?.service).toBe('BuyWhere API');
  });

  it('refuses an account that is not 12 digits in quotes, with file, line and path', () => {
    const unquoted = configWith((yaml) => yaml.replace('account: "123456789012"', 'account: 123456789012'));
    expect(problemsOf(unquoted)).toEqual([
      `${path.join(unquoted, 'environments.yaml')}:${lineOf(unquoted, 'account: 123456789012')}: ` +
        'environments.staging.account: must be a 12-digit AWS account id in quotes, e.g. "123456789012"',
    ]);
    const short = configWith((yaml) => yaml.replace('account: "123456789012"', 'account: "12345"'));
    expect(problemsOf(short)).toEqual([
      expect.stringMatching(
        /:\d+: environments\.staging\.account: must be a 12-digit AWS account id, e\.g\. "123456789012"$/,
      ),
    ]);
  });

  it('names the file, line and path of a missing account', () => {
    const dir = configWith((yaml) => yaml.replace(/^ {4}account: "123456789012"\n/m, ''));
    expect(problemsOf(dir)).toEqual([
      expect.stringMatching(
        new RegExp(
          `environments\\.yaml:${lineOf(dir, '  staging:')}: environments\\.staging\\.account: must be a 12-digit`,
        ),
      ),
    ]);
  });

  it('lists the insufficient-data policies it knows', () => {
    const dir = configWith((yaml) => yaml.replace('insufficientData: notify', 'insufficientData: page'));
    expect(problemsOf(dir)).toEqual([
      `${path.join(dir, 'environments.yaml')}:${lineOf(dir, 'insufficientData: page')}: ` +
        'environments.staging.alarms.insufficientData: must be one of ignore, notify, escalate',
    ]);
  });

  it('refuses a guard window shorter than a minute', () => {
    const dir = configWith((yaml) => yaml.replace('guardWindowSeconds: 1800', 'guardWindowSeconds: 30'));
    expect(problemsOf(dir)).toEqual([
      expect.stringMatching(
        new RegExp(
          `:${lineOf(dir, 'guardWindowSeconds: 30')}: environments\\.staging\\.alarms\\.guardWindowSeconds: `,
        ),
      ),
    ]);
  });

  it('says which alarm needs a metric that is missing, and how to do without it', () => {
    const dir = configWith(withoutStagingMetric('errors'));
    expect(problemsOf(dir)).toEqual([
      `${path.join(dir, 'environments.yaml')}:${lineOf(dir, '      metrics:')}: environments.staging.alarms.metrics.errors: ` +
        'is missing: the HighErrorRate alarm reads it (or list an existing alarm with replaces: HighErrorRate)',
    ]);
  });

  it('needs no metric for a criterion an existing alarm replaces', () => {
    const dir = configWith((yaml) =>
      stagingExisting(
        '{ name: team-api-5xx, severity: critical, replaces: HighErrorRate }',
        '{ name: team-db-connections, severity: warning }',
      )(withoutStagingMetric('requests')(withoutStagingMetric('errors')(yaml))),
    );
    const staging = loadConfig(dir).environments.staging;
    expect(staging?.alarms.metrics.errors).toBeUndefined();
    expect(staging?.alarms.existing).toEqual([
      { name: 'team-api-5xx', severity: 'critical', replaces: 'HighErrorRate' },
      { name: 'team-db-connections', severity: 'warning' },
    ]);
  });

  it('refuses replicas below 2, and an existing alarm with an unknown severity, criterion or a duplicate name', () => {
    const replicas = configWith((yaml) => yaml.replace('      replicas: 2\n', '      replicas: 1\n'));
    expect(problemsOf(replicas)).toEqual([
      expect.stringMatching(
        /environments\.staging\.alarms\.replicas: must be at least 2: PodsBelowReplicas fires when running pods < replicas - 1$/,
      ),
    ]);
    const existing = configWith(
      stagingExisting('{ name: a, severity: page }', '{ name: b, severity: critical, replaces: HighCpu }'),
    );
    expect(problemsOf(existing)).toEqual([
      expect.stringMatching(
        /:\d+: environments\.staging\.alarms\.existing\[0\]\.severity: must be one of critical, warning$/,
      ),
      expect.stringMatching(
        /:\d+: environments\.staging\.alarms\.existing\[1\]\.replaces: must be one of HighErrorRate, APIServiceDown, HighLatencyP99, PodsBelowReplicas, NoLogsReceived$/,
      ),
    ]);
    // Duplicates are checked once every entry is valid.
    const duplicate = configWith(
      stagingExisting('{ name: c, severity: warning }', '{ name: c, severity: critical }'),
    );
    expect(problemsOf(duplicate)).toEqual([
      `${path.join(duplicate, 'environments.yaml')}:${lineOf(duplicate, '{ name: c, severity: critical }')}: ` +
        'environments.staging.alarms.existing[1].name: duplicate alarm c; list each alarm once',
    ]);
  });

  it('refuses an unknown key in a metric source', () => {
    const dir = configWith((yaml) =>
      yaml.replace('          name: RequestCount\n', '          name: RequestCount\n          stat: Sum\n'),
    );
    expect(problemsOf(dir)).toEqual([
      `${path.join(dir, 'environments.yaml')}:${lineOf(dir, 'stat: Sum')}: environments.staging.alarms.metrics.requests.stat: unknown key 'stat'`,
    ]);
  });
});
