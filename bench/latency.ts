/**
 * Section 'latency': what our layers add to one request, one at a time on loopback, and where it goes.
 * The same server process as the HTTP section; each case on an Agent of its own with the same settings
 * (see lib/loopback.ts and lib/sequential-cases.ts).
 *
 * Three passes, so that watching never changes what is measured:
 * 1. Added latency: `REQUESTS` sequential requests per case, cases interleaved (a different order each
 *    round) for `ROUNDS` rounds, nobody subscribed to any diagnostics channel. A case's added latency
 *    is the median over rounds of (its median latency - its raw case's median latency in the same
 *    round); the client process's CPU time per request likewise.
 * 2. The breakdown: the same again with subscribers on our task channels (enqueue, start, end, with
 *    the times the client took) and on undici's (`undici:request:create` when a request reaches the
 *    Agent, `undici:client:sendHeaders` when it is written, `undici:request:headers` at the response
 *    headers, `undici:request:trailers` when the body has ended). One request at a time, so every
 *    message belongs to the request in flight. Each stage is the median over requests; medians do not
 *    add up to the median total, and subscribing costs a little (the probed totals show how much).
 * 3. Allocations: a child process with a young generation of 128 MB (nothing is collected while it
 *    measures; a run with any collection is thrown away), bytes of JS heap allocated per request,
 *    garbage included (see support/alloc-child.ts).
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DIAGNOSTICS_CHANNELS, type TaskMessage } from '../src/index.js';
import { Connections, startServer } from './lib/loopback.js';
import { count, heading, median, type Results, table, verdict } from './lib/report.js';
import { OURS_UNDICI, type SequentialCase, sequentialCases } from './lib/sequential-cases.js';

const REQUESTS = 400;
const ROUNDS = 9;
const PROBED_ROUNDS = 9;
const WARM_UP = 1_000;
const ALLOC_REQUESTS = 500;
/** Added latency allowed on the 'undici' transport, µs. */
const TARGET_MICROS = 10;
const ALLOC_CHILD = fileURLToPath(new URL('./support/alloc-child.ts', import.meta.url));

const nothing = () => {};

/** performance.now() readings of one request, NaN where a mark did not happen. */
interface Marks {
  call: number;
  enqueue: number;
  start: number;
  dispatch: number;
  sent: number;
  headers: number;
  complete: number;
  end: number;
  resumed: number;
  done: number;
}

const blank = (): Marks => ({
  call: NaN,
  enqueue: NaN,
  start: NaN,
  dispatch: NaN,
  sent: NaN,
  headers: NaN,
  complete: NaN,
  end: NaN,
  resumed: NaN,
  done: NaN,
});

/** The stages of the breakdown, each an interval between two marks (`from` falls back to the call). */
const STAGES: ReadonlyArray<{ label: string; from: keyof Marks; fallback?: keyof Marks; to: keyof Marks; afterBody?: boolean }> = [
  { label: 'call → task enqueued', from: 'call', to: 'enqueue' },
  { label: 'enqueued → started', from: 'enqueue', to: 'start' },
  { label: 'started (raw: called) → at the Agent', from: 'start', fallback: 'call', to: 'dispatch' },
  { label: 'at the Agent → request written', from: 'dispatch', to: 'sent' },
  { label: 'written → response headers (server)', from: 'sent', to: 'headers' },
  { label: 'response headers → body ended (undici)', from: 'headers', to: 'complete' },
  { label: 'body ended → task ended', from: 'complete', to: 'end', afterBody: true },
  { label: 'task ended → caller resumes', from: 'end', to: 'resumed', afterBody: true },
  { label: 'body ended → caller has the parsed body', from: 'complete', to: 'done' },
  { label: 'total (probed)', from: 'call', to: 'done' },
];

interface Sample {
  latencies: number[];
  cpuMicros: number;
}

