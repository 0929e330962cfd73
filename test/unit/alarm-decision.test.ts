import { describe, expect, it } from 'vitest';
import {
  type AlarmDecisionInput,
  type AlarmEnvironment,
  afterClaimLost,
  alarmEnvironmentOf,
  alarmEventDedupeKey,
  CLOCK_SKEW_TOLERANCE_MS,
  decideAlarm,
  incidentIdOf,
  type PromotedRelease,
  releaseRollbackClaimKey,
  resolveAlarm,
} from '../../lambdas/core/alarm-decision.ts';
import { type AlarmEvent, parseAlarmEvent, type RawAlarmEvent } from '../../lambdas/core/alarm-event.ts';
import { loadConfig } from '../../lib/config/load.ts';
import { alarmFixture } from '../helpers/alarm-events.ts';

const config = loadConfig();
/** The shipped config's environments, as resolution sees them. */
const ENVIRONMENTS: AlarmEnvironment[] = Object.values(config.environments).map(alarmEnvironmentOf);
const GUARD_WINDOW = 1800;

/** A fixture parsed, with `edit` applied to its raw JSON first. */
function eventOf(name: string, edit: (raw: RawAlarmEvent) => void = () => {}): AlarmEvent {
  const raw = alarmFixture(name) as unknown as RawAlarmEvent;
  edit(raw);
  const result = parseAlarmEvent(raw);
  if (!result.ok) throw new Error(result.message);
  return result.event;
}

/** The guardian's HighErrorRate alarm of production, in ALARM at 2026-11-20T10:12:05.485Z. */
const highErrorRate = (edit?: (raw: RawAlarmEvent) => void) =>
  eventOf('guardian-high-error-rate-alarm', edit);
const FIRED_AT = Date.parse('2026-11-20T10:12:05.485Z');

/** An event of the guardian's HighErrorRate alarm without its tags (tag propagation off). */
const untagged = (name = 'guardian-production-HighErrorRate') =>
  highErrorRate((raw) => {
    delete raw.detail.alarmTags;
    delete raw.detail.alarmTagsStatus;
    raw.detail.alarmName = name;
  });

/** A custom alarm (not named by the guardian's scheme) with `tags`. */
const tagged = (tags: Record<string, string> | undefined, status = 'SUCCESS') =>
  highErrorRate((raw) => {
    raw.detail.alarmName = 'api-5xx-spike';
    if (tags) raw.detail.alarmTags = tags;
    else delete raw.detail.alarmTags;
    raw.detail.alarmTagsStatus = status;
  });

/** A release promoted `minutesBefore` the alarm fired, replacing v1.4.1. */
function promotedBefore(ms: number, overrides: Partial<PromotedRelease> = {}): PromotedRelease {
  return {
    recordId: 'production-v1-4-2-8c1d2e3f',
    image: 'ghcr.io/buywhere/buywhere-api:v1.4.2',
    promotedAt: new Date(FIRED_AT - ms).toISOString(),
    previous: { recordId: 'production-v1-4-1-0a9b8c7d', image: 'ghcr.io/buywhere/buywhere-api:v1.4.1' },
    ...overrides,
  };
}

/** decideAlarm for `event` in production with sensible defaults. */
function decide(event: AlarmEvent, overrides: Partial<AlarmDecisionInput> = {}) {
  return decideAlarm({
    event,
    resolution: resolveAlarm(event, ENVIRONMENTS),
    duplicate: false,
    now: new Date(FIRED_AT + 2000),
    guardWindowSeconds: GUARD_WINDOW,
    openIncidents: [],
    insufficientData: 'notify',
    ...overrides,
  });
}

const MIN = 60_000;

