/**
 * Property tests of buckets (windows that name `burst`) over random schedules.
 *
 * Each run builds a client with 1-2 buckets counting requests and 1-2 counting tokens (small limits and
 * bursts, intervals that are often fractional: `windowMs / limit`), sometimes a sliding window beside
 * them, and a random timeline: tasks through `schedule()` (counted at their start) and HTTP-like tasks
 * through `client[kScheduleRequest]` (pending until they call `context[kSettleSlot]()` after a random
 * delay, or until they end), with a weight and a token estimate (or none), which settle their real cost
 * with `setCost()` (while pending, or later: less, more, or not at all), end well or fail (also
 * synchronously), aborts of waiting and running tasks (which keep running), pause and resume.
 *
 * Beside the client the test keeps what a server counting with each bucket sees, per currency: a log of
 * what was taken and when. A start is taken at its settle; a settled start's `setCost` down puts the
 * difference back at that moment, but only what of that start's own span is still ahead (later starts
 * may have taken the units it freed; a bucket holds no more than `burst`: a refund into a full bucket
 * is lost), up takes the difference at that moment. The level of a bucket at `b` is then
 * `min over a <= b of burst + rate * (b - a) - net taken in [a, b]` (at most `burst`: the bucket starts
 * full), computed here in integers (units scaled by `windowMs`), independently of the GCRA number.
 * Sliding windows keep their own log, as test/property/costs.property.test.ts describes.
 *
 * Checked on every run:
 *  1. At every start, for every bucket of every currency the start costs anything in, the units taken
 *     in every interval [a, b] ending at the start, plus the units of pending starts and the start's
 *     own, fit `burst + rate * (b - a)` (GCRA conformance: the start's units fit whenever it settles);
 *     likewise every sliding window.
 *  2. Every promise settles exactly once, with the task's result, its error or the abort reason.
 *  3. `stats()` adds up at every step; each bucket's `level`, `used` and `nextUnitMs` and each window's
 *     `used` are what the log says.
 *  4. No idle gap: whenever a worker is free and the first task in line fits by the log, it has
 *     started; when it does not fit yet and no pending start holds the room it needs, the test stops
 *     the clock at the first whole millisecond the log says it fits, and it must have started by then.
 *     The client ends idle with no timer left.
 *
 * `PROPERTY_RUNS` changes the count of runs per property (default 600).
 */
import fc from 'fast-check';
import { afterAll, afterEach, describe, it, vi } from 'vitest';
import { kScheduleRequest, kSettleSlot, type InternalTaskContext } from '../../src/core/internal.js';
import { RateLimitedClient, type RateWindow, type ScheduleOptions, type TaskContext } from '../../src/index.js';

// Captured before any test fakes it: one real event-loop turn drains every pending microtask.
const realSetImmediate = globalThis.setImmediate;
function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => realSetImmediate(resolve));
}

const RUNS = Number(process.env.PROPERTY_RUNS ?? 600);
/** `PROPERTY_SEED` and `PROPERTY_PATH` replay a failure fast-check reported. */
const replay =
  process.env.PROPERTY_SEED === undefined
    ? {}
    : { seed: Number(process.env.PROPERTY_SEED), path: process.env.PROPERTY_PATH ?? '', endOnFailure: true };
const TIMEOUT_MS = 60_000 + RUNS * 30;
const TIME_LIMIT_MS = 1_000_000;
const EPSILON = 1e-6;
const REQUESTS = 'requests';
const TOKENS = 'tokens';
type Currency = typeof REQUESTS | typeof TOKENS;
const CURRENCIES: readonly Currency[] = [REQUESTS, TOKENS];

type Outcome = 'resolve' | 'reject' | 'throw';

interface Limit {
  counts: Currency;
  limit: number;
  windowMs: number;
  /** Undefined: a sliding window. */
  burst: number | undefined;
}

interface SetCostSpec {
  /** null: in the task's synchronous part (its start still pending); else ms after the start. */
  delay: number | null;
  amount: number;
}

