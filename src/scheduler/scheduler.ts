import { type Clock, monotonicClock, timerDelay } from '../core/clock.js';
import { publishTaskEnqueue, publishTaskStart } from '../core/diagnostics.js';
import type { Emitter } from '../core/events.js';
import type { NormalizedClientOptions, NormalizedScheduleOptions } from '../core/normalize-options.js';
import type { ClientStats, OverflowStrategy, RateWindow } from '../core/options.js';
import { ClientClosedError } from '../errors/client-closed-error.js';
import { QueueFullError } from '../errors/queue-full-error.js';
import { TimeoutError } from '../errors/timeout-error.js';
import type { StoreError } from '../errors/store-error.js';
import { Semaphore } from '../limit/semaphore.js';
import { ServerBudget } from '../limit/server-budget.js';
import { smallestLimit } from '../limit/sliding-window.js';
import { PriorityQueue, runsBefore } from '../queue/priority-queue.js';
import { MemoryStore } from '../stores/memory.js';
import type { LimiterStore } from '../stores/store.js';
import { AbortWatch } from './abort-watch.js';
import { Deadlines } from './deadlines.js';
import { Job, JobBounds, type JobOutcome, type Task } from './job.js';
import { SizeWaiters } from './size-waiters.js';
import { WakeTimer } from './wake-timer.js';
import { type Worker, WorkerPool } from './worker-pool.js';

/** With the real clock, the last milliseconds before a window frees are waited out precisely (see WakeTimer). */
const PRECISE_WAKE_SPIN_MS = 2;
/** How deep a task's synchronous part may call back into the dispatcher before it defers. */
const MAX_NESTED_DISPATCH = 8;

/** A retry waiting out its delay; `reject` ends it early (an abort, a close without draining). */
interface RetryWait {
  readonly signal: AbortSignal | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  readonly reject: (reason: unknown) => void;
}

/**
 * The heart of the client. A task starts only when all of these hold: it is first in the priority
 * queue, a worker of the pool is idle, the semaphore has permits for its weight, and the store grants
 * it (every sliding window has room for its weight). `#dispatch()` starts tasks while they hold, and
 * runs again on every event that can make them hold: a submission, a task finishing, the wake timer,
 * resume, limit changes and the store's wake-ups. So work never waits while there is quota for it, and
 * there is no polling.
 *
 * Priority is strict: when the first task can not start (its weight does not fit yet), nothing behind
 * it starts either. Letting light tasks pass would starve heavy ones.
 *
 * The store answers at once (the in-memory default) or with a promise (a shared store, over the
 * network). While a promise is out, the first task waits for it holding a worker and its permits, and
 * nothing else starts: the order stays strict, and one process asks one question at a time.
 */
export class Scheduler {
  readonly #queue = new PriorityQueue<Job>();
  /**
   * Tasks waiting for room in a full queue (`overflow: 'block'`), best first. Every one of them runs
   * after every task in `#queue` (see #block): the bound limits how many wait in the queue, not who
   * goes first, so the queue's head is the best of all that wait.
   */
  readonly #blocked = new PriorityQueue<Job>();
  readonly #pool: WorkerPool;
  readonly #semaphore: Semaphore;
  /** Where the windows are kept and every start is granted. */
  readonly #store: LimiterStore;
  readonly #budget = new ServerBudget();
  #windows: readonly RateWindow[];
  /** The smallest `limit` of `#windows`, or Infinity without windows. */
  #maxWeight: number;
  /**
   * The job whose store answer is on its way, holding a worker and its permits until the answer comes.
   * While its state is `acquiring` it counts as queued (it has not started); once it left (aborted,
   * expired, discarded) it counts no more, but the worker stays held until the answer comes.
   */
  #acquiring: Job | undefined = undefined;
  /**
   * The store's last promised refusal: `job` may not be granted before `until` (clock time; Infinity
   * until a `wake()`), so it is not asked again before then. Without it every dispatch would send one
   * more question. Cleared by the store's `wake()` and by limit changes.
   */
  #refusal: { job: Job; until: number } | undefined = undefined;
  /** The store called `wake()` while an answer was out: that answer may be stale already. */
  #wokenWhileAcquiring = false;
  readonly #deadlines: Deadlines;
  readonly #abortWatch: AbortWatch<Job>;
  /** The callers' signals of retries waiting out their delay: one listener per signal, as for jobs. */
  readonly #retryAbortWatch: AbortWatch<RetryWait>;
  readonly #clock: Clock;
  readonly #events: Emitter;
  readonly #maxSize: number;
  readonly #overflow: OverflowStrategy;
  /** The pool follows `setConcurrency()` unless its size was given. */
  readonly #poolFollowsConcurrency: boolean;

