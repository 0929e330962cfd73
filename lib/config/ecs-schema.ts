/**
 * The `ecs:` block of an environment in `config/environments.yaml` (issue 10, platform `ecs`):
 * which service the guardian drives and which of its task definition's containers it releases.
 * The rollout deadline and poll interval are the environment's existing `rollout:` keys, so an ECS
 * environment waits as long as a Kubernetes one. Pure zod, shared by the Lambda bundles and the CLI.
 */
import * as z from 'zod';

/** ECS cluster and service names: 1-255 letters, digits, hyphens and underscores (the ECS API's rule). */
const ecsName = (what: string) =>
  z
    .string()
    .regex(
      /^[A-Za-z0-9_-]{1,255}$/,
      `must be the ${what}'s name: 1-255 letters, digits, hyphens or underscores, not an ARN`,
    );

/** The `ecs:` block. */
export const ecsEnvironmentSchema = z.strictObject({
  /** The cluster the service runs in (`aws ecs … --cluster`). */
  cluster: ecsName('cluster'),
  /** The service to update (`aws ecs update-service --service`). */
  service: ecsName('service'),
  /** The container in the service's task definition whose image a release changes. */
  container: z
    .string()
    .regex(
      /^[A-Za-z0-9_-]{1,255}$/,
      "must be a container name from the task definition's containerDefinitions",
    ),
});
/** An environment's ECS service, as configured. */
export type EcsEnvironmentConfig = z.infer<typeof ecsEnvironmentSchema>;
