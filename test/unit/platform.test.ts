import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BUILT_PLATFORMS, isBuiltPlatform, PLATFORMS } from '../../lambdas/core/workload.ts';
import { resolvePort } from '../../lambdas/ports/table.ts';
import { ConfigError, DEFAULT_CONFIG_DIR, loadConfig } from '../../lib/config/load.ts';
import { PLATFORM_STATES, platformStates } from '../../lib/constructs/platform-states.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the shipped config with staging's platform set to `platform`; its line number. */
function withStagingPlatform(platform: string): { dir: string; line: number } {
  const dir = mkdtempSync(path.join(tmpdir(), 'guardian-platform-'));
  dirs.push(dir);
  cpSync(DEFAULT_CONFIG_DIR, dir, { recursive: true });
  const file = path.join(dir, 'environments.yaml');
  const lines = readFileSync(file, 'utf8').split('\n');
  const line = lines.indexOf('    platform: kubernetes');
  if (line < 0) throw new Error('no platform line in the shipped environments.yaml');
  lines[line] = `    platform: ${platform}`;
  writeFileSync(file, lines.join('\n'));
  return { dir, line: line + 1 };
}

function configProblems(dir: string): readonly string[] {
  try {
    loadConfig(dir);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('the config loaded');
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

  it.each(PLATFORMS.filter((p) => !isBuiltPlatform(p)))(
    'refuses platform %s at config load with the file, line and the platforms it drives',
    (platform) => {
      const { dir, line } = withStagingPlatform(platform);
      const problems = configProblems(dir);
      expect(problems).toEqual([
        `${path.join(dir, 'environments.yaml')}:${line}: environments.staging.platform: platform '${platform}' is not available in this guardian yet; it drives: kubernetes`,
      ]);
    },
  );

  it('refuses an unknown platform naming the ones it knows', () => {
    const { dir, line } = withStagingPlatform('nomad');
    const [problem] = configProblems(dir);
    expect(problem).toContain(`environments.yaml:${line}: environments.staging.platform:`);
    expect(problem).toContain('"kubernetes"|"argo-rollouts"|"ecs"');
  });

  it('refuses to build workflow states or a workload adapter for a platform it cannot drive', () => {
    expect(() => platformStates({ name: 'legacy', platform: 'ecs' })).toThrow(
      "environment 'legacy': platform 'ecs' has no workflow states in this guardian (it drives: kubernetes)",
    );
    expect(() => resolvePort('workload', { name: 'legacy', platform: 'argo-rollouts' })).toThrow(
      /platform 'argo-rollouts', which this guardian cannot drive yet/,
    );
  });
});
