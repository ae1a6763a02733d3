// A fetch response's headers as undici handed them to fetch's dispatch handler, read without WHATWG Headers.
import { util } from 'undici';
import type { HeaderReader } from '../retry/rate-limit-headers.js';

/**
 * The raw header lines of a response (`[name, value, name, value, …]`, as undici passes them to a
 * handler's `onHeaders`), for what the client itself reads of every response: the rate-limit names and
 * a redirect's `location`. Listing the names of a fetch `Response`'s `Headers` sorts them into a new
 * list of pairs each time (~0.9 KB a response); this lower-cases each name once, when first asked,
 * as fetch does (undici's table of well-known names first).
 * Values are decoded as fetch decodes them (latin1), and a repeated header joined with `, ` as
 * `Headers#get` joins it.
 */
export class RawHeaders implements HeaderReader {
  readonly #raw: ReadonlyArray<Buffer | string>;
  /** The lower-case names, at the even indexes of `#raw` halved; made on first use. */
  #names: string[] | undefined = undefined;

  constructor(raw: ReadonlyArray<Buffer | string>) {
    this.#raw = raw;
  }

  keys(): Iterable<string> {
    return this.#lowerNames();
  }

  /** As `Headers#get`; `name` must be lower-case. */
  get(name: string): string | null {
    const names = this.#lowerNames();
    let value: string | null = null;
    for (let i = 0; i < names.length; i++) {
      if (names[i] !== name) continue;
      const item = latin1(this.#raw[2 * i + 1]);
      value = value === null ? item : `${value}, ${item}`;
    }
    return value;
  }

  #lowerNames(): string[] {
    if (this.#names !== undefined) return this.#names;
    const raw = this.#raw;
    const names = new Array<string>(raw.length >> 1);
    // undici's own lookup: a well-known name (date, content-type, …) costs no decoding at all.
    for (let i = 0; i < names.length; i++) names[i] = util.headerNameToString(raw[2 * i] ?? '');
    this.#names = names;
    return names;
  }
}

function latin1(value: Buffer | string | undefined): string {
  if (value === undefined) return '';
  return typeof value === 'string' ? value : value.toString('latin1');
}
