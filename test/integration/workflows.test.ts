/**
 * The guardian's Deploy and Rollback workflows, run by the local runner (synthesized state
 * machines, real step handlers, dynalite) against the real control plane. The health checks hit
 * a demo API that serves whatever image the real cluster's newest Ready ReplicaSet runs.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { KubernetesCluster } from '../../lambdas/adapters/kubernetes.ts';
import { systemClock } from '../../lambdas/core/ports.ts';
import { loadConfig } from '../../lib/config/load.ts';
import type { GuardianConfig } from '../../lib/config/schema.ts';
import { type DemoApi, startDemoApi } from '../../lib/local/demo-api.ts';
import type { LocalExecutionResult } from '../../lib/local/executor.ts';
import { LocalGuardian } from '../../lib/local/guardian.ts';
import { isComplete } from '../shared/cluster-scenarios.ts';
import { realKubeConfig, realKubeconfigPath, seedReal, servedImageOf } from './real-cluster.ts';

const REPO = 'ghcr.io/buywhere/buywhere-api';
const STABLE = `${REPO}:v1.4.2`;

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

interface Harness {
  readonly guardian: LocalGuardian;
  readonly namespace: string;
  readonly workload: string;
  readonly container: string;
  readonly cluster: KubernetesCluster;
}

/**
 * Seeds staging's Deployment (in a namespace of its own) at STABLE with a 10 s progress deadline,
 * and starts the local guardian on the real cluster in real time (waits really wait, as in AWS),
 * polling every 2 s so the suite stays short.
 */
async function start(): Promise<Harness> {
  const base = loadConfig();
  const staging = base.environments.staging;
  if (!staging) throw new Error('config/environments.yaml has no staging environment');
  const namespace = `staging-${randomBytes(4).toString('hex')}`;
  const config: GuardianConfig = {
    ...base,
    environments: {
      ...base.environments,
      staging: {
        ...staging,
        namespace,
        rollout: { ...staging.rollout, pollIntervalSeconds: 2 },
        healthCheck: { ...staging.healthCheck, intervalSeconds: 2 },
        // Post-deployment monitoring in real time: two rounds, not the runbook's five minutes.
        thresholds: { ...staging.thresholds, monitoring_duration_seconds: 10 },
        monitoring: { ...staging.monitoring, intervalSeconds: 5 },
        // The canary analysis in real time too, at its shortest (30 s): three 10 s rounds against
        // three scraped baseline intervals of the demo API (20 requests a second), not staging's
        // three minutes.
        ...(staging.canary && {
          canary: { ...staging.canary, durationSeconds: 30, intervalSeconds: 10, minRequests: 50 },
        }),
      },
    },
  };
  const kc = realKubeConfig();
  await seedReal(
    kc,
    { namespace, name: staging.workload, container: staging.container, image: STABLE, replicas: 3 },
    { progressDeadlineSeconds: 10 },
  );

  // The demo API serves the image of the real cluster's newest Ready ReplicaSet.
  let served: string | undefined = STABLE;
  const refresh = setInterval(() => {
    servedImageOf(kc, namespace, staging.workload).then(
      (image) => {
        served = image;
      },
      () => undefined,
    );
  }, 200);
  closers.push(async () => clearInterval(refresh));
  const demo: DemoApi = await startDemoApi({ clock: systemClock, resolveImage: () => served });
  closers.push(() => demo.close());

  const kubeconfig = realKubeconfigPath();

  const guardian = await LocalGuardian.start({ config, kubeconfig, apiUrl: demo.url });
  closers.push(() => guardian.close());
  return {
    guardian,
    namespace,
    workload: staging.workload,
    container: staging.container,
    cluster: new KubernetesCluster(kc),
  };
}

function statesOf(result: LocalExecutionResult, execution = result.name): string[] {
  return result.events
    .filter((e) => e.type === 'StateEntered' && e.execution === execution)
    .map((e) => e.state ?? '');
}

const deployInput = (image: string) => ({
  environment: 'staging',
  image,
  trigger: 'ci',
  requestedBy: 'github-actions',
});

describe('guardian workflows against the real control plane', () => {
  it('deploys a good release to completion, then an operator rollback restores the previous image', async () => {
    const h = await start();
    const result = await h.guardian.deploy(deployInput(`${REPO}:v1.5.0`));
    expect(result.cause).toBeUndefined();
    expect(result.status).toBe('SUCCEEDED');
    expect(statesOf(result)).toEqual(
      expect.arrayContaining([
        'Set image',
        'Check rollout status',
        'Enhanced health check',
        'Record deployment',
      ]),
    );
    const deployed = await h.cluster.getWorkload(h.namespace, h.workload);
    expect(deployed.images[h.container]).toBe(`${REPO}:v1.5.0`);
    expect(deployed.revision).toBe(2);
    expect(isComplete(deployed)).toBe(true);
    expect(await servedImageOf(realKubeConfig(), h.namespace, h.workload)).toBe(`${REPO}:v1.5.0`);

    const undo = await h.guardian.rollback({
      environment: 'staging',
      reason: 'operator rollback on the real cluster',
      trigger: 'operator',
      requestedBy: 'bolt',
    });
    expect(undo.cause).toBeUndefined();
    expect(undo.status).toBe('SUCCEEDED');
    const rolledBack = await h.cluster.getWorkload(h.namespace, h.workload);
    expect(rolledBack.images[h.container]).toBe(STABLE);
    expect(rolledBack.revision).toBe(3);
    expect(isComplete(rolledBack)).toBe(true);
    const revisions = await h.cluster.listRevisions(h.namespace, h.workload);
    expect(revisions.at(-1)?.changeCause).toMatch(/operator rollback on the real cluster/);
  });

  it('rolls back a release whose pods never become Ready, ending on the previous image', async () => {
    const h = await start();
    const result = await h.guardian.deploy(deployInput(`${REPO}:v1.5.0-never-ready`));
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('DeploymentRolledBack');
    // The real deployment controller's ProgressDeadlineExceeded ended the wait, not the guardian's clock.
    expect(result.cause).toMatch(/exceeded its progress deadline \(10s\)/);
    const child = `${result.name}-rollback`;
    expect(statesOf(result, child)).toEqual(
      expect.arrayContaining(['Prepare rollback', 'Undo to previous revision', 'Record rollback']),
    );
    expect(statesOf(result, child).at(-1)).toBe('Rolled back');

    const after = await h.cluster.getWorkload(h.namespace, h.workload);
    expect(after.images[h.container]).toBe(STABLE);
    expect(after.revision).toBe(3);
    expect(isComplete(after)).toBe(true);
    expect(await servedImageOf(realKubeConfig(), h.namespace, h.workload)).toBe(STABLE);
    const record = await h.guardian.store('staging').getRecord('staging', result.name);
    expect(record?.status).toBe('rolled-back');
    expect(await h.guardian.store('staging').getLock('staging')).toBeUndefined();
  });
});
