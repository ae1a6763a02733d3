// A UsageReader over a JSON or Server-Sent-Events body: finds the values at a few key paths as the body passes.
import type { Cost } from '../core/cost.js';
import type { MeterResponse, UsageReader } from '../core/meter.js';
import { JsonPathCapture } from './json-capture.js';
import type { JsonPath, OnJsonValue } from './json-capture.js';
import { SseScanner } from './sse.js';

/**
 * A reader for a successful response's body, plain JSON or a `text/event-stream` whose events carry
 * JSON data. `onValue` hears each value found at one of `paths` (in a stream, in every event, in
 * order); `settle` gives the cost once the body has ended. Undefined for a response that carries no
 * usage: not 2xx, or neither JSON nor an event stream.
 */
export function bodyReader(
  response: MeterResponse,
  paths: readonly JsonPath[],
  onValue: OnJsonValue,
  settle: () => Cost | undefined,
): UsageReader | undefined {
  if (response.status < 200 || response.status > 299) return undefined;
  const type = response.headers.get('content-type')?.toLowerCase() ?? '';
  const capture = new JsonPathCapture(paths, onValue);
  let push: (bytes: Uint8Array) => void;
  if (type.includes('text/event-stream')) {
    // Each event's data is a JSON document of its own.
    const events = new SseScanner({ data: (bytes, start, end) => capture.push(bytes, start, end), end: () => capture.reset() });
    push = (bytes) => events.push(bytes);
  } else if (type.includes('json')) {
    push = (bytes) => capture.push(bytes);
  } else return undefined;
  let failed = false;
  return {
    chunk(bytes) {
      if (failed) return;
      try {
        push(bytes);
      } catch {
        // Nothing here should throw; if it did, the rest of the body can not be read right.
        failed = true;
      }
    },
    end() {
      return failed ? undefined : settle();
    },
  };
}

/** `value` as an integer >= 0, or undefined. */
export function tokenCount(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/** `value` as a plain object, or undefined. */
export function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
