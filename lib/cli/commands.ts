/**
 * The `guardian` commands. Each returns its exit code: 0 success, 1 the deployment/rollback
 * failed or was refused, 2 bad usage or bad input.
 */

import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { AlarmHandlerResult } from '../../lambdas/alarm-handler/handler.ts';
import { breakerReset } from '../../lambdas/core/breaker.ts';
import { NotFoundError } from '../../lambdas/core/errors.ts';
import { validateRelease } from '../../lambdas/core/image.ts';
import { deployExecutionName, releaseLabel, rollbackExecutionName } from '../../lambdas/core/naming.ts';
import { printable, quote, shorten } from '../../lambdas/core/text.ts';
import type { BreakerState } from '../../lambdas/core/types.ts';
import type { EnvironmentConfig, GuardianConfig } from '../config/schema.ts';
import type { LocalExecutionResult } from '../local/executor.ts';
import type { LocalGuardian } from '../local/guardian.ts';
import { stateFolderDeleted } from '../local/state-files.ts';
import {
  type CommandName,
  checkInput,
  checkLocalOptions,
  jsonRequested,
  optionalInt,
  optionalString,
  type ParsedArgs,
  parseCommandLine,
  parseTime,
  readJsonInput,
  requireString,
  UsageError,
  usage,
} from './args.ts';
import type { GuardianBackend } from './aws.ts';
import {
  bold,
  describeFailure,
  describeRecord,
  executionSummary,
  formatBackup,
  formatBreaker,
  formatCanary,
  formatLock,
  formatRecords,
  green,
  jsonDocument,
  type Output,
  processOutput,
  progressPrinter,
  red,
  toStderr,
} from './format.ts';
import { CommandRefusedError, exitCodeOfErrorName, reportError } from './report.ts';

// Only what every command needs is imported up front; the config loader, the local runner, the
// AWS backend and the demo are loaded by the commands that use them, so `--help` stays instant.
// A known environment is found without loading the loader (YAML, zod); an unknown one gets its error.
const environmentOf = async (config: GuardianConfig, name: string): Promise<EnvironmentConfig> =>
  (Object.hasOwn(config.environments, name) ? config.environments[name] : undefined) ??
  (await import('../config/load.ts')).environmentOf(config, name);

const suffix = () => randomBytes(4).toString('hex');

function whoAmI(args: ParsedArgs): string {
  return optionalString(args, 'requested-by') ?? process.env.USER ?? process.env.USERNAME ?? 'operator';
}

/** Exit code for a finished execution, looking through the nested rollback's failure. */
export function exitCodeOf(result: LocalExecutionResult): number {
  if (result.status === 'SUCCEEDED') return 0;
  return exitCodeOfErrorName(result.error);
}

/**
 * How an execution ended, as one JSON document: its fields and, unless it succeeded, the
 * `error` every failed command carries (`type`, `message`, `exitCode`).
 */
function executionDocument(
  end: { readonly status: string; readonly error?: string; readonly cause?: string },
  exitCode: number,
  extra: Record<string, unknown> = {},
): string {
  const { error, ...rest } = end;
  if (end.status === 'SUCCEEDED') return jsonDocument({ ...extra, ...rest });
  const failure = { type: error ?? end.status, message: describeFailure(error, end.cause), exitCode };
  return jsonDocument({ ...extra, ...rest, error: failure });
}

