// LeaseWriter: what a RedisStore writes to Redis after a grant (settles, releases, restamps and amends,
// batched per tick and held back during an outage) and the renewal of its leases; a lost lease is
// reported once.
import type { Cost } from '../core/cost.js';
import { StoreError } from '../errors/store-error.js';
import type { RedisConnection } from './redis-connection.js';
import { type Grant, hasLease } from './redis-grant.js';
import type { Amendment, LineUp, RedisScripts } from './redis-scripts.js';

const LOST: Record<'settle' | 'release' | 'renew', string> = {
  settle: 'before its start was recorded: Redis counted the start when the lease expired',
  release: 'before its task ended: other processes may have used its concurrency',
  renew: 'while its task ran: other processes may have used its concurrency',
};

function ignore(): void {}

/** Whether `operation` is the command that ends `grant`'s lease in Redis. */
function endsLease(operation: 'settle' | 'release' | 'renew', grant: Grant): boolean {
  return operation === 'release' || (operation === 'settle' && !grant.holds);
}

/** Whether the command that ends `grant`'s lease was issued: its release, or (holding no concurrency) its settle or release. */
function leaseEndIssued(grant: Grant): boolean {
  return grant.holds ? grant.released : grant.settled;
}

/**
 * The store decides what a grant needs (`settle`, `release`, `restamp`); this sends it. Commands of one
 * tick go out together, one per kind, fire-and-forget, through the connection (which `close()` of the
 * store waits on). While Redis is down nothing is sent: the grants wait for its return (the store
 * calls `flush()` then).
 */
export class LeaseWriter {
  readonly #connection: RedisConnection;
  readonly #scripts: Pick<RedisScripts, 'settle' | 'release' | 'restamp' | 'amend' | 'renew'>;
  readonly #leaseTtlMs: number;
  readonly #report: (error: StoreError) => void;

  /** Live Redis grants whose lease needs renewing (holding concurrency, or not settled), by id. */
  readonly #leases = new Map<string, Grant>();
  /** Runs while `#leases` is not empty, and only then (never after `close()`). */
  #renewTimer: ReturnType<typeof setInterval> | undefined = undefined;
  /** A renewal is on its way: the next tick of the timer sends none. */
  #renewing = false;

  /** Grants waiting for the next flush, in the order they must reach Redis. */
  #toSettle: Grant[] = [];
  #toRelease: Grant[] = [];
  /** This process joins the line with the next release batch (see `LinePlace`); dropped if it is held back. */
  #lineUp: LineUp | undefined = undefined;
  #toRestamp: Grant[] = [];
  #toAmend: Amendment[] = [];
  /** A flush is queued as a microtask: grants enqueued until then go with it. */
  #flushQueued = false;
  /** Set by `close()`: no renewal timer starts again. */
  #closed = false;

  constructor(
    connection: RedisConnection,
    scripts: Pick<RedisScripts, 'settle' | 'release' | 'restamp' | 'amend' | 'renew'>,
    leaseTtlMs: number,
    report: (error: StoreError) => void,
  ) {
    this.#connection = connection;
    this.#scripts = scripts;
    this.#leaseTtlMs = leaseTtlMs;
    this.#report = report;
  }

  /** Renews `grant`'s lease from now on, if Redis keeps one for it (see `hasLease`). */
  lease(grant: Grant): void {
    if (!hasLease(grant)) return;
    this.#leases.set(grant.id, grant);
    this.#syncRenewTimer();
  }

  /** Renews `grant`'s lease no more: its settle or release, sent next, ends it or keeps it no longer needed. */
  unlease(grant: Grant): void {
    this.#leases.delete(grant.id);
    this.#syncRenewTimer();
  }

  /** Records `grant`'s start in Redis with the next flush. */
  settle(grant: Grant): void {
    this.#enqueue(this.#toSettle, grant);
  }

  /**
   * Ends `grant` in Redis with the next flush; with `line`, this process joins the line for the shared
   * concurrency with that release (see `LinePlace`).
   */
  release(grant: Grant, line?: LineUp): void {
    if (line !== undefined) this.#lineUp = line;
    this.#enqueue(this.#toRelease, grant);
  }

  /** Moves `grant`'s logged start to Redis's now with the next flush (see `RedisStore`'s `#restampIfLate`). */
  restamp(grant: Grant): void {
    this.#enqueue(this.#toRestamp, grant);
  }

  /**
   * Counts `grant`'s real cost in Redis with the next flush, in place of `estimate` (what Redis counts for
   * it). Whatever the grant's state there (pending, settled, released, expired): see AMEND.
   */
  amend(grant: Grant, estimate: Cost | null, cost: Cost): void {
    this.#toAmend.push({ id: grant.id, estimate, cost, key: grant.key });
    this.#queueFlush();
  }

