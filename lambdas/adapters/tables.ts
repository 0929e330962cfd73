/**
 * Key schema of the guardian's DynamoDB tables. The CDK construct creates the tables from these
 * constants and the store adapter reads and writes with them, so the two cannot drift.
 */

/** Deployment and rollback records: history, rollback state, who/what/why. */
export const DEPLOYMENTS_TABLE = {
  partitionKey: 'environment',
  sortKey: 'id',
  /** GSI for history: records of an environment ordered by start time. */
  byStartedAtIndex: { name: 'byStartedAt', partitionKey: 'environment', sortKey: 'startedAt' },
} as const;

/**
 * Control items: the per-environment lock (`pk = "lock"`, `sk = <env>`), the circuit breaker
 * (`pk = "breaker"`, `sk = <env>`) and ad-hoc freezes (`pk = "freeze#<env>"`, `sk = <id>`).
 */
export const CONTROL_TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Epoch seconds after which DynamoDB may delete expired items (expired freezes). */
  ttlAttribute: 'ttl',
} as const;

/** Lambda environment variables through which the stack wires a function to its resources. */
export const ENV_VARS = {
  deploymentsTable: 'DEPLOYMENTS_TABLE',
  controlTable: 'CONTROL_TABLE',
  /** JSON of the stack's EnvironmentConfig (no secrets: names, URLs, thresholds). */
  environmentConfig: 'GUARDIAN_ENV_CONFIG',
} as const;

/**
 * Step ids: `lambdas/<id>/handler.ts`, and the `guardian:step` metadata on each function.
 * `execution-ended` is no Task state: EventBridge invokes it when an execution ends.
 */
export const STEP_IDS = [
  'preflight',
  'set-image',
  'rollout-status',
  'health-check',
  'record-deployment',
  'rollback-prepare',
  'rollback-apply',
  'rollback-finish',
  'execution-ended',
] as const;
/** A step id. */
export type StepId = (typeof STEP_IDS)[number];

/** Metadata key on each Lambda resource naming its step. */
export const STEP_METADATA_KEY = 'guardian:step';