async function withLocal<T>(
  args: ParsedArgs,
  config: GuardianConfig,
  output: Output,
  fn: (g: LocalGuardian) => Promise<T>,
  extra: { readonly advanceWhenIdle?: boolean; readonly deferEscalations?: boolean } = {},
): Promise<T> {
  const json = args.values.json === true;
  if (args.values.wait !== undefined || args.values.timeout !== undefined) {
    throw new UsageError('--wait and --timeout are for runs in AWS; a --local run always waits for its end');
  }
  const kubeconfig = optionalString(args, 'kubeconfig');
  const apiUrl = optionalString(args, 'api-url');
  if (apiUrl && !kubeconfig) throw new UsageError('--api-url only makes sense with --kubeconfig');
  const stateDir = localStateDir(args);
  if (kubeconfig) {
    // A kubeconfig that cannot work is bad input for every command, read-only ones included.
    (await import('../../lambdas/adapters/kubernetes.ts')).connectKubeconfig(kubeconfig);
    if (!json) output.err(`guardian: local state for ${kubeconfig}: ${stateDir}`);
  }
  const { LocalGuardian } = await import('../local/guardian.ts');
  const guardian = await LocalGuardian.start({
    config,
    stateDir,
    ...(kubeconfig ? { kubeconfig } : {}),
    ...(apiUrl ? { apiUrl } : {}),
    // With --json, stdout is the result document's alone: progress goes to stderr.
    onEvent: progressPrinter(json ? toStderr(output) : output),
    onNotice: (line) => output.err(`guardian: ${line}`),
    deferEscalations: true,
    ...extra,
  });
  try {
    const result = await fn(guardian);
    // An incident opened on the way (a rollback that failed) pages its first level now.
    for (const e of await guardian.runDeferredEscalations()) {
      output.err(
        `guardian: escalation ${e.name} paged its first level; the incident stays open (guardian incidents, guardian ack ${e.name} --local)`,
      );
    }
    return result;
  } catch (err) {
    throw stateGone(stateDir) ? deletedStateError(stateDir, err) : err;
  } finally {
    // With the folder gone there is nothing to write back, and the close's own failure is noise.
    await guardian.close().catch((err: unknown) => {
      if (!stateGone(stateDir)) throw err;
    });
  }
}

/** Whether the local state folder disappeared (deleted by hand while a command ran). */
function stateGone(stateDir: string): boolean {
  return !existsSync(stateDir);
}

/** What an operator reads when the state folder was deleted under a running command. */
function deletedStateError(stateDir: string, cause?: unknown): Error {
  const err = stateFolderDeleted(stateDir);
  if (cause instanceof Error)
    err.message = err.message.replace(' ran;', ` ran (${cause.message.split('\n')[0]});`);
  return err;
}

/**
 * The local state folder: `--state-dir`, else `.guardian` for the embedded simulator, else one
 * folder per kubeconfig under it, so runs against a real cluster never mix their records, locks
 * and breaker with the simulator's.
 */
function localStateDir(args: ParsedArgs): string {
  const explicit = optionalString(args, 'state-dir');
  if (explicit) return path.resolve(explicit);
  const kubeconfig = optionalString(args, 'kubeconfig');
  if (!kubeconfig) return path.resolve('.guardian');
  const id = createHash('sha256').update(path.resolve(kubeconfig)).digest('hex').slice(0, 8);
  const base = path.basename(kubeconfig).replace(/[^A-Za-z0-9._-]/g, '_');
  return path.resolve('.guardian', `kube-${base}-${id}`);
}

/** The way out of a lock refusal in local mode: who holds it, since when, and the command that clears it. */
async function lockHint(
  args: ParsedArgs,
  g: LocalGuardian,
  environment: string,
): Promise<string | undefined> {
  const lock = await g.store(environment).getLock(environment);
  if (!lock) return undefined;
  return `${environment} is locked by ${lock.holder} since ${lock.acquiredAt}. If that execution is no longer running, clear the lock with: guardian lock ${localFlags(args, environment)} --release --holder ${lock.holder}`;
}

/** `--env E --local [--state-dir D] [--kubeconfig K]`: the flags that reach the same local state. */
function localFlags(args: ParsedArgs, environment: string): string {
  return [
    `--env ${environment}`,
    '--local',
    ...(args.values['state-dir'] !== undefined ? [`--state-dir ${optionalString(args, 'state-dir')}`] : []),
    ...(args.values.kubeconfig !== undefined ? [`--kubeconfig ${optionalString(args, 'kubeconfig')}`] : []),
  ].join(' ');
}

/** The way out of a refusal by the open breaker in local mode. */
function breakerHint(args: ParsedArgs, environment: string): string {
  return `When the cause is fixed, close the breaker with: guardian circuit-breaker ${localFlags(args, environment)} --reset`;
}

/** Prints a local execution's result, with the way out when a lock refused it; returns the exit code. */
async function finishLocal(
  args: ParsedArgs,
  output: Output,
  g: LocalGuardian,
  environment: string,
  result: LocalExecutionResult,
): Promise<number> {
  const stateDir = localStateDir(args);
  if (stateGone(stateDir)) {
    // One report (and, with --json, one document): the execution's end is part of the sentence.
    const end = `execution ${result.name} ended ${result.status}${result.error ? ` with ${result.error}` : ''}`;
    throw deletedStateError(stateDir, new Error(end));
  }
  const hint =
    result.error === 'LockHeldError'
      ? await lockHint(args, g, environment)
      : result.error === 'CircuitOpenError'
        ? breakerHint(args, environment)
        : undefined;
  printResult(args, output, result, hint);
  return exitCodeOf(result);
}

