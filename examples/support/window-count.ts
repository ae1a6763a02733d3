/**
 * The most starts seen in any half-open interval [t, t + windowMs), over all t. Only intervals that
 * begin at a start need checking: any other can slide right to one without losing a start.
 * Times are sorted in place.
 */
export function maxInAnyWindow(times: number[], windowMs: number): number {
  times.sort((a, b) => a - b);
  let most = 0;
  let end = 0;
  for (let begin = 0; begin < times.length; begin++) {
    while (end < times.length && (times[end] as number) < (times[begin] as number) + windowMs) end++;
    most = Math.max(most, end - begin);
  }
  return most;
}

/**
 * How close a run came to the ideal: the ideal time from the first start to the last is
 * (ceil(n / limit) - 1) * windowMs (every window filled the moment it opens); utilisation is
 * ideal / actual. 1 means not a millisecond lost to the scheduler.
 */
export function utilisation(times: number[], limit: number, windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  const ideal = (Math.ceil(sorted.length / limit) - 1) * windowMs;
  const actual = (sorted.at(-1) as number) - (sorted[0] as number);
  return actual === 0 ? 1 : ideal / actual;
}

/** Anything with `schedule()`: kept structural so this file does not depend on the library's build. */
interface Scheduler {
  schedule(task: () => Promise<void>): Promise<void>;
}

/**
 * Runs `count` tasks of about `taskMs` each through `client` and returns their own start times
 * (`performance.now()` at their first line): the measurement behind the window-keeping figures.
 */
export async function startTimesOf(client: Scheduler, count: number, taskMs: number): Promise<number[]> {
  const starts: number[] = [];
  await Promise.all(
    Array.from({ length: count }, () =>
      client.schedule(async () => {
        starts.push(performance.now());
        await new Promise((resolve) => setTimeout(resolve, taskMs));
      }),
    ),
  );
  return starts;
}
