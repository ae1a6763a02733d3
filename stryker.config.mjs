// `npm run test:mutation`: StrykerJS over the core of the scheduler (the window limiter, the queue and
// the dispatch loop), run by vitest with the unit and property suites. Too slow for CI on 2 cores;
// the score is recorded in docs/development.md with the command that reproduced it.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  mutate: ['src/limit/**/*.ts', 'src/queue/**/*.ts', 'src/scheduler/**/*.ts'],
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.stryker.config.ts' },
  // Each mutant runs only the tests that cover it.
  coverageAnalysis: 'perTest',
  checkers: [],
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  concurrency: 2,
  // A mutant that makes the scheduler spin (a wake timer armed at 0 forever) is a kill, not a hang.
  timeoutMS: 20_000,
  timeoutFactor: 2,
  thresholds: { high: 85, low: 75, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
