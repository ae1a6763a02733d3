// The window shape: what a client is configured with and what `stats()` reports of each window. Apart
// from the options so that the store contract (store.ts), which the options name, can use it too.

/** One sliding window: at most `limit` units of weight start in any `windowMs` milliseconds. */
export interface RateWindow {
  /** Most units of weight that may start in any window. An integer >= 1. */
  limit: number;
  /** Length of the window in milliseconds. A finite number > 0. */
  windowMs: number;
  /**
   * The currency the window counts: `'requests'` (each task's `weight`) or any name made of a-z, 0-9
   * and '-' (`'tokens'`, `'points'`) that tasks give a `cost` in.
   * @default 'requests'
   */
  counts?: string | undefined;
  /**
   * Makes the window a bucket: `limit` per `windowMs` is the rate it refills at, continuously (a unit
   * every `windowMs / limit` ms), and `burst` the most it holds, so the most that may start at once
   * (nginx `limit_req`, Envoy, AWS API Gateway, Shopify count this way). An integer >= 1.
   * @default none: a sliding window
   * @example { limit: 20, windowMs: 1_000, burst: 1 } // nginx rate=20r/s: one every 50 ms
   */
  burst?: number | undefined;
}

/** Usage of one window at the moment `stats()` was called. */
export interface WindowUsage {
  /** The window's `limit`: most units of weight that may start in it. */
  limit: number;
  /** The window's length in milliseconds. */
  windowMs: number;
  /** The currency the window counts (`'requests'` unless configured otherwise). */
  counts: string;
  /** Units counted in the window now, including starts whose timestamp is not settled yet. A bucket: `burst - level`. */
  used: number;
  /** A bucket's `burst`. */
  burst?: number;
  /** A bucket's whole units available now. */
  level?: number;
  /** A bucket's milliseconds until one more unit comes (0 when full; Infinity while only unsettled starts hold it). */
  nextUnitMs?: number;
}
