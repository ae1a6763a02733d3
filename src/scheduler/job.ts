// A job: one task, its caller's promise, its bounds and its caller's async context; and the context a task sees.
import { AsyncResource } from 'node:async_hooks';
import { publishTaskEnd, type Reported, type TaskMessage, type WaitReason } from '../core/diagnostics.js';
import type { Cost } from '../core/cost.js';
import { type InternalTaskContext, kAmendCost, kOnStop, kSeq, kSettleSlot } from '../core/internal.js';
import type { TaskContext } from '../core/options.js';
import { type FairEntry, MAX_QUEUE_ID } from '../queue/fair-queue.js';
import type { StoreSlot } from '../core/store.js';
import type { JobOutcome } from './task-counts.js';
import type { Tenant } from './tenant.js';

export type Task<T> = (context: TaskContext) => T | PromiseLike<T>;

/**
 * Where a job is. It moves forward (blocked → queued → acquiring → running → done, or straight to
 * done), except that a store that refuses an `acquiring` job sends it back to `queued`, in its place,
 * and that with `overflow: 'block'` a better job arriving at a full queue sends the queue's worst job
 * (which may be that refused one) to `blocked`.
 * `acquiring`: first in line, a worker and its permits reserved, waiting for a shared store's answer.
 */
export type JobState = 'blocked' | 'queued' | 'acquiring' | 'running' | 'done';

export type { JobOutcome } from './task-counts.js';

// One executor shared by every job, instead of a closure per job: the Promise constructor calls it
// synchronously, so the captured function is picked up (by the job made next) before anything else can run.
const ignore = (): void => {};
let captured: (value: unknown) => void = ignore;
function capture(resolve: (value: unknown) => void): void {
  captured = resolve;
}

/**
 * The caller's promise for a job made next (`new Job()` takes its resolving function). Only the resolving
 * function is kept, not the rejecting one: a queued job would hold both (56 bytes each, with 1M tasks
 * queued), and resolving with a rejected promise rejects it as well (see Job#fail).
 */
export function jobPromise(): Promise<unknown> {
  return new Promise(capture);
}

/**
 * What a job carries only when its caller bounded it (a signal, a run timeout, a `maxWaitMs`). Apart
 * from Job because most jobs have none, and every field of a queued job costs for as long as it waits:
 * the garbage collector copies it on its way to the old generation, and with many tasks queued that
 * copying is about half the cost of a no-op task (measured: 6 more fields made 200k tasks ~7% slower).
 */
export class JobBounds {
  readonly signal: AbortSignal | undefined;
  readonly timeoutMs: number;
  readonly maxWaitMs: number;
  /** Clock time by which the job must have started (submission + `maxWaitMs`), or Infinity. */
  readonly deadline: number;
  /** Position in the deadline heap, -1 when not there. */
  deadlinePosition = -1;
  /** Clock time its running task times out (see RunTimeouts), and its place in their heap (-1: not there). */
  timeoutDue = Infinity;
  timeoutPosition = -1;

  constructor(signal: AbortSignal | undefined, timeoutMs: number, maxWaitMs: number, deadline: number) {
    this.signal = signal;
    this.timeoutMs = timeoutMs;
    this.maxWaitMs = maxWaitMs;
    this.deadline = deadline;
  }
}

/** One unit of work and the caller's promise for its result. It is its own queue node. */
export class Job implements FairEntry<Job>, StoreSlot, Reported {
  readonly task: Task<unknown>;
  readonly priority: number;
  readonly seq: number;
  readonly weight: number;
  /**
   * Its cost in the currencies besides requests, or null (see StoreSlot). Replaced once by the real
   * cost when the task or its meter settles it.
   */
  cost: Cost | null;
  /** Null for a job without a signal, a timeout or a `maxWaitMs`. */
  readonly bounds: JobBounds | null;
  /** Resolves the caller's promise (made by jobPromise() just before the job). */
  readonly #settle: (value: unknown) => void;

  state: JobState = 'queued';
  /**
   * settleAtStart, slotPending, refusedByKey and queuedIn, as bits of one number (see their accessors): every
   * field of a queued job costs 8 bytes for as long as it waits.
   */
  #flags: number;
  /** The store's own record of this job's grant (see StoreSlot). */
  storeData: unknown = undefined;
  outcome: JobOutcome | null = null;
  /**
   * The async context of the call that queued it (AsyncLocalStorage stores, the active span), taken
   * when that call returns with the job still waiting; null when it started within that call, which
   * already ran it in the caller's context (so a job that starts at once costs nothing here).
   */
  scope: AsyncResource | null = null;
  /** Why it waited, as the scheduler last saw it while the job was waiting (see WaitReason). */
  waitReason: WaitReason | undefined = undefined;
  /** Its diagnostics message from enqueue to end, while a task channel has a subscriber (see Reported). */
  taskMessage: TaskMessage | undefined = undefined;

