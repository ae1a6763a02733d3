// What both consumers do with the entries they loaded: small, but each line uses the package for real.
'use strict';

exports.exercise = async function exercise(lib) {
  const { RateLimitedClient, TimeoutError, ClientClosedError, MemoryStore, rateLimit, RedisStore, StoreError, assert } = lib;
  assert.equal(typeof rateLimit, 'function');
  assert.equal(typeof MemoryStore, 'function');
  assert.equal(typeof StoreError, 'function');

  // The window: 2 per 100 ms, so the third start comes at least 100 ms after the first.
  const client = new RateLimitedClient({ rateLimit: { limit: 2, windowMs: 100 }, concurrency: 2 });
  const starts = [];
  await Promise.all([1, 2, 3].map(() => client.schedule(async () => void starts.push(performance.now()))));
  assert.equal(starts.length, 3);
  assert.ok(starts[2] - starts[0] >= 99, `third start ${starts[2] - starts[0]} ms after the first`);
  await client.close();
  await assert.rejects(
    client.schedule(async () => {}),
    ClientClosedError,
  );

  // Validation errors name the option.
  assert.throws(() => new RateLimitedClient({ concurrency: 0 }), /concurrency/);
  assert.ok(new TimeoutError('t', 'run', 1) instanceof Error);

  // The otel entry loads with its peer (@opentelemetry/api) and subscribes only while instrumented.
  const enqueue = require('node:diagnostics_channel').channel('rate-limited-client:task:enqueue');
  assert.equal(enqueue.hasSubscribers, false);
  const otel = lib.instrument();
  assert.equal(enqueue.hasSubscribers, true);
  otel.stop();
  assert.equal(enqueue.hasSubscribers, false);
  assert.throws(() => lib.instrument({ meterProvider: 42 }), /meterProvider/);

  // The meters entry: a client takes a meter, and windows that count its currencies.
  const metered = new RateLimitedClient({
    rateLimit: [
      { limit: 10, windowMs: 1_000 },
      { limit: 1_000, windowMs: 1_000, counts: 'tokens' },
    ],
    meter: lib.openai(),
  });
  assert.equal(typeof lib.anthropic().estimate, 'function');
  await metered.close();

  // The Redis store needs a client only when used: constructing it with a stand-in checks the entry.
  assert.throws(() => new RedisStore({}), /redis/i);

  // msw through the 'undici' transport, via the testing entry.
  const server = lib.setupServer(lib.http.get('http://api.test/item', () => lib.HttpResponse.json({ ok: true })));
  server.listen({ onUnhandledRequest: 'error' });
  try {
    const viaMsw = new RateLimitedClient({ baseUrl: 'http://api.test', transport: 'undici', dispatcher: lib.createMswDispatcher(server) });
    assert.deepEqual(await (await viaMsw.get('/item')).json(), { ok: true });
    await assert.rejects(
      viaMsw.get('/missing', { retry: false }),
      (error) => error instanceof lib.UnhandledRequestError || error.cause instanceof lib.UnhandledRequestError,
    );
    await viaMsw.close();
  } finally {
    server.close();
  }
};
