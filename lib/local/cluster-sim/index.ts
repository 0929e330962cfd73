/**
 * The embedded cluster simulator: a Kubernetes API subset over HTTP with a deployment
 * controller driven by the simulated clock. Start it with startClusterSimulator.
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
export {
  type ClusterSimulator,
  type ClusterSimulatorOptions,
  type FaultInjection,
  type InjectedStatus,
  type SimulatorRequest,
  startClusterSimulator,
} from './server.ts';
