import { describe, expect, it } from 'vitest';
import {
  describeWallTime,
  isBusinessHours,
  nextBusinessDayStart,
  wallTime,
  zonedTime,
} from '../../lambdas/core/business-hours.ts';
import { InvalidInputError } from '../../lambdas/core/errors.ts';
import {
  environmentOfIncident,
  escalationExecutionName,
  escalationTaskOutput,
  type Incident,
  incidentId,
  levelStep,
  openIncident,
  pagerDutySeverity,
  planEscalation,
  planIncidentTransition,
} from '../../lambdas/core/escalation.ts';
import { type BusinessHours, type EscalationConfig, escalationSchema } from '../../lib/config/schema.ts';

/** The runbook's defaults: what an environment without an `escalation` block gets. */
const DEFAULTS: EscalationConfig = escalationSchema.parse({});
const SGT: BusinessHours = DEFAULTS.businessHours;
const hours = (over: Partial<BusinessHours>): BusinessHours => ({ ...SGT, ...over });

function incident(over: Partial<Incident> = {}): Incident {
  const openedAt = over.openedAt ?? '2026-12-03T02:00:00.000Z';
  return openIncident(
    {
      environment: 'production',
      priority: 'P1',
      summary: 'HighErrorRate in production after release v1.2.3',
      alarm: { name: 'HighErrorRate', severity: 'critical', reason: 'Threshold Crossed: 5xx rate 7% > 5%' },
      release: { version: 'v1.2.3', image: 'ghcr.io/buywhere/buywhere-api:v1.2.3' },
      ...over,
    },
    incidentId('production', new Date(openedAt), '4f2a9c1e'),
    new Date(openedAt),
  );
}

const at = (iso: string) => new Date(iso);

describe('escalation plan (runbook "Escalation Path")', () => {
  it('pages on-call at once, the lead at 10 min and the CTO at 20 min after a P1 opened', () => {
    const plan = planEscalation(incident(), DEFAULTS);
    expect(plan.levels.map((l) => [l.contact, l.at])).toEqual([
      ['on-call', '2026-12-03T02:00:00.000Z'],
      ['devops-lead', '2026-12-03T02:10:00.000Z'],
      ['cto', '2026-12-03T02:20:00.000Z'],
    ]);
    expect(plan.levels[1]).toMatchObject({
      name: 'DevOps Lead (Bolt)',
      slack: '@bolt',
      rule: '10 min after the incident opened',
    });
    // maxOpenHours (168) after the opening.
    expect(plan.expiresAt).toBe('2026-12-10T02:00:00.000Z');
  });

  it('pages on-call, then the lead 30 min after a P2 opened', () => {
    const plan = planEscalation(incident({ priority: 'P2' }), DEFAULTS);
    expect(plan.levels.map((l) => [l.contact, l.at])).toEqual([
      ['on-call', '2026-12-03T02:00:00.000Z'],
      ['devops-lead', '2026-12-03T02:30:00.000Z'],
    ]);
  });

  it('pages the lead for a P3 opened on Friday evening at 09:00 Singapore time on Monday', () => {
    // Friday 2026-12-04 19:30 SGT.
    const plan = planEscalation(incident({ priority: 'P3', openedAt: '2026-12-04T11:30:00.000Z' }), DEFAULTS);
    expect(plan.levels.map((l) => l.at)).toEqual(['2026-12-04T11:30:00.000Z', '2026-12-07T01:00:00.000Z']);
    expect(plan.levels[1]?.rule).toBe(
      'start of the next business day, 2026-12-07 09:00 Asia/Singapore (Mon)',
    );
  });

  it('never ends the chain before a P3 reaches its lead, however short maxOpenHours is', () => {
    const config = escalationSchema.parse({ maxOpenHours: 24 });
    const plan = planEscalation(incident({ priority: 'P3', openedAt: '2026-12-04T11:30:00.000Z' }), config);
    expect(plan.expiresAt).toBe('2026-12-07T01:00:00.000Z');
  });

  it('follows a policy from config rather than the runbook when one is given', () => {
    const config = escalationSchema.parse({
      contacts: { primary: { name: 'Primary' }, sre: { name: 'SRE' } },
      policy: {
        P1: [
          { contact: 'primary', afterMinutes: 0 },
          { contact: 'sre', afterMinutes: 5 },
        ],
        P2: [{ contact: 'primary', afterMinutes: 0 }],
        P3: [{ contact: 'primary', afterMinutes: 0 }],
      },
    });
    expect(planEscalation(incident(), config).levels.map((l) => [l.name, l.at])).toEqual([
      ['Primary', '2026-12-03T02:00:00.000Z'],
      ['SRE', '2026-12-03T02:05:00.000Z'],
    ]);
  });
});

