import { describe, expect, it } from 'vitest';
import type { WorkloadState } from '../../lambdas/adapters/cluster.ts';
import { observeDeployment } from '../../lambdas/adapters/kubernetes-workload.ts';
import {
  CHANGE_CAUSE_MAX_BYTES,
  capBytes,
  checkEnvironment,
  checkNotPaused,
  deadlineAt,
  failureText,
  reasonText,
  secondsSince,
} from '../../lambdas/core/context.ts';
import { InvalidInputError } from '../../lambdas/core/errors.ts';
import type { WorkloadObservation, WorkloadRolloutPhase } from '../../lambdas/core/workload.ts';

describe('step context helpers', () => {
  it('refuses an environment this stack does not guard', () => {
    expect(() => checkEnvironment('staging', 'staging')).not.toThrow();
    expect(() => checkEnvironment('staging', 'production')).toThrow(InvalidInputError);
    expect(() => checkEnvironment('staging', 'production')).toThrow(
      /not guarded by this stack \(it guards 'staging'\)/,
    );
  });

  it('adds the deadline to now', () => {
    expect(deadlineAt(new Date('2026-05-01T00:00:00Z'), 300)).toBe('2026-05-01T00:05:00.000Z');
  });

  it('counts whole seconds since a start time, rounding to the nearest second', () => {
    const now = new Date('2026-05-01T00:05:00.000Z');
    expect(secondsSince('2026-05-01T00:00:00.000Z', now)).toBe(300);
    expect(secondsSince('2026-05-01T00:04:59.400Z', now)).toBe(1);
    expect(secondsSince('2026-05-01T00:04:59.600Z', now)).toBe(0);
    expect(secondsSince('2026-05-01T08:00:00+08:00', now)).toBe(300);
  });

  it('counts 0 seconds for a start in the future (clock skew) or an unreadable one', () => {
    const now = new Date('2026-05-01T00:05:00.000Z');
    expect(secondsSince('2026-05-01T00:06:00.000Z', now)).toBe(0);
    expect(secondsSince(now.toISOString(), now)).toBe(0);
    expect(secondsSince('not a time', now)).toBe(0);
    expect(secondsSince('', now)).toBe(0);
  });

  it('turns a Lambda error Cause into a sentence', () => {
    expect(
      failureText({
        Error: 'HealthCheckFailedError',
        Cause: '{"errorType":"HealthCheckFailedError","errorMessage":"GET /health: 503"}',
      }),
    ).toBe('HealthCheckFailedError: GET /health: 503');
    expect(failureText({ Error: 'RolloutFailedError', Cause: 'deadline passed' })).toBe(
      'RolloutFailedError: deadline passed',
    );
    expect(failureText({ Error: 'States.Timeout' })).toBe('States.Timeout');
    expect(failureText({ Error: 'X', Cause: '{"other":1}' })).toBe('X: {"other":1}');
    expect(failureText(undefined)).toBe('no failure details');
  });
});

/** A Cause as Step Functions hands on a Lambda's error: the runtime's JSON with the stack trace. */
const lambdaCause = (errorType: string, errorMessage: string) =>
  JSON.stringify({
    errorType,
    errorMessage,
    trace: [
      `${errorType}: ${errorMessage}`,
      '    at Object.run (file:///var/task/index.mjs:2:31337)',
      '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
    ],
  });

