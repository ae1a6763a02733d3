import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fakeClient, outcome, recorder, useFakeTime } from './helpers.js';

beforeEach(useFakeTime);
afterEach(() => {
  vi.useRealTimers();
});

describe('concurrency and the worker pool', () => {
  it('runs at most `concurrency` at once and starts the next the moment one finishes', async () => {
    const client = fakeClient({ concurrency: 2 });
    const { started, task } = recorder();
    const all = Promise.all([
      client.schedule(task('a', 30)),
      client.schedule(task('b', 10)),
      client.schedule(task('c', 10)),
      client.schedule(task('d', 10)),
    ]);
    expect(client.stats().inFlight).toBe(2);
    expect(client.stats().queued).toBe(2);
    await vi.advanceTimersByTimeAsync(100);
    expect(await all).toEqual(['a', 'b', 'c', 'd']);
    expect(started).toEqual([
      { name: 'a', at: 0 },
      { name: 'b', at: 0 },
      { name: 'c', at: 10 },
      { name: 'd', at: 20 },
    ]);
  });

  it('lets the pool bound the count while the semaphore bounds the weight', async () => {
    const client = fakeClient({ concurrency: 10, workers: 2 });
    const { started, task } = recorder();
    const all = Promise.all([1, 2, 3].map((n) => client.schedule(task(`t${n}`, 10))));
    expect(client.stats().inFlight).toBe(2);
    await vi.advanceTimersByTimeAsync(20);
    await all;
    expect(started.map((s) => s.at)).toEqual([0, 0, 10]);
  });

  it('takes `weight` permits: a heavy task waits for enough to be free, and nothing passes it', async () => {
    const client = fakeClient({ concurrency: 3 });
    const { started, task } = recorder();
    const all = Promise.all([
      client.schedule(task('light', 10)),
      client.schedule(task('heavy', 10), { weight: 3 }),
      client.schedule(task('behind', 10)),
    ]);
    // 'behind' would fit now, but strict priority order keeps it behind 'heavy'.
    expect(client.stats().inFlight).toBe(1);
    await vi.advanceTimersByTimeAsync(30);
    await all;
    expect(started).toEqual([
      { name: 'light', at: 0 },
      { name: 'heavy', at: 10 },
      { name: 'behind', at: 20 },
    ]);
  });
});

describe("a task's result", () => {
  it('a plain value, a thenable, a thenable whose `then` throws, and a synchronous throw each settle the promise as the task said', async () => {
    const client = fakeClient({ concurrency: 1 });
    const thenable = { then: (resolve: (value: string) => void) => resolve('adopted') } as unknown as PromiseLike<string>;
    const broken = Object.defineProperty({}, 'then', {
      get() {
        throw new Error('then can not be read');
      },
    });
    const results = await Promise.allSettled([
      client.schedule(() => 'plain'),
      client.schedule(() => thenable),
      client.schedule(() => broken),
      client.schedule(() => {
        throw new Error('thrown');
      }),
      client.schedule(() => 'after'),
    ]);
    expect(results.map((result) => (result.status === 'fulfilled' ? result.value : (result.reason as Error).message))).toEqual([
      'plain',
      'adopted',
      'then can not be read',
      'thrown',
      'after',
    ]);
    expect(client.stats()).toMatchObject({ completed: 3, failed: 2, inFlight: 0 });
  });
});

