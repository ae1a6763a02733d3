import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { kScheduleRequest, kSettleSlot } from '../../../src/core/internal.js';
import { fakeClient, outcome, useFakeTime } from './helpers.js';

beforeEach(useFakeTime);
afterEach(() => {
  vi.useRealTimers();
});

describe('a start that counts from its response', () => {
  it('holds its slot until the task settles it, then frees it windowMs after that', async () => {
    const client = fakeClient({ rateLimit: { limit: 1, windowMs: 100 } });
    const starts: number[] = [];
    const request = (latency: number) =>
      client[kScheduleRequest](async (context) => {
        starts.push(Date.now());
        await new Promise((resolve) => setTimeout(resolve, latency));
        context[kSettleSlot](); // the response headers arrived
        await new Promise((resolve) => setTimeout(resolve, 5)); // reading the body
      });
    const all = Promise.all([request(40), request(0)]);
    // The first request is answered at 40 ms: the second may start 100 ms after that, not after 0.
    await vi.advanceTimersByTimeAsync(139);
    expect(starts).toEqual([0]);
    expect(client.stats().windows[0]?.used).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(starts).toEqual([0, 140]);
    await vi.advanceTimersByTimeAsync(50);
    await all;
  });

  it('counts a task that ends without settling (no response) from its end', async () => {
    const client = fakeClient({ rateLimit: { limit: 1, windowMs: 100 } });
    const starts: number[] = [];
    const failing = client[kScheduleRequest](async () => {
      starts.push(Date.now());
      await new Promise((resolve) => setTimeout(resolve, 30));
      throw new Error('ECONNRESET');
    });
    const next = client[kScheduleRequest](() => {
      starts.push(Date.now());
    });
    const failed = outcome(failing);
    await vi.advanceTimersByTimeAsync(129);
    expect(failed.reason).toEqual(new Error('ECONNRESET'));
    expect(starts).toEqual([0]);
    await vi.advanceTimersByTimeAsync(1);
    await next;
    expect(starts).toEqual([0, 130]);
  });

  it('schedule() still counts from the start', async () => {
    const client = fakeClient({ rateLimit: { limit: 1, windowMs: 100 } });
    const starts: number[] = [];
    const task = async () => {
      starts.push(Date.now());
      await new Promise((resolve) => setTimeout(resolve, 40));
    };
    const all = Promise.all([client.schedule(task), client.schedule(task)]);
    await vi.advanceTimersByTimeAsync(140);
    await all;
    expect(starts).toEqual([0, 100]);
  });
});
