// Whether a failed attempt is retried, and after how long (backoff, Retry-After, a quota's reset).
import { HttpError } from '../errors/http-error.js';
import { NetworkError } from '../errors/network-error.js';
import { TimeoutError } from '../errors/timeout-error.js';
import { serverSaysRetry } from './rate-limit-headers.js';
import { backoffDelay, type NormalizedRetry } from './retry-options.js';

/**
 * How long to wait before retrying a failed attempt, or undefined when it must not be retried:
 * - the policy is off, or its retries are used up;
 * - the method is not safe to repeat (POST and PATCH only with an idempotency key);
 * - the client's meter said waiting can not help (`HttpError.fatal`: a spent quota);
 * - the server said `x-should-retry: false` (or `true`, which retries any status);
 * - the failure is not a retryable status (a 403 with a wait counts as a 429), network error or attempt timeout;
 * - the server asked to wait longer than `maxRetryAfterMs` (the error carries the wait).
 * A server's Retry-After wins over the backoff.
 */
export function retryDelay(
  policy: NormalizedRetry | false,
  error: unknown,
  method: string,
  hasIdempotencyKey: boolean,
  retried: number,
): number | undefined {
  if (policy === false || retried >= policy.retries) return undefined;
  if (!hasIdempotencyKey && !policy.methods.has(method)) return undefined;
  if (error instanceof HttpError) {
    if (error.fatal !== undefined) return undefined;
    const said = serverSaysRetry(error.response.headers);
    // A 403 that carries a wait is a rate-limit refusal (GitHub's), retried as a 429 would be.
    const rateRefusal = error.status === 403 && error.retryAfterMs !== undefined && policy.statusCodes.has(429);
    if (said === false || (said !== true && !policy.statusCodes.has(error.status) && !rateRefusal)) return undefined;
    if (error.retryAfterMs !== undefined) return error.retryAfterMs > policy.maxRetryAfterMs ? undefined : error.retryAfterMs;
  } else if (error instanceof NetworkError) {
    if (error.causeCode === undefined || !policy.errorCodes.has(error.causeCode)) return undefined;
  } else if (!(error instanceof TimeoutError && error.phase === 'run')) {
    return undefined;
  }
  return backoffDelay(policy, retried + 1);
}
