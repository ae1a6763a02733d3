import type { Level } from '../../../src/queue/priority-queue.js';

/** A bare queue entry, as the scheduler's Job is one: `T` is the entry type itself. */
export class QueueItem<T> {
  queuePrev: T | null = null;
  queueNext: T | null = null;
  agePrev: T | null = null;
  ageNext: T | null = null;
  queueLevel: Level<T> | null = null;
  constructor(
    readonly priority: number,
    readonly seq: number,
  ) {}
}
