/**
 * `rate-limited-client/otel` traces with the real SDK: a BasicTracerProvider exporting to memory, a
 * global context manager (what carries the active span across awaits: each test runs with both of
 * context-async-hooks' managers, AsyncLocalStorage's as NodeSDK registers it and the older async-hooks
 * one), and `@opentelemetry/instrumentation-undici`, which makes an HTTP span for every request it sees
 * on undici's diagnostics channels (the `undici` package's and the one inside Node's fetch alike).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, type ContextManager, type Span, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { AsyncHooksContextManager, AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RateLimitedClient, type RateLimitedClientOptions } from 'rate-limited-client';
import { instrument } from 'rate-limited-client/otel';

const WAIT = 'rate_limited_client.wait';

let exporter: InMemorySpanExporter;
let provider: BasicTracerProvider;
let tracer: Tracer;
const cleanups: Array<() => unknown> = [];

const MANAGERS = {
  AsyncLocalStorageContextManager: () => new AsyncLocalStorageContextManager(),
  // Deprecated in favour of the one above, and still what many setups register.
  // eslint-disable-next-line @typescript-eslint/no-deprecated
  AsyncHooksContextManager: () => new AsyncHooksContextManager(),
};

function setUpTracing(makeManager: () => ContextManager): void {
  context.setGlobalContextManager(makeManager().enable());
  exporter = new InMemorySpanExporter();
  provider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  tracer = provider.getTracer('test');
  const handle = instrument({ tracerProvider: provider });
  cleanups.push(() => handle.stop());
}

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await provider.shutdown();
  context.disable();
});

function newClient(options: RateLimitedClientOptions): RateLimitedClient {
  const client = new RateLimitedClient(options);
  cleanups.push(() => client.close({ drain: false }));
  return client;
}

/** Runs `work` as a caller would: inside an active span of its own, ended when the work is. */
function asCaller<T>(name: string, work: (span: Span) => Promise<T>): Promise<{ span: Span; result: T }> {
  return tracer.startActiveSpan(name, async (span) => {
    try {
      return { span, result: await work(span) };
    } finally {
      span.end();
    }
  });
}

const finished = (name: string) => exporter.getFinishedSpans().filter((span) => span.name === name);
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const endMs = (span: ReadableSpan) => span.endTime[0] * 1000 + span.endTime[1] / 1e6;

