/** One for every response: a decode without `stream` keeps no state between calls. */
const UTF8 = new TextDecoder();

/**
 * An HTTP response. By default its body was read in full inside the request's time limit and slot,
 * so no socket waits on the caller, and `json()`, `text()` and `arrayBuffer()` can be called more than
 * once. With `stream: true` the body arrives as it is read: `body` is the live stream (read it or
 * `cancel()` it: the request holds its slot until then), and the first `json()`/`text()`/
 * `arrayBuffer()` reads it all.
 */
export class HttpResponse {
  /** The status code, e.g. 200. */
  readonly status: number;
  /** The reason phrase the server sent, e.g. `'Not Found'`; empty when it sent none (HTTP/2 has none). */
  readonly statusText: string;
  /** True for a status in 200-299. */
  readonly ok: boolean;
  /** The final URL, after redirects, without any user:password part. */
  readonly url: string;
  /** The whole body, once read. */
  #bytes: Uint8Array | undefined;
  /** The live body of a streamed response, until it is handed out or read. */
  #stream: ReadableStream<Uint8Array> | undefined;
  /** The headers, or what makes them when first read (most callers never read them). */
  #headers: Headers | (() => Headers);

  /** `headers` may be a function that makes them, called once when they are first read. */
  constructor(
    status: number,
    statusText: string,
    headers: Headers | (() => Headers),
    url: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
  ) {
    this.status = status;
    this.statusText = statusText;
    this.ok = status >= 200 && status <= 299;
    this.#headers = headers;
    this.url = url;
    if (body instanceof Uint8Array) this.#bytes = body;
    else this.#stream = body;
  }

  /** The response headers, as the server sent them. */
  get headers(): Headers {
    const headers = this.#headers;
    if (typeof headers !== 'function') return headers;
    this.#headers = headers();
    return this.#headers;
  }

  // Bytes already read are used as they are: no await, so reading a buffered body costs no promise hop.
  /** The body decoded as UTF-8 (a streamed body is read to its end first). */
  async text(): Promise<string> {
    return UTF8.decode(this.#bytes ?? (await this.#read()));
  }

  /**
   * The body parsed as JSON (UTF-8), typed as `T` without any check; rejects with a `SyntaxError` when it
   * is not JSON (an empty body included).
   */
  async json<T = unknown>(): Promise<T> {
    return JSON.parse(UTF8.decode(this.#bytes ?? (await this.#read()))) as T;
  }

  /** A copy of exactly the body's bytes (the bytes may be a view on a larger, shared buffer). */
  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = await this.#read();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  /** The body as a stream: the live one of a streamed response (once), else a copy of the bytes. */
  get body(): ReadableStream<Uint8Array> {
    const stream = this.#stream;
    if (stream !== undefined) {
      this.#stream = undefined;
      return stream;
    }
    if (this.#bytes === undefined) throw new TypeError('The response body was already handed out as a stream');
    const bytes = this.#bytes;
    return new ReadableStream({
      start(controller) {
        if (bytes.byteLength > 0) controller.enqueue(new Uint8Array(bytes));
        controller.close();
      },
    });
  }

  async #read(): Promise<Uint8Array> {
    if (this.#bytes !== undefined) return this.#bytes;
    const stream = this.#stream;
    if (stream === undefined) throw new TypeError('The response body was already handed out as a stream');
    this.#stream = undefined;
    const chunks: Uint8Array[] = [];
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk);
    this.#bytes = Buffer.concat(chunks);
    return this.#bytes;
  }
}
