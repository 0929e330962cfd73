/**
 * The shared Kubernetes scenarios (test/shared/cluster-scenarios.ts) against a real control plane:
 * kube-apiserver, kube-controller-manager and kube-scheduler built from k8s.io/kubernetes, etcd
 * from go.etcd.io/etcd/server/v3, and kwok fake nodes. The same scenarios run against the
 * embedded simulator in `npm test`, which pins the simulator to what the real server does.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CustomObjectsApi, VersionApi } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { defineClusterScenarios } from '../shared/cluster-scenarios.ts';
import { realKubeConfig, startRealTarget } from './real-cluster.ts';

const versions = Object.fromEntries(
  readFileSync(path.join(import.meta.dirname, '../../tools/kube/versions.env'), 'utf8')
    .split('\n')
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => line.split('=', 2) as [string, string]),
);

defineClusterScenarios(
  `a real control plane (kube-apiserver ${versions.KUBE_VERSION} + kwok)`,
  startRealTarget,
);

describe('the real control plane', () => {
  it('is the pinned Kubernetes release, built with its version stamped in', async () => {
    const info = await realKubeConfig().makeApiClient(VersionApi).getCode();
    expect(info.gitVersion).toBe(versions.KUBE_VERSION);
    expect(`v${info.major}.${info.minor}`).toBe(versions.KUBE_VERSION?.split('.').slice(0, 2).join('.'));
  });

  it('validates Argo Rollout objects against the applied Rollout CRD', async () => {
    const custom = realKubeConfig().makeApiClient(CustomObjectsApi);
    const rollout = (strategy: object) => ({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'buywhere-api' },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'buywhere-api' } },
        template: {
          metadata: { labels: { app: 'buywhere-api' } },
          spec: { containers: [{ name: 'buywhere-api', image: 'ghcr.io/buywhere/buywhere-api:v1.0.0' }] },
        },
        strategy,
      },
    });
    const rejected = await custom
      .createNamespacedCustomObject({
        group: 'argoproj.io',
        version: 'v1alpha1',
        namespace: 'default',
        plural: 'rollouts',
        body: rollout({ canary: { steps: [{ setWeight: 'twenty' }] } }),
      })
      .catch((e) => e);
    expect(rejected.code).toBe(422);
    expect(JSON.parse(rejected.body).message).toMatch(/setWeight/);

    const created = await custom.createNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      namespace: 'default',
      plural: 'rollouts',
      body: rollout({ blueGreen: { activeService: 'buywhere-api-active', autoPromotionEnabled: false } }),
    });
    expect(created).toMatchObject({ kind: 'Rollout', metadata: { name: 'buywhere-api', generation: 1 } });
    await custom.deleteNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      namespace: 'default',
      plural: 'rollouts',
      name: 'buywhere-api',
    });
  });
});
