/**
 * The embedded cluster simulator: a Kubernetes API subset over HTTP with a deployment
 * controller and an Argo Rollouts (blue-green) controller driven by the simulated clock. Start it
 * with startClusterSimulator.
 */
export {
  ANNOTATIONS,
  ApiError,
  type ClusterSimSnapshot,
  type KObject,
  matchesSelector,
  type SeedWorkload,
  SimCluster,
} from './cluster.ts';
export { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, PatchError } from './patch.ts';
export { calculateRolloutPhase, ROLLOUT_ANNOTATIONS, ROLLOUT_HASH_LABEL } from './rollout-controller.ts';
export { rolloutSeedObjects, SEED_CONTAINER_PORT, type SeedRollout } from './rollout-seed.ts';
export {
  type ClusterSimulator,
  type ClusterSimulatorOptions,
  type FaultInjection,
  type InjectedStatus,
  type SimulatorRequest,
  startClusterSimulator,
} from './server.ts';
