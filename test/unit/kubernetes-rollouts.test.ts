/**
 * KubernetesRollouts without a cluster: how it parses a Rollout's wire JSON, and the exact
 * requests it sends (paths, patch types, bodies) to a stub API server, compared with what the
 * `kubectl argo rollouts` plugin v1.10.1 sends. The behaviour against a controller is in the
 * shared Rollout scenarios (test/shared/rollout-scenarios.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  KubernetesRollouts,
  promotePatches,
  rolloutStateOf,
} from '../../lambdas/adapters/kubernetes-rollouts.ts';

const NS = 'production';
const NAME = 'buywhere-api';
const RO_PATH = `/apis/argoproj.io/v1alpha1/namespaces/${NS}/rollouts/${NAME}`;

/** A Rollout as the API server returns it mid-update: paused for promotion. */
function pausedRollout(): Record<string, unknown> {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: {
      name: NAME,
      namespace: NS,
      uid: 'ro-uid',
      generation: 2,
      annotations: { 'rollout.argoproj.io/revision': '2' },
    },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: NAME } },
      template: {
        metadata: { labels: { app: NAME } },
        spec: {
          containers: [
            { name: NAME, image: 'repo/api:v1.1.0' },
            { name: 'sidecar', image: 'envoy:1' },
          ],
        },
      },
      strategy: {
        blueGreen: {
          activeService: 'api-active',
          previewService: 'api-preview',
          autoPromotionEnabled: false,
        },
      },
    },
    status: {
      observedGeneration: '2',
      phase: 'Paused',
      message: 'BlueGreenPause',
      currentPodHash: '5f7d8c9b4',
      stableRS: '6b8f7d9c5',
      blueGreen: { activeSelector: '6b8f7d9c5', previewSelector: '5f7d8c9b4' },
      controllerPause: true,
      pauseConditions: [{ reason: 'BlueGreenPause', startTime: '2026-03-02T09:00:05Z' }],
      replicas: 6,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      conditions: [
        {
          type: 'Progressing',
          status: 'Unknown',
          reason: 'RolloutPaused',
          message: 'Rollout is paused',
          lastUpdateTime: '2026-03-02T09:00:05Z',
          lastTransitionTime: '2026-03-02T09:00:05Z',
        },
      ],
    },
  };
}

