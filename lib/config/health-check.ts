/**
 * The enhanced health check's dependency expectations (runbook "Enhanced Health Checks": database,
 * Redis and PgBouncer connectivity, connection-pool health), read from the JSON of one endpoint
 * (`/health`). Pure zod: the config schema (lib/config/schema.ts) and the core evaluation
 * (lambdas/core/health.ts) share it.
 */
import * as z from 'zod';

/** The dependencies whose connectivity `/health` reports. */
export const DEPENDENCY_KINDS = ['database', 'redis', 'pgbouncer'] as const;
/** A dependency whose connectivity `/health` reports. */
export type DependencyKind = (typeof DEPENDENCY_KINDS)[number];

/** A JSON field of the endpoint's body: a top-level name or a dotted path into nested objects. */
const jsonField = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[^\s]+$/, 'must be a field name or dotted path without spaces, e.g. database or checks.database');

/** One dependency's connectivity: the field that reports it and the value that means "reachable". */
function connectivitySchema(kind: DependencyKind) {
  return z.strictObject({
    field: jsonField.default(kind),
    expect: z.union([z.string(), z.number(), z.boolean()]).default('connected'),
  });
}

/**
 * The API's own database connection pool as `/health` reports it: an object with `size` (pool
 * capacity), `active` (checked out), `idle` and `waiting` (requests queued for a connection) —
 * SQLAlchemy's QueuePool `size()`, `checkedout()`, `checkedin()` and the waiters behind them.
 */
export const databasePoolSchema = z.strictObject({
  field: jsonField.default('pool'),
  /** Fail above this share of the pool in use (active ÷ size). */
  maxUtilisationPercent: z.number().min(1).max(100).default(90),
  /** Fail above this many requests waiting for a connection. */
  maxWaiting: z.number().int().min(0).max(100_000).default(0),
});

/**
 * PgBouncer's pool as `/health` relays it from `SHOW POOLS`: an object with `cl_waiting` (clients
 * queued for a server connection) and `maxwait_seconds` (how long the oldest of them has waited;
 * PgBouncer's `maxwait`), optionally `cl_active`, `sv_active`, `sv_idle`.
 */
export const pgbouncerPoolSchema = z.strictObject({
  field: jsonField.default('pgbouncer_pool'),
  /** Fail above this many clients waiting for a server connection. */
  maxWaiting: z.number().int().min(0).max(100_000).default(5),
  /** Fail when the oldest waiting client has waited longer than this. */
  maxWaitSeconds: z.number().min(0).max(3600).default(1),
});

/**
 * What the endpoint's JSON must say about the API's dependencies. Each connectivity entry defaults
 * to the runbook's `<name>: connected`; the pools are checked only where configured (their fields
 * are the application's own).
 */
export const dependenciesSchema = z.strictObject({
  /** The endpoint whose JSON reports the dependencies (one of `endpoints`). */
  endpoint: z.string().startsWith('/', 'must start with /').default('/health'),
  connectivity: z
    .strictObject({
      database: connectivitySchema('database').optional(),
      redis: connectivitySchema('redis').optional(),
      pgbouncer: connectivitySchema('pgbouncer').optional(),
    })
    .default({
      database: { field: 'database', expect: 'connected' },
      redis: { field: 'redis', expect: 'connected' },
      pgbouncer: { field: 'pgbouncer', expect: 'connected' },
    }),
  pools: z
    .strictObject({
      database: databasePoolSchema.optional(),
      pgbouncer: pgbouncerPoolSchema.optional(),
    })
    .default({}),
});
/** What `/health` must say about the API's dependencies. */
export type HealthDependencies = z.infer<typeof dependenciesSchema>;
/** The database pool's field and thresholds. */
export type DatabasePoolExpectation = z.infer<typeof databasePoolSchema>;
/** PgBouncer's pool field and thresholds. */
export type PgbouncerPoolExpectation = z.infer<typeof pgbouncerPoolSchema>;

/**
 * Longest a pod of the release may take from creation to Ready before the health check reports it.
 * 120 s: well inside the runbook's 300 s rollout deadline for the two or three pods a rollout
 * starts one after another, so a release that takes longer is slow enough to look into.
 */
export const DEFAULT_MAX_STARTUP_SECONDS = 120;

/** `healthCheck.maxStartupSeconds`. */
export const maxStartupSecondsSchema = z.number().int().min(1).max(3600).default(DEFAULT_MAX_STARTUP_SECONDS);
