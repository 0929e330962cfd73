/**
 * Command-line parsing for `guardian`: one table of commands and options, strict parsing, and
 * usage errors that name the bad argument.
 */
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { z } from 'zod';
import { controlCharacterProblem, printable, quote, shorten } from '../../lambdas/core/text.ts';

/** A usage error: exit code 2, message printed with the command's usage. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

type OptionSpec = { type: 'string' | 'boolean'; short?: string; description: string; value?: string };

/**
 * A positional argument: a fixed word (`replay`), one of several words (a subcommand: `judge`,
 * `run`, …) or a value (`FILE`).
 */
type PositionalSpec = {
  readonly name: string;
  readonly word?: true;
  readonly words?: readonly string[];
  /** May be left out (only after the required ones); the command checks when it needs it. */
  readonly optional?: true;
  readonly description: string;
};

const COMMON: Record<string, OptionSpec> = {
  'config-dir': {
    type: 'string',
    value: 'DIR',
    description:
      'folder with environments.yaml and deployment-thresholds.yaml (default: ./config of the guardian)',
  },
  json: { type: 'boolean', description: 'print machine-readable JSON instead of text' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
};

const LOCAL: Record<string, OptionSpec> = {
  local: { type: 'boolean', description: 'run here (local runner) instead of in AWS' },
  'state-dir': { type: 'string', value: 'DIR', description: 'local state folder (default: .guardian)' },
  kubeconfig: {
    type: 'string',
    value: 'FILE',
    description: 'with --local: use this cluster instead of the embedded simulator',
  },
  'api-url': {
    type: 'string',
    value: 'URL',
    description: 'with --kubeconfig: URL the health check calls (default: the environment apiUrl)',
  },
};

const ENV: Record<string, OptionSpec> = {
  env: { type: 'string', short: 'e', value: 'ENV', description: 'environment (staging, production, …)' },
};

const WAIT: Record<string, OptionSpec> = {
  wait: {
    type: 'boolean',
    description: 'in AWS: wait for the execution to end and exit with its result (a dry run always waits)',
  },
  timeout: {
    type: 'string',
    value: 'SECONDS',
    description: 'with --wait: give up waiting after this long (default 3600; the execution goes on)',
  },
};

/** Every command, its summary and options. */
export const COMMANDS = {
  demo: {
    summary:
      'run the guardian end to end here: a good release to staging, then a bad one that is rolled back',
    options: { ...COMMON },
  },
  deploy: {
    summary:
      'deploy an image (Deploy workflow): preflight, set image, wait for rollout, health check; rollback on failure',
    options: {
      ...ENV,
      image: {
        type: 'string',
        short: 'i',
        value: 'IMAGE',
        description: 'full image reference, repo:tag or repo@sha256:…',
      },
      version: {
        type: 'string',
        value: 'VERSION',
        description:
          "release version recorded on the deployment (default: the image's tag; when given it must equal the tag; " +
          'names the release of a digest-only image where the environment allows one)',
      },
      'dry-run': {
        type: 'boolean',
        description: 'run the preflight only and print the plan; change nothing',
      },
      'requested-by': {
        type: 'string',
        value: 'WHO',
        description: 'recorded on the deployment (default: $USER)',
      },
      'ci-run-url': { type: 'string', value: 'URL', description: 'link to the CI run, kept on the record' },
      ...WAIT,
      ...LOCAL,
      ...COMMON,
    },
  },
  rollback: {
    summary:
      'roll back to the last known-good release (the newest that succeeded and was not rolled back; never one the guardian rolled back), or to --revision N; exit 1 when there is nothing to roll back to',
    options: {
      ...ENV,
      revision: {
        type: 'string',
        value: 'N',
        description:
          'workload revision to restore (kubectl rollout history); default: the last known-good release',
      },
      force: {
        type: 'boolean',
        description: 'with --revision: restore it even though the guardian rolled that release back as bad',
      },
      annotate: {
        type: 'string',
        value: 'TEXT',
        description: 'reason, recorded and set as the change-cause annotation',
      },
      ...WAIT,
      'requested-by': {
        type: 'string',
        value: 'WHO',
        description: 'recorded on the rollback (default: $USER)',
      },
      ...LOCAL,
      ...COMMON,
    },
  },
  status: {
    summary: 'show the workload, the lock, the circuit breaker, freezes and the last deployment',
    options: { ...ENV, ...LOCAL, ...COMMON },
  },
  history: {
    summary: 'list deployments and rollbacks, newest first',
    options: {
      ...ENV,
      limit: { type: 'string', value: 'N', description: 'how many records (default 20, at most 500)' },
      ...LOCAL,
      ...COMMON,
    },
  },
  'circuit-breaker': {
    summary: 'show the circuit breaker, or --reset it after fixing the cause',
    options: {
      ...ENV,
      reset: { type: 'boolean', description: 'close the breaker and clear its failure count' },
      'requested-by': {
        type: 'string',
        value: 'WHO',
        description: 'recorded as who reset it (default: $USER)',
      },
      ...LOCAL,
      ...COMMON,
    },
  },
  lock: {
    summary:
      'show the environment lock, or --release it from a holder that is gone (stopped or crashed execution)',
    options: {
      ...ENV,
      release: { type: 'boolean', description: 'delete the lock; needs --holder' },
      holder: {
        type: 'string',
        value: 'ID',
        description: 'the deployment or rollback id that holds it (from `guardian lock`)',
      },
      ...LOCAL,
      ...COMMON,
    },
  },
  freeze: {
    summary: 'list ad-hoc change freezes, start one (--until … --reason …), or --lift one',
    options: {
      ...ENV,
      until: {
        type: 'string',
        value: 'TIME',
        description: 'end of the freeze: an ISO time with offset, or a duration from now (30m, 2h, 3d)',
      },
      from: { type: 'string', value: 'TIME', description: 'start of the freeze (default: now)' },
      reason: { type: 'string', value: 'TEXT', description: 'why; shown to whoever is refused' },
      lift: { type: 'string', value: 'ID', description: 'remove the freeze with this id' },
      'requested-by': {
        type: 'string',
        value: 'WHO',
        description: 'recorded as who set or lifted it (default: $USER)',
      },
      ...LOCAL,
      ...COMMON,
    },
  },
  alarm: {
    summary:
      'alarm replay FILE: run the alarm handler on a saved EventBridge alarm event and print its decision',
    positionals: [
      { name: 'replay', word: true, description: 'the only alarm subcommand' },
      {
        name: 'FILE',
        description: 'a saved EventBridge "CloudWatch Alarm State Change" event (JSON; - for stdin)',
      },
    ],
    options: { ...LOCAL, ...COMMON },
  },
  incidents: {
    summary: 'list the incidents the alarm handler opened, newest first, and how far each escalated',
    options: {
      ...ENV,
      limit: { type: 'string', value: 'N', description: 'how many (default 20, at most 200)' },
      ...LOCAL,
      ...COMMON,
    },
  },
  ack: {
    summary: 'ack INCIDENT: acknowledge an incident, which stops its escalation chain',
    positionals: [{ name: 'INCIDENT', description: 'the incident id (from `guardian incidents`)' }],
    options: {
      'requested-by': {
        type: 'string',
        value: 'WHO',
        description: 'recorded as who acknowledged (default: $USER)',
      },
      ...LOCAL,
      ...COMMON,
    },
  },
  canary: {
    summary:
      'canary judge|run|approve|reject: judge metric series offline (--input FILE); run the canary analysis on the live environment (--env E [--duration S]); approve or reject a release an inconclusive analysis holds (--env E). Exit 0 pass (judge, run) or decided (approve, reject); 1 marginal, fail or inconclusive, or nothing held; 2 bad input',
    positionals: [
      {
        name: 'SUBCOMMAND',
        words: ['judge', 'run', 'approve', 'reject'],
        description:
          'judge: offline, exit 0 pass, 1 marginal or fail; run: the live environment, exit 0 pass, 1 otherwise; approve / reject: decide on a held release',
      },
    ],
    options: {
      input: {
        type: 'string',
        value: 'FILE',
        description:
          'judge: JSON {"metrics":[{"name","direction","baseline":[…],"canary":[…],…}],"thresholds"?,"classifier"?} (- for stdin)',
      },
      ...ENV,
      duration: {
        type: 'string',
        value: 'S',
        description:
          "run: seconds to watch the release (default: the environment's canary.durationSeconds, else 300)",
      },
      reason: { type: 'string', value: 'TEXT', description: 'approve / reject: why, kept on the record' },
      'requested-by': {
        type: 'string',
        value: 'WHO',
        description: 'approve / reject: recorded as who decided (default: $USER)',
      },
      local: {
        type: 'boolean',
        description: 'run / approve / reject: against the local runner instead of AWS',
      },
      'state-dir': LOCAL['state-dir'] as OptionSpec,
      ...COMMON,
    },
  },
  // Issue 9: the enhanced health check on its own (the runbook's enhanced-health-check.sh).
  health: {
    summary:
      'run the enhanced health check once (endpoints, JSON fields, database/Redis/PgBouncer, pools, pod startup time); exit 1 when unhealthy',
    options: {
      ...ENV,
      'api-url': {
        type: 'string',
        value: 'URL',
        description:
          'check this API instead of the environment apiUrl (alone: no cluster is read, the startup check is skipped)',
      },
      local: { type: 'boolean', description: 'check the local runner: its demo API and cluster simulator' },
      'state-dir': LOCAL['state-dir'] as OptionSpec,
      kubeconfig: LOCAL.kubeconfig as OptionSpec,
      ...COMMON,
    },
  },
  // Issue 11: the runbook's `rollback.sh argo-status | k8s-argo-promote | k8s-argo-abort | k8s-argo-pause`.
  argo: {
    summary:
      "argo status|promote|abort|pause|resume: the environment's blue-green Argo Rollout: its active and preview sides, or the plugin's promote, abort (traffic back to stable; the desired template stays until guardian rollback), pause and resume. Exit 1 when the Rollout's state refuses the command",
    positionals: [
      {
        name: 'SUBCOMMAND',
        words: ['status', 'promote', 'abort', 'pause', 'resume'],
        description: 'status: read only; the others patch the Rollout as kubectl argo rollouts does',
      },
    ],
    options: {
      ...ENV,
      local: {
        type: 'boolean',
        description: "the local runner's cluster simulator (or --kubeconfig's cluster)",
      },
      'state-dir': LOCAL['state-dir'] as OptionSpec,
      kubeconfig: LOCAL.kubeconfig as OptionSpec,
      ...COMMON,
    },
  },
  // Issue 10: the runbook's `pre-deploy-backup.sh list` / `restore` on the pre-deployment snapshots.
  backup: {
    summary:
      "backup list|restore [SNAPSHOT]: list the environment's pre-deployment database snapshots, newest first, or restore one to a new database (never over the live one) and print what to do next. Exit 1 when the environment has no database or the snapshot is unknown or refused",
    positionals: [
      {
        name: 'SUBCOMMAND',
        words: ['list', 'restore'],
        description: 'list: the snapshots of --env E; restore SNAPSHOT: restore it to a new database',
      },
      {
        name: 'SNAPSHOT',
        optional: true,
        description: 'restore: the snapshot id, as `guardian backup list` shows it',
      },
    ],
    options: {
      ...ENV,
      'requested-by': {
        type: 'string',
        value: 'WHO',
        description: 'restore: tagged on the restored database (default: $USER)',
      },
      local: { type: 'boolean', description: "the local runner's RDS double instead of AWS" },
      'state-dir': LOCAL['state-dir'] as OptionSpec,
      ...COMMON,
    },
  },
} as const satisfies Record<
  string,
  { summary: string; options: Record<string, OptionSpec>; positionals?: readonly PositionalSpec[] }
>;

/** The positional arguments of `command` (none for most). */
function positionalsOf(command: CommandName): readonly PositionalSpec[] {
  const spec = COMMANDS[command] as { positionals?: readonly PositionalSpec[] };
  return spec.positionals ?? [];
}

/** A command name. */
export type CommandName = keyof typeof COMMANDS;

/** Parsed command line. */
export interface ParsedArgs {
  readonly command: CommandName | 'help';
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  /** Positional values by name (`FILE`, `INCIDENT`), for commands that take them. */
  readonly positionals?: Readonly<Record<string, string>>;
}

/** Usage text of one command or of all. */
export function usage(command?: CommandName): string {
  if (!command) {
    const lines = ['Usage: guardian <command> [options]', '', 'Commands:'];
    for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(16)} ${c.summary}`);
    lines.push('', "Run 'guardian <command> --help' for a command's options.");
    lines.push(
      'Exit codes: 0 success, 1 the deployment/rollback failed or was refused (e.g. nothing to roll back to), 2 bad usage or bad input.',
    );
    return lines.join('\n');
  }
  const spec = COMMANDS[command];
  const words = positionalsOf(command)
    .map((p) => (p.words ? p.words.join('|') : p.optional ? `[${p.name}]` : p.name))
    .join(' ');
  const lines = [
    `Usage: guardian ${command}${words ? ` ${words}` : ''} [options]`,
    '',
    spec.summary,
    '',
    'Options:',
  ];
  for (const [name, o] of Object.entries(spec.options as Record<string, OptionSpec>)) {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` ${o.value}` : ''}`;
    lines.push(`  ${flag.padEnd(30)} ${o.description}`);
  }
  return lines.join('\n');
}

