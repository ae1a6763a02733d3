/**
 * `npm run bench`: the figures the targets are checked against, printed with pass/miss.
 * This first version measures this library alone; the side-by-side run against the peers
 * (p-queue, p-throttle, Bottleneck, limiter) is issue 6.
 */
import { RateLimitedClient } from '../src/index.js';
import { maxInAnyWindow, startTimesOf, utilisation } from '../examples/support/window-count.js';
import { redisBench } from './redis.js';

const verdict = (ok: boolean) => (ok ? 'pass' : 'MISS');

async function windowKeeping(): Promise<void> {
  console.log('\n## Window keeping: limit 20 per 100 ms, concurrency 8, 600 tasks of ~2 ms (3 runs)');
  console.log('target: 0 over the limit and utilisation >= 0.99\n');
  console.log('run | most starts in any 100 ms | utilisation | verdict');
  for (let run = 1; run <= 3; run++) {
    const client = new RateLimitedClient({ rateLimit: { limit: 20, windowMs: 100 }, concurrency: 8 });
    const starts = await startTimesOf(client, 600, 2);
    await client.close();
    const most = maxInAnyWindow([...starts], 100);
    const used = utilisation(starts, 20, 100);
    console.log(`${run}   | ${most}                         | ${used.toFixed(4)}      | ${verdict(most <= 20 && used >= 0.99)}`);
  }
}

async function overhead(label: string, tasks: number, priorities: number): Promise<void> {
  const client = new RateLimitedClient({ concurrency: 8 });
  const noop = async () => {};
  const begin = performance.now();
  const all: Array<Promise<void>> = new Array(tasks);
  for (let i = 0; i < tasks; i++) all[i] = client.schedule(noop, priorities > 1 ? { priority: i % priorities } : undefined);
  await Promise.all(all);
  const seconds = (performance.now() - begin) / 1000;
  const rate = tasks / seconds;
  console.log(`${label.padEnd(28)} | ${Math.round(rate).toLocaleString('en-US').padStart(12)} tasks/s | ${verdict(rate >= 1_000_000)}`);
}

console.log(`# rate-limited-client benchmark — node ${process.version}, ${process.platform}/${process.arch}`);
console.log('\n## Scheduling overhead: no-op async tasks, concurrency 8 (target >= 1M tasks/s)\n');
await overhead('warm-up', 50_000, 1);
await overhead('200k tasks, one priority', 200_000, 1);
await overhead('200k tasks, 10 priorities', 200_000, 10);
await windowKeeping();
await redisBench(verdict);
