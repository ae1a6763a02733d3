// Following redirects: which answer is one, where it may lead, and what a hop keeps of the request.
import type { PreparedRequest, RequestDefaults } from './prepare-request.js';
import { isInsideBase } from './prepare-request.js';
import type { TransportResponse } from './transport.js';

/** Hops followed before a 3xx is returned as the answer (undici's redirect interceptor default too). */
export const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** An attempt that answered with a redirect to follow: the next hop, as a request of its own. */
export class Redirect {
  readonly next: PreparedRequest;

  constructor(next: PreparedRequest) {
    this.next = next;
  }
}

interface RedirectOptions extends RequestDefaults {
  readonly secretHeaders: ReadonlySet<string>;
}

/**
 * The request to send for a redirect response, or undefined when it is not one to follow: no
 * `Location`, not http(s), or (without `allowAbsoluteUrls`) a target outside `baseUrl`. Like fetch:
 * 303, and 301/302 after a POST, become a GET without body; 307/308 keep method and body. Unlike
 * fetch, every secret header (not only `authorization`) is dropped when the origin changes.
 */
export function redirectTarget(
  request: PreparedRequest,
  response: TransportResponse,
  options: RedirectOptions,
): PreparedRequest | undefined {
  if (!REDIRECT_STATUSES.has(response.status)) return undefined;
  const location = response.headers.get('location');
  if (location === null) return undefined;
  let url: URL;
  try {
    url = new URL(location, response.url);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username !== '' || url.password !== '') return undefined;
  if (!options.allowAbsoluteUrls && options.baseUrl !== undefined && !isInsideBase(url, options.baseUrl)) return undefined;

  const headers = { ...request.headers };
  // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- headers are a plain record, the form fetch and undici take
  if (url.origin !== request.url.origin) for (const name of options.secretHeaders) delete headers[name];
  const becomesGet = response.status === 303 || ((response.status === 301 || response.status === 302) && request.method === 'POST');
  if (becomesGet && request.method !== 'HEAD') {
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- as above
    for (const name of ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location']) delete headers[name];
    return { method: 'GET', url, headers, body: undefined };
  }
  return { method: request.method, url, headers, body: request.body };
}
