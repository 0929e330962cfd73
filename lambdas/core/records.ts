/**
 * Which status changes the steps may make to a record. Pure. A finished record never silently
 * changes outcome: the store enforces these as conditional writes (ConflictError otherwise).
 */
import type { RecordStatus } from './types.ts';

/** A status that ends a record. */
export type FinalStatus = Exclude<RecordStatus, 'in-progress'>;

/** Statuses a step may finish a record from: still running, or already `to` (a retried step). */
export function finishableFrom(to: FinalStatus): readonly RecordStatus[] {
  return ['in-progress', to];
}

/**
 * Statuses a rollback's outcome may be written over on the deployment it undid: running (its own
 * child), succeeded (an alarm or operator undoing a release later), rollback-failed (another try
 * after a failed rollback), or the same outcome (a retried step). A rolled-back deployment never
 * becomes rollback-failed.
 */
export function undoneFrom(outcome: 'rolled-back' | 'rollback-failed'): readonly RecordStatus[] {
  const from: RecordStatus[] = ['in-progress', 'succeeded', 'rollback-failed'];
  return outcome === 'rolled-back' ? [...from, 'rolled-back'] : from;
}