describe('resolveAlarm', () => {
  it('recognises an alarm named outside the scheme by its tags', () => {
    expect(
      resolveAlarm(
        tagged({ environment: 'production', service: 'buywhere-api', severity: 'warning' }),
        ENVIRONMENTS,
      ),
    ).toEqual({
      resolved: true,
      environment: 'production',
      severity: 'warning',
      via: 'tags',
    });
  });

  it.each([
    ['guardian-production-HighErrorRate', 'production', 'critical'],
    ['guardian-production-PodsBelowReplicas', 'production', 'critical'],
    ['guardian-staging-NoLogsReceived', 'staging', 'warning'],
    ['guardian-staging-Degraded', 'staging', 'critical'],
  ] as const)(
    'recognises %s by its configured name when the event carries no tags',
    (name, environment, severity) => {
      expect(resolveAlarm(untagged(name), ENVIRONMENTS)).toEqual({
        resolved: true,
        environment,
        severity,
        via: 'name',
      });
    },
  );

  it('recognises an alarm the team already has by its name in alarms.existing, with the configured severity', () => {
    const envs = ENVIRONMENTS.map((e) =>
      e.name === 'production'
        ? { ...e, existing: [{ name: 'api-5xx-spike', severity: 'critical' as const }] }
        : e,
    );
    expect(resolveAlarm(tagged(undefined), envs)).toEqual({
      resolved: true,
      environment: 'production',
      severity: 'critical',
      via: 'name',
    });
  });

  it('ignores an alarm of another account, naming the accounts it guards', () => {
    const r = resolveAlarm(
      highErrorRate((raw) => {
        raw.account = '210987654321';
      }),
      ENVIRONMENTS,
    );
    expect(r).toEqual({
      resolved: false,
      reason:
        "Alarm 'guardian-production-HighErrorRate' is in account 210987654321, which no environment of this guardian runs in (staging in 123456789012/ap-southeast-1, production in 123456789012/ap-southeast-1, production-argo in 123456789012/ap-southeast-1, staging-ecs in 123456789012/ap-southeast-1).",
    });
  });

  it('ignores an alarm of another region of the same account', () => {
    const r = resolveAlarm(
      highErrorRate((raw) => {
        raw.region = 'us-east-1';
      }),
      ENVIRONMENTS,
    );
    expect(r.resolved).toBe(false);
    if (!r.resolved)
      expect(r.reason).toMatch(/is in region us-east-1 of account 123456789012, where no environment/);
  });

  it('ignores an alarm of another service', () => {
    const r = resolveAlarm(
      tagged({ environment: 'production', service: 'search-indexer', severity: 'critical' }),
      ENVIRONMENTS,
    );
    expect(r).toEqual({
      resolved: false,
      reason:
        "Alarm 'api-5xx-spike' belongs to service 'search-indexer', not 'buywhere-api' which the guardian deploys in production.",
    });
  });

  it('ignores an alarm tagged with an environment the guardian does not have, or with no service or severity', () => {
    const reasons = [
      tagged({ environment: 'qa', service: 'buywhere-api', severity: 'critical' }),
      tagged({ environment: 'production', severity: 'critical' }),
      tagged({ environment: 'production', service: 'buywhere-api' }),
      tagged({ environment: 'production', service: 'buywhere-api', severity: 'page-everyone' }),
    ].map((e) => {
      const r = resolveAlarm(e, ENVIRONMENTS);
      return r.resolved ? 'resolved' : r.reason;
    });
    expect(reasons).toEqual([
      "Alarm 'api-5xx-spike' is tagged environment='qa', which is not an environment of this guardian in 123456789012/ap-southeast-1 (staging, production, production-argo, staging-ecs).",
      "Alarm 'api-5xx-spike' is tagged environment=production but has no service tag; the guardian acts only on 'buywhere-api''s alarms.",
      "Alarm 'api-5xx-spike' of production has no severity tag; the guardian knows critical and warning.",
      "Alarm 'api-5xx-spike' of production has severity 'page-everyone'; the guardian knows critical and warning.",
    ]);
  });

  it('ignores an untagged alarm it has no name for, and says when CloudWatch could not attach the tags', () => {
    const none = resolveAlarm(tagged(undefined), ENVIRONMENTS);
    expect(none.resolved ? '' : none.reason).toBe(
      "Alarm 'api-5xx-spike' is not one of the guardian's alarms (guardian-<environment>-<Name> or alarms.existing) and carries no environment tag.",
    );
    const failed = resolveAlarm(
      tagged({ environment: 'production', service: 'buywhere-api', severity: 'critical' }, 'FAILED'),
      ENVIRONMENTS,
    );
    expect(failed.resolved ? '' : failed.reason).toMatch(
      /carries no environment tag \(CloudWatch could not attach its tags: alarmTagsStatus 'FAILED'\)\.$/,
    );
  });
});

