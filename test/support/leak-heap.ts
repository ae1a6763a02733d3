/**
 * Heap figures for the leak children (`leak-soak.ts`, `leak-signal.ts`), which run with `--expose-gc`.
 */

const gc = (globalThis as { gc?: () => void }).gc;

/**
 * `heapUsed` after full collections, repeated until it stops shrinking: weak references, finalizers
 * (undici's, AbortSignal's) and the promise jobs they queue need a few turns of the event loop.
 */
export async function settledHeap(): Promise<number> {
  if (gc === undefined) throw new Error('the leak children need --expose-gc');
  let lowest = Infinity;
  for (let round = 0; round < 10; round++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    const used = process.memoryUsage().heapUsed;
    // Stable within 64 KB after a few rounds: done.
    if (round >= 3 && used >= lowest - 64 * 1024) return Math.min(used, lowest);
    lowest = Math.min(lowest, used);
  }
  return lowest;
}
