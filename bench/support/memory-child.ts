/**
 * Run in its own process (`node --expose-gc --import tsx`), so one library's garbage can not count
 * against another: queues `count` no-op tasks on a paused runner and prints the heap and RSS they took.
 * Every library gets the same task function and keeps its promises in the same preallocated array.
 */
import { QUEUES, type Task } from '../contenders.js';

const [name, size] = [process.argv[2] ?? '', Number(process.argv[3])];
const contender = QUEUES.find((each) => each.name === name);
if (contender === undefined || !Number.isInteger(size) || size <= 0) {
  throw new Error(`usage: memory-child <library> <tasks>; got ${JSON.stringify(process.argv.slice(2))}`);
}
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('memory-child needs --expose-gc');

const noop: Task = async () => {};
const promises = new Array<Promise<unknown> | undefined>(size).fill(undefined);
const runner = contender.create(8, true);
/**
 * Collects after a turn of the event loop: objects held by a WeakRef (module loading leaves some) are
 * kept until the current job ends, whatever gc() is asked.
 */
async function settledHeap(): Promise<NodeJS.MemoryUsage> {
  await new Promise((resolve) => setTimeout(resolve, 20));
  (gc as () => void)();
  (gc as () => void)();
  return process.memoryUsage();
}
const before = await settledHeap();
for (let i = 0; i < size; i++) promises[i] = runner.add(noop, 0);
const after = await settledHeap();
// Read after the measurement, so neither the runner nor the promises can be collected before it; a task
// that ran or failed on the way would not be waiting any more.
const held = promises.length === size ? runner.queued() : -1;
process.stdout.write(
  `${JSON.stringify({ heapBytes: after.heapUsed - before.heapUsed, rssBytes: after.rss - before.rss, tasks: held, runner: typeof runner })}\n`,
);
// The queued promises are never settled: the process just ends.
process.exit(0);
