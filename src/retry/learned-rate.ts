// Servers that say nothing: a bare 429 or 503 (no Retry-After, no rate-limit headers) teaches the
// client a cooldown and a send rate, as TCP learns a congestion window: down by a factor, up by steps.
import type { LearnedRate } from '../core/options.js';

/** The window a learned rate is stated in (a second: "20 a second"). */
const RATE_WINDOW_MS = 1_000;
/** The first cooldown after a bare refusal, doubled while refusals continue (reset by a success). */
export const BASE_COOLDOWN_MS = 100;
/** The most a growing cooldown reaches (and never more than `retry.maxRetryAfterMs`). */
const MAX_COOLDOWN_MS = 30_000;
/** The rate the client first falls back to when nothing is configured: 10 a second. */
const PROBE_RATE = 10;
/** Multiplicative decrease: the rate after a refusal, as a share of the rate it was refused at (CUBIC's 0.7). */
const DECREASE = 0.7;
/**
 * How the rate climbs per success, by where it is against the rate last refused: a request a second
 * below 0.8 of it; a twentieth up to 0.9 of it; a hundredth above (a plateau just under where the
 * server refused, leaving room for the network's jitter, and a slow probe in case the server allows
 * more now).
 */
const QUICK_SHARE = 0.8;
const PLATEAU_SHARE = 0.9;
/** The least the rate comes down to: one start every ten seconds. */
const MIN_RATE = 0.1;

/** What a bare refusal or a success changed. */
export interface Lesson {
  /** A cooldown to start now, in ms (after a refusal). */
  readonly cooldownMs?: number;
  /** The new rate (a second), when it changed. */
  readonly rate?: number;
}

/**
 * The state of what bare refusals taught (`adaptive: true`, the default):
 * - **Cooldown**: every start pauses for `BASE_COOLDOWN_MS` after a bare refusal, twice as long for each
 *   refusal that follows without a success between, up to `maxCooldownMs`; a success resets it.
 * - **Rate** (requests a second), paced evenly (a start every `1 / rate` s, so a server counting with a
 *   bucket sees no burst): unknown until the first bare refusal, which sets it to 0.7 of the configured
 *   rate (the tightest `'requests'` window's), or to 10 a second when nothing is configured. Each later
 *   refusal takes it down to 0.7 of what it was (multiplicative decrease), once per cooldown: the
 *   refusals of requests sent before it are the same news. Each success takes it up (additive
 *   increase): a request a second while below 0.8 of the rate last refused, a twentieth up to 0.9 of
 *   it, a hundredth above (a plateau just under where the server refused). Never above the configured
 *   rate.
 * No decrease without a refusal.
 */
export class RefusalLearning {
  #rate: number | undefined = undefined;
  /** The rate at the last refusal: the increase slows near it. */
  #refusedAt = Infinity;
  /** Refusals since the last success, each in a cooldown of its own. */
  #streak = 0;
  /** Clock time until which the current cooldown holds: refusals before then are the same event. */
  #coolingUntil = -Infinity;

  /** The rate learned, or undefined while nothing was learned. */
  /** Whether anything was learned yet. */
  get learned(): boolean {
    return this.#rate !== undefined;
  }

  get rate(): LearnedRate | undefined {
    return this.#rate === undefined ? undefined : { limit: round(this.#rate), windowMs: RATE_WINDOW_MS };
  }

  /**
   * A bare refusal arrived at `now`. `ceiling`: the configured rate a second (Infinity when none);
   * `maxCooldownMs`: `retry.maxRetryAfterMs`. Returns the cooldown to start and the new rate; nothing
   * when it is news already acted on (a refusal during the cooldown it started).
   */
  refused(now: number, ceiling: number, maxCooldownMs: number): Lesson {
    if (now < this.#coolingUntil) return {};
    this.#streak++;
    const cooldownMs = Math.min(MAX_COOLDOWN_MS, maxCooldownMs, BASE_COOLDOWN_MS * 2 ** (this.#streak - 1));
    this.#coolingUntil = now + cooldownMs;
    const current = this.#rate ?? (ceiling === Infinity ? PROBE_RATE / DECREASE : ceiling);
    // Refused while nothing paced the client: the rate it was refused at is unknown, so the climb stays quick.
    this.#refusedAt = this.#rate === undefined && ceiling === Infinity ? Infinity : current;
    this.#rate = Math.min(ceiling, Math.max(MIN_RATE, current * DECREASE));
    return { cooldownMs, rate: this.#rate };
  }

  /**
   * A response that was not a refusal. `paced`: the learned pace held a start back since the last
   * success (without that, the client sends slower than the rate anyway, and raising it would make the
   * rate mean nothing: RFC 7661's rule for an idle congestion window). Returns the new rate when it climbed.
   */
  succeeded(ceiling: number, paced = true): Lesson {
    this.#streak = 0;
    const rate = this.#rate;
    if (rate === undefined || rate >= ceiling || !paced) return {};
    const step = rate < QUICK_SHARE * this.#refusedAt ? 1 : rate < PLATEAU_SHARE * this.#refusedAt ? 0.05 : 0.01;
    this.#rate = Math.min(ceiling, rate + step);
    return { rate: this.#rate };
  }
}

/** To a thousandth: `stats()` is read by people. */
function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
