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
 * (`pk = "breaker"`, `sk = <env>`), ad-hoc freezes (`pk = "freeze#<env>"`, `sk = <id>`), the
 * events the alarm handler has handled (`pk = "event#<env>"`, `sk = <event id>`, expiring) and
 * incidents (`pk = "incident#<env>"`, `sk = <incident id>`, which sorts by opening time).
 * Locally only, alarm states (`pk = "alarm#<env>"`, `sk = <alarm name>`: value, reason,
 * updatedAt), the last replayed state of each alarm; in AWS, CloudWatch keeps them.
 */
export const CONTROL_TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Epoch seconds after which DynamoDB may delete expired items (expired freezes). */
  ttlAttribute: 'ttl',
} as const;
