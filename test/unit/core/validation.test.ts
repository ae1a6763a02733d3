import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RateLimitedClient } from '../../../src/index.js';

type ErrorKind = typeof TypeError | typeof RangeError;

interface Case {
  /** What is wrong, used as the test name. */
  name: string;
  error: ErrorKind;
  /** Pieces the message must contain: the option's name, and the value and type that were given. */
  has: ReadonlyArray<string | RegExp>;
  /** The whole message, for a few cases. */
  exact?: string;
}

interface ConstructorCase extends Case {
  options: unknown;
}

interface RejectCase extends Case {
  call: (client: RateLimitedClient) => Promise<unknown>;
}

interface ThrowCase extends Case {
  call: (client: RateLimitedClient) => unknown;
}

/** The error `fn` throws synchronously; fails the test when it throws nothing. */
function thrownBy(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  return expect.unreachable('expected a synchronous throw');
}

function expectError(error: unknown, c: Case): void {
  expect(error).toBeInstanceOf(Error);
  // Exactly the expected class: a RangeError where a TypeError is due (or the reverse) is a failure.
  expect((error as Error).constructor).toBe(c.error);
  const message = (error as Error).message;
  if (c.exact !== undefined) expect(message).toBe(c.exact);
  for (const piece of c.has) {
    if (typeof piece === 'string') expect(message).toContain(piece);
    else expect(message).toMatch(piece);
  }
}

const OK_WINDOW = { limit: 10, windowMs: 1_000 };

