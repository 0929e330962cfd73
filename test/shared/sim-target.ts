/** The embedded cluster simulator as a {@link ClusterTarget} of the shared Kubernetes scenarios. */
import { SimulatedClock } from '../../lib/local/clock.ts';
import { type ClusterSimulator, startClusterSimulator } from '../../lib/local/cluster-sim/index.ts';
import type { ClusterTarget } from './cluster-scenarios.ts';

/** A simulator target plus the simulator itself, for the simulator-only tests. */
export interface SimTarget extends ClusterTarget {
  readonly sim: ClusterSimulator;
  readonly clock: SimulatedClock;
}

/** Starts an empty simulator on a fixed simulated clock. */
export async function startSimTarget(): Promise<SimTarget> {
  const clock = new SimulatedClock(new Date('2026-03-02T09:00:00Z'));
  const sim = await startClusterSimulator({ clock });
  return {
    sim,
    clock,
    kubeConfig: sim.kubeConfig(),
    controlsTime: true,
    stepSeconds: 5,
    async seed(spec) {
      sim.cluster.seed(spec);
    },
    async elapse(seconds) {
      clock.advance(seconds);
    },
    async servedImage(namespace, name) {
      return sim.servedImage(namespace, name);
    },
    freshNamespace: (prefix) => prefix,
    close: () => sim.close(),
  };
}