describe('next business day (Intl only, holiday-free)', () => {
  it.each([
    ['Friday 10:00 SGT', '2026-12-04T02:00:00Z', '2026-12-07T01:00:00.000Z'],
    ['Friday 19:30 SGT', '2026-12-04T11:30:00Z', '2026-12-07T01:00:00.000Z'],
    ['Saturday', '2026-12-05T04:00:00Z', '2026-12-07T01:00:00.000Z'],
    ['Sunday 23:59 SGT', '2026-12-06T15:59:00Z', '2026-12-07T01:00:00.000Z'],
    ['Tuesday 03:00 SGT, before hours', '2026-12-07T19:00:00Z', '2026-12-09T01:00:00.000Z'],
  ])('gives the next working day at 09:00 for an incident opened %s', (_what, opened, expected) => {
    expect(nextBusinessDayStart(at(opened), SGT).toISOString()).toBe(expected);
  });

  it('counts days on the local calendar, not UTC: Friday 01:30 SGT is still Thursday in UTC', () => {
    // 2026-12-03T17:30Z is Thursday in UTC, Friday 01:30 in Singapore: the next business day is Monday.
    expect(nextBusinessDayStart(at('2026-12-03T17:30:00Z'), SGT).toISOString()).toBe(
      '2026-12-07T01:00:00.000Z',
    );
  });

  it('treats a public holiday as a business day: only configured weekdays count', () => {
    // Thursday 24 December → Friday 25 December (Christmas) 09:00 SGT.
    expect(nextBusinessDayStart(at('2026-12-24T04:00:00Z'), SGT).toISOString()).toBe(
      '2026-12-25T01:00:00.000Z',
    );
  });

  it('keeps 09:00 local across the spring-forward weekend (London, GMT → BST)', () => {
    // Friday 27 March 2026 19:00 GMT; clocks go forward on Sunday 29 March; Monday 09:00 BST is 08:00Z.
    const london = hours({ timeZone: 'Europe/London' });
    expect(nextBusinessDayStart(at('2026-03-27T19:00:00Z'), london).toISOString()).toBe(
      '2026-03-30T08:00:00.000Z',
    );
  });

  it('keeps 09:00 local across the fall-back weekend (New York, EDT → EST)', () => {
    // Friday 30 October 2026 18:00 EDT; clocks go back on Sunday 1 November; Monday 09:00 EST is 14:00Z.
    const ny = hours({ timeZone: 'America/New_York' });
    expect(nextBusinessDayStart(at('2026-10-30T22:00:00Z'), ny).toISOString()).toBe(
      '2026-11-02T14:00:00.000Z',
    );
  });

  it('moves a start hour that the clocks skip forward by the gap', () => {
    // New York skips 02:00-03:00 on Sunday 8 March 2026: a 02:00 start is 03:00 EDT (07:00Z).
    const ny = hours({ timeZone: 'America/New_York', startHour: 2, days: ['sun'] });
    expect(nextBusinessDayStart(at('2026-03-07T15:00:00Z'), ny).toISOString()).toBe(
      '2026-03-08T07:00:00.000Z',
    );
  });

  it('takes the first of a wall time that occurs twice when the clocks go back', () => {
    // 01:00 on 1 November 2026 in New York happens at 05:00Z (EDT) and again at 06:00Z (EST).
    expect(zonedTime(2026, 11, 1, 1, 'America/New_York').toISOString()).toBe('2026-11-01T05:00:00.000Z');
  });

  it('honours working weekends when config lists them', () => {
    const weekend = hours({ days: ['sat', 'sun'] });
    // Friday → Saturday 09:00 SGT.
    expect(nextBusinessDayStart(at('2026-12-04T02:00:00Z'), weekend).toISOString()).toBe(
      '2026-12-05T01:00:00.000Z',
    );
  });

  it('tells business hours from the rest on the local clock', () => {
    expect(isBusinessHours(at('2026-12-04T01:00:00Z'), SGT)).toBe(true); // Fri 09:00 SGT
    expect(isBusinessHours(at('2026-12-04T00:59:59Z'), SGT)).toBe(false); // Fri 08:59 SGT
    expect(isBusinessHours(at('2026-12-04T10:00:00Z'), SGT)).toBe(false); // Fri 18:00 SGT
    expect(isBusinessHours(at('2026-12-05T02:00:00Z'), SGT)).toBe(false); // Saturday
  });

  it('reads a local clock with midnight as 00, never 24', () => {
    expect(wallTime(at('2026-12-03T16:00:00Z'), 'Asia/Singapore')).toMatchObject({
      day: 4,
      hour: 0,
      weekday: 'fri',
    });
    expect(describeWallTime(at('2026-12-03T16:00:00Z'), 'Asia/Singapore')).toBe(
      '2026-12-04 00:00 Asia/Singapore (Fri)',
    );
  });
});

