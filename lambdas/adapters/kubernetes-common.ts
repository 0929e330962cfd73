/**
 * What every Kubernetes adapter shares, in a module of its own so that an adapter speaking raw
 * HTTP (kubernetes-rollouts.ts) does not bundle the generated client kubernetes.ts needs: the
 * mapping of API failures to the guardian's errors, the follow-up read telling a missing namespace
 * from a missing object, and the change-cause annotation.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { ApiException } from '@kubernetes/client-node/dist/gen/apis/exception.js';
import fetch from 'node-fetch';
import { InvalidInputError, NotFoundError, TransientError } from '../core/errors.ts';
import { shorten } from '../core/text.ts';
import { isTimeoutError, isTransientHttpStatus, transientNetworkCode } from './transient.ts';

/** Annotation `kubectl rollout history` shows as CHANGE-CAUSE. */
export const CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause';

/** What a failed Kubernetes call was about, for the error message. */
export interface KubernetesErrorContext {
  /** What the guardian was doing, e.g. "read Deployment". */
  readonly action: string;
  readonly namespace: string;
  readonly name: string;
  /** True when a follow-up read showed the namespace itself is missing. */
  readonly namespaceMissing?: boolean;
  /**
   * The server URL, when follow-up reads showed it answers 404 to everything (its namespace and
   * `/version` included): a web server, not a Kubernetes API server.
   */
  readonly notKubernetes?: string;
  /**
   * The kinds whose RBAC a 401/403 tells the operator to check.
   * @default 'Deployments and ReplicaSets'
   */
  readonly rbacKinds?: string;
}

interface StatusBody {
  message?: string;
  reason?: string;
}

function parseStatus(body: unknown): StatusBody {
  if (typeof body === 'string') {
    try {
      return parseStatus(JSON.parse(body));
    } catch {
      return body ? { message: body.slice(0, 300) } : {};
    }
  }
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    return {
      message: typeof b.message === 'string' ? b.message : undefined,
      reason: typeof b.reason === 'string' ? b.reason : undefined,
    };
  }
  return {};
}

/** The HTTP status of a failed call (client-node's ApiException, or an error shaped like it). */
export function httpStatusOf(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' && code >= 100 && code <= 599 ? code : undefined;
}

/**
 * Maps a failure of a Kubernetes API call to the guardian's errors: 404 -> NotFoundError,
 * throttling / server errors / conflicts / network failures -> TransientError (retried by the
 * state machine), 400/422 -> InvalidInputError, 401/403 -> an Error telling the operator which
 * access to fix. Anything else is wrapped with the context and its cause.
 */
export function kubernetesError(err: unknown, ctx: KubernetesErrorContext): Error {
  const ref = `${ctx.namespace}/${ctx.name}`;
  const status = httpStatusOf(err);
  if (status !== undefined) {
    const body = parseStatus((err as { body?: unknown }).body);
    const detail = body.message ? `: ${body.message}` : '';
    if (status === 404 && ctx.notKubernetes !== undefined) {
      return new Error(
        `${shorten(ctx.notKubernetes)} is not a Kubernetes API server: it answered 404 to ${ctx.action} ${ref}, ` +
          `to namespace "${ctx.namespace}" and to /version; check the cluster's server URL in the kubeconfig ` +
          '(on EKS, the cluster endpoint)',
        { cause: err },
      );
    }
    if (status === 404) {
      return ctx.namespaceMissing
        ? new NotFoundError(
            `namespace "${ctx.namespace}" does not exist (while trying to ${ctx.action} ${ref})`,
            {
              cause: err,
            },
          )
        : new NotFoundError(`${ref} not found: cannot ${ctx.action}${detail}`, { cause: err });
    }
    // 409: another writer changed the object first; a later attempt reads it afresh.
    if (status === 409 || isTransientHttpStatus(status)) {
      return new TransientError(`Kubernetes API answered ${status} to ${ctx.action} ${ref}${detail}`, {
        cause: err,
      });
    }
    if (status === 401 || status === 403) {
      return new Error(
        `Kubernetes API refused to ${ctx.action} ${ref} (${status} ${status === 401 ? 'Unauthorized' : 'Forbidden'}${detail}): ` +
          `check the guardian role's EKS access entry and its RBAC permissions on ${ctx.rbacKinds ?? 'Deployments and ReplicaSets'} in this namespace`,
        { cause: err },
      );
    }
    if (status === 400 || status === 422) {
      return new InvalidInputError(`Kubernetes API rejected ${ctx.action} ${ref} (${status})${detail}`, {
        cause: err,
      });
    }
    return new Error(`Kubernetes API answered ${status} to ${ctx.action} ${ref}${detail}`, { cause: err });
  }
  const code = transientNetworkCode(err);
  if (code !== undefined || isTimeoutError(err)) {
    const why = code ?? 'timeout';
    return new TransientError(`Kubernetes API unreachable while trying to ${ctx.action} ${ref} (${why})`, {
      cause: err,
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new Error(`failed to ${ctx.action} ${ref}: ${message}`, { cause: err });
}

/** What a follow-up read found out about a namespace that answered 404 (see {@link probeNamespace}). */
export type NamespaceProbe = 'exists' | 'missing' | 'not-kubernetes' | undefined;

/**
 * Why `namespace` answered 404: `missing` when the server is a Kubernetes API server without
 * that namespace, `not-kubernetes` when it answers 404 to `/version` too (a web server, a wrong
 * URL), undefined when the answer is not a plain yes/no (no RBAC on namespaces, say). Raw GETs
 * with the kubeconfig's auth and TLS, because the generated CoreV1Api would add ~0.5 MB to every
 * Kubernetes step's bundle for these calls.
 */
export async function probeNamespace(
  kubeConfig: KubeConfig,
  namespace: string,
  timeoutMs: number,
): Promise<NamespaceProbe> {
  const server = kubeConfig.getCurrentCluster()?.server;
  if (!server) return undefined;
  const base = server.replace(/\/+$/, '');
  const get = async (urlPath: string): Promise<number | undefined> => {
    try {
      const init = await kubeConfig.applyToFetchOptions({ method: 'GET' });
      const res = await fetch(`${base}${urlPath}`, {
        ...(init as object),
        signal: AbortSignal.timeout(timeoutMs),
      } as Parameters<typeof fetch>[1]);
      await res.text();
      return res.status;
    } catch {
      return undefined;
    }
  };
  const status = await get(`/api/v1/namespaces/${encodeURIComponent(namespace)}`);
  if (status === undefined) return undefined;
  if (status !== 404) return status >= 200 && status < 300 ? 'exists' : undefined;
  // Every Kubernetes API server serves /version (to anonymous callers too, by default).
  return (await get('/version')) === 404 ? 'not-kubernetes' : 'missing';
}
