import { startLocalServer } from './local-server.js';
import { ServerQuota } from './server-quota.js';
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
 * An in-process HTTP API with an exact sliding-window quota (see ServerQuota), counted when a request
 * *arrives*, not when the client sent it; 429 with `Retry-After` beyond it. Every path answers 200 with
 * `{ id, served }`, `id` being the path's last segment.
 */
export async function startMockApi({ limit, windowMs, rateLimitHeaders = false }: MockApiOptions): Promise<MockApi> {
  const quota = new ServerQuota(limit, windowMs);
  let served = 0;
  const server = await startLocalServer((req, res, _inProgress, { at: now }) => {
    req.resume(); // no body is expected, but an unread one would stall the keep-alive socket
    const allowed = quota.take(now);
    // Seconds until the oldest request in the window leaves it (and a slot frees).
    const untilFreeS = quota.untilFree(now) / 1000;
    const remaining = quota.remaining(now);
    const quotaHeaders: Record<string, string> =
      rateLimitHeaders === 'x-ratelimit'
        ? { 'x-ratelimit-limit': String(limit), 'x-ratelimit-remaining': String(remaining), 'x-ratelimit-reset': untilFreeS.toFixed(3) }
        : rateLimitHeaders === 'ietf'
          ? {
              ratelimit: `"quota";r=${remaining};t=${Math.ceil(untilFreeS)}`,
              'ratelimit-policy': `"quota";q=${limit};w=${windowMs / 1000}`,
            }
          : {};
    if (!allowed) {
      const retryAfterS = Math.max(1, Math.ceil(untilFreeS));
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(retryAfterS), ...quotaHeaders });
      res.end(JSON.stringify({ error: 'rate limit exceeded' }));
      return;
    }
    served++;
    const id = (req.url ?? '/').split('/').pop() ?? '';
    res.writeHead(200, { 'content-type': 'application/json', ...quotaHeaders });
    res.end(JSON.stringify({ id, served }));
  });

  return {
    url: server.url,
    arrivals: () => server.arrivals.map((arrival) => arrival.at),
    statuses: () => server.arrivals.map((arrival) => arrival.status),
    paths: () => server.arrivals.map((arrival) => arrival.path),
    maxInAnyWindow: (span: number) =>
      maxInAnyWindow(
        server.arrivals.map((arrival) => arrival.at),
        span,
      ),
    close: () => server.close(),
  };
}
