/**
 * Change-freeze evaluation (runbook: "Change freeze not in effect"). Pure. A freeze covers
 * `start <= now < end`: it begins at its start instant and is over at its end instant.
 */
import type { FreezeWindow } from '../../lib/config/schema.ts';
import type { AdHocFreeze } from './types.ts';

/** The freeze in effect at a given instant. */
export interface ActiveFreeze {
  /** `window` = configured in environments.yaml; `ad-hoc` = set by an operator. */
  readonly source: 'window' | 'ad-hoc';
  /** Window name or ad-hoc freeze id. */
  readonly name: string;
  readonly reason: string;
  readonly start: string;
  readonly end: string;
  /** Who set an ad-hoc freeze. */
  readonly createdBy?: string;
}

function toActive(f: FreezeWindow | AdHocFreeze, source: ActiveFreeze['source']): ActiveFreeze {
  return 'createdBy' in f
    ? { source, name: f.id, reason: f.reason, start: f.start, end: f.end, createdBy: f.createdBy }
    : { source, name: f.name, reason: f.reason, start: f.start, end: f.end };
}

/**
 * Returns the freeze in effect at `now`, or undefined. When several overlap, the one that ends
 * last wins (that is when deployments may resume); ties go to configured windows, then by name.
 * Freezes whose times do not parse are ignored: the config schema and the CLI validate them.
 */
export function activeFreeze(
  windows: readonly FreezeWindow[],
  adHoc: readonly AdHocFreeze[],
  now: Date,
): ActiveFreeze | undefined {
  const t = now.getTime();
  const candidates = [
    ...windows.map((w) => toActive(w, 'window')),
    ...adHoc.map((f) => toActive(f, 'ad-hoc')),
  ].filter((f) => {
    const start = Date.parse(f.start);
    const end = Date.parse(f.end);
    return Number.isFinite(start) && Number.isFinite(end) && start <= t && t < end;
  });
  candidates.sort(
    (a, b) =>
      Date.parse(b.end) - Date.parse(a.end) ||
      (a.source === b.source ? 0 : a.source === 'window' ? -1 : 1) ||
      a.name.localeCompare(b.name),
  );
  return candidates[0];
}

/** The refusal an operator reads when a freeze blocks a deployment. */
export function freezeMessage(environment: string, freeze: ActiveFreeze): string {
  const what =
    freeze.source === 'window'
      ? `change freeze '${freeze.name}'`
      : `ad-hoc change freeze '${freeze.name}'${freeze.createdBy ? ` set by ${freeze.createdBy}` : ''}`;
  return `${environment} is in ${what} until ${new Date(Date.parse(freeze.end)).toISOString()}: ${freeze.reason}. Deploy after it ends${freeze.source === 'ad-hoc' ? ' or have the freeze lifted' : ''}.`;
}