describe('rolloutStateOf', () => {
  it('reads a blue-green Rollout paused for promotion', () => {
    expect(rolloutStateOf(pausedRollout())).toEqual({
      namespace: NS,
      name: NAME,
      generation: 2,
      observedGeneration: 2,
      replicas: 3,
      paused: false,
      strategy: 'blueGreen',
      blueGreen: {
        activeService: 'api-active',
        previewService: 'api-preview',
        autoPromotionEnabled: false,
        scaleDownDelaySeconds: 30,
      },
      progressDeadlineSeconds: 600,
      revision: 2,
      images: { [NAME]: 'repo/api:v1.1.0', sidecar: 'envoy:1' },
      podTemplate: (pausedRollout().spec as { template: object }).template,
      status: {
        phase: 'Paused',
        message: 'BlueGreenPause',
        currentPodHash: '5f7d8c9b4',
        stableRS: '6b8f7d9c5',
        activeSelector: '6b8f7d9c5',
        previewSelector: '5f7d8c9b4',
        abort: false,
        controllerPause: true,
        promoteFull: false,
        pauseConditions: [{ reason: 'BlueGreenPause', startTime: '2026-03-02T09:00:05Z' }],
        replicas: 6,
        updatedReplicas: 3,
        readyReplicas: 3,
        availableReplicas: 3,
        conditions: [
          { type: 'Progressing', status: 'Unknown', reason: 'RolloutPaused', message: 'Rollout is paused' },
        ],
      },
    });
  });

  it('reads a Rollout the controller has not synced yet: no status means zeros and false', () => {
    const r = rolloutStateOf({
      metadata: { name: NAME, namespace: NS, generation: 1 },
      spec: { selector: {}, template: {}, strategy: { blueGreen: { activeService: 'a' } } },
    });
    expect(r).toMatchObject({
      generation: 1,
      observedGeneration: 0,
      // The API defaults: 1 replica, auto-promotion on, 30 s scale-down delay, 600 s deadline.
      replicas: 1,
      blueGreen: { activeService: 'a', autoPromotionEnabled: true, scaleDownDelaySeconds: 30 },
      progressDeadlineSeconds: 600,
      revision: 0,
      images: {},
      status: {
        abort: false,
        controllerPause: false,
        promoteFull: false,
        pauseConditions: [],
        replicas: 0,
        updatedReplicas: 0,
        readyReplicas: 0,
        availableReplicas: 0,
        conditions: [],
      },
    });
    expect(r.blueGreen?.previewService).toBeUndefined();
    expect(r.status.phase).toBeUndefined();
    expect(r.status.currentPodHash).toBeUndefined();
  });

  it('takes observedGeneration as Argo writes it (a string), and ignores one that is no number', () => {
    expect(rolloutStateOf({ status: { observedGeneration: '7' } }).observedGeneration).toBe(7);
    expect(rolloutStateOf({ status: { observedGeneration: 7 } }).observedGeneration).toBe(7);
    // Rollouts of v0.9 and before kept a hash there.
    expect(rolloutStateOf({ status: { observedGeneration: '5b4d7c8f9' } }).observedGeneration).toBe(0);
  });

  it('names the strategy: canary, none, and none for both at once (which the controller refuses)', () => {
    expect(rolloutStateOf({ spec: { strategy: { canary: {} } } })).toMatchObject({ strategy: 'canary' });
    expect(rolloutStateOf({ spec: { strategy: { canary: {} } } }).blueGreen).toBeUndefined();
    expect(rolloutStateOf({ spec: {} }).strategy).toBe('none');
    expect(
      rolloutStateOf({ spec: { strategy: { canary: {}, blueGreen: { activeService: 'a' } } } }).strategy,
    ).toBe('none');
  });

  it('drops the hash label and a null creationTimestamp from the pod template, without touching the input', () => {
    const input = {
      spec: {
        template: {
          metadata: { creationTimestamp: null, labels: { app: NAME, 'rollouts-pod-template-hash': 'abc' } },
          spec: { containers: [{ name: NAME, image: 'i' }] },
        },
      },
    };
    const before = structuredClone(input);
    expect(rolloutStateOf(input).podTemplate).toEqual({
      metadata: { labels: { app: NAME } },
      spec: { containers: [{ name: NAME, image: 'i' }] },
    });
    expect(input).toEqual(before);
  });

  it('survives junk where objects, lists and numbers belong', () => {
    const r = rolloutStateOf({
      metadata: 'x',
      spec: { replicas: 'three', paused: 'yes', template: { spec: { containers: 'none' } }, strategy: 7 },
      status: { abort: 'true', pauseConditions: {}, conditions: [{ status: 'True' }, { type: 'Healthy' }] },
    });
    expect(r).toMatchObject({ name: '', replicas: 1, paused: false, strategy: 'none', images: {} });
    expect(r.status).toMatchObject({
      abort: false,
      pauseConditions: [],
      conditions: [{ type: 'Healthy', status: 'Unknown' }],
    });
    expect(rolloutStateOf(null).name).toBe('');
  });
});