/** Parses argv (without node and script); throws UsageError naming what is wrong. */
export function parseCommandLine(argv: readonly string[]): ParsedArgs {
  const [first, ...rest] = argv;
  // `guardian`, `guardian --help`, `guardian help --json`: the overview.
  if (first === undefined || argv.every((a) => ['--help', '-h', 'help', '--json'].includes(a))) {
    return { command: 'help', values: {} };
  }
  if (!(first in COMMANDS)) {
    throw new UsageError(`unknown command ${quote(first)}; commands: ${Object.keys(COMMANDS).join(', ')}`);
  }
  const command = first as CommandName;
  const options = COMMANDS[command].options as Record<string, OptionSpec>;
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  const expected = positionalsOf(command);
  try {
    ({ values, positionals } = parseArgs({
      args: [...rest],
      options: Object.fromEntries(
        Object.entries(options).map(([k, o]) => [
          k,
          o.short ? { type: o.type, short: o.short } : { type: o.type },
        ]),
      ),
      strict: true,
      allowPositionals: expected.length > 0,
    }) as { values: Record<string, string | boolean | undefined>; positionals: string[] });
  } catch (err) {
    // Node's message quotes the argument as given: keep it printable and short.
    throw new UsageError(shorten((err as Error).message.replace(/\. To specify.*$/s, ''), 240), command);
  }
  for (const [name, value] of Object.entries(values)) {
    if (typeof value !== 'string') continue;
    // Free text is one line on the record: line breaks and tabs become spaces.
    const v = FREE_TEXT_OPTIONS.has(name) ? value.replace(/[\t\n\r]+/g, ' ') : value;
    const problem = controlCharacterProblem(v);
    if (problem) {
      throw new UsageError(
        `--${name} ${problem}; type it without control characters (they would reach the record and whoever reads it)`,
        command,
      );
    }
    values[name] = v;
  }
  if (expected.length === 0 || values.help === true) return { command, values };
  const named: Record<string, string> = {};
  for (const [i, p] of expected.entries()) {
    const given = positionals[i];
    if (given === undefined && p.optional) break;
    if (given === undefined) {
      throw new UsageError(
        `${p.word ? `the word ${p.name}` : p.words ? `a subcommand (${p.words.join(', ')})` : p.name} is missing: guardian ${command} ${expected.map((e) => (e.words ? e.words.join('|') : e.name)).join(' ')}`,
        command,
      );
    }
    const problem = controlCharacterProblem(given);
    if (problem) throw new UsageError(`${p.name} ${problem}`, command);
    if (p.word && given !== p.name) {
      throw new UsageError(
        `unknown ${command} subcommand ${quote(shorten(given, 60))}; the only one is ${p.name}`,
        command,
      );
    }
    if (p.words && !p.words.includes(given)) {
      throw new UsageError(
        `unknown ${command} subcommand ${quote(shorten(given, 60))}; one of: ${p.words.join(', ')}`,
        command,
      );
    }
    named[p.name] = given;
  }
  if (positionals.length > expected.length) {
    throw new UsageError(
      `unexpected argument ${quote(shorten(positionals[expected.length] as string, 60))}: guardian ${command} takes ${expected.map((e) => e.name).join(' ')}`,
      command,
    );
  }
  return { command, values, positionals: named };
}

