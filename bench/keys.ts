/**
 * Many tenants (issue 22 item 7): what a key costs, in one run. `npm run bench -- keys`.
 *
 * 1. Bytes per active key, beside its tasks: KEYS keys with one queued task each (client paused), minus
 *    the same KEYS tasks with no key, with `perKey` set as for a GitHub App installation (5,000 an hour,
 *    concurrency 4) and with no `perKey` (keys with no limits of their own). The key strings are made
 *    before the first measurement: the caller holds them anyway. Target: < 1 KB a key.
 * 2. Bytes per idle key: KEYS keys' tasks run to completion under a 100 ms window each, then the client
 *    waits past the window and `idleKeyMs` (200 ms) until `stats().keys` is 0; the heap against the
 *    baseline taken after a warm-up. Target: ~0 (under IDLE_TARGET_BYTES a key).
 * Both in a process of their own each (this file, run as `node --expose-gc --import tsx bench/keys.ts
 * child <what>`), the way bench/memory.ts does it, MEMORY_ROUNDS interleaved rounds, the median. Bytes
 * are the heap's and the ArrayBuffers' contents (which live outside the heap: a key's window log has two).
 * 3. `schedule()` throughput of no-op tasks at concurrency 8, no limit binding: no key, 1 key, KEYS keys
 *    (round robin), 200,000 tasks submitted at once, median of ROUNDS interleaved rounds (bench/overhead.ts's
 *    method); with no `perKey`, and with a `perKey` window too large to bind. Target: KEYS keys >= 0.8x of 1 key.
 * 4. The noisy neighbour: a shared quota of 50 per 100 ms; key A queues 500 tasks, 1 ms later key B
 *    queues 5; when B's last task started, after it was queued, with `fairness: 'fair'` and `'fifo'`
 *    (real clock, both clients side by side). Target: 'fair' in the first window after B was queued
 *    (the window that frees ~100 ms after A's first starts), so under 1.5 windows.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RateLimitedClient, type RateLimitedClientOptions } from '../src/index.js';
import { count, heading, median, ratio, type Results, table, verdict } from './lib/report.js';

const KEYS = 10_000;
const MEMORY_ROUNDS = 3;
const ROUNDS = 5;
const TASKS = 200_000;
const ACTIVE_TARGET_BYTES = 1_024;
const IDLE_TARGET_BYTES = 8;
const THROUGHPUT_TARGET = 0.8;

/** A GitHub App installation: 5,000 requests an hour, 4 at a time. */
const INSTALLATION = { rateLimit: { limit: 5_000, windowMs: 3_600_000 }, concurrency: 4 };
/** For the idle figure: a window short enough to wait out. */
const IDLE_WINDOW_MS = 100;
const IDLE_KEY_MS = 200;
/** A window that never binds: each key's counters are asked and kept, and never say wait. */
const LOOSE = { rateLimit: { limit: 1_000_000_000, windowMs: 1_000 } };

const SELF = fileURLToPath(import.meta.url);
const noop = async () => {};
const keyNames = (keys: number) => Array.from({ length: keys }, (_, i) => `installation-${100_000 + i}`);

// --- Memory, in a child process -------------------------------------------------------------------------

type ActiveMode = 'no key' | 'keys, no perKey' | 'keys, perKey';
const ACTIVE_MODES: readonly ActiveMode[] = ['no key', 'keys, no perKey', 'keys, perKey'];

interface ActiveMeasured {
  heapBytes: number;
  queued: number;
  keys: number;
}

interface IdleMeasured {
  /** Heap growth right after the tasks ended, every key still kept (quiet). */
  keptBytes: number;
  keysKept: number;
  /** Heap growth once every key was let go. */
  idleBytes: number;
  keysLeft: number;
  /** From the last task's end to `stats().keys === 0`. */
  letGoAfterMs: number;
}

