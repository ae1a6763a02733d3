import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../../src/limit/token-bucket.js';

/** nginx `rate=20r/s`: one unit every 50 ms. */
const nginx = (burst: number) => new TokenBucket({ limit: 20, windowMs: 1_000, burst });

/** Takes and settles at once, as a `schedule()` task does. */
function start(bucket: TokenBucket, cost: number, now: number): void {
  expect(bucket.wait(cost, now)).toBe(0);
  bucket.take(cost);
  bucket.settle(cost, now);
}

describe('TokenBucket', () => {
  it('starts full: burst units fit at once, one more does not', () => {
    const bucket = nginx(3);
    expect(bucket.tat).toBe(-Infinity);
    expect(bucket.wait(3, 0)).toBe(0);
    expect(bucket.wait(1, 12_345)).toBe(0);
    expect(bucket.usage(0, 'requests')).toEqual({
      limit: 20,
      windowMs: 1_000,
      counts: 'requests',
      burst: 3,
      used: 0,
      level: 3,
      nextUnitMs: 0,
    });
    start(bucket, 1, 0);
    start(bucket, 2, 0);
    expect(bucket.wait(1, 0)).toBe(50);
    expect(bucket.tat).toBe(150);
  });

  it('names the exact wait: limit 20 per 1000 ms with burst 1 has its second unit after 50 ms', () => {
    const bucket = nginx(1);
    start(bucket, 1, 0);
    expect(bucket.wait(1, 0)).toBe(50);
    expect(bucket.wait(1, 30)).toBe(20);
    expect(bucket.wait(1, 49.5)).toBe(0.5);
    expect(bucket.wait(1, 50)).toBe(0);
    start(bucket, 1, 50);
    expect(bucket.wait(1, 50)).toBe(50);
    // Two units never fit a bucket of one, whenever asked.
    expect(bucket.wait(2, 50)).toBe(100);
    expect(bucket.wait(2, 10_000)).toBe(50);
  });

  it('refills up to burst and no further', () => {
    const bucket = nginx(2);
    start(bucket, 2, 0);
    expect(bucket.wait(1, 0)).toBe(50);
    expect(bucket.wait(2, 0)).toBe(100);
    expect(bucket.wait(2, 100)).toBe(0);
    // Long idle: still only 2 units.
    expect(bucket.wait(2, 10_000)).toBe(0);
    expect(bucket.wait(3, 10_000)).toBe(50);
    expect(bucket.usage(10_000, 'requests')).toMatchObject({ level: 2, used: 0, nextUnitMs: 0 });
    start(bucket, 2, 10_000);
    expect(bucket.wait(1, 10_000)).toBe(50);
    expect(bucket.tat).toBe(10_100);
  });

  it('a pending start holds its units: Infinity where its settle decides, the earliest value with pendingHold 0', () => {
    const bucket = nginx(1);
    bucket.take(1);
    expect(bucket.wait(1, 0)).toBe(Infinity);
    expect(bucket.wait(1, 0, 0)).toBe(50);
    // Time alone frees nothing while it is pending.
    expect(bucket.wait(1, 5_000)).toBe(Infinity);
    expect(bucket.wait(1, 5_000, 0)).toBe(50);
    expect(bucket.wait(1, 5_000, 70)).toBe(70);
    // Pending units that leave room for the cost do not hold it.
    const roomy = nginx(3);
    roomy.take(2);
    expect(roomy.wait(1, 0)).toBe(0);
    expect(roomy.wait(2, 0)).toBe(Infinity);
    expect(roomy.wait(2, 0, 0)).toBe(50);
  });

  // Known bug: wait() answers Infinity whenever a start is pending, even when refill alone makes the
  // room (pending + cost <= burst), as a sliding window would time it. Drop `.fails` once fixed.
  it('pending units that fit beside the cost do not hold it: refill alone times the wait', () => {
    const bucket = nginx(3);
    start(bucket, 2, 0); // full again at 100
    bucket.take(1);
    // At 50 one settled unit is back: 2 in the bucket, 1 of them pending, 1 free.
    expect(bucket.wait(1, 0)).toBe(50);
    expect(bucket.wait(1, 50)).toBe(0);
  });

  // Known bug: floating point leaves 6e-14 ms of wait where the cost fits exactly (usage() says the
  // level is 2), so the client starts a millisecond late. Drop `.fails` once fixed.
  it('a cost that fits exactly waits 0, not a rounding error', () => {
    const bucket = new TokenBucket({ limit: 9, windowMs: 48, burst: 15 });
    start(bucket, 15, 363);
    bucket.add(13, 363);
    expect(bucket.usage(443, 'tokens')).toMatchObject({ level: 2 });
    expect(bucket.wait(2, 443)).toBe(0);
  });

  it('a settle at a later time counts from that time', () => {
    const bucket = nginx(1);
    bucket.take(1);
    bucket.settle(1, 30); // the response arrived at 30 ms
    expect(bucket.tat).toBe(80);
    expect(bucket.wait(1, 30)).toBe(50);
    expect(bucket.wait(1, 79)).toBe(1);
    expect(bucket.wait(1, 80)).toBe(0);
  });

  it('repend changes a pending cost', () => {
    const bucket = nginx(2);
    bucket.take(2);
    expect(bucket.wait(1, 0)).toBe(Infinity);
    bucket.repend(2, 1);
    expect(bucket.wait(1, 0)).toBe(0);
    bucket.repend(1, 3); // more than burst pending: only its settle frees room
    expect(bucket.wait(1, 0, 0)).toBe(100);
    bucket.settle(3, 0);
    expect(bucket.wait(1, 0)).toBe(100);
    expect(bucket.tat).toBe(150);
  });

  it('a refund gives the units back at once, never above burst', () => {
    const bucket = nginx(4);
    start(bucket, 4, 0);
    expect(bucket.wait(1, 0)).toBe(50);
    bucket.refund(3);
    expect(bucket.tat).toBe(50);
    expect(bucket.wait(3, 0)).toBe(0);
    expect(bucket.wait(4, 0)).toBe(50);
    expect(bucket.usage(0, 'requests')).toMatchObject({ level: 3, used: 1, nextUnitMs: 50 });

    const full = nginx(4);
    start(full, 1, 0);
    full.refund(1); // at 1000 ms the bucket is full again: the refund adds nothing
    expect(full.wait(4, 1_000)).toBe(0);
    expect(full.wait(5, 1_000)).toBe(50);
    expect(full.usage(1_000, 'requests')).toMatchObject({ level: 4, used: 0, nextUnitMs: 0 });
  });

  it('add takes units from the time given, into debt if need be', () => {
    const bucket = nginx(2);
    start(bucket, 1, 0);
    bucket.add(2, 100); // the bucket was full again at 50: counts from 100
    expect(bucket.tat).toBe(200);
    expect(bucket.wait(1, 100)).toBe(50);
    expect(bucket.usage(100, 'requests')).toMatchObject({ level: 0, used: 2, nextUnitMs: 50 });
    bucket.add(0, 100);
    expect(bucket.tat).toBe(200);

    const debt = nginx(2);
    debt.add(3, 100);
    expect(debt.tat).toBe(250);
    expect(debt.wait(1, 100)).toBe(100);
    // Owes one unit beyond empty: the level shows 0 and its next unit is two units away.
    expect(debt.usage(100, 'tokens')).toEqual({
      limit: 20,
      windowMs: 1_000,
      counts: 'tokens',
      burst: 2,
      used: 2,
      level: 0,
      nextUnitMs: 100,
    });
  });

  it('usage: whole units, 0 ms when full, Infinity when only pending starts hold the next unit, exact ms otherwise', () => {
    const pending = nginx(2);
    pending.take(1);
    expect(pending.usage(0, 'requests')).toMatchObject({ level: 1, used: 1, nextUnitMs: Infinity });
    pending.settle(1, 0);
    expect(pending.usage(0, 'requests')).toMatchObject({ level: 1, used: 1, nextUnitMs: 50 });
    expect(pending.usage(20, 'requests')).toMatchObject({ level: 1, used: 1, nextUnitMs: 30 });
    expect(pending.usage(50, 'requests')).toMatchObject({ level: 2, used: 0, nextUnitMs: 0 });

    // One unit owed and one pending: the owed one comes back in 50 ms, the pending one needs its settle.
    const both = nginx(2);
    start(both, 1, 0);
    both.take(1);
    expect(both.usage(0, 'requests')).toMatchObject({ level: 0, used: 2, nextUnitMs: 50 });
    expect(both.usage(50, 'requests')).toMatchObject({ level: 1, used: 1, nextUnitMs: Infinity });

    // Rounded to the microsecond.
    const thirds = new TokenBucket({ limit: 3, windowMs: 1_000, burst: 2 });
    start(thirds, 1, 0);
    expect(thirds.usage(0, 'requests')).toMatchObject({ level: 1, nextUnitMs: 333.333 });
    expect(thirds.usage(100, 'requests')).toMatchObject({ level: 1, nextUnitMs: 233.333 });
    expect(thirds.usage(1_000 / 3, 'requests')).toMatchObject({ level: 2, nextUnitMs: 0 });
  });

  it('a cost larger than burst never fits, however long it waits', () => {
    const bucket = nginx(3);
    for (const now of [0, 50, 1_000, 1e9]) expect(bucket.wait(4, now)).toBe(50);
    expect(bucket.wait(5, 0)).toBe(100);
    start(bucket, 3, 0);
    expect(bucket.wait(4, 0)).toBe(200);
    expect(bucket.wait(4, 150)).toBe(50);
    expect(bucket.wait(4, 10_000)).toBe(50);
  });

  it('fractional intervals: limit 3 per 1000 ms gives a unit every 333.33 ms, 3 a second', () => {
    const bucket = new TokenBucket({ limit: 3, windowMs: 1_000, burst: 1 });
    start(bucket, 1, 0);
    expect(bucket.wait(1, 0)).toBeCloseTo(1_000 / 3, 9);
    expect(bucket.wait(1, 333)).toBeCloseTo(1 / 3, 9);
    expect(bucket.wait(1, 334)).toBe(0);
    // Units taken as soon as each is there: the fourth comes exactly 1000 ms after the first.
    let now = 0;
    for (let unit = 1; unit <= 3; unit++) {
      now += bucket.wait(1, now);
      start(bucket, 1, now);
    }
    expect(now).toBeCloseTo(1_000, 9);
    expect(now + bucket.wait(1, now)).toBeCloseTo(4_000 / 3, 9);

    const three = new TokenBucket({ limit: 3, windowMs: 1_000, burst: 3 });
    start(three, 3, 0);
    expect(three.wait(3, 0)).toBeCloseTo(1_000, 9);
    expect(three.wait(1, 0)).toBeCloseTo(1_000 / 3, 9);
  });

  it('starts from a given tat (a bucket that replaces another)', () => {
    const bucket = new TokenBucket({ limit: 20, windowMs: 1_000, burst: 2 }, 100);
    expect(bucket.tat).toBe(100);
    expect(bucket.wait(1, 0)).toBe(50);
    expect(bucket.wait(1, 50)).toBe(0);
    expect(bucket.usage(0, 'requests')).toMatchObject({ level: 0, used: 2, nextUnitMs: 50 });
  });
});
