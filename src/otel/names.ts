// The metric, span and attribute names of `rate-limited-client/otel`: fixed by API.md, one place to read them.

/** The instrumentation scope: the meter's and the tracer's name. */
export const SCOPE = 'rate-limited-client';

export const METRIC = {
  queueSize: 'rate_limited_client.queue.size',
  queueCapacity: 'rate_limited_client.queue.capacity',
  activeRequests: 'rate_limited_client.active_requests',
  timeInQueue: 'rate_limited_client.request.time_in_queue',
  requests: 'rate_limited_client.requests',
  retries: 'rate_limited_client.retries',
  windowUsage: 'rate_limited_client.window.usage',
  cost: 'rate_limited_client.cost',
  serverRefusals: 'rate_limited_client.server.refusals',
} as const;

export const WAIT_SPAN = 'rate_limited_client.wait';

export const ATTR = {
  name: 'rate_limited_client.name',
  outcome: 'rate_limited_client.outcome',
  priority: 'rate_limited_client.priority',
  waitReason: 'rate_limited_client.wait_reason',
  windowCounts: 'rate_limited_client.window.counts',
  windowMs: 'rate_limited_client.window.ms',
  currency: 'rate_limited_client.currency',
  // OpenTelemetry's semantic convention for an HTTP status.
  httpStatus: 'http.response.status_code',
} as const;
