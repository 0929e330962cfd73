import { describe, expect, it } from 'vitest';
import { type AlarmRead, preflightAlarmCheck } from '../../lambdas/core/alarm-preflight.ts';
import type { AlarmState } from '../../lambdas/core/ports.ts';

const NAME = 'guardian-production-Degraded';
const NOW = new Date('2026-12-03T06:30:00Z');
const state = (s: AlarmState): AlarmRead => ({ ok: true, state: s });
/** A composite alarm's StateReason as CloudWatch writes it. */
const COMPOSITE_REASON =
  'arn:aws:cloudwatch:ap-southeast-1:123456789012:alarm:guardian-production-HighErrorRate transitioned to ALARM at Thursday 03 December, 2026 06:18:00 UTC';

describe('preflightAlarmCheck', () => {
  it('refuses while the composite alarm is in ALARM, naming it, its reason, since when and what to do', () => {
    const v = preflightAlarmCheck(
      state({ value: 'ALARM', reason: COMPOSITE_REASON, updatedAt: '2026-12-03T06:18:00.000Z' }),
      true,
      NAME,
      NOW,
    );
    expect(v.verdict).toBe('refuse');
    expect(v.message).toContain(`${NAME} is in ALARM since 2026-12-03T06:18:00.000Z (12 min ago)`);
    expect(v.message).toContain('guardian-production-HighErrorRate transitioned to ALARM');
    expect(v.message).toContain(`aws cloudwatch describe-alarms --alarm-names ${NAME}`);
    expect(v.message).toContain('deploy again once it is OK');
  });

  it('refuses in ALARM whatever preflightFailClosed says: fail-open covers only an unreadable state', () => {
    const v = preflightAlarmCheck(state({ value: 'ALARM' }), false, NAME, NOW);
    expect(v.verdict).toBe('refuse');
    expect(v.message).toMatch(/^guardian-production-Degraded is in ALARM\. /);
  });

  it('passes when the composite alarm is OK, and says since when', () => {
    const v = preflightAlarmCheck(
      state({ value: 'OK', updatedAt: '2026-12-03T04:00:00Z', reason: 'all children OK' }),
      true,
      NAME,
      NOW,
    );
    expect(v).toEqual({ verdict: 'pass', message: `${NAME} is OK since 2026-12-03T04:00:00Z (2.5 h ago)` });
  });

  it('passes on INSUFFICIENT_DATA: no critical alarm has the data to fire', () => {
    expect(preflightAlarmCheck(state({ value: 'INSUFFICIENT_DATA' }), true, NAME, NOW)).toEqual({
      verdict: 'pass',
      message: `${NAME} is INSUFFICIENT_DATA`,
    });
  });

  it('refuses when the state cannot be read and preflight fails closed, quoting the error and the way out', () => {
    const v = preflightAlarmCheck(
      { ok: false, error: 'AccessDenied: not authorized to perform cloudwatch:DescribeAlarms' },
      true,
      NAME,
      NOW,
    );
    expect(v.verdict).toBe('refuse');
    expect(v.message).toContain(
      `the state of ${NAME} could not be read (AccessDenied: not authorized to perform cloudwatch:DescribeAlarms)`,
    );
    expect(v.message).toContain('alarms.preflightFailClosed is true');
    expect(v.message).toContain('set alarms.preflightFailClosed: false');
  });

  it('refuses when the composite alarm does not exist and preflight fails closed', () => {
    const v = preflightAlarmCheck({ ok: true, state: undefined }, true, NAME, NOW);
    expect(v.verdict).toBe('refuse');
    expect(v.message).toContain(`${NAME} does not exist in this account and region`);
  });

  it('goes on with a warning when the state cannot be read and preflightFailClosed is false', () => {
    const unreadable = preflightAlarmCheck(
      { ok: false, error: 'TransientError: throttled' },
      false,
      NAME,
      NOW,
    );
    expect(unreadable).toEqual({
      verdict: 'warn',
      message: `the state of ${NAME} could not be read (TransientError: throttled); going on without the alarm check because alarms.preflightFailClosed is false.`,
    });
    const missing = preflightAlarmCheck({ ok: true, state: undefined }, false, NAME, NOW);
    expect(missing.verdict).toBe('warn');
    expect(missing.message).toContain('does not exist');
  });

  it('gives no duration when the transition is stamped ahead of the guardian clock (clock skew)', () => {
    const v = preflightAlarmCheck(
      state({ value: 'ALARM', updatedAt: '2026-12-03T06:30:20Z' }),
      true,
      NAME,
      NOW,
    );
    expect(v.message).toContain(`${NAME} is in ALARM since 2026-12-03T06:30:20Z. `);
  });

  it('counts seconds for a transition a moment ago, and reads CloudWatch event timestamps (+0000)', () => {
    const v = preflightAlarmCheck(
      state({ value: 'ALARM', updatedAt: '2026-12-03T06:29:15.000+0000' }),
      true,
      NAME,
      NOW,
    );
    expect(v.message).toContain('since 2026-12-03T06:29:15.000+0000 (45 s ago)');
  });

  it('names an unparseable timestamp as given, without a duration', () => {
    const v = preflightAlarmCheck(state({ value: 'ALARM', updatedAt: 'yesterday' }), true, NAME, NOW);
    expect(v.message).toContain(`${NAME} is in ALARM since yesterday. `);
  });

  it('shortens a huge reason and escapes control characters in it', () => {
    const v = preflightAlarmCheck(
      state({ value: 'ALARM', reason: `bad\u001b[31m${'x'.repeat(5000)}` }),
      true,
      NAME,
      NOW,
    );
    expect(v.message).toContain('bad\\x1b[31mxxx');
    expect(v.message).toContain('…(5008 chars)');
    expect(v.message.length).toBeLessThan(1000);
  });

  it('leaves out a blank reason', () => {
    const v = preflightAlarmCheck(state({ value: 'ALARM', reason: '  ' }), true, NAME, NOW);
    expect(v.message).toMatch(/^guardian-production-Degraded is in ALARM\. A release/);
  });
});
