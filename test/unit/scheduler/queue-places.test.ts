// The request queue's places as the client shows them. RequestQueue's own tests check each move in
// isolation; these check that the scheduler makes the moves: who gets a place freed by the task that
// awaited its store answer, and in what order close({ drain: false }) rejects what waits.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ClientClosedError, StoreError, TimeoutError } from '../../../src/index.js';
import type { StoreSlot } from '../../../src/core/store.js';
import { FakeStore } from '../../support/fake-store.js';
import { fakeClient, flush, outcome, recorder, useFakeTime } from './helpers.js';

beforeEach(useFakeTime);
afterEach(() => {
  vi.useRealTimers();
});

describe("overflow 'block': the place of the task awaiting its store answer", () => {
  /**
   * A queue of one place, held by 'first' while its answer is out; two tasks blocked behind it, the
   * better one submitted last. Workers and permits are plenty: only the place and the store hold tasks.
   */
  function setup(clockSkew = () => 0) {
    const store = new FakeStore();
    const client = fakeClient({
      concurrency: 10,
      queue: { maxSize: 1, overflow: 'block' },
      store,
      clock: { now: () => Date.now() + clockSkew() },
    });
    const { task, names } = recorder();
    const first = outcome(client.schedule(task('first'), { weight: 1, maxWaitMs: 100 }));
    const worse = outcome(client.schedule(task('worse'), { priority: 5, weight: 2 }));
    const better = outcome(client.schedule(task('better'), { priority: 1, weight: 3 }));
    expect(client.stats()).toMatchObject({ queued: 1, blocked: 2 });
    expect(store.outstanding?.slot.weight).toBe(1);
    return { store, client, names, first, worse, better };
  }

  /** The best blocked task holds the place now and is asked for; the other follows it. */
  async function betterThenWorseRun({ store, client, names, worse, better }: ReturnType<typeof setup>) {
    expect(client.stats()).toMatchObject({ queued: 1, blocked: 1 });
    expect(store.outstanding?.slot.weight).toBe(3);
    store.grant();
    await flush();
    expect(names()).toEqual(['better']);
    expect(client.stats()).toMatchObject({ queued: 1, blocked: 0 });
    expect(store.outstanding?.slot.weight).toBe(2);
    store.grant();
    await flush();
    expect([better.value, worse.value]).toEqual(['better', 'worse']);
    expect(client.stats()).toMatchObject({ queued: 0, blocked: 0, completed: 2, failed: 1 });
    expect(store.violations).toEqual([]);
  }

  it('the store fails its acquire: the task rejects, and its place goes to the best blocked task', async () => {
    const s = setup();
    const error = new StoreError('Redis is unreachable', 'acquire');
    s.store.fail(error);
    await flush();
    expect(s.first.reason).toBe(error);
    await betterThenWorseRun(s);
  });

  it('its maxWaitMs passes while the answer is out: TimeoutError, and the place goes to the best blocked task at once', async () => {
    const s = setup();
    await vi.advanceTimersByTimeAsync(100);
    expect(s.first.reason).toBeInstanceOf(TimeoutError);
    // At once: the answer for 'first' is still out, yet 'better' already holds the place (it is asked
    // for only once that answer is in: one answer at a time).
    expect(s.client.stats()).toMatchObject({ queued: 1, blocked: 1, failed: 1 });
    expect(s.store.outstanding?.slot.weight).toBe(1);
    await vi.advanceTimersByTimeAsync(20);
    const late = s.store.grant();
    await flush();
    expect(s.store.history(late)).toEqual(['acquire@0', 'release@120']);
    await betterThenWorseRun(s);
  });

  it('the grant arrives past its maxWaitMs before the deadline timer fired: TimeoutError, and the place goes to the best blocked task', async () => {
    let skew = 0;
    const s = setup(() => skew);
    skew = 150; // the clock moved on; the deadline timer has not run yet (a busy event loop)
    const late = s.store.grant();
    await flush();
    expect(s.first.reason).toBeInstanceOf(TimeoutError);
    expect(s.store.history(late)).toEqual(['acquire@0', 'release@150']);
    await betterThenWorseRun(s);
  });
});

