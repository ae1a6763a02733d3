// Publishing to `node:diagnostics_channel`: the channel names, the message types and the publish functions.
import diagnosticsChannel from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import type { Cost } from './cost.js';
import type { ClientEventName, ClientEvents, DropEvent, RateLimitedEvent, RetryEvent } from './event-types.js';
import type { ClientStats } from './options.js';

/*
 * Publishing to `node:diagnostics_channel`, as undici does, so that APM and OpenTelemetry tooling can
 * watch every client in a process without being handed one. Nothing is built and nothing is published
 * while a channel has no subscriber: each check is one `hasSubscribers` read.
 *
 * The message types take the client's type as a parameter: this floor (core/) can not name
 * RateLimitedClient, which is built above it; `src/diagnostics.ts` names it for the public types.
 */

/** What the diagnostics layer needs of a client: its name and its counters. */
export interface ObservedClient {
  readonly name: string | undefined;
  stats(): ClientStats;
}

/**
 * Why a task waited before it started, where the scheduler knows it: the reason its queue last stood
 * still while it waited. `'window'`: a window (or the shared store) had no room; `'concurrency'`: every
 * worker or permit was taken; `'cooldown'`: the server asked every request to wait (Retry-After, a
 * refusal); `'server-budget'`: the server's remaining quota was used up until its reset; `'paused'`:
 * `pause()`; `'store'`: a shared store's answer was on its way.
 */
export type WaitReason = 'window' | 'concurrency' | 'cooldown' | 'server-budget' | 'paused' | 'store';

/** The channel names; stable, part of the public API. */
export const CHANNEL_NAMES = {
  /** A client was constructed. Message: `ClientCreateMessage`. */
  clientCreate: 'rate-limited-client:client:create',
  /** A client's `close()` has finished, once per client: everything it accepted has ended. Message: `ClientCreateMessage`. */
  clientClose: 'rate-limited-client:client:close',
  /**
   * A task entered the queue (before an overflow strategy may drop it). Message: `TaskMessage`. A task
   * queued while no `task:*` channel had a subscriber is not reported on any of them later.
   */
  taskEnqueue: 'rate-limited-client:task:enqueue',
  /** A task started; its message now has `startedAt` and `waitReason`. Message: `TaskMessage`. */
  taskStart: 'rate-limited-client:task:start',
  /** A task's promise settled; its message now has `endedAt`, `outcome` and `error`. Message: `TaskMessage`. */
  taskEnd: 'rate-limited-client:task:end',
  /** Mirrors the client's `retry` event. Message: `RetryMessage`. */
  retry: 'rate-limited-client:retry',
  /** Mirrors the client's `rate-limited` event. Message: `RateLimitedMessage`. */
  rateLimited: 'rate-limited-client:rate-limited',
  /** Mirrors the client's `drop` event. Message: `DropMessage`. */
  drop: 'rate-limited-client:drop',
  /** Mirrors the client's `idle` event. Message: `IdleMessage`. */
  idle: 'rate-limited-client:idle',
  /** Mirrors the client's `error` event, and also carries a listener's error that no `error` listener heard. Message: `ErrorMessage`. */
  error: 'rate-limited-client:error',
  /** A response refused for rate (429 or 503) reached the client, retried or not. Message: `RefusalMessage`. */
  refusal: 'rate-limited-client:refusal',
} as const;

/** The message of `rate-limited-client:client:create`, and of `client:close` once a client has closed. */
export interface ClientCreateMessage<Client = ObservedClient> {
  /** The client that was created (or closed, or went idle). */
  client: Client;
  /** The client's `name` option. */
  name: string | undefined;
}

/**
 * The message of every `task:*` channel. One object per task, published to `task:enqueue`, then (if it
 * runs) to `task:start`, then once to `task:end`, so a subscriber can keep its own state on it (a span,
 * in a WeakMap). An HTTP retry is a task of its own. Times are `performance.now()` readings.
 */
export interface TaskMessage<Client = ObservedClient> {
  /** The client the task was scheduled on. */
  readonly client: Client;
  /** The client's `name` option. */
  readonly name: string | undefined;
  /** The task's `priority`. */
  readonly priority: number;
  /** The task's `weight`. */
  readonly weight: number;
  /**
   * Its cost in the currencies besides requests (`{ tokens: 1_800 }`), or null: the estimate, replaced
   * by the real cost when the task settles it before its end.
   */
  cost: Cost | null;
  /** The task's tenant `key`, or undefined. */
  readonly key: string | undefined;
  /** When it entered the queue. */
  readonly enqueuedAt: number;
  /** Set when it starts; it never starts when it left the queue another way (dropped, aborted, closed). */
  startedAt: number | undefined;
  /**
   * Why it waited, set when it starts (or ends without starting) after waiting; undefined when it
   * started in the call that queued it, or when the scheduler does not know.
   */
  waitReason: WaitReason | undefined;
  /** Set when its promise settles. After a run timeout the task may still be running then. */
  endedAt: number | undefined;
  /** How its promise settled; set with `endedAt`. */
  outcome: 'completed' | 'failed' | 'aborted' | 'dropped' | undefined;
  /** The rejection reason when the outcome is not `'completed'`. */
  error: unknown;
}

/** The message of `retry`, `rate-limited` and `drop`: the event's own payload, and its client. */
export interface EventMessage<Event, Client = ObservedClient> {
  /** The client that emitted the event. */
  client: Client;
  /** The client's `name` option. */
  name: string | undefined;
  /** The event's payload, the same object the client's listeners get. */
  event: Event;
}

/**
 * The message of `rate-limited-client:refusal`: a response refused for rate (429 or 503) reached the
 * client, through any entry point (`request()`, `client.fetch`, the interceptor), retried or not.
 */
