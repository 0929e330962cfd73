/**
 * Preflight's alarm check: a deployment is refused while the environment's composite alarm
 * (`guardian-<env>-Degraded`, the OR of its critical alarms) is in ALARM, because a release that
 * goes out into a degraded environment hides what is wrong and cannot be judged by its own alarms.
 * When the state cannot be read the check fails closed unless `alarms.preflightFailClosed` is
 * false. Pure: the handler reads the state through the Alarms port and hands in what it got.
 */
import type { AlarmState } from './ports.ts';
import { shorten } from './text.ts';

/** What reading the alarm came to: its state (undefined: no such alarm), or the read's error message. */
export type AlarmRead =
  | { readonly ok: true; readonly state: AlarmState | undefined }
  | { readonly ok: false; readonly error: string };

/**
 * The check's verdict and the sentence an operator reads: `pass` goes on; `refuse` stops the
 * deployment before anything changes (AlarmActiveError); `warn` goes on although the state is
 * unknown (fail-open by config), and the sentence is logged as a warning.
 */
export type PreflightAlarmVerdict =
  | { readonly verdict: 'pass'; readonly message: string }
  | { readonly verdict: 'refuse'; readonly message: string }
  | { readonly verdict: 'warn'; readonly message: string };

/** How much of CloudWatch's state reason a message quotes (a composite's reason lists its children). */
const REASON_CHARACTERS = 300;

/** `45 s` / `12 min` / `3.5 h`: how long ago, as an operator reads it. */
function ago(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m} min` : `${Math.round(m / 6) / 10} h`;
}

/** ` since <time> (<duration> ago)`, or only the time when it is unparseable or ahead of `now` (clock skew). */
function since(updatedAt: string | undefined, now: Date): string {
  if (updatedAt === undefined) return '';
  const at = Date.parse(updatedAt);
  const stamp = shorten(updatedAt, 40);
  if (!Number.isFinite(at) || at > now.getTime()) return ` since ${stamp}`;
  return ` since ${stamp} (${ago(now.getTime() - at)} ago)`;
}

/**
 * Decides whether preflight may go on given what reading `alarmName` came to. `failClosed` is
 * `alarms.preflightFailClosed`. Only ALARM refuses a readable state: OK and INSUFFICIENT_DATA (no
 * critical alarm has enough data to fire) pass.
 */
export function preflightAlarmCheck(
  read: AlarmRead,
  failClosed: boolean,
  alarmName: string,
  now: Date,
): PreflightAlarmVerdict {
  if (read.ok && read.state !== undefined) {
    const { value, reason, updatedAt } = read.state;
    if (value !== 'ALARM') {
      return { verdict: 'pass', message: `${alarmName} is ${value}${since(updatedAt, now)}` };
    }
    const why = reason?.trim() ? `: ${shorten(reason.trim(), REASON_CHARACTERS)}` : '';
    return {
      verdict: 'refuse',
      message: `${alarmName} is in ALARM${since(updatedAt, now)}${why}. A release deployed now could neither be judged nor told apart from what is already wrong. Find out which critical alarm fires (aws cloudwatch describe-alarms --alarm-names ${alarmName}), fix it or roll back, and deploy again once it is OK.`,
    };
  }
  const problem = read.ok
    ? `${alarmName} does not exist in this account and region (deploy the guardian stack, which creates it)`
    : `the state of ${alarmName} could not be read (${shorten(read.error, REASON_CHARACTERS)})`;
  if (!failClosed) {
    return {
      verdict: 'warn',
      message: `${problem}; going on without the alarm check because alarms.preflightFailClosed is false.`,
    };
  }
  return {
    verdict: 'refuse',
    message: `${problem}, so preflight cannot tell whether the environment is degraded and refuses (alarms.preflightFailClosed is true). Check that the preflight role may call cloudwatch:DescribeAlarms and that the alarm exists, then deploy again; to deploy without the check, set alarms.preflightFailClosed: false.`,
  };
}
