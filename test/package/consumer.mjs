// An ES module consumer of the packed package: every entry loads with import, and works. Also checks
// that an error from the CommonJS build is `instanceof` the ES build's class (two copies in one process).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { RateLimitedClient, TimeoutError, ClientClosedError, MemoryStore, rateLimit } from 'rate-limited-client';
import { RedisStore, StoreError } from 'rate-limited-client/redis';
import { createMswDispatcher, UnhandledRequestError } from 'rate-limited-client/testing';
import { instrument } from 'rate-limited-client/otel';
import { openai, anthropic } from 'rate-limited-client/meters';
import { setupServer } from 'msw/node';
import { http, HttpResponse } from 'msw';

const require = createRequire(import.meta.url);
const { exercise } = require('./exercise.cjs');
const cjs = require('rate-limited-client');
assert.notEqual(cjs.TimeoutError, TimeoutError, 'the CommonJS and ES builds should be two copies here');
assert.ok(new cjs.TimeoutError('t', 'run', 1) instanceof TimeoutError, 'instanceof across the two builds');

await exercise({
  RateLimitedClient,
  TimeoutError,
  ClientClosedError,
  MemoryStore,
  rateLimit,
  RedisStore,
  StoreError,
  createMswDispatcher,
  UnhandledRequestError,
  setupServer,
  http,
  HttpResponse,
  instrument,
  openai,
  anthropic,
  assert,
});
console.log('esm consumer: ok');
