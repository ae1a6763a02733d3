// RefusalMemory: Redis's last refusal, kept so that the scheduler's next questions are answered without
// a round trip, and forgotten as soon as something may have freed the room it was waiting for.
import { amountOf, type Cost } from '../core/cost.js';
import type { BlockedBy } from './redis-scripts.js';
import type { FreedKind } from './redis-subscriber.js';

/**
 * What the channel announced (see FreedKind), or `'priority'`: a process that held others back with a
 * better priority has nothing more to ask for.
 */
export type Announced = FreedKind | 'priority';

/** A refusal remembered so that the same question is not asked again before it can be answered otherwise. */
interface Refusal {
  /** Clock time before which no start at least as heavy (`weight` and every amount of `cost`) can be granted. */
  readonly at: number;
  readonly weight: number;
  readonly cost: Cost | null;
  /**
   * The priority of the task refused: Redis holds word that this process waits with it, so a task of a
   * better one asks again (to leave word of its own) rather than wait out this refusal.
   */
  readonly priority: number;
  /**
   * What held the room. `'window'`, `'cooldown'`, `'budget'`: only time frees it (or a refund).
   * `'concurrency'`: a release may free it (a settle can not). `'pending'`: a settle or a release may.
   * `'priority'`: another process's word lapses, or it announces that it has nothing more to ask for.
   */
  readonly blockedBy: BlockedBy;
}

/** Whether only time ends a refusal of this kind (or a refund): nothing another process announces does. */
function endsInTime(blockedBy: BlockedBy): boolean {
  return blockedBy === 'window' || blockedBy === 'cooldown' || blockedBy === 'budget';
}

/** When an acquire was sent: a refusal is kept only if nothing that could end it happened since. */
export interface RefusalEpoch {
  readonly freed: number;
  readonly refunds: number;
}

/** Whether a start of `weight` and `cost` needs at least the room of `refusal` in every window. */
function asHeavy(weight: number, cost: Cost | null, refusal: Refusal): boolean {
  if (weight < refusal.weight) return false;
  if (refusal.cost === null) return true;
  for (const [name, amount] of Object.entries(refusal.cost)) {
    if (amountOf(cost, name) < amount) return false;
  }
  return true;
}

/**
 * One remembered refusal at a time. An acquire reads `epoch` when it is sent: a refusal that can end
 * by a release is remembered only if nothing may have freed room while it was on its way, and any
 * refusal only if no cost was given back meanwhile.
 */
export class RefusalMemory {
  /** Undefined once its time has passed or something may have freed room earlier. */
  #refusal: Refusal | undefined = undefined;
  /** Bumped whenever room may have freed elsewhere: a refusal sent before a bump may be stale. */
  #freedEpoch = 0;
  /** Bumped whenever a cost was given back (here or announced): even a window's refusal may be stale. */
  #refundEpoch = 0;

  /** Read when an acquire is sent, and passed back to `remember` with its answer. */
  get epoch(): RefusalEpoch {
    return { freed: this.#freedEpoch, refunds: this.#refundEpoch };
  }

  /**
   * Redis refused `weight` and `cost` at `now` for `waitMs`; the acquire was sent at `epoch`. The wait
   * counts from the reply, not the send: Redis computed it in between, so it is never early.
   */
  remember(
    weight: number,
    cost: Cost | null,
    priority: number,
    waitMs: number,
    blockedBy: BlockedBy,
    now: number,
    epoch: RefusalEpoch,
  ): void {
    if (epoch.refunds !== this.#refundEpoch) return;
    if (endsInTime(blockedBy) || epoch.freed === this.#freedEpoch) {
      this.#refusal = { at: now + waitMs, weight, cost, priority, blockedBy };
    }
  }

  /**
   * What an earlier refusal still says about a start of `weight`, `cost` and `priority` (0: nothing;
   * ask Redis). A better priority than the refused task's always asks.
   */
  remembered(weight: number, cost: Cost | null, priority: number, now: number): number {
    const refusal = this.#refusal;
    if (refusal === undefined) return 0;
    if (now >= refusal.at) {
      this.#refusal = undefined;
      return 0;
    }
    return priority >= refusal.priority && asHeavy(weight, cost, refusal) ? refusal.at - now : 0;
  }

  /**
   * A lower bound of the wait for `weight`, `cost` and `priority`: only a refusal that time alone ends
   * is one; a release, or a better process's word withdrawn, can end any other at any moment.
   */
  earliestWait(weight: number, cost: Cost | null, priority: number, now: number): number {
    const refusal = this.#refusal;
    return refusal !== undefined && endsInTime(refusal.blockedBy) ? this.remembered(weight, cost, priority, now) : 0;
  }

  /** The question changed (new limits, an outage begun or over): nothing remembered holds. */
  forget(): void {
    this.#refusal = undefined;
  }

  /** Room held by leases or pending starts may have freed: a remembered refusal of that kind is stale. */
  freed(): void {
    this.#freedEpoch++;
    if (this.#refusal !== undefined && !endsInTime(this.#refusal.blockedBy)) this.#refusal = undefined;
  }

  /** A cost was given back to the windows: any remembered refusal may be stale. */
  refunded(): void {
    this.#freedEpoch++;
    this.#refundEpoch++;
    this.#refusal = undefined;
  }

  /**
   * Another process released, settled or gave a cost back, or withdrew its priority (or a subscription
   * began): returns whether that may have freed room. A settle frees no concurrency, so it changes
   * nothing for a refusal by concurrency.
   */
  announced(kind: Announced): boolean {
    if (kind === 'priority') {
      // Only a refusal by priority waited for that process's word.
      if (this.#refusal?.blockedBy !== 'priority') return false;
      this.freed();
      return true;
    }
    if (kind === 'amend') {
      this.refunded();
      return true;
    }
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
