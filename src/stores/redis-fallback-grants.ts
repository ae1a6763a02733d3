// FallbackGrants: what answers an acquire while Redis is down (the failure mode), and the starts it
// granted, logged in Redis once it is back (RECORD) so that they count for every process there too.
import type { Cost } from '../core/cost.js';
import type { StoreLimits, StoreSlot } from '../core/store.js';
import type { RedisConnection } from './redis-connection.js';
import type { LocalShare } from './redis-fallback.js';
import { type Grant, newGrant } from './redis-grant.js';
import type { LeaseWriter } from './redis-lease-writer.js';
import type { RedisFailureMode, RedisStoreStats } from './redis-options.js';
import type { RecordedStart, RedisScripts } from './redis-scripts.js';

function ignore(): void {}

/** `cost` plus `extra`, currency by currency. */
function withExtra(cost: Cost | null, extra: Cost | null): Cost | null {
  if (extra === null) return cost;
  const sum: Record<string, number> = { ...cost };
  for (const [name, amount] of Object.entries(extra)) sum[name] = (sum[name] ?? 0) + amount;
  return sum;
}

/**
 * Keeps a grant's real cost for its RECORD: in each currency, a lower amount becomes its cost, a
 * higher one counts the difference from `at` (`grant.extra`).
 */
function foldAmend(grant: Grant, cost: Cost, at: number): void {
  const kept: Record<string, number> = {};
  const extra: Record<string, number> = {};
  let added = false;
  for (const name of new Set([...Object.keys(grant.cost ?? {}), ...Object.keys(cost)])) {
    const before = grant.cost?.[name] ?? 0;
    const after = cost[name] ?? 0;
    kept[name] = Math.min(before, after);
    if (after > before) {
      extra[name] = after - before;
      added = true;
    }
  }
  grant.cost = kept;
  if (added) grant.extra = { cost: extra, at };
}

/** What `FallbackGrants` is given by its store: settings, collaborators, and reads of the store's state. */
export interface FallbackGrantsOptions {
  readonly failureMode: RedisFailureMode;
  readonly leaseTtlMs: number;
  readonly connection: RedisConnection;
  readonly scripts: Pick<RedisScripts, 'record'>;
  /** Takes over a `'local'` grant that RECORD gave a lease. */
  readonly writer: LeaseWriter;
  /** The store's counters: a fallback grant or refusal counts there. */
  readonly stats: Pick<RedisStoreStats, 'grants' | 'refusals' | 'fallbackGrants'>;
  /** This process's share of the limits (`failureMode: 'local'`). */
  share(): LocalShare;
  limits(): StoreLimits;
  /** How long a start counts in Redis: the longest window, widened by the margin. */
  longestSpan(): number;
  /** How long a start of tenant key `key` counts in its key's counters: its longest window as this process knows it, widened by the margin. */
  keySpan(key: string): number;
  now(): number;
  /** A grant id no other grant of any process has. */
  newId(): string;
}

/**
 * The failure mode's side of a `RedisStore`: `'open'` grants everything, `'local'` grants within this
 * process's share, `'closed'` refuses until Redis may be asked again. Each grant it makes waits here
 * until RECORD has logged it in Redis, ahead of the next acquire.
 */
export class FallbackGrants {
  readonly #options: FallbackGrantsOptions;
  /**
   * Starts granted without Redis (by the failure mode) and not yet logged in Redis: sent ahead of the
   * next acquire, on the same connection, so Redis counts them before it grants anything more.
   */
  #unrecorded: Grant[] = [];
  /** The last RECORD sent (settled either way): the next one, and every acquire, go after it. */
  #recording: Promise<void> = Promise.resolve();
  /** `#unrecorded` is pruned of starts older than every window when it reaches this length. */
  #pruneUnrecordedAt = 1_024;

  constructor(options: FallbackGrantsOptions) {
    this.#options = options;
  }

  /** The failure mode's answer to an acquire. `id`: the id of an acquire that failed, for a fallback grant in its place. */
  answer(slot: StoreSlot, now: number, id?: string): number {
    const { failureMode, stats } = this.#options;
    if (failureMode === 'open') {
      if (slot.key !== undefined) slot.refusedByKey = false;
      this.#granted(slot, 'open', id);
      return 0;
    }
    if (failureMode === 'local') {
      const local = this.#options.share();
      const { key } = slot;
      // The key's share first, as Redis checks the key's windows first: a full key lets others' work pass.
      if (key !== undefined) {
        const keyWait = local.keyWait(key, slot.weight, slot.cost ?? null, now);
        slot.refusedByKey = keyWait > 0;
        if (keyWait > 0) {
          stats.refusals++;
          return keyWait;
        }
      }
      const wait = local.wait(slot.weight, slot.cost ?? null, now);
      if (wait > 0) {
        stats.refusals++;
        return wait;
      }
      local.take(slot.weight, slot.cost ?? null, key);
      this.#granted(slot, 'local', id);
      return 0;
    }
    stats.refusals++;
    // Held by the outage, not by any key: the whole client waits.
    if (slot.key !== undefined) slot.refusedByKey = false;
    return this.#options.connection.probeWait(now);
  }

