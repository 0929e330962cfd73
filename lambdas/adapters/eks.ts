/**
 * EKS access from the Lambda runtime without kubectl or aws-iam-authenticator binaries: the
 * cluster endpoint and CA come from DescribeCluster, the bearer token is a presigned STS
 * GetCallerIdentity URL (the aws-iam-authenticator scheme), and the guardian role is mapped to
 * Kubernetes RBAC by an EKS access entry.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { type Cluster, DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';
import { NotFoundError, TransientError } from '../core/errors.ts';
import { type Clock, systemClock } from '../core/ports.ts';
import { isTransientAwsError } from './transient.ts';

/** Prefix of an EKS bearer token. */
export const EKS_TOKEN_PREFIX = 'k8s-aws-v1.';
/** Header that binds the presigned request to one cluster. */
export const CLUSTER_ID_HEADER = 'x-k8s-aws-id';
/** EKS accepts a token for 15 minutes after signing; refresh well before that. */
export const TOKEN_REFRESH_AFTER_MS = 12 * 60 * 1000;

/** Endpoint and CA of an EKS cluster. */
export interface EksClusterInfo {
  /** https URL of the API server. */
  readonly endpoint: string;
  /** Base64 PEM of the cluster CA, as DescribeCluster returns it. */
  readonly certificateAuthority: string;
}

/**
 * Time limits of the EKS client. A step's Lambda has 30 s: two attempts of at most 3 s to connect
 * plus 5 s for the answer fail well inside it as a TransientError the state machine retries,
 * instead of the Lambda timing out.
 */
export const EKS_CLIENT_TIMEOUTS = {
  connectionTimeout: 3000,
  requestTimeout: 5000,
  maxAttempts: 2,
} as const;

/** Overrides for createEksClient (tests: a local endpoint and shorter limits). */
export interface EksClientOptions {
  readonly endpoint?: string;
  readonly timeouts?: Partial<Record<keyof typeof EKS_CLIENT_TIMEOUTS, number>>;
}

/** An EKS client whose requests cannot hang a step until its Lambda timeout. */
export function createEksClient(region: string, options: EksClientOptions = {}): EKSClient {
  const t = { ...EKS_CLIENT_TIMEOUTS, ...options.timeouts };
  return new EKSClient({
    region,
    ...(options.endpoint !== undefined && { endpoint: options.endpoint }),
    maxAttempts: t.maxAttempts,
    requestHandler: {
      connectionTimeout: t.connectionTimeout,
      requestTimeout: t.requestTimeout,
      // Without it newer handlers only log a breached requestTimeout; older ones treat
      // requestTimeout as the socket idle timeout, which socketTimeout also bounds.
      throwOnRequestTimeout: true,
      socketTimeout: t.requestTimeout,
    },
  });
}

/** Reads the cluster's endpoint and CA (DescribeCluster). */
export async function describeEksCluster(eks: EKSClient, name: string): Promise<EksClusterInfo> {
  let cluster: Cluster | undefined;
  try {
    ({ cluster } = await eks.send(new DescribeClusterCommand({ name })));
  } catch (err) {
    if ((err as { name?: string }).name === 'ResourceNotFoundException') {
      throw new NotFoundError(`EKS cluster "${name}" not found in this account/region`, { cause: err });
    }
    // Includes a request or connection timeout (EKS_CLIENT_TIMEOUTS) after the client's own attempts.
    if (isTransientAwsError(err)) {
      throw new TransientError(`DescribeCluster ${name} failed: ${(err as Error).message}`, { cause: err });
    }
    throw err;
  }
  const endpoint = cluster?.endpoint;
  const certificateAuthority = cluster?.certificateAuthority?.data;
  if (!endpoint || !certificateAuthority) {
    // A cluster that is still CREATING has neither yet.
    throw new TransientError(
      `EKS cluster "${name}" has no endpoint or CA yet (status ${cluster?.status ?? 'unknown'})`,
    );
  }
  return { endpoint, certificateAuthority };
}

