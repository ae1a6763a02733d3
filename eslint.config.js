// @ts-check
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

/**
 * Lint with type information: in a library made of promises, the rules that need the types
 * (floating and misused promises, awaited non-promises, switches that miss a case) are the ones that
 * find bugs. strictTypeChecked, with the rules that only disagree with this codebase's deliberate
 * style relaxed below, each with the reason.
 */
export default defineConfig(
  // Build, coverage and mutation output, bench results, and people's scratch folders (git ignores
  // those too; ESLint does not read .gitignore).
  globalIgnores([
    'dist/',
    'coverage/',
    'reports/',
    '.stryker-tmp/',
    'bench/results/',
    'node_modules/',
    'scratch/',
    'docs/api/',
    'test/integration/.readme-*/',
  ]),
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // tsconfig.json includes src, test, examples, bench and the root .ts configs.
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // The promise rules are the point of linting with types: strict everywhere, tests included.
      // `void promise` stays the way to say "fire and forget, on purpose" (with a comment why).
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        // A `default` that handles the rest on purpose is fine; an enum-like union that gains a
        // member must still be matched where there is no default.
        { considerDefaultExhaustiveForUnions: true },
      ],

      // Numbers, booleans and null/undefined read fine in messages and logs (`${ms} ms`, `exit code
      // ${code}`); objects and arrays, which print as [object Object] or join silently, stay flagged.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowNullish: true }],
      // `() => resolve()` and an early `return done()` are this codebase's idiom; TypeScript already
      // refuses a void value where a value is used.
      '@typescript-eslint/no-confusing-void-expression': 'off',
      // Empty functions here are deliberate: `noop`/`ignore` listeners, `.catch(() => {})` on a
      // rejection that is already handled elsewhere, and stubs in tests.
      '@typescript-eslint/no-empty-function': 'off',
      // It asks for `value!` where the code writes `value as T`, which no-non-null-assertion forbids:
      // the two contradict each other; src keeps no `!`.
      '@typescript-eslint/non-nullable-type-assertion-style': 'off',
      // `T[]` for a simple element type, `Array<...>` for a composite one, as the code already writes.
      '@typescript-eslint/array-type': ['error', { default: 'array-simple' }],
      // Rejecting with a reason received from elsewhere (a task's error, an abort signal's reason) passes
      // it through unchanged; only a reason the code makes up itself must be an Error.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      // `async () => queue.clear()` is how a synchronous body meets an interface that returns a
      // promise (and a throw becomes a rejection); a forgotten `await` is no-floating-promises' catch.
      '@typescript-eslint/require-await': 'off',
      // `interface TaskMessage extends core.TaskMessage<RateLimitedClient> {}` gives an instantiation a
      // name of its own in the API reference (src/diagnostics.ts); an empty interface extending nothing
      // stays flagged.
      '@typescript-eslint/no-empty-object-type': ['error', { allowInterfaces: 'with-single-extends' }],
      // `_name` marks a parameter or a destructured element kept for its position.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    files: ['test/**', '**/*.test.ts'],
    rules: {
      // A test looks up what it has just put there; `!` says so without a runtime check that would
      // only repeat the assertion that follows.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // `expect(mock.method).toHaveBeenCalled()` passes a method without calling it, which is what
      // vitest's matchers take.
      '@typescript-eslint/unbound-method': 'off',
      // vitest's asymmetric matchers (`expect.any(Number)`, `expect.stringMatching(...)`) are typed
      // `any` so that they fit any field of an expected object.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      // Tests guard their cleanup against a setup that failed half-way (`await server?.stop()` where
      // beforeAll may not have got that far) and wait on flags that callbacks set (`while (!idle)`),
      // which the rule, reading the declared types and narrowings, takes for constants.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // A test knows what its promise rejects with (`.catch((error: Error) => error.message)`); a wrong
      // guess fails the assertion that follows.
      '@typescript-eslint/use-unknown-in-catch-callback-variable': 'off',
    },
  },
  {
    // Plain JavaScript (the package consumers, a bench helper, the root configs): no type information
    // to lint with, and they run under Node, so Node's globals exist.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      globals: {
        console: 'readonly',
        process: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        performance: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
      },
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', exports: 'writable', __dirname: 'readonly' },
    },
    rules: {
      // A CommonJS consumer is the point of these files.
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
);
