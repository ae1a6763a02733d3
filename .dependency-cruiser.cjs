/**
 * `npm run check:cycles` (part of `npm test`): the layering of src/ (STYLE.md, "Layering") as rules,
 * so it stays so. Floors, not a web: core/ imports nothing of ours above it; limit/ and queue/ use only
 * core/ (and the error classes, on its floor); nothing imports the entry files; and no import cycle anywhere, type-only imports included
 * (a type a lower floor needs from a higher one moves down, it is not imported up).
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'An import cycle ties floors together: move the shared piece down instead.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'core-is-the-ground-floor',
      severity: 'error',
      comment:
        'core/ (options, validation, clock, events, diagnostics, the store contract) imports nothing of ours above it; the error classes (errors/) stand on the same floor.',
      from: { path: '^src/core/' },
      to: { path: '^src/', pathNot: '^src/(core|errors)/' },
    },
    {
      name: 'limit-and-queue-use-only-core',
      severity: 'error',
      comment: 'The window limiter, the semaphore and the queue are building blocks: they know only core/.',
      from: { path: '^src/(limit|queue)/' },
      to: { path: '^src/', pathNot: '^src/(core|errors|limit|queue)/' },
    },
    {
      name: 'meters-use-only-core',
      severity: 'error',
      comment: 'A meter reads requests and responses: it knows the contract in core/ and nothing of the client.',
      from: { path: '^src/meters/' },
      to: { path: '^src/', pathNot: '^src/(core|errors|meters)/' },
    },
    {
      name: 'no-importing-entry-points',
      severity: 'error',
      comment: 'The entry files (index, redis, otel, testing) are for users; inside src/ import the module itself.',
      from: { path: '^src/' },
      to: { path: '^src/(index|redis)\\.ts$|^src/(otel|testing|meters)/index\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    // Type-only imports count: a cycle through types is still a web of floors.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
