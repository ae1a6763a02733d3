// instrument(): subscribes one handle's metrics and traces to the diagnostics channels, and stop() undoes it.
import diagnosticsChannel from 'node:diagnostics_channel';
import { diag } from '@opentelemetry/api';
import {
  CHANNEL_NAMES,
  type ClientCreateMessage,
  type ObservedClient,
  type RefusalMessage,
  type TaskMessage,
} from '../core/diagnostics.js';
import { ClientRegistry } from './clients.js';
import { createMetrics } from './metrics.js';
import { SCOPE } from './names.js';
import { type InstrumentOptions, normalizeInstrumentOptions } from './options.js';
import { createTraces } from './traces.js';

/** What `instrument()` returns: the one way to undo it. */
export interface InstrumentHandle {
  /**
   * Unsubscribes from every diagnostics channel, removes the observable callbacks from the meter and
   * lets go of every client: nothing of this handle runs afterwards. Calling it again does nothing.
   * Wait spans of tasks still queued then are not ended (and so not exported).
   */
  stop(): void;
}

/** Every message that names a client has these; the client is what tells them apart. */
interface ClientMessage {
  client: ObservedClient;
}

/**
 * Reports every `RateLimitedClient` of the process to OpenTelemetry: the `rate_limited_client.*`
 * metrics and a `rate_limited_client.wait` span per task. A client needs no option to be seen: one
 * created later is seen as it is created, one created earlier at its next task or event. No client is
 * kept alive by this, and a closed client is reported no more. Nothing runs before this is called.
 *
 * Bad options throw a TypeError naming the option: not an object, an unknown key, a `meterProvider`
 * without `getMeter()`, a `tracerProvider` without `getTracer()`.
 *
 * @param options The providers to report to; the global ones by default.
 * @returns A handle whose `stop()` undoes it all. Each call makes an independent handle.
 * @example
 * import { instrument } from 'rate-limited-client/otel';
 * const otel = instrument({ meterProvider, tracerProvider });
 * // ... at shutdown:
 * otel.stop();
 */
export function instrument(options?: InstrumentOptions): InstrumentHandle {
  const { meterProvider, tracerProvider } = normalizeInstrumentOptions(options);
  const registry = new ClientRegistry();
  const metrics = createMetrics(meterProvider.getMeter(SCOPE), registry);
  const traces = createTraces(tracerProvider);

  const handlers: Record<string, (message: never) => void> = {
    [CHANNEL_NAMES.clientCreate]: (message: ClientCreateMessage) => registry.see(message.client),
    [CHANNEL_NAMES.clientClose]: (message: ClientCreateMessage) => registry.forget(message.client),
    [CHANNEL_NAMES.taskEnqueue]: (message: TaskMessage) => {
      registry.see(message.client);
      traces.taskEnqueue(message);
    },
    [CHANNEL_NAMES.taskStart]: (message: TaskMessage) => {
      const entry = registry.see(message.client);
      if (entry !== undefined) metrics.taskStart(message, entry);
      traces.taskStart(message);
    },
    [CHANNEL_NAMES.taskEnd]: (message: TaskMessage) => {
      const entry = registry.see(message.client);
      if (entry !== undefined) metrics.taskEnd(message, entry);
      traces.taskEnd(message);
    },
    [CHANNEL_NAMES.refusal]: (message: RefusalMessage) => {
      const entry = registry.see(message.client);
      if (entry !== undefined) metrics.refusal(message, entry);
    },
    // Heard only to find clients created before instrument() (retries are counted from stats()).
    [CHANNEL_NAMES.retry]: (message: ClientMessage) => registry.see(message.client),
    [CHANNEL_NAMES.rateLimited]: (message: ClientMessage) => registry.see(message.client),
    [CHANNEL_NAMES.drop]: (message: ClientMessage) => registry.see(message.client),
    [CHANNEL_NAMES.idle]: (message: ClientMessage) => registry.see(message.client),
    [CHANNEL_NAMES.error]: (message: ClientMessage) => registry.see(message.client),
  };

  // A subscriber that throws becomes an uncaught exception in the publisher's process: reporting must
  // never take a service down, so a failure is told to OpenTelemetry's diagnostic logger instead.
  const subscriptions = Object.entries(handlers).map(([name, handle]) => {
    const listener = (message: unknown) => {
      try {
        handle(message as never);
      } catch (error) {
        diag.error(`rate-limited-client/otel: reporting a ${name} message failed`, error);
      }
    };
    diagnosticsChannel.subscribe(name, listener);
    return [name, listener] as const;
  });

  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      for (const [name, listener] of subscriptions) diagnosticsChannel.unsubscribe(name, listener);
      metrics.stop();
      registry.clear();
    },
  };
}
