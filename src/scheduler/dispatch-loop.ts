// The dispatch loop: the one place a task starts. It holds the four parts of the card (the request
// queue, the worker pool, the semaphore and the store's windows) and starts the first task whenever all
// of them have room; the Scheduler around it takes work in and answers the client's calls.
import { type Clock, monotonicClock } from '../core/clock.js';
import { publishTaskStart, type WaitReason } from '../core/diagnostics.js';
import type { Cost } from '../core/cost.js';
import type { Emitter } from '../core/events.js';
import type { NormalizedClientOptions } from '../core/normalize-options.js';
import type { RateWindow } from '../core/options.js';
import type { LimiterStore } from '../core/store.js';
import { describeKey } from '../core/normalize-keys.js';
import { QueueFullError } from '../errors/queue-full-error.js';
import type { StoreError } from '../errors/store-error.js';
import { TimeoutError } from '../errors/timeout-error.js';
import { Semaphore } from '../limit/semaphore.js';
import { RequestQueue } from '../queue/request-queue.js';
import { MemoryStore } from '../stores/memory.js';
import { AbortWatch } from './abort-watch.js';
import { Deadlines } from './deadlines.js';
import type { Job, JobOutcome } from './job.js';
import { RunTimeouts } from './run-timeouts.js';
import { ServerWord } from './server-word.js';
import { TaskCounts } from './task-counts.js';
import { WakeTimer } from './wake-timer.js';
import { StoreQuestion } from './store-question.js';
import type { Tenant } from './tenant.js';
import { Tenants } from './tenants.js';
import { WeightLimits } from './weight-limits.js';
import { type Worker, WorkerPool } from './worker-pool.js';

/** With the real clock, the last milliseconds before a window frees are waited out precisely (see WakeTimer). */
const PRECISE_WAKE_SPIN_MS = 2;
/** How deep a task's synchronous part may call back into the dispatcher before it defers. */
const MAX_NESTED_DISPATCH = 8;

/**
 * The heart of the client. A task starts only when all of these hold: it is first in the priority
 * queue, a worker of the pool is idle, the semaphore has permits for its weight, and the store grants
 * it (every sliding window has room for its weight). `dispatch()` starts tasks while they hold, and
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
 *
 * Its parts are public to the Scheduler, which owns it: the loop decides starts, the Scheduler
 * changes limits and state and then calls `dispatch()`.
 */
export class DispatchLoop {
  /** Every job that has not started, the one awaiting its store answer included (see StoreQuestion). */
  readonly queue: RequestQueue<Job>;
  readonly pool: WorkerPool;
  readonly semaphore: Semaphore;
  /** Where the windows are kept and every start is granted. */
  readonly store: LimiterStore;
  /** Set by the scheduler: windows another process's server tightened, heard through the store. */
  onSharedWindows: ((windows: readonly RateWindow[]) => void) | undefined = undefined;
  /** The server's cooldowns and remaining budgets, per currency. */
  readonly server = new ServerWord();
  /** Counts every job once when accepted and once when it ends (see TaskCounts). */
  readonly counts = new TaskCounts();
  readonly deadlines: Deadlines;
  readonly abortWatch: AbortWatch<Job>;
  /** Wakes the dispatcher when the windows next have room for the first task. */
  readonly wake: WakeTimer;
  readonly clock: Clock;
  /** The keys (tenants) kept, their limits and parks. */
  readonly tenants: Tenants;
  paused = false;

  /** The windows, and whether a weight could ever fit them and the concurrency. */
  readonly limits: WeightLimits;
  /** The question out to the store, if any, and its last refusal. */
  readonly #question = new StoreQuestion();
  readonly #runTimeouts: RunTimeouts;
  readonly #events: Emitter;
  /** Called after every outermost dispatch pass (the Scheduler lets its waiters know). */
  readonly #afterPass: () => void;
  /** Depth of `dispatch` calls on the stack: a task's synchronous part can call back in. */
  #dispatchDepth = 0;
  #dispatchAgain = false;
  /**
   * Why the queue last stood still with work in it (see WaitReason): the reason a task that waited
   * behind others is given when it starts. Undefined once the queue ran empty.
   */
  #lastStall: WaitReason | undefined = undefined;