export interface RefusalMessage<Client = ObservedClient> {
  /** The client that got the response. */
  client: Client;
  /** The client's `name` option. */
  name: string | undefined;
  /** The response's status: 429 or 503. */
  status: number;
}

/** The message of `rate-limited-client:error`. */
export interface ErrorMessage<Client = ObservedClient> {
  /** The client whose `error` event this is. */
  client: Client;
  /** The client's `name` option. */
  name: string | undefined;
  /** What the `error` event carries: a listener's error, a store's `StoreError`… */
  error: unknown;
}

export type RetryMessage<Client = ObservedClient> = EventMessage<RetryEvent, Client>;
export type RateLimitedMessage<Client = ObservedClient> = EventMessage<RateLimitedEvent, Client>;
export type DropMessage<Client = ObservedClient> = EventMessage<DropEvent, Client>;
export type IdleMessage<Client = ObservedClient> = ClientCreateMessage<Client>;

const clientCreate = diagnosticsChannel.channel(CHANNEL_NAMES.clientCreate);
const clientClose = diagnosticsChannel.channel(CHANNEL_NAMES.clientClose);
const refusal = diagnosticsChannel.channel(CHANNEL_NAMES.refusal);
const taskEnqueue = diagnosticsChannel.channel(CHANNEL_NAMES.taskEnqueue);
const taskStart = diagnosticsChannel.channel(CHANNEL_NAMES.taskStart);
const taskEnd = diagnosticsChannel.channel(CHANNEL_NAMES.taskEnd);
const eventChannels: Record<ClientEventName, diagnosticsChannel.Channel> = {
  retry: diagnosticsChannel.channel(CHANNEL_NAMES.retry),
  'rate-limited': diagnosticsChannel.channel(CHANNEL_NAMES.rateLimited),
  drop: diagnosticsChannel.channel(CHANNEL_NAMES.drop),
  idle: diagnosticsChannel.channel(CHANNEL_NAMES.idle),
  error: diagnosticsChannel.channel(CHANNEL_NAMES.error),
};

/**
 * What the task channels need of a job: a place for its message. On the job itself, not in a WeakMap
 * by job: with a subscriber, a WeakMap's set, gets and delete per task cost more than the rest of the
 * publishing. A job enqueued while nobody listened has none, and is not reported later.
 */
export interface Reported {
  taskMessage: TaskMessage | undefined;
}

export function publishClientCreate(client: ObservedClient): void {
  if (clientCreate.hasSubscribers) clientCreate.publish({ client, name: client.name } satisfies ClientCreateMessage);
}

/** The client has closed: everything it accepted has ended. A subscriber may let it go. */
export function publishClientClose(client: ObservedClient): void {
  if (clientClose.hasSubscribers) clientClose.publish({ client, name: client.name } satisfies ClientCreateMessage);
}

/** Whether a response with `status` is a refusal for rate, as the `refusal` channel counts them. */
function isRefusal(status: number): boolean {
  return status === 429 || status === 503;
}

/** A response with `status` reached the client; published when it is a refusal (see isRefusal). */
export function publishResponseStatus(client: ObservedClient, status: number): void {
  if (refusal.hasSubscribers && isRefusal(status)) {
    refusal.publish({ client, name: client.name, status } satisfies RefusalMessage);
  }
}

/** A task entered the queue (before an overflow strategy may drop it). */
export function publishTaskEnqueue(
  job: Reported,
  client: ObservedClient,
  priority: number,
  weight: number,
  cost: Cost | null,
  key?: string,
): void {
  if (!taskEnqueue.hasSubscribers && !taskStart.hasSubscribers && !taskEnd.hasSubscribers) return;
  const message: TaskMessage = {
    client,
    name: client.name,
    priority,
    weight,
    cost,
    key,
    enqueuedAt: performance.now(),
    startedAt: undefined,
    waitReason: undefined,
    endedAt: undefined,
    outcome: undefined,
    error: undefined,
  };
  job.taskMessage = message;
  if (taskEnqueue.hasSubscribers) taskEnqueue.publish(message);
}

/** `waitReason`: see TaskMessage; undefined for a task that did not wait. */
export function publishTaskStart(job: Reported, waitReason: WaitReason | undefined): void {
  if (!taskStart.hasSubscribers && !taskEnd.hasSubscribers) return;
  const message = job.taskMessage;
  if (message === undefined) return;
  message.startedAt = performance.now();
  message.waitReason = waitReason;
  if (taskStart.hasSubscribers) taskStart.publish(message);
}

/** `waitReason`: why a task that never started waited (see TaskMessage), when it is known. */
export function publishTaskEnd(job: Reported, outcome: NonNullable<TaskMessage['outcome']>, error: unknown, waitReason?: WaitReason): void {
  if (!taskEnd.hasSubscribers) return;
  const message = job.taskMessage;
  if (message === undefined) return;
  job.taskMessage = undefined;
  if (message.startedAt === undefined && waitReason !== undefined) message.waitReason = waitReason;
  message.endedAt = performance.now();
  message.outcome = outcome;
  message.error = error;
  taskEnd.publish(message);
}

/** Mirrors a client event. Called for every event; cheap when nobody subscribed. */
export function publishEvent<E extends ClientEventName>(client: ObservedClient, event: E, args: ClientEvents[E]): void {
  const channel = eventChannels[event];
  if (!channel.hasSubscribers) return;
  const name = client.name;
  if (event === 'idle') channel.publish({ client, name } satisfies IdleMessage);
  else if (event === 'error') channel.publish({ client, name, error: args[0] } satisfies ErrorMessage);
  else channel.publish({ client, name, event: args[0] });
}
