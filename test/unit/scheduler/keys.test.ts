// Many tenants in one client: limits per key, fair turns among keys, feedback per key, idle keys let go.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { QueueFullError, type RateLimitedClient } from '../../../src/index.js';
import { fakeClient, flush, outcome, recorder, useFakeTime } from './helpers.js';

beforeEach(useFakeTime);
afterEach(() => {
  vi.useRealTimers();
});

/** Queues `count` tasks of `key` that record their start as `key`. */
function queue(
  client: RateLimitedClient,
  key: string | undefined,
  count: number,
  task: (name: string) => () => Promise<unknown>,
  priority = 0,
) {
  return Array.from({ length: count }, () => client.schedule(task(key ?? '-'), { key, priority }));
}

describe('fair turns among keys', () => {
  it("the issue's noisy neighbour: B's 5 tasks start in the first window after they were queued, not after A's 500", async () => {
    const client = fakeClient({ rateLimit: { limit: 50, windowMs: 100 }, concurrency: 1_000 });
    const { started, task } = recorder();
    const all = [...queue(client, 'A', 500, task)];
    await vi.advanceTimersByTimeAsync(1);
    all.push(...queue(client, 'B', 5, task));
    await vi.advanceTimersByTimeAsync(1_100);
    await Promise.all(all);
    const b = started.filter((s) => s.name === 'B').map((s) => s.at);
    expect(b).toHaveLength(5);
    // Queued at 1 ms, while the first window (50 of A's) was full: they start when it frees, at 100 ms.
    expect(Math.max(...b)).toBe(100);
  });

  it("with fairness: 'fifo', the noisy neighbour wins: B waits behind all of A's", async () => {
    const client = fakeClient({ rateLimit: { limit: 50, windowMs: 100 }, concurrency: 1_000, fairness: 'fifo' });
    const { started, task } = recorder();
    const all = [...queue(client, 'A', 500, task)];
    await vi.advanceTimersByTimeAsync(1);
    all.push(...queue(client, 'B', 5, task));
    await vi.advanceTimersByTimeAsync(1_100);
    await Promise.all(all);
    expect(started.filter((s) => s.name === 'B').map((s) => s.at)).toEqual([1_000, 1_000, 1_000, 1_000, 1_000]);
  });

  it('backlogged keys at one priority take turns, one start each, in round-robin order', async () => {
    const client = fakeClient({ concurrency: 1 });
    const { started, task } = recorder();
    client.pause();
    const all = [
      ...queue(client, 'a', 4, task),
      ...queue(client, 'b', 2, task),
      ...queue(client, 'c', 3, task),
      ...queue(client, undefined, 2, task),
    ];
    client.resume();
    await Promise.all(all);
    expect(started.map((s) => s.name).join('')).toBe('abc-abc-aca');
  });

  it("a key of weight 2 gets two turns to another's one", async () => {
    const client = fakeClient({ concurrency: 1, perKey: (key) => ({ weight: key === 'gold' ? 2 : 1 }) });
    const { started, task } = recorder();
    client.pause();
    const all = [...queue(client, 'gold', 6, task), ...queue(client, 'basic', 6, task)];
    client.resume();
    await Promise.all(all);
    const first9 = started.slice(0, 9).map((s) => s.name);
    expect(first9.filter((name) => name === 'gold')).toHaveLength(6);
    expect(first9.filter((name) => name === 'basic')).toHaveLength(3);
  });

  it('priorities stay strict across keys; within a key, first in first out', async () => {
    const client = fakeClient({ concurrency: 1 });
    const order: string[] = [];
    client.pause();
    const all = [
      client.schedule(() => order.push('a1'), { key: 'a', priority: 5 }),
      client.schedule(() => order.push('a2'), { key: 'a', priority: 5 }),
      client.schedule(() => order.push('b1'), { key: 'b', priority: 0 }),
      client.schedule(() => order.push('a0'), { key: 'a', priority: 0 }),
      client.schedule(() => order.push('b2'), { key: 'b', priority: 5 }),
    ];
    client.resume();
    await Promise.all(all);
    expect(order).toEqual(['b1', 'a0', 'a1', 'b2', 'a2']);
  });

  it('a key that comes back after each start does not get every turn (its turn is remembered)', async () => {
    const client = fakeClient({ concurrency: 1 });
    const order: string[] = [];
    client.pause();
    const rest = queue(client, 'a', 6, () => async () => order.push('a'));
    // b queues its next task as each one runs: it is never backlogged, yet must not starve a.
    let left = 6;
    const again = (): Promise<unknown> =>
      client.schedule(
        () => {
          order.push('b');
          if (--left > 0) void again();
        },
        { key: 'b' },
      );
    const first = again();
    client.resume();
    await Promise.all([...rest, first]);
    await vi.advanceTimersByTimeAsync(10);
    expect(order.join('')).toMatch(/^(ab|ba){6}$/);
  });
});

