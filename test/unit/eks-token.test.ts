import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EKS_TOKEN_PREFIX, eksBearerToken, kubeConfigForEks } from '../../lambdas/adapters/eks.ts';

const credentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const now = new Date('2026-03-01T12:34:56Z');

function decode(token: string): URL {
  expect(token.startsWith(EKS_TOKEN_PREFIX)).toBe(true);
  const body = token.slice(EKS_TOKEN_PREFIX.length);
  expect(body).toMatch(/^[A-Za-z0-9_-]+$/); // base64url, no padding
  return new URL(Buffer.from(body, 'base64url').toString('utf8'));
}

describe('eksBearerToken', () => {
  it('presigns STS GetCallerIdentity in the cluster region with the cluster id header signed', async () => {
    const token = await eksBearerToken({
      clusterName: 'buywhere-prod',
      region: 'ap-southeast-1',
      credentials,
      now,
    });
    const url = decode(token);
    expect(url.protocol).toBe('https:');
    expect(url.host).toBe('sts.ap-southeast-1.amazonaws.com');
    expect(url.pathname).toBe('/');
    const q = url.searchParams;
    expect(q.get('Action')).toBe('GetCallerIdentity');
    expect(q.get('Version')).toBe('2011-06-15');
    expect(q.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(q.get('X-Amz-Expires')).toBe('60');
    expect(q.get('X-Amz-Date')).toBe('20260301T123456Z');
    expect(q.get('X-Amz-Credential')).toBe('AKIDEXAMPLE/20260301/ap-southeast-1/sts/aws4_request');
    expect(q.get('X-Amz-SignedHeaders')?.split(';')).toEqual(['host', 'x-k8s-aws-id']);
    expect(q.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    // The cluster name travels as a signed header, never in the URL.
    expect(url.search).not.toContain('buywhere-prod');
  });

  it('carries a SigV4 signature that STS can recompute from the URL and the cluster header', async () => {
    const token = await eksBearerToken({
      clusterName: 'buywhere-prod',
      region: 'ap-southeast-1',
      credentials,
      now,
    });
    const url = decode(token);
    const params = [...url.searchParams].filter(([k]) => k !== 'X-Amz-Signature');
    const rfc3986 = (v: string) =>
      encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    const canonicalQuery = params
      .map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`)
      .sort()
      .join('&');
    const canonicalRequest = [
      'GET',
      '/',
      canonicalQuery,
      `host:${url.host}`,
      'x-k8s-aws-id:buywhere-prod',
      '',
      'host;x-k8s-aws-id',
      createHash('sha256').update('').digest('hex'),
    ].join('\n');
    const scope = '20260301/ap-southeast-1/sts/aws4_request';
    const stringToSign = [
      'AWS4-HMAC-SHA256',
      '20260301T123456Z',
      scope,
      createHash('sha256').update(canonicalRequest).digest('hex'),
    ].join('\n');
    const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
    let key: Buffer = hmac(`AWS4${credentials.secretAccessKey}`, '20260301');
    for (const part of ['ap-southeast-1', 'sts', 'aws4_request']) key = hmac(key, part);
    expect(url.searchParams.get('X-Amz-Signature')).toBe(
      createHmac('sha256', key).update(stringToSign).digest('hex'),
    );
  });

  it('is deterministic for a fixed clock and changes with the cluster or the time', async () => {
    const input = { clusterName: 'buywhere-staging', region: 'ap-southeast-1', credentials, now };
    const a = await eksBearerToken(input);
    expect(await eksBearerToken(input)).toBe(a);
    const otherCluster = await eksBearerToken({ ...input, clusterName: 'buywhere-prod' });
    expect(decode(otherCluster).searchParams.get('X-Amz-Signature')).not.toBe(
      decode(a).searchParams.get('X-Amz-Signature'),
    );
    const later = await eksBearerToken({ ...input, now: new Date(now.getTime() + 1000) });
    expect(later).not.toBe(a);
  });

  it('carries the session token of temporary credentials', async () => {
    const token = await eksBearerToken({
      clusterName: 'c',
      region: 'us-east-1',
      credentials: { ...credentials, sessionToken: 'FwoGZXIvYXdzEXAMPLE' },
      now,
    });
    expect(decode(token).searchParams.get('X-Amz-Security-Token')).toBe('FwoGZXIvYXdzEXAMPLE');
  });
});

describe('kubeConfigForEks', () => {
  it('builds a context with the cluster CA and the bearer token', () => {
    const kc = kubeConfigForEks(
      'buywhere-prod',
      { endpoint: 'https://ABC.eks.example', certificateAuthority: 'Q0E=' },
      'k8s-aws-v1.x',
    );
    expect(kc.getCurrentContext()).toBe('buywhere-prod');
    expect(kc.getCurrentCluster()).toMatchObject({
      server: 'https://ABC.eks.example',
      caData: 'Q0E=',
      skipTLSVerify: false,
    });
    expect(kc.getCurrentUser()?.token).toBe('k8s-aws-v1.x');
  });
});
