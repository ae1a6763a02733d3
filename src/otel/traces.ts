// The `rate_limited_client.wait` spans: one per task, from enqueue to start (or to its end if it never
// starts), a child of the span that was active where the caller queued it.
import { context, type Span, SpanKind, SpanStatusCode, type Tracer, type TracerProvider } from '@opentelemetry/api';
import type { TaskMessage } from '../core/diagnostics.js';
import { ATTR, SCOPE, WAIT_SPAN } from './names.js';

export interface Traces {
  taskEnqueue(message: TaskMessage): void;
  taskStart(message: TaskMessage): void;
  taskEnd(message: TaskMessage): void;
}

/**
 * Shared by every wait span. No start or end time is passed: each message is published at the moment
 * it tells of (enqueue, start, end), so the SDK's own clock reads the same instants, and a span that
 * is not recording (no SDK registered) costs no clock reading and no attribute object.
 */
const WAIT_OPTIONS = { kind: SpanKind.INTERNAL } as const;

/** The API's global provider: a proxy that tells whether an SDK stands behind it yet. */
interface GlobalTracerProvider extends TracerProvider {
  getDelegateTracer(name: string): Tracer | undefined;
}

/**
 * The tracer to make wait spans with, or undefined while there is none to make. The global provider
 * (the API's proxy) has no SDK behind it until one registers, maybe after `instrument()`: until then its
 * tracer would only make no-op spans, one a task, so none is asked for; once an SDK is there, its tracer
 * is kept. Any other provider's tracer is used as it is. (Told apart by the proxy's method, not by its
 * class, which the API marks deprecated.)
 */
function tracerOf(provider: TracerProvider): () => Tracer | undefined {
  if (typeof (provider as Partial<GlobalTracerProvider>).getDelegateTracer !== 'function') {
    const tracer = provider.getTracer(SCOPE);
    return () => tracer;
  }
  const global = provider as GlobalTracerProvider;
  let tracer: Tracer | undefined;
  return () => (tracer ??= global.getDelegateTracer(SCOPE));
}

export function createTraces(provider: TracerProvider): Traces {
  const currentTracer = tracerOf(provider);
  /**
   * The open wait span of each task, keyed by its message (one object per task, from enqueue to end):
   * an entry lives no longer than the task's message, and a span that is not recording is never put
   * here (with no SDK registered, a task costs one no-op span and nothing more).
   */
  const waits = new WeakMap<TaskMessage, Span>();
  /** Spans in `waits`: with none (no SDK, or nothing waiting), a task's start and end need no lookup. */
  let open = 0;

  return {
    taskEnqueue(message) {
      const tracer = currentTracer();
      if (tracer === undefined) return;
      // Published synchronously inside the caller's schedule(): the active context is the caller's.
      const span = tracer.startSpan(WAIT_SPAN, WAIT_OPTIONS, context.active());
      if (!span.isRecording()) return;
      span.setAttribute(ATTR.priority, message.priority);
      if (message.name !== undefined) span.setAttribute(ATTR.name, message.name);
      waits.set(message, span);
      open++;
    },

    taskStart(message) {
      if (open === 0) return;
      const span = waits.get(message);
      if (span === undefined) return;
      waits.delete(message);
      open--;
      if (message.waitReason !== undefined) span.setAttribute(ATTR.waitReason, message.waitReason);
      span.end();
    },

    // Only a task that never started still has its span here: dropped, aborted, timed out in the queue,
    // discarded by close({ drain: false }).
    taskEnd(message) {
      if (open === 0) return;
      const span = waits.get(message);
      if (span === undefined) return;
      waits.delete(message);
      open--;
      if (message.outcome !== undefined) span.setAttribute(ATTR.outcome, message.outcome);
      if (message.waitReason !== undefined) span.setAttribute(ATTR.waitReason, message.waitReason);
      if (message.outcome !== 'completed') {
        const error = message.error;
        // The error's name only: a message may carry what the caller put in an abort reason.
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: error instanceof Error ? error.name : String(message.outcome),
        });
      }
      span.end();
    },
  };
}
