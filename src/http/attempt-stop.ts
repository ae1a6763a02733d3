// An attempt's view of its job being told to stop, shared by the parts of the attempt that heed it.
import { type InternalTaskContext, kOnStop } from '../core/internal.js';

/** Told once when the attempt's job is told to stop. An object, so a handler can be its own listener. */
export interface StopListener {
  onStop(reason: unknown): void;
}

/**
 * The job's stop (its timeout, the caller's abort, a close without drain) for one attempt: the
 * transport aborts its request with it, a streamed body's watcher errors the stream. It takes the job's
 * single `kOnStop` slot, so an attempt makes no AbortController (with its AbortSignal and listeners,
 * the largest single cost of a request on Node 20) unless a transport can only be stopped by a signal.
 */
export class AttemptStop {
  /** True once the job was told to stop; `reason` then says why. Never reset. */
  stopped = false;
  reason: unknown = undefined;
  /** Told at the stop, then dropped; most attempts have one (the transport's). */
  #listeners: StopListener[] | undefined = undefined;

  constructor(context: InternalTaskContext) {
    context[kOnStop]((reason) => {
      this.stopped = true;
      this.reason = reason;
      const listeners = this.#listeners;
      this.#listeners = undefined;
      if (listeners !== undefined) for (const listener of listeners) listener.onStop(reason);
    });
  }

  /** Tells `listener` when the job stops, or at once if it has. */
  on(listener: StopListener): void {
    if (this.stopped) listener.onStop(this.reason);
    else (this.#listeners ??= []).push(listener);
  }

  off(listener: StopListener): void {
    const listeners = this.#listeners;
    const at = listeners === undefined ? -1 : listeners.indexOf(listener);
    if (at >= 0) listeners?.splice(at, 1);
  }
}
