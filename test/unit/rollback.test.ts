import { describe, expect, it } from 'vitest';
import { InvalidInputError, LockHeldError } from '../../lambdas/core/errors.ts';
import { buildLock } from '../../lambdas/core/lock.ts';
import {
  capturedPoint,
  planRollback,
  type RollbackFacts,
  restoreNeeded,
  rollbackContext,
  rollbackRecord,
} from '../../lambdas/core/rollback.ts';
import {
  type DeploymentRecord,
  rollbackContextSchema,
  rollbackInputSchema,
} from '../../lambdas/core/types.ts';
import type { RollbackPoint } from '../../lambdas/core/workload.ts';

const point = (revision: number, tag: string): RollbackPoint => ({
  platform: 'kubernetes',
  revision,
  image: `repo/api:${tag}`,
  podTemplate: { spec: { containers: [{ name: 'api', image: `repo/api:${tag}` }] } },
});
const NOW = new Date('2026-05-01T02:00:00Z');
const DEPLOY_ARN =
  'arn:aws:states:ap-southeast-1:123456789012:execution:GuardianProduction-Deploy:production-v1-2-0-aaaaaaaa';
const deployRecord = (over: Partial<DeploymentRecord> = {}): DeploymentRecord => ({
  environment: 'production',
  id: 'production-v1-2-0-aaaaaaaa',
  kind: 'deploy',
  status: 'in-progress',
  executionArn: DEPLOY_ARN,
  trigger: 'ci',
  requestedBy: 'ci',
  image: 'repo/api:v1.2.0',
  rollbackPoint: point(2, 'v1.1.0'),
  startedAt: '2026-05-01T01:50:00.000Z',
  ...over,
});
const deployLock = buildLock(
  'production',
  'production-v1-2-0-aaaaaaaa',
  DEPLOY_ARN,
  new Date('2026-05-01T01:50:00Z'),
  5400,
);
const otherLock = buildLock('production', 'production-rollback-11111111', 'arn:other', NOW, 3600);
const expiredDeployLock = buildLock(
  'production',
  'production-v1-2-0-aaaaaaaa',
  DEPLOY_ARN,
  new Date('2026-04-30T00:00:00Z'),
  60,
);

describe('planRollback', () => {
  const rollbackId = 'production-rollback-22222222';

  it('takes its own lock for a rollback that names no deployment', () => {
    expect(planRollback({ rollbackId, now: NOW })).toEqual({ kind: 'acquire', holder: rollbackId });
    expect(planRollback({ rollbackId, lock: deployLock, now: NOW })).toEqual({
      kind: 'acquire',
      holder: rollbackId,
    });
  });

  it("keeps the deployment's lock only for the rollback the deployment itself started", () => {
    expect(
      planRollback({ rollbackId, record: deployRecord(), startedBy: DEPLOY_ARN, lock: deployLock, now: NOW }),
    ).toEqual({ kind: 'inherit', holder: 'production-v1-2-0-aaaaaaaa' });
    // Nobody took an expired lock over: the child still keeps it.
    expect(
      planRollback({
        rollbackId,
        record: deployRecord(),
        startedBy: DEPLOY_ARN,
        lock: expiredDeployLock,
        now: NOW,
      }),
    ).toEqual({ kind: 'inherit', holder: 'production-v1-2-0-aaaaaaaa' });
  });

  it('has the child take its own lock when the deployment no longer holds it', () => {
    for (const lock of [undefined, otherLock]) {
      expect(
        planRollback({
          rollbackId,
          record: deployRecord(),
          startedBy: DEPLOY_ARN,
          ...(lock && { lock }),
          now: NOW,
        }),
      ).toEqual({ kind: 'acquire', holder: rollbackId });
    }
  });

  it('refuses an alarm or operator rollback while the deployment it names still holds the lock', () => {
    for (const startedBy of [
      undefined,
      'arn:aws:states:…:execution:GuardianProduction-Deploy:another-deploy',
    ]) {
      const plan = () =>
        planRollback({
          rollbackId,
          record: deployRecord(),
          ...(startedBy !== undefined && { startedBy }),
          lock: deployLock,
          now: NOW,
        });
      expect(plan).toThrow(LockHeldError);
      expect(plan).toThrow(
        /deployment production-v1-2-0-aaaaaaaa is still running: it holds the production lock \(execution arn:.*\) until 2026-05-01T03:20:00.000Z\. Stop that execution first.*or wait for it to finish/,
      );
    }
  });

  it('takes its own lock to undo a finished deployment, or one whose lock expired', () => {
    for (const record of [
      deployRecord({ status: 'succeeded' }),
      deployRecord({ status: 'rollback-failed' }),
    ]) {
      expect(planRollback({ rollbackId, record, now: NOW })).toEqual({ kind: 'acquire', holder: rollbackId });
      expect(planRollback({ rollbackId, record, lock: otherLock, now: NOW })).toEqual({
        kind: 'acquire',
        holder: rollbackId,
      });
    }
    expect(planRollback({ rollbackId, record: deployRecord(), lock: expiredDeployLock, now: NOW })).toEqual({
      kind: 'acquire',
      holder: rollbackId,
    });
  });

  it('refuses a deployment that was already rolled back, naming the rollback, even from its own child', () => {
    const record = deployRecord({ status: 'rolled-back', rolledBackBy: 'production-rollback-33333333' });
    for (const startedBy of [undefined, DEPLOY_ARN]) {
      const plan = () =>
        planRollback({ rollbackId, record, ...(startedBy && { startedBy }), lock: deployLock, now: NOW });
      expect(plan).toThrow(InvalidInputError);
      expect(plan).toThrow('already rolled back by production-rollback-33333333');
    }
  });

  it('refuses an id that is a rollback, not a deployment', () => {
    expect(() =>
      planRollback({
        rollbackId,
        record: deployRecord({ kind: 'rollback', id: 'production-rollback-1' }),
        now: NOW,
      }),
    ).toThrow(/production-rollback-1 is a rollback, not a deployment/);
  });
});

