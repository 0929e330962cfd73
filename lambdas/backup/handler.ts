/**
 * "Back up database" and "Check snapshot" (issue 10, the runbook's `pre-deploy-backup.sh backup`):
 * before the rollout, a snapshot of the environment's database, named at preflight and tagged with
 * the deployment id; then, every poll, whether RDS says it is available. Available: retention runs
 * (keep the newest, delete the expired, never one a deployment still points at) and the workflow
 * goes on. Failed or past its deadline: the record says so and the step fails with
 * BackupFailedError, so the deployment stops before anything changes (the execution-ended step
 * gives the lock back).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import * as z from 'zod';
import { backupConfigOf } from '../../lib/config/backup-schema.ts';
import { BACKUP_TAGS, judgeSnapshot, retentionPlan, snapshotTags } from '../core/backup.ts';
import { type BackupMark, databaseName, protectedSnapshotIds } from '../core/backup-phase.ts';
import { BackupFailedError, InvalidInputError } from '../core/errors.ts';
import { type DeploymentContext, deploymentContextSchema } from '../core/types.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { defineStep } from '../shared/step.ts';

/** The backup event: `start` takes the snapshot, `check` asks whether it is available. */
export const backupEventSchema = z.object({
  deployment: deploymentContextSchema,
  phase: z.enum(['start', 'check']),
});

/** What the workflow's "Snapshot available?" reads (`$.backup`). */
export interface BackupStepResult {
  readonly outcome: 'creating' | 'available';
  readonly snapshotId: string;
  readonly status: string;
  readonly message: string;
}

/** Records examined for the snapshot ids retention must keep. */
const RECORDS_FOR_RETENTION = 100;

function plannedOf(deployment: DeploymentContext) {
  const backup = deployment.backup;
  if (!backup) {
    // The workflow has backup states only where the config names a database, and preflight plans
    // one from the same config: a context without it is not this stack's.
    throw new InvalidInputError(
      `deployment ${deployment.deploymentId} planned no backup, but the workflow asked for one: the stack and its config disagree; redeploy the stack`,
    );
  }
  return backup;
}

/** The backup step. */
export const step = defineStep('backup', backupEventSchema, async ({ deployment, phase }, deps) => {
  const { store, snapshots, clock, logger, config } = deps;
  const planned = plannedOf(deployment);
  const db = { kind: planned.kind, identifier: planned.identifier };
  const mark = (patch: Partial<BackupMark> & Pick<BackupMark, 'status'>): BackupMark => ({
    snapshotId: planned.snapshotId,
    kind: planned.kind,
    identifier: planned.identifier,
    startedAt: deployment.startedAt,
    ...patch,
  });
  const fail = async (message: string, cause?: unknown): Promise<never> => {
    deps.metrics.addMetric('BackupFailed', MetricUnit.Count, 1);
    await store.updateRecord(config.name, deployment.deploymentId, {
      backup: mark({ status: 'failed', finishedAt: clock.now().toISOString(), detail: message }),
    });
    throw new BackupFailedError(message, cause === undefined ? undefined : { cause });
  };
  logger.appendKeys({ deploymentId: deployment.deploymentId, snapshotId: planned.snapshotId });

  if (phase === 'start') {
    const tags = snapshotTags(config.name, deployment.version ?? deployment.image, deployment.deploymentId);
    const started = await snapshots
      .create(db, planned.snapshotId, tags)
      .catch((err: unknown) =>
        fail(
          `the backup of ${databaseName(db)} could not start: ${err instanceof Error ? err.message : String(err)}`,
          err,
        ),
      );
    await store.updateRecord(config.name, deployment.deploymentId, {
      backup: mark({ status: 'creating' }),
    });
    logger.info('backup started', { status: started.status });
    return result(
      'creating',
      planned.snapshotId,
      started.status,
      `${planned.snapshotId} is '${started.status}'`,
    );
  }

  const now = clock.now();
  const found = await snapshots.describe(planned.kind, planned.snapshotId);
  const judged = judgeSnapshot(
    found?.status,
    deployment.startedAt,
    planned.deadlineSeconds,
    now,
    planned.snapshotId,
  );
  if (judged.verdict === 'failed') return fail(judged.sentence);
  if (judged.verdict === 'waiting') {
    return result('creating', planned.snapshotId, found?.status ?? 'not visible yet', judged.sentence);
  }

  // Available: retention runs now, with the new snapshot counted among the newest.
  const retention = backupConfigOf(config).retention;
  const records = await store.listRecords(config.name, RECORDS_FOR_RETENTION);
  const keep = [...protectedSnapshotIds(records), planned.snapshotId];
  // Only this environment's snapshots: two environments may back up the same database.
  const mine = (await snapshots.list(db)).filter((s) => s.tags[BACKUP_TAGS.environment] === config.name);
  const plan = retentionPlan(mine, retention, keep, now);
  const deleted: string[] = [];
  for (const id of plan.deleteIds) {
    // One failed delete does not fail the deployment: the backup it needs exists.
    await snapshots.delete(planned.kind, id).then(
      (gone) => gone && deleted.push(id),
      (err: unknown) => logger.warn('retention could not delete a snapshot', { id, error: String(err) }),
    );
  }
  const detail = deleted.length
    ? `retention deleted ${deleted.length} expired snapshot(s): ${deleted.join(', ')}`
    : 'retention deleted nothing';
  await store.updateRecord(config.name, deployment.deploymentId, {
    backup: mark({ status: 'available', finishedAt: now.toISOString(), detail }),
  });
  deps.metrics.addMetric(
    'BackupSeconds',
    MetricUnit.Seconds,
    (now.getTime() - Date.parse(deployment.startedAt)) / 1000,
  );
  logger.info('backup available', { deleted });
  return result('available', planned.snapshotId, 'available', `${judged.sentence}; ${detail}`);
});

function result(
  outcome: BackupStepResult['outcome'],
  snapshotId: string,
  status: string,
  message: string,
): BackupStepResult {
  return { outcome, snapshotId, status, message };
}

/** Lambda entry point: ports and config slice from lambdas/steps.ts. */
export const handler = lambdaHandler(step);
