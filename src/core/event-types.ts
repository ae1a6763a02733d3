// The client's events and their payloads: apart from the emitter (events.ts) so that the diagnostics
// channels, which the emitter publishes to, can name them without importing the emitter back.
import type { OverflowStrategy, RateWindow } from './options.js';

/** Payload of the `drop` event: a task was pushed out of a full queue. */
export interface DropEvent {
  /** The overflow strategy that dropped it. */
  reason: Extract<OverflowStrategy, 'drop-oldest' | 'drop-lowest-priority'>;
  /** The dropped task's `priority`. */
  priority: number;
  /** The dropped task's `weight`. */
  weight: number;
  /** The error its promise rejected with. */
  error: Error;
}

/** Payload of the `retry` event: a request failed and goes back into the queue after `delayMs`. */
export interface RetryEvent {
  /** 1 for the first retry. */
  retry: number;
  /**
   * Milliseconds before the request goes back into the queue: the wait the server asked for (Retry-After,
   * or the reset of a used-up quota), else the backoff (see `RetryOptions`). Then it waits its turn in the
   * windows like any request.
   */
  delayMs: number;
  /** The request method, upper-case (`'GET'`). */
  method: string;
  /** The request URL, without any user:password part. */
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
   * `'refused'`: a 429 or 503 that said nothing of the limits: every start waits `waitMs` (longer while
   * refusals continue), and the client sends at a learned rate from now on (`stats().learnedRate`).
   */
  reason: 'retry-after' | 'remaining' | 'policy' | 'refused';
  /**
   * Milliseconds every start now waits (`'retry-after'`, `'remaining'`), at most `retry.maxRetryAfterMs`;
   * 0 for `'policy'`.
   */
  waitMs: number;
  /** The status of the response that said so: a success can carry rate-limit headers too. */
  status: number;
  /** That response's URL, without any user:password part. */
  url: string;
  /** The headers that said so, lower-case. */
  sources: string[];
  /** With `'policy'`: every window now in force, the tightened one among them. */
  windows?: RateWindow[];
  /** The key whose request heard it (a task's `key` option): then it holds for that key only. */
  key?: string;
}

/** Events of a client and their listener arguments. */
export interface ClientEvents {
  /** The queue is empty and nothing is in flight, after there was work. */
  idle: [];
  /** A task was dropped from a full queue (`'drop-oldest'`, `'drop-lowest-priority'`); its promise rejected with `QueueFullError`. */
  drop: [event: DropEvent];
  /** A request failed and will be sent again after `event.delayMs`. */
  retry: [event: RetryEvent];
  /** The server's headers slowed the client down: a cooldown, a used-up quota, or tighter windows (`adaptive`). */
  'rate-limited': [event: RateLimitedEvent];
  /** Something went wrong that has no caller to reject, such as a listener that threw. */
  error: [error: unknown];
}

/** The name of a client event: `'idle'`, `'drop'`, `'retry'`, `'rate-limited'` or `'error'`. */
export type ClientEventName = keyof ClientEvents;
/** A listener for event `E`: it gets that event's arguments (see {@link ClientEvents}). Its return value is ignored. */
export type Listener<E extends ClientEventName> = (...args: ClientEvents[E]) => void;
