import { describe, expect, it } from 'vitest';
import type { Cost } from '../../../src/core/cost.js';
import { CostLimiter, type LoggedCost } from '../../../src/limit/cost-limiter.js';

/** Takes and settles at once, as a `schedule()` task does; returns where its cost was logged. */
function start(limiter: CostLimiter, weight: number, cost: Cost | null, now: number): LoggedCost | null {
  expect(limiter.wait(weight, cost, now)).toBe(0);
  limiter.take(weight, cost);
  return limiter.settle(weight, cost, now);
}

/** The `used` of every window, in the order `usage()` gives them. */
function used(limiter: CostLimiter, now: number): number[] {
  return limiter.usage(now).map((window) => window.used);
}

describe('CostLimiter', () => {
  it('holds a start to the windows of both currencies at once and waits for the later one', () => {
    const limiter = new CostLimiter([
      { limit: 2, windowMs: 100 },
      { limit: 10, windowMs: 50, counts: 'tokens' },
    ]);
    start(limiter, 1, { tokens: 6 }, 0);
    // Requests have room; 5 tokens do not fit until the 6 expire at 50.
    expect(limiter.wait(1, { tokens: 5 }, 10)).toBe(40);
    start(limiter, 1, { tokens: 4 }, 10);
    // Now requests are full too (2 in 100 ms): the later of the two frees it.
    expect(limiter.wait(1, null, 20)).toBe(80);
    expect(limiter.wait(1, { tokens: 1 }, 20)).toBe(80);
    // At 55 the 6 tokens are gone; 7 more need the 4 of t=10 to expire at 60, requests still wait to 100.
    expect(limiter.wait(1, { tokens: 7 }, 55)).toBe(45);
    expect(used(limiter, 59)).toEqual([2, 4]);
    expect(limiter.wait(1, { tokens: 7 }, 100)).toBe(0);
    // Tokens alone: requests have room at 110, the tokens window is empty at 60.
    expect(limiter.wait(1, { tokens: 10 }, 110)).toBe(0);
    expect(used(limiter, 110)).toEqual([0, 0]);
  });

  it('lets a start that costs 0 of a currency pass its windows, even when they are over their limit', () => {
    const limiter = new CostLimiter([
      { limit: 5, windowMs: 100 },
      { limit: 10, windowMs: 100, counts: 'tokens' },
    ]);
    const logged = start(limiter, 1, { tokens: 8 }, 0);
    // It really cost 14: the window counts more than its limit until the first 8 expire at 100.
    limiter.amend({ tokens: 8 }, { tokens: 14 }, logged, 5);
    expect(used(limiter, 10)).toEqual([1, 14]);
    expect(limiter.wait(1, { tokens: 1 }, 10)).toBe(90);
    expect(limiter.earliestWait(1, { tokens: 1 }, 10)).toBe(90);
    // 5 more need the 6 counted from 5 to expire too: 5 + 100.
    expect(limiter.wait(1, { tokens: 5 }, 10)).toBe(95);
    expect(limiter.wait(1, { tokens: 0 }, 10)).toBe(0);
    expect(limiter.earliestWait(1, { tokens: 0 }, 10)).toBe(0);
    expect(limiter.wait(1, null, 10)).toBe(0);
    start(limiter, 1, { tokens: 0 }, 10);
    expect(used(limiter, 10)).toEqual([2, 14]);
  });

  it('counts a pending start in every window of its currency until it settles, then from its settle time', () => {
    const limiter = new CostLimiter([
      { limit: 5, windowMs: 100 },
      { limit: 10, windowMs: 50, counts: 'tokens' },
    ]);
    expect(limiter.wait(1, { tokens: 8 }, 0)).toBe(0);
    limiter.take(1, { tokens: 8 });
    // Long after: the pending 8 have no time yet, so they never expire and no timer can tell when.
    expect(limiter.wait(1, { tokens: 3 }, 1_000)).toBe(Infinity);
    // The lower bound: it settles no earlier than now, so it frees no sooner than a window from now.
    expect(limiter.earliestWait(1, { tokens: 3 }, 1_000)).toBe(50);
    expect(limiter.wait(1, { tokens: 2 }, 1_000)).toBe(0);
    expect(used(limiter, 1_000)).toEqual([1, 8]);
    limiter.settle(1, { tokens: 8 }, 1_000);
    expect(limiter.wait(1, { tokens: 3 }, 1_010)).toBe(40);
    expect(used(limiter, 1_049)).toEqual([1, 8]);
    expect(limiter.wait(1, { tokens: 3 }, 1_050)).toBe(0);
    expect(used(limiter, 1_050)).toEqual([1, 0]);
  });

  it('changes the room a pending start holds when it is amended before it settles', () => {
    const limiter = new CostLimiter([{ limit: 10, windowMs: 50, counts: 'tokens' }]);
    limiter.take(1, { tokens: 8 });
    limiter.amend({ tokens: 8 }, { tokens: 2 }, null, 5);
    expect(limiter.wait(1, { tokens: 8 }, 5)).toBe(0);
    expect(limiter.wait(1, { tokens: 9 }, 5)).toBe(Infinity);
    // It settles with its amended cost, and that is what expires at 10 + 50.
    const logged = limiter.settle(1, { tokens: 2 }, 10);
    // Its entry is the log's first; '@' is when it settled (for its buckets' refunds).
    expect(logged).toEqual({ '@': 10, tokens: 0 });
    expect(used(limiter, 59)).toEqual([2]);
    expect(used(limiter, 60)).toEqual([0]);

    // Up while pending: the windows may run over their limit (it really cost that), and hold everything.
    limiter.take(1, { tokens: 4 });
    limiter.amend({ tokens: 4 }, { tokens: 12 }, null, 70);
    expect(used(limiter, 70)).toEqual([12]);
    expect(limiter.wait(1, { tokens: 1 }, 70)).toBe(Infinity);
    expect(limiter.wait(1, { tokens: 0 }, 70)).toBe(0);
    limiter.settle(1, { tokens: 12 }, 70);
    expect(limiter.wait(1, { tokens: 1 }, 70)).toBe(50);
  });

  it('refunds at once what a settled start did not use, and its entry still expires at its own time', () => {
    const limiter = new CostLimiter([{ limit: 10, windowMs: 50, counts: 'tokens' }]);
    const first = start(limiter, 1, { tokens: 8 }, 0);
    start(limiter, 1, { tokens: 2 }, 20);
    expect(limiter.wait(1, { tokens: 5 }, 30)).toBe(20);
    limiter.amend({ tokens: 8 }, { tokens: 3 }, first, 30);
    expect(used(limiter, 30)).toEqual([5]);
    expect(limiter.wait(1, { tokens: 5 }, 30)).toBe(0);
    // 8 more need the refunded entry (3 now) to go, at 0 + 50: not at 30 + 50.
    expect(limiter.wait(1, { tokens: 8 }, 30)).toBe(20);
    expect(used(limiter, 49)).toEqual([5]);
    expect(used(limiter, 50)).toEqual([2]);
    expect(used(limiter, 70)).toEqual([0]);
  });

  it('counts what a settled start used beyond its estimate from the moment it is amended', () => {
    const limiter = new CostLimiter([{ limit: 10, windowMs: 50, counts: 'tokens' }]);
    const logged = start(limiter, 1, { tokens: 4 }, 0);
    limiter.amend({ tokens: 4 }, { tokens: 7 }, logged, 30);
    expect(used(limiter, 30)).toEqual([7]);
    // 8 more: 5 must expire, which needs the 3 added at 30 too: 30 + 50.
    expect(limiter.wait(1, { tokens: 8 }, 30)).toBe(50);
    // 6 more: the 4 of t=0 are enough, at 50.
    expect(limiter.wait(1, { tokens: 6 }, 30)).toBe(20);
    expect(used(limiter, 50)).toEqual([3]);
    expect(used(limiter, 79)).toEqual([3]);
    expect(used(limiter, 80)).toEqual([0]);
  });

  it('counts a cost settled in a currency the estimate did not name from the moment it is amended', () => {
    const limiter = new CostLimiter([
      { limit: 5, windowMs: 100 },
      { limit: 10, windowMs: 50, counts: 'tokens' },
    ]);
    const logged = start(limiter, 1, null, 0);
    expect(logged).toBeNull();
    limiter.amend(null, { tokens: 6 }, {}, 20);
    expect(used(limiter, 20)).toEqual([1, 6]);
    expect(limiter.wait(1, { tokens: 5 }, 20)).toBe(50);
    expect(used(limiter, 70)).toEqual([1, 0]);
  });

  it('changes nothing when a start is amended after every window let its entry go', () => {
    const limiter = new CostLimiter([{ limit: 10, windowMs: 50, counts: 'tokens' }]);
    const first = start(limiter, 1, { tokens: 8 }, 0);
    start(limiter, 1, { tokens: 6 }, 60);
    limiter.amend({ tokens: 8 }, { tokens: 1 }, first, 70);
    // The later start keeps its 6: the refund must not reach entries after the one it was for.
    expect(used(limiter, 70)).toEqual([6]);
    expect(limiter.wait(1, { tokens: 5 }, 70)).toBe(40);
    expect(limiter.wait(1, { tokens: 4 }, 70)).toBe(0);
  });

  it('refunds only the windows that still count an entry when a shorter one let it go', () => {
    const limiter = new CostLimiter([
      { limit: 10, windowMs: 50, counts: 'tokens' },
      { limit: 20, windowMs: 200, counts: 'tokens' },
    ]);
    const first = start(limiter, 1, { tokens: 8 }, 0);
    start(limiter, 1, { tokens: 6 }, 60);
    expect(used(limiter, 70)).toEqual([6, 14]);
    limiter.amend({ tokens: 8 }, { tokens: 1 }, first, 70);
    expect(used(limiter, 70)).toEqual([6, 7]);
    expect(used(limiter, 200)).toEqual([0, 6]);
    expect(used(limiter, 260)).toEqual([0, 0]);
  });

  it('keeps refunds valid when setWindows drops a currency and adds it back', () => {
    const requests = { limit: 100, windowMs: 100 };
    const tokens = { limit: 10, windowMs: 100, counts: 'tokens' };
    const limiter = new CostLimiter([requests, tokens]);
    const first = start(limiter, 1, { tokens: 6 }, 0);
    limiter.setWindows([requests], 10);
    expect(limiter.usage(10)).toEqual([{ limit: 100, windowMs: 100, counts: 'requests', used: 1 }]);
    // No tokens window: any amount fits, and a start now is not logged in tokens.
    expect(limiter.wait(1, { tokens: 1_000 }, 20)).toBe(0);
    const unlogged = start(limiter, 1, { tokens: 50 }, 20);
    expect(unlogged).toEqual({ '@': 20, tokens: -1 });
    limiter.amend({ tokens: 6 }, { tokens: 2 }, first, 30);
    limiter.amend({ tokens: 50 }, { tokens: 1 }, unlogged, 30);
    // More than estimated while no window counts tokens: nothing is logged for it either.
    limiter.amend({ tokens: 0 }, { tokens: 40 }, {}, 35);
    limiter.setWindows([requests, tokens], 40);
    expect(used(limiter, 40)).toEqual([2, 2]);
    expect(limiter.wait(1, { tokens: 8 }, 40)).toBe(0);
    expect(limiter.wait(1, { tokens: 9 }, 40)).toBe(60);
    expect(used(limiter, 100)).toEqual([1, 0]);
  });

  it('reports usage in the configured order, each window with the currency it counts', () => {
    const limiter = new CostLimiter([
      { limit: 100, windowMs: 1_000, counts: 'tokens' },
      { limit: 5, windowMs: 1_000 },
      { limit: 20, windowMs: 100, counts: 'tokens' },
      { limit: 2, windowMs: 100, counts: 'requests' },
      { limit: 7, windowMs: 100, counts: 'points' },
    ]);
    start(limiter, 2, { tokens: 15, points: 3 }, 0);
    start(limiter, 1, { tokens: 4 }, 150);
    expect(limiter.usage(150)).toEqual([
      { limit: 100, windowMs: 1_000, counts: 'tokens', used: 19 },
      { limit: 5, windowMs: 1_000, counts: 'requests', used: 3 },
      { limit: 20, windowMs: 100, counts: 'tokens', used: 4 },
      { limit: 2, windowMs: 100, counts: 'requests', used: 1 },
      { limit: 7, windowMs: 100, counts: 'points', used: 0 },
    ]);
    // A new order and a new currency after setWindows.
    limiter.setWindows(
      [
        { limit: 9, windowMs: 50, counts: 'queries' },
        { limit: 100, windowMs: 1_000, counts: 'tokens' },
        { limit: 5, windowMs: 1_000 },
      ],
      160,
    );
    start(limiter, 1, { queries: 4 }, 170);
    expect(limiter.usage(170)).toEqual([
      { limit: 9, windowMs: 50, counts: 'queries', used: 4 },
      { limit: 100, windowMs: 1_000, counts: 'tokens', used: 19 },
      { limit: 5, windowMs: 1_000, counts: 'requests', used: 4 },
    ]);
  });
});