  constructor(options: NormalizedClientOptions, events: Emitter, afterPass: () => void) {
    this.clock = options.clock;
    this.#events = events;
    this.#afterPass = afterPass;
    const spinMs = options.clock === monotonicClock ? PRECISE_WAKE_SPIN_MS : 0;
    this.wake = new WakeTimer(() => this.dispatch(), spinMs);
    this.queue = new RequestQueue<Job>(options.maxSize, options.overflow, options.fairness);
    this.semaphore = new Semaphore(options.concurrency);
    this.limits = new WeightLimits(options.windows, this.semaphore);
    this.pool = new WorkerPool(options.workers ?? options.concurrency, {
      started: (job) => this.#started(job),
      settle: (job) => this.#settle(job),
      amend: (job, cost) => this.#amend(job, cost),
      finished: (worker, job, ok, value) => this.#finished(worker, job, ok, value),
    });
    this.deadlines = new Deadlines(this.clock, (job) => this.#waitExpired(job));
    this.#runTimeouts = new RunTimeouts(this.clock);
    this.abortWatch = new AbortWatch<Job>((jobs, reason) => this.abortJobs(jobs, reason));
    this.store = options.store ?? new MemoryStore();
    this.tenants = new Tenants({ ...options, spinMs }, this.store, this.queue, () => this.dispatch());
    this.store.open({
      limits: { windows: options.windows, concurrency: options.concurrency },
      clock: this.clock,
      wake: () => {
        this.#question.woken();
        this.tenants.unparkAll();
        this.wake.cancel();
        this.dispatch();
      },
      report: (error: StoreError) => this.#events.emit('error', error),
      waiting: () => this.queue.queued,
      nextPriority: () => this.queue.first?.priority,
      tighten: (windows) => this.onSharedWindows?.(windows),
    });
  }

  get windows(): readonly RateWindow[] {
    return this.limits.windows;
  }

  /** New windows for work not yet started: the store's last refusal was made under the old ones. */
  set windows(windows: readonly RateWindow[]) {
    this.limits.windows = windows;
    this.#question.forget();
  }

  /** The job awaiting its store answer, if any (it still counts as queued). */
  get acquiring(): Job | undefined {
    return this.#question.acquiring;
  }

  /** A limit changed: the store's last refusal no longer says when the first job may start. */
  forgetRefusal(): void {
    this.#question.forget();
  }

  /** Inside a dispatch pass (a task's synchronous part is calling back in). */
  get dispatching(): boolean {
    return this.#dispatchDepth > 0;
  }

  /** Puts an accepted job in line (a drop strategy may push another out, or this one) and dispatches. */
  enqueue(job: Job): void {
    this.abortWatch.watch(job);
    if (job.deadline !== Infinity) this.deadlines.add(job);
    // A full queue with a drop strategy ('reject' was refused before) names one to push out: maybe this job.
    const victim = this.queue.offer(job);
    if (victim !== undefined) this.drop(victim, this.queue.overflow as 'drop-oldest' | 'drop-lowest-priority');
    this.dispatch();
  }

  /**
   * `now`: a clock reading the caller has just taken, with only bookkeeping run since; it saves the
   * first task of the pass a reading (each costs ~50 ns, several per task add up). Later tasks of the
   * pass read the clock again: starting a task runs its code, and time moves.
   */
  dispatch(now?: number): void {
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
        // Set again by a nested call from a task's synchronous part, which the rule can not see.
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
      } while (this.#dispatchAgain);
    } finally {
      this.#dispatchDepth = 0;
    }
    this.#afterPass();
  }

