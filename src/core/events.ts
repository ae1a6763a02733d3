import { type ObservedClient, publishEvent } from './diagnostics.js';
import type { OverflowStrategy, RateWindow } from './options.js';

/** Payload of the `drop` event: a task was pushed out of a full queue. */
export interface DropEvent {
  /** The overflow strategy that dropped it. */
  reason: Extract<OverflowStrategy, 'drop-oldest' | 'drop-lowest-priority'>;
  priority: number;
  weight: number;
  /** The error its promise rejected with. */
  error: Error;
}

/** Payload of the `retry` event: a request failed and goes back into the queue after `delayMs`. */
export interface RetryEvent {
  /** 1 for the first retry. */
  retry: number;
  delayMs: number;
  method: string;
  url: string;
  /** The error of the attempt that failed (an HttpError, NetworkError or TimeoutError). */
  error: Error;
}

/** Payload of the `rate-limited` event: the server told the client to slow down, and it does. */
export interface RateLimitedEvent {
  /**
   * `'retry-after'`: every request waits `waitMs` (a 429, 503 or GitHub's 403 with Retry-After).
   * `'remaining'`: the server's quota is used up until its reset, `waitMs` from now.
   * `'policy'`: the server's quota is smaller than the configured one; `windows` are the new limits.
   */
  reason: 'retry-after' | 'remaining' | 'policy';
  waitMs: number;
  status: number;
  url: string;
  /** The headers that said so, lower-case. */
  sources: string[];
  windows?: RateWindow[];
}

/** Events of a client and their listener arguments. */
export interface ClientEvents {
  /** The queue is empty and nothing is in flight, after there was work. */
  idle: [];
  drop: [event: DropEvent];
  retry: [event: RetryEvent];
  'rate-limited': [event: RateLimitedEvent];
  /** Something went wrong that has no caller to reject, such as a listener that threw. */
  error: [error: unknown];
}

export type ClientEventName = keyof ClientEvents;
export type Listener<E extends ClientEventName> = (...args: ClientEvents[E]) => void;

/**
 * A small typed emitter. Unlike Node's EventEmitter, an `error` event with no listener does not throw:
 * a rate limiter must not crash a process over a report. A listener that throws is reported as an
 * `error` event (or as a process warning when that fails too) and never breaks the scheduler.
 */
export class Emitter {
  readonly #listeners = new Map<ClientEventName, Set<(...args: never[]) => void>>();
  /** The client whose events these are, named in what is published to `node:diagnostics_channel`. */
  readonly owner: ObservedClient | undefined;

  constructor(owner?: ObservedClient) {
    this.owner = owner;
  }

  on<E extends ClientEventName>(event: E, listener: Listener<E>): void {
    if (typeof listener !== 'function') throw new TypeError(`Expected the \`${event}\` listener to be a function`);
    let set = this.#listeners.get(event);
    if (set === undefined) this.#listeners.set(event, (set = new Set()));
    set.add(listener as (...args: never[]) => void);
  }

  off<E extends ClientEventName>(event: E, listener: Listener<E>): void {
    this.#listeners.get(event)?.delete(listener as (...args: never[]) => void);
  }

  has(event: ClientEventName): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0;
  }

  emit<E extends ClientEventName>(event: E, ...args: ClientEvents[E]): void {
    if (this.owner !== undefined) publishEvent(this.owner, event, args);
    const set = this.#listeners.get(event);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        (listener as (...a: ClientEvents[E]) => void)(...args);
      } catch (error) {
        if (event !== 'error' && this.has('error')) this.emit('error', error);
        else {
          // No listener to hear it, but a diagnostics subscriber may be watching for errors.
          if (event !== 'error' && this.owner !== undefined) publishEvent(this.owner, 'error', [error]);
          process.emitWarning(`A rate-limited-client '${event}' listener threw: ${String(error)}`);
        }
      }
    }
  }
}
