import diagnosticsChannel from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import type { RateLimitedClient } from '../client.js';
import type { ClientEventName, ClientEvents, DropEvent, RateLimitedEvent, RetryEvent } from './events.js';

/*
 * Publishing to `node:diagnostics_channel`, as undici does, so that APM and OpenTelemetry tooling can
 * watch every client in a process without being handed one. Nothing is built and nothing is published
 * while a channel has no subscriber: each check is one `hasSubscribers` read.
 */

/** The channel names; stable, part of the public API. */
export const CHANNEL_NAMES = {
  clientCreate: 'rate-limited-client:client:create',
  taskEnqueue: 'rate-limited-client:task:enqueue',
  taskStart: 'rate-limited-client:task:start',
  taskEnd: 'rate-limited-client:task:end',
  retry: 'rate-limited-client:retry',
  rateLimited: 'rate-limited-client:rate-limited',
  drop: 'rate-limited-client:drop',
  idle: 'rate-limited-client:idle',
  error: 'rate-limited-client:error',
} as const;

/** The message of `rate-limited-client:client:create`. */
export interface ClientCreateMessage {
  client: RateLimitedClient;
}

/**
 * The message of every `task:*` channel. One object per task, published to `task:enqueue`, then (if it
 * runs) to `task:start`, then once to `task:end`, so a subscriber can keep its own state on it (a span,
 * in a WeakMap). An HTTP retry is a task of its own. Times are `performance.now()` readings.
 */
export interface TaskMessage {
  readonly client: RateLimitedClient;
  readonly priority: number;
  readonly weight: number;
  readonly enqueuedAt: number;
  /** Set when it starts; it never starts when it left the queue another way (dropped, aborted, closed). */
  startedAt: number | undefined;
  /** Set when its promise settles. After a run timeout the task may still be running then. */
  endedAt: number | undefined;
  /** How its promise settled; set with `endedAt`. */
  outcome: 'completed' | 'failed' | 'aborted' | 'dropped' | undefined;
  /** The rejection reason when the outcome is not `'completed'`. */
  error: unknown;
}

/** The message of `retry`, `rate-limited` and `drop`: the event's own payload, and its client. */
export interface EventMessage<Event> {
  client: RateLimitedClient;
  event: Event;
}

/** The message of `rate-limited-client:error`. */
export interface ErrorMessage {
  client: RateLimitedClient;
  error: unknown;
}

export type RetryMessage = EventMessage<RetryEvent>;
export type RateLimitedMessage = EventMessage<RateLimitedEvent>;
export type DropMessage = EventMessage<DropEvent>;
export type IdleMessage = ClientCreateMessage;

const clientCreate = diagnosticsChannel.channel(CHANNEL_NAMES.clientCreate);
const taskEnqueue = diagnosticsChannel.channel(CHANNEL_NAMES.taskEnqueue);
const taskStart = diagnosticsChannel.channel(CHANNEL_NAMES.taskStart);
const taskEnd = diagnosticsChannel.channel(CHANNEL_NAMES.taskEnd);
const eventChannels: { [E in ClientEventName]: diagnosticsChannel.Channel } = {
  retry: diagnosticsChannel.channel(CHANNEL_NAMES.retry),
  'rate-limited': diagnosticsChannel.channel(CHANNEL_NAMES.rateLimited),
  drop: diagnosticsChannel.channel(CHANNEL_NAMES.drop),
  idle: diagnosticsChannel.channel(CHANNEL_NAMES.idle),
  error: diagnosticsChannel.channel(CHANNEL_NAMES.error),
};

/** Task messages by job. A job enqueued while nobody listened has none, and is not reported later. */
const messages = new WeakMap<object, TaskMessage>();

export function publishClientCreate(client: RateLimitedClient): void {
  if (clientCreate.hasSubscribers) clientCreate.publish({ client } satisfies ClientCreateMessage);
}

/** A task entered the queue (before an overflow strategy may drop it). */
export function publishTaskEnqueue(job: object, client: RateLimitedClient, priority: number, weight: number): void {
  if (!taskEnqueue.hasSubscribers && !taskStart.hasSubscribers && !taskEnd.hasSubscribers) return;
  const message: TaskMessage = {
    client,
    priority,
    weight,
    enqueuedAt: performance.now(),
    startedAt: undefined,
    endedAt: undefined,
    outcome: undefined,
    error: undefined,
  };
  messages.set(job, message);
  if (taskEnqueue.hasSubscribers) taskEnqueue.publish(message);
}

export function publishTaskStart(job: object): void {
  if (!taskStart.hasSubscribers && !taskEnd.hasSubscribers) return;
  const message = messages.get(job);
  if (message === undefined) return;
  message.startedAt = performance.now();
  if (taskStart.hasSubscribers) taskStart.publish(message);
}

export function publishTaskEnd(job: object, outcome: NonNullable<TaskMessage['outcome']>, error: unknown): void {
  if (!taskEnd.hasSubscribers) return;
  const message = messages.get(job);
  if (message === undefined) return;
  messages.delete(job);
  message.endedAt = performance.now();
  message.outcome = outcome;
  message.error = error;
  taskEnd.publish(message);
}

/** Mirrors a client event. Called for every event; cheap when nobody subscribed. */
export function publishEvent<E extends ClientEventName>(client: RateLimitedClient, event: E, args: ClientEvents[E]): void {
  const channel = eventChannels[event];
  if (!channel.hasSubscribers) return;
  if (event === 'idle') channel.publish({ client } satisfies IdleMessage);
  else if (event === 'error') channel.publish({ client, error: args[0] } satisfies ErrorMessage);
  else channel.publish({ client, event: args[0] });
}