describe('close({ drain: false }) rejects what waits in a defined order', () => {
  // Why this order: close() rejects jobs in the order it takes them out, not in priority order. First
  // the job out of line for its store answer: it is in neither of the queue's lists, so it is taken on
  // its own, and like any removal that frees a place, that lets the best blocked job into the line.
  // Then RequestQueue.clear(): the blocked list, then the line, each in the order its jobs were
  // submitted. (Until issue 16 each list kept the order its jobs entered it: a job pushed out of the
  // line by a better one came after the blocked jobs before it. The queue no longer keeps an
  // entry-order list, which cost every job two links and every start two cache misses with several
  // priorities; submission order is what a caller would expect anyway. A decision, made then.)
  // clear() empties both lists before any job is rejected, so those rejections let nothing in.
  // Blocked-then-line is how the two lists have been joined since the scheduler's first version;
  // nothing in the client depends on it, but callers see it (their rejection handlers run in this
  // order), so a change must be a decision, not the side effect of a refactor.

  it('the blocked in the order they were submitted, then the line in the order they were submitted', async () => {
    const client = fakeClient({ concurrency: 1, queue: { maxSize: 2, overflow: 'block' } });
    const rejected: string[] = [];
    const submit = (name: string, priority: number) =>
      client
        .schedule(() => name, { priority })
        .catch((error: unknown) => {
          rejected.push(error instanceof ClientClosedError ? name : `${name}: ${String(error)}`);
        });
    const running = client.schedule(() => new Promise((resolve) => setTimeout(resolve, 10)));
    const all = [
      submit('a', 5), // line: a
      submit('b', 5), // line: a b (full)
      submit('c', 5), // blocked: c
      submit('d', 3), // d takes the place of b, the worst in line. line: a d; blocked: c b
      submit('e', 1), // e takes the place of a. line: d e; blocked: c b a
      submit('f', 9), // blocked: c b a f
    ];
    expect(client.stats()).toMatchObject({ inFlight: 1, queued: 2, blocked: 4 });
    // Not the start order (e d a b c f): the blocked a b c f, then the line d e.
    const closed = outcome(client.close({ drain: false }));
    await Promise.all(all);
    expect(rejected).toEqual(['a', 'b', 'c', 'f', 'd', 'e']);
    await vi.advanceTimersByTimeAsync(10);
    await running;
    expect(closed.state).toBe('fulfilled');
  });

  it('the task awaiting its store answer first (its place lets the best blocked into the line), then the blocked, then the line', async () => {
    const store = new FakeStore();
    const client = fakeClient({ concurrency: 10, queue: { maxSize: 2, overflow: 'block' }, store });
    const rejected: string[] = [];
    const submit = (name: string, priority: number) =>
      client
        .schedule(() => name, { priority })
        .catch((error: unknown) => {
          rejected.push(error instanceof ClientClosedError ? name : `${name}: ${String(error)}`);
        });
    const all = [
      submit('a', 5), // out of line for its answer, holding one of the two places
      submit('b', 5), // line: b (full)
      submit('c', 0), // c takes the place of b. line: c; blocked: b
      submit('d', 9), // blocked: b d
    ];
    expect(client.stats()).toMatchObject({ queued: 2, blocked: 2 });
    const closed = outcome(client.close({ drain: false }));
    await Promise.all(all);
    // a's place went to b, the best blocked, before clear(): blocked d, then the line b c.
    expect(rejected).toEqual(['a', 'd', 'b', 'c']);
    store.grant(); // the late grant is given back; then the client has closed
    await flush();
    expect(closed.state).toBe('fulfilled');
    expect(store.violations).toEqual([]);
  });
});

// Not about the queue's places: it sits here for now, and belongs with async-store.test.ts's wake() tests.
describe("a store's wake() from a call the client makes while handling an answer", () => {
  /** A custom store that runs `onRelease` (once) synchronously from its `release()`. */
  class WakingStore extends FakeStore {
    onRelease: (() => void) | undefined = undefined;
    override release(slot: StoreSlot, now: number): void {
      super.release(slot, now);
      const hook = this.onRelease;
      this.onRelease = undefined;
      hook?.();
    }
  }

  it('is not lost when it comes while the answer for the next task, asked for inside that same call, is out', async () => {
    const store = new WakingStore();
    const client = fakeClient({ concurrency: 10, store });
    const controller = new AbortController();
    const a = outcome(client.schedule(() => 'a', { signal: controller.signal }));
    const b = outcome(client.schedule(() => 'b', { weight: 2 }));
    controller.abort(new Error('stop'));
    await flush();
    expect(a.state).toBe('rejected');
    // The grant for 'a', which left meanwhile, is released while the client handles that answer. The
    // store wakes the client from that release(): room freed, and the client asks for 'b' at once. Then
    // it wakes it again (say, a release by another process it had heard of), while b's answer is out.
    const outstandingAtSecondWake: Array<number | undefined> = [];
    store.onRelease = () => {
      store.wake();
      outstandingAtSecondWake.push(store.outstanding?.slot.weight);
      store.wake();
    };
    store.grant();
    await flush();
    expect(outstandingAtSecondWake).toEqual([2]);
    expect(store.ops('acquire')).toHaveLength(2);
    // b's answer was read before the second wake: stale. The client asks again at once, as it does for
    // any wake that comes while an answer is out; it must not wait for an event that may never come.
    store.refuse(Infinity);
    await flush();
    expect(store.ops('acquire')).toHaveLength(3);
    expect(store.outstanding?.slot.weight).toBe(2);
    store.grant();
    await flush();
    expect(b.value).toBe('b');
    expect(store.violations).toEqual([]);
  });
});