describe('limits per key', () => {
  it("a keyed task starts only when its key's window and the client's have room", async () => {
    const client = fakeClient({
      rateLimit: { limit: 3, windowMs: 1_000 },
      perKey: { rateLimit: { limit: 2, windowMs: 500 } },
      concurrency: 10,
    });
    const { started, task } = recorder();
    await Promise.all([...queue(client, 'a', 3, task), ...queue(client, 'b', 3, task)].map((p) => (vi.advanceTimersByTimeAsync(2_000), p)));
    const times = (key: string) => started.filter((s) => s.name === key).map((s) => s.at);
    // The client's window lets 3 start in each second; each key's, 2 in each half second.
    expect(times('a')).toEqual([0, 0, 1_000]);
    expect(times('b')).toEqual([0, 1_000, 1_000]);
  });

  it("a key whose window is full never holds back another key's task, even of a worse priority", async () => {
    const client = fakeClient({ perKey: { rateLimit: { limit: 1, windowMs: 1_000 } } });
    const { started, task } = recorder();
    const all = [
      client.schedule(task('a'), { key: 'a' }),
      client.schedule(task('a'), { key: 'a' }),
      client.schedule(task('b'), { key: 'b', priority: 9 }),
    ];
    await vi.advanceTimersByTimeAsync(1_000);
    await Promise.all(all);
    expect(started).toEqual([
      { name: 'a', at: 0 },
      { name: 'b', at: 0 },
      { name: 'a', at: 1_000 },
    ]);
  });

  it("a key's concurrency holds its own tasks only", async () => {
    const client = fakeClient({ concurrency: 10, perKey: { concurrency: 1 } });
    const { started, task } = recorder();
    const all = [
      client.schedule(task('a', 100), { key: 'a' }),
      client.schedule(task('a', 100), { key: 'a' }),
      client.schedule(task('b', 100), { key: 'b' }),
      client.schedule(task('b', 100), { key: 'b' }),
    ];
    await vi.advanceTimersByTimeAsync(300);
    await Promise.all(all);
    expect(started).toEqual([
      { name: 'a', at: 0 },
      { name: 'b', at: 0 },
      { name: 'a', at: 100 },
      { name: 'b', at: 100 },
    ]);
    expect(client.stats({ key: 'a' })).toMatchObject({ queued: 0, inFlight: 0, submitted: 2, completed: 2, concurrency: 1 });
  });

  it("a bucket per key: burst at once, then its rate (Shopify's 40, 2 a second)", async () => {
    const client = fakeClient({ concurrency: 100, perKey: { rateLimit: { limit: 2, windowMs: 1_000, burst: 40 } } });
    const { started, task } = recorder();
    const all = queue(client, 'shop', 44, task);
    await vi.advanceTimersByTimeAsync(2_000);
    await Promise.all(all);
    const at = started.map((s) => s.at);
    expect(at.filter((t) => t === 0)).toHaveLength(40);
    expect(at.slice(40)).toEqual([500, 1_000, 1_500, 2_000]);
  });

  it('perKey as a function gives plans that differ; setKeyLimits changes one key from now on', async () => {
    const plans: Record<string, number> = { plus: 4 };
    const client = fakeClient({ perKey: (key) => ({ rateLimit: { limit: plans[key] ?? 1, windowMs: 1_000 } }) });
    const { started, task } = recorder();
    await Promise.all([...queue(client, 'plus', 4, task), ...queue(client, 'free', 1, task)]);
    expect(started.every((s) => s.at === 0)).toBe(true);
    expect(client.stats({ key: 'free' }).windows).toEqual([{ limit: 1, windowMs: 1_000, counts: 'requests', used: 1 }]);
    client.setKeyLimits('free', { rateLimit: { limit: 3, windowMs: 1_000 } });
    await Promise.all(queue(client, 'free', 2, task));
    expect(started.slice(5).map((s) => s.at)).toEqual([0, 0]);
    expect(client.stats({ key: 'free' }).windows[0]).toMatchObject({ limit: 3, used: 3 });
  });

  it("a key's queue bound: 'reject' refuses the key's next task only; other keys go on", async () => {
    const client = fakeClient({ concurrency: 1, perKey: { queue: { maxSize: 2, overflow: 'reject' } } });
    client.pause();
    const a = queue(client, 'a', 2, () => async () => 'a');
    const refused = outcome(client.schedule(() => 'a3', { key: 'a' }));
    const b = client.schedule(() => 'b', { key: 'b' });
    await flush();
    expect(refused.state).toBe('rejected');
    expect(refused.reason).toBeInstanceOf(QueueFullError);
    expect((refused.reason as QueueFullError).key).toBe('a');
    expect((refused.reason as Error).message).toBe("The queue of key 'a' is full (maxSize 2, overflow 'reject')");
    client.resume();
    await Promise.all([...a, b]);
    expect(client.stats({ key: 'a' })).toMatchObject({ submitted: 2, completed: 2, rejected: 1 });
    expect(client.stats().rejected).toBe(1);
  });

  it("a key's queue bound with 'drop-oldest' drops that key's oldest", async () => {
    const client = fakeClient({ concurrency: 1, perKey: { queue: { maxSize: 2, overflow: 'drop-oldest' } } });
    const drops: unknown[] = [];
    client.on('drop', (event) => drops.push(event.reason));
    client.pause();
    const first = outcome(client.schedule(() => 1, { key: 'a' }));
    const others = [client.schedule(() => 2, { key: 'a' }), client.schedule(() => 3, { key: 'a' }), client.schedule(() => 4, { key: 'b' })];
    await flush();
    expect(first.state).toBe('rejected');
    expect((first.reason as QueueFullError).dropped).toBe(true);
    expect(drops).toEqual(['drop-oldest']);
    client.resume();
    expect(await Promise.all(others)).toEqual([2, 3, 4]);
    expect(client.stats({ key: 'a' })).toMatchObject({ submitted: 3, dropped: 1, completed: 2 });
  });

  it("a task heavier than its key's limits is refused at once, naming the key", async () => {
    const client = fakeClient({ perKey: { concurrency: 2, rateLimit: { limit: 5, windowMs: 1_000 } } });
    await expect(client.schedule(() => 1, { key: 'k', weight: 3 })).rejects.toThrow(
      "Key 'k': Expected `weight` to be at most 2 (the `concurrency`), got `3` (number): it could never start",
    );
  });
});