  lanePrev: Job | null = null;
  laneNext: Job | null = null;
  /** The key it runs for (its `key` option), or undefined. */
  readonly tenant: Tenant<Job> | undefined;
  /**
   * Its key as the store sees it (StoreSlot.key), taken when it asks the store: the same for its
   * settle, amend and release, whatever its key's limits become meanwhile. Undefined for a key with no
   * windows of its own: the store has nothing of it to count.
   */
  key: string | undefined = undefined;

  /**
   * Null for a job nobody watches for its stop; the one listener told when it is stopped (see kOnStop);
   * or, once the task read `context.signal` or the job was stopped, a JobStop with its signal's
   * controller and why it stopped. Most jobs are never stopped nor read their signal, and an
   * AbortController is not free.
   */
  #stop: ((reason: unknown) => void) | JobStop | null = null;

  constructor(
    task: Task<unknown>,
    priority: number,
    seq: number,
    weight: number,
    cost: Cost | null,
    settleAtStart: boolean,
    bounds: JobBounds | null,
    tenant?: Tenant<Job>,
  ) {
    this.task = task;
    this.tenant = tenant;
    this.priority = priority;
    this.seq = seq;
    this.weight = weight;
    this.cost = cost;
    this.#flags = settleAtStart ? SETTLE_AT_START : 0;
    this.bounds = bounds;
    this.#settle = captured;
    // Not kept past this job: it would hold its promise, and so its result, until the next job.
    captured = ignore;
  }

  get signal(): AbortSignal | undefined {
    return this.bounds === null ? undefined : this.bounds.signal;
  }

