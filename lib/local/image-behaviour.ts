/**
 * How an image behaves in local mode (cluster simulator and demo API). The tag is the knob, so
 * a demo or a test picks a failure mode just by the image it deploys:
 * `…:v1.2.3` healthy, `…:v1.2.4-slow` slow to start, `…:v1.2.5-never-ready` never ready,
 * `…:v1.2.6-bad` starts but serves errors.
 */

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

/** The tag of an image reference (`repo:tag`, `repo:tag@sha256:…`), or '' when it has none. */
export function imageTag(image: string): string {
  const withoutDigest = image.split('@')[0] ?? '';
  const lastSlash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.indexOf(':', lastSlash + 1);
  return colon === -1 ? '' : withoutDigest.slice(colon + 1);
}

/** The behaviour of `image`, decided by words in its tag: `never-ready`, `slow`, `bad`. */
export function imageBehaviour(image: string): ImageBehaviour {
  const tag = imageTag(image).toLowerCase();
  const readySeconds = tag.includes('never-ready')
    ? undefined
    : tag.includes('slow')
      ? SLOW_READY_SECONDS
      : DEFAULT_READY_SECONDS;
  return { readySeconds, healthy: !tag.includes('bad') };
}
