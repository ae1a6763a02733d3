import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

export default defineConfig({
  // Examples import the package by its name, as a user's code does; in this repository that name
  // means the sources (tsconfig.json's `paths` does the same for tsc and tsx).
  resolve: {
    alias: [
      { find: /^rate-limited-client$/, replacement: src('index.ts') },
      { find: /^rate-limited-client\/redis$/, replacement: src('redis.ts') },
      { find: /^rate-limited-client\/testing$/, replacement: src('testing/index.ts') },
      { find: /^rate-limited-client\/otel$/, replacement: src('otel/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    environment: 'node',
    // Integration tests measure real time on a 2-core machine; running files in parallel would let
    // one file's CPU load skew another's timing. Unit and property tests are fast either way.
    fileParallelism: false,
    testTimeout: 30_000,
    restoreMocks: true,
  },
});
