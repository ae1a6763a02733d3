// `client.fetch`: a standard fetch whose every call goes through the client's queue and limits.
import type { Cost } from '../core/cost.js';
import type { ScheduleOptions } from '../core/options.js';
import type { Dispatcher } from 'undici';
import { type InternalTaskContext, kOnStop, kSettleSlot } from '../core/internal.js';
import type { MeterRefusal, MeterRequest, UsageReader } from '../core/meter.js';
import { type HeaderReader, refusesForRate } from '../retry/rate-limit-headers.js';
import { bodyText, type Metering, tapChunk } from './metering.js';
import { describe, knownKeys, plainObject } from '../core/validate.js';
import { BODY_PREVIEW_BYTES, PREVIEW_MAX_MS } from './http-layer.js';
import type { ScheduleRequest } from './http-options.js';
import { FORBIDDEN_IN_VALUE } from './prepare-request.js';
import { displayUrlText } from './secrets.js';
import { StoppableFetch } from './stoppable-fetch.js';

interface Link {
  readonly controllers: Set<AbortController>;
  readonly listener: () => void;
}

/**
 * The caller's signal, linked to each request's own controller with one listener per signal, however
 * many requests share it (a process-wide shutdown signal, typically). `AbortSignal.any()` would do,
 * but on Node 20 it leaves an entry on the source signal for every call (nodejs/node#55351: ~45 bytes
 * a request, measured), and a listener per request would trip MaxListenersExceededWarning.
 */
const links = new WeakMap<AbortSignal, Link>();

/** Links `controller` to `signal`; the returned function unlinks it (once its response is gone). */
function link(signal: AbortSignal, controller: AbortController): () => void {
  let entry = links.get(signal);
  if (entry === undefined) {
    const controllers = new Set<AbortController>();
    const listener = () => {
      links.delete(signal);
      for (const each of controllers) each.abort(signal.reason);
      controllers.clear();
    };
    entry = { controllers, listener };
    links.set(signal, entry);
    signal.addEventListener('abort', listener, { once: true });
  }
  const { controllers, listener } = entry;
  controllers.add(controller);
  return () => {
    if (!controllers.delete(controller) || controllers.size > 0) return;
    signal.removeEventListener('abort', listener);
    if (links.get(signal)?.controllers === controllers) links.delete(signal);
  };
}

/**
 * The caller's signal must reach a response's body for as long as the body can be read, that is until
 * the response is collected: then its link goes.
 */
const unlinkWhenCollected = new FinalizationRegistry<() => void>((unlink) => unlink());

/**
 * What fetch would refuse anyway, refused before the request is queued: it would otherwise take a
 * window slot, and fetch's own messages show the offending URL or header value, which may be a
 * credential.
 */
function checkFetchRequest(input: string | URL | Request, init: LimitedRequestInit | undefined): void {
  if (input instanceof URL) {
    if (input.username || input.password) throw credentialsInUrl();
  } else if (!(input instanceof Request)) {
    if (!URL.canParse(input)) throw new TypeError(`Expected \`input\` to be an absolute URL, got ${describe(displayUrlText(input))}`);
    // Only an '@' can bring user:password into a URL: most have none, and need no URL made to tell.
    if (input.includes('@')) {
      const url = new URL(input);
      if (url.username || url.password) throw credentialsInUrl();
    }
  }
  const headers = init?.headers;
  if (headers === undefined || headers instanceof Headers) return; // a Headers object checked its values itself
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a JavaScript caller may pass null
  if (Array.isArray(headers) || (typeof headers === 'object' && headers !== null && !(Symbol.iterator in headers))) {
    const entries: unknown[] = Array.isArray(headers) ? headers : Object.entries(headers as Record<string, unknown>);
    for (const entry of entries) {
      const [name, value] = Array.isArray(entry) ? (entry as unknown[]) : [];
      if (FORBIDDEN_IN_VALUE.test(String(value))) {
        throw new TypeError(`Header \`${String(name).toLowerCase()}\` in \`init.headers\` contains CR, LF or NUL`);
      }
    }
  }
  // Every other form fetch takes (a Map, any iterable of pairs) and every other flaw, as fetch would
  // judge it, but without its message, which shows the value.
  try {
    new Headers(headers);
  } catch {
    throw new TypeError('Expected `init.headers` to hold valid header names and values (the value is not shown: it may be a credential)');
  }
}

