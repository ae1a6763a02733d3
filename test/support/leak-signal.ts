/**
 * A child process (run with `--expose-gc`, through tsx) for `test/reliability/leaks.test.ts`: does a
 * long-lived caller signal (a process-wide shutdown signal, say) keep anything per request?
 *
 * argv[2] is JSON: `{ base, requests, via, confirmAbove }`; `via` is `'client.fetch'`, `'get-undici'` or
 * `'get-fetch'`. Every request gets the same signal, which lives from before the baseline to the end.
 * A warm-up of 5 000 requests through a client that is then closed comes first (compiled code and
 * undici's own state are then in the baseline); then `requests` requests through a new client, in
 * batches of 50, which is closed and dropped; then the same again. What a request leaks grows with the
 * number of requests, so it shows between the two runs (`perRequest`), while one-time growth and the
 * measurement's own noise (up to ~1 MB seen on Node 22, from state the first run leaves to settle)
 * stay out of it.
 *
 * A growth over `confirmAbove` bytes is measured twice more, over a third and a fourth run, and the
 * median of the three growths counts: a leak grows with every run, while noise does not repeat (Node
 * 22 once showed 33 bytes a request between two runs, against a bound of 30, on a path that keeps
 * nothing; Node 20 once 1.1 MB then 74 KB, whose mean was over the bound). Not the smallest: Node 20's
 * AbortSignal.any() leak measured 78 then 36 bytes a request.
 *
 * Prints one line of JSON: `{ baseline, middle, after, growths, growth, perRequest, ms }` (bytes;
 * `growth` is the median of `growths`, `perRequest` that per request).
 */
import { RateLimitedClient } from '../../src/index.js';
import { settledHeap } from './leak-heap.js';

const { base, requests, via, confirmAbove } = JSON.parse(process.argv[2] as string) as {
  base: string;
  requests: number;
  via: 'client.fetch' | 'get-undici' | 'get-fetch';
  confirmAbove: number;
};

const BATCH = 50;
const WARM_UP = 5_000;

async function run(count: number, signal: AbortSignal): Promise<void> {
  const transport = via === 'get-undici' ? 'undici' : 'fetch';
  const client = new RateLimitedClient({ baseUrl: base, concurrency: 16, transport });
  const one = (): Promise<unknown> =>
    via === 'client.fetch'
      ? client.fetch(`${base}/ok`, { signal }).then((response) => response.arrayBuffer())
      : client.get('/ok', { signal }).then((response) => response.json());
  for (let done = 0; done < count; done += BATCH) {
    await Promise.all(Array.from({ length: Math.min(BATCH, count - done) }, one));
  }
  await client.close();
}

const shutdown = new AbortController();
await run(WARM_UP, shutdown.signal);
const baseline = await settledHeap();
const started = performance.now();
await run(requests, shutdown.signal);
const middle = await settledHeap();
await run(requests, shutdown.signal);
const after = await settledHeap();
const growths = [after - middle];
if (after - middle > confirmAbove) {
  let before = after;
  for (let again = 0; again < 2; again++) {
    await run(requests, shutdown.signal);
    const now = await settledHeap();
    growths.push(now - before);
    before = now;
  }
}
const ms = performance.now() - started;
// One growth, or the median of three.
const growth = [...growths].sort((a, b) => a - b)[growths.length >> 1] as number;
process.stdout.write(
  `${JSON.stringify({ baseline, middle, after, growths, growth, perRequest: growth / requests, ms: Math.round(ms), aborted: shutdown.signal.aborted })}\n`,
);
