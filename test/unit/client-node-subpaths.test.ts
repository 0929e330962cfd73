/**
 * The Kubernetes adapters import @kubernetes/client-node by subpath (`dist/...`), so the Lambda
 * bundles leave out the watch/exec/attach code the package index would pull in. Subpaths are not
 * a public contract: this test reads every such import from the source and fails, naming the
 * import, when an upgrade moves or renames one — before a bundle breaks at run time.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOTS = ['lambdas', 'lib'];
const IMPORT = /import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+'(@kubernetes\/client-node\/dist\/[^']+)'/g;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Every subpath import in the product code: file, module, and the names it takes from it. */
const imports = ROOTS.flatMap(sources).flatMap((file) =>
  [...readFileSync(file, 'utf8').matchAll(IMPORT)].map((m) => ({
    file,
    module: m[2] as string,
    names: (m[1] as string)
      .split(',')
      .map(
        (n) =>
          n
            .trim()
            .replace(/^type\s+/, '')
            .split(/\s+as\s+/)[0] as string,
      )
      .filter(Boolean),
  })),
);

describe('@kubernetes/client-node subpath imports', () => {
  it('are found in the adapters (the test would check nothing otherwise)', () => {
    expect(imports.length).toBeGreaterThanOrEqual(7);
    expect(imports.map((i) => i.file)).toContain(path.join('lambdas', 'adapters', 'kubernetes.ts'));
  });

  it.each(imports.map((i) => [`${i.module} (${i.file})`, i] as const))(
    'still exports what %s imports',
    async (_label, { module, names, file }) => {
      let mod: Record<string, unknown>;
      try {
        mod = (await import(module)) as Record<string, unknown>;
      } catch (err) {
        throw new Error(
          `${file} imports ${module}, which @kubernetes/client-node no longer has (${(err as Error).message}); find its new path in node_modules/@kubernetes/client-node/dist and update the import`,
        );
      }
      for (const name of names) {
        expect(mod[name], `${module} no longer exports ${name} (imported by ${file})`).toBeDefined();
      }
    },
  );
});
