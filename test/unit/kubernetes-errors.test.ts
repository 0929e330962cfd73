import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApiException, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectKubeconfig, KubernetesCluster, kubernetesError } from '../../lambdas/adapters/kubernetes.ts';

const ctx = { action: 'read Deployment', namespace: 'production', name: 'buywhere-api' };

function apiError(code: number, body?: object) {
  return new ApiException(code, 'Unknown API Status Code!', body ? JSON.stringify(body) : undefined, {});
}

describe('kubernetesError', () => {
  it('maps 404 to NotFoundError naming namespace/name and the API message', () => {
    const err = kubernetesError(
      apiError(404, { reason: 'NotFound', message: 'deployments.apps "buywhere-api" not found' }),
      ctx,
    );
    expect(err.name).toBe('NotFoundError');
    expect(err.message).toBe(
      'production/buywhere-api not found: cannot read Deployment: deployments.apps "buywhere-api" not found',
    );
  });

  it('says the namespace is missing when a follow-up read showed so', () => {
    const err = kubernetesError(apiError(404), { ...ctx, namespaceMissing: true });
    expect(err.name).toBe('NotFoundError');
    expect(err.message).toMatch(/^namespace "production" does not exist/);
  });

  it.each([429, 409, 500, 502, 503, 504])('maps %i to TransientError', (code) => {
    const err = kubernetesError(apiError(code, { message: 'busy' }), ctx);
    expect(err.name).toBe('TransientError');
    expect(err.message).toContain(`answered ${code}`);
    expect(err.cause).toBeInstanceOf(ApiException);
  });

  it.each(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT'])(
    'maps network failure %s to TransientError',
    (code) => {
      // node-fetch's FetchError carries the system error code.
      const fetchError = Object.assign(new Error(`request failed, reason: ${code}`), {
        type: 'system',
        code,
      });
      const err = kubernetesError(fetchError, ctx);
      expect(err.name).toBe('TransientError');
      expect(err.message).toContain(code);
    },
  );

  it('maps an aborted (timed-out) request to TransientError', () => {
    const abort = Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' });
    expect(kubernetesError(abort, ctx).name).toBe('TransientError');
    const wrapped = new Error('fetch failed', {
      cause: Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' }),
    });
    expect(kubernetesError(wrapped, ctx).name).toBe('TransientError');
  });

  it.each([401, 403])('maps %i to an error telling the operator to fix the access entry / RBAC', (code) => {
    const err = kubernetesError(apiError(code), ctx);
    expect(err.name).toBe('Error');
    expect(err.message).toMatch(/EKS access entry and its RBAC permissions/);
  });

  it.each([400, 422])('maps %i to InvalidInputError', (code) => {
    const err = kubernetesError(
      apiError(code, { message: 'spec.template.spec.containers[0].image: Required value' }),
      ctx,
    );
    expect(err.name).toBe('InvalidInputError');
    expect(err.message).toContain('Required value');
  });

  it('wraps anything else with the context and keeps the cause', () => {
    const boom = new TypeError('boom');
    const err = kubernetesError(boom, ctx);
    expect(err.name).toBe('Error');
    expect(err.message).toBe('failed to read Deployment production/buywhere-api: boom');
    expect(err.cause).toBe(boom);
  });
});

describe('a server that is not a Kubernetes API', () => {
  let server: Server;
  let versionStatus = 404;
  const seen: string[] = [];

  beforeAll(async () => {
    // Answers 404 to everything, like a web server at the wrong URL; /version as the test says.
    server = createServer((req, res) => {
      seen.push(req.url ?? '');
      if (req.url === '/version' && versionStatus === 200) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"major":"1","minor":"31"}');
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('404 page not found');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function cluster(): KubernetesCluster {
    const kc = new KubeConfig();
    const { port } = server.address() as AddressInfo;
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    return new KubernetesCluster(kc, { requestTimeoutMs: 2000 });
  }

  it('is reported as not a Kubernetes API server, not as a missing namespace', async () => {
    versionStatus = 404;
    const err = await cluster()
      .getWorkload('staging', 'buywhere-api')
      .catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe('Error');
    expect((err as Error).message).toMatch(
      /^http:\/\/127\.0\.0\.1:\d+ is not a Kubernetes API server: it answered 404 to read Deployment staging\/buywhere-api/,
    );
    expect((err as Error).message).not.toContain('does not exist');
    expect(seen).toContain('/api/v1/namespaces/staging');
    expect(seen).toContain('/version');
  });

  it('still reports a missing namespace when the server answers /version', async () => {
    versionStatus = 200;
    const err = await cluster()
      .listRevisions('staging', 'buywhere-api')
      .catch((e: Error) => e);
    expect((err as Error).name).toBe('NotFoundError');
    expect((err as Error).message).toMatch(/^namespace "staging" does not exist/);
  });

  it('says so when the context builds the error directly', () => {
    const err = kubernetesError(apiError(404), { ...ctx, notKubernetes: 'https://example.com' });
    expect(err.message).toMatch(/^https:\/\/example\.com is not a Kubernetes API server/);
  });
});

describe('kubeconfig files that cannot be used', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'guardian-kubeconfig-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const CLUSTER = 'clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n';
  const USERS = 'users:\n- name: u\n  user:\n    token: t\n';
  const CONTEXTS = 'contexts:\n- name: a\n  context:\n    cluster: c\n    user: u\n';

  it.each([
    ['empty', '', /^kubeconfig '.*empty' is empty: expected a kubeconfig with clusters, users, contexts/],
    ['blank', '  \n\n', /is empty: expected a kubeconfig/],
    ['scalar', 'hello\n', /defines no context: expected a kubeconfig/],
    ['list', '[]\n', /defines no context/],
    ['broken', ': : :\n', /is not valid YAML \(/],
    [
      'no-current',
      `${CLUSTER}${USERS}${CONTEXTS}`,
      /has no current-context; its contexts: a\. Choose one with `kubectl config use-context NAME/,
    ],
    [
      'dangling-current',
      `${CLUSTER}${USERS}${CONTEXTS}current-context: b\n`,
      /has no current-context \(it names 'b', which it does not define\)/,
    ],
  ])('explains a %s kubeconfig in a sentence naming the file', (name, text, message) => {
    const p = file(name, text);
    let err: Error | undefined;
    try {
      connectKubeconfig(p);
    } catch (e) {
      err = e as Error;
    }
    expect(err?.name).toBe('InvalidInputError');
    expect(err?.message).toContain(`kubeconfig '${p}'`);
    expect(err?.message).toMatch(message);
    expect(err?.message).not.toMatch(/Cannot read properties|undefined/);
  });

  it('explains a missing file and a folder', () => {
    expect(() => connectKubeconfig(path.join(dir, 'nope'))).toThrow(/kubeconfig '.*nope' does not exist/);
    expect(() => connectKubeconfig(dir)).toThrow(/is a folder, not a file/);
  });

  it('names the contexts a kubeconfig has when asked for another', () => {
    const p = file('ok', `${CLUSTER}${USERS}${CONTEXTS}current-context: a\n`);
    expect(() => connectKubeconfig(p, 'prod')).toThrow(/has no context "prod"; it has: a/);
    expect(connectKubeconfig(p)).toBeInstanceOf(KubernetesCluster);
  });
});
