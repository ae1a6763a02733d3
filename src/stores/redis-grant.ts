// What a RedisStore keeps per grant (in `slot.storeData`), shared by the store and its collaborators.
import type { Cost } from '../core/cost.js';
import type { LoggedCost } from '../limit/cost-limiter.js';

/** What the store keeps per grant, in `slot.storeData`. */
export interface Grant {
  readonly id: string;
  /**
   * Who decided: Redis, this process's share, or `'open'` (nothing kept anywhere). A `'local'` grant
   * still running when Redis is back becomes a `'redis'` one once RECORD has given it a lease.
   */
  by: 'redis' | 'local' | 'open';
  readonly weight: number;
  /** The tenant key it was granted under (its key's counters count it too), if any. */
  readonly key?: string | undefined;
  /** The cost in other currencies it was granted with (what this process's share took), or null. */
  readonly estimate: Cost | null;
  /**
   * What this process's share holds for it in the other currencies: the estimate, or the real cost once
   * an amend has come. Its settle there takes this off the pending amounts and logs it (an amend before
   * the settle has already moved the pending amounts to the real cost).
   */
  shareCost: Cost | null;
  /**
   * Its amounts in the other currencies as Redis (or, before RECORD, this process) counts them for its
   * start: the estimate it was granted with, lowered by an amend kept for RECORD (see `FallbackGrants`).
   */
  cost: Cost | null;
  /** Its real cost is known (`amend` was called): a second amend is ignored. */
  amended: boolean;
  /** For a grant made without Redis: what an amend added to its cost, and when (clock time), for RECORD. */
  extra?: { readonly cost: Cost; readonly at: number };
  /** For a grant made without Redis whose RECORD was on its way when its real cost came: sent once RECORD has answered. */
  amendAfterRecord?: { readonly cost: Cost; readonly at: number };
  /** For a grant made without Redis: RECORD has logged it in Redis (an amend then goes to Redis). */
  recorded?: boolean;
  /** Whether the grant holds shared concurrency in Redis (it was granted under a finite one). */
  holds: boolean;
  settled: boolean;
  released: boolean;
  /** Its lease is gone and reported (or nobody is to hear of it): nothing more is reported for it. */
  lost: boolean;
  /** Its start is recorded in this process's share (see `RedisStore`'s `#settleShare`). */
  shareSettled: boolean;
  /** Where the share logged its cost when it settled it (for an amend there). */
  shareLogged?: LoggedCost | null;
  /** Where its key's share logged its cost when it settled it (for an amend there). */
  keyShareLogged?: LoggedCost | null;
  /**
   * For a Redis grant settled at once: when its acquire was sent (clock time). Redis logged the start
   * no earlier; if the task begins more than the safety margin later, `settle` moves it (a restamp).
   */
  askedAt?: number;
  /** For a grant made without Redis: its start (clock time), once settled. */
  startedAt?: number;
  /** For a grant made without Redis: a RECORD carrying it was sent (a late Redis grant of its id is then left to RECORD). */
  recordSent?: boolean;
  /** Its settle or release was held back by an outage: Redis may have let its lease expire meanwhile, which is no news. */
  deferred?: boolean;
  /** Its settle found no lease after its release was issued: the release's answer decides (see `LeaseWriter`'s `#lost`). */
  goneAtSettle?: boolean;
}

/** Whether Redis keeps a lease for `grant`: while it holds concurrency, or its start is not settled. */
export function hasLease(grant: Grant): boolean {
  return grant.holds || !grant.settled;
}

/** A new grant, neither settled in the share nor released; `settled`: its start counts from the grant. */
export function newGrant(
  id: string,
  by: Grant['by'],
  weight: number,
  cost: Cost | null,
  holds: boolean,
  settled: boolean,
  key?: string,
): Grant {
  return {
    id,
    by,
    weight,
    ...(key === undefined ? {} : { key }),
    estimate: cost,
    shareCost: cost,
    cost,
    amended: false,
    holds,
    settled,
    released: false,
    lost: false,
    shareSettled: false,
  };
}
