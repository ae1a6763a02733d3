/**
 * `rate-limited-client`: call rate-limited HTTP APIs without 429s. A {@link RateLimitedClient} runs tasks
 * and HTTP requests through a priority queue, a fixed pool of workers, a semaphore and exact sliding
 * windows, and keeps in step with the server's Retry-After and rate-limit headers.
 *
 * Beside this entry: `rate-limited-client/redis` shares the limits between processes (`RedisStore`),
 * `rate-limited-client/testing` answers the undici transport with msw handlers, and
 * `rate-limited-client/otel` reports metrics and traces to OpenTelemetry.
 * @module
 */
export { RateLimitedClient } from './client.js';
export type { RateLimitedClientOptions } from './client-options.js';
export type {
  ClientStats,
  KeyLimits,
  KeyStats,
  LearnedRate,
  CloseOptions,
  OverflowStrategy,
  QueueOptions,
  RateWindow,
  ScheduleOptions,
  SchedulerOptions,
  TaskContext,
  WindowUsage,
} from './core/options.js';
export type { Clock } from './core/clock.js';
export type { ClientEventName, ClientEvents, DropEvent, Listener, RateLimitedEvent, RetryEvent } from './core/event-types.js';
export { CHANNEL_NAMES as DIAGNOSTICS_CHANNELS } from './diagnostics.js';
export type {
  ClientCreateMessage,
  DropMessage,
  ErrorMessage,
  EventMessage,
  IdleMessage,
  RateLimitedMessage,
  RefusalMessage,
  RetryMessage,
  TaskMessage,
  WaitReason,
} from './diagnostics.js';
export type { RetryOptions } from './retry/retry-options.js';
export type { ResetMode } from './retry/rate-limit-headers.js';
export { RateLimitedClientError } from './errors/rate-limited-client-error.js';
export { TimeoutError, type TimeoutPhase } from './errors/timeout-error.js';
export { QueueFullError } from './errors/queue-full-error.js';
export { ClientClosedError } from './errors/client-closed-error.js';
export { HttpError } from './errors/http-error.js';
export { NetworkError } from './errors/network-error.js';
export { StoreError, type StoreOperation } from './errors/store-error.js';
export { MemoryStore } from './stores/memory.js';
export type { LimiterStore, StoreContext, StoreLimits, StoreSlot } from './core/store.js';
export type { Cost } from './core/cost.js';
export type { Meter, MeterRequest, MeterResponse, CurrencyBudget, UsageReader, MeterRefusal } from './core/meter.js';
export { HttpResponse } from './http/response.js';
export type {
  BodyInit,
  HeadersInit,
  HttpClientOptions,
  HttpMethod,
  MethodOptions,
  QueryInit,
  QueryValue,
  RequestOptions,
} from './http/options.js';
export type { LimitedFetch, LimitedRequestInit } from './http/client-fetch.js';
export { rateLimit, type RateLimitInterceptorOptions } from './interceptor/rate-limit.js';
// The queue, limiter, semaphore, pool and transports are not exported: they are one mechanism, and
// their contracts with each other are internal. Their behaviour is reached through RateLimitedClient.
