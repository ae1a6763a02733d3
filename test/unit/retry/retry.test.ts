import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HttpError } from '../../../src/errors/http-error.js';
import { NetworkError } from '../../../src/errors/network-error.js';
import { TimeoutError } from '../../../src/errors/timeout-error.js';
import { HttpResponse } from '../../../src/http/response.js';
import { backoffDelay, normalizeRetry, type NormalizedRetry } from '../../../src/retry/retry-options.js';
import { retryDelay } from '../../../src/retry/retry-policy.js';
import { lowerLimits, tighten } from '../../../src/retry/server-feedback.js';
import { Emitter } from '../../../src/core/events.js';
import { normalizeClientOptions, normalizeScheduleOptions } from '../../../src/core/normalize-options.js';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import { recorder, useFakeTime } from '../scheduler/helpers.js';

const policy = (options: object = {}, random = () => 0.5) => normalizeRetry('retry', { random, ...options }) as NormalizedRetry;

function httpError(status: number, headers: Record<string, string> = {}, retryAfterMs?: number): HttpError {
  const response = new HttpResponse(status, '', new Headers(headers), 'http://x/', new Uint8Array());
  return new HttpError(response, 'GET', headers, '', retryAfterMs);
}

describe('backoffDelay', () => {
  it('grows exponentially from minDelayMs, capped at maxDelayMs, with jitter inside those bounds', () => {
    for (const random of [0, 0.25, 0.999]) {
      const p = policy({ minDelayMs: 100, maxDelayMs: 1_000 }, () => random);
      const delays = [1, 2, 3, 4, 5].map((retry) => backoffDelay(p, retry));
      const caps = [200, 400, 800, 1_000, 1_000];
      delays.forEach((delay, i) => {
        expect(delay).toBeGreaterThanOrEqual(100);
        expect(delay).toBeLessThanOrEqual(caps[i]!);
        expect(delay).toBeCloseTo(100 + random * (caps[i]! - 100));
      });
    }
    expect(backoffDelay(policy({ minDelayMs: 100, maxDelayMs: 1_000, jitter: 'none' }), 2)).toBe(400);
  });

  it('refuses bad retry options with messages that name them', () => {
    expect(() => normalizeRetry('retry', { retries: -1 })).toThrow('Expected `retry.retries` to be an integer >= 0, got `-1` (number)');
    expect(() => normalizeRetry('retry', { minDelayMs: 10, maxDelayMs: 5 })).toThrow(
      /`retry.maxDelayMs` \(5\) to be at least `retry.minDelayMs` \(10\)/,
    );
    expect(() => normalizeRetry('retry', { jitter: 'some' })).toThrow(RangeError);
    expect(() => normalizeRetry('retry', { statusCodes: '429' })).toThrow(/`retry.statusCodes`/);
    expect(() => normalizeRetry('retry', { retrys: 1 })).toThrow(/Unknown option `retry.retrys`/);
    expect(normalizeRetry('retry', false)).toBe(false);
  });
});

describe('retryDelay', () => {
  const p = policy({ minDelayMs: 100, maxDelayMs: 1_000 }, () => 0);
  it.each([
    ['503 on GET', httpError(503), 'GET', false, 0, 100],
    ['429 with Retry-After waits what the server asked', httpError(429, {}, 2_000), 'GET', false, 0, 2_000],
    ['Retry-After over maxRetryAfterMs fails at once', httpError(429, {}, 120_000), 'GET', false, 0, undefined],
    ['404 is not retried', httpError(404), 'GET', false, 0, undefined],
    ['POST without an idempotency key is not retried', httpError(503), 'POST', false, 0, undefined],
    ['POST with an idempotency key is', httpError(503), 'POST', true, 0, 100],
    ['x-should-retry: false wins over the status', httpError(503, { 'x-should-retry': 'false' }), 'GET', false, 0, undefined],
    ['stripe-should-retry: true retries any status', httpError(409, { 'stripe-should-retry': 'true' }), 'GET', false, 0, 100],
    [
      'ECONNRESET is retried',
      new NetworkError('GET', 'http://x/', Object.assign(new Error('reset'), { code: 'ECONNRESET' })),
      'GET',
      false,
      0,
      100,
    ],
    [
      'an unknown network error is not',
      new NetworkError('GET', 'http://x/', Object.assign(new Error('x'), { code: 'EWHATEVER' })),
      'GET',
      false,
      0,
      undefined,
    ],
    ['an attempt timeout is retried', new TimeoutError('t', 'run', 10), 'GET', false, 0, 100],
    ['a queue timeout is not', new TimeoutError('t', 'queue', 10), 'GET', false, 0, undefined],
    ['an abort reason is not', new Error('aborted'), 'GET', false, 0, undefined],
    ['no retries left', httpError(503), 'GET', false, 2, undefined],
    ['the second retry backs off further', httpError(503), 'GET', false, 1, 100],
    ["a 403 with a wait (GitHub's rate limit) is retried as a 429", httpError(403, {}, 1_000), 'GET', false, 0, 1_000],
    ['a 403 without a wait is not', httpError(403), 'GET', false, 0, undefined],
  ])('%s', (_name, error, method, hasKey, retried, expected) => {
    expect(retryDelay(p, error, method, hasKey, retried)).toBe(expected);
  });

  it('a 403 with a wait follows 429 in statusCodes; listing 403 retries every 403', () => {
    const without429 = policy({ statusCodes: [503] }, () => 0);
    expect(retryDelay(without429, httpError(403, {}, 1_000), 'GET', false, 0)).toBeUndefined();
    const with403 = policy({ statusCodes: [403], minDelayMs: 100 }, () => 0);
    expect(retryDelay(with403, httpError(403, {}, 1_000), 'GET', false, 0)).toBe(1_000);
    expect(retryDelay(with403, httpError(403), 'GET', false, 0)).toBe(100);
  });

  it('does nothing when retries are off', () => {
    expect(retryDelay(false, httpError(503), 'GET', false, 0)).toBeUndefined();
  });
});

