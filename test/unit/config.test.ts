import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_DIR, loadConfig } from '../../lib/config/load.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the shipped config folder with `edit` applied to environments.yaml. */
function configWith(edit: (yaml: string) => string): string {
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

describe('requireVersionTag', () => {
  it('is set explicitly in the shipped config: staging accepts any tag, production needs a version', () => {
    const { environments } = loadConfig();
    expect(environments.staging?.requireVersionTag).toBe(false);
    expect(environments.production?.requireVersionTag).toBe(true);
    const yaml = readFileSync(path.join(DEFAULT_CONFIG_DIR, 'environments.yaml'), 'utf8');
    expect(yaml.match(/^ {4}requireVersionTag: (true|false)$/gm)).toHaveLength(2);
  });

  it('requires a version tag when an environment leaves the key out', () => {
    const dir = configWith((yaml) => yaml.replace(/^ {4}requireVersionTag: true\n/m, ''));
    expect(readFileSync(path.join(dir, 'environments.yaml'), 'utf8')).not.toMatch(/requireVersionTag: true/);
    expect(loadConfig(dir).environments.production?.requireVersionTag).toBe(true);
  });
});
