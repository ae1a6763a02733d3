// Preparing a request: URL resolution inside baseUrl, query strings, headers and bodies, checked once.
import { describe } from '../core/validate.js';
import { displayUrlText } from './secrets.js';
import type { BodyInit, HeadersInit, HttpMethod, QueryInit, RequestOptions } from './options.js';

/** A request ready for a transport: everything validated, URL resolved, body encoded. */
export interface PreparedRequest {
  readonly method: HttpMethod;
  readonly url: URL;
  /** Lower-case names. */
  readonly headers: Record<string, string>;
  readonly body: string | Uint8Array | undefined;
}

const METHODS: readonly HttpMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
// RFC 9110 token characters.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// A value must not be able to end the header line or start a new one.
export const FORBIDDEN_IN_VALUE = /[\r\n\0]/;
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
// C0 controls and space: what the URL parser trims or removes from a reference before reading it.
const CONTROL_OR_SPACE = /[\0-\x20]/;

/** Lower-cases and checks header names and values; `undefined` drops a header. */
export function normalizeHeaders(
  name: string,
  headers: HeadersInit | undefined,
  into: Record<string, string> = {},
): Record<string, string> {
  if (headers === undefined) return into;
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a JavaScript caller may pass null
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
    throw new TypeError(`Expected \`${name}\` to be an object of header names and values, got ${describe(headers)}`);
  }
  for (const [key, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(key)) throw new TypeError(`Invalid header name in \`${name}\`: ${JSON.stringify(key)}`);
    const lower = key.toLowerCase();
    if (value === undefined) {
      // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- headers are a plain record, the form fetch and undici take
      delete into[lower];
      continue;
    }
    if (typeof value !== 'string' && typeof value !== 'number') {
      // Only its type is shown: the value may be a credential.
      throw new TypeError(`Expected header \`${lower}\` in \`${name}\` to be a string or number, got a value of type ${kindOf(value)}`);
    }
    const text = String(value);
    // The value itself is never shown: it may be a credential.
    if (FORBIDDEN_IN_VALUE.test(text)) throw new TypeError(`Header \`${lower}\` in \`${name}\` contains CR, LF or NUL`);
    into[lower] = text;
  }
  return into;
}

/** Parses and checks `baseUrl`: http or https, no query or fragment. */
export function normalizeBaseUrl(value: unknown): URL | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' && !(value instanceof URL)) {
    throw new TypeError(`Expected \`baseUrl\` to be a URL string or URL, got ${describe(value)}`);
  }
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw new TypeError(`Expected \`baseUrl\` to be an absolute http(s) URL, got ${describe(displayUrlText(String(value)))}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`Expected \`baseUrl\` to be an http or https URL, got ${describe(url.protocol)}`);
  }
  if (url.search || url.hash || /[?#]/.test(String(value))) throw new TypeError('Expected `baseUrl` without a query or fragment');
  // fetch refuses such URLs, undici drops the credentials silently; neither may end up in a message.
  if (url.username || url.password) {
    throw new TypeError('Expected `baseUrl` without user:password credentials; send them in the `authorization` header');
  }
  return url;
}

/**
 * Resolves a request path. With a `baseUrl`, the path is appended to it and may not leave it: not by
 * naming another URL (`http://other/`, `//other/x`), and not by climbing out of its path (`/../`),
 * unless `allowAbsoluteUrls` is set. Checked on the parsed result, so encodings can not slip past.
 */
export function resolveUrl(path: unknown, baseUrl: URL | undefined, allowAbsoluteUrls: boolean): URL {
  if (typeof path !== 'string') throw new TypeError(`Expected \`path\` to be a string, got ${describe(path)}`);
  const absolute = SCHEME.test(path) || path.startsWith('//') || path.startsWith('\\\\');
  if (baseUrl === undefined || (absolute && allowAbsoluteUrls)) {
    let url: URL;
    try {
      url = new URL(path, baseUrl); // with a base, a protocol-relative `//host/x` takes its scheme
    } catch {
      throw new TypeError(
        `Expected \`path\` to be an absolute http(s) URL when the client has no \`baseUrl\`, got ${describe(displayUrlText(path))}`,
      );
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`Expected \`path\` to be an http or https URL, got ${describe(url.protocol)}`);
    }
    if (url.username || url.password) {
      throw new TypeError('Expected `path` without user:password credentials; send them in the `authorization` header');
    }
    return url;
  }
  if (absolute) {
    throw new TypeError(
      `Refused \`path\` ${describe(displayUrlText(path))}: it names another URL than \`baseUrl\` (set \`allowAbsoluteUrls: true\` to allow that)`,
    );
  }
  const relative = path.replace(/^[/\\]+/, '');
  // Appending a relative reference to a base that ends in '/' and has no query or fragment, then
  // parsing once, gives the same URL as resolving it against the base (which parses the base again).
  // Not for a reference that starts with a scheme (`a:b` is a URL of its own, refused below), nor one
  // with a space or control character: those are trimmed from its ends, and tab and newline removed
  // before its first character decides its kind, which only the two-argument form does.
  const url =
    SCHEME.test(relative) || CONTROL_OR_SPACE.test(relative)
      ? new URL(relative, withTrailingSlash(baseUrl))
      : new URL(withTrailingSlash(baseUrl) + relative);
  if (!isInsideBase(url, baseUrl) || url.username || url.password) {
    throw new TypeError(`Refused \`path\` ${describe(displayUrlText(path))}: it resolves outside \`baseUrl\``);
  }
  return url;
}

