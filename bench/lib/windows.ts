/**
 * Window figures for any list of start times, whoever scheduled them: the most starts seen in any
 * window, and how much of the quota a run used compared with the best schedule the limits allow.
 */
import { maxInAnyWindow } from '../../examples/support/window-count.js';

export interface Limit {
  limit: number;
  windowMs: number;
}

/**
 * The shortest time from the first start to the last that `count` starts can take under every limit at
 * once: the greedy schedule, where each start comes the moment every window allows it. No schedule
 * does better (starting earlier than allowed is exactly what a window forbids).
 */
export function idealDurationMs(count: number, limits: readonly Limit[]): number {
  const times: number[] = [];
  for (let k = 0; k < count; k++) {
    let at = k === 0 ? 0 : (times[k - 1] as number);
    for (const { limit, windowMs } of limits) {
      if (k >= limit) at = Math.max(at, (times[k - limit] as number) + windowMs);
    }
    times.push(at);
  }
  return times.at(-1) ?? 0;
}

export interface WindowFigures {
  /** For each limit, the most starts seen in any of its windows. */
  most: number[];
  /** The starts beyond the limit in the worst window, summed over the limits: 0 when every window held. */
  over: number;
  /** Ideal duration / actual duration: 1 means no time lost; above 1 means the limits were broken. */
  utilisation: number;
  starts: number;
  durationMs: number;
}

export function windowFigures(starts: readonly number[], limits: readonly Limit[]): WindowFigures {
  const sorted = [...starts].sort((a, b) => a - b);
  const most = limits.map(({ windowMs }) => maxInAnyWindow([...sorted], windowMs));
  const over = limits.reduce((sum, { limit }, index) => sum + Math.max(0, (most[index] as number) - limit), 0);
  const durationMs = sorted.length > 1 ? (sorted.at(-1) as number) - (sorted[0] as number) : 0;
  const ideal = idealDurationMs(sorted.length, limits);
  return { most, over, utilisation: durationMs === 0 ? 1 : ideal / durationMs, starts: sorted.length, durationMs };
}
