import { afterEach, describe, expect, it } from 'vitest';
import {
  type ClientCreateMessage,
  DIAGNOSTICS_CHANNELS,
  type DropMessage,
  type ErrorMessage,
  type IdleMessage,
  QueueFullError,
  RateLimitedClient,
  type TaskMessage,
  TimeoutError,
} from '../../../src/index.js';
import { type ChannelName as Name, recordChannels } from '../../support/diagnostics-recorder.js';

const TASK_CHANNELS = [DIAGNOSTICS_CHANNELS.taskEnqueue, DIAGNOSTICS_CHANNELS.taskStart, DIAGNOSTICS_CHANNELS.taskEnd];
let stops: Array<() => void> = [];
afterEach(() => {
  stops.forEach((stop) => stop());
  stops = [];
});
function recording(names: readonly Name[]): Array<[Name, unknown]> {
  const { seen, stop } = recordChannels(names);
  stops.push(stop);
  return seen;
}

describe('node:diagnostics_channel', () => {
  it('publishes each client as it is created', () => {
    const seen = recording([DIAGNOSTICS_CHANNELS.clientCreate]);
    const a = new RateLimitedClient();
    const b = new RateLimitedClient();
    expect(seen.map(([, message]) => (message as ClientCreateMessage).client)).toEqual([a, b]);
  });

  it('names the client in every message and in stats(), and publishes its close once', async () => {
    const seen = recording([
      DIAGNOSTICS_CHANNELS.clientCreate,
      DIAGNOSTICS_CHANNELS.clientClose,
      DIAGNOSTICS_CHANNELS.taskEnqueue,
      DIAGNOSTICS_CHANNELS.idle,
    ]);
    const client = new RateLimitedClient({ name: 'github' });
    expect(client.name).toBe('github');
    expect(client.stats().name).toBe('github');
    expect(new RateLimitedClient().stats().name).toBeUndefined();
    await client.schedule(() => 'x');
    await client.close();
    await client.close();
    const named = seen.filter(([, message]) => (message as { client: unknown }).client === client);
    expect(named.map(([channel, message]) => [channel, (message as { name: unknown }).name])).toEqual([
      [DIAGNOSTICS_CHANNELS.clientCreate, 'github'],
      [DIAGNOSTICS_CHANNELS.taskEnqueue, 'github'],
      [DIAGNOSTICS_CHANNELS.idle, 'github'],
      [DIAGNOSTICS_CHANNELS.clientClose, 'github'],
    ]);
  });

  it("carries a task's key, undefined without one", async () => {
    const seen = recording([DIAGNOSTICS_CHANNELS.taskEnqueue]);
    const client = new RateLimitedClient();
    await client.schedule(() => 'x', { key: 'shop-1' });
    await client.schedule(() => 'y');
    expect(seen.map(([, message]) => (message as TaskMessage).key)).toEqual(['shop-1', undefined]);
  });

  it('tells why a task waited: none when it started at once, else the reason its queue stood still', async () => {
    const seen = recording([DIAGNOSTICS_CHANNELS.taskStart, DIAGNOSTICS_CHANNELS.taskEnd]);
    const reasons = () =>
      seen.filter(([channel]) => channel === DIAGNOSTICS_CHANNELS.taskStart).map(([, m]) => (m as TaskMessage).waitReason);

    const windowed = new RateLimitedClient({ concurrency: 5, rateLimit: { limit: 1, windowMs: 30 } });
    await Promise.all([windowed.schedule(() => 'a'), windowed.schedule(() => 'b')]);
    expect(reasons()).toEqual([undefined, 'window']);

    seen.length = 0;
    const narrow = new RateLimitedClient({ concurrency: 1 });
    await Promise.all([narrow.schedule(() => 'a'), narrow.schedule(() => 'b'), narrow.schedule(() => 'c')]);
    expect(reasons()).toEqual([undefined, 'concurrency', 'concurrency']);

    seen.length = 0;
    const paused = new RateLimitedClient();
    paused.pause();
    const work = paused.schedule(() => 'a');
    paused.resume();
    await work;
    expect(reasons()).toEqual(['paused']);

    seen.length = 0;
    const expiring = new RateLimitedClient({ rateLimit: { limit: 1, windowMs: 60_000 } });
    await expiring.schedule(() => 'a');
    const late = expiring.schedule(() => 'b', { maxWaitMs: 60_000 });
    await expiring.close({ drain: false });
    await expect(late).rejects.toThrow();
    const ended = seen.filter(([channel]) => channel === DIAGNOSTICS_CHANNELS.taskEnd).map(([, m]) => m as TaskMessage);
    expect(ended.map((m) => [m.outcome, m.startedAt === undefined, m.waitReason])).toEqual([
      ['completed', false, undefined],
      ['failed', true, 'window'],
    ]);
  });

  it('follows every task from enqueue to exactly one end, with start in between when it ran', async () => {
    const seen = recording(TASK_CHANNELS);
    const client = new RateLimitedClient({ concurrency: 1, queue: { maxSize: 3, overflow: 'drop-oldest' } });
    client.pause();
    const outcomes = await Promise.allSettled([
      client.schedule(() => 'a', { priority: 1 }), // dropped by the fourth
      client.schedule(() => {
        throw new Error('b failed');
      }),
      client.schedule(() => 'c', { weight: 1 }),
      client.schedule(() => 'd', { priority: 2, weight: 1 }),
      new Promise((resolve) => setImmediate(resolve)).then(() => {
        client.resume();
        return client.onIdle();
      }),
    ]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);

    const byTask = new Map<TaskMessage, Name[]>();
    for (const [name, message] of seen) {
      const task = message as TaskMessage;
      expect(task.client).toBe(client);
      byTask.set(task, [...(byTask.get(task) ?? []), name]);
    }
    const [enqueue, start, end] = TASK_CHANNELS;
    const tasks = [...byTask.keys()];
    expect(tasks.map((task) => byTask.get(task))).toEqual([
      [enqueue, end],
      [enqueue, start, end],
      [enqueue, start, end],
      [enqueue, start, end],
    ]);
    expect(tasks.map((task) => [task.priority, task.outcome])).toEqual([
      [1, 'dropped'],
      [0, 'failed'],
      [0, 'completed'],
      [2, 'completed'],
    ]);
    expect(tasks[0]?.error).toBeInstanceOf(QueueFullError);
    expect(tasks[0]?.startedAt).toBeUndefined();
    expect((tasks[1]?.error as Error).message).toBe('b failed');
    for (const task of tasks.slice(1)) {
      expect(task.enqueuedAt).toBeLessThanOrEqual(task.startedAt as number);
      expect(task.startedAt).toBeLessThanOrEqual(task.endedAt as number);
    }
    await client.close();
  });

  it('ends a task that times out when its promise rejects, and one aborted in the queue without a start', async () => {
    const seen = recording([DIAGNOSTICS_CHANNELS.taskStart, DIAGNOSTICS_CHANNELS.taskEnd]);
    const client = new RateLimitedClient({ concurrency: 1 });
    let finish = () => {};
    const slow = client.schedule(() => new Promise<void>((resolve) => (finish = resolve)), { timeoutMs: 20 });
    const controller = new AbortController();
    const queued = client.schedule(() => 'never', { signal: controller.signal });
    controller.abort(new Error('not needed'));
    await expect(queued).rejects.toThrow('not needed');
    await expect(slow).rejects.toBeInstanceOf(TimeoutError);
    const ends = seen.filter(([name]) => name === DIAGNOSTICS_CHANNELS.taskEnd).map(([, m]) => m as TaskMessage);
    expect(ends.map((task) => task.outcome)).toEqual(['aborted', 'failed']);
    expect(ends[0]?.startedAt).toBeUndefined();
    expect(ends[1]?.startedAt).toBeTypeOf('number');
    finish();
    await client.close();
  });

  it('reports nothing for a task queued before anyone subscribed', async () => {
    const client = new RateLimitedClient();
    client.pause();
    const early = client.schedule(() => 'early');
    const seen = recording(TASK_CHANNELS);
    const late = client.schedule(() => 'late');
    client.resume();
    await Promise.all([early, late]);
    expect(new Set(seen.map(([, message]) => message)).size).toBe(1);
    expect(seen.map(([name]) => name)).toEqual(TASK_CHANNELS);
    await client.close();
  });

  it('publishes a listener error on the error channel even when no error listener hears it', async () => {
    const seen = recording([DIAGNOSTICS_CHANNELS.error]);
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    const client = new RateLimitedClient();
    const thrown = new Error('idle listener broke');
    client.on('idle', () => {
      throw thrown;
    });
    await client.schedule(() => 1);
    await client.onIdle();
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', onWarning);
    expect(seen).toEqual([[DIAGNOSTICS_CHANNELS.error, { client, error: thrown }]]);
    expect(warnings.some((message) => message.includes('idle listener broke'))).toBe(true);
    await client.close();
  });

  it('mirrors the drop, idle and error events with their client', async () => {
    const seen = recording([DIAGNOSTICS_CHANNELS.drop, DIAGNOSTICS_CHANNELS.idle, DIAGNOSTICS_CHANNELS.error]);
    const client = new RateLimitedClient({ queue: { maxSize: 1, overflow: 'drop-oldest' } });
    const thrown = new Error('listener broke');
    client.on('idle', () => {
      throw thrown;
    });
    client.on('error', () => {});
    client.pause();
    const dropped = client.schedule(() => 1);
    const kept = client.schedule(() => 2);
    await expect(dropped).rejects.toBeInstanceOf(QueueFullError);
    client.resume();
    await kept;
    await client.onIdle();
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen.map(([name]) => name)).toEqual([DIAGNOSTICS_CHANNELS.drop, DIAGNOSTICS_CHANNELS.idle, DIAGNOSTICS_CHANNELS.error]);
    const [drop, idle, error] = seen.map(([, message]) => message) as [DropMessage, IdleMessage, ErrorMessage];
    expect(drop.client).toBe(client);
    expect(drop.event.reason).toBe('drop-oldest');
    expect(idle.client).toBe(client);
    expect(error).toEqual({ client, error: thrown });
    await client.close();
  });
});