/** Options whose value is free text: line breaks and tabs in it are turned into spaces. */
const FREE_TEXT_OPTIONS = new Set(['reason', 'annotate']);

/** Whether the command line asks for JSON (looked up in the raw argv, so usage errors honour it too). */
export function jsonRequested(argv: readonly string[]): boolean {
  return argv.includes('--json');
}

/** The string value of `--name`, or a UsageError if it is required and missing or empty. */
export function requireString(args: ParsedArgs, name: string): string {
  const v = args.values[name];
  if (typeof v !== 'string' || v.trim() === '') {
    throw new UsageError(`--${name} is required`, args.command === 'help' ? undefined : args.command);
  }
  return v.trim();
}

/** An optional string value (trimmed), or undefined. */
export function optionalString(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.trim() === '') throw new UsageError(`--${name} needs a value`);
  return v.trim();
}

/** An optional positive integer `--name N` within [min, max]. */
export function optionalInt(args: ParsedArgs, name: string, min: number, max: number): number | undefined {
  const v = optionalString(args, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got ${quote(v)}`);
  }
  return Number(v);
}

/**
 * Checks an execution's input against the workflow's own schema before anything starts, so a value
 * the workflow would refuse (a CI link that is no URL, say) is a usage error naming its option.
 */
export function checkInput(schema: z.ZodType, input: Record<string, unknown>): void {
  const result = schema.safeParse(input);
  if (result.success) return;
  const problems = new Map<string, string>();
  for (const issue of result.error.issues) {
    const key = String(issue.path[0] ?? '');
    const flag = key === 'environment' ? 'env' : key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    // The first problem of each option: one sentence per value.
    if (!problems.has(flag)) problems.set(flag, `--${flag}: ${issue.message}`);
  }
  throw new UsageError([...problems.values()].join('; '));
}

/** Minutes, hours and days in a duration, and the longest each may be (a year). */
const DURATION_UNITS = {
  m: { ms: 60_000, max: 525_600 },
  h: { ms: 3_600_000, max: 8_760 },
  d: { ms: 86_400_000, max: 365 },
} as const;

const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/;

/** Why the fields of an ISO time name no real instant (Feb 30, 25:00, +24:00), or undefined. */
function impossibleTime(m: RegExpExecArray): string | undefined {
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = m
    .slice(1)
    .map((f) => (f === undefined ? 0 : Number(f))) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12) return `there is no month ${String(month).padStart(2, '0')}`;
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day < 1 || day > days) {
    const name = new Date(Date.UTC(2000, month - 1, 1)).toLocaleString('en', {
      month: 'long',
      timeZone: 'UTC',
    });
    return `${name} ${year} has ${days} days`;
  }
  if (hour > 23 || minute > 59 || second > 59) return 'the time of day must be 00:00:00 to 23:59:59';
  if (offsetHours > 23 || offsetMinutes > 59) return 'the UTC offset must be -23:59 to +23:59';
  return undefined;
}

/**
 * Parses `--until`/`--from`: an ISO time with offset, strictly (no Feb 30), or a duration from
 * `now` of at most a year (30m, 2h, 3d). Anything else is a UsageError (exit 2) saying why.
 */
export function parseTime(value: string, flag: string, now: Date): Date {
  const d = /^(\d+)([mhd])$/.exec(value);
  if (d) {
    const unit = DURATION_UNITS[d[2] as keyof typeof DURATION_UNITS];
    const amount = Number(d[1]);
    if (amount > unit.max) {
      throw new UsageError(
        `--${flag} ${quote(value)} is too far ahead: a duration is at most a year (365d, 8760h or 525600m); for a later time give it as an ISO time`,
      );
    }
    return new Date(now.getTime() + amount * unit.ms);
  }
  const iso = ISO_TIME.exec(value);
  if (iso) {
    const impossible = impossibleTime(iso);
    if (impossible) throw new UsageError(`--${flag} ${quote(value)} is not a real time: ${impossible}`);
    const t = Date.parse(value);
    if (!Number.isNaN(t)) return new Date(t);
  }
  throw new UsageError(
    `--${flag} must be an ISO time with offset (2026-12-24T00:00:00+08:00) or a duration (30m, 2h, 3d), got ${quote(value)}`,
  );
}

/** The local state folder when `--state-dir` is not given. */
export const DEFAULT_STATE_DIR = '.guardian';

/**
 * Refuses a local state folder the runner could not use, before anything starts (a bad one
 * otherwise crashes or hangs the embedded database): it must be a folder, or creatable, and
 * readable and writable, as must what the runner keeps in it.
 */
export function checkStateDir(dir: string): void {
  const shown = `--state-dir ${quote(dir)}`;
  const fail = (why: string): never => {
    throw new UsageError(`${shown} ${why}`);
  };
  const rw = constants.R_OK | constants.W_OK;
  const denied = (p: string, mode: number) => {
    try {
      accessSync(p, mode);
      return undefined;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code ?? 'EACCES';
    }
  };
  if (!existsSync(dir)) {
    // It will be created: the nearest existing folder above it must let us.
    let parent = path.dirname(dir);
    while (!existsSync(parent) && path.dirname(parent) !== parent) parent = path.dirname(parent);
    if (!statSync(parent).isDirectory())
      fail(`cannot be created: ${printable(parent)} is a file, not a folder`);
    const code = denied(parent, rw | constants.X_OK);
    if (code) fail(`cannot be created: no permission to write in ${printable(parent)} (${code})`);
    return;
  }
  if (!statSync(dir).isDirectory())
    fail('is a file, not a folder: give a folder for the local state (default .guardian)');
  const code = denied(dir, rw | constants.X_OK);
  if (code) fail(`is not readable and writable by you (${code}): fix its permissions or give another folder`);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    const inner = denied(p, entry.isDirectory() ? rw | constants.X_OK : rw);
    if (inner) fail(`holds ${printable(entry.name)}, which is not readable and writable by you (${inner})`);
  }
}

/**
 * Checks the options of a `--local` run before the runner starts: a state folder it can use and,
 * if given, an http(s) `--api-url`.
 */
export function checkLocalOptions(args: ParsedArgs): void {
  checkStateDir(path.resolve(optionalString(args, 'state-dir') ?? DEFAULT_STATE_DIR));
  const apiUrl = optionalString(args, 'api-url');
  if (apiUrl !== undefined && !(URL.canParse(apiUrl) && /^https?:$/.test(new URL(apiUrl).protocol))) {
    throw new UsageError(
      `--api-url ${quote(apiUrl)} is not an http(s) URL, e.g. https://api-staging.example.com`,
    );
  }
}

