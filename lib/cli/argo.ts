/**
 * `guardian argo status|promote|abort|pause|resume --env E` (issue 11): the runbook's
 * `rollback.sh argo-status | k8s-argo-promote | k8s-argo-abort | k8s-argo-pause` on the
 * environment's blue-green Rollout, through the same Workload adapter the workflows use
 * (lambdas/adapters/argo-workload.ts): the plugin's patches, each refused with a sentence when the
 * Rollout's state does not allow it (nothing to promote or abort, a preview not ready, a Rollout
 * paused by someone). `abort` keeps the desired template on the aborted release, as the plugin
 * does; `guardian rollback` puts it back on stable. In AWS it reads the EKS cluster with the
 * operator's credentials; with --local the embedded simulator (or --kubeconfig's cluster).
 * Exit codes: 0 done (or nothing to do); 1 refused by the Rollout's state; 2 bad usage or an
 * environment that is not on Argo Rollouts.
 */
import type { ArgoOperation, ArgoRolloutWorkload } from '../../lambdas/adapters/argo-workload.ts';
import { InvalidInputError } from '../../lambdas/core/errors.ts';
import { printable } from '../../lambdas/core/text.ts';
import type { WorkloadObservation, WorkloadPort } from '../../lambdas/core/workload.ts';
import type { EnvironmentConfig, GuardianConfig } from '../config/schema.ts';
import { type ParsedArgs, refuseForeignOptions, requireString, UsageError } from './args.ts';
import { awsWorkload } from './aws-workload.ts';
import type { CommandContext } from './command-context.ts';
import { bold, dim, green, jsonDocument, type Output, red, yellow } from './format.ts';
import { CommandRefusedError } from './report.ts';

/** What the argo commands borrow from commands.ts. */
export type ArgoCommandContext = Pick<CommandContext, 'environmentOf' | 'withLocal'>;

/** The subcommands. */
export const ARGO_SUBCOMMANDS = ['status', 'promote', 'abort', 'pause', 'resume'] as const;
type ArgoSubcommand = (typeof ARGO_SUBCOMMANDS)[number];

/** Options each subcommand accepts (besides --json, --help, --config-dir). */
const ACCEPTS: Record<string, readonly string[]> = Object.fromEntries(
  ARGO_SUBCOMMANDS.map((s) => [s, ['env', 'local', 'state-dir', 'kubeconfig']]),
);

/** The `--json` document of every argo subcommand. */
export interface ArgoStatusOutput {
  readonly environment: string;
  readonly rollout: string;
  /** The subcommand that ran. */
  readonly command: ArgoSubcommand;
  /** What was done (absent for status). */
  readonly message?: string;
  /** Whether the Rollout was patched. */
  readonly changed: boolean;
  readonly stage: string;
  readonly phase: string;
  readonly argoMessage: string;
  readonly summary: string;
  readonly image: string;
  readonly revision: number;
  readonly activeService: string;
  readonly previewService: string | null;
  readonly stable: { readonly revision: number; readonly image: string } | null;
  readonly preview: { readonly revision: number; readonly image: string } | null;
  readonly replicas: WorkloadObservation['replicas'];
}

/** The JSON form of an observation. */
function statusOf(
  env: EnvironmentConfig,
  command: ArgoSubcommand,
  o: WorkloadObservation,
  op?: Pick<ArgoOperation, 'message' | 'changed'>,
): ArgoStatusOutput {
  const bg = o.blueGreen;
  return {
    environment: env.name,
    rollout: o.name,
    command,
    ...(op && { message: op.message }),
    changed: op?.changed ?? false,
    stage: bg?.stage ?? 'not-blue-green',
    phase: bg?.phase ?? 'Unknown',
    argoMessage: bg?.message ?? '',
    summary: o.rollout.message,
    image: o.image,
    revision: o.revision,
    activeService: bg?.activeService ?? '(none)',
    previewService: bg?.previewService ?? null,
    stable: bg?.stable ?? null,
    preview: bg?.preview ?? null,
    replicas: o.replicas,
  };
}

/** `kubectl argo rollouts status`-like text. */
function printStatus(output: Output, s: ArgoStatusOutput): void {
  const colour =
    s.stage === 'stable' ? green : s.stage === 'aborted' || s.stage === 'degraded' ? red : yellow;
  output.out(bold(`${printable(s.rollout)}  (${s.environment})`));
  output.out(
    `  Status:   ${colour(`${s.phase}`)} ${dim(`(${s.stage})`)}${s.argoMessage ? ` ${printable(s.argoMessage)}` : ''}`,
  );
  const side = (label: string, service: string | null, v: ArgoStatusOutput['stable']) =>
    output.out(
      `  ${label} ${service === null ? dim('(no Service)') : printable(service)} → ${
        v ? `revision ${v.revision} ${printable(v.image)}` : dim('-')
      }`,
    );
  side('Active: ', s.activeService, s.stable);
  side('Preview:', s.previewService, s.preview ?? (s.stage === 'stable' ? s.stable : null));
  output.out(
    `  Replicas: desired ${s.replicas.desired}, updated ${s.replicas.updated}, ready ${s.replicas.ready}, available ${s.replicas.available}`,
  );
  output.out(`  ${printable(s.summary)}`);
}

/** Runs the subcommand on `workload` and prints its result. */
async function run(
  sub: ArgoSubcommand,
  env: EnvironmentConfig,
  workload: WorkloadPort,
  args: ParsedArgs,
  output: Output,
): Promise<number> {
  const argo = workload as ArgoRolloutWorkload;
  let doc: ArgoStatusOutput;
  if (sub === 'status') {
    doc = statusOf(env, sub, await workload.observe());
  } else {
    let op: ArgoOperation;
    try {
      op = await argo.operate(sub);
    } catch (err) {
      // The Rollout's state refuses the command: a refusal (exit 1), not bad usage.
      if (err instanceof InvalidInputError) throw new CommandRefusedError(err.message, 'ArgoRefused');
      throw err;
    }
    doc = statusOf(env, sub, op.observation, op);
  }
  if (args.values.json === true) output.out(jsonDocument(doc));
  else {
    if (doc.message) output.out(doc.changed ? green(printable(doc.message)) : printable(doc.message));
    printStatus(output, doc);
  }
  return 0;
}

/** `guardian argo SUBCOMMAND --env E`. */
export async function argoCommand(
  args: ParsedArgs,
  config: GuardianConfig,
  output: Output,
  ctx: ArgoCommandContext,
): Promise<number> {
  const sub = (args.positionals?.SUBCOMMAND ?? '') as ArgoSubcommand;
  refuseForeignOptions(args, 'argo', sub, ACCEPTS);
  const env = await ctx.environmentOf(config, requireString(args, 'env'));
  if (env.platform !== 'argo-rollouts') {
    throw new UsageError(
      `environment '${env.name}' runs on platform ${env.platform}, not argo-rollouts: guardian argo drives blue-green Rollouts (use guardian status / rollback there)`,
      'argo',
    );
  }
  if (args.values.local === true) {
    return ctx.withLocal(args, config, output, async (g) =>
      run(sub, env, await g.workload(env.name), args, output),
    );
  }
  for (const flag of ['kubeconfig', 'state-dir']) {
    if (args.values[flag] !== undefined) throw new UsageError(`--${flag} needs --local`, 'argo');
  }
  return run(sub, env, await awsWorkload(env), args, output);
}