  /**
   * Logs in Redis the starts granted without it, each at its age; a `'local'` grant still running gets
   * a lease there and is a Redis grant from then on (renewed, settled, released). Starts older than
   * every window are dropped: they no longer count anywhere. On failure they are kept for the next try
   * (RECORD undoes what an id had before, so sending one twice counts it once) and the error goes on.
   */
  record(): Promise<void> {
    // One RECORD at a time, and every acquire after it: a NOSCRIPT retry must not let one overtake another.
    const recorded = this.#recording.then(() => this.#recordNow());
    this.#recording = recorded.then(ignore, ignore);
    return recorded;
  }

  /**
   * The real cost of a grant made without Redis. Returns false when Redis has it already (RECORD logged
   * it): the amend goes to Redis. Otherwise RECORD carries it: a lower cost is logged as its cost (as if
   * the start had cost that), a higher one logs the difference at the amend's time. A grant whose RECORD
   * is on its way is amended in Redis once RECORD has answered (or folded in, if RECORD failed).
   */
  amend(grant: Grant, cost: Cost, now: number): boolean {
    if (grant.recorded === true) return false;
    if (grant.recordSent === true) {
      grant.amendAfterRecord = { cost, at: now };
      return true;
    }
    foldAmend(grant, cost, now);
    // Dropped as older than every window: what the amend added counts from now.
    if (grant.extra !== undefined && !this.#unrecorded.includes(grant)) this.#unrecorded.push(grant);
    return true;
  }

  /** After an outage with nothing asking Redis: the outage's starts must reach it all the same. */
  recordInBackground(): void {
    if (this.#unrecorded.length === 0) return;
    const { connection } = this.#options;
    connection.track(connection.send(() => this.record()).then(ignore, ignore));
  }

  #granted(slot: StoreSlot, by: 'local' | 'open', id = this.#options.newId()): void {
    const { stats } = this.#options;
    stats.grants++;
    stats.fallbackGrants++;
    const grant = newGrant(id, by, slot.weight, slot.cost ?? null, false, false, slot.key);
    slot.storeData = grant;
    this.#unrecorded.push(grant);
    if (this.#unrecorded.length >= this.#pruneUnrecordedAt) {
      this.#unrecorded = this.#stillCounting(this.#unrecorded, this.#options.now());
      this.#pruneUnrecordedAt = Math.max(1_024, 2 * this.#unrecorded.length);
    }
  }

  /** Grants still running, or whose start (or what an amend added) some window still counts. */
  #stillCounting(grants: Grant[], now: number): Grant[] {
    const longest = this.#options.longestSpan();
    return grants.filter(
      (grant) =>
        grant.startedAt === undefined ||
        !grant.released ||
        now - Math.max(grant.startedAt, grant.extra?.at ?? -Infinity) <
          (grant.key === undefined ? longest : Math.max(longest, this.#options.keySpan(grant.key))),
    );
  }

  async #recordNow(): Promise<void> {
    if (this.#unrecorded.length === 0) return;
    const now = this.#options.now();
    const grants = this.#stillCounting(this.#unrecorded, now);
    this.#unrecorded = [];
    if (grants.length === 0) return;
    const shared = this.#options.limits().concurrency !== Infinity;
    const starts: RecordedStart[] = grants.map((grant) => {
      grant.recordSent = true;
      // An 'open' grant took nothing of the share, so it can not become a Redis grant: only its start counts.
      const live = !grant.released && grant.by === 'local';
      const pending = live && !grant.shareSettled;
      return {
        id: grant.id,
        weight: grant.weight,
        ageMs: now - (grant.startedAt ?? now),
        live,
        holds: live && shared,
        pending,
        cost: grant.cost,
        extra: grant.extra?.cost ?? null,
        extraAgeMs: grant.extra === undefined ? 0 : now - grant.extra.at,
        key: grant.key === undefined ? undefined : { name: grant.key, spanMs: this.#options.keySpan(grant.key) },
      };
    });
    try {
      await this.#options.scripts.record(starts, this.#options.leaseTtlMs);
    } catch (error) {
      for (const grant of grants) {
        grant.recordSent = false;
        // Its real cost came while RECORD was on its way: the next RECORD carries it.
        const amendment = grant.amendAfterRecord;
        if (amendment !== undefined) foldAmend(grant, amendment.cost, amendment.at);
        delete grant.amendAfterRecord;
      }
      this.#unrecorded.unshift(...grants);
      throw error;
    }
    starts.forEach((start, i) => {
      const grant = grants[i] as Grant;
      grant.recorded = true;
      if (start.live && (start.holds || start.pending)) this.#adopt(grant, start);
      const amendment = grant.amendAfterRecord;
      if (amendment !== undefined) {
        delete grant.amendAfterRecord;
        // What RECORD logged (cost and extra) is what Redis counts: the amend is against that.
        this.#options.writer.amend(grant, withExtra(grant.cost, grant.extra?.cost ?? null), amendment.cost);
      }
    });
  }

  /** A `'local'` grant RECORD gave a lease: a Redis grant now. What it did meanwhile is passed on. */
  #adopt(grant: Grant, start: RecordedStart): void {
    const { writer } = this.#options;
    grant.by = 'redis';
    grant.holds = start.holds;
    grant.settled = !start.pending;
    if (grant.released) {
      // It ended while RECORD was on its way: its release, kept by the share alone, goes to Redis now.
      writer.release(grant);
      return;
    }
    if (start.pending && grant.shareSettled) {
      grant.settled = true;
      writer.settle(grant);
    }
    writer.lease(grant);
  }
}
