// The public types of the `node:diagnostics_channel` messages, with the client named as what it is.
// They are built in core/diagnostics.ts, a floor below the client, which only knows its shape.
import type { RateLimitedClient } from './client.js';
import type * as core from './core/diagnostics.js';
import type { DropEvent, RateLimitedEvent, RetryEvent } from './core/event-types.js';

export { CHANNEL_NAMES, type WaitReason } from './core/diagnostics.js';

/** The message of `client:create`, and of `client:close` once a client has closed. */
export interface ClientCreateMessage extends core.ClientCreateMessage<RateLimitedClient> {}
/**
 * The message of every `task:*` channel. One object per task, published to `task:enqueue`, then (if it
 * runs) to `task:start`, then once to `task:end`, so a subscriber can keep its own state on it (a span,
 * in a WeakMap). An HTTP retry is a task of its own. Times are `performance.now()` readings.
 */
export interface TaskMessage extends core.TaskMessage<RateLimitedClient> {}
/** The message of `retry`, `rate-limited` and `drop`: the event's own payload, and its client. */
export interface EventMessage<Event> extends core.EventMessage<Event, RateLimitedClient> {}
/** The message of `rate-limited-client:error`. */
export interface ErrorMessage extends core.ErrorMessage<RateLimitedClient> {}
/** The message of `rate-limited-client:refusal`: a 429 or 503 the client heard. */
export interface RefusalMessage extends core.RefusalMessage<RateLimitedClient> {}
/** The message of `rate-limited-client:retry`. */
export type RetryMessage = EventMessage<RetryEvent>;
/** The message of `rate-limited-client:rate-limited`. */
export type RateLimitedMessage = EventMessage<RateLimitedEvent>;
/** The message of `rate-limited-client:drop`. */
export type DropMessage = EventMessage<DropEvent>;
/** The message of `rate-limited-client:idle`. */
export type IdleMessage = ClientCreateMessage;
