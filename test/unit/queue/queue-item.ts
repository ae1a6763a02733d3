import type { FairEntry, LaneGroup } from '../../../src/queue/fair-queue.js';

/** A bare queue entry, as the scheduler's Job is one: `T` is the entry type itself. */
export class QueueItem<T> implements FairEntry<T> {
  lanePrev: T | null = null;
  laneNext: T | null = null;
  queuedIn = 0;
  readonly tenant: LaneGroup<T> | undefined;
  constructor(
    readonly priority: number,
    readonly seq: number,
    tenant?: LaneGroup<T>,
  ) {
    this.tenant = tenant;
  }
}
