// A CommonJS consumer of the packed package: every entry loads with require(), and works.
'use strict';
const assert = require('node:assert/strict');
const { RateLimitedClient, TimeoutError, ClientClosedError, MemoryStore, rateLimit } = require('rate-limited-client');
const { RedisStore, StoreError } = require('rate-limited-client/redis');
const { createMswDispatcher, UnhandledRequestError } = require('rate-limited-client/testing');
const { instrument } = require('rate-limited-client/otel');
const { openai, anthropic } = require('rate-limited-client/meters');
const { setupServer } = require('msw/node');
const { http, HttpResponse } = require('msw');
const { exercise } = require('./exercise.cjs');

exercise({
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
})
  .then(() => console.log('cjs consumer: ok'))
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
