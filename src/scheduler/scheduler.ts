import { type Clock, monotonicClock } from '../core/clock.js';
import { publishTaskEnqueue, publishTaskStart, type WaitReason } from '../core/diagnostics.js';
import type { Emitter } from '../core/events.js';
import type { NormalizedClientOptions, NormalizedScheduleOptions } from '../core/normalize-options.js';
import type { ClientStats, RateWindow } from '../core/options.js';
import { ClientClosedError } from '../errors/client-closed-error.js';
import { QueueFullError } from '../errors/queue-full-error.js';
import { TimeoutError } from '../errors/timeout-error.js';
import type { StoreError } from '../errors/store-error.js';
import { Semaphore } from '../limit/semaphore.js';
import { ServerBudget } from '../limit/server-budget.js';
import { smallestLimit } from '../limit/sliding-window.js';
import { RequestQueue } from '../queue/request-queue.js';
import { MemoryStore } from '../stores/memory.js';
import type { LimiterStore } from '../core/store.js';
import { AbortWatch } from './abort-watch.js';
import { Deadlines } from './deadlines.js';
import { IdleWaiters } from './idle-waiters.js';
import { Job, JobBounds, type JobOutcome, type Task } from './job.js';
import { RetryWaits } from './retry-waits.js';
import { RunTimeouts } from './run-timeouts.js';
import { SizeWaiters } from './size-waiters.js';
import { TaskCounts } from './task-counts.js';
import { WakeTimer } from './wake-timer.js';
import { type Worker, WorkerPool } from './worker-pool.js';

