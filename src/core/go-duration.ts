// Go's time.Duration as text (`6m0s`, `20ms`, `2m59.56s`): how OpenAI and its kin write reset delays.

/** A duration's units, as Go's ParseDuration takes them (µs in both of its spellings, and `us`). */
const UNIT_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 1e-3, µs: 1e-3, μs: 1e-3, ns: 1e-6 };
/** One number and unit of a duration; the alternation lists `ms` before `m`. */
const PART = /(\d+\.?\d*|\.\d+)(h|ms|m|s|us|µs|μs|ns)/g;

/**
 * The milliseconds a Go duration's parts add up to, not rounded. The text must already have matched
 * the caller's own pattern of a whole duration (each caller decides which forms it takes).
 */
export function goDurationPartsMs(text: string): number {
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(PART)) ms += Number(amount) * (UNIT_MS[unit ?? ''] ?? Number.NaN);
  return ms;
}
