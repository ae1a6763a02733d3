// `onSizeLessThan(n)` as a producer's `await queue.put()`: each free place lets in one waiting
// producer, first come first served, however many producers wait.
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RateLimitedClient } from '../../../src/index.js';
import { fakeClient, flush, outcome, recorder, useFakeTime } from './helpers.js';

function waiting(client: RateLimitedClient): number {
  const { queued, blocked } = client.stats();
  return queued + blocked;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('onSizeLessThan(n) with several producers', () => {
  beforeEach(useFakeTime);

  it('never lets more than n tasks wait when three producers await it before each submission', async () => {
    const client = fakeClient({ concurrency: 1 });
    const { task } = recorder();
    let most = 0;
    const produce = async (name: string): Promise<void> => {
      for (let i = 0; i < 5; i++) {
        await client.onSizeLessThan(4);
        void client.schedule(task(`${name}${i}`, 10));
        most = Math.max(most, waiting(client));
      }
    };
    const producers = Promise.all([produce('a'), produce('b'), produce('c')]);
    await vi.advanceTimersByTimeAsync(200);
    await producers;
    await client.onIdle();
    expect(most).toBe(4);
    expect(client.stats()).toMatchObject({ completed: 15, queued: 0 });
  });

  it('lets in one waiter per free place, first come first served', async () => {
    const client = fakeClient({ concurrency: 1 });
    const { task } = recorder();
    for (let i = 0; i < 5; i++) void client.schedule(task(`t${i}`, 10));
    expect(waiting(client)).toBe(4);
    const order: string[] = [];
    const waiters = ['w1', 'w2', 'w3'].map((name) =>
      outcome(
        client.onSizeLessThan(4).then(() => {
          order.push(name);
          void client.schedule(task(name, 10));
        }),
      ),
    );
    await vi.advanceTimersByTimeAsync(10);
    expect(waiters.map((w) => w.state)).toEqual(['fulfilled', 'pending', 'pending']);
    expect(waiting(client)).toBe(4);
    await vi.advanceTimersByTimeAsync(10);
    expect(waiters.map((w) => w.state)).toEqual(['fulfilled', 'fulfilled', 'pending']);
    expect(waiting(client)).toBe(4);
    await vi.advanceTimersByTimeAsync(10);
    expect(order).toEqual(['w1', 'w2', 'w3']);
    expect(waiting(client)).toBe(4);
  });

  it('a woken waiter that does not submit gives its place to the next one on the next turn', async () => {
    const client = fakeClient({ concurrency: 1 });
    const { task } = recorder();
    for (let i = 0; i < 5; i++) void client.schedule(task(`t${i}`, 10));
    const idle = outcome(client.onSizeLessThan(4));
    const submitting = ['w2', 'w3'].map((name) => outcome(client.onSizeLessThan(4).then(() => void client.schedule(task(name, 10)))));
    await vi.advanceTimersByTimeAsync(10);
    // One place freed: 'idle' got it; it is held for idle's task until this turn is over.
    expect([idle.state, ...submitting.map((w) => w.state)]).toEqual(['fulfilled', 'pending', 'pending']);
    // The next turn (a setImmediate set while fake timers run fires 1 fake ms later): no task came,
    // so 'w2' gets the place; 'w3' still waits.
    await vi.advanceTimersByTimeAsync(1);
    expect([idle.state, ...submitting.map((w) => w.state)]).toEqual(['fulfilled', 'fulfilled', 'pending']);
    expect(waiting(client)).toBe(4);
  });

  it('holds a later caller back until the turn in which a place was given is over', async () => {
    const client = fakeClient();
    client.pause();
    for (let i = 0; i < 3; i++) void client.schedule(() => i);
    const first = outcome(client.onSizeLessThan(4));
    const second = outcome(client.onSizeLessThan(4));
    await flush();
    // The one free place went to `first`, whose task may still come in this turn.
    expect([first.state, second.state]).toEqual(['fulfilled', 'pending']);
    // It did not come: the place is free again on the next turn.
    await vi.advanceTimersByTimeAsync(0);
    expect(second.state).toBe('fulfilled');
    client.resume();
    await client.onIdle();
  });

  it('lets in a waiter whose own threshold is met even while an earlier one with a lower threshold waits', async () => {
    const client = fakeClient();
    client.pause();
    for (let i = 0; i < 3; i++) void client.schedule(() => i);
    const strict = outcome(client.onSizeLessThan(2));
    const loose = outcome(client.onSizeLessThan(10));
    await vi.advanceTimersByTimeAsync(0);
    expect([strict.state, loose.state]).toEqual(['pending', 'fulfilled']);
    client.resume();
    await vi.advanceTimersByTimeAsync(0);
    expect(strict.state).toBe('fulfilled');
  });

  it('onEmpty() and onIdle() still resolve every waiter at once', async () => {
    const client = fakeClient({ concurrency: 1 });
    const { task } = recorder();
    for (let i = 0; i < 3; i++) void client.schedule(task(`t${i}`, 10));
    const empty = [outcome(client.onEmpty()), outcome(client.onEmpty())];
    const idle = [outcome(client.onIdle()), outcome(client.onIdle())];
    await vi.advanceTimersByTimeAsync(20);
    expect(empty.map((w) => w.state)).toEqual(['fulfilled', 'fulfilled']);
    expect(idle.map((w) => w.state)).toEqual(['pending', 'pending']);
    await vi.advanceTimersByTimeAsync(10);
    expect(idle.map((w) => w.state)).toEqual(['fulfilled', 'fulfilled']);
  });

  it('close() gives every place back: a waiter behind an unused place is not left hanging, and no timer stays', async () => {
    const client = fakeClient({ concurrency: 1 });
    void client.schedule(() => new Promise((resolve) => setTimeout(resolve, 10)));
    void client.schedule(() => 'queued');
    const first = outcome(client.onSizeLessThan(2));
    const second = outcome(client.onSizeLessThan(2));
    await flush();
    expect([first.state, second.state]).toEqual(['fulfilled', 'pending']);
    // No task can be submitted any more: the place held for `first` is free at once.
    const closed = outcome(client.close());
    await flush();
    expect(second.state).toBe('fulfilled');
    await vi.advanceTimersByTimeAsync(10);
    expect(closed.state).toBe('fulfilled');
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('onSizeLessThan(n) on random producers', () => {
  it('property: P producers awaiting onSizeLessThan(n) before each submission never make more than n wait, and all finish', async () => {
    const producerArb = fc.record({
      tasks: fc.integer({ min: 1, max: 6 }),
      duration: fc.integer({ min: 0, max: 20 }),
      // true: woken, it submits nothing this time (and is not counted by the bound).
      skips: fc.array(fc.boolean(), { maxLength: 6 }),
      priority: fc.integer({ min: 0, max: 2 }),
    });
    const scenarioArb = fc.record({
      n: fc.integer({ min: 1, max: 5 }),
      concurrency: fc.integer({ min: 1, max: 3 }),
      maxSize: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
      limit: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
      producers: fc.array(producerArb, { minLength: 1, maxLength: 4 }),
    });
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        useFakeTime();
        try {
          const client = fakeClient({
            concurrency: scenario.concurrency,
            ...(scenario.maxSize === undefined ? {} : { queue: { maxSize: scenario.maxSize, overflow: 'block' as const } }),
            ...(scenario.limit === undefined ? {} : { rateLimit: { limit: scenario.limit, windowMs: 10 } }),
          });
          let most = 0;
          let submitted = 0;
          let done = 0;
          for (const producer of scenario.producers) {
            void (async () => {
              for (let i = 0; i < producer.tasks; i++) {
                await client.onSizeLessThan(scenario.n);
                if (producer.skips[i] === true) continue;
                void client.schedule(() => new Promise((resolve) => setTimeout(resolve, producer.duration)), {
                  priority: producer.priority,
                });
                submitted++;
                most = Math.max(most, waiting(client));
              }
              done++;
            })();
          }
          await flush();
          while (done < scenario.producers.length) {
            if (vi.getTimerCount() === 0) throw new Error(`stuck: ${done} producers done, ${JSON.stringify(client.stats())}`);
            await vi.advanceTimersToNextTimerAsync();
            await flush();
          }
          await vi.runAllTimersAsync();
          expect(most).toBeLessThanOrEqual(scenario.n);
          expect(client.stats()).toMatchObject({ completed: submitted, queued: 0, blocked: 0, inFlight: 0 });
        } finally {
          vi.useRealTimers();
        }
      }),
      { numRuns: 300 },
    );
  }, 60_000);
});

describe('onSizeLessThan(n) on the real event loop', () => {
  it('a place given to a waiter that does not submit is free again on the next turn', async () => {
    const client = new RateLimitedClient();
    client.pause();
    for (let i = 0; i < 3; i++) void client.schedule(() => i);
    await client.onSizeLessThan(4);
    // Nothing submitted: the next caller must not wait forever for a task that never comes.
    await client.onSizeLessThan(4);
    client.resume();
    await client.close();
    expect(client.stats()).toMatchObject({ completed: 3 });
  });
});
