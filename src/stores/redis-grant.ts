// What a RedisStore keeps per grant (in `slot.storeData`), shared by the store and its collaborators.

/** What the store keeps per grant, in `slot.storeData`. */
export interface Grant {
  readonly id: string;
  /**
   * Who decided: Redis, this process's share, or `'open'` (nothing kept anywhere). A `'local'` grant
   * still running when Redis is back becomes a `'redis'` one once RECORD has given it a lease.
   */
  by: 'redis' | 'local' | 'open';
  readonly weight: number;
  /** Whether the grant holds shared concurrency in Redis (it was granted under a finite one). */
  holds: boolean;
  settled: boolean;
  released: boolean;
  /** Its lease is gone and reported (or nobody is to hear of it): nothing more is reported for it. */
  lost: boolean;
  /** Its start is recorded in this process's share (see `RedisStore`'s `#settleShare`). */
  shareSettled: boolean;
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
export function newGrant(id: string, by: Grant['by'], weight: number, holds: boolean, settled: boolean): Grant {
  return { id, by, weight, holds, settled, released: false, lost: false, shareSettled: false };
}
