/**
 * Wall-clock arithmetic in an IANA time zone with the runtime's Intl only (no tz library): what a
 * moment looks like on a local clock, and which moment a local wall time is, across DST changes.
 * Pure. Public holidays are not known here: a business day is a configured weekday, nothing more.
 */
import type { BusinessHours } from '../../lib/config/schema.ts';
import { WEEKDAYS } from '../../lib/config/schema.ts';

/** A moment as a local clock in some time zone shows it. */
export interface WallTime {
  readonly year: number;
  /** 1-12. */
  readonly month: number;
  readonly day: number;
  /** 0-23. */
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  /** `mon` … `sun`. */
  readonly weekday: (typeof WEEKDAYS)[number];
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    // h23: midnight is 00, never 24 (some engines print 24 with hour12: false).
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** `instant` on the local clock of `timeZone`. */
export function wallTime(instant: Date, timeZone: string): WallTime {
  const parts: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(instant)) parts[p.type] = p.value;
  const weekday = (parts.weekday ?? '').toLowerCase().slice(0, 3) as WallTime['weekday'];
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
    weekday,
  };
}

/** How far `timeZone`'s clock is ahead of UTC at `ms` (milliseconds; negative west of Greenwich). */
function offsetAt(ms: number, timeZone: string): number {
  const w = wallTime(new Date(ms), timeZone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/**
 * The moment the local clock of `timeZone` shows `year-month-day hour:00`. A wall time that
 * occurs twice (clocks go back) is its first occurrence; one that never occurs (clocks go
 * forward) is moved forward by the gap, as `Temporal`'s "compatible" disambiguation does.
 */
export function zonedTime(year: number, month: number, day: number, hour: number, timeZone: string): Date {
  const target = Date.UTC(year, month - 1, day, hour);
  const first = target - offsetAt(target, timeZone);
  const second = target - offsetAt(first, timeZone);
  const shows = (ms: number) => {
    const w = wallTime(new Date(ms), timeZone);
    return w.year === year && w.month === month && w.day === day && w.hour === hour;
  };
  if (shows(second)) return new Date(second);
  if (shows(first)) return new Date(first);
  // In a gap the two guesses straddle it; the later one is the wall time shifted by the gap.
  return new Date(Math.max(first, second));
}

/** The weekday of a civil date (independent of any time zone). */
function weekdayOf(year: number, month: number, day: number): WallTime['weekday'] {
  const index = (new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 6) % 7; // Monday = 0
  return WEEKDAYS[index] as WallTime['weekday'];
}

/**
 * The start of the first business day after the local calendar day `instant` falls on: an
 * incident opened on Friday at 10:00 or 19:00, or on Saturday, gets Monday at `startHour`.
 */
export function nextBusinessDayStart(instant: Date, hours: BusinessHours): Date {
  const local = wallTime(instant, hours.timeZone);
  for (let ahead = 1; ahead <= 7; ahead++) {
    // Civil-date arithmetic in UTC: adding days never meets a DST change there.
    const d = new Date(Date.UTC(local.year, local.month - 1, local.day + ahead));
    const [y, m, day] = [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()];
    if ((hours.days as readonly string[]).includes(weekdayOf(y, m, day))) {
      return zonedTime(y, m, day, hours.startHour, hours.timeZone);
    }
  }
  // The schema requires at least one day, so a week always holds one.
  throw new Error(`business hours list no working day: ${hours.days.join(', ')}`);
}

/** Whether `instant` falls inside business hours (a working day, between start and end hour). */
export function isBusinessHours(instant: Date, hours: BusinessHours): boolean {
  const w = wallTime(instant, hours.timeZone);
  return (
    (hours.days as readonly string[]).includes(w.weekday) &&
    w.hour >= hours.startHour &&
    w.hour < hours.endHour
  );
}

/** `2026-12-04 09:00 Asia/Singapore (Fri)`: a moment as the people it pages read it. */
export function describeWallTime(instant: Date, timeZone: string): string {
  const w = wallTime(instant, timeZone);
  const pad = (n: number) => String(n).padStart(2, '0');
  const day = w.weekday.charAt(0).toUpperCase() + w.weekday.slice(1);
  return `${w.year}-${pad(w.month)}-${pad(w.day)} ${pad(w.hour)}:${pad(w.minute)} ${timeZone} (${day})`;
}
