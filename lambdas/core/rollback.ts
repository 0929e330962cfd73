/**
 * Rollback target selection, like `kubectl rollout undo [--to-revision]`. Pure.
 * Revisions are a Deployment's ReplicaSets; an undo moves the chosen ReplicaSet to a new,
 * highest revision number, so a captured revision number can disappear after a rollback.
 */
import type { RevisionInfo } from '../adapters/ports.ts';
import { InvalidInputError, NotFoundError } from './errors.ts';

function available(revisions: readonly RevisionInfo[]): string {
  return revisions.length === 0
    ? 'none'
    : [...revisions]
        .sort((a, b) => a.revision - b.revision)
        .map((r) => String(r.revision))
        .join(', ');
}

/**
 * The revision an operator's rollback goes to. Without `requested`: the newest revision older
 * than the current one (kubectl's default). With it: that revision, which must exist and must
 * not be the current one.
 */
export function selectRollbackTarget(
  revisions: readonly RevisionInfo[],
  currentRevision: number,
  requested?: number,
  workload = 'the Deployment',
): RevisionInfo {
  if (requested !== undefined) {
    if (requested === currentRevision) {
      throw new InvalidInputError(
        `revision ${requested} is the current revision of ${workload}; nothing to roll back (available revisions: ${available(revisions)})`,
      );
    }
    const named = revisions.find((r) => r.revision === requested);
    if (!named) {
      throw new NotFoundError(
        `revision ${requested} of ${workload} not found; available revisions: ${available(revisions)}`,
      );
    }
    return named;
  }
  let best: RevisionInfo | undefined;
  for (const r of revisions) {
    if (r.revision < currentRevision && (best === undefined || r.revision > best.revision)) best = r;
  }
  if (!best) {
    throw new NotFoundError(
      `no revision of ${workload} older than the current revision ${currentRevision} to roll back to (available revisions: ${available(revisions)})`,
    );
  }
  return best;
}

/**
 * The revision a failed deployment rolls back to: the `previousRevision` captured by preflight
 * if it still runs `previousImage` in `container`; otherwise (the number moved, e.g. after an
 * undo) the newest revision running `previousImage`. The result may be the current revision
 * when the deployment never changed anything; the apply step then has nothing to do.
 */
export function selectCapturedRevision(
  revisions: readonly RevisionInfo[],
  captured: { readonly previousRevision: number; readonly previousImage: string },
  container: string,
  workload = 'the Deployment',
): RevisionInfo {
  const exact = revisions.find(
    (r) => r.revision === captured.previousRevision && r.images[container] === captured.previousImage,
  );
  if (exact) return exact;
  let best: RevisionInfo | undefined;
  for (const r of revisions) {
    if (
      r.images[container] === captured.previousImage &&
      (best === undefined || r.revision > best.revision)
    ) {
      best = r;
    }
  }
  if (!best) {
    throw new NotFoundError(
      `cannot find the pre-deployment state of ${workload}: no revision runs ${captured.previousImage} in container "${container}" (captured revision ${captured.previousRevision}; available revisions: ${available(revisions)})`,
    );
  }
  return best;
}
