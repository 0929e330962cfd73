import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeClusterCommand } from '@aws-sdk/client-eks';
import { afterEach, describe, expect, it } from 'vitest';
import { createEksClient, describeEksCluster, EKS_CLIENT_TIMEOUTS } from '../../lambdas/adapters/eks.ts';
import { TransientError } from '../../lambdas/core/errors.ts';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
let server: Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** An HTTP server that accepts DescribeCluster and never answers: a hung EKS endpoint. */
async function hangingEndpoint(): Promise<{ url: string; requests: () => number }> {
  let count = 0;
  server = createServer(() => {
    count += 1;
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => count,
  };
}

describe('createEksClient', () => {
  it('configures connection and request timeouts well inside a step Lambda timeout', async () => {
    const endpoint = await hangingEndpoint();
    const eks = createEksClient('ap-southeast-1', { endpoint: endpoint.url });
    eks.config.credentials = async () => credentials;
    // The handler resolves its options on the first request; abort that one at once.
    await eks
      .send(new DescribeClusterCommand({ name: 'x' }), { abortSignal: AbortSignal.timeout(50) })
      .catch(() => undefined);
    const handler = eks.config.requestHandler as unknown as { httpHandlerConfigs(): Record<string, unknown> };
    expect(handler.httpHandlerConfigs()).toMatchObject({
      connectionTimeout: 3000,
      requestTimeout: 5000,
      throwOnRequestTimeout: true,
    });
    expect(await eks.config.maxAttempts()).toBe(2);
    const { maxAttempts, connectionTimeout, requestTimeout } = EKS_CLIENT_TIMEOUTS;
    expect(maxAttempts * (connectionTimeout + requestTimeout)).toBeLessThan(30_000);
    eks.destroy();
  });

  it('turns a DescribeCluster that never answers into a TransientError instead of hanging', async () => {
    const endpoint = await hangingEndpoint();
    const eks = createEksClient('ap-southeast-1', {
      endpoint: endpoint.url,
      timeouts: { requestTimeout: 300, connectionTimeout: 300 },
    });
    eks.config.credentials = async () => credentials;
    const err = await describeEksCluster(eks, 'buywhere-prod').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toMatch(/DescribeCluster buywhere-prod failed/);
    expect(endpoint.requests()).toBe(EKS_CLIENT_TIMEOUTS.maxAttempts);
    eks.destroy();
  });
});
