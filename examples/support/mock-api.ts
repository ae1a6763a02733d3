import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { maxInAnyWindow } from './window-count.js';

export interface MockApiOptions {
  /** Most requests served in any sliding window of `windowMs`. */
  limit: number;
  windowMs: number;
  /**
   * Also describe the quota on every answer: `'x-ratelimit'` sends `X-RateLimit-Limit`, `-Remaining`
   * and `-Reset` (seconds until a slot frees), as GitHub-style APIs do; `'ietf'` sends the IETF
   * draft's `RateLimit` and `RateLimit-Policy`. Without it, only a 429 says anything (`Retry-After`).
   */
  rateLimitHeaders?: 'x-ratelimit' | 'ietf' | false;
}

export interface MockApi {
  /** Base URL, e.g. `http://127.0.0.1:54321`. */
  url: string;
  /** Arrival time (performance.now()) of every request, in arrival order. */
  arrivals(): number[];
  /** HTTP status answered to every request, in the same order as `arrivals()`. */
  statuses(): number[];
  /** Request path of every request, in the same order as `arrivals()`. */
  paths(): string[];
  /** The most arrivals (served or not) in any half-open interval [t, t + windowMs). */
  maxInAnyWindow(windowMs: number): number;
  close(): Promise<void>;
}

/**
 * An in-process HTTP API with an exact sliding-window quota, as a strict real API would enforce it:
 * a request is counted when it *arrives* (not when the client sent it), and it is refused with 429
 * when `limit` requests were already served in the last `windowMs`. Only served requests use quota,
 * so a client that gets refused is not punished twice.
 */
export async function startMockApi({ limit, windowMs, rateLimitHeaders = false }: MockApiOptions): Promise<MockApi> {
  const arrivals: number[] = [];
  const statuses: number[] = [];
  const paths: string[] = [];
  // Times of served requests; `live` is the index of the first one still inside the window.
  const served: number[] = [];
  let live = 0;

  const server = createServer((req, res) => {
    // Timestamp first: anything done before it would shift the arrival later and hide bursts.
    const now = performance.now();
    req.resume(); // no body is expected, but an unread one would stall the keep-alive socket
    // Same boundary rule as the client: a request exactly `windowMs` after another is allowed.
    while (live < served.length && (served[live] as number) + windowMs <= now) live++;
    arrivals.push(now);
    paths.push(req.url ?? '/');

    // Seconds until the oldest request in the window leaves it (and a slot frees).
    const untilFree = () => (live < served.length ? Math.max(0, ((served[live] as number) + windowMs - now) / 1000) : 0);
    const quotaHeaders = (): Record<string, string> => {
      const remaining = Math.max(0, limit - (served.length - live));
      if (rateLimitHeaders === 'x-ratelimit') {
        return { 'x-ratelimit-limit': String(limit), 'x-ratelimit-remaining': String(remaining), 'x-ratelimit-reset': untilFree().toFixed(3) };
      }
      if (rateLimitHeaders === 'ietf') {
        return {
          ratelimit: `"quota";r=${remaining};t=${Math.ceil(untilFree())}`,
          'ratelimit-policy': `"quota";q=${limit};w=${windowMs / 1000}`,
        };
      }
      return {};
    };
    if (served.length - live >= limit) {
      statuses.push(429);
      const retryAfterS = Math.max(1, Math.ceil(untilFree()));
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(retryAfterS), ...quotaHeaders() });
      res.end(JSON.stringify({ error: 'rate limit exceeded' }));
      return;
    }
    served.push(now);
    statuses.push(200);
    const id = (req.url ?? '/').split('/').pop() ?? '';
    res.writeHead(200, { 'content-type': 'application/json', ...quotaHeaders() });
    res.end(JSON.stringify({ id, served: served.length }));
  });

  // Port 0: the OS picks a free port, so the demo never collides with anything running.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    arrivals: () => [...arrivals],
    statuses: () => [...statuses],
    paths: () => [...paths],
    maxInAnyWindow: (span: number) => maxInAnyWindow([...arrivals], span),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // fetch keeps sockets alive for reuse; without this, close() would wait for them to time out.
        server.closeAllConnections();
      }),
  };
}