/**
 * The heap and the ArrayBuffers' contents, collected after a turn of the event loop: objects held by a
 * WeakRef (module loading leaves some) are kept until the current job ends, whatever gc() is asked (as
 * bench/support/memory-child.ts does).
 */
async function settledHeap(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('bench/keys.ts child needs --expose-gc');
  await new Promise((resolve) => setTimeout(resolve, 20));
  gc();
  gc();
  // A key's sliding-window log keeps two Float64Arrays of 128 bytes, whose contents live outside the heap.
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

async function activeChild(mode: ActiveMode): Promise<ActiveMeasured> {
  const keys = keyNames(KEYS);
  const client = new RateLimitedClient({ concurrency: 8, ...(mode === 'keys, perKey' ? { perKey: INSTALLATION } : {}) });
  client.pause();
  const promises = new Array<Promise<unknown> | undefined>(KEYS).fill(undefined);
  const before = await settledHeap();
  for (let i = 0; i < KEYS; i++) promises[i] = client.schedule(noop, mode === 'no key' ? {} : { key: keys[i] as string });
  const after = await settledHeap();
  // Read after the measurement, so nothing can be collected before it.
  const stats = client.stats();
  return { heapBytes: after - before, queued: promises.length === KEYS ? stats.queued : -1, keys: stats.keys };
}

async function runKeys(client: RateLimitedClient, keys: readonly string[]): Promise<void> {
  await Promise.all(keys.map((key) => client.schedule(noop, { key })));
}

/** Polls (a benchmark may: no event says a key was let go) until the client keeps no key. */
async function untilNoKeys(client: RateLimitedClient, withinMs: number): Promise<void> {
  const deadline = performance.now() + withinMs;
  while (client.stats().keys > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}

async function idleChild(): Promise<IdleMeasured> {
  const client = new RateLimitedClient({
    concurrency: 8,
    perKey: { rateLimit: { limit: 5_000, windowMs: IDLE_WINDOW_MS }, concurrency: 4 },
    idleKeyMs: IDLE_KEY_MS,
  });
  const patience = 10 * (IDLE_WINDOW_MS + IDLE_KEY_MS);
  // Warm-up with other keys, three times, so that the queue's and maps' first growth, the sweep and the
  // optimiser's code and feedback are paid before the baseline (after one, about 100 KB of them came later).
  for (const warm of ['a-', 'b-', 'c-']) {
    await runKeys(
      client,
      keyNames(KEYS).map((key) => `${warm}${key}`),
    );
    await untilNoKeys(client, patience);
  }
  const keys = keyNames(KEYS);
  const before = await settledHeap();
  await runKeys(client, keys);
  const ended = performance.now();
  const kept = await settledHeap();
  const keysKept = client.stats().keys;
  await untilNoKeys(client, patience);
  const letGoAfterMs = performance.now() - ended;
  const idle = await settledHeap();
  const keysLeft = client.stats().keys;
  await client.close();
  return { keptBytes: kept - before, keysKept, idleBytes: idle - before, keysLeft, letGoAfterMs };
}

function child(what: string, ...args: string[]): unknown {
  const output = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', SELF, 'child', what, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
    timeout: 120_000,
  });
  return JSON.parse(output.trim().split('\n').at(-1) as string);
}

// --- Throughput ------------------------------------------------------------------------------------------

interface Setup {
  name: string;
  keys: number;
  perKey: boolean;
}

const SETUPS: readonly Setup[] = [
  { name: 'no key', keys: 0, perKey: false },
  { name: '1 key', keys: 1, perKey: false },
  { name: `${count(KEYS)} keys`, keys: KEYS, perKey: false },
  { name: '1 key, perKey window', keys: 1, perKey: true },
  { name: `${count(KEYS)} keys, perKey window`, keys: KEYS, perKey: true },
];

