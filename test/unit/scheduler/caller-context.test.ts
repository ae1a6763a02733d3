/**
 * A queued task runs in the async context of the call that queued it (API.md, "The caller's async
 * context"), whatever lets it start. Each test makes callers inside their own `als.run()`, lets their
 * tasks start from one of the paths a task can start by, and checks the store each task saw. Without
 * the fix every task started by a timer or by another task's end saw the store of whichever caller
 * armed that timer or ran that task (caller-0's, in the issue's measurement).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RateLimitedClient } from '../../../src/index.js';
import { FakeStore } from '../../support/fake-store.js';
import { fakeClient, flush, useFakeTime } from './helpers.js';

beforeEach(useFakeTime);
afterEach(() => {
  vi.useRealTimers();
});

const als = new AsyncLocalStorage<string>();

/**
 * `count` callers, each in its own context, schedule one task that records the store it runs in and
 * the store its caller's continuation resumes in. Returns what each saw, by caller.
 */
function callers(client: RateLimitedClient, count: number, taskMs = 0) {
  const ranIn: Array<string | undefined> = [];
  const resumedIn: Array<string | undefined> = [];
  const done = Promise.all(
    Array.from({ length: count }, (_, i) =>
      als.run(`caller-${i}`, async () => {
        await client.schedule(async () => {
          ranIn[i] = als.getStore();
          if (taskMs > 0) await new Promise((resolve) => setTimeout(resolve, taskMs));
        });
        resumedIn[i] = als.getStore();
      }),
    ),
  );
  const expected = Array.from({ length: count }, (_, i) => `caller-${i}`);
  return { ranIn, resumedIn, done, expected };
}

describe("a task runs in its caller's async context", () => {
  it('when the window timer starts it (the issue: six callers, concurrency 1, 2 per 150 ms)', async () => {
    const client = fakeClient({ concurrency: 1, rateLimit: { limit: 2, windowMs: 150 } });
    const run = callers(client, 6, 5);
    await vi.advanceTimersByTimeAsync(1_000);
    await run.done;
    expect(run.ranIn).toEqual(run.expected);
    expect(run.resumedIn).toEqual(run.expected);
  });

  it("when another task's end starts it", async () => {
    const client = fakeClient({ concurrency: 1 });
    const run = callers(client, 4, 10);
    await vi.advanceTimersByTimeAsync(100);
    await run.done;
    expect(run.ranIn).toEqual(run.expected);
  });

  it('when resume() starts it, called from another context', async () => {
    const client = fakeClient();
    client.pause();
    const run = callers(client, 3);
    await flush();
    expect(run.ranIn).toEqual([]);
    als.run('resumer', () => client.resume());
    await vi.advanceTimersByTimeAsync(0);
    await run.done;
    expect(run.ranIn).toEqual(run.expected);
  });

  it('when setRateLimit() makes room, called from another context', async () => {
    const client = fakeClient({ rateLimit: { limit: 1, windowMs: 60_000 } });
    const run = callers(client, 3);
    await flush();
    expect(run.ranIn).toEqual(['caller-0']);
    als.run('admin', () => client.setRateLimit({ limit: 10, windowMs: 60_000 }));
    await vi.advanceTimersByTimeAsync(0);
    await run.done;
    expect(run.ranIn).toEqual(run.expected);
  });

  it("when a shared store's answer arrives, resolved from another context", async () => {
    const store = new FakeStore();
    const client = fakeClient({ store, rateLimit: { limit: 10, windowMs: 1_000 } });
    const run = callers(client, 3);
    for (let i = 0; i < 3; i++) {
      await flush();
      // The answer is given from a context of its own, as a Redis reply or pub/sub message would be.
      als.run(`store-reply-${i}`, () => store.grant());
    }
    await flush();
    await run.done;
    expect(run.ranIn).toEqual(run.expected);
    expect(store.violations).toEqual([]);
  });

  it('when its caller schedules from inside another task, it runs in that task (its caller)', async () => {
    const client = fakeClient({ concurrency: 1 });
    let innerRanIn: string | undefined;
    const outer = als.run('outer', () =>
      client.schedule(() =>
        als.run('inner-caller', () => {
          // Queued behind the outer task (concurrency 1): started later by the outer task's end.
          void client.schedule(() => {
            innerRanIn = als.getStore();
          });
        }),
      ),
    );
    await vi.advanceTimersByTimeAsync(0);
    await outer;
    await client.onIdle();
    expect(innerRanIn).toBe('inner-caller');
  });

  it('a task that starts within its own schedule() call runs there, with no context captured', async () => {
    const client = fakeClient();
    let ranIn: string | undefined;
    await als.run('direct', () =>
      client.schedule(() => {
        ranIn = als.getStore();
      }),
    );
    expect(ranIn).toBe('direct');
  });
});
