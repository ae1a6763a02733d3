// A CommonJS consumer on a Node that can not require() ES modules (Node 20.18, or a newer Node run with
// --no-experimental-require-module). msw 2.15's CommonJS build requires an ES-module-only package
// (rettime), so the testing entry can not load there: it must fail with our error, which names the
// cause and the fix, not with msw's ERR_REQUIRE_ESM stack trace (issue 17, item 6). The other entries
// do not load msw and must still work.
'use strict';
const assert = require('node:assert/strict');

assert.equal(typeof require('rate-limited-client').RateLimitedClient, 'function');
assert.equal(typeof require('rate-limited-client/redis').RedisStore, 'function');

let thrown;
try {
  require('rate-limited-client/testing');
} catch (error) {
  thrown = error;
}
assert.ok(thrown, 'require("rate-limited-client/testing") should fail on a Node without require(esm)');
assert.equal(thrown.code, 'RLC_ERR_MSW_REQUIRE_ESM', `expected our error, got:\n${thrown.stack}`);
assert.equal(thrown.cause?.code, 'ERR_REQUIRE_ESM');
const version = process.version.replace(/[.]/g, '\\.');
assert.match(
  thrown.message,
  new RegExp(
    `^rate-limited-client/testing could not load msw from CommonJS on Node ${version}: msw \\d+\\.\\d+\\.\\d+'s CommonJS build requires \\S+, an ES-module-only package, and `,
  ),
);
assert.match(thrown.message, /with `import` from an ES module/);
console.log(`cjs consumer on Node ${process.version} without require(esm): ok, the testing entry says: ${thrown.message}`);