/** Submits `tasks` no-op tasks at once (round robin over the keys), waits for all; tasks per second. */
async function drain(setup: Setup, keys: readonly string[], tasks: number): Promise<number> {
  const client = new RateLimitedClient({ concurrency: 8, ...(setup.perKey ? { perKey: LOOSE } : {}) });
  const all = new Array<Promise<unknown>>(tasks);
  const begin = performance.now();
  if (setup.keys === 0) for (let i = 0; i < tasks; i++) all[i] = client.schedule(noop);
  else for (let i = 0; i < tasks; i++) all[i] = client.schedule(noop, { key: keys[i % setup.keys] as string });
  await Promise.all(all);
  const end = performance.now();
  await client.close();
  return tasks / ((end - begin) / 1000);
}

// --- The noisy neighbour ---------------------------------------------------------------------------------

interface Neighbour {
  fairness: 'fair' | 'fifo';
  /** B's last start, ms after B's tasks were queued. */
  bLastAfterQueuedMs: number;
  /** B's last start, ms after A's first start. */
  bLastAfterFirstMs: number;
  /** A's last start, ms after A's first start. */
  aLastAfterFirstMs: number;
}

const NEIGHBOUR = { limit: 50, windowMs: 100, a: 500, b: 5 };

async function neighbour(fairness: 'fair' | 'fifo'): Promise<Neighbour> {
  const options: RateLimitedClientOptions = {
    rateLimit: { limit: NEIGHBOUR.limit, windowMs: NEIGHBOUR.windowMs },
    concurrency: 1_000,
    fairness,
  };
  const client = new RateLimitedClient(options);
  const starts = { a: [] as number[], b: [] as number[] };
  const task = (list: number[]) => async () => {
    list.push(performance.now());
  };
  const all = Array.from({ length: NEIGHBOUR.a }, () => client.schedule(task(starts.a), { key: 'A' }));
  await new Promise((resolve) => setTimeout(resolve, 1));
  const bQueued = performance.now();
  for (let i = 0; i < NEIGHBOUR.b; i++) all.push(client.schedule(task(starts.b), { key: 'B' }));
  await Promise.all(all);
  await client.close();
  const first = Math.min(...starts.a);
  const bLast = Math.max(...starts.b);
  return {
    fairness,
    bLastAfterQueuedMs: bLast - bQueued,
    bLastAfterFirstMs: bLast - first,
    aLastAfterFirstMs: Math.max(...starts.a) - first,
  };
}

// --- The section -----------------------------------------------------------------------------------------

const ms = (value: number) => `${value.toFixed(0)} ms`;

