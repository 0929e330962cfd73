/** Fails the integration run at once, with the fix, when no real cluster was started for it. */
import { existsSync } from 'node:fs';
import { realKubeconfigPath } from './real-cluster.ts';

/** Vitest global setup: checks the kubeconfig of the cluster tools/kube/cluster.sh started. */
export default function setup(): void {
  const file = realKubeconfigPath();
  if (!existsSync(file)) throw new Error(`GUARDIAN_KUBECONFIG points to ${file}, which does not exist`);
}