describe('decideAlarm: critical ALARM', () => {
  it('rolls back the deployment in progress through its own path', () => {
    const d = decide(highErrorRate(), {
      deployment: {
        id: 'production-v1-4-3-11aa22bb',
        status: 'in-progress',
        executionName: 'production-v1-4-3-11aa22bb',
        executionArn:
          'arn:aws:states:ap-southeast-1:123456789012:execution:guardian-production-deploy:production-v1-4-3-11aa22bb',
        image: 'ghcr.io/buywhere/buywhere-api:v1.4.3',
      },
      promoted: promotedBefore(5 * MIN),
    });
    expect(d).toEqual({
      action: 'rollback-deployment',
      environment: 'production',
      alarm: 'guardian-production-HighErrorRate',
      severity: 'critical',
      state: 'ALARM',
      eventId: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
      deploymentId: 'production-v1-4-3-11aa22bb',
      executionName: 'production-v1-4-3-11aa22bb',
      executionArn:
        'arn:aws:states:ap-southeast-1:123456789012:execution:guardian-production-deploy:production-v1-4-3-11aa22bb',
      claimKey: 'rollback-claim#production#production-v1-4-3-11aa22bb',
      reason:
        "production: critical alarm 'guardian-production-HighErrorRate' is in ALARM while deployment production-v1-4-3-11aa22bb (ghcr.io/buywhere/buywhere-api:v1.4.3) is in progress; failing it so it rolls back through its own rollback path.",
    });
  });

  it('rolls back the deployment in post-deployment monitoring and says so', () => {
    const d = decide(highErrorRate(), {
      deployment: {
        id: 'd1',
        status: 'monitoring',
        executionName: 'd1',
        executionArn: 'arn:d1',
        image: 'img:2',
      },
    });
    expect(d.action).toBe('rollback-deployment');
    expect(d.reason).toContain('is in post-deployment monitoring; failing it');
  });

  it('rolls back a release promoted within the guard window to the one before it and opens an incident', () => {
    const d = decide(highErrorRate(), { promoted: promotedBefore(12 * MIN) });
    expect(d).toEqual({
      action: 'rollback-release',
      environment: 'production',
      alarm: 'guardian-production-HighErrorRate',
      severity: 'critical',
      state: 'ALARM',
      eventId: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
      release: { recordId: 'production-v1-4-2-8c1d2e3f', image: 'ghcr.io/buywhere/buywhere-api:v1.4.2' },
      rollbackTo: { recordId: 'production-v1-4-1-0a9b8c7d', image: 'ghcr.io/buywhere/buywhere-api:v1.4.1' },
      claimKey: 'rollback-claim#production#production-v1-4-2-8c1d2e3f',
      incidentId: 'production-20261120T101205Z-5d001925',
      reason:
        "production: critical alarm 'guardian-production-HighErrorRate' went into ALARM 12 min after release production-v1-4-2-8c1d2e3f (ghcr.io/buywhere/buywhere-api:v1.4.2) was promoted, within the 30 min guard window; rolling it back to production-v1-4-1-0a9b8c7d (ghcr.io/buywhere/buywhere-api:v1.4.1) and opening an incident.",
    });
  });

  it('rolls back on the composite Degraded alarm too, claiming the same release as its child alarm', () => {
    const promoted = promotedBefore(3 * MIN);
    const child = decide(highErrorRate(), { promoted });
    const composite = decide(eventOf('guardian-degraded-alarm'), { promoted });
    expect(composite.action).toBe('rollback-release');
    expect(composite.reason).toContain(
      "critical composite alarm 'guardian-production-Degraded' went into ALARM",
    );
    // Two alarms, one release: the second conditional claim fails, so one rollback.
    expect(composite.action === 'rollback-release' && child.action === 'rollback-release').toBe(true);
    if (composite.action === 'rollback-release' && child.action === 'rollback-release') {
      expect(composite.claimKey).toBe(child.claimKey);
      expect(composite.incidentId).not.toBe(child.incidentId);
    }
  });

  it('rolls back an alarm recognised by tags alone (a metric alarm named outside the scheme)', () => {
    const d = decide(tagged({ environment: 'production', service: 'buywhere-api', severity: 'critical' }), {
      promoted: promotedBefore(MIN),
    });
    expect(d.action).toBe('rollback-release');
  });

  it('rolls back when the alarm fires exactly at the end of the guard window, and escalates 1 ms later', () => {
    expect(decide(highErrorRate(), { promoted: promotedBefore(GUARD_WINDOW * 1000) }).action).toBe(
      'rollback-release',
    );
    const late = decide(highErrorRate(), { promoted: promotedBefore(GUARD_WINDOW * 1000 + 1) });
    expect(late.action).toBe('escalate');
    expect(late.reason).toBe(
      "production: critical alarm 'guardian-production-HighErrorRate' is in ALARM; escalating without a rollback: the last release, production-v1-4-2-8c1d2e3f (ghcr.io/buywhere/buywhere-api:v1.4.2), was promoted 30 min before the alarm, beyond the 30 min guard window, so it is unlikely to be the cause.",
    );
  });

  it('measures the window to when the alarm fired, not to a late redelivery', () => {
    const d = decide(highErrorRate(), {
      promoted: promotedBefore(10 * MIN),
      now: new Date(FIRED_AT + 6 * 3600_000),
    });
    expect(d.action).toBe('rollback-release');
  });

  it('rolls back when clock skew puts the alarm slightly before the promotion, and escalates when it fired well before', () => {
    expect(decide(highErrorRate(), { promoted: promotedBefore(-CLOCK_SKEW_TOLERANCE_MS) }).action).toBe(
      'rollback-release',
    );
    const before = decide(highErrorRate(), { promoted: promotedBefore(-5 * MIN) });
    expect(before).toMatchObject({ action: 'escalate' });
    if (before.action === 'escalate') {
      expect(before.why).toBe(
        'the alarm fired at 2026-11-20T10:12:05.485Z, 5 min before release production-v1-4-2-8c1d2e3f (ghcr.io/buywhere/buywhere-api:v1.4.2) was promoted at 2026-11-20T10:17:05.485Z, so that release did not cause it',
      );
    }
  });

  it('escalates only, saying why, when no release is on record', () => {
    const d = decide(highErrorRate());
    expect(d).toMatchObject({
      action: 'escalate',
      environment: 'production',
      severity: 'critical',
      why: 'no release of production is on record, so there is nothing to roll back',
      incidentId: 'production-20261120T101205Z-5d001925',
    });
  });

  it('escalates when the release has no predecessor or runs the same image as it', () => {
    const { previous: _, ...first } = promotedBefore(MIN);
    const alone = decide(highErrorRate(), { promoted: first });
    expect(alone.action === 'escalate' && alone.why).toMatch(
      /but no release before it is on record to roll back to$/,
    );
    const same = decide(highErrorRate(), {
      promoted: promotedBefore(MIN, {
        previous: { recordId: 'production-v1-4-2-00000000', image: 'ghcr.io/buywhere/buywhere-api:v1.4.2' },
      }),
    });
    expect(same.action === 'escalate' && same.why).toMatch(
      /runs the same image as the release before it .* so rolling back would change nothing$/,
    );
  });

  it('keeps the incident already open for the alarm when it escalates again', () => {
    const d = decide(highErrorRate(), {
      openIncidents: [
        {
          id: 'production:guardian-production-HighErrorRate:earlier',
          environment: 'production',
          alarm: 'guardian-production-HighErrorRate',
        },
      ],
    });
    expect(d).toMatchObject({
      action: 'escalate',
      incidentId: 'production:guardian-production-HighErrorRate:earlier',
    });
  });
});

