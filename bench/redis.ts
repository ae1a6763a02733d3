/**
 * The Redis store's figures (issue 15 items 3 and 4), against a redis-server this benchmark starts on a
 * free local port (skipped, with the reason, when there is none). `npm run bench -- redis`.
 *
 * Every case runs in worker processes of its own (bench/support/redis-worker.ts: a RateLimitedClient with
 * a RedisStore), ROUNDS interleaved rounds, each on a fresh key; the figures are sums over the processes
 * of a run, the median over runs judged. Round trips are the store's own count of commands sent
 * (`stats().roundTrips`); "acquire round trips" leave out the releases, settles and renewals (a task
 * holding shared concurrency sends one release after it ends, batched per tick). Redis's side is read
 * from `INFO commandstats` and `INFO cpu` around each run.
 *
 * Each run is also compared with the designs recorded in bench/results/redis-<label>.json (see
 * lib/redis-recordings.ts): `RLC_BENCH_REDIS_RECORD=<label>` records this run as one.
 */
import os from 'node:os';
import { Redis } from 'ioredis';
import { maxInAnyWindow } from '../examples/support/window-count.js';
import { redisServerAvailable, type RedisServer, startRedis } from '../test/support/redis-process.js';
import { spawnScriptWorker } from '../test/support/script-worker.js';
import { type CaseFigures, labelToRecord, newRecording, readRecordings, writeRecording } from './lib/redis-recordings.js';
import { count, heading, median, type Results, table, type Verdict, verdict } from './lib/report.js';
import type { RedisWorkerReport, RedisWorkerSettings } from './support/redis-worker.js';

const ROUNDS = Number(process.env.RLC_BENCH_REDIS_ROUNDS ?? 3);
const RUN_TIMEOUT_MS = 120_000;
/** A window no run comes near: the store checks it on every acquire, and it never binds. */
const LOOSE = { limit: 1_000_000_000, windowMs: 60_000 };

type Figure =
  | 'grantsPerSecond'
  | 'acquireTripsPerGrant'
  | 'tripsPerGrant'
  | 'redisRefusalsPerGrant'
  | 'wakesPerGrant'
  | 'announcementsPerGrant'
  | 'restamps'
  | 'maxInFlight'
  | 'maxInWindow'
  | 'nodeCpuUsPerGrant'
  | 'redisUsPerScript'
  | 'redisCpuUsPerGrant'
  | 'loopDelayP99Ms';

interface Target {
  figure: Figure;
  /** What is asked, as printed. */
  text: string;
  ok: (value: number) => boolean;
}

interface RedisCase {
  /** Stable: recordings are compared by it. */
  id: string;
  label: string;
  processes: number;
  worker: Omit<RedisWorkerSettings, 'url' | 'key'>;
  targets: Target[];
}

const oneTrip: Target = { figure: 'acquireTripsPerGrant', text: '1.0', ok: (value) => value <= 1.001 };
const contended: Target = { figure: 'acquireTripsPerGrant', text: '<= 1.2', ok: (value) => value <= 1.2 };

