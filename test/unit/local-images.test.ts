import { describe, expect, it } from 'vitest';
import { defaultDeployment } from '../../lib/local/cluster-sim/cluster.ts';
import {
  DEFAULT_READY_SECONDS,
  exhaustsPool,
  imageBehaviour,
  SLOW_READY_SECONDS,
} from '../../lib/local/image-behaviour.ts';

const DIGEST = `sha256:${'b'.repeat(64)}`;

function pullPolicyOf(image: string): unknown {
  const d = defaultDeployment({ spec: { template: { spec: { containers: [{ name: 'api', image }] } } } });
  return d.spec.template.spec.containers[0].imagePullPolicy;
}

describe('the cluster simulator defaults imagePullPolicy like the API server', () => {
  it.each([
    ['localhost:5000/a/b', 'Always'],
    ['localhost:5000/a/b:latest', 'Always'],
    [`localhost:5000/a/b:latest@${DIGEST}`, 'Always'],
    ['localhost:5000/a/b:v1', 'IfNotPresent'],
    [`localhost:5000/a/b@${DIGEST}`, 'IfNotPresent'],
    [`localhost:5000/a/b:v1@${DIGEST}`, 'IfNotPresent'],
  ])('%s -> %s', (image, policy) => {
    expect(pullPolicyOf(image)).toBe(policy);
  });
});

describe('imageBehaviour', () => {
  it('reads the knob from the tag, not from a registry port or a digest', () => {
    expect(imageBehaviour('localhost:5000/slow/bad-api:v1.2.3')).toEqual({
      readySeconds: DEFAULT_READY_SECONDS,
      healthy: true,
    });
    expect(imageBehaviour(`localhost:5000/a/b:v1.2.4-slow@${DIGEST}`)).toEqual({
      readySeconds: SLOW_READY_SECONDS,
      healthy: true,
    });
    expect(imageBehaviour('ghcr.io/a/b:v1.2.5-never-ready').readySeconds).toBeUndefined();
    expect(imageBehaviour('ghcr.io/a/b:v1.2.6-bad').healthy).toBe(false);
    expect(imageBehaviour(`ghcr.io/a/b@${DIGEST}`)).toEqual({
      readySeconds: DEFAULT_READY_SECONDS,
      healthy: true,
    });
  });
});

describe('exhaustsPool (issue 9)', () => {
  it('reads `pool` from the tag only, and leaves the image healthy on /health', () => {
    expect(exhaustsPool('ghcr.io/a/b:v1.2.7-pool')).toBe(true);
    expect(exhaustsPool(`ghcr.io/a/b:v1.2.7-POOL@${DIGEST}`)).toBe(true);
    expect(exhaustsPool('localhost:5000/pool/api:v1.2.3')).toBe(false);
    expect(exhaustsPool(`ghcr.io/a/b@${DIGEST}`)).toBe(false);
    expect(imageBehaviour('ghcr.io/a/b:v1.2.7-pool').healthy).toBe(true);
  });
});