interface TaskSpec {
  gap: number;
  priority: number;
  weight: number;
  /** Tokens estimate; undefined: no `cost` option. */
  estimate: number | undefined;
  /** Through `kScheduleRequest`: pending until it settles. */
  http: boolean;
  /** HTTP-like only: ms after its start it calls `kSettleSlot`; null: never (it settles as it ends). */
  settleAfter: number | null;
  setCost: SetCostSpec | undefined;
  duration: number;
  outcome: Outcome;
  /** ms after submission; null: never. */
  abortAfter: number | null;
}

interface ControlSpec {
  at: number;
  kind: 'pause' | 'resume';
}

interface Scenario {
  concurrency: number;
  limits: Limit[];
  tasks: TaskSpec[];
  controls: ControlSpec[];
}

interface Entry {
  time: number;
  amount: number;
  /**
   * A refund (amount < 0) of a start that took `counted` units at `settledAt`: a bucket gets back only
   * what of that start's span is still ahead of the refund (`settledAt + counted * interval`), since
   * later starts may have taken the units it freed before (TokenBucket#refund).
   */
  refundOf?: { settledAt: number; counted: number };
}

type State = 'unsubmitted' | 'queued' | 'running' | 'finished' | 'gone';

interface TaskModel {
  readonly index: number;
  readonly spec: TaskSpec;
  readonly weight: number;
  readonly value: { readonly task: number };
  readonly error: Error;
  readonly controller: AbortController | undefined;
  /** Its cost in tokens now (the estimate, then what setCost said). */
  tokens: number;
  state: State;
  /** Started and not settled: its units are pending. */
  pending: boolean;
  /** Its entries in the sliding windows' logs (for a refund, which keeps their time). */
  windowEntries: Partial<Record<Currency, Entry>>;
  finishedAt: number;
  abortedRunningAt: number;
  abortRace: boolean;
  settlements: Array<{ ok: boolean; value: unknown; at: number }>;
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

function bucketArb(counts: Currency, maxLimit: number, maxBurst: number): fc.Arbitrary<Limit> {
  return fc.record({
    counts: fc.constant(counts),
    limit: fc.integer({ min: 1, max: maxLimit }),
    windowMs: fc.integer({ min: 5, max: 120 }),
    burst: fc.integer({ min: 1, max: maxBurst }),
  });
}

function windowArb(counts: Currency, maxLimit: number): fc.Arbitrary<Limit> {
  return fc.record({
    counts: fc.constant(counts),
    limit: fc.integer({ min: 1, max: maxLimit }),
    windowMs: fc.integer({ min: 5, max: 80 }),
    burst: fc.constant(undefined),
  });
}

const limitsArb: fc.Arbitrary<Limit[]> = fc
  .tuple(
    fc.array(bucketArb(REQUESTS, 6, 4), { minLength: 1, maxLength: 2 }),
    fc.array(bucketArb(TOKENS, 30, 30), { minLength: 1, maxLength: 2 }),
    fc.oneof(
      { arbitrary: fc.constant<Limit[]>([]), weight: 2 },
      { arbitrary: fc.array(fc.oneof(windowArb(REQUESTS, 5), windowArb(TOKENS, 30)), { minLength: 1, maxLength: 2 }), weight: 1 },
    ),
    fc.boolean(),
  )
  .map(([requests, tokens, windows, tokensFirst]) =>
    tokensFirst ? [...tokens, ...windows, ...requests] : [...requests, ...windows, ...tokens],
  );

const taskArb: fc.Arbitrary<TaskSpec> = fc.record({
  gap: fc.oneof({ arbitrary: fc.constant(0), weight: 2 }, { arbitrary: fc.integer({ min: 1, max: 30 }), weight: 3 }),
  priority: fc.integer({ min: -1, max: 1 }),
  weight: fc.oneof({ arbitrary: fc.constant(1), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 4 }), weight: 1 }),
  estimate: fc.oneof({ arbitrary: fc.constant(undefined), weight: 1 }, { arbitrary: fc.integer({ min: 0, max: 30 }), weight: 5 }),
  http: fc.boolean(),
  settleAfter: fc.oneof({ arbitrary: fc.constant(null), weight: 1 }, { arbitrary: fc.integer({ min: 0, max: 60 }), weight: 3 }),
  setCost: fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 1 },
    {
      arbitrary: fc.record({
        delay: fc.oneof({ arbitrary: fc.constant(null), weight: 1 }, { arbitrary: fc.integer({ min: 0, max: 60 }), weight: 3 }),
        amount: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 40 })),
      }),
      weight: 2,
    },
  ),
  duration: fc.integer({ min: 0, max: 60 }),
  outcome: fc.constantFrom<Outcome>('resolve', 'resolve', 'resolve', 'reject', 'throw'),
  abortAfter: fc.oneof({ arbitrary: fc.constant(null), weight: 5 }, { arbitrary: fc.integer({ min: 0, max: 80 }), weight: 1 }),
});

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  concurrency: fc.integer({ min: 1, max: 4 }),
  limits: limitsArb,
  tasks: fc.array(taskArb, { minLength: 1, maxLength: 30, size: 'max' }),
  controls: fc.array(fc.record({ at: fc.integer({ min: 0, max: 300 }), kind: fc.constantFrom<ControlSpec['kind']>('pause', 'resume') }), {
    maxLength: 4,
  }),
});

