/** The embedded cluster simulator as a {@link RolloutTarget} of the shared Rollout scenarios. */
import { SimulatedClock } from '../../lib/local/clock.ts';
import { type ClusterSimulator, startClusterSimulator } from '../../lib/local/cluster-sim/index.ts';
import type { RolloutTarget } from './rollout-target.ts';

/** A simulator target plus the simulator itself, for the simulator-only tests. */
export interface SimRolloutTarget extends RolloutTarget {
  readonly sim: ClusterSimulator;
  readonly clock: SimulatedClock;
}

/** Starts an empty simulator on a fixed simulated clock. */
export async function startSimRolloutTarget(): Promise<SimRolloutTarget> {
  const clock = new SimulatedClock(new Date('2026-03-02T09:00:00Z'));
  const sim = await startClusterSimulator({ clock });
  return {
    sim,
    clock,
    kubeConfig: sim.kubeConfig(),
    controlsTime: true,
    stepSeconds: 5,
    async seedRollout(spec) {
      sim.cluster.seedRollout(spec);
      const phase = sim.cluster.getRollout(spec.namespace, spec.name).status?.phase;
      if (phase !== 'Healthy')
        throw new Error(`seeded Rollout ${spec.namespace}/${spec.name} is ${phase}, not Healthy`);
    },
    async elapse(seconds) {
      clock.advance(seconds);
    },
    async servedImage(namespace, service) {
      return sim.servedImageOfService(namespace, service);
    },
    freshNamespace: (prefix) => prefix,
    close: () => sim.close(),
  };
}
