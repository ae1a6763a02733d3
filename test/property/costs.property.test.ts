/**
 * Property tests of costs in several currencies over random schedules of `client.schedule(task, { cost })`.
 *
 * Each run builds a client with 1-3 windows counting requests and 1-3 counting tokens (small limits,
 * an injected clock over fake time), and a random timeline: tasks with a weight and a token estimate
 * (or none), which settle their real cost with `context.setCost()` (in their synchronous part, while
 * their start is still pending, or later; less, more, or not at all), end well or fail (a failed or
 * aborted task keeps its estimate unless it settled), aborts, `maxWaitMs`, pause/resume, and
 * `setRateLimit()` changes that may drop the tokens windows (then a token cost is a TypeError) or
 * lower a limit below a waiting task's cost (then it fails with a RangeError).
 *
 * Beside the client the test keeps what the limiter must count: per currency, a log of (time, amount)
 * entries. A start logs its weight in requests and its estimate in tokens at its start time (when the
 * currency has a window: a start made while none counts it is not logged); `setCost` in the task's
 * synchronous part replaces the estimate (the start is still pending); later, less takes the difference
 * off the start's entry (which keeps its time) and more logs the difference at the moment of the call.
 * The windows' `windowMs` after a change never exceed the longest first configured for the currency, so
 * the limiter's history reaches back as far as every window and the log above is exactly what it counts.
 *
 * Checked on every run:
 *  1. At every start (recorded from the task's first line), for every window of every currency the
 *     start costs anything in, what the log counts in the last `windowMs` plus the start's own amount
 *     is <= `limit`. (Room given back by a refund is usable at once; an increase counts from its call.)
 *  2. In flight never exceeds `concurrency`; nothing starts while paused or after its `maxWaitMs`.
 *  3. Every promise settles exactly once, with what the timeline implies: the task's own result, the
 *     abort reason, a TimeoutError (maxWaitMs), a TypeError (a token cost while no window counts tokens,
 *     also from `setCost`), a RangeError (too heavy for the limits of the moment).
 *  4. `stats()` adds up at every step (submitted = queued + blocked + inFlight + completed + failed +
 *     aborted + dropped), its counters equal the model's, and every window's `used` is the log's count.
 *  5. No idle gap: whenever the first task in line could start (a worker, permits, room in every window
 *     by the log above), it has started; the client ends idle with no timer left.
 *
 * `PROPERTY_RUNS` changes the count of runs per property (default 1 500).
 */
import fc from 'fast-check';
import { afterAll, afterEach, describe, it, vi } from 'vitest';
import { RateLimitedClient, type RateWindow, type ScheduleOptions, type TaskContext, TimeoutError } from '../../src/index.js';

// Captured before any test fakes it: one real event-loop turn drains every pending microtask.
const realSetImmediate = globalThis.setImmediate;
function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => realSetImmediate(resolve));
}

const RUNS = Number(process.env.PROPERTY_RUNS ?? 1_500);
const TIMEOUT_MS = 60_000 + RUNS * 20;
const IDLE_LIMIT_MS = 1_000_000;
const TOKENS = 'tokens';

type Outcome = 'resolve' | 'reject' | 'throw';

interface SettleSpec {
  /** null: in the task's synchronous part (its start still pending); else ms after the start. */
  delay: number | null;
  amount: number;
  /** Also names `requests` (equal to the weight, which is allowed). */
  withRequests: boolean;
}

interface TaskSpec {
  gap: number;
  priority: number;
  weight: number;
  /** Tokens estimate; undefined: no `cost` option at all. */
  estimate: number | undefined;
  settle: SettleSpec | undefined;
  duration: number;
  outcome: Outcome;
  /** -1: aborted before submission; n >= 0: n ms after; null: never. */
  abortAfter: number | null;
  maxWaitMs: number | undefined;
}

interface ControlSpec {
  at: number;
  kind: 'pause' | 'resume' | 'limits';
  requests: RateWindow[];
  /** Empty: the new limits count no tokens. */
  tokens: RateWindow[];
  tokensFirst: boolean;
}

interface Scenario {
  requests: RateWindow[];
  tokens: RateWindow[];
  concurrency: number;
  tasks: TaskSpec[];
  controls: ControlSpec[];
}

