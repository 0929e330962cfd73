import { defineConfig } from 'vitest/config';

/**
 * `npm run test:integration`: the tests that need real servers (tools/kube/cluster.sh starts the
 * Kubernetes control plane around this run and stops it afterwards, whatever happens).
 */
export default defineConfig({
  test: {
    include: ['test/integration/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    globalSetup: ['test/integration/global-setup.ts'],
    testTimeout: 240_000,
    hookTimeout: 240_000,
    pool: 'forks',
    // One control plane serves every file; running them one at a time keeps its timing honest.
    fileParallelism: false,
  },
});
