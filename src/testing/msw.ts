// msw's runtime values for the testing entry (only `getResponse`; the rest of msw is used as types).
//
// Why this is not a plain `import { getResponse } from 'msw'` (issue 17, item 6): in the CommonJS
// build that import becomes a `require('msw')` at the very top of dist/testing/index.cjs, before any
// code of ours runs. msw 2.15's CommonJS build require()s `rettime`, which ships only ES modules, so
// on a Node that can not require() ES modules (before 20.19 and 22.12) the user got msw's
// ERR_REQUIRE_ESM stack trace and nothing else. The CommonJS build therefore loads msw through
// requireMsw() (./msw-cjs.ts), inside a try/catch that rethrows that failure as our own error naming
// the cause and the fix. The ES module build keeps the static import, untouched.
//
// Which one a build gets is decided at build time: tsup defines `TSUP_FORMAT` as 'cjs' or 'esm' in
// each format's build, and esbuild drops the branch not taken. ./msw-esm.ts is a file of its own so
// that, once its export is unused, the CommonJS build leaves out the whole file and its import of msw
// (the package says `"sideEffects": false`); an `import` here would stay as a bare require('msw').
// Outside tsup (vitest, tsx) `TSUP_FORMAT` is not defined and the sources use the static import.
// test/package/check-consumers.mjs checks the packed build: the CommonJS error with require(esm)
// turned off and on Node 20.18.1, and the ES module consumer on Node 20.18.1.
import { getResponse as esmGetResponse } from './msw-esm.js';
import { requireMsw } from './msw-cjs.js';

declare const TSUP_FORMAT: 'esm' | 'cjs' | undefined;

export const getResponse: typeof esmGetResponse =
  typeof TSUP_FORMAT !== 'undefined' && TSUP_FORMAT === 'cjs' ? requireMsw().getResponse : esmGetResponse;