describe('promotePatches (getPatches of promote.go)', () => {
  const ro = (spec: object, status: object) => ({ spec, status });
  const blueGreen = { strategy: { blueGreen: { activeService: 'a' } } };

  it('clears the pause conditions of a Rollout paused for promotion, through the status', () => {
    expect(promotePatches(ro(blueGreen, { pauseConditions: [{ reason: 'BlueGreenPause' }] }), false)).toEqual(
      {
        status: { status: { pauseConditions: null } },
        unified: { spec: { paused: false }, status: { pauseConditions: null } },
      },
    );
  });

  it('also unpauses the spec of a Rollout someone paused', () => {
    expect(
      promotePatches(
        ro({ ...blueGreen, paused: true }, { pauseConditions: [{ reason: 'BlueGreenPause' }] }),
        false,
      ),
    ).toEqual({
      spec: { spec: { paused: false } },
      status: { status: { pauseConditions: null } },
      unified: { spec: { paused: false }, status: { pauseConditions: null } },
    });
    expect(promotePatches(ro({ ...blueGreen, paused: true }, {}), false)).toEqual({
      spec: { spec: { paused: false } },
      unified: { spec: { paused: false }, status: { pauseConditions: null } },
    });
  });

  it('sends nothing for a blue-green Rollout that is neither paused nor held', () => {
    expect(promotePatches(ro(blueGreen, {}), false)).toEqual({
      unified: { spec: { paused: false }, status: { pauseConditions: null } },
    });
  });

  it('asks for a full promotion only while the current hash is not the stable one', () => {
    expect(promotePatches(ro(blueGreen, { currentPodHash: 'new', stableRS: 'old' }), true)).toEqual({
      status: { status: { promoteFull: true } },
      unified: { spec: { paused: false }, status: { promoteFull: true } },
    });
    expect(
      promotePatches(ro({ ...blueGreen, paused: true }, { currentPodHash: 'x', stableRS: 'x' }), true),
    ).toEqual({
      spec: { spec: { paused: false } },
      unified: { spec: { paused: false }, status: { promoteFull: true } },
    });
  });

  it('moves a canary Rollout with steps to its next step', () => {
    const canary = { strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }] } } };
    expect(promotePatches(ro(canary, { currentStepIndex: 1 }), false)).toEqual({
      status: { status: { pauseConditions: null, currentStepIndex: 2 } },
      unified: { spec: { paused: false }, status: { pauseConditions: null, currentStepIndex: 2 } },
    });
    expect(
      promotePatches(
        ro(canary, {
          currentStepIndex: 0,
          controllerPause: true,
          pauseConditions: [{ reason: 'InconclusiveAnalysisRun' }],
          canary: { currentStepAnalysisRunStatus: { status: 'Inconclusive' } },
        }),
        false,
      ).status,
    ).toEqual({ status: { pauseConditions: null, controllerPause: false, currentStepIndex: 1 } });
  });
});

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly contentType?: string;
  readonly authorization?: string;
  readonly body?: unknown;
}

type Handler = (req: Seen) => { status: number; body?: unknown } | undefined;