/** Runs `fn` with the local runner's backend (--local) or the deployed stack's in AWS. */
async function withBackend<T>(
  args: ParsedArgs,
  config: GuardianConfig,
  output: Output,
  env: EnvironmentConfig,
  fn: (b: GuardianBackend) => Promise<T>,
): Promise<T> {
  if (args.values.local === true) {
    if (args.values.kubeconfig === undefined && args.values['api-url'] === undefined) {
      // Reads are answered by the running state service when it can (see local-read.ts). Its store
      // refuses a write before anything changes, and every command prints only after its reads,
      // so falling back to the full runner never repeats or half-does anything.
      const { localReadBackend } = await import('./local-read.ts');
      const fast = await localReadBackend(localStateDir(args), config, env);
      if (fast) {
        try {
          return await fn(fast);
        } catch (err) {
          if ((err as Error).name !== 'ReadPathUnavailable') throw err;
        }
      }
    }
    return withLocal(args, config, output, (g) =>
      fn({
        store: g.store(env.name),
        now: () => g.clock.now(),
        workload: () => g.observeWorkload(env.name),
      }),
    );
  }
  for (const flag of ['kubeconfig', 'api-url', 'state-dir']) {
    if (args.values[flag] !== undefined) throw new UsageError(`--${flag} needs --local`);
  }
  const { awsGuardian } = await import('./aws.ts');
  return fn(await awsGuardian(env));
}

function printResult(args: ParsedArgs, output: Output, result: LocalExecutionResult, hint?: string): void {
  if (args.values.json === true) {
    const { events: _events, ...rest } = result;
    output.out(executionDocument(rest, exitCodeOf(result), hint ? { hint } : {}));
    return;
  }
  output.out('');
  output.out(executionSummary(result));
  if (hint) output.out(hint);
}

/**
 * Starts a Deploy or Rollback execution in AWS and prints where to watch it; with `--wait` (and
 * always for a dry run) polls it to its end and exits with its result, like a local run.
 */
async function runInAws(
  args: ParsedArgs,
  config: GuardianConfig,
  output: Output,
  env: EnvironmentConfig,
  kind: 'deploy' | 'rollback',
  input: Record<string, unknown>,
  name: string,
  alwaysWait: boolean,
): Promise<number> {
  const timeoutSeconds = optionalInt(args, 'timeout', 1, 86_400);
  const wait = alwaysWait || args.values.wait === true;
  if (timeoutSeconds !== undefined && !wait) throw new UsageError('--timeout goes with --wait');
  const backend = await withBackend(args, config, output, env, async (b) => b);
  const start = kind === 'deploy' ? backend.startDeploy : backend.startRollback;
  if (!start || !backend.waitForExecution) throw new Error('this backend cannot start executions');
  const json = args.values.json === true;
  const started = await start(input, name);
  if (!wait) {
    output.out(
      json ? jsonDocument(started) : `started ${started.executionArn}\nwatch it: ${started.consoleUrl}`,
    );
    return 0;
  }
  const limit = timeoutSeconds ?? 3600;
  const progress = json ? toStderr(output) : output;
  progress.out(`started ${started.executionArn}\nwatch it: ${started.consoleUrl}`);
  progress.out(`waiting up to ${limit} s for it to end…`);
  const end = await backend.waitForExecution(started.executionArn, limit * 1000);
  const exitCode = end.status === 'SUCCEEDED' ? 0 : exitCodeOfErrorName(end.error);
  if (json) {
    output.out(
      end.status === 'RUNNING'
        ? jsonDocument({
            ...started,
            ...end,
            error: {
              type: 'StillRunning',
              message: `${name} is still running after ${limit} s; it goes on in AWS`,
              exitCode,
            },
          })
        : executionDocument(end, exitCode, { ...started }),
    );
  } else if (end.status === 'RUNNING') {
    output.out(`${name} is still running after ${limit} s; it goes on in AWS: ${started.consoleUrl}`);
  } else if (end.status === 'SUCCEEDED') {
    output.out(`${name}: ${green('SUCCEEDED')}`);
    const out = end.output as { deployment?: { plan?: unknown }; rollback?: { plan?: unknown } } | undefined;
    const plan = out?.deployment?.plan ?? out?.rollback?.plan;
    if (Array.isArray(plan)) for (const line of plan) output.out(`  · ${printable(String(line))}`);
  } else {
    output.out(`${name}: ${red(printable(end.status))} — ${describeFailure(end.error, end.cause)}`);
  }
  return exitCode;
}

