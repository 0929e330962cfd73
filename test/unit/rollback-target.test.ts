/**
 * Where an operator's or an alarm's rollback goes: the last known-good release (the runbook's
 * `rollback.sh quick`), never a release the guardian rolled back unless named with --force.
 * Histories are written the way the guardian and Kubernetes leave them: records newest first,
 * and a rollback to an old pod template renumbers its revision.
 */
import { describe, expect, it } from 'vitest';
import {
  InvalidInputError,
  NotFoundError,
  NothingToRollBackError,
  RolledBackReleaseError,
} from '../../lambdas/core/errors.ts';
import {
  chooseRollbackTarget,
  isOwnRollback,
  liveRelease,
  ownRollbackChoice,
  type RollbackChoiceFacts,
  reachedWorkload,
  rolledBackReleases,
} from '../../lambdas/core/rollback.ts';
import type { DeploymentRecord, RecordStatus, Trigger } from '../../lambdas/core/types.ts';
import type { RollbackPoint } from '../../lambdas/core/workload.ts';

const REPO = 'ghcr.io/buywhere/buywhere-api';
const img = (tag: string) => `${REPO}:${tag}`;
const pt = (revision: number, tag: string): RollbackPoint => ({
  platform: 'kubernetes',
  revision,
  image: img(tag),
  podTemplate: { spec: { containers: [{ name: 'buywhere-api', image: img(tag) }] } },
});
const WORKLOAD = 'deployment "staging/buywhere-api"';
const time = (minute: number) => new Date(Date.UTC(2026, 4, 1, 0, minute)).toISOString();
const id = (tag: string, n = 'a') => `staging-${tag.replaceAll('.', '-')}-0000000${n}`;

function deploy(
  minute: number,
  tag: string,
  status: RecordStatus,
  before: RollbackPoint,
  over: Partial<DeploymentRecord> = {},
): DeploymentRecord {
  return {
    environment: 'staging',
    id: id(tag),
    kind: 'deploy',
    status,
    executionArn: `arn:aws:states:ap-southeast-1:1:execution:guardian-staging-deploy:${id(tag)}`,
    trigger: 'ci',
    requestedBy: 'github-actions',
    image: img(tag),
    version: tag,
    rollbackPoint: before,
    startedAt: time(minute),
    ...(status !== 'in-progress' && { finishedAt: time(minute + 5) }),
    ...over,
  };
}

function rollback(
  minute: number,
  rid: string,
  from: RollbackPoint,
  toTag: string,
  trigger: Trigger,
  over: Partial<DeploymentRecord> = {},
): DeploymentRecord {
  return {
    environment: 'staging',
    id: rid,
    kind: 'rollback',
    status: 'rolled-back',
    executionArn: `arn:aws:states:ap-southeast-1:1:execution:guardian-staging-rollback:${rid}`,
    trigger,
    requestedBy: trigger === 'operator' ? 'rex' : 'guardian',
    image: img(toTag),
    rollbackPoint: from,
    reason:
      trigger === 'operator'
        ? 'operator rollback requested by rex'
        : 'HealthCheckFailedError: GET /health: expected HTTP 200, got 503',
    startedAt: time(minute),
    finishedAt: time(minute + 1),
    ...over,
  };
}

const newestFirst = (...oldestFirst: DeploymentRecord[]) => [...oldestFirst].reverse();

function choose(over: Partial<RollbackChoiceFacts>) {
  return chooseRollbackTarget({
    environment: 'staging',
    workload: WORKLOAD,
    records: [],
    history: [],
    current: pt(1, 'v6.9.0'),
    ...over,
  });
}

/** The message of what `fn` throws, checking its class. */
function refusal(fn: () => unknown, type: new (...args: never[]) => Error): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(type);
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

