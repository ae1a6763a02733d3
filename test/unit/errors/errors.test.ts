import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ClientClosedError, QueueFullError, RateLimitedClient, RateLimitedClientError, TimeoutError } from '../../../src/index.js';

type AnyErrorClass = abstract new (...args: never[]) => Error;

const samples = (): Array<{ error: RateLimitedClientError; Class: AnyErrorClass; name: string; code: string }> => [
  {
    error: new RateLimitedClientError('base', 'RLC_ERR_SOMETHING'),
    Class: RateLimitedClientError,
    name: 'RateLimitedClientError',
    code: 'RLC_ERR_SOMETHING',
  },
  {
    error: new TimeoutError('Task timed out after 100 ms', 'run', 100),
    Class: TimeoutError,
    name: 'TimeoutError',
    code: 'RLC_ERR_TIMEOUT',
  },
  { error: new QueueFullError(5, 'reject'), Class: QueueFullError, name: 'QueueFullError', code: 'RLC_ERR_QUEUE_FULL' },
  { error: new ClientClosedError(), Class: ClientClosedError, name: 'ClientClosedError', code: 'RLC_ERR_CLIENT_CLOSED' },
];

const SUBCLASSES: AnyErrorClass[] = [TimeoutError, QueueFullError, ClientClosedError];