describe('escalation loop turns', () => {
  const plan = planEscalation(incident(), DEFAULTS);

  it('waits until the lead is due after paging on-call', () => {
    const turn = levelStep(plan, 0, at('2026-12-03T02:00:03Z'));
    expect(turn).toMatchObject({
      last: false,
      nextLevel: 1,
      waitSeconds: 597,
      waitUntil: '2026-12-03T02:10:00.000Z',
    });
    expect(turn.message).toContain('Paging Primary on-call (level 1 of 3, when the incident opened)');
    expect(turn.message).toContain('DevOps Lead (Bolt) follows at 2026-12-03T02:10:00.000Z');
  });

  it('waits until the chain expires after paging the last level', () => {
    const turn = levelStep(plan, 2, at('2026-12-03T02:20:00Z'));
    expect(turn.last).toBe(true);
    expect(turn.nextLevel).toBeUndefined();
    expect(turn.waitSeconds).toBe(168 * 3600 - 20 * 60);
    expect(turn.message).toContain('this is the last level');
  });

  it('pages an overdue level at once and lets the next follow a second later', () => {
    // The execution started 25 minutes late: nobody is skipped, each waits the minimum.
    expect(levelStep(plan, 0, at('2026-12-03T02:25:00Z')).waitSeconds).toBe(1);
    expect(levelStep(plan, 1, at('2026-12-03T02:25:01Z')).waitSeconds).toBe(1);
  });

  it('refuses a level the priority does not have', () => {
    expect(() => levelStep(plan, 3, at('2026-12-03T02:00:00Z'))).toThrow(InvalidInputError);
    expect(() => levelStep(plan, 3, at('2026-12-03T02:00:00Z'))).toThrow(/a P1 incident has 3 level/);
  });
});