type Refusal = 'type' | 'range' | 'aborted' | 'max-wait';
type Gone = 'aborted' | 'expired' | 'aborted-or-expired' | 'too-heavy';
type State = 'unsubmitted' | 'refused' | 'queued' | 'running' | 'finished' | 'gone';

interface Entry {
  time: number;
  amount: number;
}

interface Settlement {
  ok: boolean;
  value: unknown;
  at: number;
}

interface TaskModel {
  readonly index: number;
  readonly spec: TaskSpec;
  readonly weight: number;
  readonly estimate: number | undefined;
  readonly value: { readonly task: number };
  readonly error: Error;
  readonly controller: AbortController | undefined;
  state: State;
  refusal: Refusal | undefined;
  gone: Gone | undefined;
  submittedAt: number;
  startedAt: number;
  finishedAt: number;
  /** Inside its synchronous part: its start is taken but not logged with a time yet. */
  pending: boolean;
  /** Its tokens entry, when tokens had a window at its start. */
  tokenEntry: Entry | undefined;
  abortedRunningAt: number;
  abortRace: boolean;
  settlements: Settlement[];
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

function windowsArb(counts: string, maxLimit: number, minLength: number): fc.Arbitrary<RateWindow[]> {
  return fc.array(
    fc.record({ limit: fc.integer({ min: 1, max: maxLimit }), windowMs: fc.integer({ min: 1, max: 80 }), counts: fc.constant(counts) }),
    { minLength, maxLength: 3 },
  );
}

const settleArb: fc.Arbitrary<SettleSpec> = fc.record({
  delay: fc.oneof({ arbitrary: fc.constant(null), weight: 1 }, { arbitrary: fc.integer({ min: 0, max: 40 }), weight: 3 }),
  amount: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 40 })),
  withRequests: fc.boolean(),
});

const taskArb: fc.Arbitrary<TaskSpec> = fc.record({
  gap: fc.oneof({ arbitrary: fc.constant(0), weight: 2 }, { arbitrary: fc.integer({ min: 1, max: 20 }), weight: 3 }),
  priority: fc.integer({ min: -1, max: 2 }),
  weight: fc.oneof({ arbitrary: fc.constant(1), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 3 }), weight: 1 }),
  estimate: fc.oneof({ arbitrary: fc.constant(undefined), weight: 1 }, { arbitrary: fc.integer({ min: 0, max: 30 }), weight: 5 }),
  settle: fc.oneof({ arbitrary: fc.constant(undefined), weight: 1 }, { arbitrary: settleArb, weight: 3 }),
  duration: fc.integer({ min: 0, max: 40 }),
  outcome: fc.constantFrom<Outcome>('resolve', 'resolve', 'resolve', 'reject', 'throw'),
  abortAfter: fc.oneof({ arbitrary: fc.constant(null), weight: 4 }, { arbitrary: fc.integer({ min: -1, max: 60 }), weight: 1 }),
  maxWaitMs: fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 100 }), weight: 1 }),
});

const controlArb: fc.Arbitrary<ControlSpec> = fc.record({
  at: fc.integer({ min: 0, max: 400 }),
  kind: fc.constantFrom<ControlSpec['kind']>('pause', 'resume', 'limits', 'limits'),
  requests: windowsArb('requests', 5, 1),
  tokens: fc.oneof({ arbitrary: fc.constant<RateWindow[]>([]), weight: 1 }, { arbitrary: windowsArb(TOKENS, 30, 1), weight: 4 }),
  tokensFirst: fc.boolean(),
});

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  requests: windowsArb('requests', 5, 1),
  tokens: windowsArb(TOKENS, 30, 1),
  concurrency: fc.integer({ min: 1, max: 4 }),
  tasks: fc.array(taskArb, { minLength: 1, maxLength: 40, size: 'max' }),
  controls: fc.array(controlArb, { maxLength: 6 }),
});

// ---------------------------------------------------------------------------------------------
// Helpers

function sleep(ms: number): Promise<void> {
  return ms === 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}

function describeValue(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  return JSON.stringify(value) ?? String(value);
}

function smallest(windows: readonly RateWindow[]): number {
  return Math.min(...windows.map((window) => window.limit));
}

