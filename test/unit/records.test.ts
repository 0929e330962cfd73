import { describe, expect, it } from 'vitest';
import { finishableFrom, undoneFrom } from '../../lambdas/core/records.ts';

describe('record status transitions', () => {
  it('finishes a record only from in-progress, or again with the same status on a retry', () => {
    expect(finishableFrom('succeeded')).toEqual(['in-progress', 'succeeded']);
    expect(finishableFrom('rolled-back')).toEqual(['in-progress', 'rolled-back']);
    expect(finishableFrom('rollback-failed')).toEqual(['in-progress', 'rollback-failed']);
  });

  it('lets a rollback mark a running, succeeded or earlier-failed deployment, never turn rolled-back into failed', () => {
    expect(undoneFrom('rolled-back')).toEqual(['in-progress', 'succeeded', 'rollback-failed', 'rolled-back']);
    expect(undoneFrom('rollback-failed')).toEqual(['in-progress', 'succeeded', 'rollback-failed']);
    expect(undoneFrom('rollback-failed')).not.toContain('rolled-back');
  });
});
