import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../lib/app.ts';
import { stepFunctionsOfTemplate } from '../../lib/template.ts';
import { synthesized } from './fixtures.ts';

describe('bundling', () => {
  const outdir = mkdtempSync(path.join(tmpdir(), 'guardian-bundle-'));
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('bundles every handler into one minified ESM file that loads on Node', async () => {
    const staging = synthesized().config.environments.staging;
    if (!staging) throw new Error('no staging environment');
    const { stacks } = buildApp({ config: { environments: { staging } }, outdir, nag: false });
    const template = Template.fromStack(stacks.staging as NonNullable<typeof stacks.staging>);
    const resources = template.toJSON().Resources;
    const steps = stepFunctionsOfTemplate(template);
    expect(Object.keys(steps)).toHaveLength(8);
    for (const [id, step] of Object.entries(steps)) {
      const key = String(resources[id].Properties.Code.S3Key);
      const assetDir = path.join(outdir, `asset.${key.replace(/\.zip$/, '')}`);
      expect(readdirSync(assetDir), step).toEqual(['index.mjs']);
      const code = readFileSync(path.join(assetDir, 'index.mjs'), 'utf8');
      expect(code.startsWith("import { createRequire as __guardianCreateRequire } from 'node:module';")).toBe(
        true,
      );
      expect(code).not.toContain('sourceMappingURL');
      // Minified: far fewer lines than characters would suggest.
      expect(code.split('\n').length).toBeLessThan(code.length / 1000);
    }
    const [firstId] = Object.keys(steps);
    const firstKey = String(resources[firstId ?? ''].Properties.Code.S3Key).replace(/\.zip$/, '');
    const bundle = path.join(outdir, `asset.${firstKey}`, 'index.mjs');
    expect(existsSync(bundle)).toBe(true);
    const mod = (await import(pathToFileURL(bundle).href)) as { handler?: unknown };
    expect(typeof mod.handler).toBe('function');
  }, 120_000);
});
