/**
 * The time source of the limiter. It must be monotonic: wall-clock time (`Date.now()`) jumps when the
 * system clock is adjusted, which would let a window open early. Inject one in tests.
 */
export interface Clock {
  /** Milliseconds from an arbitrary origin; never decreases. */
  now(): number;
}

export const monotonicClock: Clock = { now: () => performance.now() };

/** Node's setTimeout treats anything above 2^31 - 1 ms as 1 ms; longer waits re-arm when they fire. */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;

/** A setTimeout delay for a wait of `ms`: rounded up (never early by rounding), clamped to what Node takes. */
export function timerDelay(ms: number): number {
  return Math.min(MAX_TIMER_DELAY_MS, Math.max(0, Math.ceil(ms)));
}
