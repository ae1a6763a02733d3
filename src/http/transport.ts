// The transport contract both transports implement, and the body helpers they share.
import type { HeaderReader } from '../retry/rate-limit-headers.js';
import type { AttemptStop, StopListener } from './attempt-stop.js';
import type { PreparedRequest } from './prepare-request.js';

/** What a transport returns once the response headers have arrived. */
export interface TransportResponse {
  readonly status: number;
  readonly statusText: string;
  /** The headers as the HTTP layer reads them (lower-case names). */
  readonly headers: HeaderReader;
  /** The headers as WHATWG Headers, for the caller, an error or a meter (made on the first call where the transport has none). */
  webHeaders(): Headers;
  /** The final URL (after redirects). */
  readonly url: URL;
  readonly body: AsyncIterable<Uint8Array> | null;
  /** Reads the whole body, instead of iterating `body` (each transport has its cheapest way). */
  bytes(): Promise<Uint8Array>;
  /**
   * Drops the body and the connection under it, at once, as an abort would, but without stopping the
   * attempt: a read in progress fails (with `reason`, or an AbortError). Does nothing once the body has
   * ended or was dropped.
   */
  discard(reason?: unknown): void;
}

/** Sends one request; the attempt's `stop` aborts it, also while its body is read. */
export interface Transport {
  send(request: PreparedRequest, stop: AttemptStop): Promise<TransportResponse>;
}

/**
 * Reads at most `limit` bytes and abandons the rest: leaving the loop early cancels a web stream and
 * destroys a Node stream, so a huge error body is neither kept in memory nor left on the socket.
 */
export async function readPrefix(body: AsyncIterable<Uint8Array> | null, limit: number): Promise<Uint8Array> {
  if (body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of body) {
    chunks.push(chunk.subarray(0, limit - length));
    length += Math.min(chunk.byteLength, limit - length);
    if (length >= limit) break;
  }
  return concat(chunks, length);
}

function concat(chunks: Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/**
 * Wraps a body as a web stream that tells `onSettled` once it has ended, failed or been cancelled, or
 * the attempt was stopped (it timed out): a streamed request holds its slot until then. A stop
 * errors the stream, so a reader who comes later learns why, and releases the source at once, even
 * when nobody was reading it. Cancelling calls `abort`, which must abort the request: waiting for the
 * source to end could wait forever on a server that went quiet.
 */
export function watchedStream(
  body: AsyncIterable<Uint8Array> | null,
  stop: AttemptStop,
  onSettled: () => void,
  abort: (reason: unknown) => void,
): ReadableStream<Uint8Array> {
  const iterator = (body ?? emptyBody())[Symbol.asyncIterator]();
  let done = false;
  const watcher: StopListener = { onStop: () => {} };
  const settle = () => {
    if (done) return;
    done = true;
    stop.off(watcher);
    onSettled();
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      watcher.onStop = (reason) => {
        controller.error(reason);
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a hand-written iterator's return() may return nothing
        void iterator.return?.()?.catch(() => {});
        settle();
      };
      stop.on(watcher);
    },
    async pull(controller) {
      try {
        const next = await iterator.next();
        if (done) return;
        if (next.done) {
          controller.close();
          settle();
        } else {
          controller.enqueue(next.value);
        }
      } catch (error) {
        if (done) return;
        controller.error(error);
        settle();
      }
    },
    cancel(reason) {
      settle();
      abort(reason ?? new DOMException('The response body was cancelled', 'AbortError'));
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- as above
      void iterator.return?.()?.catch(() => {});
    },
  });
}

async function* emptyBody(): AsyncGenerator<Uint8Array> {}
