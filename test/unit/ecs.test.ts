import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ECS_READ_ONLY_FIELDS,
  ECS_REGISTER_FIELDS,
  type EcsService,
  type EcsStoppedTask,
  type EcsTag,
  type EcsTaskDefinition,
  ecsRollbackPointSchema,
  judgeEcsRollout,
  registerInputFrom,
  stoppedReasonsSummary,
  taskDefinitionRevision,
  unknownTaskDefinitionFields,
} from '../../lambdas/core/ecs.ts';
import { InvalidInputError } from '../../lambdas/core/errors.ts';
import { ecsEnvironmentSchema } from '../../lib/config/ecs-schema.ts';

function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../fixtures/ecs/${name}`, import.meta.url), 'utf8')) as T;
}

const described = fixture<{ taskDefinition: EcsTaskDefinition; tags: EcsTag[] }>(
  'describe-task-definition.json',
);
const service = (name: string): EcsService => {
  const answer = fixture<{ services: EcsService[] }>(name);
  const first = answer.services[0];
  if (first === undefined) throw new Error(`${name} has no service`);
  return first;
};

const ARN = 'arn:aws:ecs:ap-southeast-1:123456789012:task-definition/buywhere-api';
const NEW_TD = `${ARN}:42`;
const NEW_IMAGE = 'ghcr.io/buywhere/buywhere-api:v1.2.3';
const DEADLINE = '2026-12-03T12:15:00.000Z';
const BEFORE_DEADLINE = new Date('2026-12-03T12:02:00Z');

describe('registerInputFrom', () => {
  it('keeps every field RegisterTaskDefinition accepts byte for byte and drops every read-only one', () => {
    // The service may still run a deregistered revision (DescribeTaskDefinition then says INACTIVE
    // and adds deregisteredAt): the new revision is registered from it all the same.
    const td: EcsTaskDefinition = {
      ...described.taskDefinition,
      status: 'INACTIVE',
      deregisteredAt: '2026-12-01T08:00:00.000000+08:00',
    };
    const input = registerInputFrom(td, 'api', NEW_IMAGE, described.tags);

    // Written out from the API reference rather than taken from the module, so a field missing
    // from the module's lists fails here.
    const readOnly = [
      'taskDefinitionArn',
      'revision',
      'status',
      'requiresAttributes',
      'compatibilities',
      'registeredAt',
      'registeredBy',
      'deregisteredAt',
    ];
    for (const field of readOnly) {
      expect(td[field], `fixture lacks ${field}`).toBeDefined();
      expect(input).not.toHaveProperty(field);
    }
    const writable = Object.keys(td).filter((field) => !readOnly.includes(field));
    expect(writable).toHaveLength(17);
    for (const field of writable) {
      if (field === 'containerDefinitions') continue;
      expect(JSON.stringify(input[field]), field).toBe(JSON.stringify(td[field]));
    }
    expect(Object.keys(input).sort()).toEqual([...writable, 'tags'].sort());
    expect([...ECS_REGISTER_FIELDS].sort()).toEqual([...writable].sort());
    expect([...ECS_READ_ONLY_FIELDS].sort()).toEqual([...readOnly].sort());
    expect(input.tags).toEqual(described.tags);
  });

  it('changes only the named container image', () => {
    const td = described.taskDefinition;
    const input = registerInputFrom(td, 'api', NEW_IMAGE);
    const [api, envoy] = input.containerDefinitions;
    const [oldApi, oldEnvoy] = td.containerDefinitions ?? [];

    expect(api?.image).toBe(NEW_IMAGE);
    expect(JSON.stringify({ ...api, image: oldApi?.image })).toBe(JSON.stringify(oldApi));
    expect(JSON.stringify(envoy)).toBe(JSON.stringify(oldEnvoy));
    // The described object is left as it was: the adapter may still log or reuse it.
    expect(oldApi?.image).toBe('ghcr.io/buywhere/buywhere-api:v1.2.2');
    expect(input).not.toHaveProperty('tags');
  });

  it('refuses a task definition without the configured container, naming the containers it has', () => {
    const call = () => registerInputFrom(described.taskDefinition, 'web', NEW_IMAGE);
    expect(call).toThrow(InvalidInputError);
    expect(call).toThrow(
      "task definition arn:aws:ecs:ap-southeast-1:123456789012:task-definition/buywhere-api:41 has no container 'web' (it has: 'api', 'envoy')",
    );
  });

  it('names fields AWS added after this list so the adapter can warn that the new revision lacks them', () => {
    expect(unknownTaskDefinitionFields(described.taskDefinition)).toEqual([]);
    expect(unknownTaskDefinitionFields({ ...described.taskDefinition, newerField: 1 })).toEqual([
      'newerField',
    ]);
  });
});

describe('judgeEcsRollout', () => {
  it('waits while the new deployment is IN_PROGRESS, then completes when ECS says COMPLETED', () => {
    const progressing = judgeEcsRollout(
      service('service-in-progress.json'),
      NEW_TD,
      DEADLINE,
      BEFORE_DEADLINE,
    );
    expect(progressing).toEqual({
      phase: 'progressing',
      message:
        "Waiting for service 'buywhere-api' to roll out buywhere-api:42: rollout IN_PROGRESS, 1 of 3 tasks running, 2 pending",
    });

    const done = judgeEcsRollout(
      service('service-completed.json'),
      NEW_TD,
      DEADLINE,
      new Date('2026-12-03T12:04:30Z'),
    );
    expect(done).toEqual({
      phase: 'complete',
      message:
        "service 'buywhere-api' runs buywhere-api:42: rollout COMPLETED, 3 of 3 tasks running, 0 pending",
    });
  });

  it('fails by the circuit breaker and says ECS rolled back to the previous task definition', () => {
    const j = judgeEcsRollout(
      service('service-circuit-breaker-rollback.json'),
      NEW_TD,
      DEADLINE,
      BEFORE_DEADLINE,
    );
    expect(j.phase).toBe('failed');
    expect(j.cause).toBe('circuit-breaker');
    expect(j.ecsRolledBackTo).toBe(`${ARN}:41`);
    expect(j.message).toBe(
      "service 'buywhere-api' did not roll out buywhere-api:42: ECS's deployment circuit breaker failed the deployment: " +
        'ECS deployment circuit breaker: tasks failed to start.; ECS rolled back to buywhere-api:41 ' +
        '(rollback in progress, 2 of 3 tasks running, 1 pending)',
    );
  });

  it('fails by the circuit breaker without an ECS rollback when the failed deployment is still PRIMARY', () => {
    const s = service('service-circuit-breaker-rollback.json');
    const failed = s.deployments?.find((d) => d.taskDefinition === NEW_TD);
    const j = judgeEcsRollout(
      { ...s, deployments: [{ ...failed, status: 'PRIMARY' }] },
      NEW_TD,
      DEADLINE,
      BEFORE_DEADLINE,
    );
    expect(j.cause).toBe('circuit-breaker');
    expect(j.ecsRolledBackTo).toBeUndefined();
    expect(j.message).toContain(
      'ECS has not rolled back (it needs an earlier COMPLETED deployment); the guardian rolls back',
    );
  });

  it('fails by a deployment alarm, naming the alarms, and says ECS did not roll back', () => {
    const j = judgeEcsRollout(service('service-alarm-failed.json'), NEW_TD, DEADLINE, BEFORE_DEADLINE);
    expect(j).toEqual({
      phase: 'failed',
      cause: 'alarm',
      message:
        "service 'buywhere-api' did not roll out buywhere-api:42: a deployment alarm failed the deployment: " +
        'ECS deployment detected triggered alarm(s): buywhere-api-prod-5xx. ' +
        '(deployment alarms: buywhere-api-prod-5xx, buywhere-api-prod-p99); ' +
        "ECS's own rollback is off; the guardian rolls back (3 of 3 tasks running, 0 pending)",
    });
  });

  it('fails as replaced when someone else deployed another task definition', () => {
    const j = judgeEcsRollout(service('service-replaced.json'), NEW_TD, DEADLINE, BEFORE_DEADLINE);
    expect(j).toEqual({
      phase: 'failed',
      cause: 'replaced',
      message:
        "someone else deployed to service 'buywhere-api': its PRIMARY deployment runs buywhere-api:43, expected buywhere-api:42; find out who before rolling back",
    });
  });

  it('fails at the deadline while the rollout is still IN_PROGRESS', () => {
    const s = service('service-in-progress.json');
    const j = judgeEcsRollout(s, NEW_TD, DEADLINE, new Date(DEADLINE));
    expect(j).toEqual({
      phase: 'failed',
      cause: 'deadline',
      message: `service 'buywhere-api' did not finish rolling out buywhere-api:42 by the guardian's deadline ${DEADLINE}: rollout IN_PROGRESS, 1 of 3 tasks running, 2 pending`,
    });
    expect(judgeEcsRollout(s, NEW_TD, DEADLINE, new Date('2026-12-03T12:14:59.999Z')).phase).toBe(
      'progressing',
    );
  });

  it('completes even after the deadline when ECS already says COMPLETED', () => {
    const j = judgeEcsRollout(
      service('service-completed.json'),
      NEW_TD,
      DEADLINE,
      new Date('2026-12-03T13:00:00Z'),
    );
    expect(j.phase).toBe('complete');
  });

  it('waits for a PRIMARY deployment ECS has not recorded yet, and fails safe on an unreadable deadline', () => {
    const s = { ...service('service-in-progress.json'), deployments: [] };
    expect(judgeEcsRollout(s, NEW_TD, DEADLINE, BEFORE_DEADLINE).phase).toBe('progressing');
    expect(judgeEcsRollout(s, NEW_TD, 'soon', BEFORE_DEADLINE)).toMatchObject({
      phase: 'failed',
      cause: 'deadline',
    });
  });
});

