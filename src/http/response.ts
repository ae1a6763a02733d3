/**
 * A response whose body has been read in full (inside the request's time limit and its slot), so no
 * socket is left waiting on the caller. `json()`, `text()` and `arrayBuffer()` can be called more than
 * once; `body` gives it as a stream.
 */
export class HttpResponse {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly headers: Headers;
  /** The final URL, after redirects, without any user:password part. */
  readonly url: string;
  readonly #bytes: Uint8Array;

  constructor(status: number, statusText: string, headers: Headers, url: string, bytes: Uint8Array) {
    this.status = status;
    this.statusText = statusText;
    this.ok = status >= 200 && status <= 299;
    this.headers = headers;
    this.url = url;
    this.#bytes = bytes;
  }

  async text(): Promise<string> {
    return new TextDecoder().decode(this.#bytes);
  }

  async json<T = unknown>(): Promise<T> {
    return JSON.parse(await this.text()) as T;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    return this.#bytes.slice().buffer;
  }

  get body(): ReadableStream<Uint8Array> {
    const bytes = this.#bytes;
    return new ReadableStream({
      start(controller) {
        if (bytes.byteLength > 0) controller.enqueue(bytes.slice());
        controller.close();
      },
    });
  }
}
