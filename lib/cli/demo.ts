/**
 * `guardian demo` (what `npm start` runs): the whole guardian, here, on a fresh state of its
 * own. A good release to staging succeeds; a bad one fails its health check and is rolled back
 * automatically. Exits 0 only if everything behaved as the runbook says it should.
 */
import { randomBytes } from 'node:crypto';
import { deployExecutionName } from '../../lambdas/core/naming.ts';
import { environmentOf } from '../config/load.ts';
import type { GuardianConfig } from '../config/schema.ts';
import { LocalGuardian } from '../local/guardian.ts';
import {
  bold,
  dim,
  executionSummary,
  formatBreaker,
  green,
  jsonDocument,
  type Output,
  progressPrinter,
  red,
  toStderr,
} from './format.ts';

/** One expectation the demo checks, and whether it held. */
interface Check {
  readonly what: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** The environment it deploys to. @default 'staging' */
  readonly environment?: string;
  /** Print progress on stderr and one JSON document (the checks) on stdout. @default false */
  readonly json?: boolean;
}

/** Runs the demo; returns the exit code. */
export async function runDemo(
  config: GuardianConfig,
  stdout: Output,
  options: DemoOptions = {},
): Promise<number> {
  const env = environmentOf(config, options.environment ?? 'staging');
  const output = options.json ? toStderr(stdout) : stdout;
  const stable = `${env.image}:v1.4.2`;
  const good = `${env.image}:v1.5.0`;
  const bad = `${env.image}:v1.6.0-bad`;
  const started = performance.now();
  output.out(bold('Deployment Guardian demo'));
  output.out(
    dim(
      `Local runner: the synthesized ${env.name} state machines, real step handlers, dynalite, the embedded cluster simulator\n` +
        `and a demo API whose health follows the deployed image. Waits run on a simulated clock.`,
    ),
  );
  const guardian = await LocalGuardian.start({
    config,
    seedImages: { [env.name]: stable },
    onEvent: progressPrinter(output),
  });
  const checks: Check[] = [];
  const check = (what: string, ok: boolean, detail: string) => checks.push({ what, ok, detail });
  try {
    const workload = await guardian.workload(env.name);
    const imageNow = async () => (await workload.observe()).image;

    output.out('');
    output.out(bold(`1. Deploy a good release: ${good}`));
    const first = await guardian.deploy(
      { environment: env.name, image: good, trigger: 'operator', requestedBy: 'demo' },
      deployExecutionName(env.name, 'v1.5.0', randomBytes(4).toString('hex')),
    );
    output.out(executionSummary(first));
    check('good release succeeded', first.status === 'SUCCEEDED', first.status);
    const afterGood = await imageNow();
    check('cluster runs the good release', afterGood === good, `${afterGood}`);

    output.out('');
    output.out(bold(`2. Deploy a bad release: ${bad} (its API answers /health with 503)`));
    const second = await guardian.deploy(
      { environment: env.name, image: bad, trigger: 'operator', requestedBy: 'demo' },
      deployExecutionName(env.name, 'v1.6.0-bad', randomBytes(4).toString('hex')),
    );
    output.out(executionSummary(second));
    check(
      'bad release failed and was rolled back',
      second.status === 'FAILED' && second.error === 'DeploymentRolledBack',
      `${second.status} ${second.error ?? ''}`,
    );
    const afterBad = await imageNow();
    check('cluster is back on the good release', afterBad === good, `${afterBad}`);

    const store = guardian.store(env.name);
    const records = await store.listRecords(env.name, 10);
    const badRecord = records.find((r) => r.kind === 'deploy' && r.image === bad);
    check(
      'bad deployment recorded as rolled back',
      badRecord?.status === 'rolled-back',
      `${badRecord?.status}`,
    );
    const rollbackRecord = records.find((r) => r.kind === 'rollback');
    check(
      'rollback recorded with its reason',
      rollbackRecord?.status === 'rolled-back' && Boolean(rollbackRecord.reason),
      `${rollbackRecord?.status}: ${rollbackRecord?.reason ?? ''}`,
    );
    const lock = await store.getLock(env.name);
    check('environment lock released', lock === undefined, lock ? `held by ${lock.holder}` : 'free');
    const breaker = await store.getBreaker(env.name);
    check(
      'circuit breaker counted the failure',
      breaker.consecutiveFailures === 1,
      formatBreaker(breaker, env.thresholds.consecutive_failures_for_rollback),
    );
  } finally {
    await guardian.close();
  }

  output.out('');
  output.out(bold('Summary'));
  for (const c of checks) output.out(`  ${c.ok ? green('✓') : red('✗')} ${c.what} ${dim(`(${c.detail})`)}`);
  const failed = checks.filter((c) => !c.ok).length;
  const took = ((performance.now() - started) / 1000).toFixed(1);
  output.out(
    failed === 0
      ? green(`demo passed: ${checks.length} checks in ${took} s`)
      : red(`demo FAILED: ${failed} of ${checks.length} checks did not hold (${took} s)`),
  );
  if (options.json) stdout.out(jsonDocument({ passed: failed === 0, checks, seconds: Number(took) }));
  return failed === 0 ? 0 : 1;
}
