/**
 * Where an environment stands when an alarm arrives, from what the store holds: the deployment
 * running now (it holds the lock and its record is in progress), or else the release promoted
 * last and the one before it. Pure: the alarm handler reads the lock and the newest records and
 * hands them in; `decideAlarm` decides on the result.
 */
import type { CurrentDeployment, PromotedRelease, ReleaseRef } from './alarm-decision.ts';
import { isLockExpired } from './lock.ts';
import type { DeploymentRecord, LockInfo } from './types.ts';

/** How many records the handler reads (newest first): the running one, the promoted one and its predecessor are among them. */
export const ALARM_RECORDS_READ = 25;

/** The environment's situation, as {@link decideAlarm} takes it. */
export interface AlarmSituation {
  readonly deployment?: CurrentDeployment;
  readonly promoted?: PromotedRelease;
  /** Why no release counts as promoted, when the records say more than "none" (a rollback came last). */
  readonly noPromotion?: string;
}

/**
 * The running deployment: the lock's holder, if the lock is live and the holder's record is a
 * deploy still in progress (`monitoring` while it waits between post-deployment monitoring
 * rounds). Else the newest finished record: a succeeded deploy is the promoted release (promoted
 * when it finished), the release before it being the newest older succeeded deploy of the image
 * its rollback point holds (or that point itself, by revision, when no record deployed it). A
 * rollback or a failed deploy as the newest finished record means no release is freshly promoted.
 */
export function alarmSituation(
  lock: LockInfo | undefined,
  records: readonly DeploymentRecord[],
  now: Date,
): AlarmSituation {
  if (lock && !isLockExpired(lock, now)) {
    const holder = records.find((r) => r.id === lock.holder);
    if (holder?.kind === 'deploy' && holder.status === 'in-progress') {
      const deployment: CurrentDeployment = {
        id: holder.id,
        status: holder.signal?.phase === 'monitoring' ? 'monitoring' : 'in-progress',
        executionName: holder.id,
        executionArn: holder.executionArn,
        image: holder.image,
      };
      return { deployment };
    }
  }
  const finished = records.filter((r) => r.status !== 'in-progress');
  const last = finished[0];
  if (!last) return {};
  if (last.kind !== 'deploy' || last.status !== 'succeeded') {
    const what =
      last.kind === 'rollback'
        ? `the last change to the workload was rollback ${last.id} (${last.status}) to ${last.image}`
        : `the last deployment, ${last.id} (${last.image}), ended ${last.status}`;
    return { noPromotion: `${what}, so no release was promoted since` };
  }
  const image = last.rollbackPoint.image;
  const before = finished
    .slice(1)
    .find((r) => r.kind === 'deploy' && r.status === 'succeeded' && r.image === image);
  const previous: ReleaseRef | undefined = image
    ? { recordId: before?.id ?? `revision ${last.rollbackPoint.revision}`, image }
    : undefined;
  return {
    promoted: {
      recordId: last.id,
      image: last.image,
      promotedAt: last.finishedAt ?? last.startedAt,
      ...(previous && { previous }),
    },
  };
}