function longest(windows: readonly RateWindow[]): number {
  return Math.max(0, ...windows.map((window) => window.windowMs));
}

/** What the log counts in a window at `now`: entries newer than `now - windowMs`. */
function usedAt(entries: readonly Entry[], window: RateWindow, now: number): number {
  let used = 0;
  for (const entry of entries) if (entry.time > now - window.windowMs) used += entry.amount;
  return used;
}

/** The moment `amount` more fits `window` by the log (entries oldest first; one frees `windowMs` after it). */
function fitsFrom(entries: readonly Entry[], window: RateWindow, amount: number, now: number): number {
  const live = entries.filter((entry) => entry.time > now - window.windowMs);
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
  /** What the limiter counts, per currency, oldest first. */
  readonly requestsLog: Entry[] = [];
  readonly tokensLog: Entry[] = [];
  /** The windows now, as given to the client (the order `stats().windows` follows). */
  windows: RateWindow[];
  requestsWindows: RateWindow[];
  tokensWindows: RateWindow[];
  /** Later windows are at most this long, so the limiter's history covers them (see the file comment). */
  readonly longestRequests: number;
  readonly longestTokens: number;
  paused = false;
  accepted = 0;
  /** Refused by the queue (aborted before, maxWaitMs): `stats().rejected`. */
  refusedByQueue = 0;

  constructor(scenario: Scenario) {
    this.scenario = scenario;
    this.requestsWindows = scenario.requests;
    this.tokensWindows = scenario.tokens;
    this.windows = [...scenario.requests, ...scenario.tokens];
    this.longestRequests = longest(scenario.requests);
    this.longestTokens = longest(scenario.tokens);
    const maxWeight = Math.min(scenario.concurrency, smallest(scenario.requests));
    const maxTokens = smallest(scenario.tokens);
    this.client = new RateLimitedClient({ clock: { now: () => Date.now() }, rateLimit: this.windows, concurrency: scenario.concurrency });
    this.tasks = scenario.tasks.map((spec, index) => ({
      index,
      spec,
      weight: Math.min(spec.weight, maxWeight),
      estimate: spec.estimate === undefined ? undefined : Math.min(spec.estimate, maxTokens),
      value: { task: index },
      error: new Error(`task ${index} failed`),
      controller: spec.abortAfter === null ? undefined : new AbortController(),
      state: 'unsubmitted',
      refusal: undefined,
      gone: undefined,
      submittedAt: NaN,
      startedAt: NaN,
      finishedAt: NaN,
      pending: false,
      tokenEntry: undefined,
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

  deadline(task: TaskModel): number {
    return task.spec.maxWaitMs === undefined ? Infinity : task.submittedAt + task.spec.maxWaitMs;
  }

  /** Why `weight` and `estimate` could never start under the windows of now, if so. */
  problem(weight: number, estimate: number | undefined): 'type' | 'range' | undefined {
    if (estimate !== undefined && this.tokensWindows.length === 0) return 'type';
    return this.tooHeavy(weight, estimate) ? 'range' : undefined;
  }

  /** A currency no window counts holds nothing back: a waiting task's estimate in it is no problem. */
  tooHeavy(weight: number, estimate: number | undefined): boolean {
    if (weight > this.scenario.concurrency || weight > smallest(this.requestsWindows)) return true;
    return estimate !== undefined && this.tokensWindows.length > 0 && estimate > smallest(this.tokensWindows);
  }

  /** Ms until `weight` requests and `tokens` tokens fit every window by the log. */
  windowWait(weight: number, tokens: number, now: number): number {
    let until = now;
    for (const window of this.requestsWindows) until = Math.max(until, fitsFrom(this.requestsLog, window, weight, now));
    if (tokens > 0) for (const window of this.tokensWindows) until = Math.max(until, fitsFrom(this.tokensLog, window, tokens, now));
    return until - now;
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

  #leaveQueue(task: TaskModel, why: Gone): void {
    const at = this.queue.indexOf(task);
    if (at >= 0) this.queue.splice(at, 1);
    task.state = 'gone';
    task.gone = why;
  }

  #onAbort(task: TaskModel): void {
    const now = Date.now();
    if (task.state === 'queued') this.#leaveQueue(task, this.deadline(task) <= now ? 'aborted-or-expired' : 'aborted');
    else if (task.state === 'running') task.abortedRunningAt = Math.min(task.abortedRunningAt, now);
    else if (task.state === 'finished' && task.settlements.length === 0) task.abortRace = true;
  }

  // --- the task ------------------------------------------------------------------------------

  #task(task: TaskModel, context: TaskContext): unknown {
    const now = Date.now(); // The very first line: this is the start.
    this.#onStart(task, now);
    const settle = task.spec.settle;
    task.pending = true;
    try {
      if (settle?.delay === null) this.#setCost(task, context, settle);
    } finally {
      task.pending = false;
    }
    if (task.spec.outcome === 'throw') {
      this.#onFinish(task);
      throw task.error;
    }
    return (async () => {
      try {
        const delay = settle === undefined || settle.delay === null ? task.spec.duration : Math.min(settle.delay, task.spec.duration);
        await sleep(delay);
        if (settle !== undefined && settle.delay !== null) this.#setCost(task, context, settle);
        await sleep(task.spec.duration - delay);
        if (task.spec.outcome === 'reject') throw task.error;
        return task.value;
      } finally {
        this.#onFinish(task);
      }
    })();
  }

  #onStart(task: TaskModel, now: number): void {
    if (task.state !== 'queued') this.violate(`3: task ${task.index} started in state ${task.state} ${task.gone ?? ''}`);
    if (this.paused) this.violate(`2: task ${task.index} started while paused`);
    if (now > this.deadline(task)) this.violate(`2: task ${task.index} started at ${now}, after its deadline ${this.deadline(task)}`);
    const at = this.queue.indexOf(task);
    if (at >= 0) this.queue.splice(at, 1);
    count('starts');
    // Property 1: what every window counts, plus this start, fits its limit.
    for (const window of this.requestsWindows) {
      const used = usedAt(this.requestsLog, window, now) + task.weight;
      if (used > window.limit) {
        this.violate(`1: start of task ${task.index} puts ${used} requests in the ${window.windowMs} ms window (limit ${window.limit})`);
      }
    }
    const tokens = task.estimate ?? 0;
    if (tokens > 0) {
      for (const window of this.tokensWindows) {
        const used = usedAt(this.tokensLog, window, now) + tokens;
        if (used > window.limit) {
          this.violate(`1: start of task ${task.index} puts ${used} tokens in the ${window.windowMs} ms window (limit ${window.limit})`);
        }
      }
    }
    if (this.tokensWindows.some((window) => usedAt(this.tokensLog, window, now) > window.limit)) count('starts with tokens over the limit');
    task.state = 'running';
    task.startedAt = now;
    this.running.push(task);
    this.requestsLog.push({ time: now, amount: task.weight });
    if (this.tokensWindows.length > 0) {
      task.tokenEntry = { time: now, amount: tokens };
      this.tokensLog.push(task.tokenEntry);
    } else {
      count('starts no tokens window logs');
    }
    const weight = this.running.reduce((sum, running) => sum + running.weight, 0);
    if (weight > this.scenario.concurrency) this.violate(`2: ${weight} units in flight with concurrency ${this.scenario.concurrency}`);
  }

  /**
   * Settles the task's cost. The model changes first: `setCost()` lets waiting work start before it
   * returns, and those starts must see the new count.
   */
  #setCost(task: TaskModel, context: TaskContext, settle: SettleSpec): void {
    const now = Date.now();
    const cost = settle.withRequests ? { requests: task.weight, [TOKENS]: settle.amount } : { [TOKENS]: settle.amount };
    if (this.tokensWindows.length === 0) {
      // No window counts tokens now: a TypeError, and nothing changes.
      try {
        context.setCost(cost);
        this.violate(`3: setCost of task ${task.index} passed while no window counts tokens`);
      } catch (error) {
        if (!(error instanceof TypeError)) this.violate(`3: setCost with no tokens window threw ${describeValue(error)}`);
        count('setCost refused: no tokens window');
      }
      return;
    }
    const before = task.estimate ?? 0;
    const after = settle.amount;
    const entry = task.tokenEntry;
    if (task.pending) {
      if (entry !== undefined) entry.amount = after;
      count('setCost while pending');
    } else if (after < before) {
      if (entry !== undefined) entry.amount -= before - after;
      count(entry === undefined ? 'setCost down, start not logged' : 'setCost down');
    } else if (after > before) {
      this.tokensLog.push({ time: now, amount: after - before });
      count('setCost up');
    }
    try {
      context.setCost(cost);
    } catch (error) {
      this.violate(`3: setCost(${JSON.stringify(cost)}) of task ${task.index} threw ${describeValue(error)}`);
    }
  }

  #onFinish(task: TaskModel): void {
    if (task.state !== 'running') this.violate(`task ${task.index} finished in state ${task.state}`);
    task.state = 'finished';
    task.finishedAt = Date.now();
    const at = this.running.indexOf(task);
    if (at >= 0) this.running.splice(at, 1);
  }

  #settled(task: TaskModel, ok: boolean, value: unknown): void {
    const now = Date.now();
    task.settlements.push({ ok, value, at: now });
    if (task.settlements.length > 1) {
      this.violate(`3: the promise of task ${task.index} settled ${task.settlements.length} times`);
      return;
    }
    if (task.state === 'queued') {
      // Nothing of ours ends a waiting task here, so only its maxWaitMs can have.
      if (ok || !(value instanceof TimeoutError) || value.phase !== 'queue') {
        this.violate(`3: waiting task ${task.index} settled with ${ok ? 'value' : 'error'} ${describeValue(value)}`);
      } else if (now < this.deadline(task) || now > this.deadline(task) + 1) {
        this.violate(`3: task ${task.index} expired at ${now}, its deadline is ${this.deadline(task)}`);
      }
      this.#leaveQueue(task, 'expired');
    }
  }

  // --- actions -------------------------------------------------------------------------------

  submit(task: TaskModel): void {
    const now = Date.now();
    const spec = task.spec;
    task.submittedAt = now;
    if (spec.abortAfter === -1) task.controller?.abort(new Error(`abort ${task.index}`));
    let refusal: Refusal | undefined = this.problem(task.weight, task.estimate);
    if (refusal === undefined && task.controller?.signal.aborted === true) refusal = 'aborted';
    if (refusal === undefined && spec.maxWaitMs !== undefined && this.windowWait(task.weight, task.estimate ?? 0, now) > spec.maxWaitMs) {
      refusal = 'max-wait';
    }
    task.refusal = refusal;
    if (refusal === undefined) {
      task.state = 'queued';
      this.queue.push(task);
    } else {
      task.state = 'refused';
      count(`refused ${refusal}`);
    }
    const options: ScheduleOptions = {
      priority: spec.priority,
      weight: task.weight,
      cost: task.estimate === undefined ? undefined : { [TOKENS]: task.estimate },
      signal: task.controller?.signal,
      maxWaitMs: spec.maxWaitMs,
    };
    const before = this.client.stats().submitted;
    let promise: Promise<unknown>;
    try {
      promise = this.client.schedule((context) => this.#task(task, context), options);
    } catch (error) {
      this.violate(`3: schedule() threw synchronously: ${describeValue(error)}`);
      return;
    }
    promise.then(
      (value) => this.#settled(task, true, value),
      (reason: unknown) => this.#settled(task, false, reason),
    );
    const accepted = this.client.stats().submitted - before === 1;
    if (accepted !== (refusal === undefined)) {
      this.violate(`3: task ${task.index} was ${accepted ? 'accepted' : 'refused'}, expected ${refusal ?? 'accepted'}`);
    }
    if (refusal === undefined) this.accepted++;
    else if (refusal === 'aborted' || refusal === 'max-wait') this.refusedByQueue++;
  }

  abort(task: TaskModel): void {
    task.controller?.abort(new Error(`abort ${task.index}`));
  }

  control(control: ControlSpec): void {
    switch (control.kind) {
      case 'pause':
        this.paused = true;
        this.client.pause();
        break;
      case 'resume':
        // The model first: resume() starts tasks synchronously.
        this.paused = false;
        this.client.resume();
        break;
      case 'limits':
        this.setLimits(control);
        break;
    }
  }

  setLimits(control: ControlSpec): void {
    const requests = control.requests.map((window) => ({ ...window, windowMs: Math.min(window.windowMs, this.longestRequests) }));
    const tokens = control.tokens.map((window) => ({ ...window, windowMs: Math.min(window.windowMs, this.longestTokens) }));
    this.requestsWindows = requests;
    this.tokensWindows = tokens;
    this.windows = control.tokensFirst ? [...tokens, ...requests] : [...requests, ...tokens];
    count(tokens.length === 0 ? 'limits without tokens' : 'limits with tokens');
    // Waiting work that can never start under the new limits fails with a RangeError.
    for (const task of [...this.queue]) {
      if (this.tooHeavy(task.weight, task.estimate)) {
        this.#leaveQueue(task, 'too-heavy');
        count('failed too heavy');
      }
    }
    this.client.setRateLimit(this.windows);
  }

  // --- checks --------------------------------------------------------------------------------

  abortReason(task: TaskModel): unknown {
    return task.controller?.signal.reason;
  }

  /** Checked whenever every timer due by now has fired and every microtask has run. */
  checkSettledPoint(): void {
    const now = Date.now();
    const stats = this.client.stats();
    const sum = stats.queued + stats.blocked + stats.inFlight + stats.completed + stats.failed + stats.dropped + stats.aborted;
    if (stats.submitted !== sum) this.violate(`4: submitted ${stats.submitted} !== sum of states ${sum} (${JSON.stringify(stats)})`);
    let completed = 0;
    let failed = 0;
    let aborted = 0;
    for (const task of this.tasks) {
      if (task.state !== 'finished' && task.state !== 'gone') continue;
      const settlement = task.settlements[0];
      if (settlement === undefined) {
        this.violate(`3: task ${task.index} is ${task.state} but its promise has not settled`);
        continue;
      }
      if (settlement.ok) completed++;
      else if (settlement.value !== undefined && settlement.value === this.abortReason(task)) aborted++;
      else failed++;
    }
    const expected = {
      queued: this.queue.length,
      blocked: 0,
      inFlight: this.running.length,
      submitted: this.accepted,
      rejected: this.refusedByQueue,
      completed,
      failed,
      aborted,
      dropped: 0,
    };
    for (const [key, value] of Object.entries(expected)) {
      const actual = stats[key as keyof typeof expected];
      if (actual !== value) this.violate(`4: stats().${key} is ${actual}, the model says ${value}`);
    }
    if (stats.windows.length !== this.windows.length) this.violate(`4: stats().windows has ${stats.windows.length} windows`);
    this.windows.forEach((window, index) => {
      const usage = stats.windows[index];
      const counts = window.counts ?? 'requests';
      const used = usedAt(counts === TOKENS ? this.tokensLog : this.requestsLog, window, now);
      if (usage?.used !== used || usage.limit !== window.limit || usage.windowMs !== window.windowMs || usage.counts !== counts) {
        this.violate(`4: stats().windows[${index}] is ${JSON.stringify(usage)}, expected ${counts} used ${used}`);
      }
    });
    if (this.client.isPaused !== this.paused) this.violate(`isPaused is ${this.client.isPaused}, expected ${this.paused}`);

    // Property 5: the first task waits only for a worker, for permits or for the windows.
    const head = this.best();
    if (!this.paused && head !== undefined) {
      count('idle-gap checks');
      const inFlight = this.running.reduce((total, task) => total + task.weight, 0);
      if (
        this.running.length < this.scenario.concurrency &&
        inFlight + head.weight <= this.scenario.concurrency &&
        this.windowWait(head.weight, head.estimate ?? 0, now) === 0
      ) {
        this.violate(`5: task ${head.index} (weight ${head.weight}, tokens ${head.estimate}) could start now but waits`);
      }
    }
    this.throwIfViolated();
  }

  checkEnd(): void {
    count('runs');
    if (vi.getTimerCount() !== 0) this.violate(`5: the idle client still holds ${vi.getTimerCount()} timer(s)`);
    for (const task of this.tasks) {
      count(`state ${task.state}${task.gone === undefined ? '' : ` ${task.gone}`}`);
      const settlement = task.settlements[0];
      if (task.settlements.length !== 1 || settlement === undefined) {
        this.violate(`3: the promise of task ${task.index} settled ${task.settlements.length} times`);
        continue;
      }
      const { ok, value, at } = settlement;
      const is = (check: boolean, what: string): void => {
        if (!check) {
          this.violate(
            `3: task ${task.index} (${task.state} ${task.refusal ?? task.gone ?? ''}) settled at ${at} with ${ok ? 'value' : 'error'} ${describeValue(value)}; expected ${what}`,
          );
        }
      };
      const timeout = value instanceof TimeoutError && value.phase === 'queue';
      switch (task.state) {
        case 'refused':
          is(at === task.submittedAt, 'settling at submission');
          if (task.refusal === 'type') is(!ok && value instanceof TypeError, 'TypeError');
          else if (task.refusal === 'range') is(!ok && value instanceof RangeError, 'RangeError');
          else if (task.refusal === 'aborted') is(!ok && value === this.abortReason(task), 'the abort reason');
          else is(!ok && timeout, "TimeoutError phase 'queue'");
          break;
        case 'gone':
          if (task.gone === 'aborted') is(!ok && value === this.abortReason(task), 'the abort reason');
          else if (task.gone === 'aborted-or-expired') is(!ok && (value === this.abortReason(task) || timeout), 'abort or TimeoutError');
          else if (task.gone === 'too-heavy') is(!ok && value instanceof RangeError, 'RangeError');
          break;
        case 'finished':
          if (task.abortedRunningAt !== Infinity) {
            count('aborted while running');
            is(!ok && value === this.abortReason(task) && at === task.abortedRunningAt, `the abort reason at ${task.abortedRunningAt}`);
          } else {
            const own = task.spec.outcome === 'resolve' ? ok && value === task.value : !ok && value === task.error;
            is(
              (own && at === task.finishedAt) || (task.abortRace && !ok && value === this.abortReason(task)),
              `its own result at ${task.finishedAt}`,
            );
          }
          break;
        default:
          this.violate(`3: task ${task.index} ended in state ${task.state}`);
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
    if (spec.abortAfter !== null && spec.abortAfter >= 0)
      events.push({ at: at + spec.abortAfter, order: events.length, act: (r) => r.abort(task) });
  });
  for (const control of scenario.controls) events.push({ at: control.at, order: events.length, act: (r) => r.control(control) });
  return events.sort((a, b) => a.at - b.at || a.order - b.order);
}

async function runScenario(scenario: Scenario): Promise<void> {
  vi.useFakeTimers({ now: 0, toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'Date'] });
  const run = new Run(scenario);
  const onUncaught = (error: unknown): void => run.violate(`3: uncaught ${describeValue(error)}`);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  try {
    for (const event of timeline(scenario, run)) {
      const delta = event.at - Date.now();
      if (delta > 0) {
        await vi.advanceTimersByTimeAsync(delta);
        await flushMicrotasks();
        run.checkSettledPoint();
      }
      event.act(run);
      await flushMicrotasks();
      run.checkSettledPoint();
    }
    if (run.paused) {
      run.control({ at: Date.now(), kind: 'resume', requests: [], tokens: [], tokensFirst: false });
      await flushMicrotasks();
      run.checkSettledPoint();
    }
    let idle = false;
    void run.client.onIdle().then(() => {
      idle = true;
    });
    await flushMicrotasks();
    while (!idle) {
      if (vi.getTimerCount() === 0) {
        run.violate(`5: not idle and no timer pending: stuck (${JSON.stringify(run.client.stats())})`);
        break;
      }
      if (Date.now() > IDLE_LIMIT_MS) {
        run.violate(`5: not idle after ${IDLE_LIMIT_MS} fake ms`);
        break;
      }
      // One timer time at a time, so that every intermediate point is checked.
      await vi.advanceTimersToNextTimerAsync();
      await vi.advanceTimersByTimeAsync(0);
      await flushMicrotasks();
      run.checkSettledPoint();
    }
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

describe('costs in requests and tokens on random schedules', () => {
  it(
    'never lets a window of either currency run over at a start, settles every promise once, and keeps stats adding up',
    async () => {
      await fc.assert(fc.asyncProperty(scenarioArb, runScenario), { numRuns: RUNS });
    },
    TIMEOUT_MS,
  );
});