/**
 * Reads a JSON input file, or stdin for `-`: a UsageError (exit 2) of `command` when it cannot be
 * read or is not JSON; `hint` follows the JSON parser's complaint.
 */
export function readJsonInput(file: string, command: string, hint = ''): unknown {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      `cannot read ${quote(shorten(file, 200))}: ${code ?? (err as Error).message}`,
      command,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UsageError(
      `${quote(shorten(file, 200))} is not JSON (${(err as Error).message})${hint}`,
      command,
    );
  }
}

/** Options every subcommand of a command group takes. */
const GROUP_OPTIONS = new Set(['json', 'help', 'config-dir']);

/**
 * Throws a UsageError for an option `command sub` does not take (`accepts` lists each
 * subcommand's own options; --json, --help and --config-dir are always accepted).
 */
export function refuseForeignOptions(
  args: ParsedArgs,
  command: 'argo' | 'backup' | 'canary',
  sub: string,
  accepts: Readonly<Record<string, readonly string[]>>,
): void {
  const accepted = new Set(accepts[sub] ?? []);
  for (const [name, value] of Object.entries(args.values)) {
    if (value === undefined || GROUP_OPTIONS.has(name) || accepted.has(name)) continue;
    throw new UsageError(`--${name} is not an option of ${command} ${sub}`, command);
  }
}
