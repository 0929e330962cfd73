// Compiles the `guardian` CLI and the local state service to dist/cli/ (run by `npm ci` through
// the `prepare` script), so commands start without transpiling TypeScript. Packages stay
// external (node_modules is there at run time). The output sits two folders below the package
// root like the sources in lib/<dir>/, so paths the code resolves from `import.meta.url`
// (the config folder, the package root) are the same compiled or not. Chunks are split so each
// command loads only the modules it imports.
import { rmSync } from 'node:fs';

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  console.error('guardian: esbuild is not installed (npm ci --omit=dev?); the CLI will run through tsx');
  process.exit(0);
}
rmSync('dist/cli', { recursive: true, force: true });
await esbuild.build({
  entryPoints: { guardian: 'bin/guardian.ts', 'state-service': 'lib/local/state-service-main.ts' },
  outdir: 'dist/cli',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Dependencies are bundled too (loading one chunk beats resolving hundreds of CJS files of the
  // AWS SDK), except those that must stay as installed: native modules and their users, the CDK
  // (only a template cache miss loads it, and it reads its own files), and the build tools.
  external: [
    'aws-cdk-lib',
    'aws-cdk-lib/*',
    'constructs',
    'cdk-nag',
    'dynalite',
    'level',
    'classic-level',
    'esbuild',
    'tsx',
    'tsx/*',
  ],
  banner: {
    js: "import { createRequire as __guardianCreateRequire } from 'node:module'; const require = __guardianCreateRequire(import.meta.url);",
  },
  sourcemap: 'linked',
  logLevel: 'warning',
});
