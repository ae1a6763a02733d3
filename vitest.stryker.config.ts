// The vitest configuration StrykerJS runs (stryker.config.mjs): the unit and property suites only, which
// drive the scheduler with fake timers and injected clocks; the integration suites use real time and
// sockets, and would make every mutant cost seconds. (Spread, not mergeConfig: that would append these
// globs to the base's instead of replacing them.)
import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/unit/**/*.test.ts', 'test/property/**/*.test.ts'],
    exclude: ['test/unit/bench/**', 'node_modules/**'],
  },
});
