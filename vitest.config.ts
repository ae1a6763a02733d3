import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // Integration tests measure real time on a 2-core machine; running files in parallel would let
    // one file's CPU load skew another's timing. Unit and property tests are fast either way.
    fileParallelism: false,
    testTimeout: 30_000,
    restoreMocks: true,
  },
});