// ---------------------------------------------------------------------------------------------
// Helpers

function describeValue(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  return JSON.stringify(value) ?? String(value);
}

/** The most a limit lets start at once. */
const room = (limit: Limit): number => limit.burst ?? limit.limit;

/**
 * A bucket's level at `now` by the log, scaled by `windowMs` (an integer while times are): the least,
 * over every interval [a, now], of `burst + rate * (now - a) - net taken in [a, now]`, and `burst`.
 */
function scaledLevel(bucket: Limit & { burst: number }, log: readonly Entry[], now: number): number {
  const full = bucket.burst * bucket.windowMs;
  let level = full;
  // Taken, in units scaled by windowMs (integers on the fake clock).
  let net = 0;
  for (let i = log.length - 1; i >= 0; i--) {
    const entry = log[i] as Entry;
    if (entry.time > now) continue;
    const { refundOf } = entry;
    net +=
      refundOf === undefined
        ? entry.amount * bucket.windowMs
        : -Math.min(
            -entry.amount * bucket.windowMs,
            Math.max(0, refundOf.settledAt * bucket.limit + refundOf.counted * bucket.windowMs - entry.time * bucket.limit),
          );
    level = Math.min(level, full + bucket.limit * (now - entry.time) - net);
  }
  return level;
}

/** What a sliding window's log counts at `now`. */
function usedAt(log: readonly Entry[], window: Limit, now: number): number {
  let used = 0;
  for (const entry of log) if (entry.time > now - window.windowMs) used += entry.amount;
  return used;
}

/** The moment `amount` more fits a sliding window by its log (entries oldest first). */
function fitsFrom(log: readonly Entry[], window: Limit, amount: number, now: number): number {
  const live = log.filter((entry) => entry.time > now - window.windowMs);
  let used = live.reduce((sum, entry) => sum + entry.amount, 0);
  if (used + amount <= window.limit) return now;
  for (const entry of live) {
    used -= entry.amount;
    if (used + amount <= window.limit) return entry.time + window.windowMs;
  }
  return Infinity;
}

const coverage = new Map<string, number>();
function count(what: string, by = 1): void {
  coverage.set(what, (coverage.get(what) ?? 0) + by);
}

class PropertyViolation extends Error {
  override name = 'PropertyViolation';
}

// ---------------------------------------------------------------------------------------------
// One run

class Run {
  readonly violations: string[] = [];
  readonly scenario: Scenario;
  readonly client: RateLimitedClient;
  readonly tasks: TaskModel[];
  readonly queue: TaskModel[] = [];
  readonly running: TaskModel[] = [];
  /** What a server counting with a bucket sees taken, per currency (refunds negative, at their time). */
  readonly bucketLog: Record<Currency, Entry[]> = { requests: [], tokens: [] };
  /** What the sliding windows count, per currency (a refund takes off its start's entry). */
  readonly windowLog: Record<Currency, Entry[]> = { requests: [], tokens: [] };
  /** Due times of this test's own timers (the tasks' sleeps): the clock stops at each. */
  readonly ownTimers: number[] = [];
  paused = false;

