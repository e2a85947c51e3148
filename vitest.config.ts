import { fileURLToPath } from 'node:url';

import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Tests run the SDK from source, as plugin authors' code imports it through package exports.
    alias: {
      'processor-orchestrator/sdk': fileURLToPath(new URL('./src/sdk/index.ts', import.meta.url)),
      'processor-orchestrator/testing': fileURLToPath(new URL('./src/sdk/testing.ts', import.meta.url)),
    },
  },
  test: {
    include: ['tests/**/*.test.ts', 'processors/**/*.test.ts'],
    globalSetup: ['tests/integration/emulator.global-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