const constructorCases: ConstructorCase[] = [
  // concurrency
  {
    name: 'concurrency 0',
    options: { concurrency: 0 },
    error: RangeError,
    has: ['`concurrency`', '`0` (number)'],
    exact: 'Expected `concurrency` to be an integer >= 1, got `0` (number)',
  },
  { name: 'concurrency -1', options: { concurrency: -1 }, error: RangeError, has: ['`concurrency`', '`-1` (number)'] },
  { name: 'concurrency 1.5', options: { concurrency: 1.5 }, error: RangeError, has: ['`concurrency`', '`1.5` (number)'] },
  { name: 'concurrency NaN', options: { concurrency: Number.NaN }, error: RangeError, has: ['`concurrency`', '`NaN` (number)'] },
  {
    name: 'concurrency Infinity',
    options: { concurrency: Infinity },
    error: RangeError,
    has: ['`concurrency`', '`Infinity` (number)'],
  },
  {
    name: "concurrency '5' (string)",
    options: { concurrency: '5' },
    error: TypeError,
    has: ['`concurrency`', '`"5"` (string)'],
    exact: 'Expected `concurrency` to be an integer >= 1, got `"5"` (string)',
  },
  { name: 'concurrency null', options: { concurrency: null }, error: TypeError, has: ['`concurrency`', '`null` (null)'] },
  { name: 'concurrency true', options: { concurrency: true }, error: TypeError, has: ['`concurrency`', '`true` (boolean)'] },
  { name: 'concurrency [4] (array)', options: { concurrency: [4] }, error: TypeError, has: ['`concurrency`', '(array)'] },
  // name
  {
    name: "name '' (empty)",
    options: { name: '' },
    error: RangeError,
    has: ['`name`'],
    exact: 'Expected `name` to be a non-empty string, got `""` (string)',
  },
  { name: 'name 42 (number)', options: { name: 42 }, error: TypeError, has: ['`name`', '`42` (number)'] },
  { name: 'name null', options: { name: null }, error: TypeError, has: ['`name`', '`null` (null)'] },
  // workers
  { name: 'workers 0', options: { workers: 0 }, error: RangeError, has: ['`workers`', '`0` (number)'] },
  { name: 'workers 2.5', options: { workers: 2.5 }, error: RangeError, has: ['`workers`', '`2.5` (number)'] },
  { name: 'workers Infinity', options: { workers: Infinity }, error: RangeError, has: ['`workers`', '`Infinity` (number)'] },
  { name: "workers '4' (string)", options: { workers: '4' }, error: TypeError, has: ['`workers`', '`"4"` (string)'] },
  // the options object itself
  { name: 'options as an array', options: [], error: TypeError, has: ['`options`', '(array)'] },
  { name: 'options as a string', options: 'fast', error: TypeError, has: ['`options`', '`"fast"` (string)'] },
  { name: 'options as a number', options: 10, error: TypeError, has: ['`options`', '`10` (number)'] },
  {
    name: 'unknown option `concurency` (typo)',
    options: { concurency: 5 },
    error: TypeError,
    has: ['`concurency`'],
    exact:
      'Unknown option `concurency`; expected one of `name`, `concurrency`, `workers`, `rateLimit`, `queue`, `clock`, `store`, `perKey`, `idleKeyMs`, `fairness`, `baseUrl`, `headers`, `timeoutMs`, `transport`, `dispatcher`, `allowAbsoluteUrls`, `secretHeaders`, `retry`, `adaptive`, `meter`',
  },
  // queue
  { name: 'queue as an array', options: { queue: [] }, error: TypeError, has: ['`queue`', '(array)'] },
  { name: 'queue null', options: { queue: null }, error: TypeError, has: ['`queue`', '`null` (null)'] },
  { name: "queue 'reject' (string)", options: { queue: 'reject' }, error: TypeError, has: ['`queue`', '`"reject"` (string)'] },
  {
    name: 'unknown key `queue.maxsize`',
    options: { queue: { maxsize: 10 } },
    error: TypeError,
    has: ['`queue.maxsize`', '`maxSize`', '`overflow`'],
  },
  {
    name: 'queue.maxSize 0',
    options: { queue: { maxSize: 0 } },
    error: RangeError,
    has: ['`queue.maxSize`', '`0` (number)'],
    exact: 'Expected `queue.maxSize` to be an integer >= 1 or Infinity, got `0` (number)',
  },
  { name: 'queue.maxSize -1', options: { queue: { maxSize: -1 } }, error: RangeError, has: ['`queue.maxSize`', '`-1` (number)'] },
  { name: 'queue.maxSize 1.5', options: { queue: { maxSize: 1.5 } }, error: RangeError, has: ['`queue.maxSize`', '`1.5` (number)'] },
  {
    name: 'queue.maxSize NaN',
    options: { queue: { maxSize: Number.NaN } },
    error: RangeError,
    has: ['`queue.maxSize`', '`NaN` (number)'],
  },
  {
    name: "queue.maxSize '10' (string)",
    options: { queue: { maxSize: '10' } },
    error: TypeError,
    has: ['`queue.maxSize`', '`"10"` (string)'],
  },
  {
    name: "queue.overflow 'drop-newest' (not one of the four)",
    options: { queue: { maxSize: 10, overflow: 'drop-newest' } },
    error: RangeError,
    has: ['`queue.overflow`', '`"drop-newest"` (string)'],
    exact:
      "Expected `queue.overflow` to be one of 'block', 'reject', 'drop-oldest', 'drop-lowest-priority', got `\"drop-newest\"` (string)",
  },
  {
    name: 'queue.overflow 1 (number)',
    options: { queue: { maxSize: 10, overflow: 1 } },
    error: TypeError,
    has: ['`queue.overflow`', '`1` (number)'],
  },
  {
    name: "queue.overflow 'reject' without a finite queue.maxSize",
    options: { queue: { overflow: 'reject' } },
    error: TypeError,
    has: ['`queue.overflow`', "'reject'", '`queue.maxSize`'],
    exact: "The `queue.overflow` option 'reject' requires a finite `queue.maxSize`: an unbounded queue never overflows",
  },
  {
    name: "queue.overflow 'drop-oldest' with queue.maxSize Infinity",
    options: { queue: { maxSize: Infinity, overflow: 'drop-oldest' } },
    error: TypeError,
    has: ['`queue.overflow`', "'drop-oldest'", '`queue.maxSize`'],
  },
  // rateLimit: one window
  { name: 'rateLimit 5 (number)', options: { rateLimit: 5 }, error: TypeError, has: ['`rateLimit`', '`5` (number)'] },
  { name: 'rateLimit null', options: { rateLimit: null }, error: TypeError, has: ['`rateLimit`', '`null` (null)'] },
  {
    name: 'rateLimit.limit 0',
    options: { rateLimit: { limit: 0, windowMs: 1_000 } },
    error: RangeError,
    has: ['`rateLimit.limit`', '`0` (number)'],
    exact: 'Expected `rateLimit.limit` to be an integer >= 1, got `0` (number)',
  },
  {
    name: 'rateLimit.limit 2.5',
    options: { rateLimit: { limit: 2.5, windowMs: 1_000 } },
    error: RangeError,
    has: ['`rateLimit.limit`', '`2.5` (number)'],
  },
  {
    name: 'rateLimit.limit Infinity',
    options: { rateLimit: { limit: Infinity, windowMs: 1_000 } },
    error: RangeError,
    has: ['`rateLimit.limit`', '`Infinity` (number)'],
  },
  {
    name: "rateLimit.limit '10' (string)",
    options: { rateLimit: { limit: '10', windowMs: 1_000 } },
    error: TypeError,
    has: ['`rateLimit.limit`', '`"10"` (string)'],
  },
  {
    name: 'rateLimit.windowMs 0',
    options: { rateLimit: { limit: 10, windowMs: 0 } },
    error: RangeError,
    has: ['`rateLimit.windowMs`', '`0` (number)'],
    exact: 'Expected `rateLimit.windowMs` to be a finite number > 0, got `0` (number)',
  },
  {
    name: 'rateLimit.windowMs -5',
    options: { rateLimit: { limit: 10, windowMs: -5 } },
    error: RangeError,
    has: ['`rateLimit.windowMs`', '`-5` (number)'],
  },
  {
    name: 'rateLimit.windowMs Infinity',
    options: { rateLimit: { limit: 10, windowMs: Infinity } },
    error: RangeError,
    has: ['`rateLimit.windowMs`', '`Infinity` (number)'],
  },
  {
    name: 'rateLimit.windowMs NaN',
    options: { rateLimit: { limit: 10, windowMs: Number.NaN } },
    error: RangeError,
    has: ['`rateLimit.windowMs`', '`NaN` (number)'],
  },
  {
    name: 'rateLimit.windowMs missing',
    options: { rateLimit: { limit: 10 } },
    error: TypeError,
    has: ['`rateLimit.windowMs`', '`undefined` (undefined)'],
  },
  {
    name: 'unknown key `rateLimit.bursts` inside a window (a typo of `burst`)',
    options: { rateLimit: { limit: 10, windowMs: 1_000, bursts: 2 } },
    error: TypeError,
    has: ['`rateLimit.bursts`', '`limit`', '`windowMs`', '`burst`'],
  },
  {
    name: 'rateLimit.burst 0',
    options: { rateLimit: { limit: 10, windowMs: 1_000, burst: 0 } },
    error: RangeError,
    has: ['`rateLimit.burst`', 'integer >= 1', '`0` (number)'],
  },
  {
    name: 'rateLimit.burst 1.5',
    options: { rateLimit: { limit: 10, windowMs: 1_000, burst: 1.5 } },
    error: RangeError,
    has: ['`rateLimit.burst`', '`1.5` (number)'],
  },
  {
    name: 'rateLimit.burst a string',
    options: { rateLimit: { limit: 10, windowMs: 1_000, burst: '5' } },
    error: TypeError,
    has: ['`rateLimit.burst`', '`"5"` (string)'],
  },
  // rateLimit: an array of windows
  {
    name: 'rateLimit[1].limit 0',
    options: { rateLimit: [OK_WINDOW, { limit: 0, windowMs: 60_000 }] },
    error: RangeError,
    has: ['`rateLimit[1].limit`', '`0` (number)'],
    exact: 'Expected `rateLimit[1].limit` to be an integer >= 1, got `0` (number)',
  },
  {
    name: "rateLimit[1].windowMs '1s' (string)",
    options: { rateLimit: [OK_WINDOW, { limit: 5, windowMs: '1s' }] },
    error: TypeError,
    has: ['`rateLimit[1].windowMs`', '`"1s"` (string)'],
  },
  {
    name: 'rateLimit[1] null',
    options: { rateLimit: [OK_WINDOW, null] },
    error: TypeError,
    has: ['`rateLimit[1]`', '`null` (null)'],
  },
  {
    name: 'unknown key `rateLimit[0].windowMS` inside an array window',
    options: { rateLimit: [{ limit: 10, windowMS: 1_000 }] },
    error: TypeError,
    has: ['`rateLimit[0].windowMS`'],
  },
  // clock
  {
    name: "clock 'performance' (string)",
    options: { clock: 'performance' },
    error: TypeError,
    has: ['`clock`', '`"performance"` (string)'],
  },
  { name: 'clock null', options: { clock: null }, error: TypeError, has: ['`clock`', '`null` (null)'] },
  {
    name: 'clock {} without now()',
    options: { clock: {} },
    error: TypeError,
    // Must say what was given, like every other option (the object, or its `now` of type undefined).
    has: ['`clock`', 'now()', /got `[^`]*` \((object|undefined)\)/],
  },
  {
    name: 'clock { now: 5 } (now not a function)',
    options: { clock: { now: 5 } },
    error: TypeError,
    has: ['`clock`', 'now()', /got `[^`]*` \((object|number)\)/],
  },
  {
    name: 'store a string',
    options: { store: 'redis://127.0.0.1' },
    error: TypeError,
    has: ['`store`', 'RedisStore', /got `[^`]*` \(string\)/],
  },
  {
    name: 'store an object without acquire()',
    options: { store: { open() {}, setLimits() {}, earliestWait() {}, settle() {}, amend() {}, release() {}, usage() {}, close() {} } },
    error: TypeError,
    has: ['`store`', '`acquire` is not a function'],
  },
];

describe('constructor options: a bad value throws synchronously, naming the option, the value and its type', () => {
  it.each(constructorCases)('$name', (c) => {
    const error = thrownBy(() => new RateLimitedClient(c.options as never));
    expectError(error, c);
  });

  it('has at least 35 constructor cases', () => {
    expect(constructorCases.length).toBeGreaterThanOrEqual(35);
  });

  it('accepts the boundary values next to the refused ones', () => {
    expect(
      () =>
        new RateLimitedClient({
          concurrency: 1,
          workers: 1,
          rateLimit: [{ limit: 1, windowMs: 0.5 }],
          queue: { maxSize: 1, overflow: 'reject' },
          clock: { now: () => 0 },
        }),
    ).not.toThrow();
    expect(() => new RateLimitedClient({ queue: { maxSize: Infinity, overflow: 'block' } })).not.toThrow();
  });
});

describe('nothing half-built', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each(constructorCases)('a constructor that throws leaves no timers: $name', (c) => {
    expect(() => new RateLimitedClient(c.options as never)).toThrow(c.error);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a bad option after good ones (the clock, checked last) still leaves no timers', () => {
    expect(
      () =>
        new RateLimitedClient({
          concurrency: 2,
          rateLimit: OK_WINDOW,
          queue: { maxSize: 5, overflow: 'drop-oldest' },
          clock: {} as never,
        }),
    ).toThrow(TypeError);
    expect(vi.getTimerCount()).toBe(0);
  });
});

// concurrency 4; windows of 10 per second and 3 per minute.
function makeClient(): RateLimitedClient {
  return new RateLimitedClient({
    concurrency: 4,
    rateLimit: [OK_WINDOW, { limit: 3, windowMs: 60_000 }],
    clock: { now: () => Date.now() },
  });
}

const task = (): string => 'ran';

const scheduleCases: RejectCase[] = [
  // the task
  {
    name: "task 'notafunction' (string)",
    call: (c) => c.schedule('notafunction' as never),
    error: TypeError,
    has: ['`task`', '`"notafunction"` (string)'],
  },
  {
    name: 'task undefined',
    call: (c) => c.schedule(undefined as never),
    error: TypeError,
    has: ['`task`', '`undefined` (undefined)'],
  },
  // priority
  {
    name: 'priority NaN',
    call: (c) => c.schedule(task, { priority: Number.NaN }),
    error: RangeError,
    has: ['`priority`', '`NaN` (number)'],
    exact: 'Expected `priority` to be a finite number, got `NaN` (number)',
  },
  {
    name: 'priority Infinity',
    call: (c) => c.schedule(task, { priority: Infinity }),
    error: RangeError,
    has: ['`priority`', '`Infinity` (number)'],
  },
  {
    name: 'priority -Infinity',
    call: (c) => c.schedule(task, { priority: -Infinity }),
    error: RangeError,
    has: ['`priority`', '`-Infinity` (number)'],
  },
  {
    name: "priority 'high' (string)",
    call: (c) => c.schedule(task, { priority: 'high' as never }),
    error: TypeError,
    has: ['`priority`', '`"high"` (string)'],
  },
  // weight
  {
    name: 'weight 0',
    call: (c) => c.schedule(task, { weight: 0 }),
    error: RangeError,
    has: ['`weight`', '`0` (number)'],
    exact: 'Expected `weight` to be an integer >= 1, got `0` (number)',
  },
  { name: 'weight 1.5', call: (c) => c.schedule(task, { weight: 1.5 }), error: RangeError, has: ['`weight`', '`1.5` (number)'] },
  { name: 'weight -1', call: (c) => c.schedule(task, { weight: -1 }), error: RangeError, has: ['`weight`', '`-1` (number)'] },
  {
    name: "weight '2' (string)",
    call: (c) => c.schedule(task, { weight: '2' as never }),
    error: TypeError,
    has: ['`weight`', '`"2"` (string)'],
  },
  {
    name: 'weight 5 > concurrency 4',
    call: (c) => c.schedule(task, { weight: 5 }),
    error: RangeError,
    has: ['`weight`', 'at most 4', '`concurrency`', '`5` (number)'],
  },
  {
    name: 'weight 4 > limit 3 of the 60000 ms window',
    call: (c) => c.schedule(task, { weight: 4 }),
    error: RangeError,
    has: ['`weight`', 'at most 3', '`limit`', '60000 ms window', '`4` (number)'],
  },
  // timeoutMs
  {
    name: 'timeoutMs 0',
    call: (c) => c.schedule(task, { timeoutMs: 0 }),
    error: RangeError,
    has: ['`timeoutMs`', '`0` (number)'],
    exact: 'Expected `timeoutMs` to be a number > 0 (Infinity for none), got `0` (number)',
  },
  { name: 'timeoutMs -1', call: (c) => c.schedule(task, { timeoutMs: -1 }), error: RangeError, has: ['`timeoutMs`', '`-1` (number)'] },
  {
    name: 'timeoutMs NaN',
    call: (c) => c.schedule(task, { timeoutMs: Number.NaN }),
    error: RangeError,
    has: ['`timeoutMs`', '`NaN` (number)'],
  },
  {
    name: "timeoutMs '100' (string)",
    call: (c) => c.schedule(task, { timeoutMs: '100' as never }),
    error: TypeError,
    has: ['`timeoutMs`', '`"100"` (string)'],
  },
  // maxWaitMs
  { name: 'maxWaitMs -1', call: (c) => c.schedule(task, { maxWaitMs: -1 }), error: RangeError, has: ['`maxWaitMs`', '`-1` (number)'] },
  {
    name: 'maxWaitMs NaN',
    call: (c) => c.schedule(task, { maxWaitMs: Number.NaN }),
    error: RangeError,
    has: ['`maxWaitMs`', '`NaN` (number)'],
    exact: 'Expected `maxWaitMs` to be a number >= 0 (Infinity for none), got `NaN` (number)',
  },
  // signal
  {
    name: 'signal {} (not an AbortSignal)',
    call: (c) => c.schedule(task, { signal: {} as never }),
    error: TypeError,
    has: ['`signal`', 'AbortSignal', /got `[^`]*` \(object\)/],
  },
  {
    name: "signal 'abort' (string)",
    call: (c) => c.schedule(task, { signal: 'abort' as never }),
    error: TypeError,
    has: ['`signal`', 'AbortSignal', '`"abort"` (string)'],
  },
  {
    name: 'signal an AbortController instead of its signal',
    call: (c) => c.schedule(task, { signal: new AbortController() as never }),
    error: TypeError,
    has: ['`signal`', 'AbortSignal', /got `[^`]*` \(object\)/],
  },
  // the options object
  {
    name: 'unknown option `priorty` (typo)',
    call: (c) => c.schedule(task, { priorty: 1 } as never),
    error: TypeError,
    has: ['`priorty`'],
    exact: 'Unknown option `priorty`; expected one of `priority`, `weight`, `cost`, `signal`, `timeoutMs`, `maxWaitMs`, `key`',
  },
  {
    name: 'options 5 (number)',
    call: (c) => c.schedule(task, 5 as never),
    error: TypeError,
    has: ['`options`', '`5` (number)'],
  },
  {
    name: 'options null',
    call: (c) => c.schedule(task, null as never),
    error: TypeError,
    has: ['`options`', '`null` (null)'],
  },
];

const otherRejectCases: RejectCase[] = [
  {
    name: 'onSizeLessThan(0)',
    call: (c) => c.onSizeLessThan(0),
    error: RangeError,
    has: ['`size`', '`0` (number)'],
    exact: 'Expected `size` to be an integer >= 1, got `0` (number)',
  },
  { name: 'onSizeLessThan(1.5)', call: (c) => c.onSizeLessThan(1.5), error: RangeError, has: ['`size`', '`1.5` (number)'] },
  {
    name: "onSizeLessThan('2') (string)",
    call: (c) => c.onSizeLessThan('2' as never),
    error: TypeError,
    has: ['`size`', '`"2"` (string)'],
  },
  {
    name: "close({ drain: 'yes' })",
    call: (c) => c.close({ drain: 'yes' as never }),
    error: TypeError,
    has: ['`drain`', '`"yes"` (string)'],
  },
  {
    name: "close('now') (not an object)",
    call: (c) => c.close('now' as never),
    error: TypeError,
    has: ['`options`', '`"now"` (string)'],
  },
];

const throwCases: ThrowCase[] = [
  {
    name: 'setConcurrency(0)',
    call: (c) => c.setConcurrency(0),
    error: RangeError,
    has: ['`concurrency`', '`0` (number)'],
    exact: 'Expected `concurrency` to be an integer >= 1, got `0` (number)',
  },
  {
    name: "setConcurrency('8') (string)",
    call: (c) => c.setConcurrency('8' as never),
    error: TypeError,
    has: ['`concurrency`', '`"8"` (string)'],
  },
  {
    name: 'setRateLimit({ limit: 0, windowMs: 10 })',
    call: (c) => c.setRateLimit({ limit: 0, windowMs: 10 }),
    error: RangeError,
    has: ['`rateLimit.limit`', '`0` (number)'],
    exact: 'Expected `rateLimit.limit` to be an integer >= 1, got `0` (number)',
  },
  {
    name: 'setRateLimit([ok, { limit: 1, windowMs: -1 }])',
    call: (c) => c.setRateLimit([OK_WINDOW, { limit: 1, windowMs: -1 }]),
    error: RangeError,
    has: ['`rateLimit[1].windowMs`', '`-1` (number)'],
  },
  {
    name: "on('idle', 'notafunction')",
    call: (c) => c.on('idle', 'notafunction' as never),
    error: TypeError,
    has: ['`idle`', 'function'],
  },
];

describe('schedule() and other async methods: bad arguments reject the promise, never throw', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function rejection(c: RejectCase, client: RateLimitedClient): Promise<unknown> {
    let promise: Promise<unknown> | undefined;
    expect(() => {
      promise = c.call(client);
    }).not.toThrow();
    expect(promise).toBeInstanceOf(Promise);
    return (promise as Promise<unknown>).then(
      (value) => expect.unreachable(`resolved with ${String(value)}`),
      (error: unknown) => error,
    );
  }

  it.each(scheduleCases)('schedule: $name', async (c) => {
    const client = makeClient();
    expectError(await rejection(c, client), c);
    // Nothing queued, nothing started, nothing counted as accepted, no timer left behind.
    const stats = client.stats();
    expect(stats).toMatchObject({ queued: 0, blocked: 0, inFlight: 0, submitted: 0, completed: 0, failed: 0 });
    expect(stats.windows.map((w) => w.used)).toEqual([0, 0]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it.each(otherRejectCases)('$name', async (c) => {
    const client = makeClient();
    expectError(await rejection(c, client), c);
  });

  it("a close({ drain: 'yes' }) that was refused does not close the client", async () => {
    const client = makeClient();
    await expect(client.close({ drain: 'yes' as never })).rejects.toThrow(TypeError);
    await expect(client.schedule(() => 42)).resolves.toBe(42);
    expect(client.stats()).toMatchObject({ submitted: 1, completed: 1, rejected: 0 });
  });

  it('a rejected schedule() leaves the client working: the next valid task runs', async () => {
    const client = makeClient();
    await expect(client.schedule(task, { weight: 0 })).rejects.toThrow(RangeError);
    await expect(client.schedule(task, { weight: 3 })).resolves.toBe('ran');
    expect(client.stats()).toMatchObject({ submitted: 1, completed: 1, queued: 0, inFlight: 0 });
  });
});

describe('setters and on(): bad arguments throw synchronously and change nothing', () => {
  it.each(throwCases)('$name', (c) => {
    const client = makeClient();
    const error = thrownBy(() => c.call(client));
    expectError(error, c);
    // The limits in force are unchanged.
    expect(client.stats().windows.map(({ limit, windowMs }) => ({ limit, windowMs }))).toEqual([OK_WINDOW, { limit: 3, windowMs: 60_000 }]);
  });

  it('after a refused setConcurrency(0), concurrency is still 4 (weight 5 still refused, weight 4 fits)', async () => {
    const client = new RateLimitedClient({ concurrency: 4 });
    expect(() => client.setConcurrency(0)).toThrow(RangeError);
    await expect(client.schedule(task, { weight: 5 })).rejects.toThrow(/at most 4/);
    await expect(client.schedule(task, { weight: 4 })).resolves.toBe('ran');
  });
});

it('covers at least 35 invalid inputs in all', () => {
  const total = constructorCases.length + scheduleCases.length + otherRejectCases.length + throwCases.length;
  expect(total).toBeGreaterThanOrEqual(35);
});
