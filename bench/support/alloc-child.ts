/**
 * Run in its own process by the latency section (`node --expose-gc --min-semi-space-size=128
 * --max-semi-space-size=128 --import tsx alloc-child.ts <port> <requests>`): counts the bytes each
 * sequential case allocates per request.
 *
 * How: with a young generation of 128 MB nothing is collected while a few hundred requests run, so the
 * growth of `heapUsed` from a collected heap is every byte allocated on the JS heap in between, garbage
 * included. A run during which any collection happened (a `gc` performance entry) is thrown away, so
 * the figure is never an undercount. Off-heap bytes (ArrayBuffer contents: the sockets' read buffers,
 * Buffers) are counted apart, from `arrayBuffers`, which only a collection lowers as well.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { Connections } from '../lib/loopback.js';
import { sequentialCases } from '../lib/sequential-cases.js';

const [port, requests] = [Number(process.argv[2]), Number(process.argv[3])];
if (!Number.isInteger(port) || !Number.isInteger(requests) || requests <= 0) {
  throw new Error(`usage: alloc-child <port> <requests>; got ${JSON.stringify(process.argv.slice(2))}`);
}
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('alloc-child needs --expose-gc');

const ROUNDS = 3;
const WARM_UP = 1_000;
const nothing = () => {};
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let collections = 0;
const observer = new PerformanceObserver((list) => {
  collections += list.getEntries().length;
});
observer.observe({ entryTypes: ['gc'] });

const connections = new Connections();
const cases = sequentialCases(port, connections);
const samples = new Map<string, { heap: number[]; offHeap: number[]; spoilt: number }>(
  cases.map((each) => [each.name, { heap: [], offHeap: [], spoilt: 0 }]),
);
try {
  for (const each of cases) for (let i = 0; i < WARM_UP; i++) await each.one(nothing);
  for (let round = 0; round < ROUNDS; round++) {
    for (const each of cases) {
      // GC entries come on a later turn: let the forced ones arrive before counting from zero.
      gc();
      gc();
      await pause(10);
      collections = 0;
      const before = process.memoryUsage();
      for (let i = 0; i < requests; i++) await each.one(nothing);
      const after = process.memoryUsage();
      await pause(10);
      const own = samples.get(each.name) as { heap: number[]; offHeap: number[]; spoilt: number };
      if (collections > 0) {
        own.spoilt++;
        continue;
      }
      own.heap.push((after.heapUsed - before.heapUsed) / requests);
      own.offHeap.push((after.arrayBuffers - before.arrayBuffers) / requests);
    }
  }
} finally {
  observer.disconnect();
  await connections.close();
}
process.stdout.write(`${JSON.stringify(Object.fromEntries(samples))}\n`);
