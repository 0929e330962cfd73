/**
 * Command-line parsing for `guardian`: one table of commands and options, strict parsing, and
 * usage errors that name the bad argument.
 */
import { parseArgs } from 'node:util';

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
        value: 'vX.Y.Z',
        description: 'release version (required where the environment needs a version tag)',
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
} as const satisfies Record<string, { summary: string; options: Record<string, OptionSpec> }>;

/** A command name. */
export type CommandName = keyof typeof COMMANDS;

/** Parsed command line. */
export interface ParsedArgs {
  readonly command: CommandName | 'help';
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
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
  const lines = [`Usage: guardian ${command} [options]`, '', spec.summary, '', 'Options:'];
  for (const [name, o] of Object.entries(spec.options as Record<string, OptionSpec>)) {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` ${o.value}` : ''}`;
    lines.push(`  ${flag.padEnd(30)} ${o.description}`);
  }
  return lines.join('\n');
}

/** Parses argv (without node and script); throws UsageError naming what is wrong. */
export function parseCommandLine(argv: readonly string[]): ParsedArgs {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    return { command: 'help', values: {} };
  }
  if (!(first in COMMANDS)) {
    throw new UsageError(`unknown command '${first}'; commands: ${Object.keys(COMMANDS).join(', ')}`);
  }
  const command = first as CommandName;
  const options = COMMANDS[command].options as Record<string, OptionSpec>;
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...rest],
      options: Object.fromEntries(
        Object.entries(options).map(([k, o]) => [
          k,
          o.short ? { type: o.type, short: o.short } : { type: o.type },
        ]),
      ),
      strict: true,
      allowPositionals: false,
    }) as { values: Record<string, string | boolean | undefined> });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify.*$/s, ''), command);
  }
  return { command, values };
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
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got '${v}'`);
  }
  return Number(v);
}
