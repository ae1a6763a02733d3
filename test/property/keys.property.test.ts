/**
 * Property tests of keys (tenants) over random schedules of `client.schedule(task, { key })`.
 *
 * Limits: each run builds a client with 0-2 windows of its own (small limits, an injected clock over
 * fake time), a concurrency, and `perKey` as a function giving each of 1-5 keys its own plan: 0-2
 * windows, some of them buckets, maybe a concurrency and a queue bound. A random timeline submits tasks
 * for a key or for none, at random priorities and weights, running for a while, ending well or not,
 * some aborted. Checked on every run:
 *  1. At every start (recorded from the task's first line), every window of the client counts at most
 *     its `limit` of all starts in the last `windowMs`, and every window of the task's key at most its
 *     `limit` of that key's starts; every bucket (`burst`) admits at most `burst + rate × span` in any
 *     span of time, among the starts it counts.
 *  2. In flight never exceeds the client's `concurrency`, nor a key's its own.
 *  3. Every promise settles exactly once: the task's result, its abort reason, a RangeError for a task
 *     too heavy for its key's limits (it names the key), a QueueFullError naming the key for a key whose
 *     own queue was full. Nothing is left hanging: after the timeline every promise has settled and the
 *     client is idle.
 *  4. `stats()` adds up in all, and `stats({ key })` for every key kept, at every submission and at the
 *     end: submitted = queued (+ blocked) + inFlight + completed + failed + aborted + dropped.
 *
 * Fair shares: K keys (2-6) backlogged at one priority with equal weights, their tasks submitted in a
 * random interleaving, drained one at a time (or by a window): in any run of N consecutive starts made
 * while every key still has work waiting, each key gets N/K ± 1 of them.
 *
 * `PROPERTY_RUNS` changes the count of runs per property (default 1 500; fairness runs half as many).
 */
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { type KeyLimits, QueueFullError, RateLimitedClient, type RateWindow } from '../../src/index.js';

// Captured before any test fakes it: one real event-loop turn drains every pending microtask.
const realSetImmediate = globalThis.setImmediate;
function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => realSetImmediate(resolve));
}

const RUNS = Number(process.env.PROPERTY_RUNS ?? 1_500);
const TIMEOUT_MS = 60_000 + RUNS * 20;

interface Plan {
  windows: RateWindow[];
  concurrency: number | undefined;
  maxSize: number | undefined;
}

const windowArb: fc.Arbitrary<RateWindow> = fc.oneof(
  fc.record({ limit: fc.integer({ min: 1, max: 6 }), windowMs: fc.integer({ min: 20, max: 300 }) }),
  fc
    .record({ limit: fc.integer({ min: 1, max: 4 }), windowMs: fc.integer({ min: 20, max: 300 }), burst: fc.integer({ min: 1, max: 5 }) })
    .map((bucket) => ({ ...bucket })),
);

const planArb: fc.Arbitrary<Plan> = fc.record({
  windows: fc.array(windowArb, { maxLength: 2 }),
  concurrency: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
  maxSize: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
});

const scenarioArb = fc.record({
  windows: fc.array(windowArb, { maxLength: 2 }),
  concurrency: fc.integer({ min: 1, max: 5 }),
  plans: fc.array(planArb, { minLength: 1, maxLength: 5 }),
  tasks: fc.array(
    fc.record({
      gap: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 60 })),
      key: fc.integer({ min: -1, max: 4 }),
      priority: fc.integer({ min: 0, max: 2 }),
      weight: fc.oneof(fc.constant(1), fc.constant(1), fc.constant(2)),
      duration: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 120 })),
      fails: fc.boolean(),
      abortAfter: fc.option(fc.integer({ min: 0, max: 200 }), { nil: null }),
    }),
    { minLength: 1, maxLength: 40 },
  ),
});

/** The most one start may weigh under `windows` (a bucket: its burst). */
const most = (windows: readonly RateWindow[]) => Math.min(...windows.map((window) => window.burst ?? window.limit));

/** Every window (and bucket) kept over `starts` (time and weight), checked at the latest start. */
function problemAt(
  windows: readonly RateWindow[],
  starts: ReadonlyArray<{ at: number; weight: number }>,
  label: string,
): string | undefined {
  const last = starts[starts.length - 1];
  if (last === undefined) return undefined;
  for (const window of windows) {
    if (window.burst === undefined) {
      const used = starts.filter((start) => start.at > last.at - window.windowMs).reduce((sum, start) => sum + start.weight, 0);
      if (used > window.limit) return `${label}: ${used} in ${window.windowMs} ms at ${last.at}, limit ${window.limit}`;
    } else {
      // A bucket full at first: in any span [from, last], at most burst + rate × span start.
      const perMs = window.limit / window.windowMs;
      for (const from of starts) {
        const used = starts.filter((start) => start.at >= from.at).reduce((sum, start) => sum + start.weight, 0);
        if (used > window.burst + perMs * (last.at - from.at) + 1e-9) {
          return `${label}: bucket ${window.limit}/${window.windowMs} burst ${window.burst} let ${used} start in [${from.at}, ${last.at}]`;
        }
      }
    }
  }
  return undefined;
}