describe('decideAlarm: other states and severities', () => {
  it('notifies on a warning ALARM and rolls nothing back, even right after a release', () => {
    const d = decide(untagged('guardian-production-NoLogsReceived'), { promoted: promotedBefore(MIN) });
    expect(d).toMatchObject({ action: 'notify', severity: 'warning' });
    expect(d.reason).toBe(
      "production: warning alarm 'guardian-production-NoLogsReceived' is in ALARM: investigate (warnings notify; only critical alarms roll back or page).",
    );
  });

  it('resolves the open incident of the alarm when it is OK again', () => {
    const ok = eventOf('guardian-high-error-rate-ok');
    const d = decide(ok, {
      promoted: promotedBefore(MIN),
      openIncidents: [
        {
          id: 'staging:guardian-production-HighErrorRate:x',
          environment: 'staging',
          alarm: 'guardian-production-HighErrorRate',
        },
        {
          id: 'production:guardian-production-APIServiceDown:y',
          environment: 'production',
          alarm: 'guardian-production-APIServiceDown',
        },
        {
          id: 'production:guardian-production-HighErrorRate:z',
          environment: 'production',
          alarm: 'guardian-production-HighErrorRate',
        },
      ],
    });
    expect(d).toEqual({
      action: 'resolve',
      environment: 'production',
      alarm: 'guardian-production-HighErrorRate',
      severity: 'critical',
      state: 'OK',
      eventId: '0b3f5d52-3c1e-4f47-8d6c-2b8f1e6a9c11',
      incidentId: 'production:guardian-production-HighErrorRate:z',
      reason:
        "production: alarm 'guardian-production-HighErrorRate' is OK again; resolving incident production:guardian-production-HighErrorRate:z.",
    });
  });

  it('notifies an OK after ALARM with no open incident, and ignores an OK that follows no ALARM', () => {
    expect(decide(eventOf('guardian-high-error-rate-ok'))).toMatchObject({ action: 'notify' });
    const fromNoData = decide(
      eventOf('guardian-high-error-rate-ok', (raw) => {
        if (raw.detail.previousState) raw.detail.previousState.value = 'INSUFFICIENT_DATA';
      }),
    );
    expect(fromNoData).toMatchObject({ action: 'ignore' });
    expect(fromNoData.reason).toContain(
      'is OK (from INSUFFICIENT_DATA); no incident is open and nothing was wrong.',
    );
  });

  it.each([
    ['ignore', 'ignore'],
    ['notify', 'notify'],
    ['escalate', 'escalate'],
  ] as const)('handles INSUFFICIENT_DATA by policy %s without a rollback', (policy, action) => {
    const event = highErrorRate((raw) => {
      raw.detail.state.value = 'INSUFFICIENT_DATA';
    });
    const d = decide(event, { insufficientData: policy, promoted: promotedBefore(MIN) });
    expect(d.action).toBe(action);
    expect(d.reason).toContain(`has too little data to evaluate`);
    if (d.action === 'escalate')
      expect(d.why).toBe('missing data is no evidence against the release, so nothing is rolled back');
  });
});

