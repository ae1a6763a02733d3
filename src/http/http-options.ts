// The HTTP options of a client, checked once, and what the HTTP layer needs of the client around it.
import type { Dispatcher } from 'undici';
import type { RateLimitedEvent, RetryEvent } from '../core/event-types.js';
import type { InternalTaskContext } from '../core/internal.js';
import type { Meter } from '../core/meter.js';
import type { RateWindow, ScheduleOptions } from '../core/options.js';
import { boolean, describe, duration, knownKeys, oneOf, plainObject } from '../core/validate.js';
import type { Refill } from '../limit/server-budget.js';
import type { ResetMode } from '../retry/rate-limit-headers.js';
import { type NormalizedRetry, normalizeRetry } from '../retry/retry-options.js';
import { normalizeMeter } from './metering.js';
import type { HttpClientOptions } from './options.js';
import { normalizeBaseUrl, normalizeHeaders, type RequestDefaults } from './prepare-request.js';
import { DEFAULT_SECRET_HEADERS } from './secrets.js';

const TRANSPORTS = ['fetch', 'undici'] as const;

/**
 * Schedules a task whose window slot counts from its response (the client's internal entry point);
 * `seq` keeps a retry's place among equal priorities.
 */
export type ScheduleRequest = <T>(task: (context: InternalTaskContext) => Promise<T>, options: ScheduleOptions, seq?: number) => Promise<T>;

/**
 * What the HTTP layer needs of the client around it. Each method about the server's word takes the
 * request's `key`, if it had one: then what the server said holds for that key only.
 */
export interface HttpHooks {
  schedule: ScheduleRequest;
  /** Waits out a retry's delay as work the client still owes, then submits it with `again`. */
  retryAfter<T>(delayMs: number, signal: AbortSignal | undefined, again: () => Promise<T>): Promise<T>;
  retrying(event: RetryEvent): void;
  /** Keeps the client from counting as idle until the returned function is called (see Scheduler#hold). */
  hold(): () => void;
  /** Every response's status, for the diagnostics channels (see publishResponseStatus). */
  heard(status: number): void;
  /** Every currency some window counts, requests included. */
  currencies(): ReadonlySet<string>;
  /** A bare refusal (see Scheduler#learnFromRefusal): the cooldown it started, or undefined. */
  learnFromRefusal(maxCooldownMs: number, key?: string): number | undefined;
  /** A response that was not a refusal (see Scheduler#learnFromSuccess). */
  learnFromSuccess(key?: string): void;
  /** See FeedbackTarget, each for `key` (the client's own without one). */
  coolDown(ms: number, currency?: string, key?: string): void;
  setServerBudget(remaining: number, resetMs: number, carried: number, currency?: string, refill?: Refill, key?: string): void;
  windows(key?: string): readonly RateWindow[];
  setWindows(windows: RateWindow[], key?: string): void;
  rateLimited(event: RateLimitedEvent): void;
}

export interface NormalizedHttpOptions extends RequestDefaults {
  readonly timeoutMs: number;
  readonly transport: 'fetch' | 'undici';
  readonly dispatcher: Dispatcher | undefined;
  readonly secretHeaders: ReadonlySet<string>;
  readonly retry: NormalizedRetry | false;
  /** How to read the server's rate-limit headers, or false to ignore them. */
  readonly adaptive: { readonly resetMode: ResetMode; readonly resource: string } | false;
  readonly meter: Meter | undefined;
}

function normalizeAdaptive(value: unknown): { resetMode: ResetMode; resource: string } | false {
  if (value === undefined || value === true) return { resetMode: 'auto', resource: 'core' };
  if (value === false) return false;
  const options = plainObject('adaptive', value);
  knownKeys('adaptive', options, ['resetMode', 'resource']);
  const resetMode =
    options.resetMode === undefined
      ? 'auto'
      : oneOf('adaptive.resetMode', options.resetMode, ['auto', 'epoch-seconds', 'delta-seconds'] as const);
  const { resource } = options;
  if (resource !== undefined && (typeof resource !== 'string' || resource.trim() === '')) {
    throw new TypeError(`Expected \`adaptive.resource\` to be a non-empty string, got ${describe(resource)}`);
  }
  return { resetMode, resource: resource === undefined ? 'core' : resource.trim().toLowerCase() };
}

export function normalizeHttpOptions(options: HttpClientOptions): NormalizedHttpOptions {
  const secretHeaders = new Set(DEFAULT_SECRET_HEADERS);
  if (options.secretHeaders !== undefined) {
    if (!Array.isArray(options.secretHeaders) || options.secretHeaders.some((name) => typeof name !== 'string')) {
      throw new TypeError(`Expected \`secretHeaders\` to be an array of header names, got ${describe(options.secretHeaders)}`);
    }
    // Checked above; the cast undoes Array.isArray's narrowing of a readonly array to `any[]`.
    for (const name of options.secretHeaders as readonly string[]) secretHeaders.add(name.toLowerCase());
  }
  const transport = options.transport === undefined ? 'fetch' : oneOf('transport', options.transport, TRANSPORTS);
  const dispatcher = options.dispatcher;
  if (dispatcher !== undefined && typeof (dispatcher as { dispatch?: unknown }).dispatch !== 'function') {
    throw new TypeError(`Expected \`dispatcher\` to be an undici Dispatcher, got ${describe(dispatcher)}`);
  }
  const allowAbsoluteUrls = options.allowAbsoluteUrls === undefined ? false : boolean('allowAbsoluteUrls', options.allowAbsoluteUrls);
  const timeoutMs = options.timeoutMs === undefined ? 30_000 : duration('timeoutMs', options.timeoutMs, false);
  return {
    baseUrl: normalizeBaseUrl(options.baseUrl),
    headers: normalizeHeaders('headers', options.headers),
    allowAbsoluteUrls,
    timeoutMs,
    transport,
    dispatcher,
    secretHeaders,
    retry: normalizeRetry('retry', options.retry),
    adaptive: normalizeAdaptive(options.adaptive),
    meter: normalizeMeter(options.meter),
  };
}