async function deploy(args: ParsedArgs, config: GuardianConfig, output: Output): Promise<number> {
  const env = await environmentOf(config, requireString(args, 'env'));
  const image = requireString(args, 'image');
  const version = optionalString(args, 'version');
  const ciRunUrl = optionalString(args, 'ci-run-url');
  const dryRun = args.values['dry-run'] === true;
  // Refused here, before anything starts, with the same rules preflight applies (exit 2).
  validateRelease(env, image, version);
  const input = {
    environment: env.name,
    image,
    ...(version ? { version } : {}),
    trigger: 'operator' as const,
    requestedBy: whoAmI(args),
    ...(ciRunUrl ? { ciRunUrl } : {}),
    dryRun,
  };
  checkInput((await import('../../lambdas/core/types.ts')).deployInputSchema, input);
  const name = deployExecutionName(env.name, releaseLabel(image, version), suffix());
  if (args.values.local !== true) return runInAws(args, config, output, env, 'deploy', input, name, dryRun);
  return withLocal(args, config, output, async (g) => {
    if (args.values.json !== true)
      output.out(bold(`Deploy ${shorten(image)} to ${env.name}${dryRun ? ' (dry run)' : ''}`));
    const result = await g.deploy(input, name);
    const code = await finishLocal(args, output, g, env.name, result);
    if (args.values.json !== true && result.status === 'SUCCEEDED' && dryRun) {
      output.out('dry run: nothing was changed (no lock taken, no record written, cluster untouched)');
    }
    return code;
  });
}

async function rollback(args: ParsedArgs, config: GuardianConfig, output: Output): Promise<number> {
  const env = await environmentOf(config, requireString(args, 'env'));
  const revision = optionalInt(args, 'revision', 1, 2_147_483_647);
  const force = args.values.force === true;
  if (force && revision === undefined) {
    throw new UsageError(
      '--force goes with --revision N: it restores a named revision whose release the guardian rolled back; without --revision a rollback goes to the last known-good release',
      'rollback',
    );
  }
  const annotate = optionalString(args, 'annotate');
  const input = {
    environment: env.name,
    ...(revision ? { revision } : {}),
    ...(force ? { force } : {}),
    reason: annotate ?? `operator rollback requested by ${whoAmI(args)}`,
    ...(annotate ? { annotate } : {}),
    trigger: 'operator' as const,
    requestedBy: whoAmI(args),
  };
  checkInput((await import('../../lambdas/core/types.ts')).rollbackInputSchema, input);
  const name = rollbackExecutionName(env.name, suffix());
  if (args.values.local !== true) return runInAws(args, config, output, env, 'rollback', input, name, false);
  return withLocal(args, config, output, async (g) => {
    if (args.values.json !== true) {
      // What exactly is restored, and why, is the "Prepare rollback" line (its plan) below.
      output.out(
        bold(
          `Roll back ${env.name} to ${revision ? `revision ${revision}${force ? ' (--force)' : ''}` : 'its last known-good release'}`,
        ),
      );
    }
    const result = await g.rollback(input, name);
    return finishLocal(args, output, g, env.name, result);
  });
}

