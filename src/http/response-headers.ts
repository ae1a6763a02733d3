// Response headers as undici hands them to a dispatch handler, read in place; WHATWG Headers only on demand.
import type { HeaderReader } from '../retry/rate-limit-headers.js';

/** undici's parsed response headers (its `IncomingHttpHeaders`). */
export type IncomingHttpHeaders = Record<string, string | string[] | undefined>;

/**
 * undici's parsed headers (lower-case names, a repeated header as an array), read where they are: most
 * responses are only asked for a name or two (a redirect's `location`, the rate-limit names), and a
 * WHATWG `Headers` costs an object, a sorted list and a validation of every name and value. It is made
 * the first time the caller reads `response.headers` (or an error or a meter needs one).
 */
export class ResponseHeaders implements HeaderReader {
  readonly #raw: IncomingHttpHeaders;
  #headers: Headers | undefined = undefined;

  constructor(raw: IncomingHttpHeaders) {
    this.#raw = raw;
  }

  /** As `Headers#get`: repeated values joined with `, `; null when absent. `name` must be lower-case. */
  get(name: string): string | null {
    // undici's object has Object's prototype: a name such as `constructor` finds a function, not a header.
    const value: unknown = this.#raw[name];
    if (typeof value === 'string') return value;
    return Array.isArray(value) ? value.join(', ') : null;
  }

  keys(): Iterable<string> {
    return Object.keys(this.#raw);
  }

  /** The same headers as WHATWG Headers, made once. A value Headers refuses is left out rather than thrown. */
  toHeaders(): Headers {
    if (this.#headers !== undefined) return this.#headers;
    const headers = new Headers();
    for (const [name, value] of Object.entries(this.#raw)) {
      if (value === undefined) continue;
      for (const item of Array.isArray(value) ? value : [value]) {
        try {
          headers.append(name, item);
        } catch {
          // undici's parser let it through and Headers does not: the caller can not have it either way.
        }
      }
    }
    this.#headers = headers;
    return headers;
  }
}
