import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../lambdas/core/errors.ts';
import { parseImageReference, splitImageReference, validateRelease } from '../../lambdas/core/image.ts';

const REPO = 'ghcr.io/buywhere/buywhere-api';
const DIGEST = `sha256:${'a'.repeat(64)}`;
const staging = { name: 'staging', image: REPO, requireVersionTag: false };
const production = { name: 'production', image: REPO, requireVersionTag: true };

describe('splitImageReference', () => {
  it.each([
    ['localhost:5000/a/b:v1', { repository: 'localhost:5000/a/b', tag: 'v1' }],
    ['localhost:5000/a/b', { repository: 'localhost:5000/a/b' }],
    [`localhost:5000/a/b@${DIGEST}`, { repository: 'localhost:5000/a/b', digest: DIGEST }],
    [`localhost:5000/a/b:v1@${DIGEST}`, { repository: 'localhost:5000/a/b', tag: 'v1', digest: DIGEST }],
    [`${REPO}:v1.2.3`, { repository: REPO, tag: 'v1.2.3' }],
    [`${REPO}@${DIGEST}`, { repository: REPO, digest: DIGEST }],
    ['nginx', { repository: 'nginx' }],
    ['nginx:latest', { repository: 'nginx', tag: 'latest' }],
    ['', { repository: '' }],
  ])('splits %j', (reference, parts) => {
    expect(splitImageReference(reference)).toEqual(parts);
  });

  it('splits what validation would refuse, without judging it', () => {
    expect(splitImageReference('Repo/API:-bad@md5:x')).toEqual({
      repository: 'Repo/API',
      tag: '-bad',
      digest: 'md5:x',
    });
    expect(splitImageReference('repo:')).toEqual({ repository: 'repo', tag: '' });
    expect(splitImageReference('repo@')).toEqual({ repository: 'repo', digest: '' });
  });
});

describe('parseImageReference', () => {
  it('splits repository and tag', () => {
    expect(parseImageReference(`${REPO}:v1.2.3`)).toEqual({
      reference: `${REPO}:v1.2.3`,
      repository: REPO,
      tag: 'v1.2.3',
    });
  });

  it('splits a digest, with and without a tag', () => {
    expect(parseImageReference(`${REPO}@${DIGEST}`)).toMatchObject({ repository: REPO, digest: DIGEST });
    expect(parseImageReference(`${REPO}@${DIGEST}`).tag).toBeUndefined();
    expect(parseImageReference(`${REPO}:v1.2.3@${DIGEST}`)).toMatchObject({
      repository: REPO,
      tag: 'v1.2.3',
      digest: DIGEST,
    });
  });

  it('does not mistake a registry port for a tag', () => {
    expect(parseImageReference('registry.local:5000/team/api')).toEqual({
      reference: 'registry.local:5000/team/api',
      repository: 'registry.local:5000/team/api',
    });
    expect(parseImageReference('registry.local:5000/team/api:1.0').tag).toBe('1.0');
    expect(parseImageReference(`localhost:5000/a/b:v1@${DIGEST}`)).toEqual({
      reference: `localhost:5000/a/b:v1@${DIGEST}`,
      repository: 'localhost:5000/a/b',
      tag: 'v1',
      digest: DIGEST,
    });
  });

  it('leaves tag and digest out when the reference has neither', () => {
    expect(parseImageReference(REPO)).toEqual({ reference: REPO, repository: REPO });
  });

  it.each([
    ['', /empty/],
    [' ghcr.io/a/b:v1', /whitespace/],
    ['ghcr.io/a/b:v1 ', /whitespace/],
    [`${REPO}@sha256:abc`, /the digest after '@' is not sha256/],
    [`${REPO}@md5:${'a'.repeat(32)}`, /digest/],
    [`${REPO}:-bad`, /the tag after the last ':' is invalid/],
    [`${REPO}:${'x'.repeat(129)}`, /the tag .* is invalid/],
    ['GHCR.io/Buywhere/API:v1', /^image 'GHCR.io\/Buywhere\/API:v1': the repository is invalid/],
    ['ghcr.io//api:v1', /the repository is invalid/],
    [':v1', /the repository is invalid/],
    [`${REPO}:v1\u001b[31m`, /contains a control character \(U\+001B ESC\) at character 33/],
    [`${REPO}:v1\n`, /control character \(U\+000A NEWLINE\)/],
    [`${'a/'.repeat(130)}b:v1`, /the repository is invalid .*at most 255/],
  ])('refuses %j naming the bad part', (ref, message) => {
    expect(() => parseImageReference(ref)).toThrow(InvalidInputError);
    expect(() => parseImageReference(ref)).toThrow(message);
  });

  it('accepts a 128-character tag, the exact limit', () => {
    expect(parseImageReference(`${REPO}:${'x'.repeat(128)}`).tag).toHaveLength(128);
  });
});

