// Costs in several currencies through the scheduler: windows that count tokens, a task's cost, setCost.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { TaskContext } from '../../../src/index.js';
import { fakeClient, flush, outcome, recorder, useFakeTime } from './helpers.js';

beforeEach(useFakeTime);
afterEach(() => {
  vi.useRealTimers();
});

const TOKENS = [
  { limit: 10, windowMs: 1_000 },
  { limit: 1_000, windowMs: 1_000, counts: 'tokens' },
];

describe('windows that count a currency', () => {
  it('starts a task only when every currency has room; requests room alone is not enough', async () => {
    const client = fakeClient({ rateLimit: TOKENS });
    const { started, task } = recorder();
    const all = Promise.all([
      client.schedule(task('a'), { cost: { tokens: 600 } }),
      client.schedule(task('b'), { cost: { tokens: 600 } }),
      client.schedule(task('c'), { cost: { tokens: 300 } }),
    ]);
    await vi.advanceTimersByTimeAsync(1_500);
    await all;
    // b waits for a's tokens to leave the window, and c (which would fit) stays behind it: strict priority.
    expect(started).toEqual([
      { name: 'a', at: 0 },
      { name: 'b', at: 1_000 },
      { name: 'c', at: 1_000 },
    ]);
  });

  it('a task that costs no tokens is not held by a full tokens window', async () => {
    const client = fakeClient({ rateLimit: TOKENS });
    const { started, task } = recorder();
    await client.schedule(task('heavy'), { cost: { tokens: 1_000 } });
    await client.schedule(task('free'));
    await client.schedule(task('zero'), { cost: { tokens: 0 } });
    expect(started.map((s) => s.at)).toEqual([0, 0, 0]);
  });

  it('shows each window with its currency in stats()', async () => {
    const client = fakeClient({ rateLimit: TOKENS });
    await client.schedule(() => 'x', { cost: { tokens: 250 }, weight: 2 });
    expect(client.stats().windows).toEqual([
      { limit: 10, windowMs: 1_000, counts: 'requests', used: 2 },
      { limit: 1_000, windowMs: 1_000, counts: 'tokens', used: 250 },
    ]);
  });

  it('`cost.requests` is the weight', async () => {
    const client = fakeClient({ rateLimit: TOKENS });
    await client.schedule(() => 'x', { cost: { requests: 3, tokens: 1 } });
    expect(client.stats().windows[0]?.used).toBe(3);
  });
});

describe('bad costs are refused at once, naming what was wrong; nothing is queued', () => {
  const cases: Array<{ name: string; options: Record<string, unknown>; error: typeof TypeError | typeof RangeError; has: string }> = [
    { name: 'a currency no window counts', options: { cost: { token: 5 } }, error: TypeError, has: '`cost.token`' },
    { name: 'a negative amount', options: { cost: { tokens: -1 } }, error: RangeError, has: '`cost.tokens` to be an integer >= 0' },
    { name: 'a fractional amount', options: { cost: { tokens: 1.5 } }, error: RangeError, has: '`cost.tokens`' },
    { name: 'NaN', options: { cost: { tokens: Number.NaN } }, error: RangeError, has: '`cost.tokens`' },
    { name: 'a string amount', options: { cost: { tokens: '5' } }, error: TypeError, has: '`cost.tokens`' },
    { name: 'not an object', options: { cost: 5 }, error: TypeError, has: '`cost`' },
    {
      name: 'over a window limit',
      options: { cost: { tokens: 1_001 } },
      error: RangeError,
      has: "1000 (the `limit` of the 1000 ms 'tokens' window)",
    },
    {
      name: 'requests unlike weight',
      options: { weight: 2, cost: { requests: 3 } },
      error: TypeError,
      has: '`cost.requests` to equal `weight`',
    },
  ];
  it.each(cases)('$name', async ({ options, error, has }) => {
    const client = fakeClient({ rateLimit: TOKENS });
    const task = vi.fn();
    const result = await client.schedule(task, options).catch((reason: unknown) => reason);
    expect(result).toBeInstanceOf(error);
    expect((result as Error).message).toContain(has);
    expect(task).not.toHaveBeenCalled();
    expect(client.stats().submitted).toBe(0);
  });

  it('a window with a bad `counts` is refused by the constructor', () => {
    expect(() => fakeClient({ rateLimit: { limit: 1, windowMs: 1, counts: 'Tokens' } })).toThrow(RangeError);
    expect(() => fakeClient({ rateLimit: { limit: 1, windowMs: 1, counts: 5 as never } })).toThrow(/`rateLimit.counts`/);
  });
});

