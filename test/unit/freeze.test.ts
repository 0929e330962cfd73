import { describe, expect, it } from 'vitest';
import { activeFreeze, freezeMessage } from '../../lambdas/core/freeze.ts';
import type { AdHocFreeze } from '../../lambdas/core/types.ts';

const peak = {
  name: 'year-end-peak',
  start: '2026-12-24T00:00:00+08:00',
  end: '2027-01-02T00:00:00+08:00',
  reason: 'Year-end shopping peak',
};
const adhoc = (id: string, start: string, end: string, reason = 'incident'): AdHocFreeze => ({
  environment: 'production',
  id,
  start,
  end,
  reason,
  createdBy: 'bolt',
});

describe('activeFreeze', () => {
  it('returns nothing when there are no freezes', () => {
    expect(activeFreeze([], [], new Date('2026-05-01T00:00:00Z'))).toBeUndefined();
  });

  it('includes the start instant (with its offset) and excludes the end instant', () => {
    expect(activeFreeze([peak], [], new Date('2026-12-23T15:59:59.999Z'))).toBeUndefined();
    expect(activeFreeze([peak], [], new Date('2026-12-23T16:00:00.000Z'))?.name).toBe('year-end-peak');
    expect(activeFreeze([peak], [], new Date('2027-01-01T15:59:59.999Z'))?.name).toBe('year-end-peak');
    expect(activeFreeze([peak], [], new Date('2027-01-01T16:00:00.000Z'))).toBeUndefined();
  });

  it('finds an ad-hoc freeze and keeps who set it', () => {
    const f = activeFreeze(
      [],
      [adhoc('f1', '2026-05-01T00:00:00Z', '2026-05-02T00:00:00Z')],
      new Date('2026-05-01T12:00:00Z'),
    );
    expect(f).toEqual({
      source: 'ad-hoc',
      name: 'f1',
      reason: 'incident',
      start: '2026-05-01T00:00:00Z',
      end: '2026-05-02T00:00:00Z',
      createdBy: 'bolt',
    });
  });

  it('picks the overlapping freeze that ends last', () => {
    const now = new Date('2026-12-25T00:00:00Z');
    const later = adhoc('long', '2026-12-20T00:00:00Z', '2027-02-01T00:00:00Z');
    expect(activeFreeze([peak], [later], now)?.name).toBe('long');
  });

  it('breaks a tie on the end by preferring the configured window, then the name', () => {
    const now = new Date('2026-12-25T00:00:00Z');
    const sameEnd = adhoc('aaa', '2026-12-20T00:00:00Z', peak.end);
    expect(activeFreeze([peak], [sameEnd], now)?.source).toBe('window');
    const b = adhoc('b', '2026-12-20T00:00:00Z', '2027-01-05T00:00:00Z');
    const a = adhoc('a', '2026-12-21T00:00:00Z', '2027-01-05T00:00:00Z');
    expect(activeFreeze([], [b, a], now)?.name).toBe('a');
  });

  it('ignores freezes whose times do not parse', () => {
    expect(activeFreeze([], [adhoc('bad', 'soon', 'later')], new Date())).toBeUndefined();
  });

  it('ignores a freeze that has not started yet even with the clock a millisecond behind', () => {
    expect(
      activeFreeze(
        [],
        [adhoc('f', '2026-05-01T00:00:00.001Z', '2026-05-02T00:00:00Z')],
        new Date('2026-05-01T00:00:00Z'),
      ),
    ).toBeUndefined();
  });
});

function defined<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('expected a freeze to be active');
  return value;
}

describe('freezeMessage', () => {
  it('names the window, its end and reason', () => {
    const f = activeFreeze([peak], [], new Date('2026-12-25T00:00:00Z'));
    expect(freezeMessage('production', defined(f))).toBe(
      "production is in change freeze 'year-end-peak' until 2027-01-01T16:00:00.000Z: Year-end shopping peak. Deploy after it ends.",
    );
  });

  it('names who set an ad-hoc freeze', () => {
    const f = activeFreeze(
      [],
      [adhoc('f1', '2026-05-01T00:00:00Z', '2026-05-02T00:00:00Z')],
      new Date('2026-05-01T01:00:00Z'),
    );
    expect(freezeMessage('production', defined(f))).toMatch(
      /ad-hoc change freeze 'f1' set by bolt until 2026-05-02T00:00:00.000Z: incident/,
    );
  });
});
