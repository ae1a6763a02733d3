// The `rate-limited-client/otel` entry: @opentelemetry/api is an optional peer dependency, so nothing
// here is reachable from the main entry, and a process that never imports it loads none of it.
export { instrument, type InstrumentHandle } from './instrument.js';
export type { InstrumentOptions } from './options.js';
