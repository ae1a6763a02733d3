// The scheduler: what the client asks of its queue and limits (submit, pause, limits, close, stats),
// around the dispatch loop (dispatch-loop.ts) that starts the tasks.
import { REQUESTS } from '../core/cost.js';
import type { Emitter } from '../core/events.js';
import type { NormalizedClientOptions, NormalizedScheduleOptions } from '../core/normalize-options.js';
import type { ClientStats, KeyStats, LearnedRate, RateWindow } from '../core/options.js';
import { publishTaskEnqueue } from '../core/diagnostics.js';
import { ClientClosedError } from '../errors/client-closed-error.js';
import { QueueFullError } from '../errors/queue-full-error.js';
import { TimeoutError } from '../errors/timeout-error.js';
import type { Refill } from '../limit/server-budget.js';
import { RefusalLearning } from '../retry/learned-rate.js';
import { requestWindows, tightenAll } from '../retry/server-feedback.js';
import { DispatchLoop } from './dispatch-loop.js';
import { IdleWaiters } from './idle-waiters.js';
import { Job, JobBounds, jobPromise, type Task } from './job.js';
import { RetryWaits } from './retry-waits.js';
import { SizeWaiters } from './size-waiters.js';
import type { Tenant } from './tenant.js';
import { runsBefore } from '../queue/fair-queue.js';
import { kQueuedTask, type TaskHandle } from '../core/internal.js';

/**
 * Takes work in and answers the client: a submission is checked (closed, too heavy, aborted, an
 * impossible `maxWaitMs`, a full queue that rejects), becomes a Job and goes to the dispatch loop,
 * which starts it when its turn and room come. Also the client's lifecycle: pause and resume, limit
 * changes, the server's cooldown and budget, retries waiting out their delay, `onIdle()`/`onEmpty()`/
 * `onSizeLessThan()`, `close()` and `stats()`.
 */
export class Scheduler {
  readonly #loop: DispatchLoop;
  readonly #events: Emitter;
  /** The client's `name` option, for `stats()`. */
  readonly #name: string | undefined;
  /** The pool follows `setConcurrency()` unless its size was given. */
  readonly #poolFollowsConcurrency: boolean;
  #seq = 0;
  #closed = false;
  /** Closed with `drain: false`: nothing more starts, not even a retry of work accepted before. */
  #discarding = false;
  /** Retries waiting out their delay: accepted work, outside the queue until the delay ends. */
  readonly #retryWaits: RetryWaits;
  /**
   * Work of the layers above that is not in the queue right now but is not done either: an HTTP
   * request between an attempt and its retry or its next redirect hop. The client is not idle meanwhile.
   */
  #holds = 0;
  #closing: Promise<void> | undefined = undefined;
  /** Told after every dispatch pass that leaves nothing waiting. */
  readonly #idleWaiters = new IdleWaiters(() => this.#events.emit('idle'));
  readonly #sizeWaiters = new SizeWaiters(() => this.#loop.queue.waiting);
  /** What bare refusals taught: a growing cooldown and a paced rate (see RefusalLearning). */
  readonly #learning = new RefusalLearning();

  constructor(options: NormalizedClientOptions, events: Emitter) {
    this.#events = events;
    this.#name = options.name;
    this.#poolFollowsConcurrency = options.workers === undefined;
    this.#loop = new DispatchLoop(options, events, () => this.#notifyWaiters());
    this.#retryWaits = new RetryWaits(options.clock, () => this.#loop.dispatch());
    this.#loop.onSharedWindows = (windows) => this.#adoptSharedWindows(windows);
  }

  get isPaused(): boolean {
    return this.#loop.paused;
  }

