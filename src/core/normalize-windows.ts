// Checking `rateLimit` (one window or several) into windows with every field set.
import { normalizeCurrency } from './cost.js';
import type { RateWindow } from './options.js';
import { integerAtLeast, knownKeys, plainObject, positiveFinite } from './validate.js';

const WINDOW_KEYS = ['limit', 'windowMs', 'counts', 'burst'] as const;

/** Validates `rateLimit` (one window or an array of them) into a fresh array of windows, each with its `counts`. */
export function normalizeWindows(name: string, value: unknown): RateWindow[] {
  if (value === undefined) return [];
  const list: unknown[] = Array.isArray(value) ? value : [value];
  return list.map((entry, index) => {
    const at = Array.isArray(value) ? `${name}[${index}]` : name;
    const window = plainObject(at, entry);
    knownKeys(at, window, WINDOW_KEYS);
    return {
      limit: integerAtLeast(`${at}.limit`, window.limit, 1),
      windowMs: positiveFinite(`${at}.windowMs`, window.windowMs),
      counts: normalizeCurrency(`${at}.counts`, window.counts),
      ...(window.burst === undefined ? {} : { burst: integerAtLeast(`${at}.burst`, window.burst, 1) }),
    };
  });
}