describe('sliding windows', () => {
  it('starts at most `limit` per window, each slot freeing exactly windowMs after its start', async () => {
    const client = fakeClient({ concurrency: 10, rateLimit: { limit: 2, windowMs: 100 } });
    const { started, task } = recorder();
    const all = Promise.all(['a', 'b', 'c', 'd', 'e'].map((name) => client.schedule(task(name))));
    await vi.advanceTimersByTimeAsync(250);
    await all;
    expect(started.map((s) => s.at)).toEqual([0, 0, 100, 100, 200]);
  });

  it('enforces several windows at once', async () => {
    const client = fakeClient({
      rateLimit: [
        { limit: 2, windowMs: 10 },
        { limit: 3, windowMs: 100 },
      ],
    });
    const { started, task } = recorder();
    const all = Promise.all([1, 2, 3, 4, 5].map((n) => client.schedule(task(`t${n}`))));
    await vi.advanceTimersByTimeAsync(300);
    await all;
    expect(started.map((s) => s.at)).toEqual([0, 0, 10, 100, 100]);
  });

  it('counts weight in the windows', async () => {
    const client = fakeClient({ rateLimit: { limit: 4, windowMs: 100 } });
    const { started, task } = recorder();
    const all = Promise.all([client.schedule(task('a'), { weight: 3 }), client.schedule(task('b'), { weight: 2 })]);
    await vi.advanceTimersByTimeAsync(100);
    await all;
    expect(started.map((s) => s.at)).toEqual([0, 100]);
  });

  it('rejects a weight that could never start, at once, with a RangeError', async () => {
    const client = fakeClient({ concurrency: 5, rateLimit: { limit: 3, windowMs: 100 } });
    await expect(client.schedule(() => 1, { weight: 4 })).rejects.toThrow(RangeError);
    await expect(client.schedule(() => 1, { weight: 6 })).rejects.toThrow(/at most 5 \(the `concurrency`\)/);
    expect(client.stats()).toMatchObject({ queued: 0, submitted: 0 });
  });

  it('applies setRateLimit to work not yet started, counting starts already made', async () => {
    const client = fakeClient({ rateLimit: { limit: 10, windowMs: 100 } });
    const { started, task } = recorder();
    const first = Promise.all([1, 2, 3].map((n) => client.schedule(task(`a${n}`))));
    await first;
    client.setRateLimit({ limit: 4, windowMs: 100 });
    const second = Promise.all([1, 2, 3].map((n) => client.schedule(task(`b${n}`))));
    await vi.advanceTimersByTimeAsync(100);
    await second;
    expect(started.map((s) => s.at)).toEqual([0, 0, 0, 0, 100, 100]);
    expect(client.stats().windows).toEqual([{ limit: 4, windowMs: 100, counts: 'requests', used: 2 }]);
    await vi.advanceTimersByTimeAsync(100);
    expect(client.stats().windows).toEqual([{ limit: 4, windowMs: 100, counts: 'requests', used: 0 }]);
  });

  it('rejects waiting tasks that a lowered limit makes impossible', async () => {
    const client = fakeClient({ concurrency: 1, rateLimit: { limit: 5, windowMs: 100 } });
    const blocker = client.schedule(() => new Promise((resolve) => setTimeout(resolve, 10)));
    const heavy = outcome(client.schedule(() => 'heavy', { weight: 5 }));
    client.setRateLimit({ limit: 4, windowMs: 100 });
    await vi.advanceTimersByTimeAsync(0);
    expect(heavy.state).toBe('rejected');
    expect(heavy.reason).toBeInstanceOf(RangeError);
    await vi.advanceTimersByTimeAsync(10);
    await blocker;
  });
});

describe('priority', () => {
  it('serves lower numbers first and equal priorities in submission order', async () => {
    const client = fakeClient({ concurrency: 1 });
    const { task, names } = recorder();
    const all = Promise.all([
      client.schedule(task('running', 10)),
      client.schedule(task('p5-first'), { priority: 5 }),
      client.schedule(task('p0'), { priority: 0 }),
      client.schedule(task('p5-second'), { priority: 5 }),
      client.schedule(task('p-1'), { priority: -1 }),
    ]);
    await vi.advanceTimersByTimeAsync(10);
    await all;
    expect(names()).toEqual(['running', 'p-1', 'p0', 'p5-first', 'p5-second']);
  });
});

