/** Anything waiting on behalf of a caller's signal: a job, or a retry waiting out its delay. */
interface Watchable {
  readonly signal: AbortSignal | undefined;
}

interface Watched<T> {
  readonly jobs: Set<T>;
  readonly listener: () => void;
}

/**
 * Listens for the caller's `signal` on behalf of jobs. One listener per signal, however many jobs share
 * it: a shutdown signal passed to 10 000 tasks would otherwise add 10 000 listeners (and a
 * MaxListenersExceededWarning). Every listener is removed when its last job is done.
 */
export class AbortWatch<T extends Watchable> {
  readonly #watched = new Map<AbortSignal, Watched<T>>();
  readonly #onAbort: (jobs: readonly T[], reason: unknown) => void;

  /** `onAbort` gets every job of the signal at once, so none of them can start while others are handled. */
  constructor(onAbort: (jobs: readonly T[], reason: unknown) => void) {
    this.#onAbort = onAbort;
  }

  watch(job: T): void {
    const signal = job.signal;
    if (signal === undefined) return;
    let watched = this.#watched.get(signal);
    if (watched === undefined) {
      watched = { jobs: new Set(), listener: () => this.#fire(signal) };
      this.#watched.set(signal, watched);
      signal.addEventListener('abort', watched.listener, { once: true });
    }
    watched.jobs.add(job);
  }

  unwatch(job: T): void {
    const signal = job.signal;
    if (signal === undefined) return;
    const watched = this.#watched.get(signal);
    if (watched === undefined || !watched.jobs.delete(job) || watched.jobs.size > 0) return;
    this.#watched.delete(signal);
    signal.removeEventListener('abort', watched.listener);
  }

  #fire(signal: AbortSignal): void {
    const watched = this.#watched.get(signal);
    if (watched === undefined) return;
    this.#watched.delete(signal);
    this.#onAbort([...watched.jobs], signal.reason);
  }
}
