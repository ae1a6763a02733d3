// Bugs found in review, each kept as a test of the behaviour that was wrong.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SlidingWindowLimiter } from '../../../src/limit/sliding-window.js';
import { fakeClient, outcome, recorder, useFakeTime } from './helpers.js';

beforeEach(useFakeTime);
afterEach(() => {
  vi.useRealTimers();
});

describe('regressions', () => {
  it('a maxWaitMs task scheduled from inside a running task is not refused while the window frees in time', async () => {
    const client = fakeClient({ rateLimit: { limit: 1, windowMs: 100 } });
    let inner: ReturnType<typeof outcome> | undefined;
    await client.schedule(() => {
      inner = outcome(client.schedule(() => 'inner', { maxWaitMs: 500 }));
    });
    await vi.advanceTimersByTimeAsync(100);
    expect(inner?.state).toBe('fulfilled');
  });

  it('aborting one signal shared by several queued tasks starts none of them', async () => {
    const client = fakeClient({ concurrency: 2 });
    const ran: string[] = [];
    void client.schedule(() => new Promise(() => {}));
    const controller = new AbortController();
    const heavy = outcome(client.schedule(() => ran.push('heavy'), { weight: 2, signal: controller.signal }));
    const light = outcome(client.schedule(() => ran.push('light'), { signal: controller.signal }));
    controller.abort(new Error('stop'));
    await vi.advanceTimersByTimeAsync(0);
    expect(ran).toEqual([]);
    expect([heavy.state, light.state]).toEqual(['rejected', 'rejected']);
    expect(client.stats()).toMatchObject({ aborted: 2, inFlight: 1 });
  });

  it('starts made before a window was shortened still count when it is lengthened again', () => {
    const limiter = new SlidingWindowLimiter([{ limit: 5, windowMs: 1_000 }]);
    for (let i = 0; i < 5; i++) {
      limiter.take(1);
      limiter.settle(1, 0);
    }
    limiter.setWindows([{ limit: 5, windowMs: 50 }], 60);
    expect(limiter.wait(1, 60)).toBe(0);
    limiter.setWindows([{ limit: 5, windowMs: 1_000 }], 60);
    expect(limiter.usage(60)).toEqual([{ limit: 5, windowMs: 1_000, counts: 'requests', used: 5 }]);
    expect(limiter.wait(1, 60)).toBe(940);
  });

  it('a timeoutMs longer than the longest Node timer (~24.8 days) is kept, not cut short', async () => {
    const client = fakeClient();
    const thirtyDays = 30 * 24 * 3_600_000;
    const result = outcome(client.schedule(() => new Promise(() => {}), { timeoutMs: thirtyDays }));
    await vi.advanceTimersByTimeAsync(2_147_483_647 + 1_000);
    expect(result.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(thirtyDays - 2_147_483_647);
    expect(result.state).toBe('rejected');
    expect(result.reason).toMatchObject({ name: 'TimeoutError', phase: 'run', timeoutMs: thirtyDays });
  });

  it('tasks scheduled from inside a running task are not counted against a full queue when they start at once', async () => {
    const client = fakeClient({ concurrency: 10, queue: { maxSize: 1, overflow: 'reject' } });
    const { task, names } = recorder();
    const inner: Array<ReturnType<typeof outcome>> = [];
    await client.schedule(() => {
      inner.push(outcome(client.schedule(task('x'))), outcome(client.schedule(task('y'))));
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(inner.map((o) => o.state)).toEqual(['fulfilled', 'fulfilled']);
    expect(names()).toEqual(['x', 'y']);
  });

  it('pause() after close() is ignored, so close() still drains and settles', async () => {
    const client = fakeClient({ rateLimit: { limit: 1, windowMs: 50 } });
    const all = Promise.all([1, 2, 3].map((n) => client.schedule(() => n)));
    const closed = outcome(client.close());
    client.pause();
    expect(client.isPaused).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    expect(closed.state).toBe('fulfilled');
    expect(await all).toEqual([1, 2, 3]);
  });
});
