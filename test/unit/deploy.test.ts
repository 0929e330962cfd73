import { describe, expect, it } from 'vitest';
import { closedBreaker } from '../../lambdas/core/breaker.ts';
import { type DeploymentFacts, deploymentContext, deploymentRecord } from '../../lambdas/core/deploy.ts';
import { validateRelease } from '../../lambdas/core/image.ts';
import { buildLock } from '../../lambdas/core/lock.ts';
import { deployInputSchema, deploymentContextSchema } from '../../lambdas/core/types.ts';
import type { RollbackPoint, WorkloadObservation } from '../../lambdas/core/workload.ts';
import { loadConfig } from '../../lib/config/load.ts';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';

function environment(name: string): EnvironmentConfig {
  const env = loadConfig().environments[name];
  if (!env) throw new Error(`config/environments.yaml has no environment '${name}'`);
  return env;
}

const production = environment('production');
const REPO = 'ghcr.io/buywhere/buywhere-api';
const NOW = new Date('2026-05-01T02:00:00.000Z');
const EXECUTION = {
  Id: 'arn:aws:states:ap-southeast-1:123456789012:execution:guardian-production-deploy:production-v1-2-3-4f2a9c1e',
  Name: 'production-v1-2-3-4f2a9c1e',
};
const WORKLOAD = 'deployment "production/buywhere-api"';

const point: RollbackPoint = {
  platform: 'kubernetes',
  revision: 6,
  image: `${REPO}:v1.2.2`,
  podTemplate: { spec: { containers: [{ name: 'buywhere-api', image: `${REPO}:v1.2.2` }] } },
};
const observation: WorkloadObservation = {
  name: WORKLOAD,
  platform: 'kubernetes',
  image: `${REPO}:v1.2.2`,
  revision: 6,
  rollout: { phase: 'complete', message: `${WORKLOAD} successfully rolled out` },
  replicas: { desired: 3, updated: 3, ready: 3, available: 3 },
};

function facts(request: Record<string, unknown> = {}): DeploymentFacts {
  const input = deployInputSchema.parse({
    environment: 'production',
    image: `${REPO}:v1.2.3`,
    trigger: 'ci',
    requestedBy: 'github-actions',
    ...request,
  });
  return {
    config: production,
    input,
    release: validateRelease(production, input.image, input.version),
    execution: EXECUTION,
    observation,
    point,
    breaker: closedBreaker('production'),
    lock: buildLock('production', EXECUTION.Name, EXECUTION.Id, NOW, production.lock.ttlSeconds),
    now: NOW,
  };
}

describe('deploymentContext', () => {
  it('targets the requested image by the environment deadline and keeps the captured rollback point', () => {
    const c = deploymentContext(facts());
    expect(c).toMatchObject({
      environment: 'production',
      workload: WORKLOAD,
      expectedImage: `${REPO}:v1.2.3`,
      rolloutDeadlineAt: '2026-05-01T02:10:00.000Z',
      deploymentId: EXECUTION.Name,
      executionArn: EXECUTION.Id,
      image: `${REPO}:v1.2.3`,
      version: 'v1.2.3',
      rollbackPoint: point,
      startedAt: NOW.toISOString(),
      dryRun: false,
    });
    // What the Deploy workflow's later states parse `$.deployment` with.
    expect(deploymentContextSchema.parse(c)).toEqual(c);
  });

  it('plans the checks and the actions, saying until when it took the lock', () => {
    expect(deploymentContext(facts()).plan).toEqual([
      `image ${REPO}:v1.2.3 (version v1.2.3) is valid for production`,
      'no change freeze in effect',
      'circuit breaker closed (0 of 2 consecutive failed releases)',
      'took the production lock until 2026-05-01T04:30:00.000Z',
      'back up DB instance buywhere-prod as snapshot guardian-production-v1-2-3-20260501t020000z and wait up to 1800 s for it to be available; a failed or late backup stops the deployment before anything changes',
      `set ${WORKLOAD} from revision 6 (${REPO}:v1.2.2) to ${REPO}:v1.2.3`,
      'wait up to 600s for the rollout (until 2026-05-01T02:10:00.000Z)',
      'check GET /health, GET /ready, GET /metrics on https://api.buywhere.io',
      `canary analysis: 300 s judged every 30 s against ${REPO}:v1.2.2's metrics from prometheus before the rollout; a fail rolls back, too little evidence (under 1000 requests) holds the release and pages (P2) for 1800 s`,
      `on failure roll back to revision 6 (${REPO}:v1.2.2)`,
    ]);
  });

  it('says a dry run does not take the lock', () => {
    const c = deploymentContext(facts({ dryRun: true }));
    expect(c.dryRun).toBe(true);
    expect(c.plan[3]).toBe('the production lock is free (a dry run does not take it)');
    expect(c.plan.join('\n')).not.toMatch(/took the production lock/);
  });

  it("shows the breaker's failure count in the plan", () => {
    const f = facts();
    const c = deploymentContext({ ...f, breaker: { ...f.breaker, consecutiveFailures: 1 } });
    expect(c.plan[2]).toBe('circuit breaker closed (1 of 2 consecutive failed releases)');
  });

  it('takes the version from the tag when none was requested, and the digest-pinned image as given', () => {
    const image = `${REPO}:v1.2.3@sha256:${'a'.repeat(64)}`;
    const c = deploymentContext(facts({ image }));
    expect(c).toMatchObject({ image, expectedImage: image, version: 'v1.2.3' });
  });
});

describe('deploymentContext without a version', () => {
  it('leaves the version out of the context, the plan and the record for a digest-only image', () => {
    const staging = environment('staging');
    const image = `${REPO}@sha256:${'b'.repeat(64)}`;
    const input = deployInputSchema.parse({ environment: 'staging', image, requestedBy: 'rex' });
    const c = deploymentContext({
      ...facts(),
      config: staging,
      input,
      release: validateRelease(staging, image),
      breaker: closedBreaker('staging'),
    });
    expect(c).not.toHaveProperty('version');
    expect(c.plan[0]).toBe(`image ${image} is valid for staging`);
    expect(c.rolloutDeadlineAt).toBe('2026-05-01T02:05:00.000Z');
    expect(deploymentRecord(c, input)).not.toHaveProperty('version');
  });
});

describe('deploymentRecord', () => {
  it('records the deployment as in progress, with the point a rollback restores', () => {
    const f = facts({ version: 'v1.2.3', ciRunUrl: 'https://ci.example/runs/7' });
    expect(deploymentRecord(deploymentContext(f), f.input)).toEqual({
      environment: 'production',
      id: EXECUTION.Name,
      kind: 'deploy',
      status: 'in-progress',
      executionArn: EXECUTION.Id,
      trigger: 'ci',
      requestedBy: 'github-actions',
      ciRunUrl: 'https://ci.example/runs/7',
      image: `${REPO}:v1.2.3`,
      version: 'v1.2.3',
      rollbackPoint: point,
      startedAt: NOW.toISOString(),
      // Named at preflight: the dry-run plan and the record name the snapshot the backup will take.
      backup: {
        snapshotId: 'guardian-production-v1-2-3-20260501t020000z',
        kind: 'instance',
        identifier: 'buywhere-prod',
        status: 'planned',
        startedAt: NOW.toISOString(),
      },
    });
  });

  it('leaves out a CI link the request did not give', () => {
    const f = facts({ trigger: 'operator', requestedBy: 'rex' });
    const r = deploymentRecord(deploymentContext(f), f.input);
    expect(r).toMatchObject({ trigger: 'operator', requestedBy: 'rex' });
    expect(r).not.toHaveProperty('ciRunUrl');
  });
});