/** With the real clock, the last milliseconds before a window frees are waited out precisely (see WakeTimer). */
const PRECISE_WAKE_SPIN_MS = 2;
/** How deep a task's synchronous part may call back into the dispatcher before it defers. */
const MAX_NESTED_DISPATCH = 8;

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
  /** Every job that has not started, the one awaiting its store answer included (see `#acquiring`). */
  readonly #queue: RequestQueue<Job>;
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
   * While its state is `acquiring` it holds its place in `#queue` (it has not started); once it left
   * (aborted, expired, discarded) it holds none, but the worker stays held until the answer comes.
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
  readonly #runTimeouts: RunTimeouts;
  readonly #abortWatch: AbortWatch<Job>;
  readonly #clock: Clock;
  readonly #events: Emitter;
  /** The client's `name` option, for `stats()`. */
  readonly #name: string | undefined;
  /** The pool follows `setConcurrency()` unless its size was given. */
  readonly #poolFollowsConcurrency: boolean;

  #seq = 0;
  #paused = false;
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
  /** Depth of `#dispatch` calls on the stack: a task's synchronous part can call back in. */
  #dispatchDepth = 0;
  #dispatchAgain = false;
  /** Wakes the dispatcher when the windows next have room for the first task. */
  readonly #wake: WakeTimer;

  /**
   * Why the queue last stood still with work in it (see WaitReason): the reason a task that waited
   * behind others is given when it starts. Undefined once the queue ran empty.
   */
  #lastStall: WaitReason | undefined = undefined;

  /** Clock time until which nothing starts: the server asked every request to wait. */
  #cooldownUntil = -Infinity;
  /** Counts every job once when accepted and once when it ends (see TaskCounts). */
  readonly #counts = new TaskCounts();
  /** Told after every dispatch pass that leaves nothing waiting. */
  readonly #idleWaiters = new IdleWaiters(() => this.#events.emit('idle'));
  readonly #sizeWaiters = new SizeWaiters(() => this.#queue.waiting);

  constructor(options: NormalizedClientOptions, events: Emitter) {
    this.#clock = options.clock;
    this.#name = options.name;
    this.#wake = new WakeTimer(() => this.#dispatch(), options.clock === monotonicClock ? PRECISE_WAKE_SPIN_MS : 0);
    this.#events = events;
    this.#queue = new RequestQueue<Job>(options.maxSize, options.overflow);
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
    this.#runTimeouts = new RunTimeouts(this.#clock);
    this.#abortWatch = new AbortWatch<Job>((jobs, reason) => this.#abortJobs(jobs, reason));
    this.#retryWaits = new RetryWaits(this.#clock, () => this.#dispatch());
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
    if (this.#queue.isFull && this.#queue.overflow === 'reject') {
      return this.#refuse(new QueueFullError(this.#queue.maxSize, 'reject'));
    }

    const bounds =
      signal === undefined && timeoutMs === Infinity && maxWaitMs === Infinity
        ? null
        : new JobBounds(signal, timeoutMs, maxWaitMs, deadline);
    const job = new Job(task as Task<unknown>, priority, seq ?? this.#seq++, weight, settleAtStart, bounds);
    // Before it is queued: a drop strategy may push it straight out, and its end must follow this.
    if (this.#events.owner !== undefined) publishTaskEnqueue(job, this.#events.owner, priority, weight);
    this.#counts.submitted++;
    this.#idleWaiters.busy();
    // A producer let in by onSizeLessThan() has brought its task (a retry, with its seq, is not one).
    if (seq === undefined) this.#sizeWaiters.arrived();
    this.#abortWatch.watch(job);
    if (job.deadline !== Infinity) this.#deadlines.add(job);
    // A full queue with a drop strategy ('reject' was refused above) names one to push out: maybe this job.
    const victim = this.#queue.offer(job);
    if (victim !== undefined) this.#drop(victim, this.#queue.overflow as 'drop-oldest' | 'drop-lowest-priority');
    this.#dispatch();
    // Still waiting as the caller's call returns: whatever starts it later (a timer, another task's
    // end, a store's answer) runs it in this call's async context, taken here while it is current.
    if (job.state !== 'running' && job.state !== 'done') job.keepCallerContext();
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
    this.#counts.retried++;
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
    return this.#idleWaiters.whenIdle(this.#queue.waiting === 0 && !this.#working());
  }

  onEmpty(): Promise<void> {
    return this.#idleWaiters.whenEmpty(this.#queue.waiting === 0);
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
      for (const job of this.#queue.clear()) this.#discard(job, error, 'failed');
      this.#retryWaits.rejectAll(error);
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
      name: this.#name,
      queued: this.#queue.queued,
      blocked: this.#queue.blocked,
      // A worker held for a job awaiting its grant is not in flight: that job counts as queued.
      inFlight: this.#pool.busy - (this.#acquiring === undefined ? 0 : 1),
      submitted: this.#counts.submitted,
      completed: this.#counts.completed,
      failed: this.#counts.failed,
      retried: this.#counts.retried,
      dropped: this.#counts.dropped,
      aborted: this.#counts.aborted,
      rejected: this.#counts.rejected,
      windows: this.#store.usage(this.#clock.now()),
      queueUtilization: this.#queue.maxSize === Infinity ? 0 : this.#queue.queued / this.#queue.maxSize,
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
      const job = this.#queue.first;
      if (job === undefined) {
        this.#wake.cancel();
        this.#lastStall = undefined;
        return;
      }
      if (this.#paused) {
        this.#wake.cancel();
        this.#stalled(job, 'paused');
        return;
      }
      if (!this.#pool.hasIdle || this.#semaphore.available < job.weight) {
        this.#stalled(job, 'concurrency');
        return;
      }
      const now = fresh ?? this.#clock.now();
      fresh = undefined;
      if (job.deadline < now) {
        // Its deadline passed and its timer has not fired yet (timers can be late): it must not start.
        this.#expire(job);
        continue;
      }
      // The server's own word (a cooldown, its remaining budget) is checked first: it costs no store call.
      const budgetWait = this.#budget.wait(job.weight, now);
      const coolingWait = this.#cooldownUntil - now;
      let wait = Math.max(budgetWait, coolingWait);
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
        this.#stalled(job, coolingWait >= wait ? 'cooldown' : budgetWait >= wait ? 'server-budget' : 'window');
        return;
      }
      this.#queue.take(job);
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
    if (job.timeoutMs !== Infinity) this.#runTimeouts.started(job, now);
    // A job that started within the call that queued it did not wait (it has no scope of its own).
    publishTaskStart(job, job.waitReason ?? (job.scope === null ? undefined : this.#lastStall));
    worker.run(job);
  }

  /**
   * The first job waits for the store's answer out of the queue, holding a worker and its permits so
   * the answer can be used at once. It still counts as queued, for `maxSize` too.
   */
  #awaitGrant(job: Job, answer: Promise<number>): void {
    this.#stalled(job, 'store');
    this.#queue.holdPlace(job);
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
    // Taken first: a call below (the store's `release()`) may wake the scheduler, which then asks for
    // the next job at once; a wake that comes while that new answer is out must stay flagged for it.
    const woken = this.#wokenWhileAcquiring;
    this.#wokenWhileAcquiring = false;
    // Its place is free from now; a refused job takes it back below (`requeue`), else it is filled.
    this.#queue.releasePlace();
    const now = this.#clock.now();
    const granted = !failed && wait === 0;
    if (granted && job.state === 'acquiring' && job.deadline >= now) {
      this.#queue.admitBlocked();
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
        this.#queue.requeue(job);
        const tooHeavy = this.#weightProblem(job.weight);
        if (tooHeavy !== undefined) {
          this.#discard(job, tooHeavy, 'failed');
        } else if (!woken) {
          // Not asked again before the wait is over (or the store wakes the scheduler).
          this.#refusal = { job, until: now + wait };
          if (wait !== Infinity) this.#wake.arm(wait, now);
        }
      }
    }
    this.#queue.admitBlocked();
    this.#dispatch();
  }

  /** The first job can not start yet, for `reason`. */
  #stalled(job: Job, reason: WaitReason): void {
    job.waitReason = reason;
    this.#lastStall = reason;
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
    this.#runTimeouts.ended(job);
    this.#abortWatch.unwatch(job);
    this.#semaphore.release(job.weight);
    this.#pool.release(worker);
    job.state = 'done';
    if (ok) job.fulfil(value);
    else job.fail(value, 'failed');
    this.#counts.ended(job.outcome);
    this.#forgetUntimedRefusal();
    this.#dispatch(now);
  }

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
    const error = new QueueFullError(this.#queue.maxSize, reason);
    this.#discard(job, error, 'dropped');
    this.#events.emit('drop', { reason, priority: job.priority, weight: job.weight, error });
  }

  /** Takes a job that has not started out of the scheduler and rejects its caller. */
  #discard(job: Job, reason: unknown, outcome: Exclude<JobOutcome, 'completed'>): void {
    this.#queue.remove(job);
    this.#deadlines.delete(job);
    this.#abortWatch.unwatch(job);
    job.state = 'done';
    job.fail(reason, outcome);
    this.#counts.ended(outcome);
  }

  /** After limits were lowered, a waiting task that no longer fits could never start: fail it now. */
  #failTooHeavy(): void {
    // The blocked first: failing a task in line lets a blocked one in, and that one must be checked too.
    this.#failTooHeavyOf(this.#queue.blockedItems());
    this.#failTooHeavyOf(this.#queue.queuedItems());
  }

  #failTooHeavyOf(jobs: Iterable<Job>): void {
    const doomed = [...jobs].filter((job) => this.#weightProblem(job.weight) !== undefined);
    for (const job of doomed) this.#discard(job, this.#weightProblem(job.weight), 'failed');
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
    this.#counts.rejected++;
    return Promise.reject(reason);
  }

  /** Work started or owed that is not in the queue: the client is not idle while there is some. */
  #working(): boolean {
    return this.#pool.busy > 0 || this.#retryWaits.size > 0 || this.#holds > 0;
  }

  #notifyWaiters(): void {
    const waiting = this.#queue.waiting;
    if (this.#sizeWaiters.size > 0) this.#sizeWaiters.letIn(waiting);
    if (waiting === 0) this.#idleWaiters.emptied(this.#working());
  }
}