describe('context.setCost()', () => {
  it('less gives the difference back at once: waiting work starts', async () => {
    const client = fakeClient({ rateLimit: TOKENS });
    const { started, task } = recorder();
    const first = client.schedule(
      async (context) => {
        await new Promise((resolve) => setTimeout(resolve, 100));
        context.setCost({ tokens: 200 });
        return 'first';
      },
      { cost: { tokens: 900 } },
    );
    const second = client.schedule(task('second'), { cost: { tokens: 700 } });
    await vi.advanceTimersByTimeAsync(100);
    await Promise.all([first, second]);
    expect(started).toEqual([{ name: 'second', at: 100 }]);
    expect(client.stats().windows[1]?.used).toBe(900);
  });

  it('a refund keeps the start in the window until its own time runs out', async () => {
    const client = fakeClient({ rateLimit: TOKENS });
    await client.schedule((context) => context.setCost({ tokens: 100 }), { cost: { tokens: 600 } });
    expect(client.stats().windows[1]?.used).toBe(100);
    await vi.advanceTimersByTimeAsync(999);
    expect(client.stats().windows[1]?.used).toBe(100);
    await vi.advanceTimersByTimeAsync(1);
    expect(client.stats().windows[1]?.used).toBe(0);
  });

  it('more than a window holds is counted all the same: it was spent', async () => {
    const client = fakeClient({ rateLimit: TOKENS });
    await client.schedule((context) => context.setCost({ tokens: 1_500 }), { cost: { tokens: 10 } });
    expect(client.stats().windows[1]?.used).toBe(1_500);
  });

  it('more counts the difference from when it became known', async () => {
    const client = fakeClient({ rateLimit: TOKENS });
    const { started, task } = recorder();
    const first = client.schedule(
      async (context) => {
        await new Promise((resolve) => setTimeout(resolve, 500));
        context.setCost({ tokens: 800 });
      },
      { cost: { tokens: 300 } },
    );
    await vi.advanceTimersByTimeAsync(500);
    await first;
    // 300 from 0 ms, 500 more from 500 ms: a task of 600 fits once the 500 leave, at 1500 ms.
    const next = client.schedule(task('next'), { cost: { tokens: 600 } });
    await vi.advanceTimersByTimeAsync(1_000);
    await next;
    expect(started).toEqual([{ name: 'next', at: 1_500 }]);
  });

  it('before the start is settled (a request waiting for its headers), changes the room it holds', async () => {
    const client = fakeClient({ rateLimit: TOKENS });
    let amended = false;
    const task = vi.fn((context: TaskContext) => {
      context.setCost({ tokens: 10 });
      amended = true;
    });
    await client.schedule(task, { cost: { tokens: 500 } });
    expect(amended).toBe(true);
    expect(client.stats().windows[1]?.used).toBe(10);
  });

  it('twice, after the end, or with a bad value: a clear error, nothing counted twice', async () => {
    const client = fakeClient({ rateLimit: TOKENS });
    let kept: TaskContext | undefined;
    const errors: unknown[] = [];
    await client.schedule(
      (context) => {
        kept = context;
        for (const bad of [{ tokens: -1 }, { token: 1 }, { tokens: 2.5 }, { requests: 2 }]) {
          try {
            context.setCost(bad);
          } catch (error) {
            errors.push(error);
          }
        }
        context.setCost({ tokens: 100 });
        try {
          context.setCost({ tokens: 50 });
        } catch (error) {
          errors.push(error);
        }
      },
      { cost: { tokens: 400 } },
    );
    expect(errors.map((error) => (error as Error).constructor.name)).toEqual([
      'RangeError',
      'TypeError',
      'RangeError',
      'RangeError',
      'Error',
    ]);
    expect((errors[3] as Error).message).toContain('requests can not be settled');
    expect((errors[4] as Error).message).toContain('twice');
    expect(() => kept?.setCost({ tokens: 1 })).toThrow(/after the task ended/);
    expect(client.stats().windows[1]?.used).toBe(100);
  });

  it('works when taken from the context by destructuring', async () => {
    const client = fakeClient({ rateLimit: TOKENS });
    await client.schedule(({ setCost }) => setCost({ tokens: 5 }), { cost: { tokens: 50 } });
    expect(client.stats().windows[1]?.used).toBe(5);
  });

  it('a task that fails keeps its estimate (providers count failed requests)', async () => {
    const client = fakeClient({ rateLimit: TOKENS });
    const failed = outcome(
      client.schedule(
        () => {
          throw new Error('boom');
        },
        { cost: { tokens: 700 } },
      ),
    );
    await flush();
    expect(failed.state).toBe('rejected');
    expect(client.stats().windows[1]?.used).toBe(700);
  });
});

describe('setRateLimit with currencies', () => {
  it('a queued task whose cost no longer fits a lowered tokens window fails with a RangeError', async () => {
    const client = fakeClient({ rateLimit: TOKENS });
    await client.schedule(() => 'fill', { cost: { tokens: 1_000 } });
    const waiting = outcome(client.schedule(() => 'big', { cost: { tokens: 800 } }));
    client.setRateLimit([
      { limit: 10, windowMs: 1_000 },
      { limit: 500, windowMs: 1_000, counts: 'tokens' },
    ]);
    await flush();
    expect(waiting.state).toBe('rejected');
    expect(waiting.reason).toBeInstanceOf(RangeError);
  });
});
