import type { RateLimitedEvent } from '../core/events.js';
import type { RateWindow } from '../core/options.js';
import type { ServerLimits } from './rate-limit-headers.js';

/** What the client lets the HTTP layer do when a server speaks about its limits. */
export interface FeedbackTarget {
  /** Hold every start for `ms`. */
  coolDown(ms: number): void;
  /** Start no more than `remaining` before `resetMs` from now. */
  setServerBudget(remaining: number, resetMs: number): void;
  windows(): readonly RateWindow[];
  setWindows(windows: RateWindow[]): void;
  rateLimited(event: RateLimitedEvent): void;
}

/**
 * Keeps the client in step with the server (`adaptive: true`):
 * - a 429 or 503 with a wait pauses every worker until then, not just the request that got it;
 * - `remaining` with a reset time caps what starts before the reset, even where the client's own
 *   windows would allow more;
 * - a quota smaller than the configured one tightens the windows. Never loosens them.
 */
export function applyServerLimits(target: FeedbackTarget, limits: ServerLimits, status: number, url: string): void {
  const { sources } = limits;
  if ((status === 429 || status === 503) && limits.retryAfterMs !== undefined) {
    target.coolDown(limits.retryAfterMs);
    target.rateLimited({ reason: 'retry-after', waitMs: limits.retryAfterMs, status, url, sources });
  }
  if (limits.remaining !== undefined && limits.resetMs !== undefined) {
    target.setServerBudget(limits.remaining, limits.resetMs);
    if (limits.remaining === 0) {
      // Used up until the reset: a cooldown like a Retry-After, so that stats().cooldownUntil shows it.
      target.coolDown(limits.resetMs);
      target.rateLimited({ reason: 'remaining', waitMs: limits.resetMs, status, url, sources });
    }
  }
  const current = target.windows();
  let windows = limits.policy === undefined ? undefined : tighten(current, limits.policy);
  if (limits.limit !== undefined) windows = lowerLimits(windows ?? current, limits.limit) ?? windows;
  if (windows !== undefined) {
    target.setWindows(windows);
    target.rateLimited({ reason: 'policy', waitMs: 0, status, url, sources, windows });
  }
}

/**
 * A server limit whose window length is unknown (`X-RateLimit-Limit: 50`): every client window that
 * allows more is too generous whatever the server's period, so it comes down to that limit.
 */
export function lowerLimits(windows: readonly RateWindow[], limit: number): RateWindow[] | undefined {
  if (!windows.some((window) => window.limit > limit)) return undefined;
  return windows.map((window) => ({ limit: Math.min(window.limit, limit), windowMs: window.windowMs }));
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
  return [...kept, { limit: policy.limit, windowMs: policy.windowMs }];
}