  /**
   * True: the start counts from when the task's synchronous part has run. False: it stays pending
   * until the task settles it (an HTTP request, at its response headers) or ends.
   */
  get settleAtStart(): boolean {
    return (this.#flags & SETTLE_AT_START) !== 0;
  }

  /** Its weight is taken in the windows but its start time is not recorded yet. */
  get slotPending(): boolean {
    return (this.#flags & SLOT_PENDING) !== 0;
  }

  set slotPending(pending: boolean) {
    this.#flags = pending ? this.#flags | SLOT_PENDING : this.#flags & ~SLOT_PENDING;
  }

  /** See FairEntry. */
  get queuedIn(): number {
    return this.#flags >>> QUEUE_SHIFT;
  }

  set queuedIn(id: number) {
    this.#flags = (this.#flags & ~(MAX_QUEUE_ID << QUEUE_SHIFT)) | (id << QUEUE_SHIFT);
  }

  /** Set by the store with a refusal: its key's own windows were full (see StoreSlot). */
  get refusedByKey(): boolean | undefined {
    return (this.#flags & REFUSAL_TOLD) === 0 ? undefined : (this.#flags & REFUSED_BY_KEY) !== 0;
  }

  set refusedByKey(byKey: boolean | undefined) {
    const others = this.#flags & ~(REFUSAL_TOLD | REFUSED_BY_KEY);
    this.#flags = byKey === undefined ? others : others | REFUSAL_TOLD | (byKey ? REFUSED_BY_KEY : 0);
  }

  /**
   * Takes the async context of the running call as the one the task will run in. Called by the
   * scheduler at the end of the caller's own `submit()` call, while that call's context is current.
   */
  keepCallerContext(): void {
    this.scope = new AsyncResource('rate-limited-client.task');
  }

  get timeoutMs(): number {
    return this.bounds === null ? Infinity : this.bounds.timeoutMs;
  }

  get maxWaitMs(): number {
    return this.bounds === null ? Infinity : this.bounds.maxWaitMs;
  }

  /** Clock time by which it must have started, or Infinity. */
  get deadline(): number {
    return this.bounds === null ? Infinity : this.bounds.deadline;
  }

  /** The signal the running task sees: aborted by the caller's signal or by the timeout. */
  get runSignal(): AbortSignal {
    const stop = this.stopRecord();
    if (stop.controller === null) {
      stop.controller = new AbortController();
      if (stop.stopped) stop.controller.abort(stop.reason);
    }
    return stop.controller.signal;
  }

  /** Tells the running task to stop (through its signal, and its kOnStop listener). The first reason stays. */
  stop(reason: unknown): void {
    const stop = this.stopRecord();
    if (stop.stopped) return;
    stop.stopped = true;
    stop.reason = reason;
    stop.controller?.abort(reason);
    stop.listener?.(reason);
  }

  /** See kOnStop. */
  onStop(listener: (reason: unknown) => void): () => void {
    const stop = this.#stop;
    if (stop instanceof JobStop) {
      if (stop.stopped) {
        listener(stop.reason);
        return ignore;
      }
      stop.listener = listener;
    } else {
      this.#stop = listener;
    }
    return () => {
      const now = this.#stop;
      if (now === listener) this.#stop = null;
      else if (now instanceof JobStop && now.listener === listener) now.listener = null;
    };
  }

  /**
   * Its JobStop, made now if need be. Not a #private method: those cost every instance a field (the
   * class's brand), and a queued job pays 8 bytes for each field.
   */
  private stopRecord(): JobStop {
    const stop = this.#stop;
    if (stop instanceof JobStop) return stop;
    const made = new JobStop(stop);
    this.#stop = made;
    return made;
  }

  /** Settles the caller's promise, once; later calls are ignored. */
  fulfil(value: unknown): void {
    if (this.outcome !== null) return;
    this.outcome = 'completed';
    this.#settle(value);
    publishTaskEnd(this, 'completed', undefined);
  }

  fail(reason: unknown, outcome: Exclude<JobOutcome, 'completed'>): void {
    if (this.outcome !== null) return;
    this.outcome = outcome;
    // Resolving with a rejected promise rejects the caller's, two microtask turns later than reject()
    // would (see jobPromise). The rejected promise gets its handler in the first of them, before Node
    // looks for unhandled rejections.
    this.#settle(Promise.reject(reason));
    publishTaskEnd(this, outcome, reason, this.waitReason);
  }
}

/** A job's stop, once its signal was read or it was stopped (see Job#stop). */
class JobStop {
  controller: AbortController | null = null;
  listener: ((reason: unknown) => void) | null;
  stopped = false;
  /** Why it stopped; the first reason stays. */
  reason: unknown = undefined;

  constructor(listener: ((reason: unknown) => void) | null) {
    this.listener = listener;
  }
}

// The bits of Job#flags.
const SETTLE_AT_START = 1;
const SLOT_PENDING = 2;
/** The store said whether its key's windows refused it (REFUSED_BY_KEY holds the answer). */
const REFUSAL_TOLD = 4;
const REFUSED_BY_KEY = 8;
/** The bits above hold `queuedIn` (at most MAX_QUEUE_ID). */
const QUEUE_SHIFT = 4;

/** What a task's context asks of the scheduler. */
export interface ContextHooks {
  /** Records the job's start now (an HTTP request's response headers arrived). */
  readonly settle: (job: Job) => void;
  /** Checks `cost` (as given) and replaces the job's cost with it; throws on a bad value, counting nothing. */
  readonly amend: (job: Job, cost: unknown) => void;
}

/** What a task receives; a view on its job that exposes only what the task may use. */
export class JobContext implements InternalTaskContext {
  readonly #job: Job;
  readonly #hooks: ContextHooks;
  /** Its cost was settled: once per task. */
  #costSettled = false;

  constructor(job: Job, hooks: ContextHooks) {
    this.#job = job;
    this.#hooks = hooks;
  }

  [kSettleSlot](): void {
    this.#hooks.settle(this.#job);
  }

  /** A getter, so that `async ({ setCost }) => …` works too: the function is made only when read. */
  get setCost(): (cost: Cost) => void {
    return (cost) => {
      if (this.#job.state === 'done') {
        throw new Error('`context.setCost()` was called after the task ended: settle the cost before the task returns');
      }
      this[kAmendCost](cost);
    };
  }

  /** `setCost()` for the package's HTTP layers, which may learn the real cost after the task ended (a streamed body). */
  [kAmendCost](cost: unknown): void {
    if (this.#costSettled) throw new Error('`context.setCost()` was called twice for one task: a cost is settled once');
    this.#hooks.amend(this.#job, cost);
    this.#costSettled = true;
  }

  get [kSeq](): number {
    return this.#job.seq;
  }

  get signal(): AbortSignal {
    return this.#job.runSignal;
  }

  [kOnStop](listener: (reason: unknown) => void): () => void {
    return this.#job.onStop(listener);
  }

  /** A job runs once: a retry (the HTTP layer's) is a job of its own. */
  // A getter on the prototype, not a field: a field would cost every task's context a slot.
  // eslint-disable-next-line @typescript-eslint/class-literal-property-style
  get attempt(): number {
    return 1;
  }
}
