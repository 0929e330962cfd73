/**
 * The simulated clock that drives local runs: Wait states and retry pauses advance it instead of
 * sleeping, and the handlers, the lock expiry and the cluster simulator all read it, so "600 s
 * rollout deadline" is exercised in milliseconds and still means 600 s.
 */
import { closeSync, existsSync, openSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../../lambdas/core/ports.ts';
import { damaged, stateFolderDeleted, writeFileAtomic } from './state-files.ts';

/** A clock that moves only when told to. */
export class SimulatedClock implements Clock {
  private ms: number;
  private readonly timers: { readonly at: number; readonly fire: () => void }[] = [];

  /** Starts at `start` (default: the real time now). */
  constructor(start: Date = new Date()) {
    this.ms = start.getTime();
  }

  /** The simulated now. */
  now(): Date {
    return new Date(this.ms);
  }

  /** Moves time forward; negative or non-finite amounts are refused (time never runs back). */
  advance(seconds: number): void {
    if (!Number.isFinite(seconds) || seconds < 0) {
      throw new RangeError(`cannot advance the simulated clock by ${seconds} s`);
    }
    this.ms += Math.round(seconds * 1000);
    this.fireDue();
  }

  /** Moves to `date` if it is later than now (used when resuming persisted local state). */
  catchUp(date: Date): void {
    this.ms = Math.max(this.ms, date.getTime());
    this.fireDue();
  }

  /**
   * Calls `fire` from the `advance` or `catchUp` that brings the clock to `when` or past it (one
   * already due fires at the next move): how timeouts are measured in simulated time. Timers due
   * in the same move fire in time order. Returns a function that cancels the timer.
   */
  at(when: Date, fire: () => void): () => void {
    const timer = { at: when.getTime(), fire };
    this.timers.push(timer);
    return () => {
      const i = this.timers.indexOf(timer);
      if (i >= 0) this.timers.splice(i, 1);
    };
  }

  /**
   * When the earliest timer not yet fired is due, if any: where an idle executor moves the clock
   * next, the way a Wait moves it, so a timeout nobody would otherwise reach still runs out.
   */
  nextTimer(): Date | undefined {
    let at: number | undefined;
    for (const t of this.timers) if (at === undefined || t.at < at) at = t.at;
    return at === undefined ? undefined : new Date(at);
  }

  private fireDue(): void {
    for (;;) {
      let next: (typeof this.timers)[number] | undefined;
      for (const t of this.timers) if (t.at <= this.ms && (next === undefined || t.at < next.at)) next = t;
      if (next === undefined) return;
      this.timers.splice(this.timers.indexOf(next), 1);
      next.fire();
    }
  }
}

/**
 * The simulated clock of a local state folder, shared by every process using it (the commands
 * and the state service's cluster simulator). The file holds the shared now; a process reads it
 * on every `now()` and writes it on every move, so a Wait in one command's execution is seen by
 * the simulator before that execution's next state runs. Time only moves forward: a move is
 * written only if it is later than the file (under a short lock file), so two commands' Waits
 * both count. Timers stay per process: they fire when this process next reads or moves time.
 */
export class SharedClock extends SimulatedClock {
  /** Opens the clock of `file`, starting at `start` or the persisted time, whichever is later. */
  constructor(
    private readonly file: string,
    start: Date = new Date(),
  ) {
    super(start);
    this.pull();
    this.push();
  }

  override now(): Date {
    this.pull();
    return super.now();
  }

  override advance(seconds: number): void {
    this.pull();
    super.advance(seconds);
    this.push();
  }

  override catchUp(date: Date): void {
    super.catchUp(date);
    this.push();
  }

  /** The time in the file, or `undefined` before the first write. */
  private read(): number | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    let ms = Number.NaN;
    try {
      ms = Date.parse((JSON.parse(text) as { now?: unknown }).now as string);
    } catch {
      // reported below
    }
    if (!Number.isFinite(ms)) throw damaged(this.file, 'the simulated clock', `not {"now": "<ISO time>"}`);
    return ms;
  }

  private pull(): void {
    const ms = this.read();
    if (ms !== undefined && ms > super.now().getTime()) super.catchUp(new Date(ms));
  }

  private push(): void {
    const mine = super.now().getTime();
    const folder = path.dirname(this.file);
    // Deleted by hand while a command ran: never recreate half of the state, say what happened.
    if (!existsSync(folder)) throw stateFolderDeleted(folder);
    withLockFile(`${this.file}.lock`, () => {
      const theirs = this.read();
      if (theirs === undefined || mine > theirs) {
        writeFileAtomic(this.file, JSON.stringify({ now: new Date(mine).toISOString() }));
      }
    });
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Runs `fn` holding an O_EXCL lock file; a lock older than a second belongs to a dead process and is broken. */
function withLockFile(lock: string, fn: () => void): void {
  for (let i = 0; ; i++) {
    try {
      closeSync(openSync(lock, 'wx'));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(lock).mtimeMs > 1000) unlinkSync(lock);
      } catch {
        // released meanwhile
      }
      Atomics.wait(pause, 0, 0, i < 10 ? 1 : 5);
    }
  }
  try {
    fn();
  } finally {
    try {
      unlinkSync(lock);
    } catch {
      // broken as stale by another process
    }
  }
}
