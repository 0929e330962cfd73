/** Incidents in the Control table, on dynalite: one per id, newest first, forward-only status. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../lambdas/core/errors.ts';
import { type Incident, incidentId, openIncident } from '../../lambdas/core/escalation.ts';
import { type LocalDynamo, startLocalDynamo } from '../helpers/dynalite.ts';

let db: LocalDynamo;
beforeAll(async () => {
  db = await startLocalDynamo();
});
afterAll(() => db.close());

let n = 0;
/** A fresh open incident of `environment`, opened `minutes` after a fixed start. */
function newIncident(environment = 'production', minutes = 0): Incident {
  const opened = new Date(Date.parse('2026-12-03T02:00:00Z') + minutes * 60_000);
  const suffix = (n++).toString(16).padStart(8, '0');
  return openIncident(
    { environment, priority: 'P1', summary: 'HighErrorRate in production', alarm: { name: 'HighErrorRate' } },
    incidentId(environment, opened, suffix),
    opened,
  );
}
const EXEC = 'arn:aws:states:ap-southeast-1:123456789012:execution:guardian-production-escalation:x';
const now = new Date('2026-12-03T02:05:00Z');

describe('incident store', () => {
  it('creates an incident once: a redelivered alarm gets the stored one back', async () => {
    const incident = newIncident();
    expect(await db.store.putIncident(incident)).toEqual({ created: true, incident });
    const again = await db.store.putIncident({ ...incident, summary: 'a second delivery' });
    expect(again).toEqual({ created: false, incident });
    expect(await db.store.getIncident('production', incident.id)).toEqual(incident);
    expect(await db.store.getIncident('staging', incident.id)).toBeUndefined();
  });

  it('lists the incidents of one environment newest first, up to the limit', async () => {
    const env = 'listing';
    const made = [newIncident(env, 0), newIncident(env, 30), newIncident(env, 10)];
    for (const i of made) await db.store.putIncident(i);
    await db.store.putIncident(newIncident('other', 50));
    const listed = await db.store.listIncidents(env, 10);
    expect(listed.map((i) => i.openedAt)).toEqual([
      '2026-12-03T02:30:00.000Z',
      '2026-12-03T02:10:00.000Z',
      '2026-12-03T02:00:00.000Z',
    ]);
    expect((await db.store.listIncidents(env, 1)).map((i) => i.id)).toEqual([made[1]?.id]);
    expect(await db.store.listIncidents(env, 0)).toEqual([]);
  });

  it('acknowledges an open incident and hands back the waiting task token to send success to', async () => {
    const incident = newIncident();
    await db.store.putIncident(incident);
    await db.store.recordEscalationLevel('production', incident.id, {
      level: 0,
      contact: 'on-call',
      at: now.toISOString(),
      executionArn: EXEC,
    });
    expect(await db.store.setEscalationToken('production', incident.id, 0, 'token-0')).toBe(true);
    const acked = await db.store.transitionIncident(
      'production',
      incident.id,
      'acknowledged',
      { by: 'alice' },
      now,
    );
    expect(acked.changed).toBe(true);
    expect(acked.incident).toMatchObject({
      status: 'acknowledged',
      acknowledgedBy: 'alice',
      acknowledgedAt: now.toISOString(),
      taskToken: 'token-0',
      levelReached: 0,
      escalationExecutionArn: EXEC,
    });
    const twice = await db.store.transitionIncident(
      'production',
      incident.id,
      'acknowledged',
      { by: 'bob' },
      now,
    );
    expect(twice).toMatchObject({ changed: false, incident: { acknowledgedBy: 'alice' } });
    expect(twice.message).toContain('already acknowledged by alice');
  });

  it('resolves an acknowledged incident and never lets it go back', async () => {
    const incident = newIncident();
    await db.store.putIncident(incident);
    await db.store.transitionIncident('production', incident.id, 'acknowledged', { by: 'alice' }, now);
    const resolved = await db.store.transitionIncident(
      'production',
      incident.id,
      'resolved',
      { by: 'alarm HighErrorRate (OK)', reason: 'OK' },
      now,
    );
    expect(resolved).toMatchObject({
      changed: true,
      incident: {
        status: 'resolved',
        resolvedBy: 'alarm HighErrorRate (OK)',
        resolution: 'OK',
        acknowledgedBy: 'alice',
      },
    });
    const late = await db.store.transitionIncident(
      'production',
      incident.id,
      'acknowledged',
      { by: 'carol' },
      now,
    );
    expect(late.changed).toBe(false);
    expect(late.message).toBe(
      `Incident ${incident.id} was already resolved by alarm HighErrorRate (OK) at ${now.toISOString()}; nothing to acknowledge.`,
    );
    expect((await db.store.getIncident('production', incident.id))?.status).toBe('resolved');
  });

  it('lets exactly one of many concurrent acknowledgements win', async () => {
    const incident = newIncident();
    await db.store.putIncident(incident);
    const results = await Promise.all(
      ['a', 'b', 'c', 'd', 'e'].map((by) =>
        db.store.transitionIncident('production', incident.id, 'acknowledged', { by }, now),
      ),
    );
    expect(results.filter((r) => r.changed)).toHaveLength(1);
    const winner = results.find((r) => r.changed)?.incident.acknowledgedBy;
    expect((await db.store.getIncident('production', incident.id))?.acknowledgedBy).toBe(winner);
  });

  it('refuses to move an incident that does not exist', async () => {
    await expect(
      db.store.transitionIncident(
        'production',
        'production-20991231T000000Z-00000000',
        'resolved',
        { by: 'x' },
        now,
      ),
    ).rejects.toThrow(NotFoundError);
  });

  it("records a level only while the incident is open, dropping the previous level's token", async () => {
    const incident = newIncident();
    await db.store.putIncident(incident);
    await db.store.recordEscalationLevel('production', incident.id, {
      level: 0,
      contact: 'on-call',
      at: now.toISOString(),
      executionArn: EXEC,
    });
    await db.store.setEscalationToken('production', incident.id, 0, 'token-0');
    const lead = await db.store.recordEscalationLevel('production', incident.id, {
      level: 1,
      contact: 'devops-lead',
      at: '2026-12-03T02:10:00.000Z',
      executionArn: EXEC,
    });
    expect(lead).toMatchObject({
      levelReached: 1,
      levelContact: 'devops-lead',
      levelReachedAt: '2026-12-03T02:10:00.000Z',
    });
    expect(lead?.taskToken).toBeUndefined();
    await db.store.transitionIncident('production', incident.id, 'resolved', { by: 'x' }, now);
    expect(
      await db.store.recordEscalationLevel('production', incident.id, {
        level: 2,
        contact: 'cto',
        at: now.toISOString(),
        executionArn: EXEC,
      }),
    ).toBeUndefined();
    expect((await db.store.getIncident('production', incident.id))?.levelReached).toBe(1);
  });

  it('parks a task token only while the incident is open at that level', async () => {
    const incident = newIncident();
    await db.store.putIncident(incident);
    await db.store.recordEscalationLevel('production', incident.id, {
      level: 1,
      contact: 'devops-lead',
      at: now.toISOString(),
      executionArn: EXEC,
    });
    // A stale wait of an earlier level must not overwrite the current one's token.
    expect(await db.store.setEscalationToken('production', incident.id, 0, 'stale')).toBe(false);
    expect(await db.store.setEscalationToken('production', incident.id, 1, 'token-1')).toBe(true);
    await db.store.transitionIncident('production', incident.id, 'acknowledged', { by: 'alice' }, now);
    expect(await db.store.setEscalationToken('production', incident.id, 1, 'late')).toBe(false);
    expect((await db.store.getIncident('production', incident.id))?.taskToken).toBe('token-1');
  });
});
