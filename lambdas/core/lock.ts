/**
 * The per-environment lock: one deployment or rollback at a time. Pure helpers; the store does
 * the conditional write. A lock expires at `acquiredAt + ttl` (exclusive): from that instant on
 * anyone may take it over, so a crashed execution cannot block an environment for ever.
 */
import type { LockInfo } from './types.ts';

/** When a lock taken at `acquiredAt` expires. */
export function lockExpiry(acquiredAt: Date, ttlSeconds: number): string {
  return new Date(acquiredAt.getTime() + ttlSeconds * 1000).toISOString();
}

/** The lock a deployment or rollback asks for. */
export function buildLock(
  environment: string,
  holder: string,
  executionArn: string,
  now: Date,
  ttlSeconds: number,
): LockInfo {
  return {
    environment,
    holder,
    executionArn,
    acquiredAt: now.toISOString(),
    expiresAt: lockExpiry(now, ttlSeconds),
  };
}

/** Whether the lock no longer protects anything at `now` (expired at or before it). */
export function isLockExpired(lock: LockInfo, now: Date): boolean {
  const expires = Date.parse(lock.expiresAt);
  // An unreadable expiry is treated as held: better an operator clears it than two rollouts race.
  return Number.isFinite(expires) && expires <= now.getTime();
}

/** Whether `lock` stops `holder` from proceeding at `now`. */
export function blocks(lock: LockInfo | undefined, holder: string, now: Date): lock is LockInfo {
  return lock !== undefined && lock.holder !== holder && !isLockExpired(lock, now);
}

function minutes(ms: number): string {
  const m = Math.max(0, Math.ceil(ms / 60_000));
  return m === 1 ? '1 minute' : `${m} minutes`;
}

/** The refusal an operator reads when another execution holds the lock. */
export function lockHeldMessage(lock: LockInfo, now: Date): string {
  const left = Date.parse(lock.expiresAt) - now.getTime();
  return `${lock.environment} is locked by ${lock.holder} (execution ${lock.executionArn}) since ${lock.acquiredAt}; the lock expires at ${lock.expiresAt} (in ${minutes(left)}). Wait for that execution to finish, or stop it if it is stuck.`;
}