describe('idle keys are let go', () => {
  it('after idleKeyMs past its window (no timer per key), and a later task starts it afresh', async () => {
    const client = fakeClient({ idleKeyMs: 1_000, perKey: { rateLimit: { limit: 1, windowMs: 2_000 } } });
    await client.schedule(() => 1, { key: 'a' });
    expect(client.stats().keys).toBe(1);
    // Its window still counts the start for 2 s: it must be kept that long, then idleKeyMs more.
    await vi.advanceTimersByTimeAsync(2_900);
    expect(client.stats({ key: 'a' }).active).toBe(true);
    await vi.advanceTimersByTimeAsync(400);
    expect(client.stats().keys).toBe(0);
    expect(client.stats({ key: 'a' })).toMatchObject({ active: false, submitted: 0 });
    expect(vi.getTimerCount()).toBe(0);
    await client.schedule(() => 2, { key: 'a' });
    expect(client.stats({ key: 'a' })).toMatchObject({ active: true, submitted: 1 });
  });

  it('a key with work queued or in flight is never let go', async () => {
    const client = fakeClient({ idleKeyMs: 100 });
    const running = client.schedule(() => new Promise((resolve) => setTimeout(resolve, 1_000)), { key: 'a' });
    await client.schedule(() => 1, { key: 'b' });
    await vi.advanceTimersByTimeAsync(500);
    expect(client.stats({ key: 'a' }).active).toBe(true);
    expect(client.stats({ key: 'b' }).active).toBe(false);
    await vi.advanceTimersByTimeAsync(500);
    await running;
  });
});

