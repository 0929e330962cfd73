/**
 * What the local runner puts in the cluster simulator for an environment, and the demo APIs that
 * serve it: a Deployment behind one demo API, or (issue 11) a blue-green Argo Rollout with its
 * active and preview Services, each behind its own demo API so the canary judge compares them.
 * Shared by the in-process runner (guardian.ts) and the state service (state-service.ts).
 */
import type { Clock } from '../../lambdas/core/ports.ts';
import type { ClusterSimulator } from './cluster-sim/index.ts';
import type { DemoApi } from './demo-api.ts';
import type { ServiceWorkload } from './state-service.ts';

/** The active and preview Services the local runner seeds beside an environment's Rollout. */
export function rolloutServices(workload: string): { activeService: string; previewService: string } {
  return { activeService: `${workload}-active`, previewService: `${workload}-preview` };
}

/**
 * Seeds one workload into the simulator (a Deployment, or a blue-green Rollout with its two
 * Services; nothing when it exists) and starts its demo APIs: one behind the Deployment, or one
 * behind each of the Rollout's Services, so the judge can compare preview with stable.
 */
export async function seedWithDemoApis(
  sim: ClusterSimulator,
  w: ServiceWorkload,
  clock: Clock,
): Promise<{ api: DemoApi; preview?: DemoApi }> {
  const { startDemoApi } = await import('./demo-api.ts');
  if (w.kind === 'rollout') {
    const active = w.activeService ?? rolloutServices(w.name).activeService;
    const preview = w.previewService ?? rolloutServices(w.name).previewService;
    sim.cluster.seedRollout({
      namespace: w.namespace,
      name: w.name,
      container: w.container,
      image: w.image,
      replicas: 3,
      activeService: active,
      previewService: preview,
    });
    return {
      api: await startDemoApi({ clock, resolveImage: () => sim.servedImageOfService(w.namespace, active) }),
      // Its own traffic (another seed): two sides serving the same release are alike, not identical.
      preview: await startDemoApi({
        clock,
        seed: 3,
        resolveImage: () => sim.servedImageOfService(w.namespace, preview),
      }),
    };
  }
  sim.cluster.seed({
    namespace: w.namespace,
    name: w.name,
    container: w.container,
    image: w.image,
    replicas: 3,
  });
  return { api: await startDemoApi({ clock, resolveImage: () => sim.servedImage(w.namespace, w.name) }) };
}
