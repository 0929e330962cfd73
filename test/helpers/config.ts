/** Config-folder fixtures for tests: an edited copy of the shipped config, and its load problems. */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, DEFAULT_CONFIG_DIR, loadConfig } from '../../lib/config/load.ts';

/**
 * A copy of the shipped config folder with `edit` applied to environments.yaml; `dirs` collects
 * the folder for the caller's cleanup. Fails when the edit changes nothing.
 */
export function configWith(dirs: string[], edit: (yaml: string) => string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'guardian-config-'));
  dirs.push(dir);
  cpSync(DEFAULT_CONFIG_DIR, dir, { recursive: true });
  const file = path.join(dir, 'environments.yaml');
  const before = readFileSync(file, 'utf8');
  const after = edit(before);
  if (after === before) throw new Error('the edit changed nothing in environments.yaml');
  writeFileSync(file, after);
  return dir;
}

/** The problems `loadConfig(dir)` reports; fails the test when it loads. */
export function problemsOf(dir: string): readonly string[] {
  try {
    loadConfig(dir);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('the config loaded, but a problem was expected');
}
