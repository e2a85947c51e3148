import { fileURLToPath } from 'node:url';

import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Tests run the packages from source, imported by name as a processor author imports them.
    alias: {
      '@processor-orchestrator/sdk': fileURLToPath(new URL('./packages/sdk/src/index.ts', import.meta.url)),
      '@processor-orchestrator/testing': fileURLToPath(new URL('./src/testing/index.ts', import.meta.url)),
    },
  },
  test: {
    include: ['tests/**/*.test.ts', 'processors/**/*.test.ts'],
    globalSetup: ['tests/integration/emulator.global-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