async function status(args: ParsedArgs, config: GuardianConfig, output: Output): Promise<number> {
  const env = await environmentOf(config, requireString(args, 'env'));
  return withBackend(args, config, output, env, async (b) => {
    const now = b.now();
    const [lock, breaker, freezes, records, workload] = await Promise.all([
      b.store.getLock(env.name),
      b.store.getBreaker(env.name),
      b.store.listFreezes(env.name),
      b.store.listRecords(env.name, 1),
      // A workload that cannot be read is shown as such; a read path that cannot answer is retried in full.
      b.workload
        ? b.workload().catch((err: Error) => (err.name === 'ReadPathUnavailable' ? Promise.reject(err) : err))
        : Promise.resolve(undefined),
    ]);
    const last = records[0];
    if (args.values.json === true) {
      output.out(
        jsonDocument({
          environment: env.name,
          lock: lock ?? null,
          breaker,
          freezes,
          last: last ?? null,
          workload: workload instanceof Error ? { error: workload.message } : (workload ?? null),
        }),
      );
      return 0;
    }
    const where =
      env.platform === 'ecs'
        ? `service ${env.workload} in ECS cluster ${env.cluster}`
        : `${env.workload} in ${env.cluster}/${env.namespace}`;
    output.out(bold(`${env.name}: ${where} (${env.platform})`));
    if (workload instanceof Error)
      output.out(`  workload:        ${red(`cannot read: ${printable(workload.message)}`)}`);
    else if (workload) {
      const r = workload.replicas;
      output.out(`  image:           ${printable(workload.image)} (revision ${workload.revision})`);
      output.out(`  rollout:         ${workload.rollout.phase}: ${printable(workload.rollout.message)}`);
      output.out(`  replicas:        ${r.available}/${r.desired} available, ${r.updated} updated`);
      // Blue-green (issue 11): what each Service serves.
      const bg = workload.blueGreen;
      if (bg) {
        const side = (v: { revision: number; image: string } | undefined) =>
          v ? `revision ${v.revision} ${printable(v.image)}` : '-';
        output.out(`  active:          ${printable(bg.activeService)} → ${side(bg.stable)}`);
        output.out(
          `  preview:         ${printable(bg.previewService ?? '(none)')} → ${side(bg.preview ?? (bg.stage === 'stable' ? bg.stable : undefined))} (${bg.stage})`,
        );
      }
    }
    output.out(`  lock:            ${formatLock(lock, now)}`);
    output.out(
      `  circuit breaker: ${formatBreaker(breaker, env.thresholds.consecutive_failures_for_rollback)}`,
    );
    const activeWindows = env.changeFreezes.filter((w) => Date.parse(w.end) > now.getTime());
    for (const w of activeWindows)
      output.out(`  freeze window:   ${printable(`${w.name} ${w.start} → ${w.end}: ${w.reason}`)}`);
    for (const f of freezes)
      output.out(
        `  ad-hoc freeze:   ${printable(`${f.id} ${f.start} → ${f.end}: ${f.reason} (by ${f.createdBy})`)}`,
      );
    output.out(`  last:            ${last ? describeRecord(last) : 'no deployments recorded yet'}`);
    // Why the last release was promoted or rolled back, metric by metric (issue 9).
    if (last?.backup) output.out(`  ${formatBackup(last.backup)}`);
    if (last?.canary) for (const line of formatCanary(last.canary)) output.out(`  ${line}`);
    return 0;
  });
}

async function history(args: ParsedArgs, config: GuardianConfig, output: Output): Promise<number> {
  const env = await environmentOf(config, requireString(args, 'env'));
  const limit = optionalInt(args, 'limit', 1, 500) ?? 20;
  return withBackend(args, config, output, env, async (b) => {
    const records = await b.store.listRecords(env.name, limit);
    if (args.values.json === true) output.out(jsonDocument(records));
    else for (const line of formatRecords(records)) output.out(line);
    return 0;
  });
}

async function circuitBreaker(args: ParsedArgs, config: GuardianConfig, output: Output): Promise<number> {
  const env = await environmentOf(config, requireString(args, 'env'));
  const threshold = env.thresholds.consecutive_failures_for_rollback;
  return withBackend(args, config, output, env, async (b) => {
    const state: BreakerState =
      args.values.reset === true
        ? await b.store.updateBreaker(env.name, () => breakerReset(env.name, whoAmI(args), b.now()))
        : await b.store.getBreaker(env.name);
    if (args.values.json === true) output.out(jsonDocument(state));
    else output.out(`${env.name} circuit breaker: ${formatBreaker(state, threshold)}`);
    return 0;
  });
}