for (const [managerName, makeManager] of Object.entries(MANAGERS)) {
  describe(`with the ${managerName}`, () => {
    beforeEach(() => setUpTracing(makeManager));

    describe('otel traces: the rate_limited_client.wait span', () => {
      it('is a child of each caller span, with the client name, priority and the reason it waited', async () => {
        const client = newClient({
          name: 'traced',
          concurrency: 5,
          rateLimit: { limit: 1, windowMs: 150 },
        });
        const callers = await Promise.all(
          [0, 1, 2].map((i) =>
            asCaller(`caller-${i}`, () =>
              // The task itself runs in its caller's context too: the active span inside is the caller's.
              client.schedule(() => trace.getActiveSpan()?.spanContext().spanId, { priority: i }),
            ),
          ),
        );
        const waits = finished(WAIT);
        expect(waits).toHaveLength(3);
        const waitOf = (caller: Span) => waits.find((w) => parentOf(w) === caller.spanContext().spanId);
        const firstWait = waitOf((callers[0] as { span: Span }).span) as ReadableSpan;
        for (const [i, { span, result }] of callers.entries()) {
          const { spanId, traceId } = span.spanContext();
          expect(result, `caller-${i}'s task ran in another context`).toBe(spanId);
          const wait = waitOf(span);
          expect(wait, `no wait span is a child of caller-${i}`).toBeDefined();
          const { attributes } = wait as ReadableSpan;
          expect(wait?.spanContext().traceId).toBe(traceId);
          expect(wait?.kind).toBe(SpanKind.INTERNAL);
          expect(attributes['rate_limited_client.name']).toBe('traced');
          expect(attributes['rate_limited_client.priority']).toBe(i);
          // The first started in the call that queued it; the others waited for the window.
          expect(attributes['rate_limited_client.wait_reason']).toBe(i === 0 ? undefined : 'window');
          // A started task's wait has no outcome and no error.
          expect(attributes['rate_limited_client.outcome']).toBeUndefined();
          expect(wait?.status.code).toBe(SpanStatusCode.UNSET);
          // 1 per 150 ms: the i-th started (its wait ended) no sooner than i * 150 ms after the first
          // (less 1 ms for each span's tie of the monotonic clock to the wall clock, in whole ms).
          if (i > 0) expect(endMs(wait as ReadableSpan) - endMs(firstWait)).toBeGreaterThanOrEqual(i * 150 - 2);
        }
      });

      it("names 'paused' as the reason while the client was paused", async () => {
        const client = newClient({ name: 'paused' });
        client.pause();
        const done = asCaller('caller', () => client.schedule(() => 'ran'));
        await new Promise((resolve) => setImmediate(resolve));
        expect(finished(WAIT)).toEqual([]); // still waiting: not ended, not exported
        client.resume();
        const { span } = await done;
        const [wait, ...others] = finished(WAIT);
        expect(others).toEqual([]);
        expect(parentOf(wait as ReadableSpan)).toBe(span.spanContext().spanId);
        expect(wait?.attributes['rate_limited_client.wait_reason']).toBe('paused');
      });

      it('a task that never started: the span ends at its end, with its outcome and an error status', async () => {
        const client = newClient({
          name: 'never',
          queue: { maxSize: 1, overflow: 'drop-oldest' },
        });
        client.pause();
        const abort = new AbortController();
        const outcomes = await asCaller('caller', async () => {
          const aborted = client.schedule(() => 'no', { signal: abort.signal });
          abort.abort(new Error('secret reason'));
          const dropped = client.schedule(() => 'no');
          const kept = client.schedule(() => 'yes'); // pushes `dropped` out
          client.resume();
          return Promise.allSettled([aborted, dropped, kept]);
        });
        expect(outcomes.result.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
        const waits = finished(WAIT);
        expect(waits).toHaveLength(3);
        const byOutcome = (outcome: string) => waits.find((w) => w.attributes['rate_limited_client.outcome'] === outcome);
        for (const outcome of ['aborted', 'dropped']) {
          const wait = byOutcome(outcome);
          expect(wait, outcome).toBeDefined();
          expect(wait?.status.code).toBe(SpanStatusCode.ERROR);
          expect(wait?.status.message).not.toContain('secret');
          expect(parentOf(wait as ReadableSpan)).toBe(outcomes.span.spanContext().spanId);
          expect(wait?.attributes['rate_limited_client.wait_reason']).toBe('paused');
        }
        const started = waits.filter((w) => w.attributes['rate_limited_client.outcome'] === undefined);
        expect(started).toHaveLength(1);
        expect(started[0]?.status.code).toBe(SpanStatusCode.UNSET);
      });

      it("with the global provider: no span before an SDK registers, the SDK's spans once it has", async () => {
        const globalHandle = instrument(); // the global TracerProvider, with no SDK behind it yet
        cleanups.push(() => globalHandle.stop());
        const ownExporter = new InMemorySpanExporter();
        const sdk = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(ownExporter)] });
        cleanups.push(() => {
          trace.disable();
          return sdk.shutdown();
        });
        const client = newClient({ name: 'global' });
        await client.schedule(() => 'before');
        expect(ownExporter.getFinishedSpans()).toEqual([]);
        trace.setGlobalTracerProvider(sdk);
        await client.schedule(() => 'after');
        const waits = ownExporter.getFinishedSpans().filter((span) => span.name === WAIT);
        expect(waits).toHaveLength(1);
        expect(waits[0]?.attributes['rate_limited_client.name']).toBe('global');
      });

      it('no span is made once stop() was called', async () => {
        const handle = instrument({ tracerProvider: provider });
        handle.stop();
        for (const cleanup of cleanups.splice(0)) await cleanup(); // the beforeEach handle
        const client = newClient({ name: 'stopped' });
        await asCaller('caller', () => client.schedule(() => 'x'));
        expect(finished(WAIT)).toEqual([]);
        expect(finished('caller')).toHaveLength(1);
      });
    });

    describe('otel traces: the HTTP span of a queued request is a child of its caller (instrumentation-undici)', () => {
      let server: Server;
      let url: string;

      beforeEach(async () => {
        server = createServer((req, res) => {
          req.resume();
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path: req.url }));
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const undici = new UndiciInstrumentation();
        undici.setTracerProvider(provider);
        undici.enable();
        cleanups.push(
          () => undici.disable(),
          () => {
            server.closeAllConnections();
            return new Promise((resolve) => server.close(resolve));
          },
        );
      });

      const CALLERS = 4;
      const entryPoints = {
        "get() on the 'undici' transport": (client: RateLimitedClient, path: string) => client.get(path).then((r) => r.json()),
        "get() on the 'fetch' transport": (client: RateLimitedClient, path: string) => client.get(path).then((r) => r.json()),
        'client.fetch': (client: RateLimitedClient, path: string) => client.fetch(`${url}${path}`).then((r) => r.json()),
      } as const;

      for (const [via, call] of Object.entries(entryPoints)) {
        it(`${via}: ${CALLERS} callers queued behind a window of 1 per 100 ms`, async () => {
          const transport = via.includes("'undici'") ? 'undici' : 'fetch';
          const client = newClient({
            name: 'http',
            baseUrl: url,
            transport,
            rateLimit: { limit: 1, windowMs: 100 },
          });
          const callers = await Promise.all(
            Array.from({ length: CALLERS }, (_, i) => asCaller(`caller-${i}`, () => call(client, `/item/${i}`))),
          );
          const httpSpans = exporter.getFinishedSpans().filter((span) => span.kind === SpanKind.CLIENT);
          expect(httpSpans, 'the undici instrumentation saw every request').toHaveLength(CALLERS);
          const waits = finished(WAIT);
          expect(waits).toHaveLength(CALLERS);
          for (const [i, { span, result }] of callers.entries()) {
            expect(result).toEqual({ path: `/item/${i}` });
            const callerId = span.spanContext().spanId;
            const http = httpSpans.find((s) => String(s.attributes['url.full']).endsWith(`/item/${i}`));
            expect(http, `no HTTP span for /item/${i}`).toBeDefined();
            expect(parentOf(http as ReadableSpan), `the HTTP span of caller-${i} has another parent`).toBe(callerId);
            expect(http?.spanContext().traceId).toBe(span.spanContext().traceId);
            expect(waits.filter((w) => parentOf(w) === callerId)).toHaveLength(1);
          }
          // They did queue: all but the first waited for the window.
          // (All but the first, unless this machine stalled for a window's length between two calls.)
          expect(waits.filter((w) => w.attributes['rate_limited_client.wait_reason'] === 'window').length).toBeGreaterThanOrEqual(1);
        });
      }
    });
  });
}
