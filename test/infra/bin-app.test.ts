import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_DIR } from '../../lib/config/load.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('bin/app.ts', () => {
  it('exits 2 and names the file, line and key when the config is invalid', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'guardian-config-'));
    copyFileSync(
      path.join(DEFAULT_CONFIG_DIR, 'deployment-thresholds.yaml'),
      path.join(dir, 'deployment-thresholds.yaml'),
    );
    writeFileSync(
      path.join(dir, 'environments.yaml'),
      'environments:\n  staging:\n    cluster: c\n    colour: blue\n',
    );
    const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bin/app.ts')], {
      cwd: ROOT,
      env: { ...process.env, GUARDIAN_CONFIG_DIR: dir },
      encoding: 'utf8',
    });
    rmSync(dir, { recursive: true, force: true });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('configuration problem');
    expect(result.stderr).toContain(`${path.join(dir, 'environments.yaml')}:`);
    expect(result.stderr).toMatch(/staging\.colour: unknown key 'colour'/);
  });
});