// The story: v6.9.0 seeded (revision 1), v7.0.0 deployed (2), v7.1.0-bad deployed (3) and
// rolled back automatically, which moved v7.0.0's ReplicaSet to revision 4.
const D700 = deploy(0, 'v7.0.0', 'succeeded', pt(1, 'v6.9.0'), { revision: 2 });
const BAD = 'v7.1.0-bad';
const DBAD = deploy(10, BAD, 'rolled-back', pt(2, 'v7.0.0'), { rolledBackBy: `${id(BAD)}-rollback` });
const RBAD = rollback(20, `${id(BAD)}-rollback`, pt(3, BAD), 'v7.0.0', 'deploy-failure', {
  deploymentId: DBAD.id,
  revision: 4,
});
const AFTER_BAD = {
  records: newestFirst(D700, DBAD, RBAD),
  history: [pt(1, 'v6.9.0'), pt(3, BAD), pt(4, 'v7.0.0')],
  current: pt(4, 'v7.0.0'),
};
// Then v7.2.0 deployed (5).
const D720 = deploy(30, 'v7.2.0', 'succeeded', pt(4, 'v7.0.0'), { revision: 5 });
const AFTER_720 = {
  records: newestFirst(D700, DBAD, RBAD, D720),
  history: [...AFTER_BAD.history, pt(5, 'v7.2.0')],
  current: pt(5, 'v7.2.0'),
};

