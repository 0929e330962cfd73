import { describe, expect, it } from 'vitest';
import type { RevisionInfo, WorkloadState } from '../../lambdas/adapters/cluster.ts';
import { InvalidInputError, LockHeldError, NotFoundError } from '../../lambdas/core/errors.ts';
import { buildLock } from '../../lambdas/core/lock.ts';
import {
  planRollback,
  selectCapturedRevision,
  selectRollbackTarget,
  undoNeeded,
} from '../../lambdas/core/rollback.ts';
import type { DeploymentRecord } from '../../lambdas/core/types.ts';

const rev = (revision: number, tag: string): RevisionInfo => ({
  revision,
  replicaSetName: `api-${revision}`,
  images: { api: `repo/api:${tag}` },
  podTemplate: {},
});
// Unordered on purpose: the API lists ReplicaSets in no particular order.
const revisions = [rev(3, 'v3'), rev(1, 'v1'), rev(5, 'v5'), rev(2, 'v2')];

describe('selectRollbackTarget', () => {
  it('defaults to the newest revision older than the current one', () => {
    expect(selectRollbackTarget(revisions, 5).revision).toBe(3);
  });

  it('skips gaps in revision numbers', () => {
    expect(selectRollbackTarget([rev(1, 'a'), rev(9, 'b')], 9).revision).toBe(1);
  });

  it('refuses when there is no older revision, listing what exists', () => {
    expect(() => selectRollbackTarget([rev(1, 'a')], 1, undefined, 'deployment p/api')).toThrow(
      NotFoundError,
    );
    expect(() => selectRollbackTarget([rev(1, 'a')], 1, undefined, 'deployment p/api')).toThrow(
      'no revision of deployment p/api older than the current revision 1 to roll back to (available revisions: 1)',
    );
    expect(() => selectRollbackTarget([], 0)).toThrow(/available revisions: none/);
  });

  it('goes to a named revision', () => {
    expect(selectRollbackTarget(revisions, 5, 1).images.api).toBe('repo/api:v1');
  });

  it('refuses a named revision that does not exist, listing them in order', () => {
    expect(() => selectRollbackTarget(revisions, 5, 4)).toThrow(NotFoundError);
    expect(() => selectRollbackTarget(revisions, 5, 4)).toThrow(
      'revision 4 of the Deployment not found; available revisions: 1, 2, 3, 5',
    );
  });

  it('refuses naming the current revision as a no-op', () => {
    expect(() => selectRollbackTarget(revisions, 5, 5)).toThrow(InvalidInputError);
    expect(() => selectRollbackTarget(revisions, 5, 5)).toThrow(
      /revision 5 is the current revision .* nothing to roll back/,
    );
  });

  it('allows naming a revision newer than the current one (after an earlier undo)', () => {
    expect(selectRollbackTarget(revisions, 3, 5).revision).toBe(5);
  });
});

describe('selectCapturedRevision', () => {
  it('uses the captured revision when it still runs the captured image', () => {
    expect(
      selectCapturedRevision(revisions, { previousRevision: 3, previousImage: 'repo/api:v3' }, 'api')
        .revision,
    ).toBe(3);
  });

  it('falls back to the newest revision with the captured image when the number moved', () => {
    const moved = [rev(2, 'v1'), rev(4, 'v1'), rev(5, 'v5')];
    expect(
      selectCapturedRevision(moved, { previousRevision: 3, previousImage: 'repo/api:v1' }, 'api').revision,
    ).toBe(4);
  });

  it('does not take a revision whose number matches but whose image differs', () => {
    const reused = [rev(3, 'other'), rev(6, 'v3')];
    expect(
      selectCapturedRevision(reused, { previousRevision: 3, previousImage: 'repo/api:v3' }, 'api').revision,
    ).toBe(6);
  });

  it('may return the current revision when the deployment never changed anything', () => {
    expect(
      selectCapturedRevision(revisions, { previousRevision: 5, previousImage: 'repo/api:v5' }, 'api')
        .revision,
    ).toBe(5);
  });

  it('finds the state when preflight captured revision 0 (no annotation yet)', () => {
    expect(
      selectCapturedRevision([rev(1, 'v1')], { previousRevision: 0, previousImage: 'repo/api:v1' }, 'api')
        .revision,
    ).toBe(1);
  });

  it('fails naming the image and the revisions when no revision runs it', () => {
    expect(() =>
      selectCapturedRevision(revisions, { previousRevision: 3, previousImage: 'repo/api:v9' }, 'api'),
    ).toThrow(
      'cannot find the pre-deployment state of the Deployment: no revision runs repo/api:v9 in container "api" (captured revision 3; available revisions: 1, 2, 3, 5)',
    );
  });

  it('looks only at the guarded container', () => {
    expect(() =>
      selectCapturedRevision(revisions, { previousRevision: 3, previousImage: 'repo/api:v3' }, 'sidecar'),
    ).toThrow(NotFoundError);
  });
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
  previousImage: 'repo/api:v1.1.0',
  previousRevision: 2,
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

describe('undoNeeded', () => {
  const workload = (image: string | undefined, revision: number): WorkloadState => ({
    namespace: 'production',
    name: 'api',
    generation: 5,
    observedGeneration: 4,
    replicas: 3,
    paused: true,
    progressDeadlineSeconds: 600,
    revision,
    images: image === undefined ? { sidecar: 'envoy' } : { api: image, sidecar: 'envoy' },
    status: {
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      unavailableReplicas: 0,
    },
    conditions: [],
  });

  it('is needed when the template runs another image even though the revision already matches', () => {
    // Paused: the template was set to v3 but the revision annotation still says 2.
    expect(undoNeeded(workload('repo/api:v3', 2), 'api', 'repo/api:v2')).toBe(true);
  });

  it('is not needed when the template already runs the target image, whatever the revision says', () => {
    // The undo PATCH landed; the controller has not renumbered the revision yet.
    expect(undoNeeded(workload('repo/api:v2', 3), 'api', 'repo/api:v2')).toBe(false);
    expect(undoNeeded(workload('repo/api:v2', 2), 'api', 'repo/api:v2')).toBe(false);
  });

  it('is needed when the container is missing from the template', () => {
    expect(undoNeeded(workload(undefined, 2), 'api', 'repo/api:v2')).toBe(true);
  });
});