/** Settles to what `promise` did, so a rejection is handled before time is advanced. */
function outcome<T>(promise: Promise<T>): { current: { ok: true; value: T } | { ok: false; error: unknown } | undefined } {
  const box: { current: { ok: true; value: T } | { ok: false; error: unknown } | undefined } = { current: undefined };
  promise.then(
    (value) => {
      box.current = { ok: true, value };
    },
    (error: unknown) => {
      box.current = { ok: false, error };
    },
  );
  return box;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('error classes', () => {
  it.each(samples().map((s) => [s.name, s] as const))('%s: stable code, name, instanceof its class, the base and Error', (_, s) => {
    const { error, Class, name, code } = s;
    expect(error.code).toBe(code);
    expect(error.name).toBe(name);
    expect(error).toBeInstanceOf(Class);
    expect(error).toBeInstanceOf(RateLimitedClientError);
    expect(error).toBeInstanceOf(Error);
    expect(error instanceof Class).toBe(true);
    expect(String(error)).toBe(`${name}: ${error.message}`);
    expect(error.stack?.split('\n')[0]).toBe(`${name}: ${error.message}`);
    // Not an instance of its sibling classes.
    for (const Other of SUBCLASSES) {
      if (Other !== Class) expect(error instanceof Other).toBe(false);
    }
  });

  it('codes are distinct across classes', () => {
    const codes = samples().map((s) => s.code);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('the base class keeps a cause', () => {
    const cause = new Error('underlying');
    const error = new RateLimitedClientError('wrapped', 'RLC_ERR_X', { cause });
    expect(error.cause).toBe(cause);
    expect(error.message).toBe('wrapped');
  });

  it('unrelated values are not instances', () => {
    const lookalike = Object.assign(new Error('Task timed out'), { name: 'TimeoutError', code: 'RLC_ERR_TIMEOUT' });
    // The DOMException that AbortSignal.timeout() uses is named TimeoutError too.
    const domTimeout = new DOMException('The operation timed out', 'TimeoutError');
    for (const value of [new Error('x'), new TypeError('x'), lookalike, domTimeout, {}, null, undefined, 'TimeoutError', 42]) {
      expect(value instanceof RateLimitedClientError).toBe(false);
      for (const Class of SUBCLASSES) expect(value instanceof Class).toBe(false);
    }
  });

  it('instanceof follows the Symbol.for brand, as an error from another copy of the library carries it', () => {
    const foreignTimeout = Object.create(Error.prototype) as Record<symbol, unknown>;
    foreignTimeout[Symbol.for('rate-limited-client.error')] = true;
    foreignTimeout[Symbol.for('rate-limited-client.error.TimeoutError')] = true;
    expect(foreignTimeout instanceof TimeoutError).toBe(true);
    expect(foreignTimeout instanceof RateLimitedClientError).toBe(true);
    expect(foreignTimeout instanceof QueueFullError).toBe(false);

    // Only the base brand: an instance of the base, not of a subclass.
    const foreignBase = { [Symbol.for('rate-limited-client.error')]: true };
    expect(foreignBase instanceof RateLimitedClientError).toBe(true);
    expect(foreignBase instanceof TimeoutError).toBe(false);

    // A brand that is not exactly `true` does not count.
    expect({ [Symbol.for('rate-limited-client.error.TimeoutError')]: 'yes' } instanceof TimeoutError).toBe(false);
  });

  it('instanceof works across two loaded copies of the module', async () => {
    vi.resetModules();
    const copyA = await import('../../../src/index.js');
    vi.resetModules();
    const copyB = await import('../../../src/index.js');
    // Two real copies: different class objects.
    expect(copyA.TimeoutError).not.toBe(copyB.TimeoutError);
    expect(copyA.RateLimitedClientError).not.toBe(copyB.RateLimitedClientError);

    const fromA = [
      [new copyA.TimeoutError('t', 'queue', 5), copyB.TimeoutError],
      [new copyA.QueueFullError(3, 'drop-oldest'), copyB.QueueFullError],
      [new copyA.ClientClosedError(), copyB.ClientClosedError],
    ] as const;
    for (const [error, ClassInB] of fromA) {
      expect(error instanceof ClassInB).toBe(true);
      expect(error instanceof copyB.RateLimitedClientError).toBe(true);
      // And with this test file's own copy.
      expect(error instanceof RateLimitedClientError).toBe(true);
    }
    expect(new copyB.ClientClosedError() instanceof copyA.ClientClosedError).toBe(true);
    expect(new copyA.TimeoutError('t', 'run', 1) instanceof copyB.QueueFullError).toBe(false);
  });

  it('QueueFullError carries maxSize, overflow and dropped', () => {
    const refused = new QueueFullError(5, 'reject');
    expect(refused).toMatchObject({ maxSize: 5, overflow: 'reject', dropped: false, code: 'RLC_ERR_QUEUE_FULL' });
    expect(refused.message).toBe("Queue is full (maxSize 5, overflow 'reject')");
    for (const overflow of ['drop-oldest', 'drop-lowest-priority'] as const) {
      const dropped = new QueueFullError(7, overflow);
      expect(dropped).toMatchObject({ maxSize: 7, overflow, dropped: true });
      expect(dropped.message).toContain(`'${overflow}'`);
    }
  });

  it('TimeoutError carries phase and timeoutMs', () => {
    expect(new TimeoutError('ran too long', 'run', 250)).toMatchObject({ phase: 'run', timeoutMs: 250, message: 'ran too long' });
    expect(new TimeoutError('waited too long', 'queue', 0)).toMatchObject({ phase: 'queue', timeoutMs: 0 });
  });

  it('ClientClosedError has a default message and takes another', () => {
    expect(new ClientClosedError().message).toBe('The client is closed');
    expect(new ClientClosedError('gone').message).toBe('gone');
  });
});

describe('errors on the real paths', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const clock = { now: () => Date.now() };

  it("a task that exceeds timeoutMs rejects with TimeoutError phase 'run' and its signal aborts with that error", async () => {
    const client = new RateLimitedClient({ clock });
    let seen: AbortSignal | undefined;
    const result = outcome(
      client.schedule(
        ({ signal }) =>
          new Promise<string>((resolve) => {
            seen = signal;
            // Ends only when told to stop, as a well-behaved task does.
            signal.addEventListener('abort', () => resolve('late'));
          }),
        { timeoutMs: 100 },
      ),
    );
    await vi.advanceTimersByTimeAsync(99);
    expect(result.current).toBeUndefined();
    expect(seen?.aborted).toBe(false);

    await vi.advanceTimersByTimeAsync(1);
    expect(result.current?.ok).toBe(false);
    const error = (result.current as { error: unknown }).error;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ phase: 'run', timeoutMs: 100, code: 'RLC_ERR_TIMEOUT', name: 'TimeoutError' });
    expect(seen?.aborted).toBe(true);
    expect(seen?.reason).toBe(error);

    await client.onIdle();
    // Its late 'late' result does not turn the rejection into a success.
    expect(client.stats()).toMatchObject({ completed: 0, failed: 1, inFlight: 0 });
  });

  it("a maxWaitMs expiry in the queue rejects with TimeoutError phase 'queue', and the task never runs", async () => {
    const client = new RateLimitedClient({ concurrency: 1, clock });
    const gate = deferred();
    const first = client.schedule(() => gate.promise);
    const secondTask = vi.fn(() => 'ran');
    const second = outcome(client.schedule(secondTask, { maxWaitMs: 50 }));

    await vi.advanceTimersByTimeAsync(49);
    expect(result(second)).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    const error = result(second);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ phase: 'queue', timeoutMs: 50, code: 'RLC_ERR_TIMEOUT' });

    gate.resolve();
    await first;
    await client.onIdle();
    expect(secondTask).not.toHaveBeenCalled();
    expect(client.stats()).toMatchObject({ submitted: 2, completed: 1, failed: 1, queued: 0 });
  });

  it("a maxWaitMs the window can already tell is impossible rejects at once with phase 'queue'", async () => {
    const client = new RateLimitedClient({ rateLimit: { limit: 1, windowMs: 1_000 }, clock });
    await expect(client.schedule(() => 'first')).resolves.toBe('first');
    const second = outcome(client.schedule(() => 'second', { maxWaitMs: 100 }));
    // No time passes.
    await vi.advanceTimersByTimeAsync(0);
    const error = result(second);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ phase: 'queue', timeoutMs: 100 });
    expect(client.stats()).toMatchObject({ submitted: 1, rejected: 1, queued: 0 });
  });

  it("overflow 'reject' gives QueueFullError with dropped false", async () => {
    const client = new RateLimitedClient({ concurrency: 1, queue: { maxSize: 1, overflow: 'reject' }, clock });
    const gate = deferred();
    const running = client.schedule(() => gate.promise);
    const queued = client.schedule(() => 'queued');
    await vi.advanceTimersByTimeAsync(0);
    expect(client.stats()).toMatchObject({ inFlight: 1, queued: 1 });

    const error = await client
      .schedule(() => 'third')
      .then(
        () => expect.unreachable('the third task was accepted'),
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(QueueFullError);
    expect(error).toBeInstanceOf(RateLimitedClientError);
    expect(error).toMatchObject({ maxSize: 1, overflow: 'reject', dropped: false, code: 'RLC_ERR_QUEUE_FULL' });
    expect(client.stats()).toMatchObject({ submitted: 2, rejected: 1 });

    gate.resolve();
    await running;
    await expect(queued).resolves.toBe('queued');
  });

  it("overflow 'drop-oldest' rejects the dropped task with QueueFullError with dropped true", async () => {
    const client = new RateLimitedClient({ concurrency: 1, queue: { maxSize: 1, overflow: 'drop-oldest' }, clock });
    const gate = deferred();
    const running = client.schedule(() => gate.promise);
    const oldest = outcome(client.schedule(() => 'oldest'));
    const newest = client.schedule(() => 'newest');
    await vi.advanceTimersByTimeAsync(0);
    const error = result(oldest);
    expect(error).toBeInstanceOf(QueueFullError);
    expect(error).toMatchObject({ maxSize: 1, overflow: 'drop-oldest', dropped: true });
    gate.resolve();
    await running;
    await expect(newest).resolves.toBe('newest');
  });

  it('after close(), schedule rejects with ClientClosedError', async () => {
    const client = new RateLimitedClient({ clock });
    await client.close();
    const error = await client
      .schedule(() => 'late')
      .then(
        () => expect.unreachable('a closed client accepted a task'),
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(ClientClosedError);
    expect(error).toBeInstanceOf(RateLimitedClientError);
    expect(error).toMatchObject({ code: 'RLC_ERR_CLIENT_CLOSED', name: 'ClientClosedError' });
    expect(client.stats()).toMatchObject({ submitted: 0, rejected: 1 });
  });

  it('close({ drain: false }) rejects what was queued with ClientClosedError', async () => {
    const client = new RateLimitedClient({ concurrency: 1, clock });
    const gate = deferred();
    const running = client.schedule(() => gate.promise);
    const queuedTask = vi.fn(() => 'queued');
    const queued = outcome(client.schedule(queuedTask));
    const closed = client.close({ drain: false });
    await vi.advanceTimersByTimeAsync(0);
    expect(result(queued)).toBeInstanceOf(ClientClosedError);
    gate.resolve();
    await running;
    await closed;
    expect(queuedTask).not.toHaveBeenCalled();
  });
});

/** The rejection reason of a settled promise box; undefined while pending; fails if it fulfilled. */
function result(box: ReturnType<typeof outcome>): unknown {
  const current = box.current;
  if (current === undefined) return undefined;
  if (current.ok) return expect.unreachable(`fulfilled with ${String(current.value)}`);
  return current.error;
}
