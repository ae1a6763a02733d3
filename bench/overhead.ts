/**
 * Figures 1 and 2: what scheduling costs per task. No-op async tasks at concurrency 8, so the figure is
 * the scheduler's own work (queue, pool, promise per task) and nothing else.
 */
import { OURS, QUEUES, type QueueContender, runNoops, type Task } from './contenders.js';
import { count, heading, median, ratio, table, verdict, type Results } from './lib/report.js';

const noop: Task = async () => {};

/** Bottleneck runs about 400 no-op tasks/s here (it waits on timers between jobs): it gets fewer. */
const tasksFor = (contender: QueueContender, tasks: number) => (contender.name === 'bottleneck' ? Math.min(tasks, 2_000) : tasks);

/** Submits `tasks` tasks at once (priority i % levels), waits for all; tasks per second. */
async function drain(contender: QueueContender, tasks: number, levels: number): Promise<number> {
  const runner = contender.create(8);
  const { begin, end } = await runNoops(runner, tasks, levels);
  await runner.stop();
  return tasks / ((end - begin) / 1000);
}

/**
 * The floor: what a promise per task costs with no scheduler at all (call the task, settle a promise
 * of our own from it). No scheduler that hands back a promise per task can beat it.
 */
async function floor(tasks: number): Promise<number> {
  const all = new Array<Promise<unknown>>(tasks);
  const begin = performance.now();
  for (let i = 0; i < tasks; i++) all[i] = new Promise((resolve, reject) => void noop().then(resolve, reject));
  await Promise.all(all);
  return tasks / ((performance.now() - begin) / 1000);
}

const ROUNDS = 5;

export async function overheadBench(results: Results): Promise<void> {
  const tasks = 200_000;
  heading(
    'Scheduling overhead: no-op async tasks at concurrency 8',
    `${count(tasks)} tasks each (Bottleneck ${count(2_000)}, one round), all submitted at once, median of ${ROUNDS} interleaved rounds.`,
    "So every queue holds all of them: p-queue's priority insert is O(n) in its length, and its 10-priority figure",
    'falls as the queue grows (about 3.5x ours at 10k queued, see Scaling).',
    '"no scheduler" is the floor: a promise per task and nothing else, run first in every round.',
    'Targets: ours >= 0.8x the floor (one priority) and 10 priorities >= 0.9x one priority, each the median of the',
    'per-round ratios (issue 16); and the earlier ones: >= 1M tasks/s, >= 5x p-queue, with 10 priorities >= 20x p-queue.',
  );
  const figures: Record<string, { one: number; ten?: number }> = {};
  const samples = new Map<string, { one: number[]; ten: number[] }>();
  const floors: number[] = [];
  for (const contender of QUEUES) samples.set(contender.name, { one: [], ten: [] });
  for (const contender of QUEUES) await drain(contender, tasksFor(contender, 20_000), 10); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    floors.push(await floor(tasks));
    // A different order each round: each run pays for collecting what the one before left, so no
    // library should always follow the same one.
    const order = QUEUES.map((_, index) => QUEUES[(index + round) % QUEUES.length] as QueueContender);
    for (const contender of order) {
      const own = samples.get(contender.name) as { one: number[]; ten: number[] };
      // Bottleneck is timer-bound: one round tells as much as five.
      if (contender.name === 'bottleneck' && round > 0) continue;
      own.one.push(await drain(contender, tasksFor(contender, tasks), 1));
      if (contender.priorities) own.ten.push(await drain(contender, tasksFor(contender, tasks), 10));
    }
  }
  for (const [name, own] of samples) figures[name] = { one: median(own.one), ...(own.ten.length > 0 ? { ten: median(own.ten) } : {}) };
  const ours = figures[OURS] as { one: number; ten: number };
  const ourRounds = samples.get(OURS) as { one: number[]; ten: number[] };
  const vsFloor = median(ourRounds.one.map((one, round) => one / (floors[round] as number)));
  const tenVsOne = median(ourRounds.ten.map((ten, round) => ten / (ourRounds.one[round] as number)));
  const pQueue = figures['p-queue'] as { one: number; ten: number };
  const rows = Object.entries(figures).map(([name, { one, ten }]) => [
    name,
    count(one),
    ten === undefined ? 'n/a' : count(ten),
    name === OURS ? '1.00x' : ratio(ours.one, one),
    name === OURS || ten === undefined ? (name === OURS ? '1.00x' : 'n/a') : ratio(ours.ten, ten),
  ]);
  rows.push(['no scheduler (floor)', count(median(floors)), 'n/a', ratio(ours.one, median(floors)), 'n/a']);
  console.log(
    table(['library', 'tasks/s, one priority', 'tasks/s, 10 priorities', 'ours vs it, one priority', 'ours vs it, 10 priorities'], rows),
  );
  const checks = [
    { target: '>= 0.8x the floor, one priority', ok: vsFloor >= 0.8, value: ratio(vsFloor, 1) },
    { target: '10 priorities >= 0.9x one priority', ok: tenVsOne >= 0.9, value: ratio(tenVsOne, 1) },
    { target: '>= 1M tasks/s, one priority', ok: ours.one >= 1_000_000, value: count(ours.one) },
    { target: '>= 5x p-queue, one priority', ok: ours.one >= 5 * pQueue.one, value: ratio(ours.one, pQueue.one) },
    { target: '>= 20x p-queue, 10 priorities', ok: ours.ten >= 20 * pQueue.ten, value: ratio(ours.ten, pQueue.ten) },
  ];
  console.log(
    `\n${table(
      ['target', 'measured', 'verdict'],
      checks.map(({ target, ok, value }) => [target, value, verdict(ok)]),
    )}`,
  );
  results.record('overhead', {
    tasks,
    bottleneckTasks: 2_000,
    tasksPerSecond: figures,
    floor: median(floors),
    vsFloor,
    tenVsOne,
    checks: checks.map(({ target, ok, value }) => ({ target, value, verdict: verdict(ok) })),
  });
}
