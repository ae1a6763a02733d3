// Reset times as the providers write them: Go durations (OpenAI), plain seconds (Azure), RFC 3339 instants (Anthropic).
import { goDurationPartsMs } from '../core/go-duration.js';

// Go's time.Duration.String(), which OpenAI's `x-ratelimit-reset-*` headers use: `6m0s`, `20ms`,
// `2m59.56s`, `1h2m3.5s`; `µs` and `ns` for tiny values. Go's ParseDuration also takes `.5s` and `us`.
const GO_DURATION = /^(?:(?:\d+\.?\d*|\.\d+)(?:h|ms|m|s|us|µs|μs|ns))+$/;
const DECIMAL = /^-?\d+(?:\.\d+)?$/;

/**
 * A reset delay in whole milliseconds (rounded up, so a wait is never short), from a Go duration
 * (`6m0s`) or a plain number of seconds (Azure OpenAI sends `x-ratelimit-reset-tokens: 60`).
 * Undefined for anything else and for a delay that is not in the future: Azure sends `0` and `-1`
 * when it has nothing to say (learn.microsoft.com/en-us/answers/questions/5625878).
 */
export function resetDelayMs(value: string | null): number | undefined {
  const text = value?.trim();
  if (text === undefined || text === '') return undefined;
  let ms: number;
  if (DECIMAL.test(text)) ms = Number(text) * 1000;
  else if (GO_DURATION.test(text)) ms = goDurationPartsMs(text);
  else return undefined;
  return positiveMs(ms);
}

// RFC 3339 (`2025-08-21T12:40:59Z`, `2025-08-21T12:40:59.123456+02:00`), the form of Anthropic's
// `anthropic-ratelimit-*-reset` headers. Parsed by shape first: Date.parse takes almost anything.
const RFC_3339 = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * The delay until an RFC 3339 instant, in whole milliseconds rounded up, from `nowMs` (epoch
 * milliseconds: the instant is a wall-clock time, so the delay is too). Undefined when the text is
 * not RFC 3339 or the instant is not in the future.
 */
export function delayUntilMs(value: string | null, nowMs: number): number | undefined {
  const match = RFC_3339.exec(value?.trim() ?? '');
  if (match === null) return undefined;
  const [, date, time, fraction = '', zone = 'Z'] = match;
  // Date.parse reads exactly the ES date-time form: at most milliseconds, `T` and `Z` upper case.
  const millis = fraction === '' ? '' : `.${fraction.slice(1, 4).padEnd(3, '0')}`;
  const at = Date.parse(`${date}T${time}${millis}${zone.toUpperCase()}`);
  return Number.isNaN(at) ? undefined : positiveMs(at - nowMs);
}

/** A count of units a header states: an integer >= 0 (a fraction is rounded down); undefined otherwise. */
export function headerCount(value: string | null): number | undefined {
  const text = value?.trim();
  if (text === undefined || !DECIMAL.test(text)) return undefined;
  const count = Math.floor(Number(text));
  return count >= 0 && Number.isSafeInteger(count) ? count : undefined;
}

function positiveMs(ms: number): number | undefined {
  return Number.isFinite(ms) && ms > 0 ? Math.ceil(ms) : undefined;
}
