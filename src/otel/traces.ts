// The `rate_limited_client.wait` spans: one per task, from enqueue to start (or to its end if it never
// starts), a child of the span that was active where the caller queued it.
import { performance } from 'node:perf_hooks';
import { type Attributes, context, type Span, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import type { TaskMessage } from '../core/diagnostics.js';
import { ATTR, WAIT_SPAN } from './names.js';

export interface Traces {
  taskEnqueue(message: TaskMessage): void;
  taskStart(message: TaskMessage): void;
  taskEnd(message: TaskMessage): void;
}

/** An open wait span, and what turns the messages' `performance.now()` readings into its times. */
interface OpenWait {
  span: Span;
  /**
   * Epoch ms minus `performance.now()` when the span started. The API's TimeInput is epoch ms; the
   * monotonic clock drifts from the wall clock over a process's life (and `timeOrigin` is when the
   * process started), so the two are tied together now, as the SDK does for its own spans. One offset
   * for both ends keeps the span's duration exactly the measured wait.
   */
  offset: number;
}

export function createTraces(tracer: Tracer): Traces {
  /**
   * The open wait span of each task, keyed by its message (one object per task, from enqueue to end):
   * an entry lives no longer than the task's message, and a span that is not recording is never put
   * here (with no SDK registered, a task costs one no-op span and nothing more).
   */
  const waits = new WeakMap<TaskMessage, OpenWait>();

  return {
    taskEnqueue(message) {
      // Published synchronously inside the caller's schedule(): the active context is the caller's.
      const attributes: Attributes = { [ATTR.priority]: message.priority };
      if (message.name !== undefined) attributes[ATTR.name] = message.name;
      const offset = Date.now() - performance.now();
      const span = tracer.startSpan(
        WAIT_SPAN,
        {
          kind: SpanKind.INTERNAL,
          startTime: message.enqueuedAt + offset,
          attributes,
        },
        context.active(),
      );
      if (span.isRecording()) waits.set(message, { span, offset });
    },

    taskStart(message) {
      const wait = waits.get(message);
      if (wait === undefined) return;
      waits.delete(message);
      const { span, offset } = wait;
      if (message.waitReason !== undefined) span.setAttribute(ATTR.waitReason, message.waitReason);
      span.end((message.startedAt ?? performance.now()) + offset);
    },

    // Only a task that never started still has its span here: dropped, aborted, timed out in the queue,
    // discarded by close({ drain: false }).
    taskEnd(message) {
      const wait = waits.get(message);
      if (wait === undefined) return;
      waits.delete(message);
      const { span, offset } = wait;
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
      span.end((message.endedAt ?? performance.now()) + offset);
    },
  };
}