describe('bounded queue', () => {
  it("'block': a task beyond maxSize waits outside the queue and enters when there is room", async () => {
    const client = fakeClient({ concurrency: 1, queue: { maxSize: 1 } });
    const { task, names } = recorder();
    const all = Promise.all([client.schedule(task('run', 10)), client.schedule(task('queued')), client.schedule(task('blocked'))]);
    expect(client.stats()).toMatchObject({ inFlight: 1, queued: 1, blocked: 1, queueUtilization: 1 });
    await vi.advanceTimersByTimeAsync(10);
    await all;
    expect(names()).toEqual(['run', 'queued', 'blocked']);
  });

  it("'reject': QueueFullError at once, nothing queued", async () => {
    const client = fakeClient({ concurrency: 1, queue: { maxSize: 1, overflow: 'reject' } });
    const run = client.schedule(() => new Promise((resolve) => setTimeout(resolve, 10)));
    const queued = client.schedule(() => 'queued');
    await expect(client.schedule(() => 'refused')).rejects.toMatchObject({ code: 'RLC_ERR_QUEUE_FULL', dropped: false });
    expect(client.stats()).toMatchObject({ queued: 1, rejected: 1, submitted: 2 });
    await vi.advanceTimersByTimeAsync(10);
    await Promise.all([run, queued]);
  });

  it("'drop-oldest': the task that waited longest rejects, and a drop event tells", async () => {
    const client = fakeClient({ concurrency: 1, queue: { maxSize: 2, overflow: 'drop-oldest' } });
    const drops: unknown[] = [];
    client.on('drop', (event) => drops.push(event));
    const { task, names } = recorder();
    const run = client.schedule(task('run', 10));
    const oldest = outcome(client.schedule(task('oldest'), { priority: -5 }));
    const kept = client.schedule(task('kept'));
    const newest = client.schedule(task('newest'));
    await vi.advanceTimersByTimeAsync(0);
    expect(oldest.state).toBe('rejected');
    expect(oldest.reason).toMatchObject({ name: 'QueueFullError', overflow: 'drop-oldest', dropped: true });
    expect(drops).toEqual([expect.objectContaining({ reason: 'drop-oldest', priority: -5, weight: 1 })]);
    await vi.advanceTimersByTimeAsync(10);
    await Promise.all([run, kept, newest]);
    expect(names()).toEqual(['run', 'kept', 'newest']);
    expect(client.stats()).toMatchObject({ dropped: 1, completed: 3, submitted: 4 });
  });

  it("'drop-lowest-priority': drops the task that would run last, which may be the new one", async () => {
    const client = fakeClient({ concurrency: 1, queue: { maxSize: 2, overflow: 'drop-lowest-priority' } });
    const { task, names } = recorder();
    const run = client.schedule(task('run', 10));
    const low = outcome(client.schedule(task('low'), { priority: 9 }));
    const mid = client.schedule(task('mid'), { priority: 1 });
    const high = client.schedule(task('high'), { priority: 0 });
    const lower = outcome(client.schedule(task('lower-still'), { priority: 9 }));
    await vi.advanceTimersByTimeAsync(0);
    expect(low.state).toBe('rejected');
    // Equal to the lowest and newer: it would run last, so it is the one dropped.
    expect(lower.state).toBe('rejected');
    await vi.advanceTimersByTimeAsync(10);
    await Promise.all([run, mid, high]);
    expect(names()).toEqual(['run', 'high', 'mid']);
  });

  it('onSizeLessThan gives producers backpressure', async () => {
    const client = fakeClient({ concurrency: 1 });
    const { task } = recorder();
    for (let i = 0; i < 4; i++) void client.schedule(task(`t${i}`, 10));
    const below2 = outcome(client.onSizeLessThan(2));
    await vi.advanceTimersByTimeAsync(10);
    expect(below2.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(10);
    expect(below2.state).toBe('fulfilled');
    expect(client.stats().queued).toBe(1);
    await expect(client.onSizeLessThan(5)).resolves.toBeUndefined();
  });
});

describe('cancellation and time limits', () => {
  it('an abort while queued takes the task out at once; it never runs and takes no slot', async () => {
    const client = fakeClient({ concurrency: 1, rateLimit: { limit: 2, windowMs: 100 } });
    const { task, names, started } = recorder();
    const controller = new AbortController();
    const run = client.schedule(task('run', 10));
    const aborted = outcome(client.schedule(task('aborted'), { signal: controller.signal }));
    const next = client.schedule(task('next'));
    controller.abort(new Error('changed my mind'));
    await vi.advanceTimersByTimeAsync(0);
    expect(aborted.state).toBe('rejected');
    expect((aborted.reason as Error).message).toBe('changed my mind');
    expect(client.stats().queued).toBe(1);
    await vi.advanceTimersByTimeAsync(10);
    await Promise.all([run, next]);
    expect(names()).toEqual(['run', 'next']);
    expect(started[1]!.at).toBe(10);
    expect(client.stats()).toMatchObject({ aborted: 1, completed: 2 });
  });

  it('an already-aborted signal rejects at once with its reason', async () => {
    const client = fakeClient();
    const reason = new Error('already');
    const ran = vi.fn();
    await expect(client.schedule(ran, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(ran).not.toHaveBeenCalled();
  });

  it('a running task sees the abort through its context; the caller rejects at once', async () => {
    const client = fakeClient({ concurrency: 1 });
    const controller = new AbortController();
    let seen: unknown;
    const running = outcome(
      client.schedule(
        ({ signal }) =>
          new Promise((resolve) => {
            signal.addEventListener('abort', () => {
              seen = signal.reason;
              setTimeout(resolve, 5);
            });
          }),
        { signal: controller.signal },
      ),
    );
    const next = recorder();
    const after = client.schedule(next.task('after'));
    controller.abort('stop');
    await vi.advanceTimersByTimeAsync(0);
    expect(seen).toBe('stop');
    expect(running.state).toBe('rejected');
    expect(running.reason).toBe('stop');
    // The aborted task still holds its permit until it returns: concurrency is never exceeded.
    expect(next.started).toEqual([]);
    await vi.advanceTimersByTimeAsync(5);
    await after;
    expect(next.started).toEqual([{ name: 'after', at: 5 }]);
  });

  it('timeoutMs rejects with TimeoutError and aborts the task signal with it', async () => {
    const client = fakeClient();
    let signal: AbortSignal | undefined;
    const result = outcome(
      client.schedule(
        (context) => {
          signal = context.signal;
          return new Promise(() => {});
        },
        { timeoutMs: 50 },
      ),
    );
    await vi.advanceTimersByTimeAsync(49);
    expect(result.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(result.state).toBe('rejected');
    expect(result.reason).toMatchObject({ name: 'TimeoutError', code: 'RLC_ERR_TIMEOUT', phase: 'run', timeoutMs: 50 });
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBe(result.reason);
  });

  it('maxWaitMs rejects a task still queued at its deadline, and at once when the windows already tell', async () => {
    const client = fakeClient({ concurrency: 1, rateLimit: { limit: 1, windowMs: 1_000 } });
    const ran = vi.fn();
    await client.schedule(() => 'first');
    // The window frees at 1000 ms: a task that may wait 100 ms can not make it.
    await expect(client.schedule(ran, { maxWaitMs: 100 })).rejects.toMatchObject({ name: 'TimeoutError', phase: 'queue' });
    const patient = outcome(client.schedule(ran, { maxWaitMs: 1_000 }));
    const queuedBehind = outcome(client.schedule(ran, { maxWaitMs: 1_500 }));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(patient.state).toBe('fulfilled');
    await vi.advanceTimersByTimeAsync(500);
    expect(queuedBehind.state).toBe('rejected');
    expect(queuedBehind.reason).toMatchObject({ phase: 'queue', timeoutMs: 1_500 });
    expect(ran).toHaveBeenCalledTimes(1);
    expect(client.stats()).toMatchObject({ rejected: 1, failed: 1, completed: 2 });
  });

  it('removes its abort listener when a task is done, even with one signal shared by many tasks', async () => {
    const client = fakeClient({ concurrency: 2 });
    const controller = new AbortController();
    const all = Promise.all(Array.from({ length: 50 }, () => client.schedule(() => 1, { signal: controller.signal })));
    expect(getEventListeners(controller.signal, 'abort').length).toBeLessThanOrEqual(1);
    await all;
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});

describe('lifecycle', () => {
  it('onIdle waits for queued and running work; onEmpty only for the queue', async () => {
    const client = fakeClient({ concurrency: 1 });
    const { task } = recorder();
    void client.schedule(task('a', 10));
    void client.schedule(task('b', 10));
    const empty = outcome(client.onEmpty());
    const idle = outcome(client.onIdle());
    await vi.advanceTimersByTimeAsync(10);
    expect(empty.state).toBe('fulfilled');
    expect(idle.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(10);
    expect(idle.state).toBe('fulfilled');
  });

  it('emits idle once when the work runs out', async () => {
    const client = fakeClient();
    const idle = vi.fn();
    client.on('idle', idle);
    await Promise.all([client.schedule(() => 1), client.schedule(() => 2)]);
    await vi.advanceTimersByTimeAsync(0);
    expect(idle).toHaveBeenCalledTimes(1);
    client.off('idle', idle);
    await client.schedule(() => 3);
    expect(idle).toHaveBeenCalledTimes(1);
  });

  it('pause holds new starts, resume continues', async () => {
    const client = fakeClient();
    client.pause();
    expect(client.isPaused).toBe(true);
    const result = outcome(client.schedule(() => 'x'));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(result.state).toBe('pending');
    client.resume();
    await vi.advanceTimersByTimeAsync(0);
    expect(result.state).toBe('fulfilled');
  });

  it('close() finishes queued work, then refuses new work with ClientClosedError', async () => {
    const client = fakeClient({ concurrency: 1 });
    const { task, names } = recorder();
    const a = client.schedule(task('a', 10));
    const b = client.schedule(task('b', 10));
    const closed = outcome(client.close());
    await expect(client.schedule(task('late'))).rejects.toMatchObject({ name: 'ClientClosedError', code: 'RLC_ERR_CLIENT_CLOSED' });
    await vi.advanceTimersByTimeAsync(20);
    await Promise.all([a, b]);
    expect(closed.state).toBe('fulfilled');
    expect(names()).toEqual(['a', 'b']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('close({ drain: false }) rejects what is queued and waits for what runs', async () => {
    const client = fakeClient({ concurrency: 1 });
    const { task } = recorder();
    const running = outcome(client.schedule(task('running', 10)));
    const queued = outcome(client.schedule(task('queued')));
    const closed = outcome(client.close({ drain: false }));
    await vi.advanceTimersByTimeAsync(0);
    expect(queued.state).toBe('rejected');
    expect(queued.reason).toMatchObject({ name: 'ClientClosedError' });
    expect(closed.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(10);
    expect(running.state).toBe('fulfilled');
    expect(closed.state).toBe('fulfilled');
  });

  it('close() drains a paused client instead of waiting forever', async () => {
    const client = fakeClient();
    client.pause();
    const result = outcome(client.schedule(() => 'x'));
    await client.close();
    expect(result.state).toBe('fulfilled');
  });

  it('Symbol.asyncDispose closes the client', async () => {
    const client = fakeClient();
    await client[Symbol.asyncDispose]();
    await expect(client.schedule(() => 1)).rejects.toMatchObject({ name: 'ClientClosedError' });
  });

  it('setConcurrency takes effect for work not yet started', async () => {
    const client = fakeClient({ concurrency: 1 });
    const { started, task } = recorder();
    const all = Promise.all([1, 2, 3, 4].map((n) => client.schedule(task(`t${n}`, 10))));
    client.setConcurrency(3);
    expect(client.stats().inFlight).toBe(3);
    await vi.advanceTimersByTimeAsync(20);
    await all;
    expect(started.map((s) => s.at)).toEqual([0, 0, 0, 10]);
  });

  it('stats add up and show window usage', async () => {
    const client = fakeClient({ concurrency: 1, rateLimit: { limit: 3, windowMs: 100 } });
    const ok = client.schedule(() => 'ok');
    const failing = outcome(client.schedule(() => Promise.reject(new Error('boom'))));
    const waiting = client.schedule(() => 'later');
    const blocked = client.schedule(() => 'much later');
    await vi.advanceTimersByTimeAsync(0);
    const stats = client.stats();
    expect(stats).toMatchObject({ completed: 2, failed: 1, queued: 1, inFlight: 0, submitted: 4, cooldownUntil: null });
    expect(stats.windows).toEqual([{ limit: 3, windowMs: 100, counts: 'requests', used: 3 }]);
    expect(failing.state).toBe('rejected');
    await vi.advanceTimersByTimeAsync(100);
    await Promise.all([ok, waiting, blocked]);
  });

  it('a listener that throws is reported as an error event and breaks nothing', async () => {
    const client = fakeClient();
    const errors: unknown[] = [];
    client.on('idle', () => {
      throw new Error('listener bug');
    });
    client.on('error', (error) => errors.push(error));
    await expect(client.schedule(() => 'fine')).resolves.toBe('fine');
    await vi.advanceTimersByTimeAsync(0);
    expect(errors).toEqual([new Error('listener bug')]);
  });
});
