/** The validated-config cache: a hit is the loader's result; any change to the files is a miss; errors are never cached. */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfigCached } from '../../lib/config/cached.ts';
import { ConfigError, DEFAULT_CONFIG_DIR, loadConfig } from '../../lib/config/load.ts';
import { configWith } from '../helpers/config.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('loadConfigCached', () => {
  it('gives exactly what the loader gives, from the cache on the second call', async () => {
    const first = await loadConfigCached(DEFAULT_CONFIG_DIR);
    const second = await loadConfigCached(DEFAULT_CONFIG_DIR);
    expect(first).toStrictEqual(loadConfig(DEFAULT_CONFIG_DIR));
    expect(second).toStrictEqual(first);
  });

  it('reads a changed file anew instead of answering from the cache', async () => {
    const dir = configWith(dirs, (y) => y.replace('deadlineSeconds: 300', 'deadlineSeconds: 240'));
    expect((await loadConfigCached(dir)).environments.staging?.rollout.deadlineSeconds).toBe(240);
    const file = path.join(dir, 'environments.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('deadlineSeconds: 240', 'deadlineSeconds: 200'));
    expect((await loadConfigCached(dir)).environments.staging?.rollout.deadlineSeconds).toBe(200);
  });

  it('never caches a config that fails: every load reports the loader’s own problems', async () => {
    const dir = configWith(dirs, (y) => y.replace('deadlineSeconds: 300', 'deadlineSeconds: -1'));
    const problems = async () => {
      try {
        await loadConfigCached(dir);
      } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
      }
      throw new Error('the config loaded');
    };
    const first = await problems();
    expect(first.join('\n')).toMatch(/environments\.yaml:\d+.*deadlineSeconds/);
    expect(await problems()).toEqual(first);
  });
});
