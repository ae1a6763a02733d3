// A fetch that a job's stop ends without an AbortSignal: for the 'fetch' transport and client.fetch.
import type { Dispatcher } from 'undici';
import type { StopListener } from './attempt-stop.js';

/** fetch's handler as it reaches a dispatcher: undici's older callback API (Node 20's undici 6 and undici 7 alike). */
interface LegacyHandler {
  onConnect?: (abort: (reason: Error) => void, context?: unknown) => void;
}

/**
 * One fetch, stopped without an AbortSignal: a signal given to fetch costs a linked signal, a WeakRef,
 * a finalizer and listeners per request (raw fetch with one does ~0.86x raw fetch without, loopback, 32
 * in flight), so fetch gets none. It gets a dispatcher of this fetch's own instead, which passes the
 * request on to the real one and keeps the abort function undici hands fetch's handler: a stop or a
 * `drop()` aborts the request there, which destroys the connection and fails a read of the body, as a
 * signal would. A stop before the response rejects at once (fetch may still wait for a socket), and a
 * response that comes after it is dropped. A patched fetch (msw) that never dispatches is stopped as
 * far as it can be: the caller is answered at once, and a late body is cancelled.
 */
export class StoppableFetch implements StopListener {
  /** Set once stopped: a response that comes later is dropped. */
  stopped = false;
  readonly #dispatcher: Dispatcher;
  /** The fetch's promise, until it settles or is stopped. */
  #reject: ((error: unknown) => void) | undefined = undefined;
  /** undici's abort of the request, once it is on a socket; `#reason` is why it must go, once it must. */
  #abort: ((reason: Error) => void) | undefined = undefined;
  #reason: unknown = undefined;
  #response: Response | undefined = undefined;

  constructor(dispatcher: Dispatcher) {
    this.#dispatcher = dispatcher;
  }

  /** The global fetch (looked up now) on this fetch's dispatcher; `init` is a record fetch may keep. */
  fetch(input: string | URL | Request, init: Record<string, unknown>): Promise<Response> {
    // fetch uses `dispatch` of its dispatcher, and `isMockActive` (a MockAgent's).
    init.dispatcher = {
      dispatch: (options: Dispatcher.DispatchOptions, handler: LegacyHandler) => this.#dispatch(options, handler),
      isMockActive: (this.#dispatcher as { isMockActive?: boolean }).isMockActive,
    };
    return new Promise((resolve, reject) => {
      if (this.stopped) {
        reject(this.#reason);
        return;
      }
      this.#reject = reject;
      globalThis.fetch(input, init).then(
        (response) => {
          this.#response = response;
          this.#reject = undefined;
          if (this.stopped) this.drop(this.#reason);
          else resolve(response);
        },
        (error: unknown) => {
          this.#reject = undefined;
          reject(error);
        },
      );
    });
  }

  /** The job was told to stop: the caller hears it now, the request goes as soon as it can. */
  onStop(reason: unknown): void {
    this.stopped = true;
    this.drop(reason);
    const reject = this.#reject;
    this.#reject = undefined;
    reject?.(this.#reason);
  }

  /** Ends the request and its body for `reason`: on its connection, else (a patched fetch) by cancelling the body. */
  drop(reason?: unknown): void {
    this.#reason ??= reason ?? new DOMException('This operation was aborted', 'AbortError');
    if (this.#abort !== undefined) {
      this.#abort(this.#reason as Error);
      return;
    }
    const body = this.#response?.body;
    if (body !== undefined && body !== null && !body.locked) body.cancel(this.#reason).catch(() => {});
  }

  #dispatch(options: Dispatcher.DispatchOptions, handler: LegacyHandler): boolean {
    const onConnect = handler.onConnect;
    handler.onConnect = (abort, context) => {
      this.#abort = abort;
      onConnect?.call(handler, abort, context);
      if (this.#reason !== undefined) abort(this.#reason as Error);
    };
    return this.#dispatcher.dispatch(options, handler);
  }
}
