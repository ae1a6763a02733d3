/**
 * Window figures for any list of start times, whoever scheduled them: the most starts seen in any
 * window, and how much of the quota a run used compared with the best schedule the limits allow.
 */
import { maxInAnyWindow } from '../../examples/support/window-count.js';

export interface Limit {
  limit: number;
  windowMs: number;
}

/** What a run is allowed: its limits, and `concurrency` tasks of `taskMs` at once. */
export interface Allowance {
  limits: readonly Limit[];
  concurrency: number;
  taskMs: number;
}

/**
 * The shortest time from the first start to the last that `count` starts can take: the greedy
 * schedule, where each start comes the moment every window allows it and a task slot is free (the
 * k-th start waits for the end of the (k - concurrency)-th task). No schedule does better: every
 * constraint is "this start comes at least so long after that one", and greedy meets each at once.
 */
export function idealDurationMs(count: number, { limits, concurrency, taskMs }: Allowance): number {
  const times: number[] = [];
  for (let k = 0; k < count; k++) {
    let at = k === 0 ? 0 : (times[k - 1] as number);
    for (const { limit, windowMs } of limits) {
      if (k >= limit) at = Math.max(at, (times[k - limit] as number) + windowMs);
    }
    if (k >= concurrency) at = Math.max(at, (times[k - concurrency] as number) + taskMs);
    times.push(at);
  }
  return times.at(-1) ?? 0;
}

export interface WindowFigures {
  /** For each limit, the most starts seen in any of its windows. */
  most: number[];
  /** The starts beyond the limit in the worst window, summed over the limits: 0 when every window held. */
  over: number;
  /**
   * The same for windows 1 ms shorter: forgives starts that came less than 1 ms early, as a clock read
   * in whole milliseconds (`Date.now()`, which most peers use) can not see them.
   */
  overBy1msOrMore: number;
  /** Ideal duration / actual duration: 1 means no time lost; above 1 means the limits were broken. */
  utilisation: number;
  starts: number;
  durationMs: number;
}

export function windowFigures(starts: readonly number[], allowance: Allowance): WindowFigures {
  const { limits } = allowance;
  const sorted = [...starts].sort((a, b) => a - b);
  const most = limits.map(({ windowMs }) => maxInAnyWindow([...sorted], windowMs));
  const excess = (counts: readonly number[]) =>
    limits.reduce((sum, { limit }, index) => sum + Math.max(0, (counts[index] as number) - limit), 0);
  const over = excess(most);
  const overBy1msOrMore = excess(limits.map(({ windowMs }) => maxInAnyWindow([...sorted], windowMs - 1)));
  const durationMs = sorted.length > 1 ? (sorted.at(-1) as number) - (sorted[0] as number) : 0;
  const ideal = idealDurationMs(sorted.length, allowance);
  return { most, over, overBy1msOrMore, utilisation: durationMs === 0 ? 1 : ideal / durationMs, starts: sorted.length, durationMs };
}
