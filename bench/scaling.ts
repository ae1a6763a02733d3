/**
 * Figure 2: time per task as the queue grows. Every task is queued before the first runs (the runner
 * is paused), so the queue really holds them all; then it drains. A queue whose insert or removal grows
 * with its length shows here.
 */
import { OURS, QUEUES, type QueueContender, type Task } from './contenders.js';
import { collectGarbage, heading, median, ratio, table, verdict, type Results } from './lib/report.js';

const noop: Task = async () => {};
const SIZES = [1_000, 10_000, 100_000, 1_000_000];
/** p-queue inserts a priority with a binary search and an array splice: past this it takes minutes. */
const P_QUEUE_PRIORITY_MAX = 100_000;

/** Small queues run again until about this many tasks have gone through, and the median run counts. */
const TASKS_PER_SIZE = 200_000;

async function perTaskNs(contender: QueueContender, size: number, levels: number): Promise<number> {
  const runs: number[] = [];
  for (let run = 0; run < Math.max(1, Math.round(TASKS_PER_SIZE / size)); run++) runs.push(await oneRun(contender, size, levels));
  return median(runs);
}

async function oneRun(contender: QueueContender, size: number, levels: number): Promise<number> {
  collectGarbage();
  const runner = contender.create(8, true);
  const all: Array<Promise<unknown>> = new Array(size);
  const begin = performance.now();
  for (let i = 0; i < size; i++) all[i] = runner.add(noop, levels > 1 ? i % levels : 0);
  runner.start();
  await Promise.all(all);
  const ns = ((performance.now() - begin) * 1e6) / size;
  await runner.stop();
  return ns;
}

export async function scalingBench(results: Results): Promise<void> {
  heading(
    'Scaling: time per task with 1k to 1M tasks queued (queued while paused, then drained)',
    'Target: ours at 1M within 2x of ours at 1k, for one priority and for 10.',
  );
  const contenders = QUEUES.filter((each) => each.name === OURS || each.name === 'p-queue');
  const figures: Record<string, Record<string, Record<number, number | null>>> = {};
  for (const contender of contenders) {
    figures[contender.name] = { one: {}, ten: {} };
    await perTaskNs(contender, 10_000, 10); // warm-up
  }
  for (const size of SIZES) {
    for (const contender of contenders) {
      const own = figures[contender.name] as Record<string, Record<number, number | null>>;
      (own.one as Record<number, number | null>)[size] = await perTaskNs(contender, size, 1);
      const skip = contender.name === 'p-queue' && size > P_QUEUE_PRIORITY_MAX;
      (own.ten as Record<number, number | null>)[size] = skip ? null : await perTaskNs(contender, size, 10);
    }
  }
  const cell = (value: number | null | undefined) => (value === null || value === undefined ? 'skipped' : `${Math.round(value)} ns`);
  const rows: string[][] = [];
  for (const levels of ['one', 'ten'] as const) {
    for (const contender of contenders) {
      const series = (figures[contender.name] as Record<string, Record<number, number | null>>)[levels] as Record<number, number | null>;
      const first = series[SIZES[0] as number] ?? undefined;
      const last = series[SIZES.at(-1) as number] ?? undefined;
      rows.push([
        `${contender.name}, ${levels === 'one' ? 'one priority' : '10 priorities'}`,
        ...SIZES.map((size) => cell(series[size])),
        ratio(last, first),
        contender.name === OURS ? verdict(last !== undefined && first !== undefined && last <= 2 * first) : 'info',
      ]);
    }
  }
  console.log(table(['library', ...SIZES.map((size) => `${size.toLocaleString('en-US')} queued`), '1M / 1k', 'verdict'], rows));
  console.log(`\np-queue with 10 priorities is skipped past ${P_QUEUE_PRIORITY_MAX.toLocaleString('en-US')}: each insert splices an array, O(n).`);
  results.record('scaling', { sizes: SIZES, nsPerTask: figures });
}