  #seq = 0;
  #paused = false;
  #closed = false;
  /** Closed with `drain: false`: nothing more starts, not even a retry of work accepted before. */
  #discarding = false;
  /** Retries waiting out their delay: accepted work, outside the queue until the delay ends. */
  readonly #retryWaits = new Set<RetryWait>();
  /**
   * Work of the layers above that is not in the queue right now but is not done either: an HTTP
   * request between an attempt and its retry or its next redirect hop. The client is not idle meanwhile.
   */
  #holds = 0;
  #closing: Promise<void> | undefined = undefined;
  /** Depth of `#dispatch` calls on the stack: a task's synchronous part can call back in. */
  #dispatchDepth = 0;
  #dispatchAgain = false;
  /** Wakes the dispatcher when the windows next have room for the first task. */
  readonly #wake: WakeTimer;
  /** Work was submitted since the last `idle` event. */
  #busySinceIdle = false;

  /** Clock time until which nothing starts: the server asked every request to wait. */
  #cooldownUntil = -Infinity;
  #retried = 0;
  #submitted = 0;
  #completed = 0;
  #failed = 0;
  #dropped = 0;
  #aborted = 0;
  #rejected = 0;

  #idleWaiters: Array<() => void> = [];
  #emptyWaiters: Array<() => void> = [];
  readonly #sizeWaiters = new SizeWaiters(() => this.#waiting());

