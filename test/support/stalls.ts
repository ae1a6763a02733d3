/**
 * Timing bounds that hold on a busy machine. A CI machine can take the CPU away from this process for
 * tens of milliseconds (seen: a 30 ms stall pushed a start 30 ms past its due time). No timer, ours or
 * anyone's, fires before the process runs again, so a start that was due during a stall is late by the
 * stall; a wrong wake-up, by contrast, is late while the event loop is idle, and a stall watcher sees
 * nothing then. So a test's upper bound on lateness is its own budget plus the longest stall seen.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { onTestFinished } from 'vitest';

export interface StallWatch {
  /** The longest event-loop stall seen since the watch began, in ms. */
  longestMs(): number;
  /** `budgetMs` plus the longest stall so far: the bound to compare a lateness with. */
  allowing(budgetMs: number): number;
}

/** Watches this process's event loop until the current test ends. */
export function watchStalls(): StallWatch {
  // A 5 ms timer inside Node; the histogram holds the time between its ticks (about 5 ms on an idle
  // loop), so a stall is how much longer than 5 ms the longest one took.
  const resolutionMs = 5;
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  onTestFinished(() => {
    histogram.disable();
  });
  const longestMs = () => Math.max(0, histogram.max / 1e6 - resolutionMs);
  return {
    longestMs,
    allowing: (budgetMs) => {
      const longest = longestMs();
      if (longest > 5) console.info(`event loop stalled for up to ${longest.toFixed(1)} ms: the bound of ${budgetMs} ms allows it`);
      return budgetMs + longest;
    },
  };
}
