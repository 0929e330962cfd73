/**
 * How an image behaves in local mode (cluster simulator and demo API). The tag is the knob, so
 * a demo or a test picks a failure mode just by the image it deploys:
 * `…:v1.2.3` healthy, `…:v1.2.4-slow` slow to start, `…:v1.2.5-never-ready` never ready,
 * `…:v1.2.6-bad` starts but serves errors, `…:v1.2.7-pool` healthy on `/health` (200, status ok)
 * but with its database and PgBouncer pools exhausted.
 * Traffic (issue 9, {@link trafficOf}): `…:v1.3.0-errors` and `…:v1.3.0-latency` pass every health
 * check but serve more 5xx or a higher p99, which only the metrics show.
 */
import { splitImageReference } from '../../lambdas/core/image.ts';

/** Seconds until a pod becomes Ready for an ordinary image. */
export const DEFAULT_READY_SECONDS = 5;
/** Seconds until a pod becomes Ready for a `slow` image: one pod fits a 300 s deadline, two do not. */
export const SLOW_READY_SECONDS = 240;

/** What a pod running an image does. */
export interface ImageBehaviour {
  /** Seconds from pod creation to Ready; `undefined` = never Ready. */
  readonly readySeconds: number | undefined;
  /** Whether the API served by this image answers its health checks. */
  readonly healthy: boolean;
}

/** The behaviour of `image`, decided by words in its tag: `never-ready`, `slow`, `bad`. */
export function imageBehaviour(image: string): ImageBehaviour {
  const tag = (splitImageReference(image).tag ?? '').toLowerCase();
  const readySeconds = tag.includes('never-ready')
    ? undefined
    : tag.includes('slow')
      ? SLOW_READY_SECONDS
      : DEFAULT_READY_SECONDS;
  return { readySeconds, healthy: !tag.includes('bad') };
}

/**
 * Whether the API served by `image` runs out of database connections (`pool` in its tag): it still
 * answers `/health` with 200 and `status: ok`, so only the pool figures give it away.
 */
export function exhaustsPool(image: string): boolean {
  return (splitImageReference(image).tag ?? '').toLowerCase().includes('pool');
}

// --- Traffic of an image (issue 9): what the demo API's metrics show while it serves. ---

/** The traffic an image serves, as the demo API simulates it. */
export interface TrafficProfile {
  /** `healthy`; `errors`: more 5xx, healthy /health; `latency`: higher p99, healthy /health; `bad`. */
  readonly name: 'healthy' | 'errors' | 'latency' | 'bad';
  /** Share of requests answered 5xx (each request independently: binomial noise per interval). */
  readonly errorRate: number;
  /** Share of requests answered 404 (clients asking for products that do not exist). */
  readonly notFoundRate: number;
  /** The 99th percentile of the latency, in seconds. */
  readonly p99Seconds: number;
  /** Spread of the latency's lognormal distribution (σ of its logarithm). */
  readonly sigma: number;
}

/**
 * A healthy release: 0.5 % 5xx, p99 300 ms — a realistic rate for an API behind a load balancer
 * (stray upstream timeouts), low enough that 3–5× more stands out over 5 minutes of traffic.
 */
export const HEALTHY_TRAFFIC: TrafficProfile = {
  name: 'healthy',
  errorRate: 0.005,
  notFoundRate: 0.005,
  p99Seconds: 0.3,
  sigma: 0.5,
};

/** The traffic of each profile; `errors` and `latency` pass every health check and only the metrics tell. */
export const TRAFFIC: { readonly [K in TrafficProfile['name']]: TrafficProfile } = {
  healthy: HEALTHY_TRAFFIC,
  // 4× the healthy 5xx rate: what a bad query path or a flaky dependency of one release looks like.
  errors: { ...HEALTHY_TRAFFIC, name: 'errors', errorRate: 0.02 },
  // +70 % p99 (300 → 510 ms): the whole distribution shifted, as an N+1 query or a lost index does.
  latency: { ...HEALTHY_TRAFFIC, name: 'latency', p99Seconds: 0.51 },
  // The failing release: 40 % 5xx and multi-second latency (its /health fails too).
  bad: { name: 'bad', errorRate: 0.4, notFoundRate: 0.005, p99Seconds: 2.2, sigma: 0.8 },
};

/** The traffic `image` serves, by words in its tag: `bad`, `errors`, `latency`; otherwise healthy. */
export function trafficOf(image: string): TrafficProfile {
  const tag = (splitImageReference(image).tag ?? '').toLowerCase();
  if (!imageBehaviour(image).healthy) return TRAFFIC.bad;
  if (tag.includes('errors')) return TRAFFIC.errors;
  if (tag.includes('latency')) return TRAFFIC.latency;
  return TRAFFIC.healthy;
}

// --- end traffic ---