const ALL_CASES: readonly RedisCase[] = [
  {
    id: 'throughput',
    label: '1 process, no limit binds, concurrency 1,000, 20,000 no-op tasks queued at once',
    processes: 1,
    worker: { tasks: 20_000, concurrency: 1_000, rateLimit: LOOSE, taskMs: 0, spacingMs: 0, trace: false },
    targets: [{ figure: 'grantsPerSecond', text: '>= 20,000/s', ok: (value) => value >= 20_000 }, oneTrip],
  },
  {
    id: 'concurrency-8',
    label: '1 process, no limit binds, concurrency 8, 5,000 no-op tasks queued at once',
    processes: 1,
    worker: { tasks: 5_000, concurrency: 8, rateLimit: LOOSE, taskMs: 0, spacingMs: 0, trace: false },
    targets: [oneTrip],
  },
  {
    id: 'spaced',
    label: '1 process, a no-op task queued every 2 ms (500), no limit binds',
    processes: 1,
    worker: { tasks: 500, concurrency: 10, rateLimit: LOOSE, taskMs: 0, spacingMs: 2, trace: false },
    targets: [oneTrip],
  },
  {
    id: 'window-1',
    label: '1 process, window binds: 100 per 100 ms, 1,000 no-op tasks',
    processes: 1,
    worker: { tasks: 1_000, concurrency: 1_000, rateLimit: { limit: 100, windowMs: 100 }, taskMs: 0, spacingMs: 0, trace: true },
    targets: [],
  },
  {
    id: 'contend-concurrency',
    label: '4 processes, shared concurrency 4 binds, tasks of 3 ms, 250 each',
    processes: 4,
    worker: { tasks: 250, concurrency: 4, taskMs: 3, spacingMs: 0, trace: true },
    targets: [contended],
  },
  {
    id: 'contend-window',
    label: '4 processes, window binds: 50 per 100 ms (concurrency 64), tasks of 2 ms, 150 each',
    processes: 4,
    worker: { tasks: 150, concurrency: 64, rateLimit: { limit: 50, windowMs: 100 }, taskMs: 2, spacingMs: 0, trace: true },
    targets: [contended],
  },
];

/** RLC_BENCH_REDIS_CASES (ids, comma-separated) runs only those cases. */
const CASES = ((asked) =>
  asked === undefined || asked === '' ? ALL_CASES : ALL_CASES.filter((each) => asked.split(',').includes(each.id)))(
  process.env.RLC_BENCH_REDIS_CASES,
);

/** The worker, run by Node with tsx from the repository root (see spawnScriptWorker). */
const WORKER = `import './bench/support/redis-worker.ts';`;

interface RedisSide {
  scriptCalls: number;
  scriptUsec: number;
  cpuSeconds: number;
}