function credentialsInUrl(): TypeError {
  return new TypeError('Expected `input` without user:password credentials; send them in the `authorization` header');
}

/** How `client.fetch` is told where a request goes in the queue: an extra field of its `init`. */
export interface LimitedRequestInit extends RequestInit {
  /** @example client.fetch(url, { rateLimit: { priority: -1, key: shop } }) */
  rateLimit?: Pick<ScheduleOptions, 'priority' | 'weight' | 'cost' | 'maxWaitMs' | 'key'> | undefined;
}

/** What the client reads of every response to keep in step with the server: its headers read in place where they can be. */
export interface HeardResponse {
  readonly headers: HeaderReader;
  readonly status: number;
  readonly url: URL | string;
}

const RATE_LIMIT_KEYS = ['priority', 'weight', 'cost', 'maxWaitMs', 'key'];
const NOTHING = (): void => {};

/** The type of `client.fetch`: the standard `fetch` signature, with `init.rateLimit` to place the request in the queue. */
export type LimitedFetch = (input: string | URL | Request, init?: LimitedRequestInit) => Promise<Response>;

/**
 * A standard `fetch` that waits for the client's limits. It calls the global `fetch` (looked up at each
 * call) and returns its `Response` unchanged, so SDKs that take a custom fetch are limited as they are.
 * The request counts in the windows from its response headers; it holds its worker and permit until
 * then, and its body streams to the caller afterwards. A URL that does not parse or carries
 * credentials, and a header value with CR, LF or NUL, are refused before queueing; other errors are
 * fetch's own. It does not retry (the
 * SDKs that take a custom fetch retry themselves), but it does listen to the server's rate-limit
 * headers when the client is adaptive.
 */