  /** `fresh`: see `dispatch()`. */
  #startWhatCan(fresh?: number): void {
    for (;;) {
      // One store answer at a time, for the first task: nothing overtakes it meanwhile.
      if (this.#question.acquiring !== undefined) return;
      const job = this.queue.first;
      if (job === undefined) {
        this.wake.cancel();
        this.#lastStall = undefined;
        return;
      }
      if (this.paused) {
        this.wake.cancel();
        this.#stalled(job, 'paused');
        return;
      }
      if (!this.pool.hasIdle || this.semaphore.available < job.weight) {
        this.#stalled(job, 'concurrency');
        return;
      }
      const tenant = job.tenant;
      if (tenant !== undefined && !tenant.hasRoomFor(job.weight)) {
        // Its key's own concurrency is full: other keys' work goes on; the key's next end unparks it.
        this.#parkKey(job, tenant, Infinity, 0, 'concurrency');
        continue;
      }
      const now = fresh ?? this.clock.now();
      fresh = undefined;
      if (job.deadline < now) {
        // Its deadline passed and its timer has not fired yet (timers can be late): it must not start.
        this.#expire(job);
        continue;
      }
      const heard = tenant?.server;
      if (heard != null) {
        // What the server said on this key's requests holds this key only.
        const keyBudget = heard.budgetWait(job, now);
        const keyCooling = heard.coolingWait(job, now);
        if (keyBudget > 0 || keyCooling > 0) {
          this.#parkKey(
            job,
            tenant as Tenant<Job>,
            Math.max(keyBudget, keyCooling),
            now,
            keyCooling >= keyBudget ? 'cooldown' : 'server-budget',
          );
          continue;
        }
      }
      // The server's own word (a cooldown, its remaining budget) is checked first: it costs no store call.
      const budgetWait = this.server.budgetWait(job, now);
      const coolingWait = this.server.coolingWait(job, now);
      let wait = Math.max(budgetWait, coolingWait);
      wait = Math.max(wait, this.#question.waitFor(job, now));
      if (wait <= 0) {
        let answer: number | Promise<number>;
        job.key = tenant?.storeKey;
        try {
          answer = this.store.acquire(job, now);
        } catch (error) {
          // A store that throws has failed this task, as a rejected answer would.
          this.discard(job, error, 'failed');
          continue;
        }
        if (typeof answer !== 'number') {
          this.#awaitGrant(job, answer);
          return;
        }
        wait = answer;
        if (wait > 0 && tenant !== undefined && job.refusedByKey === true) {
          this.#parkKey(job, tenant, wait, now, 'window');
          continue;
        }
      }
      if (wait > 0) {
        // Infinity: room the store can not time (starts not yet settled hold it) frees on an event that
        // dispatches again: a settle, a task's end, or the store's wake().
        if (wait !== Infinity) this.wake.arm(wait, now);
        this.#stalled(job, coolingWait >= wait ? 'cooldown' : budgetWait >= wait ? 'server-budget' : 'window');
        return;
      }
      this.queue.take(job);
      this.semaphore.tryAcquire(job.weight);
      if (tenant !== undefined) tenant.held += job.weight;
      this.#run(job, this.pool.acquire(), now);
    }
  }

