// HttpError: a response outside 200-299, with its status, method, URL, redacted headers and a body preview.
import type { HttpResponse } from '../http/response.js';
import { isBranded } from './brand.js';
import { RateLimitedClientError } from './rate-limited-client-error.js';

const kHttpError = Symbol.for('rate-limited-client.error.HttpError');

/**
 * The server answered with a status outside 200-299 (after any retries). Carries what a caller needs
 * to decide what to do, and nothing secret: response headers that set cookies or that the client
 * marks secret are redacted, and no request header is kept at all.
 */
export class HttpError extends RateLimitedClientError {
  /** `instanceof` that works across two copies of this package (CJS and ESM, or two versions): it checks the brand. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(value, kHttpError);
  }

  /** `'HttpError'`; its `code` is `'RLC_ERR_HTTP'`. */
  override name = 'HttpError';
  /** The response's status code, e.g. 404. */
  readonly status: number;
  /** The request method, upper-case (`'GET'`). */
  readonly method: string;
  /** The request URL, without any user:password part. */
  readonly url: string;
  /** Response headers, lower-case names, secret values redacted. */
  readonly headers: Record<string, string>;
  /** The start of the response body as text, at most `BODY_PREVIEW_BYTES` bytes. */
  readonly bodyPreview: string;
  /** How long the server asked to wait (Retry-After), when it did. */
  readonly retryAfterMs: number | undefined;
  /**
   * Why waiting can not help, when the client's meter said so (a spent quota: OpenAI's
   * `insufficient_quota`, an Anthropic spend cap). Such an error is never retried.
   */
  readonly fatal: string | undefined;
  /** The full response (not enumerable, so logging the error does not dump it). */
  declare readonly response: HttpResponse;

  constructor(
    response: HttpResponse,
    method: string,
    headers: Record<string, string>,
    bodyPreview: string,
    retryAfterMs?: number,
    fatal?: string,
  ) {
    const statusText = response.statusText ? ` ${response.statusText}` : '';
    const why = fatal === undefined ? '' : `. ${fatal} (not retried)`;
    super(`Request failed with status code ${response.status}${statusText}: ${method} ${response.url}${why}`, 'RLC_ERR_HTTP');
    this.fatal = fatal;
    this.status = response.status;
    this.method = method;
    this.url = response.url;
    this.headers = headers;
    this.bodyPreview = bodyPreview;
    this.retryAfterMs = retryAfterMs;
    Object.defineProperty(this, 'response', { value: response, enumerable: false });
    Object.defineProperty(this, kHttpError, { value: true });
  }
}
