/**
 * The guardian's error hierarchy. Each class has a stable `name`: the state machines' Retry and
 * Catch clauses match on it, so renaming one is a breaking change to the workflows.
 */

/** Base of every error the guardian raises on purpose. */
export abstract class GuardianError extends Error {
  /** Stable name matched by Step Functions Retry/Catch. */
  abstract override readonly name: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The request is malformed (image reference, version, environment, revision). Never retried. */
export class InvalidInputError extends GuardianError {
  override readonly name = 'InvalidInputError';
}

/** A change freeze (configured window or ad-hoc) is in effect. */
export class ChangeFreezeError extends GuardianError {
  override readonly name = 'ChangeFreezeError';
}

/** The environment's circuit breaker is open: deployments are blocked until an operator resets it. */
export class CircuitOpenError extends GuardianError {
  override readonly name = 'CircuitOpenError';
}

/** Another deployment or rollback holds the environment lock. */
export class LockHeldError extends GuardianError {
  override readonly name = 'LockHeldError';
}

/** The workload, namespace or revision the request names does not exist. */
export class NotFoundError extends GuardianError {
  override readonly name = 'NotFoundError';
}

/** A throttle, 5xx or timeout from Kubernetes or AWS: the state machine retries with backoff. */
export class TransientError extends GuardianError {
  override readonly name = 'TransientError';
}

/** The rollout failed (progress deadline exceeded or the guardian's deadline passed). */
export class RolloutFailedError extends GuardianError {
  override readonly name = 'RolloutFailedError';
}

/** The enhanced health check failed after all attempts. */
export class HealthCheckFailedError extends GuardianError {
  override readonly name = 'HealthCheckFailedError';
}

/**
 * A rollback has nothing to go back to: the workload already runs the last known-good release,
 * no known-good release is recorded or restorable, or the named revision is the current one.
 * A refusal (`guardian` exits 1), not bad input: the request was sound, the state says no.
 */
export class NothingToRollBackError extends GuardianError {
  override readonly name = 'NothingToRollBackError';
}

/**
 * A rollback named a revision whose release the guardian rolled back (as bad): restoring it needs
 * the operator's explicit `--force`. A refusal (`guardian` exits 1).
 */
export class RolledBackReleaseError extends GuardianError {
  override readonly name = 'RolledBackReleaseError';
}

/**
 * The environment's composite alarm is in ALARM, or its state could not be read and preflight
 * fails closed: the deployment is refused before anything changes (`guardian` exits 1).
 */
export class AlarmActiveError extends GuardianError {
  override readonly name = 'AlarmActiveError';
}

/**
 * Errors that refuse a deployment (preflight) or a rollback (Prepare rollback) before anything
 * changed; both state machines route them to their "refused" state.
 */
export const REFUSAL_ERRORS = [
  'InvalidInputError',
  'ChangeFreezeError',
  'CircuitOpenError',
  'LockHeldError',
  'NotFoundError',
  'NothingToRollBackError',
  'RolledBackReleaseError',
  'AlarmActiveError',
] as const;

/** A record with the same id already exists for a different execution (ids are execution names). */
/** A critical alarm fired for the environment while this deployment was in progress or being monitored. */
export class AlarmFiredError extends GuardianError {
  override readonly name = 'AlarmFiredError';
}

/** Post-deployment monitoring judged the release bad (consecutive failed rounds, or a 5xx). */
export class MonitoringFailedError extends GuardianError {
  override readonly name = 'MonitoringFailedError';
}

export class ConflictError extends GuardianError {
  override readonly name = 'ConflictError';
}

/**
 * The incident was acknowledged or resolved before the Escalation execution started waiting on
 * it: "Wait for acknowledgement" fails with this and the workflow announces the closure.
 */
export class IncidentClosedError extends GuardianError {
  override readonly name = 'IncidentClosedError';
}

/**
 * A metrics provider refused or could not answer a query for a reason a retry does not fix (a
 * PromQL error, a query that returns several series, an unauthorised token, a malformed answer).
 * The message names the query and the provider's URL; the canary analysis counts it as no data.
 */
export class MetricsQueryError extends GuardianError {
  override readonly name = 'MetricsQueryError';
}

/**
 * The pre-deployment backup (issue 10) failed or did not become available within its deadline:
 * the deployment stops before the rollout, so nothing has changed.
 */
export class BackupFailedError extends GuardianError {
  override readonly name = 'BackupFailedError';
}
