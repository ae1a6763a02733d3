import { describe, expect, it } from 'vitest';
import { idealDurationMs, windowFigures } from '../../../bench/lib/windows.js';

const unbounded = { concurrency: Infinity, taskMs: 0 };

describe('idealDurationMs', () => {
  it('fills each window the moment it opens, for one window', () => {
    expect(idealDurationMs(600, { limits: [{ limit: 20, windowMs: 100 }], ...unbounded })).toBe(2_900);
    expect(idealDurationMs(20, { limits: [{ limit: 20, windowMs: 100 }], ...unbounded })).toBe(0);
    expect(idealDurationMs(21, { limits: [{ limit: 20, windowMs: 100 }], ...unbounded })).toBe(100);
  });

  it('meets every window at once', () => {
    const limits = [
      { limit: 20, windowMs: 100 },
      { limit: 60, windowMs: 500 },
    ];
    // 20 at 0, 100 and 200; the 61st waits for the first to leave the 500 ms window; and so on.
    expect(idealDurationMs(61, { limits, ...unbounded })).toBe(500);
    expect(idealDurationMs(300, { limits, ...unbounded })).toBe(2_200);
  });

  it('waits for a free task slot', () => {
    // 20 per 100 ms, but 8 tasks of 2 ms at once: a burst of 20 takes 0, 2 and 4 ms to start.
    expect(idealDurationMs(20, { limits: [{ limit: 20, windowMs: 100 }], concurrency: 8, taskMs: 2 })).toBe(4);
    expect(idealDurationMs(40, { limits: [{ limit: 20, windowMs: 100 }], concurrency: 8, taskMs: 2 })).toBe(104);
  });
});

describe('windowFigures', () => {
  const allowance = { limits: [{ limit: 2, windowMs: 100 }], ...unbounded };

  it('reports a perfect run as no excess and utilisation 1', () => {
    expect(windowFigures([0, 0, 100, 100], allowance)).toMatchObject({ most: [2], over: 0, utilisation: 1 });
  });

  it('counts the starts beyond the limit in the worst window, and a slow run as under 1', () => {
    const burst = windowFigures([0, 1, 2, 100], allowance);
    expect(burst.most).toEqual([3]);
    expect(burst.over).toBe(1);
    expect(burst.utilisation).toBe(1); // 4 starts may take 100 ms; these took 100 ms, by breaking the limit
    expect(windowFigures([0, 0, 200, 200], allowance).utilisation).toBe(0.5);
  });
});

describe('overBy1msOrMore', () => {
  it('forgives a start less than 1 ms early, not one a whole millisecond early', () => {
    const allowance = { limits: [{ limit: 1, windowMs: 100 }], concurrency: Infinity, taskMs: 0 };
    expect(windowFigures([0, 99.5], allowance)).toMatchObject({ over: 1, overBy1msOrMore: 0 });
    expect(windowFigures([0, 98.9], allowance)).toMatchObject({ over: 1, overBy1msOrMore: 1 });
  });
});