describe('decideAlarm: what is ignored', () => {
  it('ignores a redelivered event, whatever it would have done', () => {
    const d = decide(highErrorRate(), { duplicate: true, promoted: promotedBefore(MIN) });
    expect(d).toMatchObject({ action: 'ignore', environment: 'production', severity: 'critical' });
    expect(d.reason).toBe(
      "Event 6a7e8feb-b491-4cf7-a9f1-bf3703467718 ('guardian-production-HighErrorRate' ALARM) was already handled; EventBridge delivers at least once, so this delivery changes nothing.",
    );
  });

  it("ignores another service's alarm with resolution's reason", () => {
    const d = decide(tagged({ environment: 'production', service: 'search-indexer', severity: 'critical' }), {
      promoted: promotedBefore(MIN),
    });
    expect(d).toEqual({
      action: 'ignore',
      alarm: 'api-5xx-spike',
      state: 'ALARM',
      eventId: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
      reason:
        "Alarm 'api-5xx-spike' belongs to service 'search-indexer', not 'buywhere-api' which the guardian deploys in production.",
    });
  });
});

describe('keys for at-least-once delivery and one rollback per release', () => {
  it('gives every delivery of one event the same dedupe key, incident id and claim', () => {
    const first = highErrorRate();
    const again = highErrorRate();
    expect(alarmEventDedupeKey(first.id)).toBe('alarm-event#6a7e8feb-b491-4cf7-a9f1-bf3703467718');
    expect(alarmEventDedupeKey(again.id)).toBe(alarmEventDedupeKey(first.id));
    expect(incidentIdOf('production', again)).toBe(incidentIdOf('production', first));
    expect(decide(again, { promoted: promotedBefore(MIN) })).toEqual(
      decide(first, { promoted: promotedBefore(MIN) }),
    );
    expect(releaseRollbackClaimKey('production', 'r1')).toBe('rollback-claim#production#r1');
    expect(releaseRollbackClaimKey('staging', 'r1')).not.toBe(releaseRollbackClaimKey('production', 'r1'));
  });

  it('turns a rollback whose claim another alarm won into a notification', () => {
    const d = decide(highErrorRate(), { promoted: promotedBefore(MIN) });
    if (d.action !== 'rollback-release') throw new Error(`expected a rollback, got ${d.action}`);
    expect(afterClaimLost(d, 'guardian-production-Degraded')).toEqual({
      action: 'notify',
      environment: 'production',
      alarm: 'guardian-production-HighErrorRate',
      severity: 'critical',
      state: 'ALARM',
      eventId: d.eventId,
      reason:
        "production: critical alarm 'guardian-production-HighErrorRate' is in ALARM too; release production-v1-4-2-8c1d2e3f is already being rolled back (claimed by guardian-production-Degraded), so nothing is rolled back twice.",
    });
  });
});
