/**
 * Figure 2: time per task as the queue grows. Every task is queued before the first runs (the runner
 * is paused), so the queue really holds them all; then it drains. A queue whose insert or removal grows
 * with its length shows here.
 */
import { OURS, QUEUES, type QueueContender, runNoops } from './contenders.js';
import { PerformanceObserver } from 'node:perf_hooks';
import { heading, median, ratio, table, verdict, type Results } from './lib/report.js';

/** Issue 16: ns per task at 1M queued within this factor of 1k, one priority and 10. */
const MAX_GROWTH = 1.5;
const SIZES = [1_000, 10_000, 100_000, 1_000_000];
/** p-queue inserts a priority with a binary search and an array splice: past this it takes minutes. */
const P_QUEUE_PRIORITY_MAX = 100_000;

/** Small queues run again until about this many tasks have gone through, and the median run counts. */
const TASKS_PER_SIZE = 200_000;

interface PerTask {
  /** Wall-clock ns per task, queueing and draining. */
  ns: number;
  /** The same without the garbage collector's pauses on this thread. */
  outsideGcNs: number;
}

async function perTask(contender: QueueContender, size: number, levels: number): Promise<PerTask> {
  const runs: PerTask[] = [];
  for (let run = 0; run < Math.max(1, Math.round(TASKS_PER_SIZE / size)); run++) runs.push(await oneRun(contender, size, levels));
  return { ns: median(runs.map((each) => each.ns)), outsideGcNs: median(runs.map((each) => each.outsideGcNs)) };
}

/**
 * No forced collection before a run: one leaves the heap shrunk, and the next small run then pays to
 * grow it again (1k tasks measured 10x slower that way), which would flatter the large queues.
 */
async function oneRun(contender: QueueContender, size: number, levels: number): Promise<PerTask> {
  const runner = contender.create(8, true);
  let gcMs = 0;
  let end = Infinity;
  const observer = new PerformanceObserver((list) => {
    // Only pauses that began inside the timed part (the wait below may hold one too).
    for (const entry of list.getEntries()) if (entry.startTime < end) gcMs += entry.duration;
  });
  observer.observe({ entryTypes: ['gc'] });
  const timed = await runNoops(runner, size, levels);
  end = timed.end;
  const ms = end - timed.begin;
  // GC entries arrive on a later turn.
  await new Promise((resolve) => setTimeout(resolve, 5));
  observer.disconnect();
  await runner.stop();
  return { ns: (ms * 1e6) / size, outsideGcNs: (Math.max(0, ms - gcMs) * 1e6) / size };
}

export async function scalingBench(results: Results): Promise<void> {
  heading(
    'Scaling: time per task with 1k to 1M tasks queued (queued while paused, then drained)',
    `Target: ours at 1M within ${MAX_GROWTH}x of ours at 1k (wall clock), for one priority and for 10.`,
    "Each cell: wall-clock ns per task / the same outside the garbage collector's pauses.",
  );
  const contenders = QUEUES.filter((each) => each.name === OURS || each.name === 'p-queue');
  type Series = Record<number, PerTask | null>;
  const figures: Record<string, { one: Series; ten: Series }> = {};
  for (const contender of contenders) {
    figures[contender.name] = { one: {}, ten: {} };
    await perTask(contender, 10_000, 10); // warm-up
  }
  for (const size of SIZES) {
    for (const contender of contenders) {
      const own = figures[contender.name] as { one: Series; ten: Series };
      own.one[size] = await perTask(contender, size, 1);
      const skip = contender.name === 'p-queue' && size > P_QUEUE_PRIORITY_MAX;
      own.ten[size] = skip ? null : await perTask(contender, size, 10);
    }
  }
  const cell = (value: PerTask | null | undefined) =>
    value === null || value === undefined ? 'skipped' : `${Math.round(value.ns)} / ${Math.round(value.outsideGcNs)}`;
  const rows: string[][] = [];
  for (const levels of ['one', 'ten'] as const) {
    for (const contender of contenders) {
      const series = (figures[contender.name] as { one: Series; ten: Series })[levels];
      const first = series[SIZES[0] as number] ?? undefined;
      const last = series[SIZES.at(-1) as number] ?? undefined;
      rows.push([
        `${contender.name}, ${levels === 'one' ? 'one priority' : '10 priorities'}`,
        ...SIZES.map((size) => cell(series[size])),
        `${ratio(last?.ns, first?.ns)} / ${ratio(last?.outsideGcNs, first?.outsideGcNs)}`,
        contender.name === OURS ? verdict(last !== undefined && first !== undefined && last.ns <= MAX_GROWTH * first.ns) : 'info',
      ]);
    }
  }
  console.log(table(['library', ...SIZES.map((size) => `${size.toLocaleString('en-US')} queued, ns`), '1M / 1k', 'verdict'], rows));
  console.log(
    `\np-queue with 10 priorities is skipped past ${P_QUEUE_PRIORITY_MAX.toLocaleString('en-US')}: each insert splices an array, O(n).`,
  );
  const judged = Object.fromEntries(
    (['one', 'ten'] as const).map((levels) => {
      const series = (figures[OURS] as { one: Series; ten: Series })[levels];
      const first = series[SIZES[0] as number];
      const last = series[SIZES.at(-1) as number];
      return [levels, verdict(first != null && last != null && last.ns <= MAX_GROWTH * first.ns)];
    }),
  );
  results.record('scaling', { sizes: SIZES, maxGrowth: MAX_GROWTH, perTask: figures, verdict: judged });
}
