// A RedisStore's place in the line for the shared concurrency, driven through a scripted Redis: the order
// in which a reply and a pub/sub message arrive is the test's to choose (two sockets: either may come
// first), which a real server can not be made to do on demand.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { monotonicClock } from '../../../src/core/clock.js';
import type { StoreSlot } from '../../../src/core/store.js';
import { RedisStore } from '../../../src/redis.js';

/** An acquire's reply: granted (or refused by the concurrency), others in line, this one in line. */
function acquireReply(granted: boolean, others: number, inLine: boolean): unknown[] {
  return [granted ? 1 : 0, granted ? '0' : '50', granted ? '' : 'concurrency', 1, others, inLine ? 1 : 0, 0, '', 0];
}

/**
 * An ioredis-shaped client whose script calls wait until the test answers them. Each acquire is kept
 * (`acquires`) with the clientId it carried; every other script (release, settle) is answered at once.
 */
class ScriptedRedis extends EventEmitter {
  status = 'ready';
  readonly acquires: Array<{ clientId: string; answer: (reply: unknown) => void }> = [];
  subscriber: ScriptedRedis | undefined;

  evalsha(_sha: string, numKeys: number, ...rest: Array<string | number>): Promise<unknown> {
    const args = rest.slice(numKeys);
    // ACQUIRE's ARGV: id, clientId, weight, settle, ... (see redis-lua-acquire.ts); others start with the channel.
    if (typeof args[1] === 'string' && String(args[0]).startsWith(args[1])) {
      return new Promise((resolve) => this.acquires.push({ clientId: args[1] as string, answer: resolve }));
    }
    return Promise.resolve([]);
  }

  eval(): Promise<unknown> {
    return Promise.reject(new Error('not used'));
  }

  duplicate(): ScriptedRedis {
    this.subscriber = new ScriptedRedis();
    return this.subscriber;
  }

  subscribe(): Promise<unknown> {
    return Promise.resolve(1);
  }

  unsubscribe(): Promise<unknown> {
    return Promise.resolve(1);
  }

  disconnect(): void {}
}

/** The next acquire the store sent (it goes out a few microtasks after `acquire()` is called). */
async function nextAcquire(redis: ScriptedRedis) {
  for (let turns = 0; redis.acquires.length === 0 && turns < 100; turns++) await Promise.resolve();
  const asked = redis.acquires.shift();
  if (asked === undefined) throw new Error('the store sent no acquire');
  return asked;
}

const slot = (): StoreSlot => ({ weight: 1, cost: null, settleAtStart: true, storeData: undefined, priority: 0 });

async function opened() {
  const redis = new ScriptedRedis();
  const store = new RedisStore({ redis, key: 'line' });
  let wakes = 0;
  store.open({
    limits: { windows: [], concurrency: 4 },
    clock: monotonicClock,
    wake: () => wakes++,
    report: () => {},
    waiting: () => 3,
    nextPriority: () => 0,
  });
  // A first question, refused by the concurrency: the store subscribes to hear its wake.
  const first = store.acquire(slot(), monotonicClock.now()) as Promise<number>;
  const asked = await nextAcquire(redis);
  asked.answer(acquireReply(false, 1, true));
  await first;
  await new Promise((resolve) => setImmediate(resolve));
  return { redis, store, clientId: asked.clientId, wakes: () => wakes };
}

/** Asks for a start and has it granted with `reply`; `before` runs while the question is out. */
async function granted(redis: ScriptedRedis, store: RedisStore, reply: unknown[], before?: () => void): Promise<void> {
  const answer = store.acquire(slot(), monotonicClock.now()) as Promise<number>;
  const asked = await nextAcquire(redis);
  before?.();
  asked.answer(reply);
  expect(await answer).toBe(0);
}

describe('RedisStore: its place in line for the shared concurrency', () => {
  it('granted and put at the back of the line, the next task waits for its wake without asking Redis', async () => {
    const { redis, store } = await opened();
    await granted(redis, store, acquireReply(true, 2, true));
    const next = store.acquire(slot(), monotonicClock.now());
    expect(typeof next).toBe('number');
    expect(next).toBeGreaterThan(0);
    expect(redis.acquires).toHaveLength(0);
  });

  it('its wake by name ends the wait: the next task asks at once', async () => {
    const { redis, store, clientId, wakes } = await opened();
    await granted(redis, store, acquireReply(true, 2, true));
    const before = wakes();
    redis.subscriber?.emit('message', 'rlc:{line}:freed', `release:${clientId}`);
    expect(wakes()).toBe(before + 1);
    expect(typeof store.acquire(slot(), monotonicClock.now())).not.toBe('number');
  });

  it("a wake that overtook the answer putting it in line is not waited for again (it would wait out the lease's lapse)", async () => {
    const { redis, store, clientId } = await opened();
    // The wake by name for the place this answer gives arrives on the subscriber first.
    await granted(redis, store, acquireReply(true, 2, true), () => {
      redis.subscriber?.emit('message', 'rlc:{line}:freed', `release:${clientId}`);
    });
    expect(typeof store.acquire(slot(), monotonicClock.now())).not.toBe('number');
  });

  it("another process's wake is not this one's", async () => {
    const { redis, store } = await opened();
    await granted(redis, store, acquireReply(true, 2, true));
    redis.subscriber?.emit('message', 'rlc:{line}:freed', 'release:someone-else');
    expect(typeof store.acquire(slot(), monotonicClock.now())).toBe('number');
  });
});
