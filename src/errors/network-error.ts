// NetworkError: a request that got no response (connection refused or reset, DNS), with the cause's code.
import { isBranded } from './brand.js';
import { RateLimitedClientError } from './rate-limited-client-error.js';

const kNetworkError = Symbol.for('rate-limited-client.error.NetworkError');

/**
 * The request got no HTTP answer: the connection was refused or reset, the host did not resolve, the
 * socket closed early. `cause` is the transport's own error; `causeCode` its code, e.g. `ECONNRESET`.
 */
export class NetworkError extends RateLimitedClientError {
  /** `instanceof` that works across two copies of this package (CJS and ESM, or two versions): it checks the brand. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(value, kNetworkError);
  }

  /** `'NetworkError'`; its `code` is `'RLC_ERR_NETWORK'`. */
  override name = 'NetworkError';
  /** The request method, upper-case (`'GET'`). */
  readonly method: string;
  /** The request URL, without any user:password part. */
  readonly url: string;
  /**
   * The transport's error code, found on `cause` or up to three `cause`s below it (fetch wraps the
   * socket's error): `'ECONNRESET'`, `'ENOTFOUND'`, `'UND_ERR_SOCKET'`… Undefined when none has one.
   * `retry.errorCodes` is matched against it.
   */
  readonly causeCode: string | undefined;

  constructor(method: string, url: string, cause: unknown) {
    const code = findCode(cause);
    super(`Request failed without a response${code ? ` (${code})` : ''}: ${method} ${url}`, 'RLC_ERR_NETWORK', { cause });
    this.method = method;
    this.url = url;
    this.causeCode = code;
    Object.defineProperty(this, kNetworkError, { value: true });
  }
}

/** fetch wraps the socket error in `cause` ("fetch failed"); undici's own errors carry `code`. */
function findCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
