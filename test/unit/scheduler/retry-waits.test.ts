/**
 * RetryWaits on its own, with fake timers and an injected clock: a retry waits out its delay as work
 * the client still owes, then `again` submits it in the same turn; the caller's signal and `rejectAll`
 * end a wait at once with their reason. (The HTTP suites reach it through real requests; these pin each
 * rule down where a mutant would slip through them.)
 */
import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_TIMER_DELAY_MS } from '../../../src/core/clock.js';
import { RetryWaits } from '../../../src/scheduler/retry-waits.js';
import { flush, outcome, useFakeTime } from './helpers.js';

beforeEach(useFakeTime);
afterEach(() => {
  vi.useRealTimers();
});

const clock = { now: () => Date.now() };

function waits() {
  const ended: number[] = [];
  const retryWaits = new RetryWaits(clock, () => ended.push(Date.now()));
  return { retryWaits, ended };
}

describe('RetryWaits', () => {
  it('calls `again` once the delay is over, not before, and settles as its promise does', async () => {
    const { retryWaits, ended } = waits();
    const calls: number[] = [];
    const result = outcome(
      retryWaits.wait(100, undefined, () => {
        calls.push(Date.now());
        return Promise.resolve('retried');
      }),
    );
    expect(retryWaits.size).toBe(1);
    await vi.advanceTimersByTimeAsync(99);
    expect(calls).toEqual([]);
    expect(retryWaits.size).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([100]);
    expect(ended).toEqual([100]);
    expect(retryWaits.size).toBe(0);
    await flush();
    expect(result).toMatchObject({ state: 'fulfilled', value: 'retried' });
  });

  it("rejects with `again`'s own rejection, and with what it throws synchronously", async () => {
    const { retryWaits } = waits();
    const failure = new Error('submit failed');
    const rejected = outcome(retryWaits.wait(10, undefined, () => Promise.reject(failure)));
    const thrown = outcome(
      retryWaits.wait(10, undefined, () => {
        throw failure;
      }),
    );
    await vi.advanceTimersByTimeAsync(10);
    await flush();
    expect(rejected).toMatchObject({ state: 'rejected', reason: failure });
    expect(thrown).toMatchObject({ state: 'rejected', reason: failure });
    expect(retryWaits.size).toBe(0);
  });

  it("ends at once with the signal's reason when the caller aborts, and never calls `again`", async () => {
    const { retryWaits, ended } = waits();
    const controller = new AbortController();
    const again = vi.fn(() => Promise.resolve('no'));
    const result = outcome(retryWaits.wait(1_000, controller.signal, again));
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(10);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await flush();
    expect(result).toMatchObject({ state: 'rejected', reason });
    expect(ended).toEqual([10]);
    expect(retryWaits.size).toBe(0);
    // The listener is gone, and so is the timer: nothing more happens when the delay would have ended.
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(again).not.toHaveBeenCalled();
    expect(ended).toEqual([10]);
  });

  it('rejectAll() ends every wait with its reason, each once', async () => {
    const { retryWaits, ended } = waits();
    const again = vi.fn(() => Promise.resolve('no'));
    const first = outcome(retryWaits.wait(50, undefined, again));
    const second = outcome(retryWaits.wait(500, undefined, again));
    const reason = new Error('closed');
    retryWaits.rejectAll(reason);
    retryWaits.rejectAll(new Error('again'));
    await flush();
    expect(first).toMatchObject({ state: 'rejected', reason });
    expect(second).toMatchObject({ state: 'rejected', reason });
    expect(ended).toEqual([0, 0]);
    expect(retryWaits.size).toBe(0);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(again).not.toHaveBeenCalled();
  });

  it("waits a delay longer than Node's longest timer in steps, and a fractional one rounded up", async () => {
    const { retryWaits } = waits();
    const calls: number[] = [];
    const again = () => {
      calls.push(Date.now());
      return Promise.resolve();
    };
    void retryWaits.wait(MAX_TIMER_DELAY_MS + 5_000, undefined, again);
    void retryWaits.wait(0.5, undefined, again);
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([1]);
    await vi.advanceTimersByTimeAsync(MAX_TIMER_DELAY_MS);
    expect(calls).toEqual([1]);
    expect(retryWaits.size).toBe(1);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(calls).toEqual([1, MAX_TIMER_DELAY_MS + 5_000]);
    expect(retryWaits.size).toBe(0);
  });
});