describe('chooseRollbackTarget without --revision: the last known-good release', () => {
  it('refuses when nothing is recorded, saying how to name a revision', () => {
    const message = refusal(() => choose({ history: [pt(1, 'v6.9.0')] }), NothingToRollBackError);
    expect(message).toBe(
      'no successful deployment of staging is recorded, so there is no known-good release to roll back to; name the revision to restore: guardian rollback --env staging --revision N (revisions: 1 (v6.9.0))',
    );
  });

  it('refuses when the only releases recorded were rolled back', () => {
    const message = refusal(
      () =>
        choose({
          records: newestFirst(
            deploy(10, BAD, 'rolled-back', pt(1, 'v6.9.0')),
            rollback(20, 'r1', pt(2, BAD), 'v6.9.0', 'deploy-failure'),
          ),
          history: [pt(2, BAD), pt(3, 'v6.9.0')],
          current: pt(3, 'v6.9.0'),
        }),
      NothingToRollBackError,
    );
    expect(message).toMatch(
      /^no successful deployment of staging is recorded.*--revision N \(revisions: 2 \(v7\.1\.0-bad\), 3 \(v6\.9\.0\)\)$/,
    );
  });

  it('refuses when the workload already runs the last known-good release (after an automatic rollback), saying why', () => {
    const message = refusal(() => choose(AFTER_BAD), NothingToRollBackError);
    expect(message).toContain(
      `staging is already on the last known-good release v7.0.0 (deployment ${D700.id} succeeded at ${time(5)} and was not rolled back), revision 4`,
    );
    expect(message).toContain(
      `; v7.1.0-bad after it the guardian rolled back as bad (deployment ${DBAD.id}, rolled back by ${RBAD.id}: HealthCheckFailedError: GET /health: expected HTTP 200, got 503): nothing to roll back to.`,
    );
    expect(message).toMatch(
      /To go further back, name the revision to restore: guardian rollback --env staging --revision N \(revisions: 1 \(v6\.9\.0\), 3 \(v7\.1\.0-bad\), 4 \(v7\.0\.0\)\)$/,
    );
  });

  it('goes to the last known-good release, not the release the guardian rolled back, undoing the live one', () => {
    const choice = choose(AFTER_720);
    // The record says revision 2, but the automatic rollback renumbered v7.0.0 to 4.
    expect(choice.to).toEqual(pt(4, 'v7.0.0'));
    expect(choice.undoes).toBe(D720);
    expect(choice.sentence).toBe(
      `restoring revision 4 (${img('v7.0.0')}), the last known-good release v7.0.0 (deployment ${D700.id} succeeded at ${time(5)} and was not rolled back); this undoes deployment ${D720.id} (v7.2.0)`,
    );
  });

  it('restores the last known-good release when the automatic rollback failed and the bad release still runs (the issue)', () => {
    const failed = deploy(10, BAD, 'rollback-failed', pt(2, 'v7.0.0'));
    const choice = choose({
      records: newestFirst(D700, failed),
      history: [pt(1, 'v6.9.0'), pt(2, 'v7.0.0'), pt(3, BAD)],
      current: pt(3, BAD),
    });
    expect(choice.to).toEqual(pt(2, 'v7.0.0'));
    expect(choice.undoes).toBeUndefined();
    expect(choice.sentence).toContain(
      `; staging runs v7.1.0-bad now, which failed in deployment ${failed.id} and could not be rolled back automatically`,
    );
  });

  it('goes back from a bad release an operator forced back, to the last known-good one', () => {
    const forced = rollback(40, 'staging-rollback-0000000f', pt(4, 'v7.0.0'), BAD, 'operator', {
      revision: 5,
    });
    const choice = choose({
      records: newestFirst(D700, DBAD, RBAD, forced),
      history: [pt(1, 'v6.9.0'), pt(4, 'v7.0.0'), pt(5, BAD)],
      current: pt(5, BAD),
    });
    expect(choice.to).toEqual(pt(4, 'v7.0.0'));
    expect(choice.sentence).toContain('the last known-good release v7.0.0');
    expect(choice.sentence).toContain('staging runs v7.1.0-bad now, which the guardian rolled back as bad');
  });

  it('skips a release whose image the guardian rolled back in any deployment, even one that once succeeded', () => {
    // v7.0.0 succeeded, v7.1.0 succeeded, then v7.0.0 was deployed again and rolled back.
    const d710 = deploy(10, 'v7.1.0', 'succeeded', pt(2, 'v7.0.0'));
    const again = deploy(20, 'v7.0.0', 'rolled-back', pt(3, 'v7.1.0'), {
      id: id('v7.0.0', 'b'),
      rolledBackBy: 'r1',
    });
    const r1 = rollback(30, 'r1', pt(4, 'v7.0.0'), 'v7.1.0', 'deploy-failure', { deploymentId: again.id });
    const records = newestFirst(D700, d710, again, r1);
    const history = [pt(1, 'v6.9.0'), pt(4, 'v7.0.0'), pt(5, 'v7.1.0')];
    // Running v7.1.0 again: it is the last known-good release.
    expect(
      refusal(() => choose({ records, history, current: pt(5, 'v7.1.0') }), NothingToRollBackError),
    ).toMatch(
      /^staging is already on the last known-good release v7\.1\.0 .*v7\.0\.0 after it the guardian rolled back as bad \(deployment staging-v7-0-0-0000000b/,
    );
    const d720 = deploy(40, 'v7.2.0', 'succeeded', pt(5, 'v7.1.0'));
    expect(
      choose({
        records: [d720, ...records],
        history: [...history, pt(6, 'v7.2.0')],
        current: pt(6, 'v7.2.0'),
      }).to,
    ).toEqual(pt(5, 'v7.1.0'));
  });

  it('treats an image deployed twice as one release, undoing the live deployment of it', () => {
    const d1 = deploy(0, 'v1.0.0', 'succeeded', pt(1, 'v0.9.0'));
    const d2 = deploy(10, 'v2.0.0', 'succeeded', pt(2, 'v1.0.0'));
    const d3 = deploy(20, 'v1.0.0', 'succeeded', pt(3, 'v2.0.0'), { id: id('v1.0.0', 'c') });
    const choice = choose({
      records: newestFirst(d1, d2, d3),
      history: [pt(1, 'v0.9.0'), pt(3, 'v2.0.0'), pt(4, 'v1.0.0')],
      current: pt(4, 'v1.0.0'),
    });
    expect(choice.to).toEqual(pt(3, 'v2.0.0'));
    expect(choice.undoes).toBe(d3);
    expect(choice.sentence).toContain(`this undoes deployment ${d3.id} (v1.0.0)`);
  });

  it('refuses after a rollback that undid the latest release: the workload is back on the last known-good one', () => {
    const d710 = deploy(10, 'v7.1.0', 'rolled-back', pt(2, 'v7.0.0'), {
      rolledBackBy: 'staging-rollback-00000001',
    });
    const r = rollback(20, 'staging-rollback-00000001', pt(3, 'v7.1.0'), 'v7.0.0', 'operator', {
      deploymentId: d710.id,
    });
    const message = refusal(
      () =>
        choose({
          records: newestFirst(D700, d710, r),
          history: [pt(1, 'v6.9.0'), pt(3, 'v7.1.0'), pt(4, 'v7.0.0')],
          current: pt(4, 'v7.0.0'),
        }),
      NothingToRollBackError,
    );
    expect(message).toContain('already on the last known-good release v7.0.0');
    expect(message).toContain(
      `v7.1.0 after it the guardian rolled back (deployment ${d710.id}, rolled back by staging-rollback-00000001: an operator rollback by rex)`,
    );
  });

  it('returns to the last known-good release after an operator named an older revision, saying so', () => {
    // v7.2.0 live; an operator named revision 1 (v6.9.0) without judging v7.2.0.
    const named = rollback(40, 'staging-rollback-00000002', pt(5, 'v7.2.0'), 'v6.9.0', 'operator');
    const choice = choose({
      records: [named, ...AFTER_720.records],
      history: [pt(3, BAD), pt(4, 'v7.0.0'), pt(5, 'v7.2.0'), pt(6, 'v6.9.0')],
      current: pt(6, 'v6.9.0'),
    });
    expect(choice.to).toEqual(pt(5, 'v7.2.0'));
    expect(choice.undoes).toBeUndefined();
    expect(choice.sentence).toMatch(/the last known-good release v7\.2\.0 .*; staging runs .*:v6\.9\.0 now$/);
  });

  it('restores the state before the live release when no earlier known-good release is recorded', () => {
    const choice = choose({
      records: [D700],
      history: [pt(1, 'v6.9.0'), pt(2, 'v7.0.0')],
      current: pt(2, 'v7.0.0'),
    });
    expect(choice.to).toEqual(pt(1, 'v6.9.0'));
    expect(choice.undoes).toBe(D700);
    expect(choice.sentence).toBe(
      `restoring revision 1 (${img('v6.9.0')}), the state captured before deployment ${D700.id} (v7.0.0) started: no earlier known-good release is recorded; this undoes deployment ${D700.id} (v7.0.0)`,
    );
  });

  it('refuses when the only known-good release is live and the state before it was rolled back', () => {
    const dGood = deploy(30, 'v7.2.0', 'succeeded', pt(3, BAD));
    const message = refusal(
      () =>
        choose({
          records: newestFirst(deploy(10, BAD, 'rolled-back', pt(1, 'v6.9.0')), dGood),
          history: [pt(3, BAD), pt(4, 'v7.2.0')],
          current: pt(4, 'v7.2.0'),
        }),
      NothingToRollBackError,
    );
    expect(message).toMatch(
      /^staging runs v7\.2\.0 \(deployment .*\), the only known-good release recorded, and no state before it can be restored/,
    );
  });

  describe('when the workload history was pruned', () => {
    it('restores the last known-good release from a point a later record captured, and says so', () => {
      // revisionHistoryLimit removed v7.0.0's ReplicaSet; v7.2.0's preflight had captured it.
      const choice = choose({ ...AFTER_720, history: [pt(5, 'v7.2.0')] });
      expect(choice.to).toEqual(pt(4, 'v7.0.0'));
      expect(choice.sentence).toContain(
        `(from the state captured by deploy ${D720.id}: its revision is gone from the workload's history)`,
      );
    });

    it('refuses when nothing can restore it any more, suggesting --revision', () => {
      const d700 = deploy(0, 'v7.0.0', 'succeeded', pt(1, 'v6.9.0'));
      const d730 = deploy(40, 'v7.3.0', 'succeeded', { ...pt(3, 'v7.2.0'), image: img('v7.2.0') });
      const message = refusal(
        () =>
          choose({ records: newestFirst(d700, d730), history: [pt(4, 'v7.3.0')], current: pt(4, 'v7.3.0') }),
        NothingToRollBackError,
      );
      expect(message).toBe(
        `the last known-good release of staging is v7.0.0 (deployment ${d700.id} succeeded at ${time(5)} and was not rolled back), but it can no longer be restored: no revision of deployment "staging/buywhere-api" runs ${img('v7.0.0')} any more (the workload's history was pruned) and no record captured it. Deploy it again, or name the revision to restore: guardian rollback --env staging --revision N (revisions: 4 (v7.3.0))`,
      );
    });
  });

  it('refuses --force without --revision', () => {
    expect(refusal(() => choose({ ...AFTER_720, force: true }), InvalidInputError)).toMatch(
      /^--force only goes with --revision N/,
    );
  });
});

describe('chooseRollbackTarget with --revision', () => {
  it('refuses a release the guardian rolled back unless --force, naming the deployment that rolled it back', () => {
    const message = refusal(() => choose({ ...AFTER_720, requested: 3 }), RolledBackReleaseError);
    expect(message).toBe(
      `revision 3 (${img(BAD)}) is release v7.1.0-bad, which the guardian rolled back as bad (deployment ${DBAD.id}, rolled back by ${RBAD.id}: HealthCheckFailedError: GET /health: expected HTTP 200, got 503). A rollback restores it only when asked explicitly: guardian rollback --env staging --revision 3 --force (or deploy a fixed release)`,
    );
  });

  it('restores it with --force and says what it restores and why', () => {
    const choice = choose({ ...AFTER_720, requested: 3, force: true });
    expect(choice.to).toEqual(pt(3, BAD));
    expect(choice.undoes).toBeUndefined();
    expect(choice.sentence).toBe(
      `restoring revision 3 (${img(BAD)}), which the guardian rolled back as bad (deployment ${DBAD.id}, rolled back by ${RBAD.id}: HealthCheckFailedError: GET /health: expected HTTP 200, got 503), because --force`,
    );
  });

  it('counts a release that failed after changing the workload as rolled back, but not one that never reached it', () => {
    const crashed = deploy(30, 'v7.2.0', 'failed', pt(4, 'v7.0.0'), {
      reason: 'execution timed out before the guardian recorded an outcome (States.Timeout)',
    });
    const records = newestFirst(D700, DBAD, RBAD, crashed);
    const reached = [...AFTER_BAD.history, pt(5, 'v7.2.0')];
    // Still running it: a plain rollback leaves it for the last known-good release.
    const away = choose({ records, history: reached, current: pt(5, 'v7.2.0') });
    expect(away.to).toEqual(pt(4, 'v7.0.0'));
    expect(away.sentence).toContain(
      `; staging runs v7.2.0 now, which failed in deployment ${crashed.id} after it changed the workload (execution timed out`,
    );
    // Back on v7.0.0 (revision 6): naming it again needs --force.
    const back = [pt(1, 'v6.9.0'), pt(3, BAD), pt(5, 'v7.2.0'), pt(6, 'v7.0.0')];
    expect(
      refusal(
        () => choose({ records, history: back, current: pt(6, 'v7.0.0'), requested: 5 }),
        RolledBackReleaseError,
      ),
    ).toContain(`is release v7.2.0, which failed in deployment ${crashed.id} after it changed the workload`);
    // Crashed in preflight: the workload never ran it, so it is no rolled-back release.
    expect(reachedWorkload(crashed, AFTER_BAD.history)).toBe(false);
    expect(rolledBackReleases(records, AFTER_BAD.history).has(img('v7.2.0'))).toBe(false);
    expect(reachedWorkload(crashed, reached)).toBe(true);
    expect(rolledBackReleases(records, reached).get(img('v7.2.0'))).toBe(crashed);
  });

  it('goes to a good named revision, saying which release it is, and marks nothing undone', () => {
    const choice = choose({ ...AFTER_720, requested: 1 });
    expect(choice.to).toEqual(pt(1, 'v6.9.0'));
    expect(choice.undoes).toBeUndefined();
    expect(choice.sentence).toBe(`restoring revision 1 (${img('v6.9.0')}) as --revision 1 asks`);
    expect(choose({ ...AFTER_720, requested: 4 }).sentence).toBe(
      `restoring revision 4 (${img('v7.0.0')}) as --revision 4 asks (release v7.0.0, deployment ${D700.id} succeeded)`,
    );
  });

  it('says --force was not needed for a release the guardian never rolled back', () => {
    expect(choose({ ...AFTER_720, requested: 4, force: true }).sentence).toMatch(
      /; --force was not needed: the guardian never rolled this release back$/,
    );
  });

  it('refuses the current revision as nothing to roll back to (exit 1), and a missing one as bad input', () => {
    expect(refusal(() => choose({ ...AFTER_720, requested: 5 }), NothingToRollBackError)).toMatch(
      /^revision 5 is what deployment "staging\/buywhere-api" runs now \(.*:v7\.2\.0\): nothing to roll back to/,
    );
    expect(refusal(() => choose({ ...AFTER_720, requested: 2 }), NotFoundError)).toBe(
      'revision 2 of deployment "staging/buywhere-api" not found; available revisions: 1 (v6.9.0), 3 (v7.1.0-bad), 4 (v7.0.0), 5 (v7.2.0)',
    );
  });

  it('allows naming a revision newer than the current one', () => {
    const named = rollback(40, 'staging-rollback-00000002', pt(5, 'v7.2.0'), 'v6.9.0', 'operator');
    expect(
      choose({
        records: [named, ...AFTER_720.records],
        history: [pt(4, 'v7.0.0'), pt(5, 'v7.2.0'), pt(6, 'v6.9.0')],
        current: pt(6, 'v6.9.0'),
        requested: 5,
      }).to,
    ).toEqual(pt(5, 'v7.2.0'));
  });
});

describe('an alarm rollback of a named release', () => {
  it('undoes the release the alarm names and goes to the last known-good one before it', () => {
    const choice = choose({ ...AFTER_720, undoing: D720 });
    expect(choice.to).toEqual(pt(4, 'v7.0.0'));
    expect(choice.undoes).toBe(D720);
  });

  it("falls back to the named release's captured point when no earlier success is recorded", () => {
    const choice = choose({
      records: [D700],
      history: [pt(1, 'v6.9.0'), pt(2, 'v7.0.0')],
      current: pt(2, 'v7.0.0'),
      undoing: D700,
    });
    expect(choice.to).toEqual(pt(1, 'v6.9.0'));
  });
});

describe('liveRelease', () => {
  it('is the succeeded deployment the workload runs when nothing changed it since', () => {
    expect(liveRelease(AFTER_720.records, AFTER_720.history, img('v7.2.0'))).toBe(D720);
    // Someone set another image by hand.
    expect(liveRelease(AFTER_720.records, AFTER_720.history, img('v9.9.9'))).toBeUndefined();
    // The newest change was a rollback.
    expect(liveRelease(AFTER_BAD.records, AFTER_BAD.history, img('v7.0.0'))).toBeUndefined();
  });

  it('looks past a deployment that failed before it changed the workload', () => {
    const crashed = deploy(40, 'v7.3.0', 'failed', pt(5, 'v7.2.0'));
    expect(liveRelease([crashed, ...AFTER_720.records], AFTER_720.history, img('v7.2.0'))).toBe(D720);
  });
});

describe("a deployment's own automatic rollback", () => {
  it('is the one its Deploy execution started, naming no revision', () => {
    const input = { AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: D720.executionArn };
    expect(isOwnRollback(input, D720)).toBe(true);
    expect(isOwnRollback({ ...input, revision: 3 }, D720)).toBe(false);
    expect(isOwnRollback({}, D720)).toBe(false);
    expect(isOwnRollback({ AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: 'arn:other' }, D720)).toBe(false);
  });

  it('restores the captured point verbatim and says so', () => {
    expect(ownRollbackChoice(D720)).toEqual({
      to: pt(4, 'v7.0.0'),
      undoes: D720,
      sentence: `restoring revision 4 (${img('v7.0.0')}), the state captured before deployment ${D720.id} (v7.2.0) started`,
    });
  });
});
