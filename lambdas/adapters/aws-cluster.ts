/**
 * The cluster port of a Lambda function with cluster access: EKS DescribeCluster + a presigned
 * STS token, then @kubernetes/client-node. Imported only by the handlers of steps that talk to
 * Kubernetes, so the others bundle neither the EKS nor the Kubernetes client.
 */
import type { RuntimeEnv } from '../core/runtime-env.ts';
import { eksClusterProvider } from './eks.ts';
import type { ClusterPort } from './ports.ts';

/** `StepDeps.cluster` for the environment's EKS cluster (connects on first use, then cached). */
export function eksClusterFromEnv(env: RuntimeEnv): () => Promise<ClusterPort> {
  return eksClusterProvider(env.config);
}
