// `rate-limited-client/testing`: helpers for tests. msw is an optional peer dependency, imported only
// from this subpath so that the main entry never loads it.
export { createMswDispatcher, MswDispatcher, UnhandledRequestError } from './msw-dispatcher.js';
export type { MswDispatcherOptions, MswHandlerSource } from './msw-dispatcher.js';
