import { describe, expect, it } from 'vitest';
import { compensateOnFailure } from '../../lambdas/core/compensation.ts';
import { LockHeldError, NotFoundError, TransientError } from '../../lambdas/core/errors.ts';

/** An environment lock as a step holds it: taken before the work, given back by the undo. */
function lock() {
  const state = { held: true, undos: [] as string[], undoErrors: [] as unknown[] };
  return {
    state,
    undo: async () => {
      state.held = false;
      state.undos.push('released');
    },
    onUndoError: (err: unknown) => {
      state.undoErrors.push(err);
    },
  };
}

describe('compensateOnFailure', () => {
  it('returns what the work returned and keeps what the step took', async () => {
    const l = lock();
    await expect(compensateOnFailure(async () => 'context', l.undo, 'always', l.onUndoError)).resolves.toBe(
      'context',
    );
    expect(l.state).toEqual({ held: true, undos: [], undoErrors: [] });
  });

  it('gives back what the step took when the work fails, and rethrows the original error', async () => {
    const l = lock();
    const original = new NotFoundError('deployment "staging/buywhere-api" not found');
    const err = await compensateOnFailure(
      async () => {
        throw original;
      },
      l.undo,
      'always',
    ).catch((e: unknown) => e);
    expect(err).toBe(original);
    expect(l.state.held).toBe(false);
    expect(l.state.undos).toEqual(['released']);
  });

  it('gives back before the error leaves the step (the undo is awaited)', async () => {
    let released = false;
    const undo = () =>
      new Promise<void>((resolve) =>
        setTimeout(() => {
          released = true;
          resolve();
        }, 10),
      );
    await expect(
      compensateOnFailure(
        async () => {
          throw new Error('boom');
        },
        undo,
        'always',
      ),
    ).rejects.toThrow('boom');
    expect(released).toBe(true);
  });

  it('gives back on a TransientError too when told to always compensate', async () => {
    const l = lock();
    await expect(
      compensateOnFailure(
        async () => {
          throw new TransientError('Kubernetes API 503');
        },
        l.undo,
        'always',
      ),
    ).rejects.toBeInstanceOf(TransientError);
    expect(l.state.held).toBe(false);
  });

  it('keeps what the step took on a TransientError with unless-retried (the retry needs it)', async () => {
    const l = lock();
    const transient = new TransientError('DynamoDB throttled');
    await expect(
      compensateOnFailure(
        async () => {
          throw transient;
        },
        l.undo,
        'unless-retried',
      ),
    ).rejects.toBe(transient);
    expect(l.state).toEqual({ held: true, undos: [], undoErrors: [] });
  });

  it('gives back on any other error with unless-retried, plain Errors included', async () => {
    for (const error of [new LockHeldError('held'), new Error('a bug')]) {
      const l = lock();
      await expect(
        compensateOnFailure(
          async () => {
            throw error;
          },
          l.undo,
          'unless-retried',
        ),
      ).rejects.toBe(error);
      expect(l.state.undos, error.name).toEqual(['released']);
    }
  });

  it('reports a failed undo and still throws the original error, never the undo error', async () => {
    const reported: unknown[] = [];
    const original = new NotFoundError('no container "api"');
    const undoFailure = new TransientError('DynamoDB unavailable while releasing the lock');
    const err = await compensateOnFailure(
      async () => {
        throw original;
      },
      async () => {
        throw undoFailure;
      },
      'always',
      (e) => reported.push(e),
    ).catch((e: unknown) => e);
    expect(err).toBe(original);
    expect(reported).toEqual([undoFailure]);
  });

  it('swallows a failed undo without a reporter, still throwing the original error', async () => {
    const original = new Error('work failed');
    await expect(
      compensateOnFailure(
        async () => {
          throw original;
        },
        async () => {
          throw new Error('undo failed');
        },
        'always',
      ),
    ).rejects.toBe(original);
  });

  it('does not report anything when the undo succeeds', async () => {
    const l = lock();
    await expect(
      compensateOnFailure(
        async () => {
          throw new Error('x');
        },
        l.undo,
        'always',
        l.onUndoError,
      ),
    ).rejects.toThrow('x');
    expect(l.state.undoErrors).toEqual([]);
  });
});