describe('tightening the windows to what the server reveals', () => {
  it('lowers a window of the same length, adds an unknown one, and never loosens', () => {
    expect(tighten([{ limit: 80, windowMs: 1_000 }], { limit: 50, windowMs: 1_000 })).toEqual([
      { limit: 50, windowMs: 1_000, counts: 'requests' },
    ]);
    expect(tighten([{ limit: 80, windowMs: 1_000 }], { limit: 100, windowMs: 1_000 })).toBeUndefined();
    expect(tighten([{ limit: 80, windowMs: 1_000 }], { limit: 500, windowMs: 60_000 })).toEqual([
      { limit: 80, windowMs: 1_000 },
      { limit: 500, windowMs: 60_000, counts: 'requests' },
    ]);
    expect(
      lowerLimits(
        [
          { limit: 80, windowMs: 1_000 },
          { limit: 40, windowMs: 100 },
        ],
        50,
        1_000,
      ),
    ).toEqual([
      { limit: 50, windowMs: 1_000 },
      { limit: 40, windowMs: 100 },
    ]);
    expect(lowerLimits([{ limit: 40, windowMs: 100 }], 50, 1_000)).toBeUndefined();
    // GitHub search: 30 per minute (reset within 60 s) must not become the limit of an hourly window.
    expect(lowerLimits([{ limit: 5_000, windowMs: 3_600_000 }], 30, 45_000)).toBeUndefined();
  });
});

describe('the scheduler obeys a shared cooldown and a server budget', () => {
  beforeEach(useFakeTime);
  afterEach(() => {
    vi.useRealTimers();
  });

  const scheduler = () =>
    new Scheduler(normalizeClientOptions({ clock: { now: () => Date.now() }, rateLimit: { limit: 100, windowMs: 1_000 } }), new Emitter());

  it('a cooldown holds every start until it ends, and a shorter one does not cut it short', async () => {
    const s = scheduler();
    const { started, task } = recorder();
    s.coolDown(100);
    s.coolDown(50);
    expect(s.stats().cooldownUntil).toBe(100);
    const all = Promise.all(['a', 'b'].map((name) => s.submit(task(name), normalizeScheduleOptions(undefined))));
    await vi.advanceTimersByTimeAsync(99);
    expect(started).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await all;
    expect(started).toEqual([
      { name: 'a', at: 100 },
      { name: 'b', at: 100 },
    ]);
    expect(s.stats().cooldownUntil).toBeNull();
  });

  it('starts no more than the server says remain before its reset, even where the windows allow more', async () => {
    const s = scheduler();
    const { started, task } = recorder();
    s.setServerBudget(2, 300, 0);
    const all = Promise.all(['a', 'b', 'c', 'd'].map((name) => s.submit(task(name), normalizeScheduleOptions(undefined))));
    await vi.advanceTimersByTimeAsync(300);
    await all;
    expect(started.map((start) => start.at)).toEqual([0, 0, 300, 300]);
  });

  it('a budget that refills continuously (a token bucket) lets units start as they grow back, not all at the reset', async () => {
    const s = scheduler();
    const { started, task } = recorder();
    // 2 left of 10, back to 10 in 800 ms: one unit every 100 ms.
    s.setServerBudget(2, 800, 0, 'requests', { perMs: 8 / 800, limit: 10 });
    const all = Promise.all(['a', 'b', 'c', 'd'].map((name) => s.submit(task(name), normalizeScheduleOptions(undefined))));
    await vi.advanceTimersByTimeAsync(300);
    await all;
    expect(started.map((start) => start.at)).toEqual([0, 0, 100, 200]);
  });

  it('a retry keeps its place among tasks of equal priority', async () => {
    const s = scheduler();
    const { names, task } = recorder();
    s.pause();
    const later = s.submit(task('submitted later'), normalizeScheduleOptions(undefined));
    // A retry of a request submitted earlier (seq 0 came before the task above, seq 1).
    const retry = s.submit(task('retry of the first'), normalizeScheduleOptions(undefined), false, -1);
    s.resume();
    await Promise.all([later, retry]);
    expect(names()).toEqual(['retry of the first', 'submitted later']);
  });
});