describe('restoreNeeded', () => {
  it('is needed when the workload is meant to run another image, even at the target revision number', () => {
    // Paused: the template was set to v3 but the revision annotation still says 2.
    expect(restoreNeeded('repo/api:v3', point(2, 'v2'))).toBe(true);
  });

  it('is not needed when the workload already runs the target image, whatever the revision says', () => {
    // The restore landed; the controller has not renumbered the revision yet.
    expect(restoreNeeded('repo/api:v2', point(2, 'v2'))).toBe(false);
    expect(restoreNeeded('repo/api:v2', point(7, 'v2'))).toBe(false);
  });

  it('compares whole image references (a digest-pinned image is another image)', () => {
    expect(restoreNeeded('repo/api:v2@sha256:abc', point(2, 'v2'))).toBe(true);
  });
});

const EXECUTION = {
  Id: 'arn:aws:states:ap-southeast-1:123456789012:execution:guardian-production-rollback:production-rollback-22222222',
  Name: 'production-rollback-22222222',
};

function facts(over: Partial<RollbackFacts> = {}): RollbackFacts {
  return {
    input: rollbackInputSchema.parse({
      environment: 'production',
      deploymentId: 'production-v1-2-0-aaaaaaaa',
    }),
    execution: EXECUTION,
    environment: 'production',
    workload: 'deployment "production/buywhere-api"',
    from: point(3, 'v1.2.0'),
    to: point(2, 'v1.1.0'),
    undoes: { id: 'production-v1-2-0-aaaaaaaa', image: 'repo/api:v1.2.0' },
    reason: 'HealthCheckFailedError: GET /health: 503',
    lockHolder: 'production-v1-2-0-aaaaaaaa',
    deadlineSeconds: 600,
    now: NOW,
    ...over,
  };
}