function statsAddUp(
  stats: { submitted: number; queued: number; inFlight: number; completed: number; failed: number; aborted: number; dropped: number },
  blocked = 0,
): boolean {
  return stats.submitted === stats.queued + blocked + stats.inFlight + stats.completed + stats.failed + stats.aborted + stats.dropped;
}

afterEach(() => {
  vi.useRealTimers();
});
afterAll(() => {
  vi.useRealTimers();
});

describe('keys: every limit kept, every promise settled once, stats adding up', () => {
  it(
    'holds over random keyed timelines',
    async () => {
      await fc.assert(
        fc.asyncProperty(scenarioArb, async (scenario) => {
          vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'Date'], now: 0 });
          const keys = scenario.plans.map((_, index) => `tenant-${index}`);
          const planOf = (key: string): Plan => scenario.plans[keys.indexOf(key)] as Plan;
          const client = new RateLimitedClient({
            clock: { now: () => Date.now() },
            rateLimit: scenario.windows,
            concurrency: scenario.concurrency,
            idleKeyMs: 50,
            perKey: (key): KeyLimits => {
              const plan = planOf(key);
              return {
                rateLimit: plan.windows,
                ...(plan.concurrency === undefined ? {} : { concurrency: plan.concurrency }),
                ...(plan.maxSize === undefined ? {} : { queue: { maxSize: plan.maxSize, overflow: 'reject' } }),
              };
            },
          });
          const starts: Array<{ at: number; weight: number; key: string | undefined }> = [];
          const problems: string[] = [];
          let inFlight = 0;
          const keyInFlight = new Map<string, number>();
          const settled: number[] = [];
          const promises: Array<Promise<void>> = [];

          for (const [index, spec] of scenario.tasks.entries()) {
            if (spec.gap > 0) await vi.advanceTimersByTimeAsync(spec.gap);
            const key = spec.key < 0 || spec.key >= keys.length ? undefined : keys[spec.key];
            const controller = spec.abortAfter === null ? undefined : new AbortController();
            if (controller !== undefined) setTimeout(() => controller.abort(new Error(`abort ${index}`)), spec.abortAfter as number);
            settled[index] = 0;
            const task = async () => {
              const at = Date.now();
              starts.push({ at, weight: spec.weight, key });
              inFlight += spec.weight;
              if (inFlight > scenario.concurrency) problems.push(`in flight ${inFlight} > ${scenario.concurrency} at ${at}`);
              const clientProblem = problemAt(scenario.windows, starts, 'client');
              if (clientProblem !== undefined) problems.push(clientProblem);
              if (key !== undefined) {
                const plan = planOf(key);
                const mine = (keyInFlight.get(key) ?? 0) + spec.weight;
                keyInFlight.set(key, mine);
                if (plan.concurrency !== undefined && mine > plan.concurrency)
                  problems.push(`${key} in flight ${mine} > ${plan.concurrency}`);
                const keyProblem = problemAt(
                  plan.windows,
                  starts.filter((start) => start.key === key),
                  key,
                );
                if (keyProblem !== undefined) problems.push(keyProblem);
              }
              try {
                if (spec.duration > 0) await new Promise((resolve) => setTimeout(resolve, spec.duration));
                if (spec.fails) throw new Error(`task ${index} failed`);
                return index;
              } finally {
                inFlight -= spec.weight;
                if (key !== undefined) keyInFlight.set(key, (keyInFlight.get(key) ?? 0) - spec.weight);
              }
            };
            const tooHeavy =
              spec.weight > scenario.concurrency ||
              (scenario.windows.length > 0 && spec.weight > most(scenario.windows)) ||
              (key !== undefined &&
                ((planOf(key).concurrency ?? Infinity) < spec.weight ||
                  (planOf(key).windows.length > 0 && spec.weight > most(planOf(key).windows))));
            promises.push(
              client.schedule(task, { key, priority: spec.priority, weight: spec.weight, signal: controller?.signal }).then(
                (value) => {
                  settled[index] = (settled[index] ?? 0) + 1;
                  if (value !== index) problems.push(`task ${index} resolved with ${String(value)}`);
                  if (spec.fails || tooHeavy) problems.push(`task ${index} resolved, expected to fail`);
                },
                (error: unknown) => {
                  settled[index] = (settled[index] ?? 0) + 1;
                  const message = error instanceof Error ? error.message : String(error);
                  if (error instanceof QueueFullError) {
                    if (error.key !== key || planOf(key as string).maxSize === undefined) problems.push(`task ${index}: ${message}`);
                  } else if (error instanceof RangeError) {
                    if (!tooHeavy) problems.push(`task ${index} refused as too heavy: ${message}`);
                    if (
                      key !== undefined &&
                      !message.startsWith(`Key '${key}'`) &&
                      spec.weight <= scenario.concurrency &&
                      (scenario.windows.length === 0 || spec.weight <= most(scenario.windows))
                    )
                      problems.push(`task ${index}: the error does not name its key: ${message}`);
                  } else if (message !== `task ${index} failed` && message !== `abort ${index}`) {
                    problems.push(`task ${index} rejected with ${message}`);
                  }
                },
              ),
            );
            const stats = client.stats();
            if (!statsAddUp(stats, stats.blocked)) problems.push(`stats do not add up: ${JSON.stringify(stats)}`);
            for (const one of keys) {
              const keyStats = client.stats({ key: one });
              if (!statsAddUp(keyStats)) problems.push(`stats of ${one} do not add up: ${JSON.stringify(keyStats)}`);
            }
          }
          await vi.advanceTimersByTimeAsync(30_000);
          await Promise.all(promises);
          await flushMicrotasks();
          const stats = client.stats();
          if (stats.queued + stats.inFlight !== 0 || !statsAddUp(stats)) problems.push(`not idle at the end: ${JSON.stringify(stats)}`);
          if (settled.some((count) => count !== 1)) problems.push(`settled counts ${JSON.stringify(settled)}`);
          // Every key was let go (idleKeyMs 50, windows <= 300 ms): no state, no timer left.
          if (stats.keys !== 0) problems.push(`${stats.keys} keys kept after 30 s idle`);
          await client.close();
          expect(problems).toEqual([]);
          expect(vi.getTimerCount()).toBe(0);
          vi.useRealTimers();
        }),
        { numRuns: RUNS },
      );
    },
    TIMEOUT_MS,
  );
});

