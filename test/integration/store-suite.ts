/**
 * One behavioural suite for every `LimiterStore`: the same `RateLimitedClient` scenarios, on real time,
 * must hold whether the windows live in this process (`MemoryStore`) or in Redis (`RedisStore`).
 *
 * No fake timers: Redis keeps time on its own clock, so only real time exercises a shared store. Every
 * bound is therefore generous, and says why. Two costs a shared store adds on top of the scheduler's
 * own: a round trip per grant, and `safetyMarginMs` (20 ms by default), by which Redis widens each
 * window; timers on a busy 2-core machine can also be late by a few ms.
 *
 * Start times are the tasks' own (`performance.now()` on their first line), counted per sliding window
 * with `maxInAnyWindow`: what a server counting arrivals would see, not what the limiter believes.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { maxInAnyWindow, startTimesOf, utilisation } from '../../examples/support/window-count.js';
import {
  type ClientStats,
  ClientClosedError,
  type LimiterStore,
  RateLimitedClient,
  type RateLimitedClientOptions,
  TimeoutError,
} from '../../src/index.js';
import { watchStalls } from '../support/stalls.js';

/** What a suite's `makeStore` gives: a fresh store (for Redis, on a key no other test uses). */
export interface SuiteStore {
  store: LimiterStore;
  /** Undoes what `makeStore` set up beyond the store (a Redis connection); runs after the client closed. */
  cleanup(): Promise<void>;
  /**
   * Another store on the same shared state (for a `RedisStore`: the same key). A store whose state is
   * its own (`MemoryStore`) needs none: a fresh `makeStore()` is then the same thing.
   */
  sibling?: (() => Promise<LimiterStore>) | undefined;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();

/**
 * Every task accepted is accounted for once it has all ended: nothing waits, nothing runs, and each
 * one finished in exactly one way.
 */
export function expectAccounted(stats: ClientStats, expected: Partial<ClientStats> = {}): void {
  expect(stats).toMatchObject({ queued: 0, blocked: 0, inFlight: 0, ...expected });
  expect(stats.completed + stats.failed + stats.aborted + stats.dropped).toBe(stats.submitted);
}

/**
 * The most starts in a window that ends at one of `at` (inclusive), counting every start in `all`:
 * what the limiter saw when it let each start of `at` through. `at` must be a subset of `all`.
 */
export function mostAtStarts(all: readonly number[], at: readonly number[], windowMs: number): number {
  let most = 0;
  for (const end of at) {
    most = Math.max(most, all.filter((start) => start > end - windowMs && start <= end).length);
  }
  return most;
}

/** A promise and its resolver: to wait for something a task does. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/**
 * Registers the suite under `describe(name)`. `makeStore` is called once per test (and again by the
 * test that needs a second store, unless the store has a `sibling`).
 */
export function storeSuite(name: string, makeStore: () => Promise<SuiteStore>): void {
  describe(`${name} behind a RateLimitedClient`, () => {
    /** Run after each test, last registered first: clients close before their stores' connections go. */
    let teardown: Array<() => Promise<void>> = [];

    afterEach(async () => {
      const steps = teardown.reverse();
      teardown = [];
      for (const step of steps) await step();
    });

    /** A fresh store from `makeStore`, cleaned up after the test. */
    async function freshStore(): Promise<SuiteStore> {
      const made = await makeStore();
      teardown.push(() => made.cleanup());
      return made;
    }

    /**
     * A client on `store`, closed after the test (without draining, so a failed test does not wait for
     * its queue). Every `error` event is kept: no test here expects one.
     */
    function clientOn(store: LimiterStore, options: RateLimitedClientOptions) {
      const client = new RateLimitedClient({ ...options, store });
      const errors: unknown[] = [];
      client.on('error', (error) => errors.push(error));
      teardown.push(() => client.close({ drain: false }));
      return { client, errors };
    }

    async function open(options: RateLimitedClientOptions) {
      const made = await freshStore();
      return { ...clientOn(made.store, options), made };
    }

    it('10 per 200 ms, 40 tasks: never more than 10 starts in any 200 ms, all finish, utilisation >= 0.8', async () => {
      const { client, errors } = await open({ rateLimit: { limit: 10, windowMs: 200 } });
      const starts = await startTimesOf(client, 40, 5);

      expect(starts).toHaveLength(40);
      expect(maxInAnyWindow([...starts], 200)).toBeLessThanOrEqual(10);
      // The ideal run takes 600 ms from the first start to the last (4 windows of 10). 0.8 allows 150 ms
      // more: 60 ms of a shared store's safety margin (3 x 20 ms), the rest for round trips and late
      // timers. A lost wake-up costs a whole window (200 ms) and fails it.
      const used = utilisation(starts, 10, 200);
      expect(used).toBeGreaterThanOrEqual(0.8);
      expectAccounted(client.stats(), { completed: 40, failed: 0 });
      expect(errors).toEqual([]);
    });

    it('keeps two windows at once: 5 per 100 ms and 12 per 400 ms', async () => {
      const { client, errors } = await open({
        rateLimit: [
          { limit: 5, windowMs: 100 },
          { limit: 12, windowMs: 400 },
        ],
      });
      const stalls = watchStalls();
      const starts = await startTimesOf(client, 24, 2);

      expect(starts).toHaveLength(24);
      expect(maxInAnyWindow([...starts], 100)).toBeLessThanOrEqual(5);
      expect(maxInAnyWindow([...starts], 400)).toBeLessThanOrEqual(12);
      // Both windows bind: the 12th start ends the first 400 ms (5 + 5 + 2, in three 100 ms steps), and
      // the 13th waits for the long window, not the short one. Ideally the last start comes at 600 ms;
      // 900 ms allows a shared store's margins (about 5 x 20 ms) and late timers (and this process's
      // stalls), but not a lost window.
      const sorted = [...starts].sort((a, b) => a - b);
      const first = sorted[0] as number;
      expect((sorted[12] as number) - first).toBeGreaterThanOrEqual(400);
      expect((sorted[23] as number) - first).toBeLessThan(stalls.allowing(900));
      expectAccounted(client.stats(), { completed: 24 });
      expect(errors).toEqual([]);
    });

    it('counts weights: weight-3 tasks under a limit of 6 use at most 6 units in any window', async () => {
      const { client, errors } = await open({ rateLimit: { limit: 6, windowMs: 150 }, concurrency: 6 });
      const stalls = watchStalls();
      const units: number[] = [];
      await Promise.all(
        Array.from({ length: 6 }, () =>
          client.schedule(
            async () => {
              const at = now();
              units.push(at, at, at); // a start of weight 3 counts three times
              await sleep(2);
            },
            { weight: 3 },
          ),
        ),
      );

      expect(units).toHaveLength(18);
      expect(maxInAnyWindow([...units], 150)).toBeLessThanOrEqual(6);
      // Two tasks per window, three windows: the last start ideally at 300 ms; 550 ms allows margins
      // and late timers (and this process's stalls), not a lost window.
      const sorted = [...units].sort((a, b) => a - b);
      expect((sorted.at(-1) as number) - (sorted[0] as number)).toBeGreaterThanOrEqual(300);
      expect((sorted.at(-1) as number) - (sorted[0] as number)).toBeLessThan(stalls.allowing(550));
      expectAccounted(client.stats(), { completed: 6 });
      expect(errors).toEqual([]);
    });

    it('starts by priority within the process (lower first, FIFO among equals)', async () => {
      const { client, errors } = await open({ concurrency: 1, rateLimit: { limit: 100, windowMs: 1_000 } });
      client.pause();
      const order: string[] = [];
      const priorities = [3, 1, 2, 1, 0, 3, 2, 0];
      const done = priorities.map((priority, i) =>
        client.schedule(
          async () => {
            order.push(`${priority}:${i}`);
            await sleep(1);
          },
          { priority },
        ),
      );
      // Nothing may start while paused; a start that should not happen can only be watched for a while.
      await sleep(30);
      expect(order).toEqual([]);
      expect(client.stats().queued).toBe(8);

      client.resume();
      await Promise.all(done);
      const expected = priorities
        .map((priority, i) => ({ priority, i }))
        .sort((a, b) => a.priority - b.priority || a.i - b.i)
        .map(({ priority, i }) => `${priority}:${i}`);
      expect(order).toEqual(expected);
      expectAccounted(client.stats(), { completed: 8 });
      expect(errors).toEqual([]);
    });

    it('never runs more than 3 tasks of 20 ms at once under concurrency 3', async () => {
      const { client, errors } = await open({ concurrency: 3 });
      let running = 0;
      let most = 0;
      await Promise.all(
        Array.from({ length: 15 }, () =>
          client.schedule(async () => {
            running++;
            most = Math.max(most, running);
            await sleep(20);
            running--;
          }),
        ),
      );
      // Exactly 3: never more, and the budget is used (a store holding concurrency it had released
      // would show as fewer).
      expect(most).toBe(3);
      expectAccounted(client.stats(), { completed: 15 });
      expect(errors).toEqual([]);
    });

    it('refuses a task whose maxWaitMs is shorter than the full window, without running it', async () => {
      const { client, errors } = await open({ rateLimit: { limit: 2, windowMs: 1_000 } });
      const ran: string[] = [];
      await Promise.all([client.schedule(() => ran.push('a')), client.schedule(() => ran.push('b'))]);

      // The window is full for about 1 000 ms more. A store that can tell at once refuses at submission;
      // one that must ask (Redis) learns it from its first answer, and the task then expires at its
      // deadline. Either way it fails long before the window frees.
      const stalls = watchStalls();
      const asked = now();
      const first = client.schedule(() => ran.push('first'), { maxWaitMs: 100 });
      await expect(first).rejects.toBeInstanceOf(TimeoutError);
      await expect(first).rejects.toMatchObject({ code: 'RLC_ERR_TIMEOUT', phase: 'queue', timeoutMs: 100 });
      // 100 ms of maxWaitMs, plus up to 200 ms for a late deadline timer (and this process's stalls);
      // the window frees at 1 000 ms.
      expect(now() - asked).toBeLessThan(stalls.allowing(300));

      // Now every store knows: the next one is refused at submission, before any await.
      const rejectedBefore = client.stats().rejected;
      const second = client.schedule(() => ran.push('second'), { maxWaitMs: 100 });
      expect(client.stats().rejected).toBe(rejectedBefore + 1);
      await expect(second).rejects.toBeInstanceOf(TimeoutError);
      await expect(second).rejects.toMatchObject({ phase: 'queue' });

      expect(ran).toEqual(['a', 'b']);
      expectAccounted(client.stats(), { completed: 2 });
      expect(errors).toEqual([]);
    });

    it('aborting queued tasks rejects them with the reason, and every task is accounted for', async () => {
      const { client, errors } = await open({ rateLimit: { limit: 2, windowMs: 300 } });
      const ran: number[] = [];
      const starts: number[] = [];
      const twoStarted = deferred();
      const controller = new AbortController();
      const promises = Array.from({ length: 6 }, (_, i) =>
        client.schedule(
          async () => {
            ran.push(i);
            starts.push(now());
            if (ran.length === 2) twoStarted.resolve();
            await sleep(2);
          },
          // Tasks 2 (next in line, perhaps awaiting its store answer) and 4 (further back) can be aborted.
          i === 2 || i === 4 ? { signal: controller.signal } : {},
        ),
      );
      await twoStarted.promise; // the window is now full for about 300 ms: the others wait
      const reason = new Error('no longer needed');
      controller.abort(reason);

      const settled = await Promise.allSettled(promises);
      await client.onIdle();
      expect(settled.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
      expect((settled[2] as PromiseRejectedResult).reason).toBe(reason);
      expect((settled[4] as PromiseRejectedResult).reason).toBe(reason);
      expect(ran).toEqual([0, 1, 3, 5]);
      expect(maxInAnyWindow([...starts], 300)).toBeLessThanOrEqual(2);
      expectAccounted(client.stats(), { submitted: 6, completed: 4, aborted: 2, failed: 0, dropped: 0 });
      expect(errors).toEqual([]);
    });

    it('close({ drain: false }) rejects the queue with ClientClosedError, resolves, and leaves the quota whole', async () => {
      const made = await freshStore();
      const windowMs = 300;
      const { client, errors } = clientOn(made.store, { rateLimit: { limit: 2, windowMs }, concurrency: 2 });
      const twoStarted = deferred();
      let started = 0;
      const promises = Array.from({ length: 6 }, () =>
        client.schedule(async () => {
          if (++started === 2) twoStarted.resolve();
          await sleep(30);
        }),
      );
      await twoStarted.promise; // two run; four wait for the window

      const storeClose = vi.spyOn(made.store, 'close');
      const closed = client.close({ drain: false });
      const settled = await Promise.allSettled(promises);
      await closed;
      // The client closed its store once its work had ended, and waited for it.
      expect(storeClose).toHaveBeenCalledOnce();
      await expect(storeClose.mock.results[0]?.value).resolves.toBeUndefined();
      expect(settled.slice(0, 2).map((result) => result.status)).toEqual(['fulfilled', 'fulfilled']);
      for (const result of settled.slice(2)) {
        expect(result.status).toBe('rejected');
        expect((result as PromiseRejectedResult).reason).toBeInstanceOf(ClientClosedError);
      }
      expect(started).toBe(2);
      expectAccounted(client.stats(), { submitted: 6, completed: 2, failed: 4 });
      await expect(client.schedule(() => 1)).rejects.toBeInstanceOf(ClientClosedError);
      expect(errors).toEqual([]);

      // Once the two starts have left the window (plus 50 ms: a shared store's 20 ms margin and late
      // timers), a new client on the same state gets the whole quota and the whole concurrency at once.
      // A store whose close left grants held (a Redis lease lives 10 s) would make these wait.
      await sleep(windowMs + 50);
      const next = made.sibling === undefined ? (await freshStore()).store : await made.sibling();
      const again = clientOn(next, { rateLimit: { limit: 2, windowMs }, concurrency: 2 });
      const stalls = watchStalls();
      const asked = now();
      const starts = await startTimesOf(again.client, 2, 30);
      // Both start right away, side by side: 40 ms allows two round trips and a busy event loop, plus
      // any stall of this process.
      expect(Math.max(...starts) - asked).toBeLessThan(stalls.allowing(40));
      expect(again.errors).toEqual([]);
    });

    it('setRateLimit lowers the limit at run time, counts earlier starts in it, and keeps it', async () => {
      const { client, errors } = await open({ rateLimit: { limit: 10, windowMs: 200 } });
      const before = await startTimesOf(client, 10, 1);
      client.setRateLimit({ limit: 3, windowMs: 200 });
      const after = await startTimesOf(client, 6, 1);

      // At each later start, the 200 ms before it (the burst included) held at most 3 starts: so none
      // came before the burst left the window, and the lower limit still held two windows later.
      expect(mostAtStarts([...before, ...after], after, 200)).toBeLessThanOrEqual(3);
      expect(Math.min(...after)).toBeGreaterThanOrEqual(Math.max(...before));
      // 6 starts at 3 per window: at least one whole window from the first to the last.
      expect(Math.max(...after) - Math.min(...after)).toBeGreaterThanOrEqual(200);
      expect(client.stats().windows).toEqual([expect.objectContaining({ limit: 3, windowMs: 200 })]);
      expectAccounted(client.stats(), { completed: 16 });
      expect(errors).toEqual([]);
    });

    it('stats().windows reports the use of the window after a burst', async () => {
      const { client, errors } = await open({ rateLimit: { limit: 10, windowMs: 5_000 } });
      expect(client.stats().windows).toEqual([{ limit: 10, windowMs: 5_000, used: 0 }]);
      await startTimesOf(client, 6, 1);
      const [window] = client.stats().windows;
      // The truth is 6 (the window is 5 s long). A shared store reports what its last answer said,
      // which may miss the very last start: 5 or 6, never more than the truth or the limit.
      expect(window?.limit).toBe(10);
      expect(window?.used).toBeGreaterThanOrEqual(5);
      expect(window?.used).toBeLessThanOrEqual(6);
      expectAccounted(client.stats(), { completed: 6 });
      expect(errors).toEqual([]);
    });
  });
}