describe('CostLimiter buckets (from review)', () => {
  it('a bucket made while starts are pending knows them: their settle can not leave it more room than burst', () => {
    const limiter = new CostLimiter([{ limit: 20, windowMs: 1_000 }]);
    for (let i = 0; i < 4; i++) limiter.take(1, null); // 4 requests in flight
    limiter.setWindows([{ limit: 20, windowMs: 1_000, burst: 1 }], 0);
    expect(limiter.wait(1, null, 0)).toBe(Infinity); // the pending ones hold the one unit
    for (let i = 0; i < 4; i++) limiter.settle(1, null, 10);
    // Four taken at 10, one unit each 50 ms: the next start may come at 10 + 4 x 50 = 210.
    expect(limiter.wait(1, null, 10)).toBe(200);
    expect(limiter.wait(2, null, 400)).toBeGreaterThan(0); // never two at once
  });

  it('a refund that comes late gives back only what of its start is still ahead', () => {
    const bucket = { limit: 1_000, windowMs: 1_000, burst: 10_000, counts: 'tokens' };
    const limiter = new CostLimiter([bucket]);
    limiter.take(1, { tokens: 10_000 });
    const a = limiter.settle(1, { tokens: 10_000 }, 0) as Record<string, number>; // A's span: 0 to 10 s
    expect(limiter.wait(1, { tokens: 10_000 }, 10_000)).toBe(0);
    limiter.take(1, { tokens: 10_000 });
    limiter.settle(1, { tokens: 10_000 }, 10_000); // B's span: 10 s to 20 s
    // A learns at 12 s that it cost 1,000: its own span ended at 10 s, nothing of it is ahead.
    limiter.amend({ tokens: 10_000 }, { tokens: 1_000 }, a, 12_000);
    expect(limiter.wait(1, { tokens: 10_000 }, 12_000)).toBe(8_000);
  });
});
