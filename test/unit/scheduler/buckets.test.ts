// Buckets beside windows, through the scheduler (fake timers): a window that names `burst`.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { kScheduleRequest, kSettleSlot, type InternalTaskContext } from '../../../src/core/internal.js';
import { fakeClient, outcome, recorder, useFakeTime } from './helpers.js';

beforeEach(useFakeTime);
afterEach(() => {
  vi.useRealTimers();
});

describe('a bucket', () => {
  it('nginx rate=20r/s with no burst: one start every 50 ms, never two at once', async () => {
    const client = fakeClient({ rateLimit: { limit: 20, windowMs: 1_000, burst: 1 } });
    const { started, task } = recorder();
    const all = Promise.all(Array.from({ length: 5 }, (_, i) => client.schedule(task(`t${i}`))));
    await vi.advanceTimersByTimeAsync(250);
    await all;
    expect(started.map((start) => start.at)).toEqual([0, 50, 100, 150, 200]);
  });

  it('starts full: burst 11 lets 11 start at once, then one every 50 ms (nginx burst=10 nodelay)', async () => {
    const client = fakeClient({ rateLimit: { limit: 20, windowMs: 1_000, burst: 11 } });
    const { started, task } = recorder();
    const all = Promise.all(Array.from({ length: 14 }, (_, i) => client.schedule(task(`t${i}`))));
    await vi.advanceTimersByTimeAsync(200);
    await all;
    expect(started.map((start) => start.at)).toEqual([...Array<number>(11).fill(0), 50, 100, 150]);
  });

  it('refills continuously up to burst, no more, and leaves no idle gap while a unit and work are there', async () => {
    const client = fakeClient({ rateLimit: { limit: 2, windowMs: 1_000, burst: 4 } });
    const { started, task } = recorder();
    await Promise.all(Array.from({ length: 4 }, (_, i) => client.schedule(task(`first${i}`))));
    await vi.advanceTimersByTimeAsync(10_000); // far more than needed to refill: it holds 4, no more
    const second = Promise.all(Array.from({ length: 6 }, (_, i) => client.schedule(task(`second${i}`))));
    await vi.advanceTimersByTimeAsync(1_000);
    await second;
    expect(started.slice(4).map((start) => start.at - 10_000)).toEqual([0, 0, 0, 0, 500, 1_000]);
  });

  it('shows burst, level and when the next unit comes in stats()', async () => {
    const client = fakeClient({ rateLimit: { limit: 10, windowMs: 1_000, burst: 5 } });
    expect(client.stats().windows).toEqual([
      { limit: 10, windowMs: 1_000, counts: 'requests', burst: 5, used: 0, level: 5, nextUnitMs: 0 },
    ]);
    await Promise.all([1, 2, 3].map(() => client.schedule(() => 'x')));
    expect(client.stats().windows[0]).toMatchObject({ level: 2, used: 3, nextUnitMs: 100 });
    await vi.advanceTimersByTimeAsync(30);
    expect(client.stats().windows[0]).toMatchObject({ level: 2, nextUnitMs: 70 });
    await vi.advanceTimersByTimeAsync(70);
    expect(client.stats().windows[0]).toMatchObject({ level: 3, nextUnitMs: 100 });
  });

  it('a cost over burst is refused at once with a RangeError naming both', async () => {
    const client = fakeClient({
      rateLimit: [
        { limit: 100, windowMs: 1_000 },
        { limit: 50, windowMs: 1_000, burst: 1_000, counts: 'points' },
      ],
    });
    const error = await client.schedule(() => 'x', { cost: { points: 1_001 } }).catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toContain("at most 1000 (the `burst` of the 'points' bucket of 50 per 1000 ms)");
    const heavy = await client.schedule(() => 'x', { weight: 2 }).catch((reason: unknown) => reason);
    expect(heavy).toBe('x');
    const tooHeavy = await fakeClient({ rateLimit: { limit: 20, windowMs: 1_000, burst: 1 } })
      .schedule(() => 'x', { weight: 2 })
      .catch((reason: unknown) => reason);
    expect((tooHeavy as Error).message).toContain('the `burst` of the bucket of 20 per 1000 ms');
  });

  it('counts a points cost, and a refund goes back into the bucket at once', async () => {
    const client = fakeClient({ rateLimit: { limit: 50, windowMs: 1_000, burst: 1_000, counts: 'points' } });
    const { started, task } = recorder();
    await client.schedule((context) => context.setCost({ points: 100 }), { cost: { points: 900 } });
    // 900 requested, 100 used: 900 are back, so 800 more fit now.
    await client.schedule(task('after the refund'), { cost: { points: 800 } });
    expect(started).toEqual([{ name: 'after the refund', at: 0 }]);
    expect(client.stats().windows[0]).toMatchObject({ level: 100 });
  });

  it('a request counts from its response: an unsettled start holds its unit until it settles', async () => {
    const client = fakeClient({ rateLimit: { limit: 20, windowMs: 1_000, burst: 1 } });
    const starts: number[] = [];
    let settle: (() => void) | undefined;
    const first = client[kScheduleRequest](async (context: InternalTaskContext) => {
      starts.push(Date.now());
      await new Promise((resolve) => setTimeout(resolve, 30)); // the response arrives 30 ms later
      settle = () => context[kSettleSlot]();
      settle();
    });
    const second = client[kScheduleRequest](async () => {
      starts.push(Date.now());
    });
    await vi.advanceTimersByTimeAsync(200);
    await Promise.all([first, second]);
    // Counted from its response at 30 ms, not its dispatch at 0: the next unit is due at 80 ms.
    expect(starts).toEqual([0, 80]);
  });

  it('setRateLimit may switch a window to a bucket for work not yet started, without opening a burst', async () => {
    const client = fakeClient({ rateLimit: { limit: 4, windowMs: 1_000 } });
    const { started, task } = recorder();
    await Promise.all([1, 2, 3, 4].map((n) => client.schedule(task(`window${n}`))));
    client.setRateLimit({ limit: 4, windowMs: 1_000, burst: 4 });
    const waiting = outcome(client.schedule(task('bucket')));
    await vi.advanceTimersByTimeAsync(0);
    expect(waiting.state).toBe('pending'); // the 4 starts just made took the new bucket's 4 units
    await vi.advanceTimersByTimeAsync(250);
    expect(started.at(-1)).toEqual({ name: 'bucket', at: 250 });
  });
});