/** Input of eksBearerToken. */
export interface EksTokenInput {
  readonly clusterName: string;
  readonly region: string;
  readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** Signing time. @default the system clock */
  readonly now?: Date;
}

/**
 * A Kubernetes bearer token for EKS: `k8s-aws-v1.` + base64url (no padding) of a presigned
 * STS GetCallerIdentity URL whose signed headers include `x-k8s-aws-id: <cluster>`.
 */
export async function eksBearerToken(input: EksTokenInput): Promise<string> {
  const hostname = `sts.${input.region}.amazonaws.com`;
  const signer = new SignatureV4({
    service: 'sts',
    region: input.region,
    credentials: input.credentials,
    sha256: Sha256,
  });
  const request = new HttpRequest({
    method: 'GET',
    protocol: 'https:',
    hostname,
    path: '/',
    query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
    headers: { host: hostname, [CLUSTER_ID_HEADER]: input.clusterName },
  });
  const signed = await signer.presign(request, { expiresIn: 60, signingDate: input.now ?? new Date() });
  const pairs: string[] = [];
  for (const [k, v] of Object.entries(signed.query ?? {})) {
    for (const value of Array.isArray(v) ? v : v === null ? [] : [v]) {
      pairs.push(`${encodeURIComponent(k)}=${encodeURIComponent(value)}`);
    }
  }
  const query = pairs.sort().join('&');
  const url = `https://${hostname}/?${query}`;
  return EKS_TOKEN_PREFIX + Buffer.from(url, 'utf8').toString('base64url');
}

/** A KubeConfig for an EKS cluster with a bearer token (verifies the API server's certificate). */
export function kubeConfigForEks(clusterName: string, info: EksClusterInfo, token: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      { name: clusterName, server: info.endpoint, caData: info.certificateAuthority, skipTLSVerify: false },
    ],
    users: [{ name: 'deployment-guardian', token }],
    contexts: [{ name: clusterName, cluster: clusterName, user: 'deployment-guardian' }],
    currentContext: clusterName,
  });
  return kc;
}

/** Overrides for eksClientProvider (tests and the local runner). */
export interface EksProviderDeps {
  readonly eks?: EKSClient;
  readonly credentials?: AwsCredentialIdentityProvider;
  readonly clock?: Clock;
}

/**
 * A client of the EKS cluster built by `build` from a kubeconfig (the Deployment API, or the Argo
 * Rollouts one): DescribeCluster once per container, a fresh token (and client) whenever the
 * cached one is older than TOKEN_REFRESH_AFTER_MS.
 */
export function eksClientProvider<T>(
  env: EnvironmentConfig,
  build: (kubeConfig: KubeConfig) => T,
  deps: EksProviderDeps = {},
): () => Promise<T> {
  const eks = deps.eks ?? createEksClient(env.region);
  // The EKS client's own resolved credential chain signs the token too: one chain, and nothing
  // beyond what the Lambda runtime's SDK ships.
  const credentials: AwsCredentialIdentityProvider = deps.credentials ?? (() => eks.config.credentials());
  const clock = deps.clock ?? systemClock;
  let info: Promise<EksClusterInfo> | undefined;
  let cached: { cluster: T; signedAt: number } | undefined;
  return async () => {
    const now = clock.now();
    if (cached && now.getTime() - cached.signedAt < TOKEN_REFRESH_AFTER_MS) return cached.cluster;
    info ??= describeEksCluster(eks, env.cluster).catch((err: unknown) => {
      info = undefined; // do not cache a failure
      throw err;
    });
    // Awaited below, after the token: if signing fails first (no credentials), the describe's own
    // failure must not become an unhandled rejection, which ends a Lambda runtime or a CLI.
    info.catch(() => undefined);
    const token = await eksBearerToken({ clusterName: env.cluster, region: env.region, credentials, now });
    const cluster = build(kubeConfigForEks(env.cluster, await info, token));
    cached = { cluster, signedAt: now.getTime() };
    return cluster;
  };
}
