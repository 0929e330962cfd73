import { describe, expect, it } from 'vitest';
import type { RevisionInfo } from '../../lambdas/adapters/ports.ts';
import { InvalidInputError, NotFoundError } from '../../lambdas/core/errors.ts';
import { selectCapturedRevision, selectRollbackTarget } from '../../lambdas/core/rollback.ts';

const rev = (revision: number, tag: string): RevisionInfo => ({
  revision,
  replicaSetName: `api-${revision}`,
  images: { api: `repo/api:${tag}` },
  podTemplate: {},
});
// Unordered on purpose: the API lists ReplicaSets in no particular order.
const revisions = [rev(3, 'v3'), rev(1, 'v1'), rev(5, 'v5'), rev(2, 'v2')];

describe('selectRollbackTarget', () => {
  it('defaults to the newest revision older than the current one', () => {
    expect(selectRollbackTarget(revisions, 5).revision).toBe(3);
  });

  it('skips gaps in revision numbers', () => {
    expect(selectRollbackTarget([rev(1, 'a'), rev(9, 'b')], 9).revision).toBe(1);
  });

  it('refuses when there is no older revision, listing what exists', () => {
    expect(() => selectRollbackTarget([rev(1, 'a')], 1, undefined, 'deployment p/api')).toThrow(
      NotFoundError,
    );
    expect(() => selectRollbackTarget([rev(1, 'a')], 1, undefined, 'deployment p/api')).toThrow(
      'no revision of deployment p/api older than the current revision 1 to roll back to (available revisions: 1)',
    );
    expect(() => selectRollbackTarget([], 0)).toThrow(/available revisions: none/);
  });

  it('goes to a named revision', () => {
    expect(selectRollbackTarget(revisions, 5, 1).images.api).toBe('repo/api:v1');
  });

  it('refuses a named revision that does not exist, listing them in order', () => {
    expect(() => selectRollbackTarget(revisions, 5, 4)).toThrow(NotFoundError);
    expect(() => selectRollbackTarget(revisions, 5, 4)).toThrow(
      'revision 4 of the Deployment not found; available revisions: 1, 2, 3, 5',
    );
  });

  it('refuses naming the current revision as a no-op', () => {
    expect(() => selectRollbackTarget(revisions, 5, 5)).toThrow(InvalidInputError);
    expect(() => selectRollbackTarget(revisions, 5, 5)).toThrow(
      /revision 5 is the current revision .* nothing to roll back/,
    );
  });

  it('allows naming a revision newer than the current one (after an earlier undo)', () => {
    expect(selectRollbackTarget(revisions, 3, 5).revision).toBe(5);
  });
});

describe('selectCapturedRevision', () => {
  it('uses the captured revision when it still runs the captured image', () => {
    expect(
      selectCapturedRevision(revisions, { previousRevision: 3, previousImage: 'repo/api:v3' }, 'api')
        .revision,
    ).toBe(3);
  });

  it('falls back to the newest revision with the captured image when the number moved', () => {
    const moved = [rev(2, 'v1'), rev(4, 'v1'), rev(5, 'v5')];
    expect(
      selectCapturedRevision(moved, { previousRevision: 3, previousImage: 'repo/api:v1' }, 'api').revision,
    ).toBe(4);
  });

  it('does not take a revision whose number matches but whose image differs', () => {
    const reused = [rev(3, 'other'), rev(6, 'v3')];
    expect(
      selectCapturedRevision(reused, { previousRevision: 3, previousImage: 'repo/api:v3' }, 'api').revision,
    ).toBe(6);
  });

  it('may return the current revision when the deployment never changed anything', () => {
    expect(
      selectCapturedRevision(revisions, { previousRevision: 5, previousImage: 'repo/api:v5' }, 'api')
        .revision,
    ).toBe(5);
  });

  it('finds the state when preflight captured revision 0 (no annotation yet)', () => {
    expect(
      selectCapturedRevision([rev(1, 'v1')], { previousRevision: 0, previousImage: 'repo/api:v1' }, 'api')
        .revision,
    ).toBe(1);
  });

  it('fails naming the image and the revisions when no revision runs it', () => {
    expect(() =>
      selectCapturedRevision(revisions, { previousRevision: 3, previousImage: 'repo/api:v9' }, 'api'),
    ).toThrow(
      'cannot find the pre-deployment state of the Deployment: no revision runs repo/api:v9 in container "api" (captured revision 3; available revisions: 1, 2, 3, 5)',
    );
  });

  it('looks only at the guarded container', () => {
    expect(() =>
      selectCapturedRevision(revisions, { previousRevision: 3, previousImage: 'repo/api:v3' }, 'sidecar'),
    ).toThrow(NotFoundError);
  });
});
