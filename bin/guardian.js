#!/usr/bin/env node
// The package bin: runs the compiled CLI (dist/cli, built by `npm ci` through `prepare`) when it
// is newer than every source it is built from; otherwise the TypeScript through tsx, which is
// slower to start, saying so once on stderr.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// The SDK's notice that releases after January 2027 need Node 22 would print on every command;
// the README says so once (the Lambda runtime is already Node 22).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const compiled = path.join(root, 'dist', 'cli', 'guardian.mjs');

/** The newest modification time of the TypeScript the CLI is built from. */
function newestSource() {
  let newest = statSync(path.join(root, 'bin', 'guardian.ts')).mtimeMs;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(path.join(root, 'lib'));
  walk(path.join(root, 'lambdas'));
  return newest;
}

if (existsSync(compiled) && statSync(compiled).mtimeMs >= newestSource()) {
  await import(pathToFileURL(compiled).href);
} else {
  process.stderr.write(
    `guardian: ${existsSync(compiled) ? 'the compiled CLI is older than the sources' : 'no compiled CLI'}; running the TypeScript (slower; \`npm run build\` compiles it)\n`,
  );
  const { register } = await import('tsx/esm/api');
  register();
  await import('./guardian.ts');
}