describe('rollbackContext', () => {
  it("targets the point to restore: its image is what the rollout must end on, by the environment's deadline", () => {
    const c = rollbackContext(facts());
    expect(c).toEqual({
      environment: 'production',
      workload: 'deployment "production/buywhere-api"',
      expectedImage: 'repo/api:v1.1.0',
      rolloutDeadlineAt: '2026-05-01T02:10:00.000Z',
      rollbackId: 'production-rollback-22222222',
      executionArn: EXECUTION.Id,
      deploymentId: 'production-v1-2-0-aaaaaaaa',
      deploymentImage: 'repo/api:v1.2.0',
      from: point(3, 'v1.2.0'),
      to: point(2, 'v1.1.0'),
      reason: 'HealthCheckFailedError: GET /health: 503',
      trigger: 'operator',
      requestedBy: 'guardian',
      lockHolder: 'production-v1-2-0-aaaaaaaa',
      startedAt: '2026-05-01T02:00:00.000Z',
    });
    // What the next states of the Rollback workflow parse it with.
    expect(rollbackContextSchema.parse(c)).toEqual(c);
  });

  it("restores a deployment's captured point verbatim, pod template included", () => {
    const captured = deployRecord().rollbackPoint;
    expect(rollbackContext(facts({ to: captured })).to).toBe(captured);
  });

  it("carries the operator's annotation, trigger and name, and no deployment when none was named", () => {
    const input = rollbackInputSchema.parse({
      environment: 'production',
      revision: 2,
      annotate: 'INC-42',
      trigger: 'alarm',
      requestedBy: 'oncall',
    });
    const { undoes: _, ...rest } = facts({ input, lockHolder: EXECUTION.Name });
    const c = rollbackContext(rest);
    expect(c).toMatchObject({
      annotate: 'INC-42',
      trigger: 'alarm',
      requestedBy: 'oncall',
      lockHolder: EXECUTION.Name,
    });
    expect(c).not.toHaveProperty('deploymentId');
    expect(rollbackContextSchema.parse(c)).toEqual(c);
  });
});

describe('rollbackRecord', () => {
  it('records the rollback as in progress, moving to the target image, keeping the state it moves away from', () => {
    const c = rollbackContext(facts());
    expect(rollbackRecord(c)).toEqual({
      environment: 'production',
      id: 'production-rollback-22222222',
      kind: 'rollback',
      status: 'in-progress',
      executionArn: EXECUTION.Id,
      trigger: 'operator',
      requestedBy: 'guardian',
      image: 'repo/api:v1.1.0',
      // Undoing the rollback returns to where it started.
      rollbackPoint: point(3, 'v1.2.0'),
      deploymentId: 'production-v1-2-0-aaaaaaaa',
      reason: 'HealthCheckFailedError: GET /health: 503',
      startedAt: '2026-05-01T02:00:00.000Z',
    });
  });

  it('records what was restored and why, as the operator read it', () => {
    const sentence = 'restoring revision 2 (repo/api:v1.1.0), the last known-good release v1.1.0';
    const c = rollbackContext(facts({ sentence }));
    expect(c.plan).toEqual([sentence]);
    expect(rollbackContextSchema.parse(c)).toEqual(c);
    expect(rollbackRecord(c).decision).toBe(sentence);
    expect(rollbackRecord(rollbackContext(facts()))).not.toHaveProperty('decision');
  });

  it("keeps the operator's annotation and leaves out a deployment that was not named", () => {
    const input = rollbackInputSchema.parse({ environment: 'production', annotate: 'INC-42' });
    const { undoes: _, ...rest } = facts({ input });
    const r = rollbackRecord(rollbackContext(rest));
    expect(r.annotation).toBe('INC-42');
    expect(r).not.toHaveProperty('deploymentId');
  });
});

describe('capturedPoint', () => {
  it('refuses a record without a usable rollback point, telling the operator to name a revision', () => {
    const legacy = {
      environment: 'staging',
      id: 'staging-v1-0-0-aaaaaaaa',
      kind: 'deploy',
      status: 'succeeded',
      executionArn: 'arn:exec',
      trigger: 'ci',
      requestedBy: 'ci',
      image: 'ghcr.io/buywhere/buywhere-api:v1.0.0',
      previousImage: 'ghcr.io/buywhere/buywhere-api:v0.9.0',
      previousRevision: 3,
      startedAt: '2026-05-01T00:00:00.000Z',
    } as unknown as Parameters<typeof capturedPoint>[0];
    expect(() => capturedPoint(legacy)).toThrow(
      /deployment staging-v1-0-0-aaaaaaaa has no usable rollback point.*guardian rollback --env staging --revision N/,
    );
  });

  it('returns the point a record captured', () => {
    const point = {
      platform: 'kubernetes' as const,
      revision: 2,
      image: 'repo/api:v1',
      podTemplate: { spec: {} },
    };
    const record = {
      environment: 'staging',
      id: 'd1',
      kind: 'deploy' as const,
      status: 'succeeded' as const,
      executionArn: 'arn:exec',
      trigger: 'ci' as const,
      requestedBy: 'ci',
      image: 'repo/api:v2',
      rollbackPoint: point,
      startedAt: '2026-05-01T00:00:00.000Z',
    };
    expect(capturedPoint(record)).toEqual(point);
  });
});
