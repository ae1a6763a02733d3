import { vi } from 'vitest';
import { RateLimitedClient, type RateLimitedClientOptions } from '../../../src/index.js';

// Captured when this module loads, before any test fakes it.
const realSetImmediate = globalThis.setImmediate;

/** One real event-loop turn: drains every pending microtask (a store's answer, say) without moving fake time. */
export function flush(): Promise<void> {
  return new Promise((resolve) => realSetImmediate(resolve));
}

/** Fake timers drive the scheduler; the injected clock reads the same fake time. */
export function useFakeTime(): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'Date'], now: 0 });
}

export function fakeClient(options: RateLimitedClientOptions = {}): RateLimitedClient {
  return new RateLimitedClient({ clock: { now: () => Date.now() }, ...options });
}

/** A task that records when it started and finishes after `ms` of fake time. */
export function recorder() {
  const started: Array<{ name: string; at: number }> = [];
  const task =
    <T>(name: string, ms = 0, value?: T) =>
    async (): Promise<T | string> => {
      started.push({ name, at: Date.now() });
      if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
      return value ?? name;
    };
  return { started, task, names: () => started.map((s) => s.name) };
}

/** Settles a promise's outcome into a value for assertions, so no rejection is left unhandled. */
export function outcome<T>(promise: Promise<T>): { readonly state: 'pending' | 'fulfilled' | 'rejected'; value?: T; reason?: unknown } {
  const result: { state: 'pending' | 'fulfilled' | 'rejected'; value?: T; reason?: unknown } = { state: 'pending' };
  promise.then(
    (value) => {
      result.state = 'fulfilled';
      result.value = value;
    },
    (reason: unknown) => {
      result.state = 'rejected';
      result.reason = reason;
    },
  );
  return result;
}