async function lock(args: ParsedArgs, config: GuardianConfig, output: Output): Promise<number> {
  const env = await environmentOf(config, requireString(args, 'env'));
  const holder = optionalString(args, 'holder');
  if (args.values.release === true && !holder) {
    throw new UsageError(
      '--release needs --holder ID: name the holder you mean to remove, as `guardian lock` shows it',
    );
  }
  if (holder && args.values.release !== true) throw new UsageError('--holder goes with --release');
  return withBackend(args, config, output, env, async (b) => {
    const current = await b.store.getLock(env.name);
    if (args.values.release === true && holder) {
      // Conditional on the holder: a lock taken meanwhile by someone else is never removed.
      const released = await b.store.releaseLock(env.name, holder);
      if (!released) {
        throw new CommandRefusedError(
          `${env.name} is not locked by ${quote(holder)} (lock: ${formatLock(current, b.now())}); nothing released`,
          'LockNotHeld',
          { lock: current ?? null },
        );
      }
      output.out(
        args.values.json === true
          ? jsonDocument({ environment: env.name, released: true, holder })
          : `released the ${env.name} lock held by ${printable(holder)}`,
      );
      return 0;
    }
    if (args.values.json === true) output.out(jsonDocument(current ?? null));
    else output.out(`${env.name} lock: ${formatLock(current, b.now())}`);
    return 0;
  });
}

async function freeze(args: ParsedArgs, config: GuardianConfig, output: Output): Promise<number> {
  const env = await environmentOf(config, requireString(args, 'env'));
  const until = optionalString(args, 'until');
  const lift = optionalString(args, 'lift');
  const reason = optionalString(args, 'reason');
  if (until && lift)
    throw new UsageError('use either --until (start a freeze) or --lift (remove one), not both');
  if (until && !reason)
    throw new UsageError('--reason is required with --until: it is shown to whoever is refused');
  if (!until && (reason || args.values.from !== undefined))
    throw new UsageError('--reason and --from go with --until');
  // Malformed times are refused before the runner starts; the real ones are taken from its clock.
  for (const flag of ['until', 'from']) {
    const value = optionalString(args, flag);
    if (value) parseTime(value, flag, new Date());
  }
  return withBackend(args, config, output, env, async (b) => {
    const now = b.now();
    if (lift) {
      const removed = await b.store.deleteFreeze(env.name, lift);
      if (!removed) throw new NotFoundError(`no ad-hoc freeze ${quote(lift)} in ${env.name}`);
      output.out(
        args.values.json === true
          ? jsonDocument({ environment: env.name, lifted: lift })
          : `lifted freeze ${printable(lift)} in ${env.name}`,
      );
      return 0;
    }
    if (until && reason) {
      const from = optionalString(args, 'from');
      const start = from ? parseTime(from, 'from', now) : now;
      const end = parseTime(until, 'until', now);
      if (end.getTime() <= start.getTime())
        throw new UsageError(
          `--until (${end.toISOString()}) must be after the start (${start.toISOString()})`,
        );
      const id = `freeze-${randomBytes(3).toString('hex')}`;
      const item = {
        environment: env.name,
        id,
        start: start.toISOString(),
        end: end.toISOString(),
        reason,
        createdBy: whoAmI(args),
      };
      await b.store.putFreeze(item);
      output.out(
        args.values.json === true
          ? jsonDocument(item)
          : `froze ${env.name} from ${item.start} until ${item.end} (${id}): ${printable(reason)}`,
      );
      return 0;
    }
    const freezes = await b.store.listFreezes(env.name);
    if (args.values.json === true) output.out(jsonDocument({ windows: env.changeFreezes, adHoc: freezes }));
    else {
      for (const w of env.changeFreezes)
        output.out(printable(`window  ${w.name}  ${w.start} → ${w.end}  ${w.reason}`));
      for (const f of freezes)
        output.out(printable(`ad-hoc  ${f.id}  ${f.start} → ${f.end}  ${f.reason} (by ${f.createdBy})`));
      if (env.changeFreezes.length + freezes.length === 0) output.out(`no change freezes for ${env.name}`);
    }
    return 0;
  });
}

const HANDLERS: Record<
  CommandName,
  (args: ParsedArgs, config: GuardianConfig, output: Output) => Promise<number>
