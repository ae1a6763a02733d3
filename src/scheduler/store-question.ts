// The one question a dispatch loop has out to a shared store, and the store's last refusal.
import type { Job } from './job.js';

/**
 * What the dispatch loop remembers of its store's answers. A shared store answers with a promise; the
 * loop asks one question at a time, for the first job, and remembers the last refusal so it does not
 * ask again before that refusal can have ended.
 */
export class StoreQuestion {
  /**
   * The job whose store answer is on its way, holding a worker and its permits until the answer comes.
   * While its state is `acquiring` it holds its place in the queue (it has not started); once it left
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

  /** The job awaiting its store answer, if any. */
  get acquiring(): Job | undefined {
    return this.#acquiring;
  }

  /** A question for `job` was sent: any earlier refusal is superseded by its answer. */
  asked(job: Job): void {
    this.#acquiring = job;
    this.#refusal = undefined;
    this.#wokenWhileAcquiring = false;
  }

  /** The answer came; true when the store woke the loop meanwhile (the answer may be stale). */
  answered(): boolean {
    const woken = this.#wokenWhileAcquiring;
    this.#acquiring = undefined;
    this.#wokenWhileAcquiring = false;
    return woken;
  }

  /** The store refused `job` until `until` (clock time, Infinity: until it wakes the loop). */
  refused(job: Job, until: number): void {
    this.#refusal = { job, until };
  }

  /** How long `job` must still wait by the last refusal: -Infinity when it was not refused. */
  waitFor(job: Job, now: number): number {
    return this.#refusal?.job === job ? this.#refusal.until - now : -Infinity;
  }

  /** The store woke the loop: room may have freed, so the last refusal no longer holds. */
  woken(): void {
    this.#refusal = undefined;
    if (this.#acquiring !== undefined) this.#wokenWhileAcquiring = true;
  }

  /** A limit changed: the last refusal no longer says when the first job may start. */
  forget(): void {
    this.#refusal = undefined;
  }

  /**
   * A refusal no time could end (Infinity: this process's own running or unsettled work held the room)
   * may be over once such work settles or ends: ask again.
   */
  forgetUntimed(): void {
    if (this.#refusal?.until === Infinity) this.#refusal = undefined;
  }
}
