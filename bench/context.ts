/**
 * What keeping the caller's async context and OpenTelemetry cost per task: no-op tasks at concurrency 8
 * with and without an AsyncLocalStorage, and with `instrument()` on and off. Each mode runs in a process
 * of its own (bench/support/context-child.ts): once an AsyncLocalStorage or a context manager is
 * enabled, async hooks stay on for the whole process, and every later figure would pay for them.
 *
 * Two shapes: every task queued at once (a queue 100,000 deep: what each task keeps while it waits is
 * copied by the garbage collector, so per-task state shows at its worst), and 1,000 at a time (a queue
 * as services run it).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { count, heading, median, ratio, table, verdict, type Results } from './lib/report.js';

const CHILD = fileURLToPath(new URL('./support/context-child.ts', import.meta.url));
const TASKS = 100_000;
const ROUNDS_PER_CHILD = 3;
/** Each mode's child runs this many times, the modes interleaved, so a slow moment hits them all. */
const PASSES = 3;
const MODES = ['plain', 'als', 'p-queue-als', 'p-limit-als', 'otel-off', 'otel-metrics', 'otel-all'] as const;
type Mode = (typeof MODES)[number];
const SHAPES = { 'all at once': TASKS, '1,000 at a time': 1_000 } as const;
type Shape = keyof typeof SHAPES;

const LABELS: Record<Mode, string> = {
  plain: 'ours, no AsyncLocalStorage',
  als: 'ours, inside als.run()',
  'p-queue-als': 'p-queue, inside als.run()',
  'p-limit-als': 'p-limit, inside als.run()',
  'otel-off': 'ours, OpenTelemetry SDK and context manager loaded, instrument() not called',
  'otel-metrics': 'ours, instrument({ meterProvider }) (no tracer registered)',
  'otel-all': 'ours, instrument({ meterProvider, tracerProvider }): a recorded span per task',
};

function runChild(mode: Mode, batch: number): number {
  const args = ['--import', 'tsx', CHILD, mode, String(TASKS), String(ROUNDS_PER_CHILD), String(batch)];
  const output = execFileSync(process.execPath, args, { encoding: 'utf8', timeout: 300_000 });
  const last = output.trim().split('\n').pop() ?? '';
  return (JSON.parse(last) as { tasksPerSecond: number }).tasksPerSecond;
}

export async function contextBench(results: Results): Promise<void> {
  heading(
    "The caller's context and OpenTelemetry: what they cost per task",
    `${count(TASKS)} no-op tasks at concurrency 8, queued all at once or 1,000 at a time; each mode in a process of its`,
    `own, median of ${ROUNDS_PER_CHILD} runs per process and ${PASSES} processes per mode, the modes interleaved.`,
    'An active AsyncLocalStorage slows every promise in the process (async hooks), whatever library runs the tasks.',
    'Targets: keeping the context costs ours <= 15% (als >= 0.85x plain); instrument() on >= 0.9x off.',
  );
  const figures: Record<string, Record<string, number>> = {};
  const checks: Array<{ target: string; ok: boolean; value: string }> = [];
  for (const [shape, batch] of Object.entries(SHAPES) as Array<[Shape, number]>) {
    const samples = new Map<Mode, number[]>(MODES.map((mode) => [mode, []]));
    for (let pass = 0; pass < PASSES; pass++) {
      for (const mode of MODES) samples.get(mode)?.push(runChild(mode, batch));
    }
    const figure = (mode: Mode): number => median(samples.get(mode) ?? []);
    figures[shape] = Object.fromEntries(MODES.map((mode) => [mode, figure(mode)]));
    console.log(`\n${shape}:`);
    const rows = MODES.map((mode) => [LABELS[mode], count(figure(mode)), ratio(figure(mode), figure('plain'))]);
    console.log(table(['setup', 'tasks/s', 'vs ours without AsyncLocalStorage'], rows));
    const check = (target: string, ours: number, theirs: number, at: number) =>
      checks.push({ target: `${target} (${shape})`, ok: ours >= at * theirs, value: ratio(ours, theirs) });
    check('als >= 0.85x plain', figure('als'), figure('plain'), 0.85);
    check('ours >= p-queue, both inside als.run()', figure('als'), figure('p-queue-als'), 1);
    check('instrument() metrics on >= 0.9x off', figure('otel-metrics'), figure('otel-off'), 0.9);
    check('instrument() metrics and spans on >= 0.9x off', figure('otel-all'), figure('otel-off'), 0.9);
  }
  console.log(
    `\n${table(
      ['target', 'measured', 'verdict'],
      checks.map(({ target, ok, value }) => [target, value, verdict(ok)]),
    )}`,
  );
  results.record('context', {
    tasks: TASKS,
    tasksPerSecond: figures,
    checks: checks.map(({ target, ok, value }) => ({ target, value, verdict: verdict(ok) })),
  });
}