  constructor(scenario: Scenario) {
    this.scenario = scenario;
    const limits = scenario.limits;
    const rateLimit: RateWindow[] = limits.map(({ counts, limit, windowMs, burst }) =>
      burst === undefined ? { counts, limit, windowMs } : { counts, limit, windowMs, burst },
    );
    this.client = new RateLimitedClient({ clock: { now: () => Date.now() }, rateLimit, concurrency: scenario.concurrency });
    const most = (counts: Currency) => Math.min(...limits.filter((limit) => limit.counts === counts).map(room));
    const maxWeight = Math.min(scenario.concurrency, most(REQUESTS));
    const maxTokens = most(TOKENS);
    this.tasks = scenario.tasks.map((spec, index) => ({
      index,
      spec,
      weight: Math.min(spec.weight, maxWeight),
      value: { task: index },
      error: new Error(`task ${index} failed`),
      controller: spec.abortAfter === null ? undefined : new AbortController(),
      tokens: spec.estimate === undefined ? 0 : Math.min(spec.estimate, maxTokens),
      state: 'unsubmitted',
      pending: false,
      windowEntries: {},
      finishedAt: NaN,
      abortedRunningAt: Infinity,
      abortRace: false,
      settlements: [],
    }));
    for (const task of this.tasks) {
      // Registered before the scheduler's listener: the model knows of the abort before the scheduler acts.
      task.controller?.signal.addEventListener('abort', () => this.#onAbort(task));
    }
  }

  violate(message: string): void {
    this.violations.push(`[t=${Date.now()}] ${message}`);
  }

  throwIfViolated(): void {
    if (this.violations.length > 0) throw new PropertyViolation(this.violations.slice(0, 8).join('\n'));
  }

  // --- the model -----------------------------------------------------------------------------

  amountOf(task: TaskModel, counts: Currency): number {
    return counts === REQUESTS ? task.weight : task.tokens;
  }

  /** Units of pending starts in `counts`, but `except`'s. */
  pendingUnits(counts: Currency, except?: TaskModel): number {
    let units = 0;
    for (const task of this.running) if (task.pending && task !== except) units += this.amountOf(task, counts);
    return units;
  }

  /** Scaled room left in a bucket (or a window, unscaled) for `amount` after `pending`: >= 0 when it fits. */
  slack(limit: Limit, amount: number, pending: number, now: number): number {
    if (limit.burst === undefined) return limit.limit - usedAt(this.windowLog[limit.counts], limit, now) - pending - amount;
    return scaledLevel({ ...limit, burst: limit.burst }, this.bucketLog[limit.counts], now) - (pending + amount) * limit.windowMs;
  }

  /**
   * When `task` fits every limit by the log (assuming nothing else happens): now, a later time, or
   * undefined when a pending start holds room it needs (its settle decides).
   */
  fitsAt(task: TaskModel, now: number): number | undefined {
    let at = now;
    for (const limit of this.scenario.limits) {
      const amount = this.amountOf(task, limit.counts);
      if (amount === 0) continue;
      const pending = this.pendingUnits(limit.counts);
      const slack = this.slack(limit, amount, pending, now);
      if (slack >= -EPSILON) continue;
      // Refill (a bucket) or expiry (a window) alone makes the room unless the pending units and the
      // cost together exceed what the limit ever holds: then a settle must come first.
      if (pending + amount > room(limit)) return undefined;
      at = Math.max(
        at,
        limit.burst === undefined ? fitsFrom(this.windowLog[limit.counts], limit, pending + amount, now) : now + -slack / limit.limit,
      );
    }
    return at;
  }

  best(): TaskModel | undefined {
    let best: TaskModel | undefined;
    for (const task of this.queue) {
      if (
        best === undefined ||
        task.spec.priority < best.spec.priority ||
        (task.spec.priority === best.spec.priority && task.index < best.index)
      ) {
        best = task;
      }
    }
    return best;
  }

  #leaveQueue(task: TaskModel): void {
    const at = this.queue.indexOf(task);
    if (at >= 0) this.queue.splice(at, 1);
    task.state = 'gone';
  }