/** `requests` sequential requests of one case; `marks`, when given, gets each request's marks. */
async function run(each: SequentialCase, requests: number, marks?: { current: Marks; all: Marks[] }): Promise<Sample> {
  const latencies = new Array<number>(requests);
  const cpu = process.cpuUsage();
  for (let i = 0; i < requests; i++) {
    if (marks === undefined) {
      const begin = performance.now();
      await each.one(nothing);
      latencies[i] = performance.now() - begin;
    } else {
      const current = blank();
      marks.current = current;
      current.call = performance.now();
      await each.one(() => (current.resumed = performance.now()));
      current.done = performance.now();
      latencies[i] = current.done - current.call;
      marks.all.push(current);
    }
  }
  const used = process.cpuUsage(cpu);
  return { latencies, cpuMicros: (used.user + used.system) / requests };
}

/** Subscribes the marks to our task channels and undici's; returns the unsubscribe. */
function probe(marks: { current: Marks }): () => void {
  const stamp = (mark: keyof Marks) => () => {
    // The first only: a request is made once per case (no retries, no redirects here).
    if (Number.isNaN(marks.current[mark])) marks.current[mark] = performance.now();
  };
  const subscriptions: Array<[string, (message: unknown) => void]> = [
    [DIAGNOSTICS_CHANNELS.taskEnqueue, (message) => (marks.current.enqueue = (message as TaskMessage).enqueuedAt)],
    [DIAGNOSTICS_CHANNELS.taskStart, (message) => (marks.current.start = (message as TaskMessage).startedAt ?? NaN)],
    [DIAGNOSTICS_CHANNELS.taskEnd, (message) => (marks.current.end = (message as TaskMessage).endedAt ?? NaN)],
    ['undici:request:create', stamp('dispatch')],
    ['undici:client:sendHeaders', stamp('sent')],
    ['undici:request:headers', stamp('headers')],
    ['undici:request:trailers', stamp('complete')],
  ];
  for (const [name, listener] of subscriptions) diagnosticsChannel.subscribe(name, listener);
  return () => {
    for (const [name, listener] of subscriptions) diagnosticsChannel.unsubscribe(name, listener);
  };
}

interface Allocated {
  heap: number[];
  offHeap: number[];
  spoilt: number;
}

function allocations(port: number): Record<string, Allocated> {
  const output = execFileSync(
    process.execPath,
    [
      '--expose-gc',
      '--min-semi-space-size=128',
      '--max-semi-space-size=128',
      '--import',
      'tsx',
      ALLOC_CHILD,
      String(port),
      String(ALLOC_REQUESTS),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 20, timeout: 120_000 },
  );
  return JSON.parse(output.trim().split('\n').at(-1) as string) as Record<string, Allocated>;
}

const micros = (ms: number) => ms * 1000;
const fixed = (value: number | undefined, digits = 1) => (value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits));