  /**
   * `job`'s key can not start it for `wait` ms (Infinity: until an event of the key's own) by its own
   * limits: the key steps out of the turns meanwhile, and the other keys' work goes on.
   */
  #parkKey(job: Job, tenant: Tenant<Job>, wait: number, now: number, reason: WaitReason): void {
    job.waitReason = reason;
    this.tenants.park(tenant, wait === Infinity ? Infinity : now + wait, now);
  }

  /** Starts a job the store granted, on a worker and permits already taken for it. */
  #run(job: Job, worker: Worker, now: number): void {
    this.deadlines.delete(job);
    this.server.take(job, now);
    const tenant = job.tenant;
    if (tenant !== undefined) {
      tenant.queued--;
      tenant.server?.take(job, now);
    }
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
    this.queue.holdPlace(job);
    this.#question.asked(job);
    this.semaphore.tryAcquire(job.weight);
    if (job.tenant !== undefined) job.tenant.held += job.weight;
    const worker = this.pool.acquire();
    answer.then(
      (wait) => this.#answered(job, worker, wait, false, undefined),
      (error: unknown) => this.#answered(job, worker, Infinity, true, error),
    );
  }

  /** `wait` is the store's answer (0: granted), unless `failed`: the store failed the task with `error`. */
  #answered(job: Job, worker: Worker, wait: number, failed: boolean, error: unknown): void {
    // Taken first: a call below (the store's `release()`) may wake the scheduler, which then asks for
    // the next job at once; a wake that comes while that new answer is out must stay flagged for it.
    const woken = this.#question.answered();
    // Its place is free from now; a refused job takes it back below (`requeue`), else it is filled.
    this.queue.releasePlace();
    const now = this.clock.now();
    const granted = !failed && wait === 0;
    if (granted && job.state === 'acquiring' && job.deadline >= now) {
      this.queue.startAway(job);
      this.queue.admitBlocked();
      this.#run(job, worker, now);
      this.dispatch();
      return;
    }
    this.semaphore.release(job.weight);
    this.pool.release(worker);
    const tenant = job.tenant;
    if (tenant !== undefined) tenant.held -= job.weight;
    // A grant nobody can use (the job left meanwhile: aborted, or closed without draining) is given back.
    if (granted) this.store.release(job, now);
    if (job.state === 'acquiring') {
      if (failed) {
        this.discard(job, error, 'failed');
      } else if (granted) {
        // Granted after its deadline (a late answer): too late to start.
        this.#expire(job);
      } else {
        this.queue.requeue(job);
        const tooHeavy = this.problem(job.weight, job.cost, job.tenant);
        if (tooHeavy !== undefined) {
          this.discard(job, tooHeavy, 'failed');
        } else if (tenant !== undefined && job.refusedByKey === true) {
          // Its key's own windows are full: the other keys' work goes on meanwhile.
          this.#parkKey(job, tenant, wait, now, 'window');
        } else if (!woken) {
          // Not asked again before the wait is over (or the store wakes the scheduler).
          this.#question.refused(job, now + wait);
          if (wait !== Infinity) this.wake.arm(wait, now);
        }
      }
    }
    this.queue.admitBlocked();
    this.dispatch();
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
    this.#question.forgetUntimed();
    if (job.tenant !== undefined) this.tenants.unpark(job.tenant);
    this.dispatch();
  }

  /**
   * The job's real cost (as given: checked here) replaces its estimate, in every window; a currency it
   * does not name keeps its estimate. Room given back may let waiting work start.
   */
  #amend(job: Job, input: unknown): void {
    const { weight, cost } = this.limits.normalize(undefined, input);
    if (weight !== job.weight && (input as Record<string, unknown>).requests !== undefined) {
      throw new RangeError(
        `Expected \`cost.requests\` to be the task's weight ${job.weight}, got \`${weight}\` (number): requests can not be settled`,
      );
    }
    if (cost === null) return;
    const settled = { ...job.cost, ...cost };
    this.store.amend(job, settled, this.clock.now());
    job.cost = settled;
    if (job.taskMessage !== undefined) job.taskMessage.cost = settled;
    this.#question.forgetUntimed();
    if (job.tenant !== undefined) this.tenants.unpark(job.tenant);
    this.dispatch();
  }

  /** Records the job's start now; false when it was already recorded. */
  #settleSlot(job: Job, now?: number): boolean {
    if (!job.slotPending) return false;
    job.slotPending = false;
    this.store.settle(job, now ?? this.clock.now());
    return true;
  }

  #finished(worker: Worker, job: Job, ok: boolean, value: unknown): void {
    // One reading serves the release and the next start: between them only bookkeeping runs, and a
    // reading a little old is safe for the windows (by it, less has expired).
    const now = this.clock.now();
    // A task that ends without settling (a request that failed before any response) counts from now,
    // the latest moment the server could have seen it.
    this.#settleSlot(job, now);
    this.store.release(job, now);
    this.#runTimeouts.ended(job);
    this.abortWatch.unwatch(job);
    this.semaphore.release(job.weight);
    this.pool.release(worker);
    job.state = 'done';
    if (ok) job.fulfil(value);
    else job.fail(value, 'failed');
    this.counts.ended(job.outcome);
    const tenant = job.tenant;
    if (tenant !== undefined) {
      tenant.held -= job.weight;
      tenant.ended(job.outcome);
      // Its concurrency, or room its unsettled start held, may be free.
      this.tenants.unpark(tenant);
      if (tenant.quiet) this.tenants.quiet(tenant, now);
    }
    this.#question.forgetUntimed();
    this.dispatch(now);
  }

  /** Every job of one signal (or a TaskHandle's one) leaves before anything else starts: none of them may start on the way. */
  abortJobs(jobs: readonly Job[], reason: unknown): void {
    for (const job of jobs) {
      if (job.state === 'running') {
        job.stop(reason);
        job.fail(reason, 'aborted');
      } else if (job.state !== 'done') {
        this.discard(job, reason, 'aborted');
      }
    }
    this.dispatch();
  }

  #waitExpired(job: Job): void {
    // A task whose room comes exactly at its deadline may still start (as submit() allows a wait equal
    // to maxWaitMs): the wake timer for that same moment may not have fired yet. A deadline timer that
    // fired late must not let it start later than allowed, though.
    if (this.clock.now() <= job.deadline) this.dispatch();
    if (job.state !== 'queued' && job.state !== 'blocked' && job.state !== 'acquiring') return;
    this.#expire(job);
    this.dispatch();
  }

  #expire(job: Job): void {
    const error = new TimeoutError(`Task did not start within maxWaitMs ${job.maxWaitMs}`, 'queue', job.maxWaitMs);
    this.discard(job, error, 'failed');
  }

  /** Pushes `job` out of a full queue: the client's, or with `tenant` that key's own. */
  drop(job: Job, reason: 'drop-oldest' | 'drop-lowest-priority', tenant?: Tenant<Job>): void {
    const error =
      tenant === undefined ? new QueueFullError(this.queue.maxSize, reason) : new QueueFullError(tenant.limits.maxSize, reason, tenant.key);
    this.discard(job, error, 'dropped');
    this.#events.emit('drop', { reason, priority: job.priority, weight: job.weight, error });
  }

  /** Takes a job that has not started out of the scheduler and rejects its caller. */
  discard(job: Job, reason: unknown, outcome: Exclude<JobOutcome, 'completed'>): void {
    this.queue.remove(job);
    this.deadlines.delete(job);
    this.abortWatch.unwatch(job);
    job.state = 'done';
    job.fail(reason, outcome);
    this.counts.ended(outcome);
    const tenant = job.tenant;
    if (tenant !== undefined) {
      tenant.queued--;
      tenant.ended(outcome);
      if (tenant.quiet) this.tenants.quiet(tenant, this.clock.now());
    }
  }

  /** After limits were lowered, a waiting task that no longer fits could never start: fail it now. */
  failTooHeavy(): void {
    // The blocked first: failing a task in line lets a blocked one in, and that one must be checked too.
    this.#failTooHeavyOf(this.queue.blockedItems());
    this.#failTooHeavyOf(this.queue.queuedItems());
  }

  #failTooHeavyOf(jobs: Iterable<Job>): void {
    const doomed = [...jobs].filter((job) => this.problem(job.weight, job.cost, job.tenant) !== undefined);
    for (const job of doomed) this.discard(job, this.problem(job.weight, job.cost, job.tenant), 'failed');
  }

  /** A RangeError when `job` could never start under the client's limits or its key's. */
  problem(weight: number, cost: Cost | null, tenant: Tenant<Job> | undefined): RangeError | undefined {
    const problem = this.limits.problem(weight, cost);
    if (problem !== undefined || tenant === undefined) return problem;
    const keyProblem = tenant.fits?.problem(weight, cost);
    return keyProblem === undefined ? undefined : keyError(tenant, keyProblem);
  }
}

/** A key's limit error, naming the key. */
function keyError(tenant: Tenant<Job>, problem: RangeError): RangeError {
  return new RangeError(`Key ${describeKey(tenant.key)}: ${problem.message}`);
}