describe('keys: fair shares among backlogged keys', () => {
  it(
    'any run of N starts while K keys are backlogged gives each key N/K ± 1',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 2, max: 6 }),
          fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 10, maxLength: 120 }),
          fc.boolean(),
          async (keyCount, picks, byWindow) => {
            vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'Date'], now: 0 });
            // Drained one at a time, or 3 per 100 ms by a shared window.
            const client = new RateLimitedClient({
              clock: { now: () => Date.now() },
              ...(byWindow ? { rateLimit: { limit: 3, windowMs: 100 }, concurrency: 100 } : { concurrency: 1 }),
            });
            const order: number[] = [];
            client.pause();
            // Every key gets at least one task; the rest in the random interleaving of `picks`.
            const owners = [...Array.from({ length: keyCount }, (_, key) => key), ...picks.map((pick) => pick % keyCount)];
            const all = owners.map((owner) => client.schedule(() => void order.push(owner), { key: `k${owner}` }));
            client.resume();
            await vi.advanceTimersByTimeAsync(10_000);
            await Promise.all(all);
            const left = new Map<number, number>();
            for (const owner of owners) left.set(owner, (left.get(owner) ?? 0) + 1);
            // The starts made while every key still had work waiting: up to the first key's last task.
            let backlogged = 0;
            for (const owner of order) {
              const remaining = (left.get(owner) as number) - 1;
              left.set(owner, remaining);
              backlogged++;
              if (remaining === 0) break;
            }
            const problems: string[] = [];
            for (let from = 0; from < backlogged; from++) {
              const counts = new Array<number>(keyCount).fill(0);
              for (let to = from; to < backlogged; to++) {
                const owner = order[to] as number;
                counts[owner] = (counts[owner] ?? 0) + 1;
                const n = to - from + 1;
                for (const count of counts) {
                  if (Math.abs(count - n / keyCount) > 1) problems.push(`starts ${from}..${to}: counts ${JSON.stringify(counts)}`);
                }
              }
            }
            await client.close();
            vi.useRealTimers();
            expect(problems.slice(0, 3)).toEqual([]);
          },
        ),
        { numRuns: Math.max(1, Math.floor(RUNS / 2)) },
      );
    },
    TIMEOUT_MS,
  );
});