export async function latencyBench(results: Results): Promise<void> {
  heading(
    'Latency: one request at a time on loopback, what our layers add and where it goes',
    `Sequential GETs of a small JSON body (server in its own process), each case its own keep-alive Agent.`,
    `${ROUNDS} interleaved rounds of ${REQUESTS} requests per case; 'added' is the median over rounds of (case median - raw median, same round).`,
    `target: client.get() on the 'undici' transport adds <= ${TARGET_MICROS} µs to raw undici.request.`,
  );
  const server = startServer();
  const connections = new Connections();
  try {
    const port = await server.port;
    const cases = sequentialCases(port, connections);
    for (const each of cases) await run(each, WARM_UP);

    const samples = new Map<string, Sample[]>(cases.map((each) => [each.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      const order = cases.map((_, index) => cases[(index + round) % cases.length] as SequentialCase);
      for (const each of order) samples.get(each.name)?.push(await run(each, REQUESTS));
    }

    const marks = { current: blank(), all: [] as Marks[] };
    const probed = new Map<string, Marks[]>();
    const unsubscribe = probe(marks);
    try {
      for (let round = 0; round < PROBED_ROUNDS; round++) {
        const order = cases.map((_, index) => cases[(index + round) % cases.length] as SequentialCase);
        for (const each of order) {
          marks.all = probed.get(each.name) ?? [];
          probed.set(each.name, marks.all);
          await run(each, REQUESTS, marks);
        }
      }
    } finally {
      unsubscribe();
    }

    const allocated = allocations(port);

    const figures = cases.map((each) => {
      const own = samples.get(each.name) as Sample[];
      const base = each.against === undefined ? undefined : (samples.get(each.against) as Sample[]);
      const medians = own.map((sample) => median(sample.latencies));
      const alloc = allocated[each.name];
      const baseAlloc = each.against === undefined ? undefined : allocated[each.against];
      const heap = alloc === undefined || alloc.heap.length === 0 ? undefined : median(alloc.heap);
      const baseHeap = baseAlloc === undefined || baseAlloc.heap.length === 0 ? undefined : median(baseAlloc.heap);
      return {
        name: each.name,
        against: each.against,
        p50Micros: micros(median(medians)),
        addedMicros:
          base === undefined ? undefined : micros(median(medians.map((value, r) => value - median((base[r] as Sample).latencies)))),
        cpuMicros: median(own.map((sample) => sample.cpuMicros)),
        addedCpuMicros: base === undefined ? undefined : median(own.map((sample, r) => sample.cpuMicros - (base[r] as Sample).cpuMicros)),
        heapBytesPerRequest: heap,
        addedHeapBytes: heap === undefined || baseHeap === undefined ? undefined : heap - baseHeap,
        offHeapBytesPerRequest: alloc === undefined || alloc.offHeap.length === 0 ? undefined : median(alloc.offHeap),
        allocRunsSpoilt: alloc?.spoilt,
      };
    });
    const target = figures.find((figure) => figure.name === OURS_UNDICI);
    const ok = target?.addedMicros !== undefined && target.addedMicros <= TARGET_MICROS;
    console.log(
      table(
        ['case', 'p50 µs', 'added µs', 'CPU µs/req', 'added CPU µs', 'heap B/req', 'added heap B', 'target', 'verdict'],
        figures.map((figure) => [
          figure.name,
          fixed(figure.p50Micros),
          figure.against === undefined ? '-' : fixed(figure.addedMicros),
          fixed(figure.cpuMicros),
          figure.against === undefined ? '-' : fixed(figure.addedCpuMicros),
          figure.heapBytesPerRequest === undefined ? 'n/a' : count(figure.heapBytesPerRequest),
          figure.addedHeapBytes === undefined ? '-' : count(figure.addedHeapBytes),
          figure.name === OURS_UNDICI ? `<= ${TARGET_MICROS} µs added` : '',
          figure.name === OURS_UNDICI ? verdict(ok) : 'info',
        ]),
      ),
    );
    console.log(
      `\nheap B/req: JS heap allocated per request, garbage included, ${ALLOC_REQUESTS} requests with no collection (median of 3);`,
      'off-heap (ArrayBuffer contents) per request:',
      figures.map((figure) => `${figure.name} ${fixed(figure.offHeapBytesPerRequest, 0)}`).join(', '),
    );

    // The breakdown, stages as rows and cases as columns.
    const breakdown = Object.fromEntries(
      cases.map((each) => {
        const all = probed.get(each.name) ?? [];
        const stages = STAGES.map(({ label, from, fallback, to, afterBody }) => {
          if (afterBody === true && !each.resumesAfterBody) return [label, undefined] as const;
          const spans = all
            .map((one) => one[to] - (Number.isNaN(one[from]) && fallback !== undefined ? one[fallback] : one[from]))
            .filter((span) => !Number.isNaN(span));
          return [label, spans.length < all.length / 2 ? undefined : micros(median(spans))] as const;
        });
        return [each.name, Object.fromEntries(stages)];
      }),
    );
    console.log(
      `\nWhere the time goes (µs, medians over ${count(PROBED_ROUNDS * REQUESTS)} probed requests per case; '-': no such stage):\n`,
    );
    console.log(
      table(
        ['stage', ...cases.map((each) => each.name)],
        STAGES.map(({ label }) => [
          label,
          ...cases.map((each) => fixed((breakdown[each.name] as Record<string, number | undefined>)[label])),
        ]),
      ),
    );
    results.record('latency', {
      requests: REQUESTS,
      rounds: ROUNDS,
      probedRounds: PROBED_ROUNDS,
      targetMicros: TARGET_MICROS,
      verdict: verdict(ok),
      cases: figures,
      breakdownMicros: breakdown,
    });
  } finally {
    await connections.close();
    server.stop();
  }
}
