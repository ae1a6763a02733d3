import type { TaskContext } from '../core/options.js';
import type { Level, QueueEntry } from '../queue/priority-queue.js';
import type { StoreSlot } from '../stores/store.js';

export type Task<T> = (context: TaskContext) => T | PromiseLike<T>;

/**
 * The context method, internal to this package, that settles a running job's window slot now: the
 * HTTP layer calls it when response headers arrive. A symbol, so it is not part of the public context.
 */
export const kSettleSlot = Symbol('rate-limited-client.settleSlot');
/** The job's submission order, for a retry that must keep its place among equal priorities. */
export const kSeq = Symbol('rate-limited-client.seq');

/** The task context as the package's own layers see it. */
export interface InternalTaskContext extends TaskContext {
  [kSettleSlot](): void;
  readonly [kSeq]: number;
}

/**
 * Where a job is. It moves forward (blocked → queued → acquiring → running → done, or straight to
 * done), except that a store that refuses an `acquiring` job sends it back to `queued`, in its place.
 * `acquiring`: first in line, a worker and its permits reserved, waiting for a shared store's answer.
 */
export type JobState = 'blocked' | 'queued' | 'acquiring' | 'running' | 'done';

/** How the caller's promise ended. Decided once; a task that runs on after a timeout can not change it. */
export type JobOutcome = 'completed' | 'failed' | 'aborted' | 'dropped';

// One executor shared by every job, instead of a closure per job: the Promise constructor calls it
// synchronously, so the captured functions are picked up before anything else can run.
const ignore = (): void => {};
let capturedResolve: (value: unknown) => void = ignore;
let capturedReject: (reason: unknown) => void = ignore;
function capture(resolve: (value: unknown) => void, reject: (reason: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/** One unit of work and the caller's promise for its result. It is its own queue node. */
export class Job implements QueueEntry<Job>, StoreSlot {
  readonly task: Task<unknown>;
  readonly priority: number;
  readonly seq: number;
  readonly weight: number;
  readonly signal: AbortSignal | undefined;
  readonly timeoutMs: number;
  /**
   * True: the start counts from when the task's synchronous part has run. False: it stays pending
   * until the task settles it (an HTTP request, at its response headers) or ends.
   */
  readonly settleAtStart: boolean;
  readonly maxWaitMs: number;
  /** Clock time by which it must have started (submission + `maxWaitMs`), or Infinity. */
  readonly deadline: number;
  readonly promise: Promise<unknown>;
  readonly #resolve: (value: unknown) => void;
  readonly #reject: (reason: unknown) => void;

  state: JobState = 'queued';
  /** Its weight is taken in the windows but its start time is not recorded yet. */
  slotPending = false;
  /** The store's own record of this job's grant (see StoreSlot). */
  storeData: unknown = undefined;
  outcome: JobOutcome | null = null;
  attempt = 1;

  queuePrev: Job | null = null;
  queueNext: Job | null = null;
  agePrev: Job | null = null;
  ageNext: Job | null = null;
  queueLevel: Level<Job> | null = null;
  /** Position in the deadline heap, -1 when not there. */
  deadlinePosition = -1;

  /** The running task's timeout timer. */
  timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** Created only when the task reads `context.signal`: most tasks never do, and it is not free. */
  #controller: AbortController | null = null;
  #stopped = false;
  #stopReason: unknown = undefined;

  constructor(
    task: Task<unknown>,
    priority: number,
    seq: number,
    weight: number,
    signal: AbortSignal | undefined,
    timeoutMs: number,
    maxWaitMs: number,
    submittedAt: number,
    settleAtStart: boolean,
  ) {
    this.task = task;
    this.priority = priority;
    this.seq = seq;
    this.weight = weight;
    this.signal = signal;
    this.timeoutMs = timeoutMs;
    this.maxWaitMs = maxWaitMs;
    this.settleAtStart = settleAtStart;
    this.deadline = submittedAt + maxWaitMs;
    this.promise = new Promise(capture);
    this.#resolve = capturedResolve;
    this.#reject = capturedReject;
    // Not kept past this job: they would hold its promise, and so its result, until the next job.
    capturedResolve = capturedReject = ignore;
  }

  /** The signal the running task sees: aborted by the caller's signal or by the timeout. */
  get runSignal(): AbortSignal {
    if (this.#controller === null) {
      this.#controller = new AbortController();
      if (this.#stopped) this.#controller.abort(this.#stopReason);
    }
    return this.#controller.signal;
  }

  /** Tells the running task to stop (through its signal). */
  stop(reason: unknown): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stopReason = reason;
    this.#controller?.abort(reason);
  }

  /** Settles the caller's promise, once; later calls are ignored. */
  fulfil(value: unknown): void {
    if (this.outcome !== null) return;
    this.outcome = 'completed';
    this.#resolve(value);
  }

  fail(reason: unknown, outcome: Exclude<JobOutcome, 'completed'>): void {
    if (this.outcome !== null) return;
    this.outcome = outcome;
    this.#reject(reason);
  }
}

/** What a task receives; a view on its job that exposes only what the task may use. */
export class JobContext implements InternalTaskContext {
  readonly #job: Job;
  readonly #settle: (job: Job) => void;

  constructor(job: Job, settle: (job: Job) => void) {
    this.#job = job;
    this.#settle = settle;
  }

  [kSettleSlot](): void {
    this.#settle(this.#job);
  }

  get [kSeq](): number {
    return this.#job.seq;
  }

  get signal(): AbortSignal {
    return this.#job.runSignal;
  }

  get attempt(): number {
    return this.#job.attempt;
  }
}
