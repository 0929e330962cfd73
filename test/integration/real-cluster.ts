/**
 * The real control plane started by tools/kube/cluster.sh (etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler and kwok fake nodes) as a {@link ClusterTarget}, plus
 * helpers the integration tests share.
 */
import { randomBytes } from 'node:crypto';
import { AppsV1Api, CoreV1Api, KubeConfig, type V1Deployment } from '@kubernetes/client-node';
import type { ClusterTarget, SeedSpec } from '../shared/cluster-scenarios.ts';

/** Env var cluster.sh sets to the kubeconfig of the running cluster. */
export const KUBECONFIG_ENV = 'GUARDIAN_KUBECONFIG';

/** The kubeconfig path of the running cluster, or an error saying how to start one. */
export function realKubeconfigPath(): string {
  const file = process.env[KUBECONFIG_ENV];
  if (!file) {
    throw new Error(
      `${KUBECONFIG_ENV} is not set: run the integration tests with \`npm run test:integration\`, ` +
        'which starts the real cluster (tools/kube/cluster.sh run -- ...) and stops it afterwards',
    );
  }
  return file;
}

/** A KubeConfig for the running cluster. */
export function realKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(realKubeconfigPath());
  return kc;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 250 ms until it returns true; fails naming `what` after `timeoutMs`. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

/** The Deployment the simulator seeds (lib/local/cluster-sim SimCluster.seed), as a real object. */
export function seedDeployment(
  spec: SeedSpec,
  extra: { progressDeadlineSeconds?: number } = {},
): V1Deployment {
  const labels = { app: spec.name };
  return {
    metadata: { name: spec.name, labels },
    spec: {
      replicas: spec.replicas,
      selector: { matchLabels: labels },
      ...extra,
      template: {
        metadata: { labels },
        spec: { containers: [{ name: spec.container, image: spec.image, ports: [{ containerPort: 8000 }] }] },
      },
    },
  };
}

/** Creates the namespace (if missing) and the Deployment, and waits until it is rolled out. */
export async function seedReal(
  kc: KubeConfig,
  spec: SeedSpec,
  extra: { progressDeadlineSeconds?: number } = {},
): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  await core
    .createNamespace({ body: { metadata: { name: spec.namespace } } })
    .catch((e: { code?: number }) => {
      if (e.code !== 409) throw e;
    });
  await apps.createNamespacedDeployment({ namespace: spec.namespace, body: seedDeployment(spec, extra) });
  await waitUntil(`Deployment ${spec.namespace}/${spec.name} to roll out`, async () => {
    const d = await apps.readNamespacedDeployment({ namespace: spec.namespace, name: spec.name });
    const s = d.status;
    return (
      (s?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
      s?.updatedReplicas === spec.replicas &&
      s?.availableReplicas === spec.replicas &&
      s?.replicas === spec.replicas
    );
  });
}

/**
 * What the workload's Service would route to: the first image of the newest ReplicaSet (by
 * revision) the Deployment owns that has Ready pods. Same rule as the simulator's servedImage.
 */
export async function servedImageOf(
  kc: KubeConfig,
  namespace: string,
  name: string,
): Promise<string | undefined> {
  const apps = kc.makeApiClient(AppsV1Api);
  const d = await apps.readNamespacedDeployment({ namespace, name }).catch(() => undefined);
  if (!d) return undefined;
  const list = await apps.listNamespacedReplicaSet({ namespace });
  const revision = (a?: Record<string, string>) => Number(a?.['deployment.kubernetes.io/revision'] ?? 0);
  const serving = list.items
    .filter((rs) => rs.metadata?.ownerReferences?.some((o) => o.controller && o.uid === d.metadata?.uid))
    .filter((rs) => (rs.status?.readyReplicas ?? 0) > 0)
    .sort((a, b) => revision(b.metadata?.annotations) - revision(a.metadata?.annotations))[0];
  return serving?.spec?.template?.spec?.containers[0]?.image;
}

/** Starts a target on the running cluster; every scenario gets namespaces of its own. */
export async function startRealTarget(): Promise<ClusterTarget> {
  const kubeConfig = realKubeConfig();
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const created: string[] = [];
  return {
    kubeConfig,
    controlsTime: false,
    stepSeconds: 0.25,
    async seed(spec) {
      created.push(spec.namespace);
      await seedReal(kubeConfig, spec);
    },
    async elapse(seconds) {
      await sleep(seconds * 1000);
    },
    servedImage: (namespace, name) => servedImageOf(kubeConfig, namespace, name),
    freshNamespace: (prefix) => `${prefix}-${randomBytes(4).toString('hex')}`,
    async close() {
      // The namespace controller and kwok finish the deletion in the background.
      await Promise.all(created.map((name) => core.deleteNamespace({ name }).catch(() => undefined)));
    },
  };
}