describe('stoppedReasonsSummary', () => {
  it('names each distinct stopped reason once with its count, most frequent first', () => {
    const { tasks } = fixture<{ tasks: EcsStoppedTask[] }>('describe-tasks-stopped.json');
    expect(stoppedReasonsSummary(tasks)).toBe(
      '3 tasks stopped: Essential container in task exited — container api: exited with code 1 (×2); ' +
        'CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref ' +
        'ghcr.io/buywhere/buywhere-api:v1.2.3: ghcr.io/buywhere/buywhere-api:v1.2.3: not found (×1)',
    );
  });

  it('says how many more reasons there are beyond the ones it shows', () => {
    const tasks = ['a', 'b', 'c', 'd', 'e'].map((r) => ({
      stoppedReason: `reason ${r}`,
      stopCode: 'TaskFailedToStart',
    }));
    expect(stoppedReasonsSummary(tasks)).toBe(
      '5 tasks stopped: reason a (×1); reason b (×1); reason c (×1); and 2 other reasons',
    );
  });

  it('says so when there are no stopped tasks', () => {
    expect(stoppedReasonsSummary([])).toMatch(/^no stopped tasks/);
  });
});

describe('ecsRollbackPointSchema', () => {
  it('accepts a task definition ARN with its revision and refuses a mismatched revision', () => {
    const point = {
      platform: 'ecs',
      taskDefinitionArn: `${ARN}:41`,
      revision: 41,
      image: 'ghcr.io/buywhere/buywhere-api:v1.2.2',
    };
    expect(ecsRollbackPointSchema.parse(point)).toEqual(point);
    expect(ecsRollbackPointSchema.safeParse({ ...point, revision: 40 }).success).toBe(false);
    expect(ecsRollbackPointSchema.safeParse({ ...point, taskDefinitionArn: 'buywhere-api:41' }).success).toBe(
      false,
    );
    expect(taskDefinitionRevision(`${ARN}:41`)).toBe(41);
  });
});

describe('ecsEnvironmentSchema', () => {
  it('accepts cluster, service and container names and refuses an ARN or an unknown key', () => {
    const ok = { cluster: 'buywhere-prod', service: 'buywhere-api', container: 'api' };
    expect(ecsEnvironmentSchema.parse(ok)).toEqual(ok);
    const arn = ecsEnvironmentSchema.safeParse({
      ...ok,
      cluster: 'arn:aws:ecs:ap-southeast-1:123456789012:cluster/x',
    });
    expect(arn.error?.issues[0]?.message).toContain('not an ARN');
    expect(ecsEnvironmentSchema.safeParse({ ...ok, deadlineSeconds: 600 }).success).toBe(false);
  });
});
