// instrument()'s options: their public type and the check that turns what a caller passed into providers.
import { type MeterProvider, metrics, trace, type TracerProvider } from '@opentelemetry/api';
import { describe, knownKeys, plainObject } from '../core/validate.js';

/** Where `instrument()` reports. */
export interface InstrumentOptions {
  /**
   * The MeterProvider that receives the metrics (an `@opentelemetry/sdk-metrics` `MeterProvider`, say).
   * @default the global MeterProvider (`metrics.getMeterProvider()`) when `instrument()` is called:
   * register the SDK's provider first.
   */
  meterProvider?: MeterProvider | undefined;
  /**
   * The TracerProvider that receives the `rate_limited_client.wait` spans.
   * @default the global TracerProvider (`trace.getTracerProvider()`), which follows a provider
   * registered later
   */
  tracerProvider?: TracerProvider | undefined;
}

export interface Providers {
  meterProvider: MeterProvider;
  tracerProvider: TracerProvider;
}

const KEYS = ['meterProvider', 'tracerProvider'] as const;

/** An object with a method `method`: all that is asked of a provider, from any version of the API. */
function checkProvider(name: string, value: unknown, kind: string, method: string): void {
  if (typeof value !== 'object' || value === null || typeof (value as Record<string, unknown>)[method] !== 'function') {
    throw new TypeError(`Expected \`${name}\` to be an OpenTelemetry ${kind} (an object with ${method}()), got ${describe(value)}`);
  }
}

/** Checks what the caller passed (TypeError naming the option) and fills in the global providers. */
export function normalizeInstrumentOptions(options: unknown): Providers {
  const given = plainObject('options', options === undefined ? {} : options);
  knownKeys('', given, KEYS);
  const { meterProvider, tracerProvider } = given;
  if (meterProvider !== undefined) checkProvider('meterProvider', meterProvider, 'MeterProvider', 'getMeter');
  if (tracerProvider !== undefined) checkProvider('tracerProvider', tracerProvider, 'TracerProvider', 'getTracer');
  return {
    meterProvider: meterProvider === undefined ? metrics.getMeterProvider() : (meterProvider as MeterProvider),
    tracerProvider: tracerProvider === undefined ? trace.getTracerProvider() : (tracerProvider as TracerProvider),
  };
}
