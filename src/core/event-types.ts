// The client's events and their payloads: apart from the emitter (events.ts) so that the diagnostics
// channels, which the emitter publishes to, can name them without importing the emitter back.
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
