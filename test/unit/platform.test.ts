import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BUILT_PLATFORMS, isBuiltPlatform, PLATFORMS, type Platform } from '../../lambdas/core/workload.ts';
import { resolvePort } from '../../lambdas/ports/table.ts';

import { PLATFORM_STATES, platformStates } from '../../lib/constructs/platform-states.ts';
import { configWith, problemsOf } from '../helpers/config.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the shipped config with staging's platform set to `platform`; its line number. */
function withStagingPlatform(platform: string): { dir: string; line: number } {
  let line = 0;
  const dir = configWith(dirs, (yaml) => {
    const lines = yaml.split('\n');
    line = lines.indexOf('    platform: kubernetes') + 1;
    if (line === 0) throw new Error('no platform line in the shipped environments.yaml');
    lines[line - 1] = `    platform: ${platform}`;
    return lines.join('\n');
  });
  return { dir, line };
}

describe('platforms', () => {
  it('drives only the platforms that have an adapter and workflow states', () => {
    for (const p of PLATFORMS) {
      expect(isBuiltPlatform(p)).toBe((BUILT_PLATFORMS as readonly string[]).includes(p));
    }
    expect(Object.keys(PLATFORM_STATES).sort()).toEqual([...BUILT_PLATFORMS].sort());
    expect(platformStates({ name: 'staging', platform: 'kubernetes' })).toEqual({
      startRollout: 'Set image',
      restore: 'Undo to previous revision',
    });
  });

  it('drives every platform the config may name (issue 11 built the last one, argo-rollouts)', () => {
    expect(PLATFORMS.filter((p) => !isBuiltPlatform(p))).toEqual([]);
  });

  it('refuses an unknown platform naming the ones it knows', () => {
    const { dir, line } = withStagingPlatform('nomad');
    const [problem] = problemsOf(dir);
    expect(problem).toContain(`environments.yaml:${line}: environments.staging.platform:`);
    expect(problem).toContain('"kubernetes"|"argo-rollouts"|"ecs"');
  });

  it('refuses to build workflow states or a workload adapter for a platform it cannot drive', () => {
    // A config built in code around the schema (the loader refuses such a platform with its line).
    const nomad = 'nomad' as Platform;
    expect(() => platformStates({ name: 'batch', platform: nomad })).toThrow(
      "environment 'batch': platform 'nomad' has no workflow states in this guardian (it drives: kubernetes, argo-rollouts, ecs)",
    );
    expect(() => resolvePort('workload', { name: 'legacy', platform: nomad })).toThrow(
      /platform 'nomad', which this guardian cannot drive yet/,
    );
  });
});

describe('the argo-rollouts platform in config (issue 11)', () => {
  it("refuses staging on argo-rollouts without argo.previewUrl, at the environment's line", () => {
    const { dir } = withStagingPlatform('argo-rollouts');
    expect(problemsOf(dir)).toContain(
      `${path.join(dir, 'environments.yaml')}:${lineOfEnvironment(dir, 'staging')}: environments.staging.argo: is required on platform argo-rollouts: argo.previewUrl, where the preview Service is reached (health check and canary analysis before promotion)`,
    );
  });

  it('refuses argo on another platform, and argo-rollouts without a namespace', () => {
    const foreign = configWith(dirs, (yaml) =>
      yaml.replace(
        '    platform: kubernetes\n',
        '    platform: kubernetes\n    argo: { previewUrl: https://preview.example.com }\n',
      ),
    );
    expect(problemsOf(foreign).join('\n')).toMatch(
      /environments\.staging\.argo: has no meaning on platform kubernetes: it is for platform argo-rollouts/,
    );
    const noNamespace = configWith(dirs, (yaml) => {
      const at = yaml.indexOf('  production-argo:');
      return yaml.slice(0, at) + yaml.slice(at).replace('    namespace: production\n', '');
    });
    expect(problemsOf(noNamespace).join('\n')).toMatch(
      /environments\.production-argo\.namespace: is required on platform argo-rollouts \(the Rollout's namespace\)/,
    );
  });

  it('refuses a previewUrl that is not an http(s) URL', () => {
    const bad = configWith(dirs, (yaml) =>
      yaml.replace('previewUrl: https://preview.api.buywhere.io', 'previewUrl: ftp://preview'),
    );
    expect(problemsOf(bad).join('\n')).toMatch(
      /environments\.production-argo\.argo\.previewUrl: must be an http\(s\) URL/,
    );
  });
});

/** The 1-based line of `  <name>:` in the copied environments.yaml. */
function lineOfEnvironment(dir: string, name: string): number {
  const lines = readFileSync(path.join(dir, 'environments.yaml'), 'utf8').split('\n');
  return lines.indexOf(`  ${name}:`) + 1;
}
