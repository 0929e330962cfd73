/**
 * The guardian's blue-green Deploy and Rollback workflows (issue 11), run by the local runner
 * (synthesized state machines of production-argo, real step handlers, dynalite) against the real
 * control plane and the real Argo Rollouts controller, in real time. Two demo APIs serve what the
 * real active and preview Services select, so the preview health check and the canary analysis of
 * preview against stable read each side.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { KubernetesRollouts } from '../../lambdas/adapters/kubernetes-rollouts.ts';
import { systemClock } from '../../lambdas/core/ports.ts';
import { loadConfig } from '../../lib/config/load.ts';
import type { GuardianConfig } from '../../lib/config/schema.ts';
import { startDemoApi } from '../../lib/local/demo-api.ts';
import type { LocalExecutionResult } from '../../lib/local/executor.ts';
import { LocalGuardian } from '../../lib/local/guardian.ts';
import { rolloutServices } from '../../lib/local/seed.ts';
import { realKubeConfig, realKubeconfigPath } from './real-cluster.ts';
import { seedRealRollout, servedImageOfService } from './real-rollouts.ts';

const ENV = 'production-argo';
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
  readonly rollouts: KubernetesRollouts;
  readonly active: string;
  readonly preview: string;
}

/** A demo API that serves whatever `service` selects in the real cluster (refreshed every 200 ms). */
async function demoBehind(namespace: string, service: string, seed: number): Promise<string> {
  const kc = realKubeConfig();
  let served: string | undefined = STABLE;
  const refresh = setInterval(() => {
    servedImageOfService(kc, namespace, service).then(
      (image) => {
        served = image;
      },
      () => undefined,
    );
  }, 200);
  closers.push(async () => clearInterval(refresh));
  const demo = await startDemoApi({ clock: systemClock, seed, resolveImage: () => served });
  closers.push(() => demo.close());
  return demo.url;
}

/**
 * Seeds production-argo's Rollout (in a namespace of its own) at STABLE with its two Services and
 * a 20 s progress deadline, and starts the local guardian on the real cluster in real time, with
 * production's analysis and monitoring shortened so the suite stays short.
 */
async function start(): Promise<Harness> {
  const base = loadConfig();
  const env = base.environments[ENV];
  if (!env) throw new Error(`config/environments.yaml has no ${ENV} environment`);
  const namespace = `prod-${randomBytes(4).toString('hex')}`;
  const { activeService: active, previewService: preview } = rolloutServices(env.workload);
  const kc = realKubeConfig();
  await seedRealRollout(kc, {
    namespace,
    name: env.workload,
    container: env.container,
    image: STABLE,
    replicas: 3,
    activeService: active,
    previewService: preview,
    scaleDownDelaySeconds: 5,
    progressDeadlineSeconds: 20,
  });
  const apiUrl = await demoBehind(namespace, active, 2);
  const previewUrl = await demoBehind(namespace, preview, 3);
  const config: GuardianConfig = {
    ...base,
    environments: {
      ...base.environments,
      [ENV]: {
        ...env,
        namespace,
        argo: { previewUrl },
        requireVersionTag: false,
        changeFreezes: [],
        backup: { ...env.backup, database: 'none' },
        rollout: { ...env.rollout, deadlineSeconds: 60, pollIntervalSeconds: 2 },
        healthCheck: { ...env.healthCheck, intervalSeconds: 2 },
        thresholds: { ...env.thresholds, monitoring_duration_seconds: 10 },
        monitoring: { ...env.monitoring, intervalSeconds: 5 },
        ...(env.canary && {
          canary: { ...env.canary, durationSeconds: 30, intervalSeconds: 10, minRequests: 50 },
        }),
      },
    },
  };
  const guardian = await LocalGuardian.start({ config, kubeconfig: realKubeconfigPath(), apiUrl });
  closers.push(() => guardian.close());
  return {
    guardian,
    namespace,
    workload: env.workload,
    rollouts: new KubernetesRollouts(kc),
    active,
    preview,
  };
}

function statesOf(result: LocalExecutionResult, execution = result.name): string[] {
  return result.events
    .filter((e) => e.type === 'StateEntered' && e.execution === execution)
    .map((e) => e.state ?? '');
}

const deployInput = (image: string) => ({
  environment: ENV,
  image,
  trigger: 'ci',
  requestedBy: 'github-actions',
});

describe('blue-green workflows against the real Argo Rollouts controller', () => {
  it('previews, analyses and promotes a good release; guardian rollback then undoes the promotion', async () => {
    const h = await start();
    const result = await h.guardian.deploy(deployInput(`${REPO}:v1.5.0`));
    expect(result.cause).toBeUndefined();
    expect(result.status).toBe('SUCCEEDED');
    expect(statesOf(result)).toEqual(
      expect.arrayContaining([
        'Set Rollout image',
        'Health check preview',
        'Canary round',
        'Promote',
        'Record deployment',
      ]),
    );
    const promoted = await h.rollouts.getRollout(h.namespace, h.workload);
    expect(promoted.status.phase).toBe('Healthy');
    expect(promoted.images['buywhere-api']).toBe(`${REPO}:v1.5.0`);
    expect(await servedImageOfService(realKubeConfig(), h.namespace, h.active)).toBe(`${REPO}:v1.5.0`);

    // The old ReplicaSet is scaled down (scaleDownDelaySeconds 5): the undo goes to a cold revision,
    // which the real controller would hold at BlueGreenPause without the guardian's full promotion.
    await new Promise((resolve) => setTimeout(resolve, 8000));
    const undo = await h.guardian.rollback({
      environment: ENV,
      reason: 'post-promotion errors, on the real controller',
      trigger: 'operator',
      requestedBy: 'bolt',
    });
    expect(undo.cause).toBeUndefined();
    expect(undo.status).toBe('SUCCEEDED');
    const after = await h.rollouts.getRollout(h.namespace, h.workload);
    expect(after.images['buywhere-api']).toBe(STABLE);
    expect(after.status.phase).toBe('Healthy');
    expect(after.status.currentPodHash).toBe(after.status.stableRS);
    expect(await servedImageOfService(realKubeConfig(), h.namespace, h.active)).toBe(STABLE);
  });

  it('rolls back a preview that never becomes ready: the active Service never leaves stable and the template goes back', async () => {
    const h = await start();
    const result = await h.guardian.deploy(deployInput(`${REPO}:v1.5.0-never-ready`));
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('DeploymentRolledBack');
    expect(statesOf(result)).not.toContain('Promote');
    expect(statesOf(result, `${result.name}-rollback`)).toEqual(
      expect.arrayContaining(['Abort and restore stable revision', 'Record rollback']),
    );
    const after = await h.rollouts.getRollout(h.namespace, h.workload);
    expect(after.images['buywhere-api']).toBe(STABLE);
    expect(after.status.phase).toBe('Healthy');
    expect(after.status.abort).toBe(false);
    expect(await servedImageOfService(realKubeConfig(), h.namespace, h.active)).toBe(STABLE);
    expect((await h.guardian.store(ENV).getRecord(ENV, result.name))?.status).toBe('rolled-back');
    expect(await h.guardian.store(ENV).getLock(ENV)).toBeUndefined();
  });
});
