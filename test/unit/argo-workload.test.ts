/**
 * The guardian's reading of a blue-green Rollout (lambdas/adapters/argo-workload.ts) on statuses
 * shaped as Argo Rollouts v1.10.1's controller writes them (rollout/bluegreen.go, sync.go,
 * utils/rollout CalculateRolloutPhase), and the rollout judgement's `preview` stage.
 */
import { describe, expect, it } from 'vitest';
import {
  blueGreenStage,
  normalTemplate,
  observeRollout,
  sameTemplate,
} from '../../lambdas/adapters/argo-workload.ts';
import type { RolloutRevision, RolloutState } from '../../lambdas/adapters/rollouts.ts';
import { judgeRollout } from '../../lambdas/core/rollout.ts';

const OLD = 'ghcr.io/buywhere/buywhere-api:v1.4.0';
const NEW = 'ghcr.io/buywhere/buywhere-api:v1.5.0';

const template = (image: string) => ({
  metadata: { labels: { app: 'buywhere-api-bluegreen' } },
  spec: { containers: [{ name: 'buywhere-api', image }] },
});

/** A Healthy Rollout on revision 1 (hash aaa), as the controller leaves it. */
function healthy(): RolloutState {
  return {
    namespace: 'production',
    name: 'buywhere-api-bluegreen',
    generation: 1,
    observedGeneration: 1,
    replicas: 3,
    paused: false,
    strategy: 'blueGreen',
    blueGreen: {
      activeService: 'buywhere-api-active',
      previewService: 'buywhere-api-preview',
      autoPromotionEnabled: false,
      scaleDownDelaySeconds: 30,
    },
    progressDeadlineSeconds: 600,
    revision: 1,
    images: { 'buywhere-api': OLD },
    podTemplate: template(OLD),
    status: {
      phase: 'Healthy',
      currentPodHash: 'aaa',
      stableRS: 'aaa',
      activeSelector: 'aaa',
      previewSelector: 'aaa',
      abort: false,
      controllerPause: false,
      promoteFull: false,
      pauseConditions: [],
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      conditions: [],
    },
  };
}

/** The same Rollout after `set image` to NEW (hash bbb), in the state `patch` gives. */
function updating(status: Partial<RolloutState['status']>, extra: Partial<RolloutState> = {}): RolloutState {
  const h = healthy();
  return {
    ...h,
    generation: 2,
    observedGeneration: 2,
    revision: 2,
    images: { 'buywhere-api': NEW },
    podTemplate: template(NEW),
    ...extra,
    status: { ...h.status, currentPodHash: 'bbb', ...status },
  };
}

const revisions: RolloutRevision[] = [
  {
    revision: 1,
    replicaSetName: 'buywhere-api-bluegreen-aaa',
    podTemplateHash: 'aaa',
    images: { 'buywhere-api': OLD },
    podTemplate: template(OLD),
    replicas: 3,
    readyReplicas: 3,
    availableReplicas: 3,
  },
  {
    revision: 2,
    replicaSetName: 'buywhere-api-bluegreen-bbb',
    podTemplateHash: 'bbb',
    images: { 'buywhere-api': NEW },
    podTemplate: template(NEW),
    replicas: 3,
    readyReplicas: 3,
    availableReplicas: 3,
  },
];

const previewReady = () =>
  updating({
    phase: 'Paused',
    message: 'BlueGreenPause',
    previewSelector: 'bbb',
    controllerPause: true,
    pauseConditions: [{ reason: 'BlueGreenPause', startTime: '2026-03-02T09:01:00Z' }],
    replicas: 6,
  });

describe('blueGreenStage', () => {
  it('reads each point of a blue-green release', () => {
    expect(blueGreenStage(healthy())).toBe('stable');
    expect(
      blueGreenStage(
        updating(
          { phase: 'Progressing', message: 'more replicas need to be updated' },
          { observedGeneration: 1 },
        ),
      ),
    ).toBe('preview-progressing');
    expect(
      blueGreenStage(
        updating({
          phase: 'Progressing',
          message: 'updated replicas are still becoming available',
          previewSelector: 'bbb',
        }),
      ),
    ).toBe('preview-progressing');
    expect(blueGreenStage(previewReady())).toBe('preview-ready');
    // Promoted: the active Service switched, the stable hash not yet moved.
    expect(
      blueGreenStage(updating({ phase: 'Progressing', activeSelector: 'bbb', previewSelector: 'bbb' })),
    ).toBe('promoting');
    expect(
      blueGreenStage(
        updating({ phase: 'Healthy', stableRS: 'bbb', activeSelector: 'bbb', previewSelector: 'bbb' }),
      ),
    ).toBe('stable');
    expect(
      blueGreenStage(
        updating({
          phase: 'Degraded',
          message: 'RolloutAborted: Rollout aborted update to revision 2',
          abort: true,
          abortedAt: '2026-03-02T09:02:00Z',
        }),
      ),
    ).toBe('aborted');
    expect(
      blueGreenStage(
        updating({
          phase: 'Degraded',
          message:
            'ProgressDeadlineExceeded: ReplicaSet "buywhere-api-bluegreen-bbb" has timed out progressing.',
        }),
      ),
    ).toBe('degraded');
    expect(blueGreenStage(updating({ phase: 'Paused', message: 'manually paused' }, { paused: true }))).toBe(
      'paused',
    );
  });

  it('is not stable while the active Service still selects the old hash or replicas are missing', () => {
    expect(blueGreenStage({ ...healthy(), status: { ...healthy().status, activeSelector: 'zzz' } })).toBe(
      'promoting',
    );
    expect(blueGreenStage({ ...healthy(), status: { ...healthy().status, availableReplicas: 2 } })).toBe(
      'promoting',
    );
  });
});

