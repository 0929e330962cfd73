/**
 * A Kubernetes API with an Argo Rollouts controller that the Rollout contract scenarios
 * (test/shared/rollout-scenarios.ts) run against: the embedded cluster simulator (`npm test`) or
 * the real control plane plus the real controller built from the Go module proxy
 * (`npm run test:integration`). Where the two differ, the simulator is wrong.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { SeedRollout } from '../../lib/local/cluster-sim/index.ts';

/**
 * A blue-green Rollout to create, with its Services, already rolled out at revision 1: the
 * simulator's seed (both targets create the same objects, `rolloutSeedObjects`).
 */
export type RolloutSeedSpec = SeedRollout;

/** A cluster with an Argo Rollouts controller. */
export interface RolloutTarget {
  readonly kubeConfig: KubeConfig;
  /** True when the test owns time (the simulator); a real controller moves on its own. */
  readonly controlsTime: boolean;
  /** How far one step of {@link RolloutTarget.elapse} moves when waiting for a state (seconds). */
  readonly stepSeconds: number;
  /** Creates the namespace, the Services and the Rollout; returns once it is Healthy at revision 1. */
  seedRollout(spec: RolloutSeedSpec): Promise<void>;
  /** Lets `seconds` pass: the simulator's clock advances, a real cluster is given that wall time. */
  elapse(seconds: number): Promise<void>;
  /** The image of the Ready pods `service` selects now (what it serves), if any. */
  servedImage(namespace: string, service: string): Promise<string | undefined>;
  /** A namespace name no other scenario uses. */
  freshNamespace(prefix: string): string;
  /** Releases what this target created. */
  close(): Promise<void>;
}
