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
import type { Cost } from '../../src/core/cost.js';
import type { StoreContext, StoreLimits, StoreSlot } from '../../src/core/store.js';
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

/** A slot as the scheduler makes one. */
function slotOf(cost: Cost | null, settleAtStart = true, weight = 1): StoreSlot {
  return { weight, cost, settleAtStart, storeData: undefined };
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
      expect(client.stats().windows).toEqual([{ limit: 10, windowMs: 5_000, counts: 'requests', used: 0 }]);
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

  /**
   * Buckets (a window with `burst`, GCRA), on real time: through a client for the pace, by hand (as the
   * scheduler asks) for the pending, refunded and shared units. A shared store adds its safety margin
   * (20 ms) to each unit of a start settled at its grant when the bucket holds less than the margin
   * (see ACQUIRE), so a bucket of 1 per 50 ms paces such starts at about 70 ms there; bounds allow it.
   */
  describe(`${name} with buckets`, () => {
    let teardown: Array<() => Promise<void>> = [];

    afterEach(async () => {
      for (const step of teardown.reverse()) await step();
      teardown = [];
    });

    function contextOf(windows: StoreLimits['windows'], reports: unknown[]): StoreContext {
      return { limits: { windows, concurrency: Infinity }, clock: { now }, wake() {}, report: (error) => reports.push(error) };
    }

    /**
     * A fresh store opened on `windows` by hand, and (`other`) a second one on the same shared state, or
     * the same store where its state is its own. A shared store loads each script on first use, and a
     * script loaded then may run after a command sent behind it (NOSCRIPT, see RedisScripts): a throwaway
     * store with no limits runs each one first, so the tests' own commands keep their order.
     */
    async function openStores(windows: StoreLimits['windows']) {
      const warm = await makeStore();
      warm.store.open(contextOf([], []));
      const slot = slotOf(null, false);
      if ((await warm.store.acquire(slot, now())) === 0) {
        warm.store.amend(slot, {}, now());
        warm.store.settle(slot, now());
        warm.store.release(slot, now());
      }
      await warm.store.close();
      await warm.cleanup();
      const made = await makeStore();
      teardown.push(() => made.cleanup());
      const reports: unknown[] = [];
      made.store.open(contextOf(windows, reports));
      teardown.push(() => made.store.close());
      let other = made.store;
      if (made.sibling !== undefined) {
        other = await made.sibling();
        other.open(contextOf(windows, reports));
        const opened = other;
        teardown.push(() => opened.close());
      }
      const acquireOn = async (store: LimiterStore, slot: StoreSlot): Promise<number> => {
        const wait = await store.acquire(slot, now());
        if (wait === 0 && slot.settleAtStart) store.settle(slot, now());
        return wait;
      };
      return { store: made.store, other, reports, acquire: (slot: StoreSlot) => acquireOn(made.store, slot), acquireOn };
    }

    /** Every interval between two starts holds at most burst + its length x rate of them (GCRA's guarantee), to `slackMs`. */
    function expectConforms(starts: readonly number[], burst: number, intervalMs: number, slackMs: number): void {
      const sorted = [...starts].sort((a, b) => a - b);
      for (let i = 0; i < sorted.length; i++) {
        for (let j = i + burst; j < sorted.length; j++) {
          // j - i + 1 starts in [sorted[i], sorted[j]]: the last (j - i + 1 - burst) of them needed that many units refilled.
          expect((sorted[j] as number) - (sorted[i] as number)).toBeGreaterThanOrEqual((j - i + 1 - burst) * intervalMs - slackMs);
        }
      }
    }

    it('a bucket of 1 per 50 ms paces starts one by one, and stats() shows it', async () => {
      const made = await makeStore();
      teardown.push(() => made.cleanup());
      const client = new RateLimitedClient({ store: made.store, rateLimit: { limit: 20, windowMs: 1_000, burst: 1 } });
      const errors: unknown[] = [];
      client.on('error', (error) => errors.push(error));
      teardown.push(() => client.close({ drain: false }));
      const stalls = watchStalls();
      const starts = await startTimesOf(client, 8, 1);

      expect(starts).toHaveLength(8);
      // One every 50 ms, never two closer: 1 ms for the task's own start after its settle.
      expectConforms(starts, 1, 50, 1);
      // 7 gaps of 50 ms (of 70 with a shared store's margin) is 350-490 ms; 1 000 ms allows round trips
      // and late timers, not a start that waited for a window's worth (20 a second would be at once).
      const sorted = [...starts].sort((a, b) => a - b);
      expect((sorted[7] as number) - (sorted[0] as number)).toBeLessThan(stalls.allowing(1_000));
      const [bucket] = client.stats().windows;
      expect(bucket).toMatchObject({ limit: 20, windowMs: 1_000, counts: 'requests', burst: 1 });
      expect(bucket?.used).toBe(1 - (bucket?.level as number));
      expectAccounted(client.stats(), { completed: 8 });
      expect(errors).toEqual([]);
    });

    it('burst 4 admits 4 at once, then one a unit (50 ms)', async () => {
      const made = await makeStore();
      teardown.push(() => made.cleanup());
      const client = new RateLimitedClient({ store: made.store, rateLimit: { limit: 10, windowMs: 500, burst: 4 } });
      const errors: unknown[] = [];
      client.on('error', (error) => errors.push(error));
      teardown.push(() => client.close({ drain: false }));
      const stalls = watchStalls();
      const starts = await startTimesOf(client, 10, 1);

      const sorted = [...starts].sort((a, b) => a - b);
      const first = sorted[0] as number;
      // The burst: 4 side by side (40 ms for round trips); the 5th waits for a unit.
      expect((sorted[3] as number) - first).toBeLessThan(stalls.allowing(40));
      expect((sorted[4] as number) - first).toBeGreaterThanOrEqual(49);
      expectConforms(starts, 4, 50, 1);
      // 6 units after the burst: 300 ms ideally; 800 allows a shared store's margin and round trips.
      expect((sorted[9] as number) - first).toBeLessThan(stalls.allowing(800));
      expectAccounted(client.stats(), { completed: 10 });
      expect(errors).toEqual([]);
    });

    it('a pending start holds its unit until it settles, then the bucket refills from its settle', async () => {
      const { store, acquire, reports } = await openStores([{ limit: 20, windowMs: 1_000, counts: 'requests', burst: 1 }]);
      const pending = slotOf(null, false);
      expect(await acquire(pending)).toBe(0);
      // Nothing tells when a pending start settles: Infinity, or (shared) until its lease could expire.
      expect(await acquire(slotOf(null))).toBeGreaterThan(1_000);
      store.settle(pending, now());
      const settledAt = now();
      const wait = await acquire(slotOf(null));
      // One unit after the settle: 50 ms, less the round trip; never 0, never a window.
      expect(wait).toBeGreaterThan(10);
      expect(wait).toBeLessThanOrEqual(50);
      await sleep(settledAt + 50 - now() + 5);
      expect(await acquire(slotOf(null))).toBe(0);
      store.release(pending, now());
      expect(reports).toEqual([]);
    });

    it('burst 2: a pending start leaves the other unit, and holds its own', async () => {
      const { acquire, reports } = await openStores([{ limit: 1, windowMs: 60_000, counts: 'requests', burst: 2 }]);
      expect(await acquire(slotOf(null, false))).toBe(0);
      expect(await acquire(slotOf(null))).toBe(0);
      // The next unit comes a minute after the settled start, and only once the pending one settles.
      expect(await acquire(slotOf(null))).toBeGreaterThan(5_000);
      expect(reports).toEqual([]);
    });

    it('a refund returns units to the bucket at once', async () => {
      const { store, acquire, reports } = await openStores([{ limit: 100, windowMs: 1_000, counts: 'tokens', burst: 100 }]);
      const first = slotOf({ tokens: 90 });
      expect(await acquire(first)).toBe(0);
      // 40 more tokens need 30 refilled: 300 ms (10 ms a token), + a shared store's margin.
      const wait = await acquire(slotOf({ tokens: 40 }));
      expect(wait).toBeGreaterThan(250);
      expect(wait).toBeLessThanOrEqual(320);
      store.amend(first, { tokens: 40 }, now());
      // 50 back: 40 fit at once, and then 25 more would not (20 left, less a shared store's margin).
      expect(await acquire(slotOf({ tokens: 40 }))).toBe(0);
      expect(await acquire(slotOf({ tokens: 25 }))).toBeGreaterThan(30);
      expect(await acquire(slotOf({ tokens: 15 }))).toBe(0);
      expect(reports).toEqual([]);
    });

    it('two stores on one key share one bucket exactly (a store of its own state: the same bucket twice)', async () => {
      const { store, other, acquireOn, reports } = await openStores([{ limit: 1, windowMs: 60_000, counts: 'requests', burst: 3 }]);
      // Pending (as HTTP requests before their responses), so that each is taken at its settle, with no margin.
      const slots = [slotOf(null, false), slotOf(null, false), slotOf(null, false)];
      const [a, b, c] = slots as [StoreSlot, StoreSlot, StoreSlot];
      expect(await acquireOn(store, a)).toBe(0);
      expect(await acquireOn(other, b)).toBe(0);
      expect(await acquireOn(store, c)).toBe(0);
      // Three held between them: neither gets a fourth while they are pending,
      expect(await acquireOn(other, slotOf(null))).toBeGreaterThan(1_000);
      store.settle(a, now());
      other.settle(b, now());
      store.settle(c, now());
      // nor once they are settled, before a unit comes back (a minute).
      expect(await acquireOn(other, slotOf(null))).toBeGreaterThan(55_000);
      expect(await acquireOn(store, slotOf(null))).toBeGreaterThan(55_000);
      expect(store.usage(now())).toEqual([expect.objectContaining({ burst: 3, used: 3, level: 0 })]);
      for (const slot of slots) (slot === b ? other : store).release(slot, now());
      expect(reports).toEqual([]);
    });
  });

  /**
   * Costs in several currencies, asked of the store itself as the scheduler asks it (acquire, settle,
   * amend, release), on real time. Windows are long beside the test's own pace, so that only the
   * moments the tests measure (an entry's time, an amend's) decide; a shared store's 20 ms margin and
   * a busy machine's late timers are allowed for in each bound.
   */
  describe(`${name} with costs in several currencies`, () => {
    let opened: Array<{ store: LimiterStore; made: SuiteStore }> = [];

    afterEach(async () => {
      for (const { store, made } of opened.splice(0)) {
        await store.close();
        await made.cleanup();
      }
      opened = [];
    });

    /** A fresh store opened on `limits` by hand, with no client: wake-ups and reports are kept. */
    async function openStore(windows: StoreLimits['windows']) {
      const made = await makeStore();
      const reports: unknown[] = [];
      const context: StoreContext = {
        limits: { windows, concurrency: Infinity },
        clock: { now },
        wake() {},
        report: (error) => reports.push(error),
      };
      made.store.open(context);
      opened.push({ store: made.store, made });
      const store = made.store;
      // A shared store loads each script on first use, and a script loaded then may run after a command
      // sent behind it (NOSCRIPT, see RedisScripts): an amend the tests time must not be the first.
      const warm = slotOf(null);
      if ((await store.acquire(warm, now())) === 0) {
        store.settle(warm, now());
        store.amend(warm, {}, now());
        store.release(warm, now());
      }
      /** Acquires (awaiting a store that answers with a promise); a grant is settled at once unless `slot` says not. */
      const acquire = async (slot: StoreSlot): Promise<number> => {
        const wait = await store.acquire(slot, now());
        if (wait === 0 && slot.settleAtStart) store.settle(slot, now());
        return wait;
      };
      return { store, acquire, reports };
    }

    const tokens = (limit: number, windowMs: number) => ({ limit, windowMs, counts: 'tokens' });
    const requests = (limit: number, windowMs: number) => ({ limit, windowMs, counts: 'requests' });

    it('keeps windows of requests and tokens at once: a cost over the tokens room waits while requests have room', async () => {
      const { store, acquire, reports } = await openStore([requests(10, 60_000), tokens(100, 60_000)]);
      expect(await acquire(slotOf({ tokens: 60 }))).toBe(0);
      const heavy = slotOf({ tokens: 50 });
      const wait = await acquire(heavy);
      // The first start leaves the minute-long window in about a minute.
      expect(wait).toBeGreaterThan(55_000);
      expect(wait).toBeLessThanOrEqual(60_100);
      // What tells a task's deadline: the same cost can not start sooner; a cost of requests only can.
      expect(store.earliestWait(slotOf({ tokens: 50 }), now())).toBeGreaterThan(55_000);
      expect(store.earliestWait(slotOf(null), now())).toBe(0);
      expect(await acquire(slotOf({ tokens: 40 }))).toBe(0);
      // A start that costs no tokens does not count in tokens, and is not held back by them.
      expect(await acquire(slotOf(null))).toBe(0);
      expect(await acquire(slotOf({ tokens: 0 }))).toBe(0);
      expect(store.usage(now())).toEqual([
        // The four starts here, and the one that loaded the scripts.
        { limit: 10, windowMs: 60_000, counts: 'requests', used: 5 },
        { limit: 100, windowMs: 60_000, counts: 'tokens', used: 100 },
      ]);
      expect(await acquire(slotOf({ tokens: 1 }))).toBeGreaterThan(55_000);
      expect(reports).toEqual([]);
    });

    it('amend down gives the difference back at once, and the entry keeps its time', async () => {
      const { store, acquire, reports } = await openStore([tokens(100, 1_000)]);
      const first = slotOf({ tokens: 90 });
      expect(await acquire(first)).toBe(0);
      const firstAt = now();
      await sleep(300);
      expect(await acquire(slotOf({ tokens: 50 }))).toBeGreaterThan(0);
      store.amend(first, { tokens: 40 }, now());
      // At once: the 50 tokens fit beside what the first start really cost.
      expect(await acquire(slotOf({ tokens: 50 }))).toBe(0);
      // 50 more need the first start's 40 to expire: a second after it began, not after the amend.
      const wait = await acquire(slotOf({ tokens: 50 }));
      const freesAt = now() + wait;
      expect(freesAt - firstAt).toBeGreaterThan(900);
      // 1 000 ms from the start, + 20 ms of a shared store's margin, + 80 ms for a slow round trip; the
      // amend came 300 ms after the start, so an entry moved to the amend would free at 1 300 ms.
      expect(freesAt - firstAt).toBeLessThan(1_100);
      expect(reports).toEqual([]);
    });

    it('amend up counts the difference from the amend', async () => {
      const { store, acquire, reports } = await openStore([tokens(100, 1_000)]);
      const first = slotOf({ tokens: 10 });
      expect(await acquire(first)).toBe(0);
      const firstAt = now();
      await sleep(300);
      const amendedAt = now();
      store.amend(first, { tokens: 70 }, amendedAt);
      // 50 need 20 to expire: the first start's 10 are not enough, the amend's 60 are, a second after it.
      const wait = await acquire(slotOf({ tokens: 50 }));
      const freesAt = now() + wait;
      expect(freesAt - amendedAt).toBeGreaterThan(900);
      expect(freesAt - firstAt).toBeGreaterThan(1_200);
      // 30 tokens are left, no more.
      expect(await acquire(slotOf({ tokens: 31 }))).toBeGreaterThan(0);
      expect(await acquire(slotOf({ tokens: 30 }))).toBe(0);
      expect(reports).toEqual([]);
    });

    it('amends a start before its settle and after its release', async () => {
      const { store, acquire, reports } = await openStore([tokens(100, 60_000)]);
      // Not settled yet (an HTTP request before its response): its estimate holds the room.
      const pending = slotOf({ tokens: 80 }, false);
      expect(await acquire(pending)).toBe(0);
      store.amend(pending, { tokens: 30 }, now());
      expect(await acquire(slotOf({ tokens: 70 }))).toBe(0);
      store.settle(pending, now());
      store.release(pending, now());

      // Released first, amended after (client.fetch learns the cost from a body read after its task).
      const { store: other, acquire: acquireOther } = await openStore([tokens(100, 60_000)]);
      const released = slotOf({ tokens: 90 }, false);
      expect(await acquireOther(released)).toBe(0);
      other.release(released, now());
      expect(await acquireOther(slotOf({ tokens: 80 }))).toBeGreaterThan(0);
      other.amend(released, { tokens: 20 }, now());
      expect(await acquireOther(slotOf({ tokens: 80 }))).toBe(0);
      expect(other.usage(now())).toEqual([{ limit: 100, windowMs: 60_000, counts: 'tokens', used: 100 }]);
      expect(store.usage(now())).toEqual([{ limit: 100, windowMs: 60_000, counts: 'tokens', used: 100 }]);
      expect(reports).toEqual([]);
    });

    it('an amend before the settle is what the settle counts: once the window has passed, nothing is left', async () => {
      const windowMs = 300;
      const { store, acquire, reports } = await openStore([tokens(100, windowMs), { limit: 10, windowMs, counts: 'points' }]);
      // The real cost is known before the start counts (setCost in a task's synchronous part, or an
      // HTTP request's cost read before its response): less tokens than estimated, more points.
      // `cost` writable, as on the scheduler's jobs: it replaces the estimate after the amend.
      const slot: StoreSlot & { cost: Cost | null } = slotOf({ tokens: 60, points: 1 }, false);
      expect(await acquire(slot)).toBe(0);
      const real = { tokens: 20, points: 7 };
      store.amend(slot, real, now());
      slot.cost = real;
      store.settle(slot, now());
      store.release(slot, now());
      // What counts is the real cost: 80 tokens and 3 points are left, no more.
      expect(await acquire(slotOf({ tokens: 80, points: 3 }))).toBe(0);
      expect(await acquire(slotOf({ tokens: 1 }))).toBeGreaterThan(0);
      expect(await acquire(slotOf({ points: 1 }))).toBeGreaterThan(0);

      // Once every start has left the window (+ 20 ms of a shared store's margin, + 100 ms for late
      // timers), nothing counts: a start settled with its estimate after the amend would leave the
      // difference (tokens -40, points +6) pending for ever.
      await sleep(windowMs + 120);
      expect(store.usage(now())).toEqual([
        { limit: 100, windowMs, counts: 'tokens', used: 0 },
        { limit: 10, windowMs, counts: 'points', used: 0 },
      ]);
      expect(await acquire(slotOf({ tokens: 100, points: 10 }))).toBe(0);
      expect(reports).toEqual([]);
    });

    it('a client: setCost in a task gives tokens back and lets the waiting task start at once', async () => {
      const made = await makeStore();
      const client = new RateLimitedClient({ store: made.store, rateLimit: [{ limit: 100, windowMs: 2_000, counts: 'tokens' }] });
      const errors: unknown[] = [];
      client.on('error', (error) => errors.push(error));
      try {
        const firstDone = client.schedule(
          async (context) => {
            await sleep(20);
            context.setCost({ tokens: 10 });
            return now();
          },
          { cost: { tokens: 90 } },
        );
        const second = client.schedule(() => now(), { cost: { tokens: 80 } });
        const [amendedAt, secondAt] = await Promise.all([firstDone, second]);
        // It started once the first task gave its 80 tokens back, not once the window let them go (2 s).
        expect(secondAt - amendedAt).toBeLessThan(500);
        expect(client.stats().windows).toEqual([expect.objectContaining({ counts: 'tokens', limit: 100 })]);
        expect(errors).toEqual([]);
      } finally {
        await client.close({ drain: false });
        await made.cleanup();
      }
    });
  });
}
