/**
 * Timing bounds that hold on a busy machine. A CI machine can take the CPU away from this process for
 * tens of milliseconds (seen: a 30 ms stall pushed a start 30 ms past its due time). No timer, ours or
 * anyone's, fires before the process runs again, so a start that was due during a stall is late by the
 * stall; a wrong wake-up, by contrast, is late while the event loop is idle, and a stall watcher sees
 * nothing then. So a test's upper bound on lateness is its own budget plus the longest stall seen.
 *
 * What it does not do: it allows the longest stall anywhere in the test, not the one that overlapped
 * the late start (a long unrelated stall can hide a smaller misplaced wake-up), it allows one stall
 * where a span may have suffered several (the span bounds keep hundreds of ms of their own slack),
 * and it sees only this process (not redis-server, nor child processes).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { onTestFinished } from 'vitest';

export interface StallWatch {
  /** An upper bound of the longest event-loop stall since the watch began (at least one 5 ms tick), in ms. */
  longestMs(): number;
  /** `budgetMs` plus the longest stall so far: the bound to compare a lateness with. */
  allowing(budgetMs: number): number;
}

/** Watches this process's event loop until the current test ends. */
export function watchStalls(): StallWatch {
  // A 5 ms timer inside Node; the histogram holds the time between its ticks (about 5 ms on an idle
  // loop). A stall lies between the longest of them less 5 ms and the longest itself, depending on
  // when it began after a tick: the longest itself is the bound that never falls short.
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  onTestFinished(() => {
    histogram.disable();
  });
  const longestMs = () => histogram.max / 1e6;
  return {
    longestMs,
    allowing: (budgetMs) => {
      const longest = longestMs();
      if (longest > 10) console.info(`event loop stalled for up to ${longest.toFixed(1)} ms: the bound of ${budgetMs} ms allows it`);
      return budgetMs + longest;
    },
  };
}
