import { type Arrival, sendJson, startLocalServer } from './local-server.js';
import { ServerQuota } from './server-quota.js';
import { maxInAnyWindow } from './window-count.js';

/** A maintenance the API announced: a 429 with `Retry-After`, then every request refused until `until`. */
export interface Maintenance {
  /** `performance.now()` when the first refusal was answered: the cooldown starts here. */
  at: number;
  until: number;
  /** The path of the request that got that first refusal (it names the process that sent it). */
  path: string;
}

export interface FleetApi {
  /** Base URL, e.g. `http://127.0.0.1:54321`. */
  url: string;
  /** Every request in arrival order, refused ones included; `at` is its `performance.now()` arrival. */
  arrivals: readonly Arrival[];
  /** Why a refused arrival was refused; undefined for one that was served. */
  refusedFor(arrival: Arrival): 'quota' | 'maintenance' | undefined;
  /** The first request to arrive at or after `at` (`performance.now()`) starts a maintenance of `seconds`. */
  scheduleMaintenance(at: number, seconds: number): void;
  /** The maintenance once it has begun. */
  maintenance(): Maintenance | undefined;
  /** The most arrivals (served or not) in any half-open interval [t, t + windowMs). */
  maxInAnyWindow(windowMs: number): number;
  close(): Promise<void>;
}

/**
 * The API of the fleet example: an exact sliding window of `limit` requests per `windowMs`, counted on
 * arrival (see ServerQuota), 429 with `Retry-After` beyond it; and, once, a maintenance: the first
 * request after a given moment gets `429` with `Retry-After: <seconds>`, and so does every request
 * arriving before those seconds are over (as a real API does while it is unavailable: it keeps
 * refusing whoever did not listen). Every other path answers 200 with `{ path }`.
 */
export async function startFleetApi({ limit, windowMs }: { limit: number; windowMs: number }): Promise<FleetApi> {
  const quota = new ServerQuota(limit, windowMs);
  const refused = new Map<Arrival, 'quota' | 'maintenance'>();
  let maintenanceFrom: { at: number; seconds: number } | undefined;
  let maintenance: Maintenance | undefined;

  const server = await startLocalServer((req, res, _inProgress, arrival) => {
    req.resume(); // no body is expected, but an unread one would stall the keep-alive socket
    const now = arrival.at;
    if (maintenance === undefined && maintenanceFrom !== undefined && now >= maintenanceFrom.at) {
      maintenance = { at: now, until: now + maintenanceFrom.seconds * 1000, path: arrival.path };
    }
    if (maintenance !== undefined && now < maintenance.until) {
      refused.set(arrival, 'maintenance');
      const retryAfterS = Math.max(1, Math.ceil((maintenance.until - now) / 1000));
      sendJson(res, 429, { 'retry-after': String(retryAfterS) }, { error: 'down for maintenance' });
      return;
    }
    if (!quota.take(now)) {
      refused.set(arrival, 'quota');
      sendJson(res, 429, { 'retry-after': String(Math.max(1, Math.ceil(quota.untilFree(now) / 1000))) }, { error: 'rate limit exceeded' });
      return;
    }
    sendJson(res, 200, {}, { path: arrival.path });
  });

  return {
    url: server.url,
    arrivals: server.arrivals,
    refusedFor: (arrival) => refused.get(arrival),
    scheduleMaintenance: (at, seconds) => void (maintenanceFrom = { at, seconds }),
    maintenance: () => maintenance,
    maxInAnyWindow: (span) =>
      maxInAnyWindow(
        server.arrivals.map((arrival) => arrival.at),
        span,
      ),
    close: () => server.close(),
  };
}
