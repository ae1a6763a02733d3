// RefusalMemory: Redis's last refusal, kept so that the scheduler's next questions are answered without
// a round trip, and forgotten as soon as something may have freed the room it was waiting for.
import type { BlockedBy } from './redis-scripts.js';
import type { FreedKind } from './redis-subscriber.js';

/** A refusal remembered so that the same question is not asked again before it can be answered otherwise. */
interface Refusal {
  /** Clock time before which no weight >= `weight` can be granted. */
  readonly at: number;
  readonly weight: number;
  /**
   * What held the room. `'window'`: only time frees it. `'concurrency'`: a release may free it (a
   * settle can not). `'pending'`: a settle or a release may.
   */
  readonly blockedBy: BlockedBy;
}

/**
 * One remembered refusal at a time. An acquire reads `epoch` when it is sent: a refusal that can end
 * by a release is remembered only if nothing may have freed room while it was on its way.
 */
export class RefusalMemory {
  /** Undefined once its time has passed or something may have freed room earlier. */
  #refusal: Refusal | undefined = undefined;
  /** Bumped whenever room may have freed elsewhere: a refusal sent before a bump may be stale. */
  #freedEpoch = 0;

  /** Read when an acquire is sent, and passed back to `remember` with its answer. */
  get epoch(): number {
    return this.#freedEpoch;
  }

  /**
   * Redis refused `weight` at `now` for `waitMs`; the acquire was sent at `epoch`. The wait counts from
   * the reply, not the send: Redis computed it in between, so it is never early.
   */
  remember(weight: number, waitMs: number, blockedBy: BlockedBy, now: number, epoch: number): void {
    if (blockedBy === 'window' || epoch === this.#freedEpoch) {
      this.#refusal = { at: now + waitMs, weight, blockedBy };
    }
  }

  /** What an earlier refusal still says about `weight` (0: nothing; ask Redis). */
  remembered(weight: number, now: number): number {
    const refusal = this.#refusal;
    if (refusal === undefined) return 0;
    if (now >= refusal.at) {
      this.#refusal = undefined;
      return 0;
    }
    return weight >= refusal.weight ? refusal.at - now : 0;
  }

  /** A lower bound of the wait for `weight`: only a window's refusal is one, a release can end any other at any moment. */
  earliestWait(weight: number, now: number): number {
    return this.#refusal?.blockedBy === 'window' ? this.remembered(weight, now) : 0;
  }

  /** The question changed (new limits, an outage begun or over): nothing remembered holds. */
  forget(): void {
    this.#refusal = undefined;
  }

  /** Room held by leases or pending starts may have freed: a remembered refusal of that kind is stale. */
  freed(): void {
    this.#freedEpoch++;
    if (this.#refusal !== undefined && this.#refusal.blockedBy !== 'window') this.#refusal = undefined;
  }

  /**
   * Another process released or settled (or a subscription began): returns whether that may have
   * freed room. A settle frees no concurrency, so it changes nothing for a refusal by concurrency.
   */
  announced(kind: FreedKind): boolean {
    if (kind === 'settle' && this.#refusal?.blockedBy === 'concurrency') return false;
    this.freed();
    return true;
  }

  /** A reconnection: releases announced meanwhile were missed, so anything may have freed. */
  missed(): void {
    this.#freedEpoch++;
    this.#refusal = undefined;
  }
}
