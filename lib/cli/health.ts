/**
 * `guardian health --env E [--api-url U] [--local] [--json]`: the enhanced health check once, on
 * its own (the runbook's `enhanced-health-check.sh --api-url … --environment …`). The same run as
 * the Deploy workflow's health-check step (lambdas/health-check/run.ts): every endpoint, JSON
 * field, dependency and pool, and the release's pod startup times where a cluster is at hand —
 * the environment's EKS cluster with the operator's AWS credentials, or with --local the embedded
 * simulator (or --kubeconfig's cluster). With --api-url alone there is no cluster: the startup
 * check is skipped and says so. Exit 0 healthy, 1 unhealthy, 2 bad usage or config.
 */
import type { HealthEvaluation } from '../../lambdas/core/health.ts';
import { printable, quote } from '../../lambdas/core/text.ts';
import { runHealthCheck, type StartupSource } from '../../lambdas/health-check/run.ts';
import type { EnvironmentConfig, GuardianConfig } from '../config/schema.ts';
import { optionalString, type ParsedArgs, requireString, UsageError } from './args.ts';
import { awsWorkload } from './aws-workload.ts';
import type { WithLocal } from './command-context.ts';
import { bold, dim, green, jsonDocument, type Output, red } from './format.ts';

export type { WithLocal } from './command-context.ts';

/** Why the startup check is skipped when only an API URL is given. */
export const NO_CLUSTER_REASON =
  '--api-url names an API, not a cluster, so pod startup times were not read (run without --api-url to read them from the environment cluster, or with --local)';

/** An http(s) URL, or a UsageError naming --api-url. */
function apiUrlOption(args: ParsedArgs): string | undefined {
  const url = optionalString(args, 'api-url');
  if (url !== undefined && !(URL.canParse(url) && /^https?:$/.test(new URL(url).protocol))) {
    throw new UsageError(
      `--api-url ${quote(url)} is not an http(s) URL, e.g. https://api-staging.example.com`,
      'health',
    );
  }
  return url;
}

/** Prints the result (text or the one JSON document) and returns the exit code. */
function report(
  args: ParsedArgs,
  output: Output,
  env: EnvironmentConfig,
  apiUrl: string,
  health: HealthEvaluation,
  checkedAt: Date,
): number {
  if (args.values.json === true) {
    output.out(
      jsonDocument({
        environment: env.name,
        apiUrl,
        checkedAt: checkedAt.toISOString(),
        healthy: health.healthy,
        checks: health.checks,
        summary: health.summary,
      }),
    );
  } else {
    output.out(bold(`Enhanced health check of ${env.name} (${printable(apiUrl)})`));
    for (const c of health.checks) {
      const mark = c.ok ? green('✓') : c.skipped ? dim('–') : red('✗');
      output.out(`  ${mark} ${printable(c.name)}: ${printable(c.detail)}`);
    }
    output.out(health.healthy ? green(`healthy: ${health.summary}`) : red(`UNHEALTHY: ${health.summary}`));
  }
  return health.healthy ? 0 : 1;
}

/** `guardian health`: the enhanced health check once; exit 0 healthy, 1 unhealthy. */
export async function healthCommand(
  args: ParsedArgs,
  config: GuardianConfig,
  output: Output,
  withLocal: WithLocal,
): Promise<number> {
  const { environmentOf } = await import('../config/load.ts');
  const env = environmentOf(config, requireString(args, 'env'));
  if (args.values.local === true) {
    return withLocal(args, config, output, async (g) => {
      const apiUrl = await g.healthApiUrl(env.name);
      const workload = await g.workload(env.name);
      const { health } = await runHealthCheck({
        apiUrl,
        healthCheck: env.healthCheck,
        http: (await import('../../lambdas/adapters/http.ts')).httpGet,
        startup: { read: () => workload.podStartup() },
        now: () => g.clock.now(),
      });
      return report(args, output, env, apiUrl, health, g.clock.now());
    });
  }
  for (const flag of ['kubeconfig', 'state-dir']) {
    if (args.values[flag] !== undefined) throw new UsageError(`--${flag} needs --local`, 'health');
  }
  const given = apiUrlOption(args);
  const apiUrl = given ?? env.apiUrl;
  const startup: StartupSource = given
    ? { skip: NO_CLUSTER_REASON }
    : { read: async () => (await awsWorkload(env)).podStartup() };
  const { health } = await runHealthCheck({
    apiUrl,
    healthCheck: env.healthCheck,
    http: (await import('../../lambdas/adapters/http.ts')).httpGet,
    startup,
    now: () => new Date(),
  });
  return report(args, output, env, apiUrl, health, new Date());
}