/** evalsha/eval calls and their time, from `INFO commandstats`; Redis's own CPU from `INFO cpu`. */
async function redisSide(admin: Redis): Promise<RedisSide> {
  const info = await admin.info('commandstats');
  let scriptCalls = 0;
  let scriptUsec = 0;
  for (const match of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+),usec=(\d+)/gm)) {
    scriptCalls += Number(match[2]);
    scriptUsec += Number(match[3]);
  }
  const cpu = await admin.info('cpu');
  const seconds = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(cpu)?.[1] ?? 0);
  return { scriptCalls, scriptUsec, cpuSeconds: seconds('used_cpu_user') + seconds('used_cpu_sys') };
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new Error(`a Redis benchmark run took over ${ms} ms`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The most tasks running at once across processes, from their start and end times. */
function maxInFlight(starts: readonly number[], ends: readonly number[]): number {
  const events = [...starts.map((at) => [at, 1] as const), ...ends.map((at) => [at, -1] as const)];
  // An end at the same time as a start goes first: the room it freed is what the start took.
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let running = 0;
  let most = 0;
  for (const [, change] of events) {
    running += change;
    most = Math.max(most, running);
  }
  return most;
}

type RunFigures = Record<Figure, number>;

async function runCase(server: RedisServer, admin: Redis, each: RedisCase, round: number): Promise<RunFigures> {
  const settings: RedisWorkerSettings = { ...each.worker, url: server.url, key: `bench-${each.id}-${round}` };
  const workers = Array.from({ length: each.processes }, () => spawnScriptWorker<RedisWorkerReport>(WORKER, settings));
  const killAll = () => workers.forEach((worker) => worker.kill());
  await withTimeout(Promise.all(workers.map((worker) => worker.ready)), RUN_TIMEOUT_MS, killAll);
  await admin.config('RESETSTAT');
  const before = await redisSide(admin);
  for (const worker of workers) worker.go();
  const reports = await withTimeout(Promise.all(workers.map((worker) => worker.report)), RUN_TIMEOUT_MS, killAll);
  const after = await redisSide(admin);
  const errors = reports.flatMap((report) => report.errors);
  if (errors.length > 0) throw new Error(`Redis benchmark ${each.id}: a worker reported ${errors.join('; ')}`);

  const sum = (of: (report: RedisWorkerReport) => number) => reports.reduce((total, report) => total + of(report), 0);
  const grants = sum((report) => report.stats.grants);
  const expected = each.processes * each.worker.tasks;
  const fallback = sum((report) => report.stats.fallbackGrants);
  // Grants made without Redis cost no round trip: a run with any would flatter the figures.
  if (grants !== expected || fallback > 0) {
    throw new Error(`Redis benchmark ${each.id}: ${grants} grants (${fallback} without Redis) for ${expected} tasks`);
  }
  const starts = reports.flatMap((report) => report.starts);
  const ends = reports.flatMap((report) => report.ends);
  const window = each.worker.rateLimit === LOOSE ? undefined : each.worker.rateLimit;
  const scripts = after.scriptCalls - before.scriptCalls;
  return {
    grantsPerSecond: grants / (Math.max(...reports.map((report) => report.elapsedMs)) / 1000),
    // Acquires answered without Redis: from a remembered refusal, or by a start a batch granted.
    acquireTripsPerGrant: sum((report) => report.stats.acquires - report.stats.syncRefusals - report.stats.batched) / grants,
    tripsPerGrant: sum((report) => report.stats.roundTrips) / grants,
    redisRefusalsPerGrant: sum((report) => report.stats.refusals - report.stats.syncRefusals) / grants,
    wakesPerGrant: sum((report) => report.wakes) / grants,
    // Every process's listener hears every announcement: one process's count is how many were published.
    announcementsPerGrant: Math.max(...reports.map((report) => report.announcements)) / grants,
    restamps: sum((report) => report.stats.restamps),
    maxInFlight: each.worker.trace ? maxInFlight(starts, ends) : NaN,
    maxInWindow: window !== undefined && each.worker.trace ? maxInAnyWindow(starts, window.windowMs) : NaN,
    nodeCpuUsPerGrant: (sum((report) => report.cpuMs) * 1000) / grants,
    redisUsPerScript: scripts > 0 ? (after.scriptUsec - before.scriptUsec) / scripts : NaN,
    redisCpuUsPerGrant: ((after.cpuSeconds - before.cpuSeconds) * 1e6) / grants,
    loopDelayP99Ms: Math.max(...reports.map((report) => report.loopDelay.p99)),
  };
}

const FIGURES: ReadonlyArray<{ figure: Figure; header: string; digits: number }> = [
  { figure: 'grantsPerSecond', header: 'grants/s', digits: 0 },
  { figure: 'acquireTripsPerGrant', header: 'acquire trips/grant', digits: 3 },
  { figure: 'tripsPerGrant', header: 'all trips/grant', digits: 3 },
  { figure: 'redisRefusalsPerGrant', header: 'Redis refusals/grant', digits: 3 },
  { figure: 'wakesPerGrant', header: 'wake-ups/grant', digits: 2 },
  { figure: 'announcementsPerGrant', header: 'announcements/grant', digits: 2 },
  { figure: 'restamps', header: 'starts moved', digits: 0 },
  { figure: 'maxInFlight', header: 'max in flight', digits: 0 },
  { figure: 'maxInWindow', header: 'max in a window', digits: 0 },
  { figure: 'nodeCpuUsPerGrant', header: 'Node CPU µs/grant', digits: 1 },
  { figure: 'redisUsPerScript', header: 'Redis µs/script', digits: 1 },
  { figure: 'redisCpuUsPerGrant', header: 'Redis CPU µs/grant', digits: 1 },
  { figure: 'loopDelayP99Ms', header: 'loop delay p99 ms', digits: 1 },
];

/** A figure as printed; blank for none (NaN, or null as JSON keeps NaN). */
function show(value: number | null | undefined, digits: number): string {
  if (typeof value !== 'number' || Number.isNaN(value)) return '';
  return digits === 0 ? count(value) : value.toFixed(digits);
}

const digitsOf = (figure: Figure) => FIGURES.find((each) => each.figure === figure)?.digits ?? 3;

export async function redisBench(results: Results): Promise<void> {
  heading(
    'Redis store: one process and 4 contending on one key, on a local redis-server',
    `Issue 15 items 3 and 4. Each case in worker processes of its own, ${ROUNDS} interleaved rounds; the median is judged.`,
    'Targets: >= 20,000 grants/s for one process with no limit binding; 1 acquire round trip per granted start;',
    '<= 1.2 acquire round trips per grant with 4 processes contending on one key. "all trips" add releases, settles and renewals.',
    'Wake-ups: times a store woke its client, summed over processes; announcements: pub/sub messages published (each heard by every subscribed process).',
  );
  const available = redisServerAvailable();
  if (!available.ok) {
    console.log(`skipped: ${available.reason}`);
    results.record('redis', { skipped: available.reason });
    return;
  }
  const label = labelToRecord();
  const loadBefore = os.loadavg()[0] ?? 0;
  const server = await startRedis();
  const admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
  const runs = new Map<string, RunFigures[]>(CASES.map((each) => [each.id, []]));
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const each of CASES) {
        const figures = await runCase(server, admin, each, round);
        runs.get(each.id)?.push(figures);
        console.log(
          `round ${round} ${each.id}: ${count(figures.grantsPerSecond)} grants/s, ${figures.acquireTripsPerGrant.toFixed(3)} acquire trips/grant, ${figures.tripsPerGrant.toFixed(3)} all (load ${os.loadavg()[0]?.toFixed(2)})`,
        );
      }
    }
  } finally {
    admin.disconnect();
    await server.stop();
  }

  const cases: Record<string, CaseFigures> = {};
  for (const each of CASES) {
    const figures: CaseFigures = {};
    for (const { figure } of FIGURES) {
      const values = (runs.get(each.id) ?? []).map((run) => run[figure]);
      figures[figure] = { median: values.some(Number.isNaN) ? NaN : median(values), runs: values };
    }
    cases[each.id] = figures;
  }
  const recordings = readRecordings().filter((recording) => recording.label !== label);

  console.log(`\nEvery figure, the median of ${ROUNDS} runs (load average ${loadBefore.toFixed(2)} → ${os.loadavg()[0]?.toFixed(2)}):\n`);
  console.log(
    table(
      ['case', ...FIGURES.map((each) => each.header)],
      CASES.map((each) => [each.label, ...FIGURES.map(({ figure, digits }) => show(cases[each.id]?.[figure]?.median, digits))]),
    ),
  );

  console.log('\nTargets, each run, and beside each recorded design (bench/results/redis-<label>.json):\n');
  const verdicts: Array<{ case: string; figure: Figure; median: number; target: string; verdict: Verdict }> = [];
  const rows: Array<Array<string | number>> = [];
  for (const each of CASES) {
    const judged = each.targets.length > 0 ? each.targets : [{ figure: 'acquireTripsPerGrant' as const, text: '', ok: () => true }];
    for (const target of judged) {
      const figures = cases[each.id]?.[target.figure];
      if (figures === undefined) continue;
      const digits = digitsOf(target.figure);
      const judgement: Verdict = target.text === '' ? 'info' : verdict(target.ok(figures.median));
      verdicts.push({ case: each.id, figure: target.figure, median: figures.median, target: target.text, verdict: judgement });
      rows.push([
        each.label,
        FIGURES.find((one) => one.figure === target.figure)?.header ?? target.figure,
        ...recordings.map((recording) => show(recording.cases[each.id]?.[target.figure]?.median, digits)),
        figures.runs.map((value) => show(value, digits)).join(', '),
        show(figures.median, digits),
        target.text,
        judgement,
      ]);
    }
  }
  console.log(
    table(
      [
        'case',
        'figure',
        ...recordings.map((recording) => `${recording.label} (${recording.commit})`),
        'this run: each',
        'median',
        'target',
        'verdict',
      ],
      rows,
    ),
  );

  const recording = newRecording(label ?? 'this-run', loadBefore, cases);
  if (label !== undefined) console.log(`\nrecorded as ${writeRecording(recording)}`);
  results.record('redis', { rounds: ROUNDS, load: recording.load, commit: recording.commit, cases, verdicts });
}
