// The fixed worker pool that drains the queue: each worker runs one job at a time, in its caller's context.
import { type ContextHooks, JobContext, type Job } from './job.js';

/**
 * What the pool tells its owner; functions, not methods: a task's context holds the hooks object
 * (`settle` and `amend`, called by the task through its context) on its own.
 */
export interface WorkerHooks extends ContextHooks {
  /** Called right after the task's synchronous part, when it has really started. */
  readonly started: (job: Job) => void;
  /** Called once the task's promise settled; the worker is free again after this. */
  readonly finished: (worker: Worker, job: Job, ok: boolean, value: unknown) => void;
}

/** One worker of the pool: it runs one job at a time, from start to settlement. */
export class Worker {
  readonly id: number;
  /** The job it runs, or null when idle. */
  job: Job | null = null;
  readonly #hooks: WorkerHooks;

  constructor(id: number, hooks: WorkerHooks) {
    this.id = id;
    this.#hooks = hooks;
  }

  /**
   * Runs the job. The task's synchronous part runs before this returns, so a start is recorded after
   * the task has begun (never before, which would let two starts look closer than they were).
   */
  run(job: Job): void {
    this.job = job;
    // The task runs in its caller's async context, whatever let it start (a timer, another task's end,
    // a store's answer): what it does, and what it registers, belongs to the call that queued it.
    if (job.scope === null) this.#start(job);
    else job.scope.runInAsyncScope(this.#start, this, job);
  }

  #start(job: Job): void {
    let pending: unknown;
    try {
      pending = job.task(new JobContext(job, this.#hooks));
    } catch (error) {
      pending = Promise.reject(error);
    }
    // Even a task that threw synchronously has started, and counts.
    this.#hooks.started(job);
    // Settles on a later microtask even for a plain value: finishing inside the dispatch loop that
    // started the task would re-enter it. A plain value waits on a promise resolved once for all
    // (queueMicrotask would cost more: Node makes an AsyncResource and a bound function per call).
    if (isThenable(pending)) {
      Promise.resolve(pending).then(this.#fulfilled, this.#rejected);
    } else {
      this.#value = pending;
      void RESOLVED.then(this.#fulfilledNow);
    }
  }

  /** A task's plain (not a promise) result, until its microtask finishes it. */
  #value: unknown = undefined;
  readonly #fulfilledNow = (): void => {
    const value = this.#value;
    this.#value = undefined;
    this.#finish(true, value);
  };

  // Bound once per worker, not once per task: a worker runs one job at a time.
  readonly #fulfilled = (value: unknown): void => this.#finish(true, value);
  readonly #rejected = (error: unknown): void => this.#finish(false, error);

  #finish(ok: boolean, value: unknown): void {
    const job = this.job as Job;
    this.job = null;
    this.#hooks.finished(this, job, ok, value);
  }
}

/**
 * A fixed pool of workers that drains the queue. The pool size bounds how many tasks run at once by
 * count, as the semaphore bounds it by weight. Workers are created when first needed, so a large pool
 * costs nothing until it is used.
 */
export class WorkerPool {
  #size: number;
  readonly #idle: Worker[] = [];
  readonly #hooks: WorkerHooks;
  #created = 0;
  #busy = 0;

  constructor(size: number, hooks: WorkerHooks) {
    this.#size = size;
    this.#hooks = hooks;
  }

  get size(): number {
    return this.#size;
  }

  get busy(): number {
    return this.#busy;
  }

  get hasIdle(): boolean {
    return this.#busy < this.#size;
  }

  /** An idle worker; call only when `hasIdle`. */
  acquire(): Worker {
    this.#busy++;
    return this.#idle.pop() ?? new Worker(++this.#created, this.#hooks);
  }

  release(worker: Worker): void {
    this.#busy--;
    // After the pool shrank, workers that come back beyond the new size retire.
    if (this.#idle.length + this.#busy < this.#size) this.#idle.push(worker);
  }

  /** Takes effect as workers come back; running jobs are never interrupted. */
  resize(size: number): void {
    this.#size = size;
    if (this.#idle.length + this.#busy > size) this.#idle.length = Math.max(0, size - this.#busy);
  }
}

/** Resolved once, for every plain result to finish on a later microtask. */
const RESOLVED = Promise.resolve();

/**
 * A promise or any object with a `then` method: `Promise.resolve` would adopt it. An object whose
 * `then` can not even be read counts too: `Promise.resolve` then rejects with that error.
 */
function isThenable(value: unknown): boolean {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false;
  try {
    return typeof (value as { then?: unknown }).then === 'function';
  } catch {
    return true;
  }
}
