/**
 * What preflight hands the Deploy workflow and writes to the history: the deployment's context,
 * its dry-run plan and its record. Pure.
 */

import { backupConfigOf, backupDatabaseOf } from '../../lib/config/backup-schema.ts';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';
import { backupPlanLine, type PlannedBackup, planBackup } from './backup-phase.ts';
import { breakerSummary } from './breaker.ts';
import { deadlineAt } from './context.ts';
import type { ValidatedRelease } from './image.ts';
import { planLines } from './naming.ts';
import type {
  BreakerState,
  DeployInput,
  DeploymentContext,
  DeploymentRecord,
  ExecutionRef,
  LockInfo,
} from './types.ts';
import type { RollbackPoint, WorkloadObservation } from './workload.ts';

/** What the deployment context is built from. */
export interface DeploymentFacts {
  readonly config: Pick<EnvironmentConfig, 'name' | 'rollout' | 'apiUrl' | 'healthCheck' | 'thresholds'> &
    Partial<Pick<EnvironmentConfig, 'canary' | 'metrics' | 'backup' | 'argo'>>;
  readonly input: DeployInput;
  readonly release: ValidatedRelease;
  readonly execution: ExecutionRef;
  readonly observation: WorkloadObservation;
  /** The rollback point captured now. */
  readonly point: RollbackPoint;
  readonly breaker: BreakerState;
  /** The lock this deployment holds (a dry run only checked it was free). */
  readonly lock: LockInfo;
  readonly now: Date;
}

/** The deployment's context (`$.deployment`), with the plan an operator reads. */
export function deploymentContext(f: DeploymentFacts): DeploymentContext {
  const { config, input, release, execution, observation, point, now } = f;
  const rolloutDeadlineAt = deadlineAt(now, config.rollout.deadlineSeconds);
  const version = release.version;
  const backupConfig = backupConfigOf(config);
  const backup = planBackup(
    config.name,
    backupDatabaseOf(config),
    backupConfig.deadlineSeconds,
    { version, image: input.image },
    now,
  );
  return {
    environment: config.name,
    workload: observation.name,
    expectedImage: input.image,
    rolloutDeadlineAt,
    deploymentId: execution.Name,
    executionArn: execution.Id,
    image: input.image,
    ...(version !== undefined && { version }),
    rollbackPoint: point,
    startedAt: now.toISOString(),
    dryRun: input.dryRun,
    ...(backup && { backup }),
    plan: withBlueGreenLines(
      observation,
      config,
      withCanaryLine(
        config,
        point.image,
        withBackupLine(
          backup,
          planLines({
            environment: config.name,
            workload: observation.name,
            image: input.image,
            ...(version !== undefined && { version }),
            rollbackPoint: point,
            deadlineSeconds: config.rollout.deadlineSeconds,
            rolloutDeadlineAt,
            apiUrl: config.apiUrl,
            healthPaths: config.healthCheck.endpoints.map((e) => e.path),
            breakerSummary: breakerSummary(f.breaker, config.thresholds.consecutive_failures_for_rollback),
            lockSummary: input.dryRun
              ? `the ${config.name} lock is free (a dry run does not take it)`
              : `took the ${config.name} lock until ${f.lock.expiresAt}`,
          }),
        ),
      ),
    ),
  };
}

/**
 * The plan with the canary analysis, when the environment has one, before its last line (what a
 * failure rolls back to): how long, against what, and what too little evidence does.
 */
function withCanaryLine(
  config: Partial<Pick<EnvironmentConfig, 'canary' | 'metrics'>>,
  baselineImage: string,
  lines: string[],
): string[] {
  const c = config.canary;
  if (!c) return lines;
  const from = config.metrics ? ` from ${config.metrics.provider}` : '';
  const line = `canary analysis: ${c.durationSeconds} s judged every ${c.intervalSeconds} s against ${baselineImage}'s metrics${from} before the rollout; a fail rolls back, too little evidence (under ${c.minRequests} requests) holds the release and pages (${c.hold.priority}) for ${c.hold.seconds} s${c.dryRun ? ' (shadow: recorded, not acted on)' : ''}`;
  return [...lines.slice(0, -1), line, ...lines.slice(-1)];
}

/**
 * Blue-green (issue 11): the rollout line says the release goes behind the preview Service while
 * the active one keeps serving stable; the health check and canary analysis are of the preview
 * (against stable over the same window); then the promotion.
 */
function withBlueGreenLines(
  observation: WorkloadObservation,
  config: Pick<EnvironmentConfig, 'apiUrl'> & Partial<Pick<EnvironmentConfig, 'argo'>>,
  lines: string[],
): string[] {
  const bg = observation.blueGreen;
  if (!bg) return lines;
  const preview = bg.previewService ?? '(no preview Service)';
  const previewUrl = config.argo?.previewUrl ?? '(no argo.previewUrl)';
  const out = lines.map((l) => {
    if (l.startsWith('set '))
      return `${l} behind the preview Service "${preview}"; "${bg.activeService}" keeps serving ${bg.stable ? `revision ${bg.stable.revision} (${bg.stable.image})` : 'stable'} until promotion`;
    if (l.startsWith('wait up to ')) return l.replace('for the rollout', 'for the preview to be ready');
    if (l.startsWith('check '))
      return `${l.replace(` on ${config.apiUrl}`, ` on the preview ${previewUrl}`)}`;
    if (l.startsWith('canary analysis: '))
      return l.replace(
        /against (\S+)'s metrics(.*?) before the rollout/,
        'of the preview against stable $1$2 over the same window',
      );
    return l;
  });
  const promote = `promote: "${bg.activeService}" switches to the preview; wait for the promotion, check ${config.apiUrl}, then post-promotion monitoring (a failure rolls back after promotion)`;
  return [...out.slice(0, -1), promote, ...out.slice(-1)];
}

/** The plan with the backup line before the rollout's line (the runbook's step 1 comes first). */
function withBackupLine(backup: PlannedBackup | undefined, lines: string[]): string[] {
  const at = lines.findIndex((l) => l.startsWith('set ') || l.includes('the rollout will change nothing'));
  const i = at < 0 ? lines.length - 1 : at;
  return [...lines.slice(0, i), backupPlanLine(backup), ...lines.slice(i)];
}

/** The in-progress record of a deployment. */
export function deploymentRecord(context: DeploymentContext, input: DeployInput): DeploymentRecord {
  return {
    environment: context.environment,
    id: context.deploymentId,
    kind: 'deploy',
    status: 'in-progress',
    executionArn: context.executionArn,
    trigger: input.trigger,
    requestedBy: input.requestedBy,
    ...(input.ciRunUrl !== undefined && { ciRunUrl: input.ciRunUrl }),
    image: context.image,
    ...(context.version !== undefined && { version: context.version }),
    rollbackPoint: context.rollbackPoint,
    startedAt: context.startedAt,
    // The snapshot's name is known from preflight on: a deployment that stops before its backup
    // finishes still says which snapshot it was taking.
    ...(context.backup && {
      backup: {
        snapshotId: context.backup.snapshotId,
        kind: context.backup.kind,
        identifier: context.backup.identifier,
        status: 'planned' as const,
        startedAt: context.startedAt,
      },
    }),
  };
}
