/**
 * The simulated clock that drives local runs: Wait states and retry pauses advance it instead of
 * sleeping, and the handlers, the lock expiry and the cluster simulator all read it, so "600 s
 * rollout deadline" is exercised in milliseconds and still means 600 s.
 */
import type { Clock } from '../../lambdas/core/ports.ts';

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
