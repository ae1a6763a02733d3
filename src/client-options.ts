// The options of `new RateLimitedClient(...)`: the scheduling part (core/options.ts) and the HTTP part
// (http/options.ts) in one interface. It lives beside the client because it joins two floors.
import type { SchedulerOptions } from './core/options.js';
import type { HttpClientOptions } from './http/options.js';

/** Everything `new RateLimitedClient(options)` takes; every option is checked in the constructor. */
export interface RateLimitedClientOptions extends SchedulerOptions, HttpClientOptions {}
