/**
 * Image references and release versions: what a deploy request may ask for. Pure.
 *
 * Version rule for environments with `requireVersionTag` (production): the version must be a
 * release `vX.Y.Z` (no pre-release or build suffix: release candidates go to staging), the
 * image must carry a tag, and the tag must equal the version. When the request omits the
 * version it defaults to the tag, which then has to satisfy the same rule.
 */
import { InvalidInputError } from './errors.ts';

/** The parts of a `registry/repository[:tag][@digest]` reference, as written (not validated). */
export interface ImageParts {
  /** Everything before the tag and digest, e.g. `ghcr.io/buywhere/buywhere-api` or `localhost:5000/a/b`. */
  readonly repository: string;
  readonly tag?: string;
  /** Everything after `@`, e.g. `sha256:<64 hex>`. */
  readonly digest?: string;
}

/** A parsed and validated `registry/repository[:tag][@sha256:digest]` reference. */
export interface ImageReference extends ImageParts {
  /** The reference as given. */
  readonly reference: string;
  /** `sha256:<64 hex>`. */
  readonly digest?: string;
}

/** A deploy request's image and version after validation. */
export interface ValidatedRelease {
  readonly image: ImageReference;
  /** The release version: as requested, or the tag when none was given (digest-only: none). */
  readonly version?: string;
}

/** The environment fields the image rules read. */
export interface ImageRules {
  readonly name: string;
  readonly image: string;
  readonly requireVersionTag: boolean;
}

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN =
  '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\\d+)?';
const REPOSITORY_RE = new RegExp(`^(?:${DOMAIN}/)?${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
/** A release version: `v` + semver core, no pre-release or build metadata. */
export const RELEASE_VERSION_RE = /^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

/**
 * Splits an image reference into repository, tag and digest without judging them: the digest
 * follows the first `@`, the tag the last `:` after the last `/` (so a registry port is not a
 * tag). For references the guardian did not validate (the simulator's, the demo's, raw requests).
 */
export function splitImageReference(reference: string): ImageParts {
  let repository = reference;
  let digest: string | undefined;
  const at = repository.indexOf('@');
  if (at >= 0) {
    digest = repository.slice(at + 1);
    repository = repository.slice(0, at);
  }
  let tag: string | undefined;
  const colon = repository.lastIndexOf(':');
  if (colon > repository.lastIndexOf('/')) {
    tag = repository.slice(colon + 1);
    repository = repository.slice(0, colon);
  }
  return {
    repository,
    ...(tag !== undefined && { tag }),
    ...(digest !== undefined && { digest }),
  };
}

/** Parses an image reference; throws InvalidInputError saying which part is malformed. */
export function parseImageReference(reference: string): ImageReference {
  const ref = reference.trim();
  if (ref === '') throw new InvalidInputError('image is empty: expected registry/repository:tag');
  if (ref !== reference || /\s/.test(ref)) {
    throw new InvalidInputError(`image '${reference}' contains whitespace`);
  }
  const { repository, tag, digest } = splitImageReference(ref);
  if (digest !== undefined && !DIGEST_RE.test(digest)) {
    throw new InvalidInputError(`image '${reference}': digest '${digest}' is not sha256:<64 lowercase hex>`);
  }
  if (tag !== undefined && !TAG_RE.test(tag)) {
    throw new InvalidInputError(
      `image '${reference}': tag '${tag}' is invalid (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')`,
    );
  }
  if (!REPOSITORY_RE.test(repository)) {
    throw new InvalidInputError(
      `image '${reference}': repository '${repository}' is invalid (lowercase path components separated by '/', optional registry host)`,
    );
  }
  return {
    reference: ref,
    repository,
    ...(tag !== undefined && { tag }),
    ...(digest !== undefined && { digest }),
  };
}

/**
 * Validates a deploy request's image and version against the environment: the repository must
 * be the environment's, a tag or digest is required, and the version rule above applies.
 */
export function validateRelease(env: ImageRules, image: string, version?: string): ValidatedRelease {
  const ref = parseImageReference(image);
  if (ref.repository !== env.image) {
    throw new InvalidInputError(
      `image '${image}' is from repository '${ref.repository}', but ${env.name} deploys only '${env.image}'`,
    );
  }
  if (ref.tag === undefined && ref.digest === undefined) {
    throw new InvalidInputError(
      `image '${image}' has neither a tag nor a digest; name the release explicitly, e.g. ${env.image}:v1.2.3`,
    );
  }
  if (version !== undefined && !TAG_RE.test(version)) {
    throw new InvalidInputError(
      `version '${version}' is invalid (letters, digits, '_', '.', '-'; at most 128)`,
    );
  }
  const resolved = version ?? ref.tag;
  if (env.requireVersionTag) {
    if (resolved === undefined) {
      throw new InvalidInputError(
        `${env.name} requires a version tag: image '${image}' has only a digest; use ${env.image}:vX.Y.Z@${ref.digest}`,
      );
    }
    if (!RELEASE_VERSION_RE.test(resolved)) {
      throw new InvalidInputError(
        `${env.name} requires a release version vX.Y.Z (no pre-release suffix), got '${resolved}'`,
      );
    }
    if (ref.tag !== resolved) {
      throw new InvalidInputError(
        ref.tag === undefined
          ? `${env.name} requires the image tag to equal the version ${resolved}, but '${image}' has no tag`
          : `${env.name} requires the image tag to equal the version: tag '${ref.tag}' != version '${resolved}'`,
      );
    }
  }
  return { image: ref, ...(resolved !== undefined && { version: resolved }) };
}