  /**
   * Sends the batched restamps, settles, releases, then amends: one command each, fire-and-forget. An
   * amend gives the same result before or after its grant's other commands (NOSCRIPT may reorder them).
   */
  flush(): void {
    this.#flushQueued = false;
    const restamps = this.#toRestamp;
    const settles = this.#toSettle;
    const releases = this.#toRelease;
    const amends = this.#toAmend;
    this.#toRestamp = [];
    this.#toSettle = [];
    this.#toRelease = [];
    this.#toAmend = [];
    if (restamps.length > 0) {
      this.#sendLikeSettle(
        restamps,
        (grants) => this.#toRestamp.push(...grants),
        (grants) => this.#scripts.restamp(grants),
      );
    }
    if (settles.length > 0) this.#send('settle', settles);
    if (releases.length > 0) this.#send('release', releases);
    if (amends.length > 0)
      this.#sendLikeSettle(
        amends,
        (batch) => this.#toAmend.push(...batch),
        (batch) => this.#scripts.amend(batch),
      );
  }

  /** Stops renewing: the leases left expire in Redis by themselves. What is batched still goes with `flush()`. */
  close(): void {
    this.#closed = true;
    this.#leases.clear();
    this.#syncRenewTimer();
  }

  #enqueue(batch: Grant[], grant: Grant): void {
    batch.push(grant);
    this.#queueFlush();
  }

  #queueFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => this.flush());
  }

  /**
   * Sends a restamp or amend batch, held back like a settle while this process counts Redis as down
   * (others may still be granted starts) and queued again when it fails, to go with the next flush once
   * Redis is back. Later is safe for both: a restamp's later time is still no earlier than the real
   * start; a refund comes later and an increase counts from later (the AMEND script counts an amend
   * sent twice once).
   */
  #sendLikeSettle<T>(items: T[], requeue: (items: T[]) => void, send: (items: T[]) => Promise<unknown>): void {
    if (this.#connection.holdsBack('settle')) {
      requeue(items);
      return;
    }
    this.#connection.track(
      this.#connection
        .send(() => send(items))
        .then(ignore, (error: unknown) => {
          this.#connection.failed(error, 'settle');
          requeue(items);
        }),
    );
  }

  /**
   * While Redis is down nothing is sent: the grants wait for its return (the store flushes them then), so
   * a short outage does not hold their concurrency until their leases expire.
   */
  #send(operation: 'settle' | 'release', grants: Grant[]): void {
    if (this.#connection.holdsBack(operation)) {
      // The process's place in line lapses by itself (LinePlace), and an outage forgets it.
      if (operation === 'release') this.#lineUp = undefined;
      this.#defer(operation, grants);
      return;
    }
    // Each with its tenant key: a keyed grant is settled or released in its key's counters too.
    const line = operation === 'release' ? this.#lineUp : undefined;
    if (operation === 'release') this.#lineUp = undefined;
    const command = operation === 'settle' ? () => this.#scripts.settle(grants) : () => this.#scripts.release(grants, line);
    const sentOn = this.#connection.connections;
    this.#connection.track(
      this.#connection.send(command).then(
        // Resent by ioredis after a reconnection, it may reach a restarted server that never saw these
        // leases: that is the restart's loss, not a lease that expired while its task ran.
        (lost) => this.#lost(operation, sentOn === this.#connection.connections ? lost : [], grants),
        (error: unknown) => {
          this.#connection.failed(error, operation);
          this.#defer(operation, grants);
        },
      ),
    );
  }

  /** Held back until Redis is back (the store flushes them then); a lease that expired meanwhile is then no news. */
  #defer(operation: 'settle' | 'release', grants: Grant[]): void {
    for (const grant of grants) grant.deferred = true;
    (operation === 'settle' ? this.#toSettle : this.#toRelease).push(...grants);
  }

  #renew(): void {
    if (this.#renewing || this.#connection.down || this.#leases.size === 0) return;
    if (!this.#connection.ready) {
      this.#connection.failNotReady('renew');
      return;
    }
    const grants = [...this.#leases.values()];
    this.#renewing = true;
    this.#connection
      .send(() => this.#scripts.renew(grants, this.#leaseTtlMs))
      .then(
        (lost) => this.#lost('renew', lost, grants),
        (error: unknown) => this.#connection.failed(error, 'renew'),
      )
      .finally(() => {
        this.#renewing = false;
      });
  }

  /**
   * Reports each lost lease once; a lost grant is not renewed, settled or released in Redis again.
   *
   * A command answered NOSCRIPT runs after those sent behind it (see `RedisScripts`), so a settle or a
   * renewal may run after the command that ends the same lease, and find nothing. Its "gone" then
   * proves nothing if that command was issued before the answer came: the end's own answer decides.
   */
  #lost(operation: 'settle' | 'release' | 'renew', ids: readonly string[], grants: readonly Grant[]): void {
    if (ids.length === 0) return;
    const byId = new Map(grants.map((grant) => [grant.id, grant]));
    for (const id of ids) {
      const grant = byId.get(id);
      if (grant === undefined || grant.lost) continue;
      if (!endsLease(operation, grant) && leaseEndIssued(grant)) {
        if (operation === 'settle') grant.goneAtSettle = true;
        continue;
      }
      grant.lost = true;
      this.#leases.delete(id);
      if (operation !== 'renew' && grant.deferred === true) continue;
      // Both found nothing: the lease was gone before the start was recorded.
      const told = grant.goneAtSettle === true ? 'settle' : operation;
      this.#report(new StoreError(`Lease ${id} was lost ${LOST[told]}`, told));
    }
    this.#syncRenewTimer();
  }

  #syncRenewTimer(): void {
    if (this.#leases.size > 0 && this.#renewTimer === undefined && !this.#closed) {
      this.#renewTimer = setInterval(() => this.#renew(), Math.max(1, Math.floor(this.#leaseTtlMs / 3)));
      this.#renewTimer.unref();
    } else if (this.#leases.size === 0 && this.#renewTimer !== undefined) {
      clearInterval(this.#renewTimer);
      this.#renewTimer = undefined;
    }
  }
}