describe('validateRelease', () => {
  it('defaults the version to the tag where no version tag is required', () => {
    expect(validateRelease(staging, `${REPO}:main-4f2a9c1`).version).toBe('main-4f2a9c1');
  });

  it.each([staging, production])('refuses a version that is not the image tag in $name', (env) => {
    // The record would say v9.9.9 while the cluster runs v1.2.0.
    expect(() => validateRelease(env, `${REPO}:v1.2.0`, 'v9.9.9')).toThrow(
      /^the version must be the image's tag: tag 'v1\.2\.0' != version 'v9\.9\.9'/,
    );
    expect(() => validateRelease(env, `${REPO}:v1.2.0@${DIGEST}`, 'v9.9.9')).toThrow(InvalidInputError);
    expect(validateRelease(env, `${REPO}:v1.2.0`, 'v1.2.0').version).toBe('v1.2.0');
  });

  it('refuses a version that differs from the tag where no version tag is required', () => {
    expect(() => validateRelease(staging, `${REPO}:main-4f2a9c1`, 'build-77')).toThrow(
      "tag 'main-4f2a9c1' != version 'build-77'",
    );
  });

  it('takes an explicit version for a digest-only image in staging, and none without one', () => {
    expect(validateRelease(staging, `${REPO}@${DIGEST}`, 'build-77').version).toBe('build-77');
    const r = validateRelease(staging, `${REPO}@${DIGEST}`);
    expect(r.version).toBeUndefined();
    expect(r.image.digest).toBe(DIGEST);
  });

  it('refuses an image from another repository, naming both', () => {
    expect(() => validateRelease(staging, 'ghcr.io/evil/buywhere-api:v1.0.0')).toThrow(
      "image 'ghcr.io/evil/buywhere-api:v1.0.0' is from repository 'ghcr.io/evil/buywhere-api', but staging deploys only 'ghcr.io/buywhere/buywhere-api'",
    );
  });

  it.each([
    [`${REPO}:${'v'.repeat(10_000)}`, /is too long/],
    [`ghcr.io/${'x'.repeat(10_000)}:v1.0.0`, /is too long/],
    [`${'x'.repeat(300)}:v1.0.0`, /the repository is invalid/],
    [`ghcr.io/evil/${'x'.repeat(300)}:v1.0.0`, /the repository is invalid/],
  ])('names a huge image once, shortened (%#)', (image, message) => {
    let thrown: Error | undefined;
    try {
      validateRelease(production, image, 'v1.0.0');
    } catch (err) {
      thrown = err as Error;
    }
    expect(thrown).toBeInstanceOf(InvalidInputError);
    expect(thrown?.message).toMatch(message);
    expect(thrown?.message).toContain(`…(${image.length} chars)`);
    expect(thrown?.message.length).toBeLessThan(400);
    expect(thrown?.message.match(/image '/g)).toHaveLength(1);
  });

  it('refuses a repository that only shares a prefix with the environment image', () => {
    expect(() => validateRelease(staging, `${REPO}-canary:v1.0.0`)).toThrow(/from repository/);
  });

  it('refuses an image without tag or digest', () => {
    expect(() => validateRelease(staging, REPO)).toThrow(/neither a tag nor a digest/);
  });

  it('refuses a malformed version', () => {
    expect(() => validateRelease(staging, `${REPO}:v1`, 'v 1')).toThrow(/version 'v 1' is invalid/);
  });

  it('accepts a production release whose tag equals the version', () => {
    expect(validateRelease(production, `${REPO}:v1.2.3`, 'v1.2.3')).toMatchObject({ version: 'v1.2.3' });
    expect(validateRelease(production, `${REPO}:v10.0.20`).version).toBe('v10.0.20');
    expect(validateRelease(production, `${REPO}:v1.2.3@${DIGEST}`, 'v1.2.3').image.digest).toBe(DIGEST);
  });

  it.each([
    ['1.2.3', /requires a release version vX\.Y\.Z/],
    ['v1.2', /requires a release version/],
    ['v1.2.3-rc.1', /no pre-release suffix/],
    ['v1.2.3+build.5', /the tag after the last ':' is invalid/],
    ['v01.2.3', /requires a release version/],
    ['latest', /requires a release version/],
  ])('refuses production tag %s', (tag, message) => {
    expect(() => validateRelease(production, `${REPO}:${tag}`)).toThrow(message);
  });

  it('refuses production when the tag differs from the version', () => {
    expect(() => validateRelease(production, `${REPO}:v1.2.4`, 'v1.2.3')).toThrow(
      "the version must be the image's tag: tag 'v1.2.4' != version 'v1.2.3'",
    );
  });

  it('refuses a production digest-only image, with or without a version', () => {
    expect(() => validateRelease(production, `${REPO}@${DIGEST}`)).toThrow(/has only a digest/);
    expect(() => validateRelease(production, `${REPO}@${DIGEST}`, 'v1.2.3')).toThrow(/has only a digest/);
  });

  it('refuses a production version that is not semver even when the tag matches', () => {
    expect(() => validateRelease(production, `${REPO}:main`, 'main')).toThrow(/vX\.Y\.Z/);
  });
});
