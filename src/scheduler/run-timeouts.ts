// The timeoutMs of running jobs: aborts a task's signal and fails its promise when its time is up.
import { type Clock, timerDelay } from '../core/clock.js';
import { TimeoutError } from '../errors/timeout-error.js';
import type { Job, JobBounds } from './job.js';

/**
 * Running tasks' `timeoutMs` (waiting tasks' `maxWaitMs` is Deadlines'). When it passes, the caller's
 * promise rejects with a TimeoutError at once and the task is told to stop through its context
 * signal; the task still ends on its own, and only that end frees its worker and permits. Each timer
 * is kept in the job's bounds: only a job with a finite `timeoutMs` (so with bounds) has one.
 */
export class RunTimeouts {
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** `job`, with a finite `timeoutMs`, started at `now`. */
  started(job: Job, now: number): void {
    this.#arm(job, now + job.timeoutMs, now);
  }

  /** `job` ended: its timer, if it has one, is not needed any more. */
  ended(job: Job): void {
    const timer = job.bounds?.timer;
    if (timer !== undefined) clearTimeout(timer);
  }

  #arm(job: Job, due: number, now: number): void {
    (job.bounds as JobBounds).timer = setTimeout(this.#timedOut, timerDelay(due - now), job, due);
  }

  readonly #timedOut = (job: Job, due: number): void => {
    (job.bounds as JobBounds).timer = undefined;
    const now = this.#clock.now();
    // A timeout longer than Node's longest timer (~24.8 days) fires early, clamped: wait on.
    if (due - now >= 1) {
      this.#arm(job, due, now);
      return;
    }
    const error = new TimeoutError(`Task timed out after ${job.timeoutMs} ms`, 'run', job.timeoutMs);
    job.stop(error);
    job.fail(error, 'failed');
  };
}
