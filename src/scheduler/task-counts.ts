// The task counters behind stats(): each accepted job counted once, and once more by how it ended.

/** How a job's caller's promise ended. Decided once; a task that runs on after a timeout can not change it. */
export type JobOutcome = 'completed' | 'failed' | 'aborted' | 'dropped';

/**
 * The counters of `stats()`. Every job accepted counts once in `submitted` and, when it ends, once by
 * its outcome, so that `submitted` is what waits and runs plus every outcome. `rejected` counts
 * submissions refused at once (never accepted), `retried` the retries the layers above asked for.
 * Counters only grow.
 */
export class TaskCounts {
  submitted = 0;
  retried = 0;
  rejected = 0;
  completed = 0;
  failed = 0;
  dropped = 0;
  aborted = 0;

  /** A job ended with `outcome`; null (a job the scheduler ended without an outcome) counts nowhere. */
  ended(outcome: JobOutcome | null): void {
    if (outcome === 'completed') this.completed++;
    else if (outcome === 'failed') this.failed++;
    else if (outcome === 'aborted') this.aborted++;
    else if (outcome === 'dropped') this.dropped++;
  }
}
