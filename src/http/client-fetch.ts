import type { ScheduleOptions } from '../core/options.js';
import { kSettleSlot } from '../core/internal.js';
import { describe, knownKeys, plainObject } from '../core/validate.js';
import type { ScheduleRequest } from './http-layer.js';

/** How `client.fetch` is told where a request goes in the queue: an extra field of its `init`. */
export interface LimitedRequestInit extends RequestInit {
  /** @example client.fetch(url, { rateLimit: { priority: -1 } }) */
  rateLimit?: Pick<ScheduleOptions, 'priority' | 'weight' | 'maxWaitMs'> | undefined;
}

export type LimitedFetch = (input: string | URL | Request, init?: LimitedRequestInit) => Promise<Response>;

/**
 * A standard `fetch` that waits for the client's limits. It calls the global `fetch` (looked up at each
 * call) and returns its `Response` unchanged, so SDKs that take a custom fetch are limited as they are.
 * The request counts in the windows from its response headers; it holds its worker and permit until
 * then, and its body streams to the caller afterwards. Errors are fetch's own. It does not retry (the
 * SDKs that take a custom fetch retry themselves), but it does listen to the server's rate-limit
 * headers when the client is adaptive.
 */
export function createLimitedFetch(
  schedule: ScheduleRequest,
  dispatcher: () => unknown,
  timeoutMs: number,
  onResponse: (response: Response, weight: number) => void,
): LimitedFetch {
  return function limitedFetch(input, init) {
    let scheduling: ScheduleOptions;
    let callerSignal: AbortSignal | undefined;
    const fetchInit: Record<string, unknown> = { ...init };
    try {
      const extra = init?.rateLimit === undefined ? {} : plainObject('rateLimit', init.rateLimit);
      knownKeys('rateLimit', extra, ['priority', 'weight', 'maxWaitMs']);
      delete fetchInit.rateLimit;
      callerSignal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
      scheduling = { ...extra, signal: callerSignal, timeoutMs };
    } catch (error) {
      return Promise.reject(error);
    }
    return schedule(async (context) => {
      // After the headers, the body still streams to the caller: the caller's own signal must keep
      // working then, while the client's (timeout) signal covers the wait for the headers.
      fetchInit.signal = callerSignal === undefined ? context.signal : AbortSignal.any([callerSignal, context.signal]);
      fetchInit.dispatcher ??= dispatcher();
      const response = await globalThis.fetch(input, fetchInit as RequestInit);
      context[kSettleSlot]();
      // The SDK retries on its own; the client still keeps in step with what the server says.
      onResponse(response, typeof scheduling.weight === 'number' ? scheduling.weight : 1);
      return response;
    }, scheduling);
  };
}

export function isFetchInput(value: unknown): value is string | URL | Request {
  return typeof value === 'string' || value instanceof URL || value instanceof Request;
}

export function fetchInputError(value: unknown): TypeError {
  return new TypeError(`Expected \`input\` to be a URL string, URL or Request, got ${describe(value)}`);
}
