/**
 * Figure 3: memory per queued task, with 1M tasks queued on a paused runner, each library in a
 * process of its own (bench/support/memory-child.ts).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { OURS } from './contenders.js';
import { count, heading, ratio, table, verdict, type Results } from './lib/report.js';

const CHILD = fileURLToPath(new URL('./support/memory-child.ts', import.meta.url));
const TASKS = 1_000_000;
/** Issue 16: heap bytes per queued task, ours, at TASKS queued. */
const MAX_BYTES_PER_TASK = 250;
/** p-limit is left out: it can not be paused, so its queue drains before it can be measured. */
const LIBRARIES = [OURS, 'p-queue'];

interface Measured {
  heapBytes: number;
  rssBytes: number;
  tasks: number;
}

function measure(library: string): Measured {
  const output = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', CHILD, library, String(TASKS)], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
    timeout: 120_000,
  });
  const measured = JSON.parse(output.trim().split('\n').at(-1) as string) as Measured;
  if (measured.tasks !== TASKS) throw new Error(`${library}: ${measured.tasks} of ${TASKS} tasks were still queued when measured`);
  return measured;
}

export async function memoryBench(results: Results): Promise<void> {
  heading(
    `Memory: ${count(TASKS)} no-op tasks queued (paused), heap and RSS growth per task, each library in its own process`,
    `Targets: ours at most half of p-queue's heap per task, and at most ${MAX_BYTES_PER_TASK} bytes (issue 16).`,
    "The caller's promise is counted: every library hands one back.",
  );
  const figures: Record<string, Measured> = {};
  for (const library of LIBRARIES) figures[library] = measure(library);
  const ours = figures[OURS] as Measured;
  const pQueue = figures['p-queue'] as Measured;
  const perTask = (bytes: number) => Math.round(bytes / TASKS);
  console.log(
    table(
      ['library', 'heap bytes per task', 'RSS bytes per task', 'heap, ours / it'],
      LIBRARIES.map((library) => {
        const each = figures[library] as Measured;
        return [library, perTask(each.heapBytes), perTask(each.rssBytes), ratio(ours.heapBytes, each.heapBytes)];
      }),
    ),
  );
  const ok = ours.heapBytes <= pQueue.heapBytes / 2;
  const small = perTask(ours.heapBytes) <= MAX_BYTES_PER_TASK;
  console.log(`\ntarget: heap per task <= half of p-queue's: ${ratio(ours.heapBytes, pQueue.heapBytes)} → ${verdict(ok)}`);
  console.log(`target: heap per task <= ${MAX_BYTES_PER_TASK} bytes: ${perTask(ours.heapBytes)} → ${verdict(small)}`);
  results.record('memory', {
    tasks: TASKS,
    perTask: Object.fromEntries(
      LIBRARIES.map((library) => [
        library,
        { heap: perTask((figures[library] as Measured).heapBytes), rss: perTask((figures[library] as Measured).rssBytes) },
      ]),
    ),
    heapRatioToPQueue: ours.heapBytes / pQueue.heapBytes,
    verdict: verdict(ok),
    maxBytesPerTask: MAX_BYTES_PER_TASK,
    bytesVerdict: verdict(small),
  });
}
