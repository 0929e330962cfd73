/**
 * Image references and release versions: what a deploy request may ask for. Pure.
 *
 * Version rule, every environment: the record's version is the release the cluster runs, so when
 * the image carries a tag, a requested version must equal it, and an omitted one is the tag. Only
 * a digest-only image takes its version from the request (where the environment allows one).
 * Environments with `requireVersionTag` (production) also need the tag, and it must be a release
 * `vX.Y.Z` (no pre-release or build suffix: release candidates go to staging).
 *
 * Messages name the image once, shortened: a 10,000-character reference costs one line.
 */
import { InvalidInputError } from './errors.ts';
import { controlCharacterProblem, quote } from './text.ts';

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
/** Docker's limit on a repository name, registry host included. */
const MAX_REPOSITORY = 255;
/** Longest reference: repository, `:` and a 128-character tag, `@` and a sha256 digest (71). */
export const MAX_IMAGE_REFERENCE = MAX_REPOSITORY + 1 + 128 + 1 + 71;
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

/** Parses an image reference; throws InvalidInputError naming the image once and the malformed part. */
export function parseImageReference(reference: string): ImageReference {
  const shown = `image ${quote(reference)}`;
  const ref = reference.trim();
  if (ref === '') throw new InvalidInputError('image is empty: expected registry/repository:tag');
  if (reference.length > MAX_IMAGE_REFERENCE) {
    throw new InvalidInputError(
      `${shown} is too long: a reference has at most ${MAX_IMAGE_REFERENCE} characters (repository ${MAX_REPOSITORY}, tag 128, digest 71)`,
    );
  }
  const control = controlCharacterProblem(reference);
  if (control) throw new InvalidInputError(`${shown} ${control}`);
  if (ref !== reference || /\s/.test(ref)) throw new InvalidInputError(`${shown} contains whitespace`);
  const { repository, tag, digest } = splitImageReference(ref);
  if (digest !== undefined && !DIGEST_RE.test(digest)) {
    throw new InvalidInputError(`${shown}: the digest after '@' is not sha256:<64 lowercase hex>`);
  }
  if (tag !== undefined && !TAG_RE.test(tag)) {
    throw new InvalidInputError(
      `${shown}: the tag after the last ':' is invalid (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')`,
    );
  }
  if (repository.length > MAX_REPOSITORY || !REPOSITORY_RE.test(repository)) {
    throw new InvalidInputError(
      `${shown}: the repository is invalid (lowercase path components separated by '/', optional registry host; at most ${MAX_REPOSITORY} characters)`,
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
  const shown = `image ${quote(image)}`;
  if (ref.repository !== env.image) {
    throw new InvalidInputError(
      `${shown} is from repository ${quote(ref.repository)}, but ${env.name} deploys only '${env.image}'`,
    );
  }
  if (ref.tag === undefined && ref.digest === undefined) {
    throw new InvalidInputError(
      `${shown} has neither a tag nor a digest; name the release explicitly, e.g. ${env.image}:v1.2.3`,
    );
  }
  if (version !== undefined && !TAG_RE.test(version)) {
    throw new InvalidInputError(
      `version ${quote(version)} is invalid (letters, digits, '_', '.', '-'; at most 128)`,
    );
  }
  // A record says which release runs: a version other than the tag would be a false record.
  if (version !== undefined && ref.tag !== undefined && ref.tag !== version) {
    throw new InvalidInputError(
      `the version must be the image's tag: tag '${ref.tag}' != version '${version}'; leave the version out (it defaults to the tag) or deploy the image tagged ${version}`,
    );
  }
  const resolved = version ?? ref.tag;
  if (env.requireVersionTag) {
    if (ref.tag === undefined) {
      throw new InvalidInputError(
        `${env.name} requires a version tag: ${shown} has only a digest; use ${env.image}:vX.Y.Z@${ref.digest}`,
      );
    }
    if (resolved === undefined || !RELEASE_VERSION_RE.test(resolved)) {
      throw new InvalidInputError(
        `${env.name} requires a release version vX.Y.Z (no pre-release suffix), got ${quote(String(resolved))}`,
      );
    }
  }
  return { image: ref, ...(resolved !== undefined && { version: resolved }) };
}