describe('observeRollout', () => {
  it('names both sides while a preview waits for promotion', () => {
    const o = observeRollout(previewReady(), revisions, 'buywhere-api');
    expect(o.platform).toBe('argo-rollouts');
    expect(o.image).toBe(NEW);
    expect(o.rollout.phase).toBe('progressing');
    expect(o.blueGreen).toMatchObject({
      stage: 'preview-ready',
      phase: 'Paused',
      activeService: 'buywhere-api-active',
      previewService: 'buywhere-api-preview',
      stable: { revision: 1, image: OLD },
      preview: { revision: 2, image: NEW },
    });
    expect(o.rollout.message).toContain('waits for promotion');
    expect(o.rollout.message).toContain('"buywhere-api-active" still serves revision 1');
  });

  it('is complete only when stable, failed when aborted or degraded, paused when a person paused it', () => {
    expect(observeRollout(healthy(), revisions, 'buywhere-api').rollout.phase).toBe('complete');
    expect(
      observeRollout(updating({ abort: true, phase: 'Degraded' }), revisions, 'buywhere-api').rollout.phase,
    ).toBe('failed');
    const paused = observeRollout(updating({}, { paused: true }), revisions, 'buywhere-api');
    expect(paused.rollout.phase).toBe('paused');
    expect(paused.rollout.message).toContain('is paused');
  });

  it('names the containers when the configured one is missing', () => {
    expect(() => observeRollout(healthy(), revisions, 'web')).toThrow(/no container "web".*buywhere-api/);
  });

  it('has no blue-green sides for a canary Rollout', () => {
    const canary: RolloutState = { ...healthy(), strategy: 'canary' };
    delete (canary as { blueGreen?: unknown }).blueGreen;
    expect(observeRollout(canary, revisions, 'buywhere-api').blueGreen).toBeUndefined();
  });
});

describe('judgeRollout on a blue-green Rollout', () => {
  const target = (stage?: 'preview') => ({
    expectedImage: NEW,
    rolloutDeadlineAt: '2026-03-02T09:10:00Z',
    ...(stage && { stage }),
  });
  const now = new Date('2026-03-02T09:05:00Z');

  it('the preview stage is complete once the preview waits for promotion', () => {
    const status = judgeRollout(
      observeRollout(previewReady(), revisions, 'buywhere-api'),
      target('preview'),
      now,
    );
    expect(status.phase).toBe('complete');
    // The same state is not a finished release.
    expect(judgeRollout(observeRollout(previewReady(), revisions, 'buywhere-api'), target(), now).phase).toBe(
      'progressing',
    );
  });

  it('fails the preview stage when someone promoted before the analysis', () => {
    const promoted = updating({ activeSelector: 'bbb', previewSelector: 'bbb', phase: 'Progressing' });
    const status = judgeRollout(observeRollout(promoted, revisions, 'buywhere-api'), target('preview'), now);
    expect(status.phase).toBe('failed');
    expect(status.message).toMatch(/promoted before the guardian's health check/);
  });

  it('fails an aborted preview with the controller message, and one past the deadline', () => {
    const aborted = updating({
      abort: true,
      phase: 'Degraded',
      message: 'RolloutAborted: Rollout aborted update to revision 2',
    });
    expect(
      judgeRollout(observeRollout(aborted, revisions, 'buywhere-api'), target('preview'), now),
    ).toMatchObject({
      phase: 'failed',
      message: expect.stringContaining('Rollout aborted update to revision 2'),
    });
    const slow = updating({ phase: 'Progressing', message: 'updated replicas are still becoming available' });
    const late = new Date('2026-03-02T09:10:00Z');
    expect(judgeRollout(observeRollout(slow, revisions, 'buywhere-api'), target('preview'), late).phase).toBe(
      'failed',
    );
  });
});

describe('templates', () => {
  it('compares pod templates as the controller hashes them', () => {
    const withHash = {
      metadata: { labels: { app: 'x', 'rollouts-pod-template-hash': 'bbb' }, creationTimestamp: null },
      spec: { containers: [{ name: 'a', image: NEW }] },
    };
    expect(
      sameTemplate(withHash, {
        metadata: { labels: { app: 'x' } },
        spec: { containers: [{ image: NEW, name: 'a' }] },
      }),
    ).toBe(true);
    expect(
      sameTemplate(withHash, {
        metadata: { labels: { app: 'x' } },
        spec: { containers: [{ name: 'a', image: OLD }] },
      }),
    ).toBe(false);
    expect(normalTemplate(withHash)).toEqual({
      metadata: { labels: { app: 'x' } },
      spec: { containers: [{ name: 'a', image: NEW }] },
    });
  });
});
