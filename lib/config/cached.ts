/**
 * The validated config, cached by a hash of the bytes it was read from and of the code that
 * validates it, so a command whose config has not changed skips the YAML parser and the schema
 * (the largest part of a read command's start). Only a config that validated is cached: a bad one
 * is loaded again every time, so its errors are always the loader's own, with file and line.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../local/state-files.ts';
import type { GuardianConfig } from './schema.ts';

const here = fileURLToPath(import.meta.url);
/** The package root: lib/config/ and the compiled dist/cli/ both sit two levels below it. */
const PACKAGE_ROOT = path.resolve(path.dirname(here), '../..');
/** The repository's own `config/` folder (as `load.ts` names it, without loading it). */
export const DEFAULT_CONFIG_DIR = path.join(PACKAGE_ROOT, 'config');
/** Where validated configs are kept: `node_modules/.cache/guardian/config/<hash>.json`. */
const CACHE_DIR = path.join(PACKAGE_ROOT, 'node_modules', '.cache', 'guardian', 'config');

/**
 * What the validation code is: the running module (the compiled CLI is one file per build) and,
 * when running from TypeScript, the loader and schema sources, by size and modification time.
 */
function validatorIdentity(): string {
  const files = here.endsWith('.ts')
    ? ['schema.ts', 'load.ts', 'timeouts.ts', 'cached.ts'].map((f) => path.join(path.dirname(here), f))
    : [here];
  return files
    .map((f) => {
      const s = statSync(f);
      return `${f}:${s.size}:${s.mtimeMs}`;
    })
    .join('\n');
}

/** The cache key of the config in `dir`, or `undefined` if a file cannot be read (the loader says why). */
function cacheKey(dir: string): string | undefined {
  try {
    const hash = createHash('sha256').update(validatorIdentity());
    for (const f of ['environments.yaml', 'deployment-thresholds.yaml']) {
      hash.update(`\0${f}\0`).update(readFileSync(path.join(dir, f)));
    }
    return hash.digest('hex').slice(0, 32);
  } catch {
    return undefined;
  }
}

/** `loadConfig(dir)`, from the cache when neither the files nor the validator changed. */
export async function loadConfigCached(dir: string = DEFAULT_CONFIG_DIR): Promise<GuardianConfig> {
  const key = cacheKey(dir);
  const file = key ? path.join(CACHE_DIR, `${key}.json`) : undefined;
  if (file) {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as GuardianConfig;
    } catch {
      // A miss, or a damaged entry: validate and write it anew.
    }
  }
  const { loadConfig } = await import('./load.ts');
  const config = loadConfig(dir);
  if (file) {
    try {
      mkdirSync(CACHE_DIR, { recursive: true });
      writeFileAtomic(file, JSON.stringify(config));
    } catch {
      // A read-only install validates every time.
    }
  }
  return config;
}
