/**
 * The environment's Workload port in AWS, for CLI commands that read or drive the workload with
 * the operator's own credentials (EKS DescribeCluster + a token, or ECS): the same adapter the
 * Lambda functions build, from the port table. A module of its own so that those commands do not
 * load the CLI's AWS backend (CloudFormation, Step Functions, DynamoDB clients).
 */
import { systemClock } from '../../lambdas/core/ports.ts';
import type { WorkloadPort } from '../../lambdas/core/workload.ts';
import type { EnvironmentConfig } from '../config/schema.ts';

/** Builds `env`'s Workload adapter for AWS. */
export async function awsWorkload(env: EnvironmentConfig): Promise<WorkloadPort> {
  const { resolvePort } = await import('../../lambdas/ports/table.ts');
  const built = resolvePort('workload', env).aws({ config: env, vars: {}, clock: systemClock }) as
    | Promise<WorkloadPort>
    | undefined;
  if (!built) throw new Error(`the ${env.platform} workload adapter is not part of this build`);
  return built;
}
