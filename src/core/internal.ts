/**
 * Entry points shared between this package's own modules (the HTTP layer, the undici interceptor,
 * `client.fetch`), keyed by symbols so they are not part of the public surface.
 */
import type { TaskContext } from './options.js';

/**
 * The context method that settles a running job's window slot now: the HTTP layer calls it when
 * response headers arrive. A symbol, so it is not part of the public context.
 */
export const kSettleSlot = Symbol('rate-limited-client.settleSlot');
/**
 * The context method that settles a job's real cost, like the public `setCost()` but also after the
 * task has ended: `client.fetch` learns a streamed body's usage after its task returned the response.
 */
export const kAmendCost = Symbol('rate-limited-client.amendCost');
/** The job's submission order, for a retry that must keep its place among equal priorities. */
export const kSeq = Symbol('rate-limited-client.seq');

/**
 * `context[kOnStop](listener)`: calls `listener(reason)` once if the running job is told to stop (its
 * timeout, the caller's signal, a close without drain), without making the AbortController that
 * `context.signal` costs; returns a function that unregisters it. One listener per job: the HTTP layer's
 * transport, which aborts its request with it. Called at once when the job was stopped already.
 */
export const kOnStop = Symbol('rate-limited-client.onStop');

/** The task context as the package's own layers see it. */
export interface InternalTaskContext extends TaskContext {
  [kSettleSlot](): void;
  [kAmendCost](cost: unknown): void;
  readonly [kSeq]: number;
  [kOnStop](listener: (reason: unknown) => void): () => void;
}

/**
 * `client[kScheduleRequest](task, options, seq?)`: like `schedule()`, but the task's window slot stays
 * pending until it calls `context[kSettleSlot]()` (when the response headers arrive) or ends. Options
 * are validated as `schedule()`'s; a bad value rejects. `seq` (from `context[kSeq]` of an earlier
 * attempt) keeps a retry's place among tasks of equal priority.
 */
export const kScheduleRequest = Symbol('rate-limited-client.scheduleRequest');

/**
 * Given to `client[kScheduleRequest](task, options, seq, handle)` by a layer that aborts its own work:
 * the scheduler puts the task's job in it, and `client[kAbortTask](handle, reason)` aborts that task as
 * its signal would (out of the queue if it waits, stopped and rejected if it runs, nothing once it
 * ended). For the interceptor: a `signal` per request costs an AbortController, its listeners and a
 * watch in the scheduler, and almost no request is ever aborted.
 */
export interface TaskHandle {
  [kQueuedTask]: unknown;
}

export const kQueuedTask = Symbol('rate-limited-client.queuedTask');

/** See TaskHandle. */
export const kAbortTask = Symbol('rate-limited-client.abortTask');

/** `client[kMetering]`: the client's meter as its HTTP entry points use it (the interceptor reads it). */
export const kMetering = Symbol('rate-limited-client.metering');