describe('bad keys and bad per-key limits', () => {
  it.each([
    ['', "Expected `key` to be a non-empty string of at most 256 characters, got '' (an empty string)"],
    [42, 'Expected `key` to be a non-empty string of at most 256 characters, got `42` (number)'],
    [
      'x'.repeat(257),
      "Expected `key` to be a non-empty string of at most 256 characters, got a string of 257 characters ('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…')",
    ],
  ])('schedule() with key %j rejects with a TypeError', async (key, message) => {
    const client = fakeClient();
    await expect(client.schedule(() => 1, { key: key as string })).rejects.toThrow(new TypeError(message));
  });

  it("a perKey function that throws rejects that key's task only, naming the key; nothing else is disturbed", async () => {
    const client = fakeClient({
      perKey: (key) => {
        if (key === 'broken') throw new Error('no plan');
        if (key === 'bad') return { concurrency: 0 };
        return {};
      },
    });
    await expect(client.schedule(() => 1, { key: 'broken' })).rejects.toThrow(new TypeError("`perKey('broken')` threw: no plan"));
    await expect(client.schedule(() => 1, { key: 'bad' })).rejects.toThrow("Expected `perKey('bad').concurrency` to be an integer >= 1");
    expect(await client.schedule(() => 'ok', { key: 'fine' })).toBe('ok');
    expect(client.stats()).toMatchObject({ keys: 1, rejected: 2, completed: 1 });
  });

  it('bad perKey, idleKeyMs and fairness options throw at construction, naming the option', () => {
    expect(() => fakeClient({ perKey: 3 as never })).toThrow(TypeError);
    expect(() => fakeClient({ perKey: { concurrency: -1 } })).toThrow('`perKey.concurrency`');
    expect(() => fakeClient({ perKey: { queue: { maxSize: 5, overflow: 'block' } } })).toThrow("got 'block'");
    expect(() => fakeClient({ perKey: { weight: 0 } })).toThrow('`perKey.weight`');
    expect(() => fakeClient({ idleKeyMs: -5 })).toThrow('`idleKeyMs`');
    expect(() => fakeClient({ fairness: 'random' as never })).toThrow('`fairness`');
  });

  it('setKeyLimits with bad limits throws naming the key; the key keeps its limits', async () => {
    const client = fakeClient({ perKey: { concurrency: 2 } });
    await client.schedule(() => 1, { key: 'a' });
    expect(() => client.setKeyLimits('a', { concurrency: 0 })).toThrow("`setKeyLimits('a', …).concurrency`");
    expect(client.stats({ key: 'a' }).concurrency).toBe(2);
  });
});