> = {
  demo: async (args, config, output) =>
    (await import('./demo.ts')).runDemo(config, output, { json: args.values.json === true }),
  deploy,
  rollback,
  status,
  history,
  'circuit-breaker': circuitBreaker,
  freeze,
  lock,
  alarm: alarmReplay,
  incidents,
  ack,
  canary: async (args, config, output) =>
    (await import('./canary-ops.ts')).canaryCommand(args, config, output, {
      environmentOf,
      withLocal,
      whoAmI,
    }),
  health: async (args, config, output) =>
    (await import('./health.ts')).healthCommand(args, config, output, withLocal),
  backup: async (args, config, output) =>
    (await import('./backup.ts')).backupCommand(args, config, output, { environmentOf, withLocal, whoAmI }),
  argo: async (args, config, output) =>
    (await import('./argo.ts')).argoCommand(args, config, output, { environmentOf, withLocal }),
};

/** `guardian alarm replay FILE`: the real alarm handler on a saved event; its decision, and what it started. */
async function alarmReplay(args: ParsedArgs, config: GuardianConfig, output: Output): Promise<number> {
  const file = args.positionals?.FILE as string;
  const event = readJsonInput(file, 'alarm', '; save the EventBridge event as it was delivered');
  const [{ parseAlarmEvent }, decision] = await Promise.all([
    import('../../lambdas/core/alarm-event.ts'),
    import('../../lambdas/core/alarm-decision.ts'),
  ]);
  const parsed = parseAlarmEvent(event);
  if (!parsed.ok && parsed.kind === 'malformed') {
    throw new UsageError(
      `${quote(shorten(file, 200))} is not a valid alarm state change event: ${parsed.problems.join('; ')}`,
      'alarm',
    );
  }
  const json = args.values.json === true;
  const print = (result: AlarmHandlerResult, extra: Record<string, unknown> = {}) => {
    if (json) {
      output.out(jsonDocument({ ...result, ...extra }));
      return;
    }
    const what = result.action === 'ignore' ? result.action : bold(result.action);
    output.out(
      `${what}  ${printable(result.environment ?? '-')}  ${printable(result.alarm || '-')} ${result.state ?? ''}`.trimEnd(),
    );
    output.out(`  ${printable(result.message)}`);
  };
  if (args.values.local === true) {
    return withLocal(
      args,
      config,
      output,
      async (g) => {
        const result = await g.handleAlarmEvent(event);
        if (!json) print(result);
        const runs = [
          ...(await g.settle({ escalations: 'until-waiting' })),
          ...(await g.runDeferredEscalations()),
        ];
        const executions = runs.map((r) => ({
          name: r.name,
          status: r.status,
          ...(r.error ? { error: r.error } : {}),
        }));
        if (json) print(result, { executions });
        else {
          for (const r of runs) {
            const escalation = r.name === result.incidentId;
            output.out(
              escalation
                ? `  escalation ${r.name}: the first level was paged; locally the chain ends with this command, the incident stays open (guardian ack ${r.name} --local)`
                : `  ${executionSummary(r)}`,
            );
          }
        }
        const rollback = runs.find((r) => r.name !== result.incidentId);
        return rollback ? exitCodeOf(rollback) : 0;
      },
      // An escalation waits for people: it must not run its levels out on the simulated clock.
      { advanceWhenIdle: false, deferEscalations: true },
    );
  }
  for (const flag of ['kubeconfig', 'api-url', 'state-dir']) {
    if (args.values[flag] !== undefined) throw new UsageError(`--${flag} needs --local`, 'alarm');
  }
  if (!parsed.ok) {
    print({ action: 'ignore', alarm: '', reason: parsed.message, message: parsed.message });
    return 0;
  }
  const environments = Object.values(config.environments).map((e) => decision.alarmEnvironmentOf(e));
  const resolution = decision.resolveAlarm(parsed.event, environments);
  if (!resolution.resolved) {
    // No environment's rule delivers it to a handler: the decision is the same everywhere.
    print({
      action: 'ignore',
      alarm: parsed.event.alarmName,
      state: parsed.event.state.value,
      eventId: parsed.event.id,
      reason: resolution.reason,
      message: resolution.reason,
    });
    return 0;
  }
  const env = await environmentOf(config, resolution.environment);
  const { awsGuardian } = await import('./aws.ts');
  const backend = await awsGuardian(env);
  if (!backend.invokeAlarmHandler) throw new Error('this backend cannot invoke the alarm handler');
  print(await backend.invokeAlarmHandler(event));
  return 0;
}

