// Servers that say nothing: what bare refusals teach (RefusalLearning), and how the scheduler paces with it.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BASE_COOLDOWN_MS, RefusalLearning } from '../../../src/retry/learned-rate.js';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import { Emitter } from '../../../src/core/events.js';
import { normalizeClientOptions, normalizeScheduleOptions } from '../../../src/core/normalize-options.js';
import { recorder, useFakeTime } from '../scheduler/helpers.js';

const MAX = 60_000;

describe('RefusalLearning', () => {
  it('nothing is learned without a refusal: successes change nothing', () => {
    const learning = new RefusalLearning();
    for (let i = 0; i < 100; i++) expect(learning.succeeded(Infinity)).toEqual({});
    expect(learning.rate).toBeUndefined();
  });

  it('a first refusal with nothing configured: a cooldown of 100 ms and a probe rate of 10 a second', () => {
    const learning = new RefusalLearning();
    expect(learning.refused(0, Infinity, MAX)).toEqual({ cooldownMs: BASE_COOLDOWN_MS, rate: 10 });
    expect(learning.rate).toEqual({ limit: 10, windowMs: 1_000 });
  });

  it('with a configured rate, the first refusal takes it to 0.7 of it', () => {
    const learning = new RefusalLearning();
    expect(learning.refused(0, 20, MAX).rate).toBeCloseTo(14);
  });

  it('refusals during the cooldown they started are the same news: no second decrease, no longer cooldown', () => {
    const learning = new RefusalLearning();
    learning.refused(0, 20, MAX);
    expect(learning.refused(50, 20, MAX)).toEqual({});
    expect(learning.refused(99, 20, MAX)).toEqual({});
    expect(learning.rate?.limit).toBe(14);
  });

  it('the cooldown doubles while refusals continue, up to retry.maxRetryAfterMs, and a success resets it', () => {
    const learning = new RefusalLearning();
    const cooldowns: number[] = [];
    let now = 0;
    for (let i = 0; i < 6; i++) {
      const { cooldownMs } = learning.refused(now, Infinity, 1_500);
      cooldowns.push(cooldownMs as number);
      now += cooldownMs as number;
    }
    expect(cooldowns).toEqual([100, 200, 400, 800, 1_500, 1_500]);
    learning.succeeded(Infinity);
    expect(learning.refused(now, Infinity, 1_500).cooldownMs).toBe(100);
  });

  it('multiplicative decrease at each new refusal, never below one start in ten seconds', () => {
    const learning = new RefusalLearning();
    const rates: number[] = [];
    let now = 0;
    for (let i = 0; i < 40; i++) {
      const lesson = learning.refused(now, Infinity, MAX);
      rates.push(lesson.rate as number);
      now += lesson.cooldownMs as number;
    }
    expect(rates[0]).toBeCloseTo(10);
    expect(rates[1]).toBeCloseTo(7);
    expect(rates[2]).toBeCloseTo(4.9);
    expect(rates.at(-1)).toBe(0.1);
  });

  it('additive increase: a request a second per success below 0.8 of the rate last refused, a twentieth up to 0.9 of it, a hundredth above, never above the ceiling', () => {
    const learning = new RefusalLearning();
    learning.refused(0, 20, MAX); // refused at 20: now 14
    const climbed = Array.from({ length: 44 }, () => learning.succeeded(20).rate as number);
    // 15, 16 (< 16 = 0.8 x 20 until then), then by twentieths to 18 (0.9 x 20), then by hundredths.
    expect(climbed.slice(0, 4)).toEqual([15, 16, 16.05, 16.1]);
    expect(climbed[41]).toBeCloseTo(18);
    expect(climbed[42]).toBeCloseTo(18.01);
    for (let i = 0; i < 300; i++) learning.succeeded(20);
    expect(learning.rate?.limit).toBe(20);
    expect(learning.succeeded(20)).toEqual({});
  });
});

describe('the scheduler paces starts at the learned rate', () => {
  beforeEach(useFakeTime);
  afterEach(() => {
    vi.useRealTimers();
  });

  function scheduler(rateLimit?: { limit: number; windowMs: number }) {
    return new Scheduler(normalizeClientOptions({ clock: { now: () => Date.now() }, concurrency: 4, rateLimit }), new Emitter());
  }

  it('a bare refusal: a 100 ms cooldown, then one start every 100 ms (10 a second), evenly (no burst for a bucket server to refuse)', async () => {
    const s = scheduler();
    const { started, task } = recorder();
    expect(s.learnFromRefusal(MAX)).toBe(100);
    const all = Promise.all([1, 2, 3, 4].map((n) => s.submit(task(`t${n}`), normalizeScheduleOptions(undefined))));
    await vi.advanceTimersByTimeAsync(1_000);
    await all;
    expect(started.map((start) => Math.round(start.at))).toEqual([100, 200, 300, 400]);
    expect(s.stats().learnedRate).toEqual({ limit: 10, windowMs: 1_000 });
  });

  it('successes raise the pace only while it holds starts back (RFC 7661)', async () => {
    const s = scheduler({ limit: 10, windowMs: 1_000 });
    const { task } = recorder();
    s.learnFromRefusal(MAX); // 7 a second
    // Nothing waits: the pace holds nothing back, so successes do not raise it.
    for (let i = 0; i < 20; i++) s.learnFromSuccess();
    expect(s.stats().learnedRate).toEqual({ limit: 7, windowMs: 1_000 });
    // Work the pace holds back: each success raises it (7 -> 8 by ones, by twentieths to 9, then by
    // hundredths), and never above 10, the configured window.
    for (let i = 0; i < 30; i++) {
      const both = Promise.all([1, 2].map((n) => s.submit(task(`t${i}.${n}`), normalizeScheduleOptions(undefined))));
      await vi.advanceTimersByTimeAsync(1_000);
      await both;
      s.learnFromSuccess();
    }
    expect(s.stats().learnedRate).toEqual({ limit: 9.09, windowMs: 1_000 });
  });
});
