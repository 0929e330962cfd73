/**
 * Files of the local state folder: written atomically (a temporary file renamed over the old
 * one, so a crash leaves the old or the new content, never half of it) and read with errors
 * that name the file and what to do about it.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';

/** Local state that cannot be used: the message names the file and the way out. */
export class LocalStateError extends Error {
  override readonly name = 'LocalStateError';
}

/** Writes `text` to `file` atomically. The folder must exist: a deleted state folder is never recreated half-way. */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** `file` as JSON, `undefined` when it does not exist, or a {@link LocalStateError} naming it. */
export function readStateJson<T>(
  file: string,
  check: (value: unknown) => value is T,
  what: string,
): T | undefined {
  if (!existsSync(file)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw damaged(file, what, (err as Error).message);
  }
  if (!check(value)) throw damaged(file, what, 'unexpected content');
  return value;
}

/** The error when the state folder disappears under a running command. */
export function stateFolderDeleted(folder: string): LocalStateError {
  return new LocalStateError(
    `the local state folder ${folder} was deleted while this command ran; nothing was written back. Run the command again to start from a new, empty state.`,
  );
}

/** The error for a damaged state file. */
export function damaged(file: string, what: string, detail: string): LocalStateError {
  return new LocalStateError(
    `local state ${file} (${what}) is damaged: ${detail}. Restore it from a backup, or delete the whole state folder to start over (every local record, lock and the simulated cluster go with it).`,
  );
}

/**
 * When process `pid` started (Linux: field 22 of /proc/<pid>/stat, clock ticks since boot), or
 * undefined where /proc cannot tell. Recorded beside a pid so a reused pid is not taken for it.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces: count fields after its closing parenthesis.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/**
 * Whether the process with this pid is running (on this machine) and, when `startTime` is given
 * and /proc can tell, is the same process that started then — not a later one reusing the pid.
 */
export function processAlive(pid: number, startTime?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (startTime === undefined) return true;
  const now = processStartTime(pid);
  return now === undefined || now === startTime;
}

/** How long a lock on a state file may be held before another process takes it as abandoned. */
const FILE_LOCK_STALE_MS = 10_000;
/** How long a process waits for a state file's lock before it gives up. */
const FILE_LOCK_WAIT_MS = 15_000;

/**
 * Runs `fn` holding `<file>.lock` (a directory: mkdir is atomic), so that two local commands'
 * read-change-write of the same state file cannot interleave and lose an update. A lock older
 * than 10 s is a process killed while holding it (a transaction takes milliseconds) and is taken
 * over. Synchronous, like the doubles' transactions it guards.
 */
export function withFileLock<T>(file: string, fn: () => T): T {
  const lock = `${file}.lock`;
  const started = Date.now();
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let age = 0;
      try {
        age = Date.now() - statSync(lock).mtimeMs;
      } catch {
        continue; // released meanwhile
      }
      if (age > FILE_LOCK_STALE_MS) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() - started > FILE_LOCK_WAIT_MS) {
        throw new LocalStateError(
          `${file} is locked by another local command (${lock}); if none is running, remove that directory`,
        );
      }
      Atomics.wait(sleeper, 0, 0, 10);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** A JSON state file for the local doubles (ECS, RDS): read, written atomically, changed under its lock. */
export function jsonStateFile(file: string): {
  read(): string | undefined;
  write(json: string): void;
  transaction<T>(fn: () => T): T;
} {
  return {
    read: () => (existsSync(file) ? readFileSync(file, 'utf8') : undefined),
    write: (json) => writeFileAtomic(file, json),
    transaction: (fn) => withFileLock(file, fn),
  };
}