  #onAbort(task: TaskModel): void {
    if (task.state === 'queued') this.#leaveQueue(task);
    else if (task.state === 'running') task.abortedRunningAt = Math.min(task.abortedRunningAt, Date.now());
    else if (task.state === 'finished' && task.settlements.length === 0) task.abortRace = true;
  }

  /** The start's units are taken now (its response arrived, or it ended without one). */
  #settle(task: TaskModel, now: number): void {
    if (!task.pending) return;
    task.pending = false;
    for (const counts of CURRENCIES) {
      const amount = this.amountOf(task, counts);
      this.bucketLog[counts].push({ time: now, amount });
      const entry = { time: now, amount };
      task.windowEntries[counts] = entry;
      this.windowLog[counts].push(entry);
    }
  }

  // --- the task ------------------------------------------------------------------------------

  sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    const due = Date.now() + ms;
    this.ownTimers.push(due);
    return new Promise((resolve) => {
      setTimeout(() => {
        this.ownTimers.splice(this.ownTimers.indexOf(due), 1);
        resolve();
      }, ms);
    });
  }

  #task(task: TaskModel, context: TaskContext): unknown {
    const now = Date.now(); // The very first line: this is the start.
    this.#onStart(task, now);
    const { setCost, settleAfter, duration, outcome, http } = task.spec;
    if (setCost?.delay === null) this.#setCost(task, context, setCost.amount);
    // A schedule() task counts from its start: when this synchronous part returns.
    if (!http) this.#settle(task, now);
    if (outcome === 'throw') {
      this.#onFinish(task);
      throw task.error;
    }
    // What the task does later, in order of time: its response (HTTP-like), its setCost.
    const steps: Array<{ at: number; act: () => void }> = [];
    if (http && settleAfter !== null && settleAfter < duration) {
      steps.push({
        at: settleAfter,
        act: () => {
          count('settle from the response');
          this.#settle(task, Date.now());
          (context as InternalTaskContext)[kSettleSlot]();
        },
      });
    }
    if (setCost !== undefined && setCost.delay !== null) {
      steps.push({ at: Math.min(setCost.delay, duration), act: () => this.#setCost(task, context, setCost.amount) });
    }
    steps.sort((a, b) => a.at - b.at);
    return (async () => {
      try {
        let at = 0;
        for (const step of steps) {
          await this.sleep(step.at - at);
          at = step.at;
          step.act();
        }
        await this.sleep(duration - at);
        if (outcome === 'reject') throw task.error;
        return task.value;
      } finally {
        this.#onFinish(task);
      }
    })();
  }

  #onStart(task: TaskModel, now: number): void {
    if (task.state !== 'queued') this.violate(`2: task ${task.index} started in state ${task.state}`);
    if (this.paused) this.violate(`4: task ${task.index} started while paused`);
    const at = this.queue.indexOf(task);
    if (at >= 0) this.queue.splice(at, 1);
    count('starts');
    // Property 1: every limit of every currency it costs anything in has room for it now.
    for (const limit of this.scenario.limits) {
      const amount = this.amountOf(task, limit.counts);
      if (amount === 0) continue;
      const pending = this.pendingUnits(limit.counts);
      const slack = this.slack(limit, amount, pending, now);
      if (pending > 0) count('starts beside pending units');
      if (slack < -EPSILON) {
        this.violate(
          `1: start of task ${task.index} (${amount} ${limit.counts}, ${pending} pending) overruns ${JSON.stringify(limit)} by ${
            limit.burst === undefined ? -slack : -slack / limit.windowMs
          } units (log ${JSON.stringify(limit.burst === undefined ? this.windowLog[limit.counts] : this.bucketLog[limit.counts])})`,
        );
      } else if (slack < limit.windowMs && limit.burst !== undefined) {
        count('starts with the bucket at its last unit');
      }
    }
    task.state = 'running';
    task.pending = true;
    this.running.push(task);
    const inFlight = this.running.reduce((sum, running) => sum + running.weight, 0);
    if (inFlight > this.scenario.concurrency) this.violate(`4: ${inFlight} units in flight with concurrency ${this.scenario.concurrency}`);
  }

  /** The model changes first: `setCost()` lets waiting work start before it returns. */
  #setCost(task: TaskModel, context: TaskContext, amount: number): void {
    const now = Date.now();
    const before = task.tokens;
    if (task.pending) {
      count('setCost while pending');
    } else if (amount < before) {
      count('setCost down');
      const settledAt = task.windowEntries.tokens?.time ?? -Infinity;
      this.bucketLog.tokens.push({ time: now, amount: amount - before, refundOf: { settledAt, counted: before } });
      const entry = task.windowEntries.tokens;
      if (entry !== undefined) entry.amount -= before - amount;
    } else if (amount > before) {
      count('setCost up');
      this.bucketLog.tokens.push({ time: now, amount: amount - before });
      this.windowLog.tokens.push({ time: now, amount: amount - before });
    }
    task.tokens = amount;
    try {
      context.setCost({ [TOKENS]: amount });
    } catch (error) {
      this.violate(`2: setCost(${amount}) of task ${task.index} threw ${describeValue(error)}`);
    }
  }

  #onFinish(task: TaskModel): void {
    if (task.state !== 'running') this.violate(`2: task ${task.index} finished in state ${task.state}`);
    // A start never settled counts from its end.
    this.#settle(task, Date.now());
    task.state = 'finished';
    task.finishedAt = Date.now();
    const at = this.running.indexOf(task);
    if (at >= 0) this.running.splice(at, 1);
  }

  #settled(task: TaskModel, ok: boolean, value: unknown): void {
    task.settlements.push({ ok, value, at: Date.now() });
    if (task.settlements.length > 1) this.violate(`2: the promise of task ${task.index} settled ${task.settlements.length} times`);
    else if (task.state === 'queued') this.violate(`2: waiting task ${task.index} settled with ${describeValue(value)}`);
  }

  // --- actions -------------------------------------------------------------------------------

  submit(task: TaskModel): void {
    const spec = task.spec;
    task.state = 'queued';
    this.queue.push(task);
    const options: ScheduleOptions = {
      priority: spec.priority,
      weight: task.weight,
      cost: spec.estimate === undefined ? undefined : { [TOKENS]: task.tokens },
      signal: task.controller?.signal,
    };
    if (spec.http) count('http-like tasks');
    let promise: Promise<unknown>;
    try {
      promise = spec.http
        ? this.client[kScheduleRequest]((context) => this.#task(task, context), options)
        : this.client.schedule((context) => this.#task(task, context), options);
    } catch (error) {
      this.violate(`2: submitting threw synchronously: ${describeValue(error)}`);
      return;
    }
    promise.then(
      (value) => this.#settled(task, true, value),
      (reason: unknown) => this.#settled(task, false, reason),
    );
  }

  abort(task: TaskModel): void {
    task.controller?.abort(new Error(`abort ${task.index}`));
  }

  control(kind: ControlSpec['kind']): void {
    // The model first: resume() starts tasks synchronously.
    this.paused = kind === 'pause';
    if (kind === 'pause') this.client.pause();
    else this.client.resume();
  }

  // --- checks --------------------------------------------------------------------------------

  /**
   * Checked whenever every timer due by now has fired and every microtask has run. Returns when the
   * first task in line fits by the log, if it waits only for that and no pending start holds it.
   */
  checkSettledPoint(): number | undefined {
    const now = Date.now();
    const stats = this.client.stats();
    const sum = stats.queued + stats.blocked + stats.inFlight + stats.completed + stats.failed + stats.dropped + stats.aborted;
    if (stats.submitted !== sum) this.violate(`3: submitted ${stats.submitted} !== sum of states ${sum} (${JSON.stringify(stats)})`);
    let completed = 0;
    let failed = 0;
    let aborted = 0;
    let submitted = 0;
    for (const task of this.tasks) {
      if (task.state !== 'unsubmitted') submitted++;
      if (task.state !== 'finished' && task.state !== 'gone') continue;
      const settlement = task.settlements[0];
      if (settlement === undefined) {
        this.violate(`2: task ${task.index} is ${task.state} but its promise has not settled`);
        continue;
      }
      if (settlement.ok) completed++;
      else if (settlement.value !== undefined && settlement.value === task.controller?.signal.reason) aborted++;
      else failed++;
    }
    const expected = {
      queued: this.queue.length,
      blocked: 0,
      inFlight: this.running.length,
      submitted,
      completed,
      failed,
      aborted,
      dropped: 0,
    };
    for (const [key, value] of Object.entries(expected)) {
      const actual = stats[key as keyof typeof expected];
      if (actual !== value) this.violate(`3: stats().${key} is ${actual}, the model says ${value}`);
    }
    this.scenario.limits.forEach((limit, index) => {
      const usage = stats.windows[index];
      const pending = this.pendingUnits(limit.counts);
      const shape = { limit: limit.limit, windowMs: limit.windowMs, counts: limit.counts };
      let want: Record<string, number | string>;
      if (limit.burst === undefined) {
        want = { ...shape, used: usedAt(this.windowLog[limit.counts], limit, now) + pending };
      } else {
        const { burst, windowMs } = limit;
        const scaled = scaledLevel({ ...limit, burst }, this.bucketLog[limit.counts], now);
        const level = Math.max(0, Math.floor((scaled - pending * windowMs) / windowMs));
        // The next whole unit: `(level + 1) * windowMs - (scaled - pending * windowMs)` scaled units of refill,
        // unless what stands in its way is pending (only a settle frees that).
        const toRefill = (level + 1) * windowMs - scaled + pending * windowMs;
        const owed = burst * windowMs - scaled;
        const nextUnitMs = level >= burst ? 0 : toRefill > owed ? Infinity : toRefill / limit.limit;
        want = { ...shape, burst, used: burst - level, level, nextUnitMs };
      }
      const same =
        usage !== undefined &&
        Object.keys(want).length === Object.keys(usage).length &&
        Object.entries(want).every(([key, value]) => {
          const actual = usage[key as keyof typeof usage];
          return key === 'nextUnitMs' && typeof actual === 'number' && typeof value === 'number' && Number.isFinite(value)
            ? Math.abs(actual - value) <= 0.001
            : actual === value;
        });
      if (!same) this.violate(`3: stats().windows[${index}] is ${JSON.stringify(usage)}, the model says ${JSON.stringify(want)}`);
      else if (limit.burst !== undefined && usage.nextUnitMs === Infinity) count('stats: next unit held by pending');
    });
    if (this.client.isPaused !== this.paused) this.violate(`isPaused is ${this.client.isPaused}, expected ${this.paused}`);

    // Property 4: the first task waits only for a worker, for permits or for its limits.
    const head = this.best();
    let due: number | undefined;
    if (!this.paused && head !== undefined) {
      const inFlight = this.running.reduce((total, task) => total + task.weight, 0);
      if (this.running.length < this.scenario.concurrency && inFlight + head.weight <= this.scenario.concurrency) {
        const fits = this.fitsAt(head, now);
        if (fits === undefined) {
          count('idle-gap: held by a pending start');
        } else if (fits <= now) {
          this.violate(
            `4: task ${head.index} (weight ${head.weight}, tokens ${head.tokens}) fits by the log but waits (stats ${JSON.stringify(
              stats.windows,
            )}, buckets' log ${JSON.stringify(this.bucketLog)})`,
          );
        } else {
          count('idle-gap: timed');
          due = Math.ceil(fits - EPSILON);
        }
      }
    }
    this.throwIfViolated();
    return due;
  }

  checkEnd(): void {
    count('runs');
    if (vi.getTimerCount() !== 0) this.violate(`4: the idle client still holds ${vi.getTimerCount()} timer(s)`);
    for (const task of this.tasks) {
      count(`state ${task.state}`);
      const settlement = task.settlements[0];
      if (task.settlements.length !== 1 || settlement === undefined) {
        this.violate(`2: the promise of task ${task.index} settled ${task.settlements.length} times`);
        continue;
      }
      const { ok, value, at } = settlement;
      const reason = task.controller?.signal.reason as unknown;
      const is = (check: boolean, what: string): void => {
        if (!check)
          this.violate(
            `2: task ${task.index} (${task.state}) settled at ${at} with ${ok ? 'value' : 'error'} ${describeValue(value)}; expected ${what}`,
          );
      };
      if (task.state === 'gone') {
        is(!ok && value === reason, 'the abort reason');
      } else if (task.state !== 'finished') {
        this.violate(`2: task ${task.index} ended in state ${task.state}`);
      } else if (task.abortedRunningAt !== Infinity) {
        count('aborted while running');
        is(!ok && value === reason && at === task.abortedRunningAt, `the abort reason at ${task.abortedRunningAt}`);
      } else {
        const own = task.spec.outcome === 'resolve' ? ok && value === task.value : !ok && value === task.error;
        is((own && at === task.finishedAt) || (task.abortRace && !ok && value === reason), `its own result at ${task.finishedAt}`);
      }
    }
    this.throwIfViolated();
  }
}

// ---------------------------------------------------------------------------------------------
// Driving time

interface TimelineEvent {
  at: number;
  order: number;
  act: (run: Run) => void;
}

function timeline(scenario: Scenario, run: Run): TimelineEvent[] {
  const events: TimelineEvent[] = [];
  let at = 0;
  scenario.tasks.forEach((spec, index) => {
    at += spec.gap;
    const task = run.tasks[index] as TaskModel;
    events.push({ at, order: events.length, act: (r) => r.submit(task) });
    if (spec.abortAfter !== null) events.push({ at: at + spec.abortAfter, order: events.length, act: (r) => r.abort(task) });
  });
  for (const control of scenario.controls) events.push({ at: control.at, order: events.length, act: (r) => r.control(control.kind) });
  // A run ends resumed, so that everything can finish.
  events.push({
    at: Math.max(at, ...scenario.controls.map((control) => control.at)),
    order: events.length,
    act: (r) => r.control('resume'),
  });
  return events.sort((a, b) => a.at - b.at || a.order - b.order);
}

async function runScenario(scenario: Scenario): Promise<void> {
  vi.useFakeTimers({ now: 0, toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'Date'] });
  const run = new Run(scenario);
  const onUncaught = (error: unknown): void => run.violate(`2: uncaught ${describeValue(error)}`);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  try {
    const events = timeline(scenario, run);
    let next = 0;
    let watching = false;
    let idle = false;
    for (;;) {
      await flushMicrotasks();
      const due = run.checkSettledPoint();
      if (idle) break;
      const now = Date.now();
      const event = events[next];
      if (event !== undefined && event.at <= now) {
        next++;
        event.act(run);
        continue;
      }
      if (event === undefined && !watching) {
        watching = true;
        void run.client.onIdle().then(() => {
          idle = true;
        });
        continue;
      }
      // The clock stops at every event of the timeline, every timer of the tasks, and the moment the
      // first task fits by the log: the client's own timers fire on the way.
      const stop = Math.min(event?.at ?? Infinity, due ?? Infinity, ...run.ownTimers);
      if (stop === Infinity) {
        if (vi.getTimerCount() === 0) {
          run.violate(`4: not idle and no timer pending: stuck (${JSON.stringify(run.client.stats())})`);
          break;
        }
        await vi.advanceTimersToNextTimerAsync();
      } else {
        await vi.advanceTimersByTimeAsync(Math.max(1, stop - now));
      }
      if (Date.now() > TIME_LIMIT_MS) {
        run.violate(`4: not idle after ${TIME_LIMIT_MS} fake ms`);
        break;
      }
    }
    await flushMicrotasks();
    run.throwIfViolated();
    run.checkEnd();
  } finally {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
    vi.useRealTimers();
  }
}

afterEach(() => {
  vi.useRealTimers();
});

afterAll(() => {
  if (process.env.PROPERTY_STATS) console.log(Object.fromEntries([...coverage].sort()));
});

describe('buckets beside windows on random schedules', () => {
  it(
    'never lets a bucket hand out more than burst + rate × time in any interval, settles every promise once, keeps stats exact and leaves no idle gap',
    async () => {
      await fc.assert(fc.asyncProperty(scenarioArb, runScenario), { numRuns: RUNS, ...replay });
    },
    TIMEOUT_MS,
  );
});
