/**
 * Entry points shared between this package's own modules (the HTTP layer, the undici interceptor,
 * `client.fetch`), keyed by symbols so they are not part of the public surface.
 */
export { kSeq, kSettleSlot, type InternalTaskContext } from '../scheduler/job.js';

/**
 * `client[kScheduleRequest](task, options, seq?)`: like `schedule()`, but the task's window slot stays
 * pending until it calls `context[kSettleSlot]()` (when the response headers arrive) or ends. Options
 * are validated as `schedule()`'s; a bad value rejects. `seq` (from `context[kSeq]` of an earlier
 * attempt) keeps a retry's place among tasks of equal priority.
 */
export const kScheduleRequest = Symbol('rate-limited-client.scheduleRequest');
