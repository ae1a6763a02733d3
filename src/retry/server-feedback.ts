// Acting on what a server says of its limits: a cooldown, the remaining budget, tightened windows.
import type { RateLimitedEvent } from '../core/event-types.js';
import type { RateWindow } from '../core/options.js';
import type { Refill } from '../limit/server-budget.js';
import { refusesForRate, type ServerLimits } from './rate-limit-headers.js';

/** What the client lets the HTTP layer do when a server speaks about its limits. */
export interface FeedbackTarget {
  /** Hold every start for `ms` (or, with `currency`, every start that costs some of it). */
  coolDown(ms: number, currency?: string): void;
  /**
   * Start no more than `remaining` (of `currency`, requests by default) before `resetMs` from now; the
   * carrier request cost `carried` of it. `refill`: the quota grows back meanwhile (a token bucket).
   */
  setServerBudget(remaining: number, resetMs: number, carried: number, currency?: string, refill?: Refill): void;
  windows(): readonly RateWindow[];
  setWindows(windows: RateWindow[]): void;
  rateLimited(event: RateLimitedEvent): void;
}

/**
 * Keeps the client in step with the server (`adaptive: true`):
 * - a 429, 503 or 403 (GitHub) with a wait pauses every worker until then, not just the request that got it;
 * - `remaining` with a reset time caps what starts before the reset, even where the client's own
 *   windows would allow more;
 * - a quota smaller than the configured one tightens the windows. Never loosens them.
 */
export function applyServerLimits(
  target: FeedbackTarget,
  limits: ServerLimits,
  response: { status: number; url: string; weight: number; maxWaitMs: number },
): void {
  const { sources } = limits;
  const { status, url } = response;
  // The client never sleeps longer than `maxWaitMs` on a server's word: a huge or misread wait (an
  // epoch in milliseconds read as seconds) must not freeze it. Requests sent after that and refused
  // again fail at once, carrying the wait.
  const wait = (ms: number) => Math.min(ms, response.maxWaitMs);
  if (refusesForRate(status) && limits.retryAfterMs !== undefined && limits.retryAfterMs > 0) {
    target.coolDown(wait(limits.retryAfterMs));
    target.rateLimited({ reason: 'retry-after', waitMs: wait(limits.retryAfterMs), status, url, sources });
  }
  if (limits.remaining !== undefined && limits.resetMs !== undefined) {
    const resetMs = wait(limits.resetMs);
    target.setServerBudget(limits.remaining, resetMs, response.weight, undefined, limits.refill);
    // A bucket that refills is not used up until its reset: the budget lets each unit start as it comes.
    if (limits.remaining === 0 && resetMs > 0 && limits.refill === undefined) {
      // Used up until the reset: a cooldown like a Retry-After, so that stats().cooldownUntil shows it.
      target.coolDown(resetMs);
      target.rateLimited({ reason: 'remaining', waitMs: resetMs, status, url, sources });
    }
  }
  const all = target.windows();
  const current = requestWindows(all);
  let windows = limits.policy === undefined ? undefined : tighten(current, limits.policy);
  if (limits.limit !== undefined && limits.resetMs !== undefined) {
    windows = lowerLimits(windows ?? current, limits.limit, limits.resetMs) ?? windows;
  }
  if (windows !== undefined) {
    windows = [...windows, ...all.filter((window) => !current.includes(window))];
    target.setWindows(windows);
    target.rateLimited({ reason: 'policy', waitMs: 0, status, url, sources, windows });
  }
}

/**
 * A server limit whose window length is unknown (`X-RateLimit-Limit: 50`). The server's window is at
 * least as long as the time to its reset, and a client window no longer than the server's can never
 * allow more than the server's limit: such windows come down to it. A longer client window is left
 * alone, since the server may allow its limit several times over in it (GitHub's search allows 30 a
 * minute beside 5000 an hour: 30 must not become the hourly limit).
 */
export function lowerLimits(windows: readonly RateWindow[], limit: number, resetMs: number): RateWindow[] | undefined {
  const tooGenerous = (window: RateWindow) => window.limit > limit && window.windowMs <= resetMs;
  if (!windows.some(tooGenerous)) return undefined;
  return windows.map((window) => (tooGenerous(window) ? { ...window, limit } : window));
}

/**
 * The windows a server's headers speak of: sliding windows of requests. The windows of other currencies
 * (tokens) and the buckets (whose burst a window's limit can not be compared with) stay as they are.
 */
export function requestWindows(windows: readonly RateWindow[]): RateWindow[] {
  return windows.filter((window) => (window.counts ?? 'requests') === 'requests' && window.burst === undefined);
}

/**
 * Every window with each of `policies` applied to the request windows (see `tighten`), or undefined
 * when they keep them all already: how a process adopts windows another process's server tightened.
 */
export function tightenAll(windows: readonly RateWindow[], policies: readonly RateWindow[]): RateWindow[] | undefined {
  const current = requestWindows(windows);
  let tightened: RateWindow[] | undefined;
  for (const policy of policies) tightened = tighten(tightened ?? current, policy) ?? tightened;
  if (tightened === undefined) return undefined;
  return [...tightened, ...windows.filter((window) => !current.includes(window))];
}

/**
 * The windows with the server's quota applied, or undefined when they already keep it: a window of
 * the same length is lowered to the server's limit; otherwise the server's window is added.
 */
export function tighten(windows: readonly RateWindow[], policy: RateWindow): RateWindow[] | undefined {
  const same = windows.find((window) => window.windowMs === policy.windowMs);
  if (same !== undefined && same.limit <= policy.limit) return undefined;
  if (same === undefined && windows.some((w) => w.windowMs >= policy.windowMs && w.limit <= policy.limit)) return undefined;
  const kept = windows.filter((window) => window.windowMs !== policy.windowMs);
  return [...kept, { limit: policy.limit, windowMs: policy.windowMs, counts: 'requests' }];
}