export async function keysBench(results: Results): Promise<void> {
  heading(
    `Many tenants: ${count(KEYS)} keys`,
    `Memory (heap + ArrayBuffer contents): each figure in a process of its own (--expose-gc), median of ${MEMORY_ROUNDS} interleaved rounds.`,
    `Active: ${count(KEYS)} keys with one queued task each (paused), minus ${count(KEYS)} tasks with no key; key strings made beforehand.`,
    `Idle: ${count(KEYS)} keys' tasks run (perKey ${IDLE_WINDOW_MS} ms window, idleKeyMs ${IDLE_KEY_MS}), then until stats().keys is 0; against the heap before.`,
    `Targets: an active key < ${count(ACTIVE_TARGET_BYTES)} bytes beside its tasks; an idle key ~0 (< ${IDLE_TARGET_BYTES} bytes) after idleKeyMs.`,
  );
  const active = new Map<ActiveMode, number[]>(ACTIVE_MODES.map((mode) => [mode, []]));
  const idle: IdleMeasured[] = [];
  for (let round = 0; round < MEMORY_ROUNDS; round++) {
    const order = ACTIVE_MODES.map((_, index) => ACTIVE_MODES[(index + round) % ACTIVE_MODES.length] as ActiveMode);
    for (const mode of order) {
      const measured = child('active', mode) as ActiveMeasured;
      const wantKeys = mode === 'no key' ? 0 : KEYS;
      if (measured.queued !== KEYS || measured.keys !== wantKeys) {
        throw new Error(`${mode}: ${measured.queued} tasks queued and ${measured.keys} keys kept when measured`);
      }
      (active.get(mode) as number[]).push(measured.heapBytes);
    }
    idle.push(child('idle') as IdleMeasured);
  }
  const heapOf = (mode: ActiveMode) => median(active.get(mode) as number[]);
  const perTask = heapOf('no key') / KEYS;
  const perKey = (mode: ActiveMode) => (heapOf(mode) - heapOf('no key')) / KEYS;
  const idleBytes = median(idle.map((each) => each.idleBytes)) / KEYS;
  /** Some keys may be let go before this is measured: per key kept. */
  const keptBytes = median(idle.map((each) => each.keptBytes / each.keysKept));
  const keysLeft = Math.max(...idle.map((each) => each.keysLeft));
  const letGoAfter = median(idle.map((each) => each.letGoAfterMs));
  console.log(
    table(
      ['what', 'bytes a task or key', 'rounds'],
      [
        ['queued task, no key', count(perTask), (active.get('no key') as number[]).map((b) => count(b / KEYS)).join(' / ')],
        ...(['keys, no perKey', 'keys, perKey'] as const).map((mode) => [
          mode === 'keys, perKey' ? 'active key beside its task, perKey (5,000/h, concurrency 4)' : 'active key beside its task, no perKey',
          count(perKey(mode)),
          (active.get(mode) as number[]).map((b) => count(Math.round((b - heapOf('no key')) / KEYS) || 0)).join(' / '),
        ]),
        ['quiet key, tasks done, not yet let go', count(keptBytes), idle.map((each) => count(each.keptBytes / each.keysKept)).join(' / ')],
        [
          `idle key after idleKeyMs (let go ${ms(letGoAfter)} after the last task)`,
          count(idleBytes),
          idle.map((each) => count(Math.round(each.idleBytes / KEYS) || 0)).join(' / '),
        ],
      ],
    ),
  );

  heading(
    `schedule() throughput with keys: no-op tasks, concurrency 8, ${count(TASKS)} submitted at once`,
    `Median of ${ROUNDS} interleaved rounds (bench/overhead.ts's method); keys round robin; each run a new client, so ${count(KEYS)} keys are made in it.`,
    `"perKey window": every key has ${count(LOOSE.rateLimit.limit)} per ${LOOSE.rateLimit.windowMs} ms, which never binds but is asked and counted.`,
    `Target: ${count(KEYS)} keys >= ${THROUGHPUT_TARGET}x of 1 key.`,
  );
  const keys = keyNames(KEYS);
  const samples = new Map<string, number[]>(SETUPS.map((setup) => [setup.name, []]));
  for (const setup of SETUPS) await drain(setup, keys, 20_000); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    const order = SETUPS.map((_, index) => SETUPS[(index + round) % SETUPS.length] as Setup);
    for (const setup of order) (samples.get(setup.name) as number[]).push(await drain(setup, keys, TASKS));
  }
  const rate = (name: string) => median(samples.get(name) as number[]);
  const noKey = rate('no key');
  const oneOf = (setup: Setup) => rate(setup.perKey ? '1 key, perKey window' : '1 key');
  console.log(
    table(
      ['setup', 'tasks/s', 'vs no key', 'vs 1 key'],
      SETUPS.map((setup) => [
        setup.name,
        count(rate(setup.name)),
        ratio(rate(setup.name), noKey),
        setup.keys === 0 ? 'n/a' : ratio(rate(setup.name), oneOf(setup)),
      ]),
    ),
  );
  const manyPlain = rate(`${count(KEYS)} keys`) / rate('1 key');
  const manyLoose = rate(`${count(KEYS)} keys, perKey window`) / rate('1 key, perKey window');

  heading(
    `The noisy neighbour: a shared ${NEIGHBOUR.limit} per ${NEIGHBOUR.windowMs} ms; key A queues ${NEIGHBOUR.a}, 1 ms later key B queues ${NEIGHBOUR.b}`,
    'Real clock, both clients side by side. Before keys, B waited behind all of A (issue 22 measured 1,005 ms).',
    `Target: 'fair' starts B's in the first window after they were queued (~${NEIGHBOUR.windowMs} ms, under ${1.5 * NEIGHBOUR.windowMs} ms).`,
  );
  const neighbours = await Promise.all([neighbour('fair'), neighbour('fifo')]);
  console.log(
    table(
      ['fairness', "B's last start after B queued", "B's last start after A's first", "A's last start after A's first"],
      neighbours.map((each) => [each.fairness, ms(each.bLastAfterQueuedMs), ms(each.bLastAfterFirstMs), ms(each.aLastAfterFirstMs)]),
    ),
  );
  const fair = neighbours[0];

  const checks = [
    {
      target: `active key < ${count(ACTIVE_TARGET_BYTES)} B beside its task, perKey`,
      ok: perKey('keys, perKey') < ACTIVE_TARGET_BYTES,
      value: `${count(perKey('keys, perKey'))} B`,
    },
    {
      target: `active key < ${count(ACTIVE_TARGET_BYTES)} B beside its task, no perKey`,
      ok: perKey('keys, no perKey') < ACTIVE_TARGET_BYTES,
      value: `${count(perKey('keys, no perKey'))} B`,
    },
    {
      target: `idle key ~0 B after idleKeyMs (< ${IDLE_TARGET_BYTES} B), stats().keys 0`,
      ok: idleBytes < IDLE_TARGET_BYTES && keysLeft === 0,
      value: `${idleBytes.toFixed(1)} B, keys ${keysLeft}`,
    },
    {
      target: `${count(KEYS)} keys >= ${THROUGHPUT_TARGET}x of 1 key`,
      ok: manyPlain >= THROUGHPUT_TARGET,
      value: `${manyPlain.toFixed(2)}x`,
    },
    {
      target: `${count(KEYS)} keys >= ${THROUGHPUT_TARGET}x of 1 key, perKey window`,
      ok: manyLoose >= THROUGHPUT_TARGET,
      value: `${manyLoose.toFixed(2)}x`,
    },
    {
      target: `noisy neighbour, 'fair': B in the first window (< ${1.5 * NEIGHBOUR.windowMs} ms)`,
      ok: fair.bLastAfterQueuedMs < 1.5 * NEIGHBOUR.windowMs,
      value: ms(fair.bLastAfterQueuedMs),
    },
  ];
  console.log(
    `\n${table(
      ['target', 'measured', 'verdict'],
      checks.map(({ target, ok, value }) => [target, value, verdict(ok)]),
    )}`,
  );
  results.record('keys', {
    keys: KEYS,
    memory: {
      bytesPerQueuedTaskNoKey: perTask,
      bytesPerActiveKey: { perKey: perKey('keys, perKey'), noPerKey: perKey('keys, no perKey') },
      bytesPerQuietKey: keptBytes,
      bytesPerIdleKey: idleBytes,
      letGoAfterMs: letGoAfter,
      rounds: { active: Object.fromEntries(active), idle },
    },
    throughput: { tasks: TASKS, tasksPerSecond: Object.fromEntries(SETUPS.map((setup) => [setup.name, rate(setup.name)])) },
    noisyNeighbour: neighbours,
    checks: checks.map(({ target, ok, value }) => ({ target, value, verdict: verdict(ok) })),
  });
}

// Run as a child (see `child`): one measurement, printed as the last line.
if (process.argv[1] === SELF && process.argv[2] === 'child') {
  const what = process.argv[3];
  const measured = what === 'idle' ? await idleChild() : await activeChild(process.argv[4] as ActiveMode);
  process.stdout.write(`${JSON.stringify(measured)}\n`);
  // Queued promises are never settled: the process just ends.
  process.exit(0);
}