/** `guardian incidents --env E`: the environment's incidents, newest first. */
async function incidents(args: ParsedArgs, config: GuardianConfig, output: Output): Promise<number> {
  const env = await environmentOf(config, requireString(args, 'env'));
  const limit = optionalInt(args, 'limit', 1, 200) ?? 20;
  return withBackend(args, config, output, env, async (b) => {
    const list = await b.store.listIncidents(env.name, limit);
    if (args.values.json === true) {
      output.out(jsonDocument(list));
      return 0;
    }
    if (list.length === 0) output.out(`no incidents in ${env.name}`);
    for (const i of list) {
      const level =
        i.levelReached === undefined
          ? 'not paged yet'
          : `paged ${i.levelContact ?? '?'} (level ${i.levelReached + 1}) at ${i.levelReachedAt ?? '?'}`;
      const who =
        i.status === 'acknowledged'
          ? ` by ${i.acknowledgedBy ?? '?'} at ${i.acknowledgedAt ?? '?'}`
          : i.status === 'resolved'
            ? ` by ${i.resolvedBy ?? '?'} at ${i.resolvedAt ?? '?'}`
            : '';
      output.out(printable(`${i.id}  ${i.priority}  ${i.status}${who}`));
      output.out(printable(`  ${i.summary}`));
      output.out(printable(`  opened ${i.openedAt}; ${level}`));
    }
    return 0;
  });
}

/** `guardian ack INCIDENT`: acknowledges it; its escalation stops and the channels are told. */
async function ack(args: ParsedArgs, config: GuardianConfig, output: Output): Promise<number> {
  const id = args.positionals?.INCIDENT as string;
  const { INCIDENT_ID_RE } = await import('../../lambdas/core/incident-schema.ts');
  const match = INCIDENT_ID_RE.exec(id);
  if (!match) {
    throw new UsageError(
      `${quote(shorten(id, 100))} is not an incident id (<environment>-<yyyymmddThhmmssZ>-<8 hex>, from \`guardian incidents --env ENV\`)`,
      'ack',
    );
  }
  const env = await environmentOf(config, match[1] as string);
  const actor = { by: whoAmI(args) };
  const done = async (result: {
    changed: boolean;
    message: string;
    chainEnded: boolean;
    incident: unknown;
  }) => {
    if (args.values.json === true) output.out(jsonDocument(result));
    else {
      output.out(printable(result.message));
      if (result.changed && !result.chainEnded)
        output.out('(its escalation was not waiting: no further level would be paged)');
    }
    return 0;
  };
  if (args.values.local === true) {
    return withLocal(args, config, output, async (g) => {
      try {
        return await done(await g.acknowledge(env.name, id, actor));
      } catch (err) {
        if (err instanceof NotFoundError) throw new CommandRefusedError(err.message, 'IncidentNotFound');
        throw err;
      }
    });
  }
  for (const flag of ['kubeconfig', 'api-url', 'state-dir']) {
    if (args.values[flag] !== undefined) throw new UsageError(`--${flag} needs --local`, 'ack');
  }
  const { awsGuardian } = await import('./aws.ts');
  const backend = await awsGuardian(env);
  if (!backend.acknowledge) throw new Error('this backend cannot acknowledge incidents');
  try {
    return await done(await backend.acknowledge(env.name, id, actor));
  } catch (err) {
    if (err instanceof NotFoundError) throw new CommandRefusedError(err.message, 'IncidentNotFound');
    throw err;
  }
}

/** Runs the CLI and returns the exit code. With `--json`, stdout gets exactly one JSON document. */
export async function runCli(argv: readonly string[], output: Output = processOutput): Promise<number> {
  const json = jsonRequested(argv);
  let command: CommandName | undefined;
  try {
    const args = parseCommandLine(argv);
    if (args.command === 'help') {
      output.out(json ? jsonDocument({ usage: usage() }) : usage());
      return 0;
    }
    command = args.command;
    if (args.values.help === true) {
      output.out(json ? jsonDocument({ usage: usage(command) }) : usage(command));
      return 0;
    }
    if (args.values.local === true) checkLocalOptions(args);
    const { loadConfigCached } = await import('../config/cached.ts');
    const config = await loadConfigCached(optionalString(args, 'config-dir'));
    return await HANDLERS[command](args, config, output);
  } catch (err) {
    return reportError(err, output, json, command);
  }
}
