import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SlidingWindowLimiter } from '../../../src/limit/sliding-window.js';

/** Takes and settles at once, as a `schedule()` task does. */
function start(limiter: SlidingWindowLimiter, weight: number, now: number): void {
  expect(limiter.wait(weight, now)).toBe(0);
  limiter.take(weight);
  limiter.settle(weight, now);
}

describe('SlidingWindowLimiter', () => {
  it('allows `limit` starts per window and names the exact moment the next one fits', () => {
    const limiter = new SlidingWindowLimiter([{ limit: 3, windowMs: 100 }]);
    start(limiter, 1, 0);
    start(limiter, 1, 10);
    start(limiter, 1, 20);
    expect(limiter.wait(1, 20)).toBe(80);
    expect(limiter.wait(1, 99.5)).toBe(0.5);
    // A start exactly windowMs after another is in a new window.
    expect(limiter.wait(1, 100)).toBe(0);
    expect(limiter.wait(2, 100)).toBe(10);
    expect(limiter.wait(3, 100)).toBe(20);
  });

  it('counts weights: a weight-3 start uses three units', () => {
    const limiter = new SlidingWindowLimiter([{ limit: 5, windowMs: 1_000 }]);
    start(limiter, 3, 0);
    start(limiter, 1, 100);
    expect(limiter.wait(2, 200)).toBe(800);
    expect(limiter.wait(1, 200)).toBe(0);
    // After the weight-3 start expires, 4 units fit again.
    expect(limiter.wait(4, 1_000)).toBe(0);
    expect(limiter.wait(5, 1_000)).toBe(100);
  });

  it('enforces every window at once and waits for the longest', () => {
    const limiter = new SlidingWindowLimiter([
      { limit: 2, windowMs: 10 },
      { limit: 3, windowMs: 100 },
    ]);
    start(limiter, 1, 0);
    start(limiter, 1, 1);
    expect(limiter.wait(1, 1)).toBe(9);
    start(limiter, 1, 10);
    // The short window has room at 11; the long one is full until 100.
    expect(limiter.wait(1, 11)).toBe(89);
    expect(limiter.usage(11)).toEqual([
      { limit: 2, windowMs: 10, counts: 'requests', used: 1 },
      { limit: 3, windowMs: 100, counts: 'requests', used: 3 },
    ]);
  });

  it('counts a pending start in every window until it settles, then from its settle time', () => {
    const limiter = new SlidingWindowLimiter([{ limit: 2, windowMs: 100 }]);
    expect(limiter.wait(1, 0)).toBe(0);
    limiter.take(1);
    start(limiter, 1, 5);
    // Full: the settled start frees its unit at 105; the pending one never expires on its own.
    expect(limiter.wait(1, 50)).toBe(55);
    expect(limiter.wait(1, 500)).toBe(0);
    // Two units need the pending one, and no timer can tell when it settles.
    expect(limiter.wait(2, 500)).toBe(Infinity);
    expect(limiter.usage(500)).toEqual([{ limit: 2, windowMs: 100, counts: 'requests', used: 1 }]);
    limiter.settle(1, 520);
    expect(limiter.wait(2, 521)).toBe(99);
    expect(limiter.wait(2, 620)).toBe(0);
  });

  it('keeps the history when the windows change, so lowering a limit opens no burst', () => {
    const limiter = new SlidingWindowLimiter([{ limit: 10, windowMs: 100 }]);
    for (let t = 0; t < 5; t++) start(limiter, 1, t);
    limiter.setWindows([{ limit: 4, windowMs: 100 }], 10);
    expect(limiter.wait(1, 10)).toBe(91);
    limiter.setWindows([{ limit: 5, windowMs: 50 }], 10);
    expect(limiter.wait(1, 10)).toBe(40);
  });

  it('has no limit without windows', () => {
    const limiter = new SlidingWindowLimiter([]);
    for (let i = 0; i < 1_000; i++) start(limiter, 7, 0);
    expect(limiter.wait(1_000_000, 0)).toBe(0);
  });

  it('keeps a long log exact across its ring growing and wrapping', () => {
    const limiter = new SlidingWindowLimiter([{ limit: 1_000, windowMs: 1_000 }]);
    for (let t = 0; t < 5_000; t++) {
      const wait = limiter.wait(1, t);
      // Exactly one start per ms fits a 1000-per-second window at all times.
      expect(wait).toBe(0);
      start(limiter, 1, t);
      if (t >= 999) expect(limiter.wait(1, t)).toBe(1);
    }
  });

  it('never lets more than `limit` start in any window, against a brute-force count', () => {
    const windowArb = fc.record({ limit: fc.integer({ min: 1, max: 6 }), windowMs: fc.integer({ min: 1, max: 60 }) });
    const stepArb = fc.record({ advance: fc.integer({ min: 0, max: 30 }), weight: fc.integer({ min: 1, max: 6 }) });
    fc.assert(
      fc.property(fc.array(windowArb, { minLength: 1, maxLength: 3 }), fc.array(stepArb, { maxLength: 80 }), (windows, steps) => {
        const limiter = new SlidingWindowLimiter(windows);
        const maxWeight = Math.min(...windows.map((w) => w.limit));
        const starts: Array<{ time: number; weight: number }> = [];
        let now = 0;
        for (const step of steps) {
          now += step.advance;
          const weight = Math.min(step.weight, maxWeight);
          const wait = limiter.wait(weight, now);
          // Brute force: would a start of `weight` at `now` fit every window?
          const fits = windows.every(
            (w) => starts.filter((s) => s.time + w.windowMs > now).reduce((sum, s) => sum + s.weight, 0) + weight <= w.limit,
          );
          expect(wait === 0).toBe(fits);
          if (wait > 0) {
            // The promised moment is exact: not earlier, and it fits then.
            expect(limiter.wait(weight, now + wait - 1e-6)).toBeGreaterThan(0);
            now += wait;
            expect(limiter.wait(weight, now)).toBe(0);
          }
          limiter.take(weight);
          limiter.settle(weight, now);
          starts.push({ time: now, weight });
        }
      }),
      { numRuns: 500 },
    );
  });
});