describe('reasonText', () => {
  it("reduces a Lambda error Cause to 'errorType: errorMessage', dropping the trace", () => {
    const raw = lambdaCause(
      'HealthCheckFailedError',
      '1 of 3 health checks failed: GET /health: field status is "degraded", expected "ok"',
    );
    expect(reasonText(raw)).toBe(
      'HealthCheckFailedError: 1 of 3 health checks failed: GET /health: field status is "degraded", expected "ok"',
    );
  });

  it("reduces a failed child execution's Cause to 'Error: Cause', unwrapping a Lambda error inside", () => {
    const arn =
      'arn:aws:states:ap-southeast-1:123456789012:execution:GuardianProduction-Rollback:production-v1-2-0-aaaaaaaa-rollback';
    const child = {
      ExecutionArn: arn,
      StateMachineArn: 'arn:aws:states:ap-southeast-1:123456789012:stateMachine:GuardianProduction-Rollback',
      Name: 'production-v1-2-0-aaaaaaaa-rollback',
      Status: 'FAILED',
      StartDate: 1777600000000,
      StopDate: 1777600060000,
      Input: '{"environment":"production"}',
      InputDetails: { Included: true },
      Error: 'NotFoundError',
      Cause: lambdaCause('NotFoundError', 'revision 2 of production/buywhere-api no longer exists'),
    };
    expect(reasonText(JSON.stringify(child))).toBe(
      'NotFoundError: revision 2 of production/buywhere-api no longer exists (execution production-v1-2-0-aaaaaaaa-rollback)',
    );
    expect(reasonText(JSON.stringify({ ...child, Cause: 'deadline passed' }))).toBe(
      'NotFoundError: deadline passed (execution production-v1-2-0-aaaaaaaa-rollback)',
    );
  });

  it('leaves plain text and unrelated JSON alone, trimmed', () => {
    expect(reasonText('  deployment "production/buywhere-api" exceeded its progress deadline (600s)\n')).toBe(
      'deployment "production/buywhere-api" exceeded its progress deadline (600s)',
    );
    expect(reasonText('{"other":1}')).toBe('{"other":1}');
    expect(reasonText('{not json')).toBe('{not json');
    expect(reasonText('rollback requested')).toBe('rollback requested');
  });

  it('still finds the message in a Lambda Cause cut short by Step Functions', () => {
    const cut = lambdaCause('TransientError', 'Kubernetes said "503 Service Unavailable"').slice(0, 120);
    expect(() => JSON.parse(cut)).toThrow();
    expect(reasonText(cut)).toBe('TransientError: Kubernetes said "503 Service Unavailable"');
  });

  it('gives failureText the same unwrapping for a child execution', () => {
    expect(
      failureText({
        Error: 'States.TaskFailed',
        Cause: JSON.stringify({
          ExecutionArn: 'arn:x:exec:child',
          Error: 'E',
          Cause: lambdaCause('E', 'boom'),
        }),
      }),
    ).toBe('E: boom (execution child)');
  });
});

describe('capBytes', () => {
  it('keeps text within the limit unchanged', () => {
    expect(capBytes('short reason')).toBe('short reason');
    expect(capBytes('x'.repeat(CHANGE_CAUSE_MAX_BYTES))).toHaveLength(CHANGE_CAUSE_MAX_BYTES);
  });

  it('cuts longer text to the byte limit with an ellipsis, never mid-character', () => {
    const capped = capBytes('x'.repeat(5000));
    expect(Buffer.byteLength(capped, 'utf8')).toBeLessThanOrEqual(CHANGE_CAUSE_MAX_BYTES);
    expect(capped.endsWith('x…')).toBe(true);
    const wide = capBytes('界'.repeat(20), 16);
    expect(wide).toBe('界界界界…');
    expect(Buffer.byteLength(wide, 'utf8')).toBeLessThanOrEqual(16);
    expect(capBytes('😀😀😀', 9)).toBe('😀…');
  });
});

describe('checkNotPaused', () => {
  const observation = (phase: WorkloadRolloutPhase, message: string): WorkloadObservation => ({
    name: 'deployment "staging/buywhere-api"',
    platform: 'kubernetes',
    image: 'repo/api:v1',
    revision: 1,
    rollout: { phase, message },
    replicas: { desired: 1, updated: 1, ready: 1, available: 1 },
  });
  const deployment = (paused: boolean): WorkloadState => ({
    namespace: 'staging',
    name: 'buywhere-api',
    generation: 1,
    observedGeneration: 1,
    replicas: 1,
    paused,
    progressDeadlineSeconds: 600,
    podTemplate: { spec: { containers: [{ name: 'api', image: 'repo/api:v1' }] } },
    revision: 1,
    images: { api: 'repo/api:v1' },
    status: {
      replicas: 1,
      updatedReplicas: 1,
      readyReplicas: 1,
      availableReplicas: 1,
      unavailableReplicas: 0,
    },
    conditions: [],
  });

  it("refuses a paused workload, passing on the platform's sentence", () => {
    const paused = observation('paused', 'the workload is paused (resume it with the platform CLI)');
    expect(() => checkNotPaused(paused)).toThrow(InvalidInputError);
    expect(() => checkNotPaused(paused)).toThrow(
      'the workload is paused (resume it with the platform CLI); resume it or deploy after the pause is lifted',
    );
  });

  it('refuses a paused Deployment, saying how to resume it', () => {
    const paused = observeDeployment(deployment(true), 'api');
    expect(() => checkNotPaused(paused)).toThrow(InvalidInputError);
    expect(() => checkNotPaused(paused)).toThrow(
      'deployment "staging/buywhere-api" is paused (kubectl rollout resume deployment/buywhere-api -n staging); resume it or deploy after the pause is lifted',
    );
  });

  it('lets a running Deployment through', () => {
    expect(() => checkNotPaused(observeDeployment(deployment(false), 'api'))).not.toThrow();
  });

  it.each(['progressing', 'complete', 'failed'] as const)(
    'lets a %s rollout through (only a pause blocks a deployment)',
    (phase) => {
      expect(() => checkNotPaused(observation(phase, 'whatever the platform says'))).not.toThrow();
    },
  );
});
