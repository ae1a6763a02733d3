// The public types of the `node:diagnostics_channel` messages, with the client named as what it is.
// They are built in core/diagnostics.ts, a floor below the client, which only knows its shape.
import type { RateLimitedClient } from './client.js';
import type * as core from './core/diagnostics.js';
import type { DropEvent, RateLimitedEvent, RetryEvent } from './core/event-types.js';

export { CHANNEL_NAMES, type WaitReason } from './core/diagnostics.js';

/** The message of `client:create`, and of `client:close` once a client has closed. */
export type ClientCreateMessage = core.ClientCreateMessage<RateLimitedClient>;
/** The message of every `task:*` channel (see its fields). */
export type TaskMessage = core.TaskMessage<RateLimitedClient>;
export type EventMessage<Event> = core.EventMessage<Event, RateLimitedClient>;
export type ErrorMessage = core.ErrorMessage<RateLimitedClient>;
export type RefusalMessage = core.RefusalMessage<RateLimitedClient>;
export type RetryMessage = EventMessage<RetryEvent>;
export type RateLimitedMessage = EventMessage<RateLimitedEvent>;
export type DropMessage = EventMessage<DropEvent>;
export type IdleMessage = ClientCreateMessage;