describe('incidents', () => {
  it('names an incident after its environment and opening time, sortable and a valid execution name', () => {
    const id = incidentId('production', at('2026-12-03T03:51:09.123Z'), '4f2a9c1e');
    expect(id).toBe('production-20261203T035109Z-4f2a9c1e');
    expect(escalationExecutionName({ id })).toBe(id);
    expect(environmentOfIncident(id)).toBe('production');
    expect(environmentOfIncident('eu-west-prod-20261203T035109Z-4f2a9c1e')).toBe('eu-west-prod');
    expect(environmentOfIncident('not-an-incident')).toBeUndefined();
    const later = incidentId('production', at('2026-12-03T03:51:10Z'), '00000000');
    expect([later, id].sort()).toEqual([id, later]);
  });

  it('refuses an id that would not be a valid execution name', () => {
    expect(() => incidentId('production', at('2026-12-03T00:00:00Z'), 'XYZ')).toThrow(/8 lowercase hex/);
    expect(() => incidentId('x'.repeat(60), at('2026-12-03T00:00:00Z'), '4f2a9c1e')).toThrow(
      /not a valid execution name/,
    );
  });

  it('opens an incident as open, nothing paged yet, with control characters escaped', () => {
    const i = incident({ summary: 'bad\u001b[31m release' });
    expect(i).toMatchObject({
      status: 'open',
      openedAt: '2026-12-03T02:00:00.000Z',
      updatedAt: '2026-12-03T02:00:00.000Z',
    });
    expect(i.summary).toBe('bad\\x1b[31m release');
    expect(i.levelReached).toBeUndefined();
  });

  it('refuses to open an incident whose id names another environment', () => {
    expect(() =>
      openIncident(
        { environment: 'staging', priority: 'P1', summary: 's', alarm: { name: 'A' } },
        'production-20261203T000000Z-4f2a9c1e',
        at('2026-12-03T00:00:00Z'),
      ),
    ).toThrow(/does not belong to environment staging/);
  });

  it('acknowledges an open incident only from open', () => {
    const t = planIncidentTransition(incident(), 'acknowledged', { by: 'alice' }, at('2026-12-03T02:05:00Z'));
    expect(t).toEqual({
      kind: 'change',
      from: ['open'],
      patch: {
        status: 'acknowledged',
        acknowledgedAt: '2026-12-03T02:05:00.000Z',
        acknowledgedBy: 'alice',
        updatedAt: '2026-12-03T02:05:00.000Z',
      },
      message: expect.stringContaining('acknowledged by alice: the escalation stops'),
    });
  });

  it('treats acknowledging an acknowledged incident as a no-op that names who did', () => {
    const acked = {
      ...incident(),
      status: 'acknowledged' as const,
      acknowledgedBy: 'bob',
      acknowledgedAt: '2026-12-03T02:01:00.000Z',
    };
    const t = planIncidentTransition(acked, 'acknowledged', { by: 'alice' }, at('2026-12-03T02:05:00Z'));
    expect(t).toEqual({
      kind: 'no-op',
      message: expect.stringContaining('already acknowledged by bob at 2026-12-03T02:01:00.000Z'),
    });
  });

  it('treats acknowledging a resolved incident as a clear no-op, never moving it backwards', () => {
    const resolved = {
      ...incident(),
      status: 'resolved' as const,
      resolvedBy: 'alarm HighErrorRate (OK)',
      resolvedAt: '2026-12-03T02:03:00.000Z',
    };
    const t = planIncidentTransition(resolved, 'acknowledged', { by: 'alice' }, at('2026-12-03T02:05:00Z'));
    expect(t.kind).toBe('no-op');
    expect(t.message).toBe(
      `Incident ${resolved.id} was already resolved by alarm HighErrorRate (OK) at 2026-12-03T02:03:00.000Z; nothing to acknowledge.`,
    );
    expect(planIncidentTransition(resolved, 'resolved', { by: 'x' }, at('2026-12-03T02:05:00Z')).kind).toBe(
      'no-op',
    );
  });

  it('resolves an open or acknowledged incident with who and why', () => {
    const t = planIncidentTransition(
      incident(),
      'resolved',
      { by: 'alarm HighErrorRate (OK)', reason: 'back to OK' },
      at('2026-12-03T02:09:00Z'),
    );
    expect(t).toMatchObject({
      kind: 'change',
      from: ['open', 'acknowledged'],
      patch: { status: 'resolved', resolvedBy: 'alarm HighErrorRate (OK)', resolution: 'back to OK' },
    });
  });

  it('hands the waiting task who ended the chain', () => {
    const acked = { ...incident(), status: 'acknowledged' as const, acknowledgedBy: 'alice' };
    expect(escalationTaskOutput(acked)).toEqual({
      incidentId: acked.id,
      status: 'acknowledged',
      by: 'alice',
    });
  });

  it('maps priorities to PagerDuty severities', () => {
    expect(pagerDutySeverity('P1')).toBe('critical');
    expect(pagerDutySeverity('P2')).toBe('error');
    expect(pagerDutySeverity('P3')).toBe('warning');
    expect(pagerDutySeverity(undefined)).toBe('info');
  });
});
