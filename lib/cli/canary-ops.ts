/**
 * `guardian canary run|approve|reject` (issue 9). `run` is the runbook's `canary-analysis.sh
 * --namespace production --duration 300`: the release the environment runs now, watched for the
 * duration and judged every interval against its baseline (the one its deployment recorded, or
 * the same length of time before that deployment, read from a provider with history); it ends
 * early on a fail. `approve` / `reject` decide on a release an inconclusive analysis holds.
 * Exit codes: 0 pass / decided, 1 fail, marginal, inconclusive or refused, 2 bad usage.
 */
import {
  addScrape,
  bounded,
  canaryRecordOf,
  type PhaseState,
  releaseOf,
  roundsOf,
} from '../../lambdas/core/canary-phase.ts';
import { analyseCanary, type CanaryVerdict, seedLimits } from '../../lambdas/core/judge/canary.ts';
import type { IntervalSample, MetricsSource } from '../../lambdas/core/measurements.ts';
import type { Store } from '../../lambdas/core/ports.ts';
import { printable } from '../../lambdas/core/text.ts';
import type { DeploymentRecord } from '../../lambdas/core/types.ts';
import type { HoldDecisionResult } from '../../lambdas/shared/hold.ts';
import type { EnvironmentConfig, GuardianConfig } from '../config/schema.ts';
import {
  optionalInt,
  optionalString,
  type ParsedArgs,
  refuseForeignOptions,
  requireString,
  UsageError,
} from './args.ts';
import type { CommandContext } from './command-context.ts';
import { bold, dim, formatCanary, jsonDocument, type Output } from './format.ts';
import { CommandRefusedError } from './report.ts';

/** What the canary commands borrow from commands.ts. */
export type CanaryCommandContext = CommandContext;

/** Options each subcommand accepts (besides --json, --help, --config-dir). */
const ACCEPTS: Record<string, readonly string[]> = {
  judge: ['input'],
  run: ['env', 'duration', 'local', 'state-dir'],
  approve: ['env', 'reason', 'requested-by', 'local', 'state-dir'],
  reject: ['env', 'reason', 'requested-by', 'local', 'state-dir'],
};

/** `guardian canary SUBCOMMAND`: refuses an option the subcommand does not take, then runs it. */
export async function canaryCommand(
  args: ParsedArgs,
  config: GuardianConfig,
  output: Output,
  ctx: CanaryCommandContext,
): Promise<number> {
  const sub = args.positionals?.SUBCOMMAND ?? '';
  refuseForeignOptions(args, 'canary', sub, ACCEPTS);
  if (sub === 'judge') return (await import('./canary.ts')).canaryJudge(args, output);
  if (sub === 'run') return canaryRun(args, config, output, ctx);
  return holdDecision(sub === 'approve' ? 'approve' : 'reject', args, config, output, ctx);
}

async function holdDecision(
  decision: 'approve' | 'reject',
  args: ParsedArgs,
  config: GuardianConfig,
  output: Output,
  ctx: CanaryCommandContext,
): Promise<number> {
  const env = await ctx.environmentOf(config, requireString(args, 'env'));
  const by = ctx.whoAmI(args);
  const reason = optionalString(args, 'reason');
  const done = (r: HoldDecisionResult): number => {
    if (!r.decided)
      throw new CommandRefusedError(
        r.message,
        'NotHeld',
        r.deploymentId ? { deploymentId: r.deploymentId } : {},
      );
    if (args.values.json === true) output.out(jsonDocument({ environment: env.name, decision, ...r }));
    else output.out(printable(r.message));
    return 0;
  };
  if (args.values.local === true) {
    return ctx.withLocal(args, config, output, async (g) =>
      done(await g.decideHold(env.name, decision, by, reason)),
    );
  }
  if (args.values['state-dir'] !== undefined) throw new UsageError('--state-dir needs --local', 'canary');
  const { awsGuardian } = await import('./aws.ts');
  const backend = await awsGuardian(env);
  if (!backend.decideHold) throw new Error('this backend cannot decide on held releases');
  return done(await backend.decideHold(env.name, decision, by, reason));
}

/** Where `canary run` reads metrics and time. */
interface RunBackend {
  readonly store: Store;
  readonly metrics: MetricsSource;
  now(): Date;
  /** Waits `seconds` (real time in AWS; the simulated clock locally). */
  sleep(seconds: number): Promise<void>;
}

/** The release running now: the newest succeeded deployment. */
function currentRelease(records: readonly DeploymentRecord[]): DeploymentRecord | undefined {
  return records.find((r) => r.kind === 'deploy' && r.status === 'succeeded');
}

