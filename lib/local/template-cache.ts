/**
 * The synthesized templates the local runner executes, cached by a hash of everything they are
 * built from: the config, package.json (the CDK version) and the sources under lib/ and lambdas/
 * that build the app. A cache hit costs reading the sources (a few ms) instead of importing the
 * CDK and synthesizing (seconds); any change to those inputs is a miss and synthesizes again.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GuardianConfig } from '../config/schema.ts';
import { writeFileAtomic } from './state-files.ts';

/** The package root. Both lib/local/ and the compiled dist/cli/ sit two levels below it. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Where templates are cached: `node_modules/.cache/guardian/templates/<hash>.json`. */
export const TEMPLATE_CACHE_DIR = path.join(PACKAGE_ROOT, 'node_modules', '.cache', 'guardian', 'templates');

/** One environment's stack as synthesized. */
export interface CachedStack {
  readonly stackName: string;
  readonly region: string;
  readonly template: Record<string, unknown>;
}

/** Folders whose sources the template is built from; the CLI and the local runner are not among them. */
const SOURCE_DIRS = ['lib', 'lambdas'];
const NOT_TEMPLATE_SOURCES = new Set([path.join('lib', 'cli'), path.join('lib', 'local')]);

function sourceFiles(dir: string, rel: string, out: string[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const relPath = path.join(rel, entry.name);
    if (entry.isDirectory()) {
      if (!NOT_TEMPLATE_SOURCES.has(relPath)) sourceFiles(path.join(dir, entry.name), relPath, out);
    } else if (/\.(ts|json)$/.test(entry.name)) out.push(relPath);
  }
}

/** The hash of what the templates of `config` are built from. */
export function templateHash(config: GuardianConfig): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(config));
  hash.update(readFileSync(path.join(PACKAGE_ROOT, 'package.json')));
  const files: string[] = [];
  for (const dir of SOURCE_DIRS) sourceFiles(path.join(PACKAGE_ROOT, dir), dir, files);
  for (const file of files.sort()) {
    hash.update(`\0${file}\0`);
    hash.update(readFileSync(path.join(PACKAGE_ROOT, file)));
  }
  return hash.digest('hex').slice(0, 32);
}

/** Synthesizes the app without bundling (the steps run unbundled here) and returns each stack. */
async function synthesize(config: GuardianConfig): Promise<Record<string, CachedStack>> {
  const { buildApp } = await import('../app.ts');
  const { app, stacks } = buildApp({ config, bundle: false, nag: false });
  const assembly = app.synth();
  const out: Record<string, CachedStack> = {};
  for (const [envName, stack] of Object.entries(stacks)) {
    out[envName] = {
      stackName: stack.stackName,
      region: stack.region ?? 'ap-southeast-1',
      template: assembly.getStackByName(stack.stackName).template as Record<string, unknown>,
    };
  }
  return out;
}

/** Each environment's stack, from the cache when its inputs have not changed, else synthesized and cached. */
export async function stackTemplates(config: GuardianConfig): Promise<Record<string, CachedStack>> {
  const file = path.join(TEMPLATE_CACHE_DIR, `${templateHash(config)}.json`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, CachedStack>;
  } catch {
    // A miss (or a damaged entry, rewritten below): synthesize.
  }
  const stacks = await synthesize(config);
  try {
    mkdirSync(TEMPLATE_CACHE_DIR, { recursive: true });
    writeFileAtomic(file, JSON.stringify(stacks));
  } catch {
    // A read-only install still works; it synthesizes every time.
  }
  return stacks;
}
