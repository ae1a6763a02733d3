import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'testing/index': 'src/testing/index.ts',
    'redis/index': 'src/redis.ts',
    'otel/index': 'src/otel/index.ts',
    'meters/index': 'src/meters/index.ts',
  },
  // Optional peer dependencies of the subpaths: the user's own copies, never bundled.
  external: ['msw', 'ioredis', '@opentelemetry/api'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  splitting: false,
  treeshake: true,
});
