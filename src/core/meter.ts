// The meter contract: how an HTTP request's cost is estimated before it is sent and settled from its response.
import type { Cost } from './cost.js';

/** A request as a meter sees it, before it is sent. */
export interface MeterRequest {
  /** Upper case: `'POST'`. */
  readonly method: string;
  /** The full URL. */
  readonly url: string;
  /**
   * The body as text when the client can see it as text without consuming it: a JSON body, a string, or
   * bytes (decoded as UTF-8). Undefined for no body or a stream.
   */
  readonly body: string | undefined;
}

/** A response as a meter sees it, at its headers. */
export interface MeterResponse {
  /** The status code: `200`, `429`… */
  readonly status: number;
  /** The response's headers, as the server sent them. */
  readonly headers: Headers;
  /** The request it answers. */
  readonly request: MeterRequest;
}

/** What a server says is left of one currency until its quota resets. */
export interface CurrencyBudget {
  /** The currency: `'requests'`, `'tokens'`… A currency no window counts is ignored. */
  readonly counts: string;
  /** Units left until the reset (an integer >= 0). */
  readonly remaining: number;
  /** Milliseconds from now until the quota resets (> 0; a budget with no future reset is ignored). */
  readonly resetMs: number;
  /** The quota's size, when the server says it (`x-ratelimit-limit-tokens`). */
  readonly limit?: number | undefined;
  /**
   * True when the quota refills continuously, reaching `limit` at the reset (a token bucket: OpenAI's
   * and Anthropic's limits): the client then counts on what grows back before the reset. Otherwise
   * (a fixed window) nothing comes back until the reset.
   * @default false
   */
  readonly refills?: boolean | undefined;
}

/** Sees a response body as it passes and tells what the request really cost once it has ended. */
export interface UsageReader {
  /**
   * One chunk of the body, as it passes to the caller. Must be quick and must not throw (a throw is
   * ignored, and the reader is not called again): the chunk is not held back for it.
   */
  chunk(bytes: Uint8Array): void;
  /**
   * The body has ended in full: the actual cost, or undefined to keep the estimate. It replaces the
   * estimate currency by currency (as `context.setCost()` does): a currency it does not name keeps its estimate.
   */
  end(): Cost | undefined;
}

/** What a refusal (429, 503) was for, read from its body. */
export interface MeterRefusal {
  /**
   * The currencies whose rate was exceeded: the cooldown holds only work that costs in them (a task
   * that costs no tokens is not held by a token cooldown). Undefined: every request.
   */
  readonly counts?: readonly string[] | undefined;
  /**
   * Set when waiting can not help (a spent quota, a spend cap: OpenAI's `insufficient_quota`): the
   * request is not retried and no cooldown starts; the text says why, in the error.
   */
  readonly fatal?: string | undefined;
}

/**
 * How an HTTP API bills: a plain object with these hooks, given to the client as `meter`
 * (`rate-limited-client/meters` has `openai()` and `anthropic()`). `request()`, `client.fetch` and
 * the `rateLimit()` interceptor call it for every request they send. Every hook but `estimate` is
 * optional. A hook that throws is treated as one that returned undefined: a meter can not fail a
 * request.
 */
export interface Meter {
  /**
   * What the request will cost, before it is sent: it waits for room for this in every window. A cost
   * the caller gave itself (`cost` option) wins, currency by currency. Currencies no window counts are
   * dropped (a meter names what its API bills; the client counts what it is configured to).
   */
  estimate(request: MeterRequest): Cost | undefined;
  /** The server's remaining budget per currency, from the response's headers. */
  budgets?(response: MeterResponse): readonly CurrencyBudget[] | undefined;
  /** A reader that settles the request's real cost from its body (its `usage`). */
  usage?(response: MeterResponse): UsageReader | undefined;
  /** Called for a refused response (429 or 503) with the start of its body: what the refusal was for. */
  refusal?(response: MeterResponse, body: string): MeterRefusal | undefined;
}