describe('KubernetesRollouts against a stub API server', () => {
  let server: Server;
  let seen: Seen[];
  let handler: Handler;
  let rollout: Record<string, unknown>;
  let hang = false;

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const notFound = (what: string) => ({
    status: 404,
    body: { kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404, message: what },
  });

  /** The default API: the paused Rollout, its namespace, /version; 404 for the rest. */
  const api: Handler = (req) => {
    if (req.method === 'GET' && req.url === RO_PATH) return { status: 200, body: rollout };
    if (req.method === 'PATCH' && req.url.startsWith(`${RO_PATH}?`)) return { status: 200, body: rollout };
    if (req.method === 'PATCH' && req.url.startsWith(`${RO_PATH}/status?`))
      return { status: 200, body: rollout };
    if (req.url === `/api/v1/namespaces/${NS}`) return { status: 200, body: { kind: 'Namespace' } };
    if (req.url === '/version') return { status: 200, body: { major: '1' } };
    return undefined;
  };

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (hang) return;
        const text = Buffer.concat(chunks).toString('utf8');
        const entry: Seen = {
          method: req.method ?? 'GET',
          url: req.url ?? '/',
          ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}),
          ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
          ...(text ? { body: JSON.parse(text) } : {}),
        };
        seen.push(entry);
        const answer =
          handler(entry) ?? api(entry) ?? notFound('the server could not find the requested resource');
        send(res, answer.status, answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  beforeEach(() => {
    seen = [];
    handler = () => undefined;
    rollout = pausedRollout();
    hang = false;
  });

  function adapter(requestTimeoutMs = 2000): KubernetesRollouts {
    const kc = new KubeConfig();
    const { port } = server.address() as AddressInfo;
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 'secret-token' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    return new KubernetesRollouts(kc, { requestTimeoutMs });
  }

  const writes = () => seen.filter((s) => s.method !== 'GET');

  it("reads with the kubeconfig's credentials", async () => {
    expect((await adapter().getRollout(NS, NAME)).status.phase).toBe('Paused');
    expect(seen).toEqual([{ method: 'GET', url: RO_PATH, authorization: 'Bearer secret-token' }]);
  });

  it('sets an image with a JSON patch that tests the container first, under the deployment-guardian field manager', async () => {
    await adapter().setImage(NS, NAME, 'sidecar', 'envoy:2', 'deploy envoy 2');
    expect(writes()).toEqual([
      {
        method: 'PATCH',
        url: `${RO_PATH}?fieldManager=deployment-guardian`,
        contentType: 'application/json-patch+json',
        authorization: 'Bearer secret-token',
        body: [
          { op: 'test', path: '/spec/template/spec/containers/1/name', value: 'sidecar' },
          { op: 'replace', path: '/spec/template/spec/containers/1/image', value: 'envoy:2' },
          { op: 'add', path: '/metadata/annotations/kubernetes.io~1change-cause', value: 'deploy envoy 2' },
        ],
      },
    ]);
  });

  it('adds the annotations map when the Rollout has none', async () => {
    (rollout.metadata as Record<string, unknown>).annotations = undefined;
    await adapter().setImage(NS, NAME, NAME, 'repo/api:v2', 'x');
    expect((writes()[0]?.body as object[] | undefined)?.[2]).toEqual({
      op: 'add',
      path: '/metadata/annotations',
      value: { 'kubernetes.io/change-cause': 'x' },
    });
  });

  it('refuses an unknown container before writing, naming those that exist', async () => {
    await expect(adapter().setImage(NS, NAME, 'web', 'x', 'x')).rejects.toThrow(
      `Rollout ${NS}/${NAME} has no container "web"; its containers are: ${NAME}, sidecar`,
    );
    expect(writes()).toEqual([]);
  });

  it('promotes with a merge patch of the status subresource', async () => {
    const state = await adapter().promote(NS, NAME, { full: false });
    expect(state.name).toBe(NAME);
    expect(writes()).toEqual([
      expect.objectContaining({
        method: 'PATCH',
        url: `${RO_PATH}/status?fieldManager=deployment-guardian`,
        contentType: 'application/merge-patch+json',
        body: { status: { pauseConditions: null } },
      }),
    ]);
  });

  it('falls back to the unified patch of the main resource when the status subresource answers 404', async () => {
    (rollout.spec as Record<string, unknown>).paused = true;
    handler = (req) => (req.url.includes('/status') ? notFound('no status subresource') : undefined);
    await adapter().promote(NS, NAME, { full: false });
    expect(writes().map((w) => [w.url.split('?')[0], w.body])).toEqual([
      [`${RO_PATH}/status`, { status: { pauseConditions: null } }],
      [RO_PATH, { spec: { paused: false }, status: { pauseConditions: null } }],
    ]);
  });

  it('promotes fully with promoteFull, and unpauses the spec of a paused Rollout after it', async () => {
    (rollout.spec as Record<string, unknown>).paused = true;
    await adapter().promote(NS, NAME, { full: true });
    expect(writes().map((w) => [w.url.split('?')[0], w.contentType, w.body])).toEqual([
      [`${RO_PATH}/status`, 'application/merge-patch+json', { status: { promoteFull: true } }],
      [RO_PATH, 'application/merge-patch+json', { spec: { paused: false } }],
    ]);
  });

  it('sends nothing to promote a Rollout that is neither paused nor in an update', async () => {
    rollout.status = { currentPodHash: 'h', stableRS: 'h' };
    const state = await adapter().promote(NS, NAME, { full: true });
    expect(state.status.currentPodHash).toBe('h');
    expect(writes()).toEqual([]);
  });

  it.each([
    ['abort', { status: { abort: true } }],
    ['retry', { status: { abort: false } }],
  ] as const)(
    '%ss through the status subresource, and the main resource when that answers 404',
    async (op, body) => {
      await adapter()[op](NS, NAME);
      handler = (req) => (req.url.includes('/status') ? notFound('no status subresource') : undefined);
      await adapter()[op](NS, NAME);
      expect(writes().map((w) => [w.url.split('?')[0], w.contentType, w.body])).toEqual([
        [`${RO_PATH}/status`, 'application/merge-patch+json', body],
        [`${RO_PATH}/status`, 'application/merge-patch+json', body],
        [RO_PATH, 'application/merge-patch+json', body],
      ]);
    },
  );

  it('pauses and resumes with a merge patch of spec.paused', async () => {
    await adapter().pause(NS, NAME);
    await adapter().resume(NS, NAME);
    expect(writes().map((w) => [w.url, w.contentType, w.body])).toEqual([
      [
        `${RO_PATH}?fieldManager=deployment-guardian`,
        'application/merge-patch+json',
        { spec: { paused: true } },
      ],
      [
        `${RO_PATH}?fieldManager=deployment-guardian`,
        'application/merge-patch+json',
        { spec: { paused: false } },
      ],
    ]);
  });

  it('undoes with a JSON patch replacing /spec/template, without the hash label', async () => {
    const template = {
      metadata: { labels: { app: NAME, 'rollouts-pod-template-hash': '6b8f7d9c5' } },
      spec: { containers: [{ name: NAME, image: 'repo/api:v1.0.0' }] },
    };
    await adapter().setTemplate(NS, NAME, template, 'rollback to revision 1');
    expect(writes()[0]).toMatchObject({
      contentType: 'application/json-patch+json',
      body: [
        {
          op: 'replace',
          path: '/spec/template',
          value: { metadata: { labels: { app: NAME } }, spec: template.spec },
        },
        {
          op: 'add',
          path: '/metadata/annotations/kubernetes.io~1change-cause',
          value: 'rollback to revision 1',
        },
      ],
    });
    expect(template.metadata.labels['rollouts-pod-template-hash']).toBe('6b8f7d9c5');
  });

  it('lists the revisions the Rollout controls, by its selector and owner uid, oldest first', async () => {
    const rs = (name: string, revision: string, uid: string, extra: Record<string, unknown> = {}) => ({
      metadata: {
        name,
        creationTimestamp: '2026-03-02T09:00:00Z',
        labels: { app: NAME, 'rollouts-pod-template-hash': name.split('-').at(-1) },
        annotations: { 'rollout.argoproj.io/revision': revision, ...extra },
        ownerReferences: [{ kind: 'Rollout', uid, controller: true }],
      },
      spec: {
        replicas: 3,
        template: {
          metadata: { labels: { app: NAME, 'rollouts-pod-template-hash': name.split('-').at(-1) } },
          spec: { containers: [{ name: NAME, image: `repo/api:${revision}` }] },
        },
      },
      status: { replicas: 3, readyReplicas: 2 },
    });
    handler = (req) =>
      req.url.startsWith(`/apis/apps/v1/namespaces/${NS}/replicasets`)
        ? {
            status: 200,
            body: {
              items: [
                rs(`${NAME}-5f7d8c9b4`, '2', 'ro-uid'),
                rs(`${NAME}-6b8f7d9c5`, '1', 'ro-uid', { 'scale-down-deadline': '2026-03-02T09:00:35Z' }),
                rs('other-4b5c6d7f8', '9', 'another-uid'),
              ],
            },
          }
        : undefined;
    const revisions = await adapter().listRevisions(NS, NAME);
    expect(seen[1]?.url).toBe(`/apis/apps/v1/namespaces/${NS}/replicasets?labelSelector=app%3D${NAME}`);
    expect(revisions.map((r) => [r.revision, r.replicaSetName, r.podTemplateHash])).toEqual([
      [1, `${NAME}-6b8f7d9c5`, '6b8f7d9c5'],
      [2, `${NAME}-5f7d8c9b4`, '5f7d8c9b4'],
    ]);
    expect(revisions[0]).toEqual({
      revision: 1,
      replicaSetName: `${NAME}-6b8f7d9c5`,
      podTemplateHash: '6b8f7d9c5',
      images: { [NAME]: 'repo/api:1' },
      podTemplate: {
        metadata: { labels: { app: NAME } },
        spec: { containers: [{ name: NAME, image: 'repo/api:1' }] },
      },
      replicas: 3,
      readyReplicas: 2,
      availableReplicas: 0,
      createdAt: '2026-03-02T09:00:00.000Z',
      scaleDownDeadline: '2026-03-02T09:00:35Z',
    });
  });

  it('reads a Service selector and names a missing one', async () => {
    handler = (req) =>
      req.url === `/api/v1/namespaces/${NS}/services/api-active`
        ? {
            status: 200,
            body: { metadata: { name: 'api-active', namespace: NS }, spec: { selector: { app: NAME } } },
          }
        : undefined;
    expect(await adapter().getService(NS, 'api-active')).toEqual({
      namespace: NS,
      name: 'api-active',
      selector: { app: NAME },
    });
    handler = (req) =>
      req.url.includes('/services/') ? notFound('services "api-preview" not found') : undefined;
    await expect(adapter().getService(NS, 'api-preview')).rejects.toThrow(
      `${NS}/api-preview not found: cannot read Service: services "api-preview" not found`,
    );
  });

  it('says the namespace is missing when it is, and that a server answering 404 to all is no API server', async () => {
    handler = (req) =>
      req.url === `/api/v1/namespaces/${NS}` || req.url.startsWith('/apis/')
        ? notFound('not found')
        : undefined;
    const err = await adapter()
      .getRollout(NS, NAME)
      .catch((e: Error) => e);
    expect(err).toMatchObject({ name: 'NotFoundError' });
    expect((err as Error).message).toMatch(
      /^namespace "production" does not exist \(while trying to read Rollout/,
    );
    handler = () => notFound('404 page not found');
    await expect(adapter().getRollout(NS, NAME)).rejects.toThrow(
      /^http:\/\/127\.0\.0\.1:\d+ is not a Kubernetes API server/,
    );
  });

  it('says Argo Rollouts is not installed when the API server does not serve rollouts', async () => {
    handler = (req) =>
      req.url.startsWith('/apis/argoproj.io')
        ? notFound('the server could not find the requested resource')
        : undefined;
    await expect(adapter().getRollout(NS, NAME)).rejects.toThrow(
      `${NS}/${NAME}: cannot read Rollout: this cluster does not serve rollouts.argoproj.io/v1alpha1 (is Argo Rollouts installed?)`,
    );
  });

  it('maps throttling, refusals and invalid patches like the Deployment adapter, naming the Rollout RBAC', async () => {
    handler = () => ({ status: 429, body: { message: 'slow down' } });
    await expect(adapter().getRollout(NS, NAME)).rejects.toMatchObject({ name: 'TransientError' });
    handler = () => ({ status: 403, body: { message: 'rollouts.argoproj.io is forbidden' } });
    await expect(adapter().pause(NS, NAME)).rejects.toThrow(
      /refused to pause Rollout .*RBAC permissions on Rollouts \(argoproj.io\), Services, ReplicaSets and Pods/,
    );
    handler = (req) =>
      req.method === 'PATCH'
        ? { status: 422, body: { message: 'testing value /spec/template failed' } }
        : undefined;
    await expect(adapter().setImage(NS, NAME, NAME, 'x', 'x')).rejects.toMatchObject({
      name: 'InvalidInputError',
    });
  });

  it('gives up on a hung API server after the request timeout, as TransientError', async () => {
    hang = true;
    await expect(adapter(200).getRollout(NS, NAME)).rejects.toMatchObject({ name: 'TransientError' });
  });
});