async function baselineOf(
  env: EnvironmentConfig,
  b: RunBackend,
  release: DeploymentRecord,
  durationSeconds: number,
  interval: number,
): Promise<{ samples: IntervalSample[]; from: string }> {
  const kept = release.canary?.samples?.baseline;
  if (kept && kept.length > 0) {
    return {
      samples: [...kept],
      from: `the baseline deployment ${release.id} recorded (${kept.length} intervals)`,
    };
  }
  if (b.metrics.kind !== 'history') {
    throw new CommandRefusedError(
      `deployment ${release.id} recorded no baseline and ${env.name}'s metrics provider (${env.metrics.provider}) keeps no history to read one from; configure prometheus or cloudwatch, or deploy with a canary analysis`,
      'NoBaseline',
    );
  }
  const end = new Date(release.startedAt);
  const start = new Date(end.getTime() - durationSeconds * 1000);
  const before = releaseOf(release.rollbackPoint.image);
  const samples = await b.metrics.samples({ release: before, start, end, stepSeconds: interval });
  return { samples, from: `${before.version} in the ${durationSeconds} s before deployment ${release.id}` };
}

async function canaryRun(
  args: ParsedArgs,
  config: GuardianConfig,
  output: Output,
  ctx: CanaryCommandContext,
): Promise<number> {
  const env = await ctx.environmentOf(config, requireString(args, 'env'));
  const duration = optionalInt(args, 'duration', 30, 86_400) ?? env.canary?.durationSeconds ?? 300;
  const json = args.values.json === true;
  const progress = (line: string) => (json ? output.err(line) : output.out(line));
  const run = async (b: RunBackend): Promise<number> => {
    const { canarySchema } = await import('../config/canary-schema.ts');
    // The environment's judge settings, or the defaults; the duration is the one asked for.
    const canary = canarySchema.parse({
      ...(env.canary ?? {}),
      durationSeconds: duration,
      intervalSeconds: Math.min(env.canary?.intervalSeconds ?? 30, duration),
    });
    const interval = canary.intervalSeconds;
    const release = currentRelease(await b.store.listRecords(env.name, 50));
    if (!release) {
      throw new CommandRefusedError(
        `no succeeded deployment is recorded in ${env.name}: nothing to compare a baseline with`,
        'NoRelease',
      );
    }
    const baseline = await baselineOf(env, b, release, duration, interval);
    const selector = releaseOf(release.image, release.version);
    const rounds = roundsOf(duration, interval);
    progress(
      bold(`Canary analysis of ${selector.version} in ${env.name}: ${rounds} rounds of ${interval} s`),
    );
    progress(dim(`baseline: ${baseline.from}`));
    let state: PhaseState = { startedAt: b.now().toISOString(), round: 0, rounds, samples: [] };
    if (b.metrics.kind === 'scrape')
      state = { ...addScrape(state, await b.metrics.scrape(selector)), round: 0 };
    let verdict: CanaryVerdict | undefined;
    for (let round = 1; round <= rounds; round++) {
      await b.sleep(interval);
      const now = b.now();
      if (b.metrics.kind === 'scrape') state = addScrape(state, await b.metrics.scrape(selector));
      else {
        const samples = await b.metrics.samples({
          release: selector,
          start: new Date(state.startedAt),
          end: now,
          stepSeconds: interval,
        });
        state = { ...state, round, samples: bounded(samples) };
      }
      const elapsedSeconds = (now.getTime() - Date.parse(state.startedAt)) / 1000;
      verdict = analyseCanary(
        baseline.samples,
        state.samples,
        { config: canary, limits: seedLimits(env.thresholds) },
        {
          elapsedSeconds,
          final: round >= rounds,
        },
      );
      progress(`  round ${round} of ${rounds}: ${verdict.outcome} — ${printable(verdict.reason)}`);
      if (verdict.outcome !== 'continue') break;
    }
    if (!verdict) throw new Error('the analysis ran no round');
    const record = canaryRecordOf(verdict, {
      round: state.round,
      rounds,
      at: b.now().toISOString(),
      baseline: baseline.samples,
      canary: state.samples,
    });
    if (json) output.out(jsonDocument({ environment: env.name, release: selector, ...record, verdict }));
    else for (const line of formatCanary(record)) output.out(line);
    return verdict.outcome === 'pass' ? 0 : 1;
  };
  if (args.values.local === true) {
    return ctx.withLocal(args, config, output, async (g) => {
      const clock = g.clock as { advance?: (s: number) => void };
      return run({
        store: g.store(env.name),
        metrics: await g.measurements(env.name),
        now: () => g.clock.now(),
        sleep: async (s) => {
          if (clock.advance) clock.advance(s);
          else await new Promise((resolve) => setTimeout(resolve, s * 1000));
        },
      });
    });
  }
  if (args.values['state-dir'] !== undefined) throw new UsageError('--state-dir needs --local', 'canary');
  const [{ awsGuardian }, { resolvePort }, { systemClock }] = await Promise.all([
    import('./aws.ts'),
    import('../../lambdas/ports/table.ts'),
    import('../../lambdas/core/ports.ts'),
  ]);
  const backend = await awsGuardian(env);
  const metrics = (await resolvePort('measurements', env).aws({
    config: env,
    vars: {},
    clock: systemClock,
  })) as MetricsSource;
  return run({
    store: backend.store,
    metrics,
    now: () => new Date(),
    sleep: (s) => new Promise((resolve) => setTimeout(resolve, s * 1000)),
  });
}