export function createLimitedFetch(
  schedule: ScheduleRequest,
  dispatcher: () => unknown,
  timeoutMs: number,
  metering: Metering,
  onResponse: (response: HeardResponse, weight: number, refusal: MeterRefusal | undefined, key: string | undefined) => void,
): LimitedFetch {
  return function limitedFetch(input, init) {
    let scheduling: ScheduleOptions;
    let callerSignal: AbortSignal | undefined;
    let metered: MeterRequest | undefined;
    const fetchInit: Record<string, unknown> = { ...init };
    try {
      checkFetchRequest(input, init);
      let extra: Record<string, unknown> = {};
      if (init?.rateLimit !== undefined) {
        extra = plainObject('rateLimit', init.rateLimit);
        knownKeys('rateLimit', extra, RATE_LIMIT_KEYS);
        delete fetchInit.rateLimit;
      }
      callerSignal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
      scheduling = { ...extra, signal: callerSignal, timeoutMs };
      if (metering.active) {
        metered = {
          method: (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase(),
          url: input instanceof Request ? input.url : String(input),
          body: bodyText(init?.body),
        };
        scheduling.cost = metering.cost(metered, extra.cost) as Cost | undefined;
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return schedule(async (context) => {
      // After the headers, the body still streams to the caller: the caller's own signal must keep
      // working then, while the client's (timeout) signal covers the wait for the headers.
      let response: Response;
      let fetching: StoppableFetch | undefined;
      if (callerSignal === undefined) {
        // Only the job's stop (its timeout, a close without drain) can end this request: no signal, as
        // one costs fetch far more than the stop's own abort (see StoppableFetch).
        const stoppable = new StoppableFetch((fetchInit.dispatcher ?? dispatcher()) as Dispatcher);
        fetching = stoppable;
        context[kOnStop]((reason) => stoppable.onStop(reason));
        response = await stoppable.fetch(input, fetchInit);
      } else {
        const controller = new AbortController();
        const onTimeout = () => controller.abort(context.signal.reason);
        context.signal.addEventListener('abort', onTimeout, { once: true });
        let unlink = NOTHING;
        if (callerSignal.aborted) controller.abort(callerSignal.reason);
        else unlink = link(callerSignal, controller);
        fetchInit.signal = controller.signal;
        fetchInit.dispatcher ??= dispatcher();
        try {
          response = await globalThis.fetch(input, fetchInit);
        } catch (error) {
          unlink();
          throw error;
        } finally {
          context.signal.removeEventListener('abort', onTimeout);
        }
        // The body, not the response: a reader keeps the body alive after the response is dropped
        // (`for await (… of response.body)`), and the caller's signal must still abort that read.
        unlinkWhenCollected.register(response.body ?? response, unlink);
      }
      context[kSettleSlot]();
      const weight = typeof scheduling.weight === 'number' ? scheduling.weight : 1;
      // Checked by the scheduler before the task could run.
      const key = scheduling.key;
      // The SDK retries on its own; the client still keeps in step with what the server says.
      const heard: HeardResponse = {
        headers: fetching === undefined ? response.headers : fetching.headersOf(response),
        status: response.status,
        // The URL the caller gave, unless fetch followed a redirect (or a patched fetch answered for
        // another): `response.url` is serialized anew at every read, and is only shown when a limit is.
        url:
          !(input instanceof Request) && !response.redirected && (fetching?.dispatched === true || response.url === '')
            ? input
            : response.url,
      };
      if (metered === undefined) {
        onResponse(heard, weight, undefined, key);
        return response;
      }
      const answer = { status: response.status, headers: response.headers, request: metered };
      if (metering.readsRefusals && refusesForRate(response.status)) {
        // What the refusal was for (tokens, a spent quota) decides its cooldown: read from a copy of
        // the body, so the caller still gets all of it.
        onResponse(heard, weight, metering.refusal(answer, await preview(response)) ?? {}, key);
      } else {
        onResponse(heard, weight, undefined, key);
      }
      const reader = metering.heard(answer, weight, scheduling.cost ?? null, key);
      return reader === undefined || response.body === null ? response : meteredResponse(response, reader, metering, context);
    }, scheduling);
  };
}

/**
 * The start of a response's body as text, from a copy (the response itself stays unread): as much, and
 * as long to wait for it, as an HttpError's preview.
 */
async function preview(response: Response): Promise<string> {
  const reader: ReadableStreamDefaultReader<Uint8Array> | undefined = response.clone().body?.getReader();
  if (reader === undefined) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const cutOff = setTimeout(() => void reader.cancel().catch(() => {}), PREVIEW_MAX_MS);
  try {
    while (size < BODY_PREVIEW_BYTES) {
      const next = await reader.read();
      if (next.done) break;
      chunks.push(next.value);
      size += next.value.byteLength;
    }
  } catch {
    // Cut off or failed: what came is enough.
  } finally {
    clearTimeout(cutOff);
    void reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).subarray(0, BODY_PREVIEW_BYTES).toString('utf8');
}

/**
 * The response with its body shown to the meter's reader as the caller reads it, chunk by chunk (not
 * held back); when it ends in full, the reading settles the request's cost. Its status, headers and
 * URL are the original's.
 */
function meteredResponse(response: Response, reader: UsageReader, metering: Metering, context: InternalTaskContext): Response {
  let watching: UsageReader | undefined = reader;
  const body = (response.body as ReadableStream<Uint8Array>).pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        watching = tapChunk(watching, chunk);
        controller.enqueue(chunk);
      },
      flush() {
        // After the task ended (it returned at the headers): the package's own late settle.
        metering.settle(watching, context);
      },
    }),
  );
  const metered = new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  for (const name of ['url', 'redirected', 'type'] as const) Object.defineProperty(metered, name, { value: response[name] });
  return metered;
}

export function isFetchInput(value: unknown): value is string | URL | Request {
  return typeof value === 'string' || value instanceof URL || value instanceof Request;
}

export function fetchInputError(value: unknown): TypeError {
  return new TypeError(`Expected \`input\` to be a URL string, URL or Request, got ${describe(value)}`);
}
