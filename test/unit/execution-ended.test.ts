import { describe, expect, it } from 'vitest';
import { breakerOnUnfinished, closedBreaker } from '../../lambdas/core/breaker.ts';
import {
  type EndedExecution,
  heldBy,
  isUnfinishedStatus,
  planExecutionEnded,
  UNFINISHED_STATUSES,
  type UnfinishedStatus,
  unfinishedReason,
} from '../../lambdas/core/execution-ended.ts';
import type { DeploymentRecord, LockInfo, RecordStatus } from '../../lambdas/core/types.ts';

const NAME = 'production-v1-2-0-4f2a9c1e';
const ARN = `arn:aws:states:ap-southeast-1:123456789012:execution:guardian-production-deploy:${NAME}`;
const NOW = new Date('2026-05-01T02:00:00Z');

function end(status: UnfinishedStatus, over: Partial<EndedExecution> = {}): EndedExecution {
  return { name: NAME, executionArn: ARN, status, error: 'States.Timeout', cause: null, ...over };
}

function lock(holder: string, executionArn = `arn:…:${holder}`): LockInfo {
  return {
    environment: 'production',
    holder,
    executionArn,
    acquiredAt: NOW.toISOString(),
    expiresAt: '2026-05-01T03:00:00.000Z',
  };
}

function record(status: RecordStatus, executionArn = ARN): DeploymentRecord {
  return {
    environment: 'production',
    id: NAME,
    kind: 'deploy',
    status,
    executionArn,
    trigger: 'ci',
    requestedBy: 'ci',
    image: 'repo:v1.2.0',
    rollbackPoint: { platform: 'kubernetes', revision: 3, image: 'repo:v1.1.0', podTemplate: {} },
    startedAt: NOW.toISOString(),
  };
}

const FINISHED: RecordStatus[] = ['succeeded', 'rolled-back', 'rollback-failed', 'failed'];

describe('isUnfinishedStatus', () => {
  it('cleans up after FAILED, TIMED_OUT and ABORTED only', () => {
    expect(UNFINISHED_STATUSES.filter(isUnfinishedStatus)).toEqual(['FAILED', 'TIMED_OUT', 'ABORTED']);
    for (const s of ['SUCCEEDED', 'RUNNING', 'PENDING_REDRIVE', 'failed', '']) {
      expect(isUnfinishedStatus(s)).toBe(false);
    }
  });
});

describe('unfinishedReason', () => {
  it('says how the execution ended, with its error and cause', () => {
    expect(unfinishedReason({ status: 'TIMED_OUT', error: 'States.Timeout', cause: null })).toBe(
      'execution timed out before the guardian recorded an outcome (States.Timeout)',
    );
    expect(unfinishedReason({ status: 'ABORTED', error: null, cause: undefined })).toBe(
      'execution was aborted before the guardian recorded an outcome (no error reported)',
    );
    expect(unfinishedReason({ status: 'FAILED', error: null, cause: 'stopped by ops' })).toBe(
      'execution failed before the guardian recorded an outcome (stopped by ops)',
    );
  });

  it('turns a Lambda error Cause into a sentence and caps a long one', () => {
    const cause = JSON.stringify({
      errorType: 'Sandbox.Timedout',
      errorMessage: 'Task timed out',
      trace: [],
    });
    expect(unfinishedReason({ status: 'FAILED', error: 'Sandbox.Timedout', cause })).toBe(
      'execution failed before the guardian recorded an outcome (Sandbox.Timedout: Task timed out)',
    );
    const long = unfinishedReason({ status: 'FAILED', error: 'E', cause: 'x'.repeat(5000) });
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(1024);
    expect(long.endsWith('…')).toBe(true);
  });
});

describe('heldBy', () => {
  it('recognises the lock by holder or by execution ARN, and nothing else', () => {
    expect(heldBy(lock(NAME), end('FAILED'))).toBe(true);
    expect(heldBy(lock('someone-else', ARN), end('FAILED'))).toBe(true);
    expect(heldBy(lock('someone-else'), end('FAILED'))).toBe(false);
    expect(heldBy(undefined, end('FAILED'))).toBe(false);
  });
});

describe('planExecutionEnded', () => {
  it.each(UNFINISHED_STATUSES)(
    'releases the lock %s leaves held and fails its in-progress record',
    (status) => {
      const plan = planExecutionEnded(end(status), lock(NAME), record('in-progress'));
      expect(plan.releaseLockHeldBy).toBe(NAME);
      expect(plan.keptLock).toBeUndefined();
      expect(plan.failRecord).toBe(true);
      expect(plan.openBreaker).toBe(status !== 'FAILED');
      expect(plan.reason).toBe(unfinishedReason(end(status)));
    },
  );

  it('releases a lock found by execution ARN under the holder it is stored with', () => {
    expect(planExecutionEnded(end('ABORTED'), lock('alias', ARN), undefined).releaseLockHeldBy).toBe('alias');
  });

  it.each(UNFINISHED_STATUSES)("keeps another execution's lock after %s", (status) => {
    const other = lock('production-v9-0-0-00000000');
    const plan = planExecutionEnded(end(status), other, undefined);
    expect(plan.releaseLockHeldBy).toBeUndefined();
    expect(plan.keptLock).toEqual(other);
    expect(plan).toMatchObject({ failRecord: false, openBreaker: false });
  });

  it.each(UNFINISHED_STATUSES.flatMap((status) => FINISHED.map((finished) => [status, finished] as const)))(
    'after %s leaves a %s record and the breaker alone',
    (status, finished) => {
      const plan = planExecutionEnded(end(status), undefined, record(finished));
      expect(plan).toMatchObject({ failRecord: false, openBreaker: false });
      expect(plan.releaseLockHeldBy).toBeUndefined();
      expect(plan.keptLock).toBeUndefined();
    },
  );

  it('does nothing for an execution that never wrote a record or took the lock (preflight refused)', () => {
    for (const status of UNFINISHED_STATUSES) {
      expect(planExecutionEnded(end(status), undefined, undefined)).toEqual({
        reason: unfinishedReason(end(status)),
        failRecord: false,
        openBreaker: false,
      });
    }
  });

  it('leaves an in-progress record of the same id that another execution wrote', () => {
    const plan = planExecutionEnded(end('ABORTED'), undefined, record('in-progress', `${ARN}-other`));
    expect(plan).toMatchObject({ failRecord: false, openBreaker: false });
  });

  it('releases the lock of a record already finished (a record step that released nothing)', () => {
    const plan = planExecutionEnded(end('FAILED'), lock(NAME), record('succeeded'));
    expect(plan).toMatchObject({ releaseLockHeldBy: NAME, failRecord: false, openBreaker: false });
  });
});

describe('breakerOnUnfinished', () => {
  it('opens at once with the reason, once per execution', () => {
    const event = { id: NAME, image: 'ghcr.io/buywhere/buywhere-api:v1.2.0' };
    const opened = breakerOnUnfinished(closedBreaker('production'), event, 'execution was aborted', NOW);
    expect(opened).toEqual({
      environment: 'production',
      state: 'open',
      consecutiveFailures: 1,
      counted: [{ ...event, at: NOW.toISOString() }],
      since: NOW.toISOString(),
      openedAt: NOW.toISOString(),
      reason: `${NAME}: execution was aborted`,
      updatedAt: NOW.toISOString(),
      lastEventId: NAME,
    });
    expect(breakerOnUnfinished(opened, event, 'again', new Date(NOW.getTime() + 1000))).toBe(opened);
  });
});