function withTrailingSlash(baseUrl: URL): string {
  return baseUrl.href.endsWith('/') ? baseUrl.href : `${baseUrl.href}/`;
}

/** Same origin, and at or below the base path. */
export function isInsideBase(url: URL, baseUrl: URL): boolean {
  // The base has no query or fragment, so its path with a trailing '/' is what parsing its href with
  // one would give.
  const basePath = baseUrl.pathname.endsWith('/') ? baseUrl.pathname : `${baseUrl.pathname}/`;
  return url.origin === baseUrl.origin && url.pathname.startsWith(basePath);
}

export function appendQuery(url: URL, query: QueryInit | undefined): void {
  if (query === undefined) return;
  if (query instanceof URLSearchParams) {
    for (const [key, value] of query) url.searchParams.append(key, value);
    return;
  }
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a JavaScript caller may pass null
  if (typeof query !== 'object' || query === null || Array.isArray(query)) {
    throw new TypeError(`Expected \`query\` to be an object or URLSearchParams, got ${describe(query)}`);
  }
  for (const [key, value] of Object.entries(query)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item === undefined || item === null) continue;
      if (typeof item !== 'string' && typeof item !== 'number' && typeof item !== 'boolean') {
        throw new TypeError(`Expected \`query.${key}\` to be a string, number or boolean, got ${describe(item)}`);
      }
      url.searchParams.append(key, String(item));
    }
  }
}

function encodeBody(body: BodyInit, headers: Record<string, string>): string | Uint8Array {
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (body instanceof URLSearchParams) {
    headers['content-type'] ??= 'application/x-www-form-urlencoded;charset=UTF-8';
    return body.toString();
  }
  throw new TypeError(`Expected \`body\` to be a string, Uint8Array, ArrayBuffer or URLSearchParams, got ${describe(body)}`);
}

export interface RequestDefaults {
  readonly baseUrl: URL | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly allowAbsoluteUrls: boolean;
}

export function prepareRequest(options: RequestOptions, defaults: RequestDefaults): PreparedRequest {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-conversion -- a JavaScript caller may pass a non-string
  const method = String(options.method ?? 'GET').toUpperCase() as HttpMethod;
  if (!METHODS.includes(method)) {
    throw new TypeError(`Expected \`method\` to be one of ${METHODS.join(', ')}, got ${describe(options.method)}`);
  }
  const url = resolveUrl(options.path, defaults.baseUrl, defaults.allowAbsoluteUrls);
  appendQuery(url, options.query);
  const headers = normalizeHeaders('headers', options.headers, { ...defaults.headers });
  if (options.idempotencyKey !== undefined) {
    if (typeof options.idempotencyKey !== 'string' || options.idempotencyKey === '' || FORBIDDEN_IN_VALUE.test(options.idempotencyKey)) {
      throw new TypeError('Expected `idempotencyKey` to be a non-empty string without CR, LF or NUL');
    }
    headers['idempotency-key'] = options.idempotencyKey;
  }
  let body: string | Uint8Array | undefined;
  if (options.json !== undefined) {
    if (options.body !== undefined) throw new TypeError('Give either `json` or `body`, not both');
    body = JSON.stringify(options.json);
    headers['content-type'] ??= 'application/json';
  } else if (options.body !== undefined) {
    body = encodeBody(options.body, headers);
  }
  if (body !== undefined && (method === 'GET' || method === 'HEAD')) {
    throw new TypeError(`A ${method} request can not have a body`);
  }
  return { method, url, headers, body };
}

/** A value's kind for a message that must not show the value itself. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}