  /**
   * Queues a task. `settleAtStart: false` keeps its window slot pending until the task calls
   * `context[kSettleSlot]()` (or ends): the HTTP layer counts a request from its response headers.
   */
  submit<T>(task: Task<T>, options: NormalizedScheduleOptions, settleAtStart = true, seq?: number, handle?: TaskHandle): Promise<T> {
    const { priority, signal, timeoutMs, maxWaitMs, key } = options;
    // A retry (it brings the seq of its first attempt) finishes work accepted before a draining close.
    if (this.#closed && (seq === undefined || this.#discarding)) return this.#refuse(new ClientClosedError());
    const loop = this.#loop;
    let tenant: Tenant<Job> | undefined;
    if (key !== undefined) {
      try {
        tenant = loop.tenants.obtain(key, loop.clock.now());
      } catch (error) {
        // `perKey` could not give this key's limits: this task fails, and nothing else is touched.
        return this.#refuse(error);
      }
    }
    let weight = 1;
    let cost = null;
    if (options.cost === undefined) {
      if (options.weight !== undefined) weight = options.weight;
    } else {
      try {
        ({ weight, cost } = loop.limits.normalize(options.weight, options.cost, this.#currenciesOf(tenant)));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const tooHeavy = loop.problem(weight, cost, tenant);
    if (tooHeavy !== undefined) return Promise.reject(tooHeavy);
    if (signal?.aborted) return this.#refuse(signal.reason, tenant);

    let deadline = Infinity;
    if (maxWaitMs !== Infinity) {
      const now = loop.clock.now();
      const slot = { weight, cost, settleAtStart, storeData: undefined, key: tenant?.storeKey };
      let wait = Math.max(loop.store.earliestWait(slot, now), loop.server.budgetWait(slot, now), loop.server.coolingWait(slot, now));
      const heard = tenant?.server;
      if (heard != null) wait = Math.max(wait, heard.budgetWait(slot, now), heard.coolingWait(slot, now));
      if (wait > maxWaitMs) {
        return this.#refuse(
          new TimeoutError(
            `Task can not start within maxWaitMs ${maxWaitMs}: the rate limit is full for at least ${Math.ceil(wait)} ms`,
            'queue',
            maxWaitMs,
          ),
          tenant,
        );
      }
      deadline = now + maxWaitMs;
    }
    if (loop.queue.isFull && loop.queue.overflow === 'reject') {
      return this.#refuse(new QueueFullError(loop.queue.maxSize, 'reject'), tenant);
    }
    const keyFull = tenant !== undefined && tenant.queued >= tenant.limits.maxSize;
    if (tenant !== undefined && keyFull && tenant.limits.overflow === 'reject') {
      return this.#refuse(new QueueFullError(tenant.limits.maxSize, 'reject', tenant.key), tenant);
    }

    const bounds =
      signal === undefined && timeoutMs === Infinity && maxWaitMs === Infinity
        ? null
        : new JobBounds(signal, timeoutMs, maxWaitMs, deadline);
    const promise = jobPromise() as Promise<T>;
    const job = new Job(task, priority, seq ?? this.#seq++, weight, cost, settleAtStart, bounds, tenant);
    if (handle !== undefined) handle[kQueuedTask] = job;
    // Before it is queued: a drop strategy may push it straight out, and its end must follow this.
    if (this.#events.owner !== undefined) publishTaskEnqueue(job, this.#events.owner, priority, weight, cost, key);
    loop.counts.submitted++;
    this.#idleWaiters.busy();
    // A producer let in by onSizeLessThan() has brought its task (a retry, with its seq, is not one).
    if (seq === undefined) this.#sizeWaiters.arrived();
    if (tenant !== undefined) {
      tenant.submitted++;
      tenant.queued++;
      loop.tenants.busy(tenant);
      // The key's own queue is full and drops one of its tasks: its oldest, or the one that would run last.
      if (keyFull) {
        const overflow = tenant.limits.overflow as 'drop-oldest' | 'drop-lowest-priority';
        const victim = loop.queue.victimOf(tenant, overflow);
        if (victim === undefined || (overflow === 'drop-lowest-priority' && !runsBefore(job, victim))) {
          loop.drop(job, overflow, tenant);
          return promise;
        }
        loop.drop(victim, overflow, tenant);
      }
    }
    loop.enqueue(job);
    // Still waiting as the caller's call returns: whatever starts it later (a timer, another task's
    // end, a store's answer) runs it in this call's async context, taken here while it is current.
    if (job.state !== 'running' && job.state !== 'done') job.keepCallerContext();
    return promise;
  }

  /** See TaskHandle: the task queued with `handle` ends as if its signal had aborted. */
  abortTask(handle: TaskHandle, reason: unknown): void {
    const job = handle[kQueuedTask];
    if (job instanceof Job) this.#loop.abortJobs([job], reason);
  }

  /** Ignored once closing: close() drains, and a pause then would leave it waiting forever. */
  pause(): void {
    if (this.#closed) return;
    this.#loop.paused = true;
    this.#loop.wake.cancel();
  }

  resume(): void {
    if (!this.#loop.paused) return;
    this.#loop.paused = false;
    this.#loop.dispatch();
  }

  setConcurrency(concurrency: number): void {
    const loop = this.#loop;
    loop.semaphore.setCapacity(concurrency);
    if (this.#poolFollowsConcurrency) loop.pool.resize(concurrency);
    loop.forgetRefusal();
    loop.store.setLimits({ windows: loop.windows, concurrency }, loop.clock.now());
    loop.failTooHeavy();
    loop.dispatch();
  }

  setRateLimit(windows: readonly RateWindow[]): void {
    const loop = this.#loop;
    // The store first: one that refuses the limits (a RedisStore and a bucket) must leave nothing changed.
    loop.store.setLimits({ windows, concurrency: loop.semaphore.capacity }, loop.clock.now());
    loop.windows = windows;
    loop.failTooHeavy();
    // The old wake-up time was computed from the old windows.
    loop.wake.cancel();
    loop.dispatch();
  }

  /**
   * Windows tightened to what a server said (`adaptive`): in force from now, as `setRateLimit`, and the
   * ones new among them shared with every process on a shared store.
   */
  setServerWindows(windows: readonly RateWindow[]): void {
    const before = this.#loop.windows;
    this.setRateLimit(windows);
    const tightened = requestWindows(windows).filter(
      (window) => !before.some((old) => old.limit === window.limit && old.windowMs === window.windowMs),
    );
    if (tightened.length > 0) this.#loop.store.sharePolicy?.(tightened, this.#loop.clock.now());
  }

  /** Windows another process's server tightened (a shared store told): this client's tighten alike. */
  #adoptSharedWindows(policies: readonly RateWindow[]): void {
    const windows = tightenAll(this.#loop.windows, policies);
    if (windows === undefined) return;
    try {
      this.setRateLimit(windows);
    } catch (error) {
      this.#events.emit('error', error);
    }
  }

  /**
   * Holds every start that costs `currency` (every start, for requests) until `delayMs` from now (a
   * server's Retry-After): work already queued waits, nothing is dropped. A later end replaces an
   * earlier one, never the reverse. With `key`, only that key's starts (the response was to its request).
   */
  coolDown(delayMs: number, currency?: string, key?: string): void {
    const loop = this.#loop;
    const until = loop.clock.now() + delayMs;
    if (key !== undefined) {
      // Its tasks are parked when their turn comes: nothing to wake for.
      loop.tenants.get(key)?.heard.coolDown(until, currency);
      return;
    }
    if (!loop.server.coolDown(until, currency)) return;
    // Every process sharing the store holds too (a RedisStore); this one already does.
    loop.store.shareCooldown?.(currency ?? REQUESTS, delayMs, loop.clock.now());
    loop.wake.cancel();
    loop.dispatch();
  }

  /**
   * See ServerBudget#set; `resetMs` from now. `carrierCost` is what the request that brought the news
   * cost in `currency`: the server's `remaining` already counts it, so it is not in flight for this.
   * What else is in flight is known for requests (the semaphore, or the key's own) and not for other
   * currencies (taken as 0). With `key`, the budget is that key's.
   */
  setServerBudget(remaining: number, resetMs: number, carrierCost: number, currency?: string, refill?: Refill, key?: string): void {
    const loop = this.#loop;
    const requests = currency === undefined || currency === 'requests';
    const now = loop.clock.now();
    if (key !== undefined) {
      const tenant = loop.tenants.get(key);
      if (tenant === undefined) return;
      const inFlight = requests ? Math.max(0, tenant.held - carrierCost) : 0;
      tenant.heard.setBudget(remaining, now + resetMs, inFlight, now, currency, refill);
      loop.tenants.unpark(tenant);
    } else {
      const inFlight = requests ? Math.max(0, loop.semaphore.held - carrierCost) : 0;
      loop.server.setBudget(remaining, now + resetMs, inFlight, now, currency, refill);
      // A budget that refills as it goes (`refill`) stays this process's: the shared one holds until its reset.
      if (refill === undefined) loop.store.shareBudget?.(currency ?? REQUESTS, Math.max(0, remaining - inFlight), resetMs, now);
    }
    loop.wake.cancel();
    loop.dispatch();
  }

  /**
   * A bare refusal (a 429 or 503 that says nothing of the server's limits) arrived: every start (with
   * `key`, every start of that key) cools down, and starts are paced at a learned rate. Returns the
   * cooldown started, or undefined when this refusal is news already acted on.
   */
  learnFromRefusal(maxCooldownMs: number, key?: string): number | undefined {
    const loop = this.#loop;
    const now = loop.clock.now();
    const tenant = key === undefined ? undefined : loop.tenants.get(key);
    if (key !== undefined && tenant === undefined) return undefined;
    const learning = tenant === undefined ? this.#learning : tenant.learning;
    const server = tenant === undefined ? loop.server : tenant.heard;
    const lesson = learning.refused(now, this.#ceiling(tenant), maxCooldownMs);
    if (lesson.rate !== undefined) server.pace(lesson.rate, now);
    if (lesson.cooldownMs === undefined) return undefined;
    this.coolDown(lesson.cooldownMs, undefined, key);
    return lesson.cooldownMs;
  }

  /** A response that was not a refusal: the learned rate climbs back, and the cooldown resets. */
  learnFromSuccess(key?: string): void {
    const loop = this.#loop;
    const tenant = key === undefined ? undefined : loop.tenants.get(key);
    const learning = tenant === undefined ? (key === undefined ? this.#learning : null) : tenant.lessons;
    // Every response not refused comes here: with nothing learned there is nothing to do.
    if (!learning?.learned) return;
    const server = tenant === undefined ? loop.server : tenant.heard;
    const lesson = learning.succeeded(this.#ceiling(tenant), server.pacedSince());
    if (lesson.rate === undefined) return;
    server.pace(lesson.rate, loop.clock.now());
    if (tenant !== undefined) loop.tenants.unpark(tenant);
    loop.wake.cancel();
    loop.dispatch();
  }

  /**
   * The configured rate a second: the tightest `'requests'` window's or bucket's (with a key, of its own
   * and the client's), Infinity without one.
   */
  #ceiling(tenant?: Tenant<Job>): number {
    let ceiling = Infinity;
    const windows = tenant === undefined ? this.#loop.windows : [...this.#loop.windows, ...tenant.limits.windows];
    for (const window of windows) {
      if ((window.counts ?? 'requests') === 'requests') ceiling = Math.min(ceiling, (window.limit * 1_000) / window.windowMs);
    }
    return ceiling;
  }

  /** What bare refusals taught, for `stats()`. */
  get learnedRate(): LearnedRate | undefined {
    return this.#learning.rate;
  }

  /**
   * Waits out a retry's delay (no worker, no permit held) as work the client still owes, then calls
   * `again` to submit the retry, in the same turn, so the client never looks idle in between:
   * `onIdle()` and a draining `close()` wait for it; `close({ drain: false })` and the caller's signal
   * end it at once with their reason.
   */
  retryAfter<T>(delayMs: number, signal: AbortSignal | undefined, again: () => Promise<T>): Promise<T> {
    if (this.#discarding) return Promise.reject(new ClientClosedError());
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.#loop.counts.retried++;
    return this.#retryWaits.wait(delayMs, signal, again);
  }

  /**
   * Keeps the client from counting as idle until the returned function is called (once): for work
   * of the layers above between two of its tasks (an HTTP request's retry or next redirect hop).
   */
  hold(): () => void {
    this.#holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#holds--;
      this.#loop.dispatch();
    };
  }

  #cooldownEpoch(): number | null {
    const left = this.#loop.server.cooldownUntil - this.#loop.clock.now();
    return left > 0 ? Math.round(Date.now() + left) : null;
  }

  get windows(): readonly RateWindow[] {
    return this.#loop.windows;
  }

  /** Every currency some window counts, requests included. */
  get currencies(): ReadonlySet<string> {
    return this.#loop.limits.currencies;
  }

  onIdle(): Promise<void> {
    return this.#idleWaiters.whenIdle(this.#loop.queue.waiting === 0 && !this.#working());
  }

  onEmpty(): Promise<void> {
    return this.#idleWaiters.whenEmpty(this.#loop.queue.waiting === 0);
  }

  /** See SizeWaiters#wait. Inside a dispatch pass, earlier callers are let in first, at its end. */
  onSizeLessThan(below: number): Promise<void> {
    return this.#sizeWaiters.wait(below, !this.#loop.dispatching);
  }

  close(drain: boolean): Promise<void> {
    this.#closed = true;
    // No producer can submit any more: a place held for one is free (the dispatch below lets others in).
    this.#sizeWaiters.close();
    if (!drain) {
      this.#discarding = true;
      const error = new ClientClosedError('The client was closed before this task started');
      if (this.#loop.acquiring?.state === 'acquiring') this.#loop.discard(this.#loop.acquiring, error, 'failed');
      for (const job of this.#loop.queue.clear()) this.#loop.discard(job, error, 'failed');
      this.#retryWaits.rejectAll(error);
    }
    // Draining means finishing the queue, so a paused client resumes.
    this.#loop.paused = false;
    this.#loop.dispatch();
    this.#closing ??= this.onIdle().then(() => {
      this.#loop.wake.cancel();
      this.#loop.deadlines.clear();
      this.#loop.tenants.close();
      return this.#loop.store.close();
    });
    return this.#closing;
  }

  stats(): ClientStats {
    const { queue, counts, clock } = this.#loop;
    return {
      name: this.#name,
      queued: queue.queued,
      blocked: queue.blocked,
      // A worker held for a job awaiting its grant is not in flight: that job counts as queued.
      inFlight: this.#loop.pool.busy - (this.#loop.acquiring === undefined ? 0 : 1),
      submitted: counts.submitted,
      completed: counts.completed,
      failed: counts.failed,
      retried: counts.retried,
      dropped: counts.dropped,
      aborted: counts.aborted,
      rejected: counts.rejected,
      windows: this.#loop.store.usage(clock.now()),
      queueUtilization: queue.maxSize === Infinity ? 0 : queue.queued / queue.maxSize,
      queueMaxSize: queue.maxSize,
      cooldownUntil: this.#cooldownEpoch(),
      learnedRate: this.#learning.rate,
      keys: this.#loop.tenants.size,
    };
  }

  /** One key's figures (zeros for a key the client does not keep). */
  keyStats(key: string): KeyStats {
    const loop = this.#loop;
    const tenant = loop.tenants.get(key);
    if (tenant === undefined) {
      return {
        key,
        active: false,
        queued: 0,
        inFlight: 0,
        submitted: 0,
        completed: 0,
        failed: 0,
        dropped: 0,
        aborted: 0,
        rejected: 0,
        windows: [],
        concurrency: Infinity,
        weight: 1,
        cooldownUntil: null,
        learnedRate: undefined,
      };
    }
    const now = loop.clock.now();
    const left = (tenant.server?.cooldownUntil ?? -Infinity) - now;
    return {
      key,
      active: true,
      queued: tenant.queued,
      inFlight: this.#inFlightOf(tenant),
      submitted: tenant.submitted,
      completed: tenant.completed,
      failed: tenant.failed,
      dropped: tenant.dropped,
      aborted: tenant.aborted,
      rejected: tenant.rejected,
      windows: loop.store.keyUsage?.(key, now) ?? [],
      concurrency: tenant.limits.concurrency,
      weight: tenant.limits.weight,
      cooldownUntil: left > 0 ? Math.round(Date.now() + left) : null,
      learnedRate: tenant.learnedRate,
    };
  }

  /** The key's tasks running: every one accepted that is neither waiting nor ended (`held` counts weight instead). */
  #inFlightOf(tenant: Tenant<Job>): number {
    return tenant.submitted - tenant.queued - tenant.completed - tenant.failed - tenant.dropped - tenant.aborted;
  }

  /**
   * A key's limits from now on (`input`: the fields to change); the key is made if the client does not
   * keep it. Throws on bad limits, naming the key and the field; nothing changes then.
   */
  setKeyLimits(key: string, input: unknown): void {
    const loop = this.#loop;
    loop.tenants.setLimits(key, input, loop.clock.now());
    loop.failTooHeavy();
    loop.dispatch();
  }

  /** A key's own windows (for `adaptive` to tighten; empty: none), or the client's without a key. */
  windowsOf(key?: string): readonly RateWindow[] {
    if (key === undefined) return this.#loop.windows;
    return this.#loop.tenants.get(key)?.limits.windows ?? [];
  }

  /** Windows tightened by a server's word on a key's request: that key's, from now on. */
  setKeyWindows(key: string, windows: readonly RateWindow[]): void {
    if (this.#loop.tenants.get(key) === undefined) return;
    this.setKeyLimits(key, { rateLimit: windows });
  }

  #refuse(reason: unknown, tenant?: Tenant<Job>): Promise<never> {
    this.#loop.counts.rejected++;
    if (tenant !== undefined) tenant.rejected++;
    return Promise.reject(reason);
  }

  /** The currencies a task may name: the client's, and its key's own. */
  #currenciesOf(tenant: Tenant<Job> | undefined): ReadonlySet<string> {
    const currencies = this.#loop.limits.currencies;
    if (tenant === undefined) return currencies;
    const own = tenant.fits?.currencies;
    if (own === undefined) return currencies;
    for (const currency of own) if (!currencies.has(currency)) return new Set([...currencies, ...own]);
    return currencies;
  }

  /** Work started or owed that is not in the queue: the client is not idle while there is some. */
  #working(): boolean {
    return this.#loop.pool.busy > 0 || this.#retryWaits.size > 0 || this.#holds > 0;
  }

  #notifyWaiters(): void {
    const waiting = this.#loop.queue.waiting;
    if (this.#sizeWaiters.size > 0) this.#sizeWaiters.letIn(waiting);
    if (waiting === 0) this.#idleWaiters.emptied(this.#working());
  }
}
