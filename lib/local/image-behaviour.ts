/**
 * How an image behaves in local mode (cluster simulator and demo API). The tag is the knob, so
 * a demo or a test picks a failure mode just by the image it deploys:
 * `…:v1.2.3` healthy, `…:v1.2.4-slow` slow to start, `…:v1.2.5-never-ready` never ready,
 * `…:v1.2.6-bad` starts but serves errors, `…:v1.2.7-pool` healthy on `/health` (200, status ok)
 * but with its database and PgBouncer pools exhausted.
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
