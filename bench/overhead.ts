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
async function drain(contender: QueueContender, tasks: number, levels: number, sorted = false): Promise<number> {
  const runner = contender.create(8);
  const { begin, end } = await runNoops(runner, tasks, levels, sorted);
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
/**
 * Issue 16's ratios (ours against the floor, 10 priorities against one) come from rounds of their own:
 * the three runs back to back, in a different order each round (each run pays for collecting what the
 * one before left). On a shared 2-core machine the floor alone moved 3x between the peer rounds, which
 * are tens of seconds apart; adjacent runs move together.
 */
const PAIRED_ROUNDS = 11;

export async function overheadBench(results: Results): Promise<void> {
  const tasks = 200_000;
  heading(
    'Scheduling overhead: no-op async tasks at concurrency 8',
    `${count(tasks)} tasks each (Bottleneck ${count(2_000)}, one round), all submitted at once, median of ${ROUNDS} interleaved rounds.`,
    "So every queue holds all of them: p-queue's priority insert is O(n) in its length, and its 10-priority figure",
    'falls as the queue grows (about 3.5x ours at 10k queued, see Scaling).',
    '"no scheduler" is the floor: a promise per task and nothing else.',
    'Targets (issue 16): ours >= 0.8x the floor (one priority) and 10 priorities >= 0.9x one priority, each the median of the',
    `per-round ratios over ${PAIRED_ROUNDS} rounds of the floor, ours, ours with 10 priorities and the same submitted in`,
    'priority order, back to back;',
    'and the earlier ones: >= 1M tasks/s, >= 5x p-queue, with 10 priorities >= 20x p-queue.',
  );
  const figures: Record<string, { one: number; ten?: number }> = {};
  const samples = new Map<string, { one: number[]; ten: number[] }>();
  for (const contender of QUEUES) samples.set(contender.name, { one: [], ten: [] });
  for (const contender of QUEUES) await drain(contender, tasksFor(contender, 20_000), 10); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
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
  // `sorted`: 10 priorities submitted in priority order, so tasks run in the order they were made. Not
  // a target: beside `ten` it shows what running tasks in another order than their allocation costs
  // (cache misses on every task's job, promise and context), apart from the work of the priorities.
  const paired = { floor: [] as number[], one: [] as number[], ten: [] as number[], sorted: [] as number[] };
  const ourQueue = QUEUES.find((each) => each.name === OURS) as QueueContender;
  const runs: Array<[keyof typeof paired, () => Promise<number>]> = [
    ['floor', () => floor(tasks)],
    ['one', () => drain(ourQueue, tasks, 1)],
    ['ten', () => drain(ourQueue, tasks, 10)],
    ['sorted', () => drain(ourQueue, tasks, 10, true)],
  ];
  for (let round = 0; round < PAIRED_ROUNDS; round++) {
    for (let index = 0; index < runs.length; index++) {
      const [name, measure] = runs[(index + round) % runs.length] as [keyof typeof paired, () => Promise<number>];
      paired[name].push(await measure());
    }
  }
  const floors = paired.floor;
  for (const [name, own] of samples) figures[name] = { one: median(own.one), ...(own.ten.length > 0 ? { ten: median(own.ten) } : {}) };
  const ours = figures[OURS] as { one: number; ten: number };
  const vsFloor = median(paired.one.map((one, round) => one / (floors[round] as number)));
  const tenVsOne = median(paired.ten.map((ten, round) => ten / (paired.one[round] as number)));
  const sortedVsOne = median(paired.sorted.map((sorted, round) => sorted / (paired.one[round] as number)));
  const pQueue = figures['p-queue'] as { one: number; ten: number };
  const rows = Object.entries(figures).map(([name, { one, ten }]) => [
    name,
    count(one),
    ten === undefined ? 'n/a' : count(ten),
    name === OURS ? '1.00x' : ratio(ours.one, one),
    name === OURS || ten === undefined ? (name === OURS ? '1.00x' : 'n/a') : ratio(ours.ten, ten),
  ]);
  // Its ratio is issue 16's: ours against the floor run next to it, round by round.
  rows.push(['no scheduler (floor)', count(median(floors)), 'n/a', ratio(vsFloor, 1), 'n/a']);
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
  console.log(
    `\n10 priorities submitted in priority order (so run in the order made): ${ratio(sortedVsOne, 1)} one priority, against ${ratio(tenVsOne, 1)} interleaved.`,
  );
  results.record('overhead', {
    tasks,
    bottleneckTasks: 2_000,
    tasksPerSecond: figures,
    floor: median(floors),
    vsFloor,
    tenVsOne,
    sortedVsOne,
    /** Each paired round's floor and ours: the ratios above are taken round by round. */
    pairedRounds: paired,
    checks: checks.map(({ target, ok, value }) => ({ target, value, verdict: verdict(ok) })),
  });
}
