import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { kubernetesError } from '../../lambdas/adapters/kubernetes.ts';

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