  constructor(options: NormalizedClientOptions, events: Emitter) {
    this.#clock = options.clock;
    this.#wake = new WakeTimer(() => this.#dispatch(), options.clock === monotonicClock ? PRECISE_WAKE_SPIN_MS : 0);
    this.#events = events;
    this.#maxSize = options.maxSize;
    this.#overflow = options.overflow;
    this.#poolFollowsConcurrency = options.workers === undefined;
    this.#semaphore = new Semaphore(options.concurrency);
    this.#windows = options.windows;
    this.#maxWeight = smallestLimit(options.windows);
    this.#pool = new WorkerPool(options.workers ?? options.concurrency, {
      started: (job) => this.#started(job),
      settle: (job) => this.#settle(job),
      finished: (worker, job, ok, value) => this.#finished(worker, job, ok, value),
    });
    this.#deadlines = new Deadlines(this.#clock, (job) => this.#waitExpired(job));
    this.#abortWatch = new AbortWatch<Job>((jobs, reason) => this.#abortJobs(jobs, reason));
    this.#retryAbortWatch = new AbortWatch<RetryWait>((waits, reason) => {
      for (const wait of waits) wait.reject(reason);
    });
    this.#store = options.store ?? new MemoryStore();
    this.#store.open({
      limits: { windows: options.windows, concurrency: options.concurrency },
      clock: this.#clock,
      wake: () => {
        this.#refusal = undefined;
        if (this.#acquiring !== undefined) this.#wokenWhileAcquiring = true;
        this.#wake.cancel();
        this.#dispatch();
      },
      report: (error: StoreError) => this.#events.emit('error', error),
    });
  }

  get isPaused(): boolean {
    return this.#paused;
  }

  /**
   * Queues a task. `settleAtStart: false` keeps its window slot pending until the task calls
   * `context[kSettleSlot]()` (or ends): the HTTP layer counts a request from its response headers.
   */
  submit<T>(task: Task<T>, options: NormalizedScheduleOptions, settleAtStart = true, seq?: number): Promise<T> {
    const { priority, weight, signal, timeoutMs, maxWaitMs } = options;
    // A retry (it brings the seq of its first attempt) finishes work accepted before a draining close.
    if (this.#closed && (seq === undefined || this.#discarding)) return this.#refuse(new ClientClosedError());
    const tooHeavy = this.#weightProblem(weight);
    if (tooHeavy !== undefined) return Promise.reject(tooHeavy);
    if (signal?.aborted) return this.#refuse(signal.reason);

    let deadline = Infinity;
    if (maxWaitMs !== Infinity) {
      const now = this.#clock.now();
      const wait = Math.max(this.#store.earliestWait(weight, now), this.#budget.wait(weight, now), this.#cooldownUntil - now);
      if (wait > maxWaitMs) {
        return this.#refuse(
          new TimeoutError(
            `Task can not start within maxWaitMs ${maxWaitMs}: the rate limit is full for at least ${Math.ceil(wait)} ms`,
            'queue',
            maxWaitMs,
          ),
        );
      }
      deadline = now + maxWaitMs;
    }
    if (this.#queued() >= this.#maxSize && this.#overflow === 'reject') {
      return this.#refuse(new QueueFullError(this.#maxSize, 'reject'));
    }

    const bounds =
      signal === undefined && timeoutMs === Infinity && maxWaitMs === Infinity
        ? null
        : new JobBounds(signal, timeoutMs, maxWaitMs, deadline);
    const job = new Job(task as Task<unknown>, priority, seq ?? this.#seq++, weight, settleAtStart, bounds);
    // Before it is queued: a drop strategy may push it straight out, and its end must follow this.
    if (this.#events.owner !== undefined) publishTaskEnqueue(job, this.#events.owner, priority, weight);
    this.#submitted++;
    this.#busySinceIdle = true;
    // A producer let in by onSizeLessThan() has brought its task (a retry, with its seq, is not one).
    if (seq === undefined) this.#sizeWaiters.arrived();
    this.#abortWatch.watch(job);
    if (job.deadline !== Infinity) this.#deadlines.add(job);
    if (this.#queued() < this.#maxSize) {
      this.#queue.push(job);
    } else if (this.#overflow === 'block') {
      this.#block(job);
    } else {
      // A drop strategy ('reject' was refused above). Push first, then drop the victim: with
      // 'drop-lowest-priority' that may be the new job itself.
      const strategy = this.#overflow as 'drop-oldest' | 'drop-lowest-priority';
      this.#queue.push(job);
      const victim = strategy === 'drop-oldest' ? this.#queue.oldest() : this.#queue.last();
      if (victim !== undefined) this.#drop(victim, strategy);
    }
    this.#dispatch();
    return job.promise as Promise<T>;
  }

  /** Ignored once closing: close() drains, and a pause then would leave it waiting forever. */
  pause(): void {
    if (this.#closed) return;
    this.#paused = true;
    this.#wake.cancel();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#dispatch();
  }

  setConcurrency(concurrency: number): void {
    this.#semaphore.setCapacity(concurrency);
    if (this.#poolFollowsConcurrency) this.#pool.resize(concurrency);
    this.#refusal = undefined;
    this.#store.setLimits({ windows: this.#windows, concurrency }, this.#clock.now());
    this.#failTooHeavy();
    this.#dispatch();
  }

  setRateLimit(windows: readonly RateWindow[]): void {
    this.#windows = windows;
    this.#maxWeight = smallestLimit(windows);
    this.#refusal = undefined;
    this.#store.setLimits({ windows, concurrency: this.#semaphore.capacity }, this.#clock.now());
    this.#failTooHeavy();
    // The old wake-up time was computed from the old windows.
    this.#wake.cancel();
    this.#dispatch();
  }

  /**
   * Holds every start until `delayMs` from now (a server's Retry-After): work already queued waits,
   * nothing is dropped. A later end replaces an earlier one, never the reverse.
   */
  coolDown(delayMs: number): void {
    const until = this.#clock.now() + delayMs;
    if (until <= this.#cooldownUntil) return;
    this.#cooldownUntil = until;
    this.#wake.cancel();
    this.#dispatch();
  }

  /**
   * See ServerBudget#set; `resetMs` from now. `carrierWeight` is the request that
   * brought the news: the server's `remaining` already counts it, so it is not in flight for this.
   */
  setServerBudget(remaining: number, resetMs: number, carrierWeight: number): void {
    this.#budget.set(remaining, this.#clock.now() + resetMs, Math.max(0, this.#semaphore.held - carrierWeight));
    this.#wake.cancel();
    this.#dispatch();
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
    this.#retried++;
    return new Promise<T>((resolve, reject) => {
      const due = this.#clock.now() + delayMs;
      let finished = false;
      const finish = (error?: unknown) => {
        if (finished) return;
        finished = true;
        clearTimeout(wait.timer);
        this.#retryAbortWatch.unwatch(wait);
        this.#retryWaits.delete(wait);
        if (error !== undefined) {
          reject(error);
        } else {
          // `again` runs in a timer callback: a throw must reach the caller, not the process.
          try {
            resolve(again());
          } catch (thrown) {
            reject(thrown);
          }
        }
        this.#dispatch();
      };
      // Node's longest timer is ~24.8 days: a longer delay waits in steps.
      const arm = (): ReturnType<typeof setTimeout> =>
        setTimeout(() => {
          const left = due - this.#clock.now();
          if (left >= 1) wait.timer = arm();
          else finish();
        }, timerDelay(due - this.#clock.now()));
      const wait: RetryWait = { signal, timer: undefined, reject: (error: unknown) => finish(error) };
      wait.timer = arm();
      this.#retryWaits.add(wait);
      this.#retryAbortWatch.watch(wait);
    });
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
      this.#dispatch();
    };
  }

  #cooldownEpoch(): number | null {
    const left = this.#cooldownUntil - this.#clock.now();
    return left > 0 ? Math.round(Date.now() + left) : null;
  }

  get windows(): readonly RateWindow[] {
    return this.#windows;
  }

  onIdle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  onEmpty(): Promise<void> {
    if (this.#waiting() === 0) return Promise.resolve();
    return new Promise((resolve) => this.#emptyWaiters.push(resolve));
  }

  /** See SizeWaiters#wait. Inside a dispatch pass, earlier callers are let in first, at its end. */
  onSizeLessThan(below: number): Promise<void> {
    return this.#sizeWaiters.wait(below, this.#dispatchDepth === 0);
  }

  close(drain: boolean): Promise<void> {
    this.#closed = true;
    // No producer can submit any more: a place held for one is free (the dispatch below lets others in).
    this.#sizeWaiters.close();
    if (!drain) {
      this.#discarding = true;
      const error = new ClientClosedError('The client was closed before this task started');
      if (this.#acquiring?.state === 'acquiring') this.#discard(this.#acquiring, error, 'failed');
      for (const job of [...this.#blocked.clear(), ...this.#queue.clear()]) this.#discard(job, error, 'failed');
      for (const wait of [...this.#retryWaits]) wait.reject(error);
    }
    // Draining means finishing the queue, so a paused client resumes.
    this.#paused = false;
    this.#dispatch();
    this.#closing ??= this.onIdle().then(() => {
      this.#wake.cancel();
      this.#deadlines.clear();
      return this.#store.close();
    });
    return this.#closing;
  }

  stats(): ClientStats {
    return {
      queued: this.#queued(),
      blocked: this.#blocked.size,
      // A worker held for a job awaiting its grant is not in flight: that job counts as queued.
      inFlight: this.#pool.busy - (this.#acquiring === undefined ? 0 : 1),
      submitted: this.#submitted,
      completed: this.#completed,
      failed: this.#failed,
      retried: this.#retried,
      dropped: this.#dropped,
      aborted: this.#aborted,
      rejected: this.#rejected,
      windows: this.#store.usage(this.#clock.now()),
      queueUtilization: this.#maxSize === Infinity ? 0 : this.#queued() / this.#maxSize,
      cooldownUntil: this.#cooldownEpoch(),
    };
  }

  /**
   * `now`: a clock reading the caller has just taken, with only bookkeeping run since; it saves the
   * first task of the pass a reading (each costs ~50 ns, several per task add up). Later tasks of the
   * pass read the clock again: starting a task runs its code, and time moves.
   */
  #dispatch(now?: number): void {
    if (this.#dispatchDepth > 0) {
      // Called back from a task's synchronous part (it scheduled more work, aborted, paused…). Start
      // what can start right away, as a call from outside would: a task that would start at once must
      // not be counted against a full queue. Past a few levels, leave it to the pass below, so a chain
      // of tasks that each schedule the next can not grow the stack without bound.
      this.#dispatchAgain = true;
      if (this.#dispatchDepth < MAX_NESTED_DISPATCH) {
        this.#dispatchDepth++;
        try {
          this.#startWhatCan(now);
        } finally {
          this.#dispatchDepth--;
        }
      }
      return;
    }
    this.#dispatchDepth = 1;
    try {
      do {
        this.#dispatchAgain = false;
        this.#startWhatCan(now);
        now = undefined;
      } while (this.#dispatchAgain);
    } finally {
      this.#dispatchDepth = 0;
    }
    this.#notifyWaiters();
  }

  /** `fresh`: see #dispatch. */
  #startWhatCan(fresh?: number): void {
    for (;;) {
      // One store answer at a time, for the first task: nothing overtakes it meanwhile.
      if (this.#acquiring !== undefined) return;
      const job = this.#queue.peek();
      if (job === undefined || this.#paused) {
        this.#wake.cancel();
        return;
      }
      if (!this.#pool.hasIdle || this.#semaphore.available < job.weight) return;
      const now = fresh ?? this.#clock.now();
      fresh = undefined;
      if (job.deadline < now) {
        // Its deadline passed and its timer has not fired yet (timers can be late): it must not start.
        this.#expire(job);
        continue;
      }
      // The server's own word (a cooldown, its remaining budget) is checked first: it costs no store call.
      let wait = Math.max(this.#budget.wait(job.weight, now), this.#cooldownUntil - now);
      if (this.#refusal?.job === job) wait = Math.max(wait, this.#refusal.until - now);
      if (wait <= 0) {
        let answer: number | Promise<number>;
        try {
          answer = this.#store.acquire(job, now);
        } catch (error) {
          // A store that throws has failed this task, as a rejected answer would.
          this.#discard(job, error, 'failed');
          continue;
        }
        if (typeof answer !== 'number') {
          this.#awaitGrant(job, answer);
          return;
        }
        wait = answer;
      }
      if (wait > 0) {
        // Infinity: room the store can not time (starts not yet settled hold it) frees on an event that
        // dispatches again: a settle, a task's end, or the store's wake().
        if (wait !== Infinity) this.#wake.arm(wait, now);
        return;
      }
      this.#queue.remove(job);
      this.#admitBlocked();
      this.#semaphore.tryAcquire(job.weight);
      this.#run(job, this.#pool.acquire(), now);
    }
  }

  /** Starts a job the store granted, on a worker and permits already taken for it. */
  #run(job: Job, worker: Worker, now: number): void {
    this.#deadlines.delete(job);
    this.#budget.take(job.weight);
    job.slotPending = true;
    job.state = 'running';
    if (job.timeoutMs !== Infinity) this.#armRunTimeout(job, now + job.timeoutMs, now);
    publishTaskStart(job);
    worker.run(job);
  }

  /**
   * The first job waits for the store's answer out of the queue, holding a worker and its permits so
   * the answer can be used at once. It still counts as queued, for `maxSize` too.
   */
  #awaitGrant(job: Job, answer: Promise<number>): void {
    this.#queue.remove(job);
    job.state = 'acquiring';
    this.#acquiring = job;
    this.#refusal = undefined;
    this.#wokenWhileAcquiring = false;
    this.#semaphore.tryAcquire(job.weight);
    const worker = this.#pool.acquire();
    answer.then(
      (wait) => this.#answered(job, worker, wait, false, undefined),
      (error: unknown) => this.#answered(job, worker, Infinity, true, error),
    );
  }

  /** `wait` is the store's answer (0: granted), unless `failed`: the store failed the task with `error`. */
  #answered(job: Job, worker: Worker, wait: number, failed: boolean, error: unknown): void {
    this.#acquiring = undefined;
    const now = this.#clock.now();
    const granted = !failed && wait === 0;
    if (granted && job.state === 'acquiring' && job.deadline >= now) {
      this.#admitBlocked();
      this.#run(job, worker, now);
      this.#dispatch();
      return;
    }
    this.#semaphore.release(job.weight);
    this.#pool.release(worker);
    // A grant nobody can use (the job left meanwhile: aborted, or closed without draining) is given back.
    if (granted) this.#store.release(job, now);
    if (job.state === 'acquiring') {
      if (failed) {
        this.#discard(job, error, 'failed');
      } else if (granted) {
        // Granted after its deadline (a late answer): too late to start.
        this.#expire(job);
      } else {
        this.#requeue(job);
        const tooHeavy = this.#weightProblem(job.weight);
        if (tooHeavy !== undefined) {
          this.#discard(job, tooHeavy, 'failed');
        } else if (!this.#wokenWhileAcquiring) {
          // Not asked again before the wait is over (or the store wakes the scheduler).
          this.#refusal = { job, until: now + wait };
          if (wait !== Infinity) this.#wake.arm(wait, now);
        }
      }
    }
    this.#wokenWhileAcquiring = false;
    this.#admitBlocked();
    this.#dispatch();
  }

  /** The task's synchronous part has run: its start is now, for every window (unless it settles later). */
  #started(job: Job): void {
    if (job.settleAtStart) this.#settleSlot(job);
  }

  /** A task settles its own slot (an HTTP response arrived): room that frees from it needs a timer. */
  #settle(job: Job): void {
    if (job.state !== 'running' || !this.#settleSlot(job)) return;
    this.#forgetUntimedRefusal();
    this.#dispatch();
  }

  /**
   * A refusal no time could end (Infinity: this process's own running or unsettled work held the room)
   * may be over once such work settles or ends: ask again.
   */
  #forgetUntimedRefusal(): void {
    if (this.#refusal?.until === Infinity) this.#refusal = undefined;
  }

  /** Records the job's start now; false when it was already recorded. */
  #settleSlot(job: Job, now?: number): boolean {
    if (!job.slotPending) return false;
    job.slotPending = false;
    this.#store.settle(job, now ?? this.#clock.now());
    return true;
  }

  #finished(worker: Worker, job: Job, ok: boolean, value: unknown): void {
    // One reading serves the release and the next start: between them only bookkeeping runs, and a
    // reading a little old is safe for the windows (by it, less has expired).
    const now = this.#clock.now();
    // A task that ends without settling (a request that failed before any response) counts from now,
    // the latest moment the server could have seen it.
    this.#settleSlot(job, now);
    this.#store.release(job, now);
    const timer = job.bounds?.timer;
    if (timer !== undefined) clearTimeout(timer);
    this.#abortWatch.unwatch(job);
    this.#semaphore.release(job.weight);
    this.#pool.release(worker);
    job.state = 'done';
    if (ok) job.fulfil(value);
    else job.fail(value, 'failed');
    this.#count(job.outcome);
    this.#forgetUntimedRefusal();
    this.#dispatch(now);
  }

  /** For a job with a finite `timeoutMs`, so with bounds. */
  #armRunTimeout(job: Job, due: number, now: number): void {
    (job.bounds as JobBounds).timer = setTimeout(this.#runTimedOut, timerDelay(due - now), job, due);
  }

  readonly #runTimedOut = (job: Job, due: number): void => {
    (job.bounds as JobBounds).timer = undefined;
    const now = this.#clock.now();
    // A timeout longer than Node's longest timer (~24.8 days) fires early, clamped: wait on.
    if (due - now >= 1) {
      this.#armRunTimeout(job, due, now);
      return;
    }
    const error = new TimeoutError(`Task timed out after ${job.timeoutMs} ms`, 'run', job.timeoutMs);
    job.stop(error);
    job.fail(error, 'failed');
  };

  /** Every job of one signal leaves before anything else starts: none of them may start on the way. */
  #abortJobs(jobs: readonly Job[], reason: unknown): void {
    for (const job of jobs) {
      if (job.state === 'running') {
        job.stop(reason);
        job.fail(reason, 'aborted');
      } else if (job.state !== 'done') {
        this.#discard(job, reason, 'aborted');
      }
    }
    this.#dispatch();
  }

  #waitExpired(job: Job): void {
    // A task whose room comes exactly at its deadline may still start (as submit() allows a wait equal
    // to maxWaitMs): the wake timer for that same moment may not have fired yet. A deadline timer that
    // fired late must not let it start later than allowed, though.
    if (this.#clock.now() <= job.deadline) this.#dispatch();
    if (job.state !== 'queued' && job.state !== 'blocked' && job.state !== 'acquiring') return;
    this.#expire(job);
    this.#dispatch();
  }

  #expire(job: Job): void {
    const error = new TimeoutError(`Task did not start within maxWaitMs ${job.maxWaitMs}`, 'queue', job.maxWaitMs);
    this.#discard(job, error, 'failed');
  }

  #drop(job: Job, reason: 'drop-oldest' | 'drop-lowest-priority'): void {
    const error = new QueueFullError(this.#maxSize, reason);
    this.#discard(job, error, 'dropped');
    this.#events.emit('drop', { reason, priority: job.priority, weight: job.weight, error });
  }

  /** Takes a job that has not started out of the scheduler and rejects its caller. */
  #discard(job: Job, reason: unknown, outcome: Exclude<JobOutcome, 'completed'>): void {
    // An acquiring job is out of the queue already, but held a place in it until now.
    const placeFreed = job.state === 'acquiring' || (job.state === 'queued' && this.#queue.remove(job));
    if (job.state === 'blocked') this.#blocked.remove(job);
    this.#deadlines.delete(job);
    this.#abortWatch.unwatch(job);
    job.state = 'done';
    if (placeFreed) this.#admitBlocked();
    job.fail(reason, outcome);
    this.#count(outcome);
  }

  /**
   * A task for a full queue (`'block'`) waits outside it, unless it runs before the queue's worst:
   * then it takes that one's place, and that one waits outside instead. O(1) apart from a level of a
   * new priority (see PriorityQueue).
   */
  #block(job: Job): void {
    const worst = this.#queue.last();
    if (worst !== undefined && runsBefore(job, worst)) {
      this.#queue.remove(worst);
      this.#queue.push(job);
      job = worst;
    }
    job.state = 'blocked';
    this.#blocked.push(job);
  }

  /**
   * A task the store refused goes back in line. Its place in the queue was kept while its answer was
   * out, but a better task may have been blocked meanwhile (it could not take the place of a task out
   * of the queue): that one gets the place then. Every other queued task runs before every blocked
   * one, so if the best blocked task runs before this one, this one is the queue's worst.
   */
  #requeue(job: Job): void {
    const best = this.#blocked.peek();
    if (best !== undefined && runsBefore(best, job)) {
      this.#blocked.remove(best);
      best.state = 'queued';
      this.#queue.push(best);
      job.state = 'blocked';
      this.#blocked.push(job);
    } else {
      job.state = 'queued';
      this.#queue.push(job);
    }
  }

  /** Moves blocked tasks, best first, into the room the queue has. */
  #admitBlocked(): void {
    while (this.#blocked.size > 0 && this.#queued() < this.#maxSize) {
      const job = this.#blocked.shift() as Job;
      job.state = 'queued';
      this.#queue.push(job);
    }
  }

  /** After limits were lowered, a waiting task that no longer fits could never start: fail it now. */
  #failTooHeavy(): void {
    for (const queue of [this.#blocked, this.#queue]) {
      const doomed = [...queue].filter((job) => this.#weightProblem(job.weight) !== undefined);
      for (const job of doomed) this.#discard(job, this.#weightProblem(job.weight), 'failed');
    }
  }

  /** A RangeError when `weight` could never start under the current limits. */
  #weightProblem(weight: number): RangeError | undefined {
    if (weight <= this.#semaphore.capacity && weight <= this.#maxWeight) return undefined;
    if (weight > this.#semaphore.capacity) {
      return new RangeError(
        `Expected \`weight\` to be at most ${this.#semaphore.capacity} (the \`concurrency\`), got \`${weight}\` (number): it could never start`,
      );
    }
    for (const window of this.#windows) {
      if (weight > window.limit) {
        return new RangeError(
          `Expected \`weight\` to be at most ${window.limit} (the \`limit\` of the ${window.windowMs} ms window), got \`${weight}\` (number): it could never start`,
        );
      }
    }
    return undefined;
  }

  #refuse(reason: unknown): Promise<never> {
    this.#rejected++;
    return Promise.reject(reason);
  }

  #count(outcome: JobOutcome | null): void {
    if (outcome === 'completed') this.#completed++;
    else if (outcome === 'failed') this.#failed++;
    else if (outcome === 'aborted') this.#aborted++;
    else if (outcome === 'dropped') this.#dropped++;
  }

  /** Tasks in the queue, the one awaiting its grant included. */
  #queued(): number {
    return this.#queue.size + (this.#acquiring?.state === 'acquiring' ? 1 : 0);
  }

  #waiting(): number {
    return this.#queued() + this.#blocked.size;
  }

  #isIdle(): boolean {
    return this.#waiting() === 0 && this.#pool.busy === 0 && this.#retryWaits.size === 0 && this.#holds === 0;
  }

  #notifyWaiters(): void {
    const waiting = this.#waiting();
    if (this.#sizeWaiters.size > 0) this.#sizeWaiters.letIn(waiting);
    if (waiting > 0) return;
    if (this.#emptyWaiters.length > 0) {
      const waiters = this.#emptyWaiters;
      this.#emptyWaiters = [];
      for (const resolve of waiters) resolve();
    }
    if (this.#pool.busy > 0 || this.#retryWaits.size > 0 || this.#holds > 0) return;
    if (this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
    if (this.#busySinceIdle) {
      this.#busySinceIdle = false;
      this.#events.emit('idle');
    }
  }
}
