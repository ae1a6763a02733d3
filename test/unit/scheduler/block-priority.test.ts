// With `overflow: 'block'` the bound limits how many tasks wait in the queue, not their order: a task
// never waits behind a worse one because it arrived when the queue was full.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeStore } from '../../support/fake-store.js';
import { fakeClient, flush, outcome, recorder, useFakeTime } from './helpers.js';

beforeEach(useFakeTime);
afterEach(() => {
  vi.useRealTimers();
});

describe("overflow 'block' keeps strict priority", () => {
  it('a better task that arrives at a full queue runs before the worse tasks queued', async () => {
    const client = fakeClient({ concurrency: 1, queue: { maxSize: 3, overflow: 'block' } });
    const { task, names } = recorder();
    const all = [0, 1, 2, 3].map((i) => client.schedule(task(`B${i}`, 10), { priority: 10 }));
    all.push(client.schedule(task('I0', 10), { priority: 0 }));
    // The bound still holds: the worst queued task (B3) now waits outside in its place.
    expect(client.stats()).toMatchObject({ inFlight: 1, queued: 3, blocked: 1, queueUtilization: 1 });
    await vi.advanceTimersByTimeAsync(50);
    await Promise.all(all);
    expect(names()).toEqual(['B0', 'I0', 'B1', 'B2', 'B3']);
  });

  it('starts tasks by priority, first in first out among equals, across the queue and the blocked tasks', async () => {
    const client = fakeClient({ concurrency: 1, queue: { maxSize: 2, overflow: 'block' } });
    const { task, names } = recorder();
    const priorities = [3, 1, 3, 0, 2, 1, 0, 3, 2, 1];
    const all = [client.schedule(task('running', 10))];
    priorities.forEach((priority, i) => all.push(client.schedule(task(`p${priority}-${i}`), { priority })));
    expect(client.stats()).toMatchObject({ queued: 2, blocked: priorities.length - 2 });
    await vi.advanceTimersByTimeAsync(10);
    await Promise.all(all);
    const expected = priorities
      .map((priority, i) => ({ priority, i }))
      .sort((a, b) => a.priority - b.priority || a.i - b.i)
      .map(({ priority, i }) => `p${priority}-${i}`);
    expect(names()).toEqual(['running', ...expected]);
  });

  it('a task moved out of the full queue keeps its maxWaitMs deadline, its signal and its place', async () => {
    const client = fakeClient({ concurrency: 1, queue: { maxSize: 2, overflow: 'block' } });
    const { task, names } = recorder();
    const controller = new AbortController();
    const running = client.schedule(task('running', 100));
    const keep = client.schedule(task('keep'), { priority: 5 });
    const expires = outcome(client.schedule(task('expires'), { priority: 5, maxWaitMs: 50 }));
    const aborted = outcome(client.schedule(task('aborted'), { priority: 6, signal: controller.signal }));
    expect(client.stats()).toMatchObject({ queued: 2, blocked: 1 });
    // Better than the worst queued task ('expires', the newer of the two 5s): it takes that place.
    const urgent = client.schedule(task('urgent'), { priority: 0 });
    // Now the worst queued is 'keep': it waits outside too.
    const urgent2 = client.schedule(task('urgent2'), { priority: 1 });
    expect(client.stats()).toMatchObject({ queued: 2, blocked: 3 });
    controller.abort(new Error('stop'));
    await vi.advanceTimersByTimeAsync(0);
    expect(aborted.state).toBe('rejected');
    expect(client.stats()).toMatchObject({ queued: 2, blocked: 2, aborted: 1 });
    await vi.advanceTimersByTimeAsync(50);
    expect(expires.state).toBe('rejected');
    expect(expires.reason).toMatchObject({ name: 'TimeoutError', phase: 'queue', timeoutMs: 50 });
    expect(client.stats()).toMatchObject({ queued: 2, blocked: 1, failed: 1 });
    await vi.advanceTimersByTimeAsync(50);
    await Promise.all([running, keep, urgent, urgent2]);
    expect(names()).toEqual(['running', 'urgent', 'urgent2', 'keep']);
    expect(client.stats()).toMatchObject({ queued: 0, blocked: 0, completed: 4, failed: 1, aborted: 1, submitted: 6 });
  });

  it('close({ drain: false }) rejects a task moved out of the queue like any blocked task', async () => {
    const client = fakeClient({ concurrency: 1, queue: { maxSize: 1, overflow: 'block' } });
    const { task } = recorder();
    const running = outcome(client.schedule(task('running', 10)));
    const moved = outcome(client.schedule(task('moved'), { priority: 5 }));
    const urgent = outcome(client.schedule(task('urgent'), { priority: 0 }));
    expect(client.stats()).toMatchObject({ queued: 1, blocked: 1 });
    const closed = outcome(client.close({ drain: false }));
    await vi.advanceTimersByTimeAsync(10);
    expect([running.state, moved.state, urgent.state, closed.state]).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect(moved.reason).toMatchObject({ name: 'ClientClosedError' });
  });

  it('with a shared store, a better task blocked while the first awaited its answer is asked next once that answer is a refusal', async () => {
    const store = new FakeStore();
    const client = fakeClient({ concurrency: 10, queue: { maxSize: 1, overflow: 'block' }, store });
    const { task, names } = recorder();
    const slow = client.schedule(task('slow'), { priority: 5, weight: 1 });
    // The queue's one place is held by 'slow' while its answer is out: 'urgent' waits outside.
    const urgent = client.schedule(task('urgent'), { priority: 0, weight: 2 });
    expect(client.stats()).toMatchObject({ queued: 1, blocked: 1 });
    expect(store.outstanding?.slot.weight).toBe(1);
    store.refuse(50);
    await flush();
    // Refused, 'slow' is back in line, behind 'urgent': 'urgent' takes the queue's place and is asked.
    expect(client.stats()).toMatchObject({ queued: 1, blocked: 1 });
    expect(store.outstanding?.slot.weight).toBe(2);
    store.grant();
    await flush();
    expect(names()).toEqual(['urgent']);
    await vi.advanceTimersByTimeAsync(50);
    expect(store.outstanding?.slot.weight).toBe(1);
    store.grant();
    await flush();
    await Promise.all([slow, urgent]);
    expect(names()).toEqual(['urgent', 'slow']);
    expect(store.violations).toEqual([]);
  });
});
