import { randomUUID } from 'node:crypto';
import type { WindowUsage } from '../core/options.js';
import { StoreError, type StoreOperation } from '../errors/store-error.js';
import { longestWindow } from '../limit/sliding-window.js';
import { LocalShare } from './redis-fallback.js';
import { type RedisFailureMode, type RedisStoreOptions, type RedisStoreStats, resolveRedisStoreOptions } from './redis-options.js';
import type { RedisLike } from './redis-like.js';
import { type AcquireReply, type RecordedStart, RedisScripts } from './redis-scripts.js';
import { type FreedKind, FreedSubscriber } from './redis-subscriber.js';
import { withTimeout } from './redis-timeout.js';
import type { LimiterStore, StoreContext, StoreLimits, StoreSlot } from '../core/store.js';

/** What the store keeps per grant, in `slot.storeData`. */
interface Grant {
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
  /** Its start is recorded in this process's share (see `#settleShare`). */
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
  /** Its settle found no lease after its release was issued: the release's answer decides (see `#lost`). */
  goneAtSettle?: boolean;
}

/** A refusal remembered so that the same question is not asked again before it can be answered otherwise. */
interface Refusal {
  /** Clock time before which no weight >= `weight` can be granted. */
  readonly at: number;
  readonly weight: number;
  /**
   * What held the room. `'window'`: only time frees it. `'concurrency'`: a release may free it (a
   * settle can not). `'pending'`: a settle or a release may.
   */
  readonly blockedBy: 'window' | 'concurrency' | 'pending';
}


const MODE_TEXT: Record<RedisFailureMode, string> = {
  local: "answering from this process's share of the limits until it is back",
  closed: 'holding work until it is back',
  open: 'letting work through without shared limits until it is back',
};
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

/** A Redis reply error (the server answered, with an error) rather than a connection problem. */
function isReplyError(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError';
}

/**
 * Limits shared by every process that uses the same `key`, kept in Redis by Lua scripts on Redis's
 * clock (see `RedisScripts`). A granted start costs one round trip; a refusal is remembered, so the
 * scheduler's next questions are answered at once until the refusal's wait has passed or a release
 * announced on pub/sub may have freed room. While Redis is down, `failureMode` decides.
 *
 * The ioredis client passed in stays the caller's: the store adds a `'ready'` listener to it (removed
 * by `close()`), duplicates it once for its subscriber, and never quits or disconnects it.
 */
export class RedisStore implements LimiterStore {
  readonly #redis: RedisLike;
  readonly #key: string;
  readonly #scripts: RedisScripts;
  readonly #failureMode: RedisFailureMode;
  readonly #marginMs: number;
  readonly #leaseTtlMs: number;
  readonly #commandTimeoutMs: number;
  readonly #clientTtlMs: number;
  readonly #clientId = randomUUID();
  /** Grant ids sent so far; each grant's id is `${clientId}:${n}`, unique across processes. */
  #grantCount = 0;

  #context: StoreContext | undefined = undefined;
  #limits: StoreLimits = { windows: [], concurrency: Infinity };
  /** Created by `open()`; records every grant of this process, and answers while Redis is down ('local'). */
  #local: LocalShare | undefined = undefined;
  /** Each window's usage in Redis's last acquire reply (same order as `#limits.windows`), if any. */
  #lastUsed: number[] | undefined = undefined;
  /** Clock time of that reply: once the longest window has passed since, it says nothing any more. */
  #lastUsedAt = -Infinity;
  /**
   * Starts granted without Redis (by the failure mode) and not yet logged in Redis: sent ahead of the
   * next acquire, on the same connection, so Redis counts them before it grants anything more.
   */
  #unrecorded: Grant[] = [];
  /** The last RECORD sent (settled either way): the next one, and every acquire, go after it. */
  #recording: Promise<void> = Promise.resolve();
  /** `#unrecorded` is pruned of starts older than every window when it reaches this length. */
  #pruneUnrecordedAt = 1_024;
  /** Undefined once its time has passed or something may have freed room earlier. */
  #refusal: Refusal | undefined = undefined;
  /** Bumped whenever room may have freed elsewhere: a refusal sent before a bump may be stale. */
  #freedEpoch = 0;

  /** True from the first failure of an outage until Redis answers again; one report per outage. */
  #down = false;
  /** While down, when an acquire may next try Redis although no `'ready'` event has come (see `#mayProbe`). */
  #probeAt = 0;
  /**
   * While down on a live connection (a server answering errors sends no event when it is well again),
   * tries Redis every `commandTimeoutMs` in the background, so that what the outage held back (starts to
   * record, settles and releases) reaches it even if this process asks nothing more.
   */
  #probeTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** Commands sent and not answered yet, timed out ones included. */
  #outstanding = 0;
  /**
   * How many times the client has become ready (counted from `open()`; 1 if it was ready then). A
   * command sent on an earlier connection and answered on a later one was resent by ioredis to a
   * server that may have lost everything since.
   */
  #connections = 0;
  /** Resolved by the next `'ready'` of the client: commands waiting for its first connection. */
  #readyWaiters: Array<() => void> = [];

  /** Live Redis grants whose lease needs renewing (holding concurrency, or not settled), by id. */
  readonly #leases = new Map<string, Grant>();
  /** Runs while `#leases` is not empty, and only then. */
  #renewTimer: ReturnType<typeof setInterval> | undefined = undefined;
  #renewing = false;

  /** Grants waiting for the next flush, in the order they must reach Redis. */
  #toSettle: Grant[] = [];
  #toRelease: Grant[] = [];
  #toRestamp: Grant[] = [];
  #flushQueued = false;
  /** Settle/release commands sent and not answered: `close()` waits for them. */
  readonly #flushes = new Set<Promise<void>>();

  readonly #subscriber: FreedSubscriber;
  #closed = false;

  readonly #stats = { acquires: 0, grants: 0, refusals: 0, syncRefusals: 0, fallbackGrants: 0, restamps: 0 };

  constructor(options: RedisStoreOptions) {
    const resolved = resolveRedisStoreOptions(options);
    this.#redis = resolved.redis;
    this.#key = resolved.key;
    this.#failureMode = resolved.failureMode;
    this.#marginMs = resolved.safetyMarginMs;
    this.#leaseTtlMs = resolved.leaseTtlMs;
    this.#commandTimeoutMs = resolved.commandTimeoutMs;
    this.#clientTtlMs = resolved.clientTtlMs;
    this.#scripts = new RedisScripts(this.#redis, this.#key);
    this.#subscriber = new FreedSubscriber(this.#redis, this.#scripts.channel, (kind) => this.#freed(kind));
  }

  /** Counters for monitoring and benchmarks: round trips per grant is `roundTrips / grants`. */
  stats(): RedisStoreStats {
    return { ...this.#stats, roundTrips: this.#scripts.roundTrips, down: this.#down };
  }

  open(context: StoreContext): void {
    if (this.#context !== undefined) {
      throw new TypeError('Expected `store` to be a store no other client uses: a store serves one client');
    }
    this.#context = context;
    this.#limits = context.limits;
    this.#local = new LocalShare(context.limits);
    this.#redis.on('ready', this.#onReady);
    if (this.#redis.status === 'ready') this.#connections = 1;
  }

  setLimits(limits: StoreLimits, now: number): void {
    if (limits.windows.length !== this.#limits.windows.length) this.#lastUsed = undefined;
    this.#limits = limits;
    this.#refusal = undefined;
    this.#share.setLimits(limits, now);
  }

  acquire(slot: StoreSlot, now: number): number | Promise<number> {
    this.#stats.acquires++;
    if (this.#down && !this.#mayProbe(now)) return this.#answerDown(slot, now);
    if (!this.#down) {
      const remembered = this.#remembered(slot.weight, now);
      if (remembered > 0) {
        this.#stats.refusals++;
        this.#stats.syncRefusals++;
        return remembered;
      }
      const status = this.#redis.status;
      // Connecting for the first time: give it one command's time. Connecting again after it was ready
      // is a reconnection, an outage: the failure mode answers at once.
      const firstConnection = this.#connections === 0 && (status === 'connecting' || status === 'connect');
      if (status !== 'ready' && !firstConnection) {
        this.#failed(this.#notReady(), 'acquire');
        return this.#answerDown(slot, now);
      }
    }
    return this.#acquireFromRedis(slot);
  }

  earliestWait(weight: number, now: number): number {
    // Only a window's refusal is a lower bound: a release can end any other at any moment.
    if (!this.#down) return this.#refusal?.blockedBy === 'window' ? this.#remembered(weight, now) : 0;
    return this.#failureMode === 'local' ? this.#share.earliestWait(weight, now) : 0;
  }

  settle(slot: StoreSlot, now: number): void {
    const grant = slot.storeData as Grant | undefined;
    if (grant === undefined || grant.released) return;
    this.#settleShare(grant, now);
    if (grant.by !== 'redis') return;
    if (grant.settled) {
      this.#restampIfLate(grant, now);
      return;
    }
    grant.settled = true;
    if (grant.lost) return;
    if (!grant.holds) {
      this.#leases.delete(grant.id);
      this.#syncRenewTimer();
    }
    this.#forgetRefusalFreedByRelease();
    this.#enqueue(this.#toSettle, grant);
  }

  release(slot: StoreSlot, now: number): void {
    const grant = slot.storeData as Grant | undefined;
    if (grant === undefined || grant.released) return;
    grant.released = true;
    this.#settleShare(grant, now);
    if (grant.by === 'open') return;
    this.#share.release(grant.weight);
    if (grant.by !== 'redis' || grant.lost) return;
    const wasPending = !grant.settled;
    grant.settled = true;
    this.#leases.delete(grant.id);
    this.#syncRenewTimer();
    // A grant settled at once without concurrency has nothing left in Redis to release.
    if (!grant.holds && !wasPending) return;
    this.#forgetRefusalFreedByRelease();
    this.#enqueue(this.#toRelease, grant);
  }

  /**
   * Redis logged a start settled at once when it granted it, and the window's safety margin covers the
   * time until the task begins. A task that began later than that (its event loop was stalled while the
   * answer waited, or Redis was slow) would let another process start a whole window after the logged
   * time but less than a window after the real start. Its log entry moves to Redis's now instead, which
   * is no earlier than the real start: one more round trip, only for such a late start. It lands long
   * before the entry could expire (that takes a window plus the margin), unless the stall lasted a window.
   */
  #restampIfLate(grant: Grant, now: number): void {
    const askedAt = grant.askedAt;
    if (askedAt === undefined || now - askedAt <= this.#marginMs) return;
    this.#stats.restamps++;
    this.#enqueue(this.#toRestamp, grant);
  }

  /**
   * Records the start in this process's share when the task really began (or ended without a start
   * time): a Redis grant settled at once is in Redis's log from the grant, but the share, which has no
   * safety margin, must not count it from before the task began.
   */
  #settleShare(grant: Grant, now: number): void {
    if (grant.shareSettled) return;
    grant.shareSettled = true;
    if (grant.by !== 'redis') grant.startedAt = now;
    if (grant.by !== 'open') this.#share.settle(grant.weight, now);
  }

  /**
   * Redis's last reported usage of each window (before its first answer, this process's own starts).
   * While Redis is down with `failureMode: 'local'`, this process's own starts against its share: each
   * window's `limit` is then the share.
   */
  usage(now: number): WindowUsage[] {
    const local = this.#share;
    if (this.#down && this.#failureMode === 'local') return local.usage(now);
    // Redis's last figures, while they can still be true; after that, this process's own starts.
    const used = this.#lastUsed !== undefined && now - this.#lastUsedAt < this.#longestSpan() ? this.#lastUsed : local.used(now);
    return this.#limits.windows.map((window, i) => ({ limit: window.limit, windowMs: window.windowMs, used: used[i] ?? 0 }));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#leases.clear();
    this.#syncRenewTimer();
    if (this.#probeTimer !== undefined) clearTimeout(this.#probeTimer);
    this.#flush();
    if (!this.#down) this.#recordInBackground();
    await Promise.allSettled([...this.#flushes]);
    this.#redis.off('ready', this.#onReady);
    this.#readyWaiters = [];
    await this.#subscriber.close((command) => this.#timed(command));
  }

  // --- acquire ---

  #acquireFromRedis(slot: StoreSlot): Promise<number> {
    const { windows, concurrency } = this.#limits;
    const grant: Grant = {
      id: `${this.#clientId}:${++this.#grantCount}`,
      by: 'redis',
      weight: slot.weight,
      holds: concurrency !== Infinity,
      settled: slot.settleAtStart,
      released: false,
      lost: false,
      shareSettled: false,
    };
    // Settles and releases of this tick go first, on the same connection: the room they free counts.
    this.#flush();
    const epoch = this.#freedEpoch;
    const request = {
      id: grant.id,
      clientId: this.#clientId,
      weight: slot.weight,
      settle: slot.settleAtStart,
      concurrency,
      leaseTtlMs: this.#leaseTtlMs,
      marginMs: this.#marginMs,
      clientTtlMs: this.#clientTtlMs,
      windows,
    };
    // Set once the failure mode has answered this acquire (it timed out before its answer came).
    let answeredDown = false;
    const send = async (): Promise<AcquireReply> => {
      if (this.#redis.status !== 'ready') await new Promise<void>((resolve) => this.#readyWaiters.push(resolve));
      // Starts made without Redis must be in its log before it grants anything more. Awaited, not just
      // sent first: a NOSCRIPT retry of one command could let the other overtake it.
      await this.#recordUnrecorded();
      // Timed out while it waited to be sent: a fallback grant may hold its id, and a RECORD of it may
      // already be ahead on the connection, where `late` could not undo a grant of the same id.
      if (answeredDown) throw new Error('acquire not sent: the failure mode answered it first');
      if (request.settle) grant.askedAt = this.#ctx.clock.now();
      return this.#scripts.acquire(request);
    };
    // The failure mode answered the acquire that timed out; a fallback grant takes the same id.
    let fallback: Grant | undefined;
    // A grant whose answer came too late is given back, even after close() or while counted as down:
    // Redis has just answered, and it must not hold room until its lease expires. Unless a RECORD of
    // the fallback grant has been sent: it comes after the acquire on the connection, and undoes it.
    const late = (reply: AcquireReply) => {
      if (!reply.granted || fallback?.recordSent === true || !(grant.holds || !grant.settled)) return;
      this.#track(this.#timed(() => this.#scripts.release([grant.id])).then(ignore, ignore));
    };
    return this.#timed(send, late).then(
      (reply) => this.#answered(slot, grant, reply, epoch),
      (error: unknown) => {
        answeredDown = true;
        this.#failed(error, 'acquire');
        const wait = this.#answerDown(slot, this.#ctx.clock.now(), grant.id);
        if (wait === 0) fallback = slot.storeData as Grant;
        return wait;
      },
    );
  }

  #answered(slot: StoreSlot, grant: Grant, reply: AcquireReply, epoch: number): number {
    const local = this.#share;
    const now = this.#ctx.clock.now();
    this.#recovered();
    local.setClients(reply.clients, now);
    this.#lastUsed = reply.used;
    this.#lastUsedAt = now;
    if (reply.granted) {
      this.#stats.grants++;
      slot.storeData = grant;
      local.take(grant.weight);
      if (grant.holds || !grant.settled) {
        this.#leases.set(grant.id, grant);
        this.#syncRenewTimer();
      }
      return 0;
    }
    this.#stats.refusals++;
    const blockedBy = reply.blockedBy ?? 'window';
    const byWindow = blockedBy === 'window';
    // The wait counts from the reply, not the send: Redis computed it in between, so it is never early.
    if (byWindow || epoch === this.#freedEpoch) {
      this.#refusal = { at: now + reply.waitMs, weight: grant.weight, blockedBy };
    }
    if (!byWindow && !this.#closed) this.#subscriber.ensure();
    return reply.waitMs;
  }

  /** What an earlier refusal still says about `weight` (0: nothing; ask Redis). */
  #remembered(weight: number, now: number): number {
    const refusal = this.#refusal;
    if (refusal === undefined) return 0;
    if (now >= refusal.at) {
      this.#refusal = undefined;
      return 0;
    }
    return weight >= refusal.weight ? refusal.at - now : 0;
  }

  /** Room held by leases or pending starts may have freed: a remembered refusal of that kind is stale. */
  #forgetRefusalFreedByRelease(): void {
    this.#freedEpoch++;
    if (this.#refusal !== undefined && this.#refusal.blockedBy !== 'window') this.#refusal = undefined;
  }

  /** `id`: the id of an acquire that failed, for a fallback grant in its place (see `late`). */
  #answerDown(slot: StoreSlot, now: number, id?: string): number {
    if (this.#failureMode === 'open') {
      this.#granted(slot, 'open', id);
      return 0;
    }
    if (this.#failureMode === 'local') {
      const local = this.#share;
      const wait = local.wait(slot.weight, now);
      if (wait > 0) {
        this.#stats.refusals++;
        return wait;
      }
      local.take(slot.weight);
      this.#granted(slot, 'local', id);
      return 0;
    }
    this.#stats.refusals++;
    // No event announces that Redis stopped answering errors on a live connection: ask again then.
    return this.#redis.status === 'ready' && this.#outstanding === 0 ? Math.max(1, this.#probeAt - now) : Infinity;
  }

  #granted(slot: StoreSlot, by: 'local' | 'open', id = `${this.#clientId}:${++this.#grantCount}`): void {
    this.#stats.grants++;
    this.#stats.fallbackGrants++;
    const grant: Grant = { id, by, weight: slot.weight, holds: false, settled: false, released: false, lost: false, shareSettled: false };
    slot.storeData = grant;
    this.#unrecorded.push(grant);
    if (this.#unrecorded.length >= this.#pruneUnrecordedAt) {
      this.#unrecorded = this.#stillCounting(this.#unrecorded, this.#ctx.clock.now());
      this.#pruneUnrecordedAt = Math.max(1_024, 2 * this.#unrecorded.length);
    }
  }

  /** Grants still running, or whose start some window still counts. */
  #stillCounting(grants: Grant[], now: number): Grant[] {
    const longest = this.#longestSpan();
    return grants.filter((grant) => grant.startedAt === undefined || !grant.released || now - grant.startedAt < longest);
  }

  /** How long a start counts in Redis: the longest window, widened by the margin. */
  #longestSpan(): number {
    return longestWindow(this.#limits.windows) + this.#marginMs;
  }

  /**
   * Logs in Redis the starts granted without it, each at its age; a `'local'` grant still running gets
   * a lease there and is a Redis grant from then on (renewed, settled, released). Starts older than
   * every window are dropped: they no longer count anywhere. On failure they are kept for the next try
   * (RECORD undoes what an id had before, so sending one twice counts it once) and the error goes on.
   */
  #recordUnrecorded(): Promise<void> {
    // One RECORD at a time, and every acquire after it: a NOSCRIPT retry must not let one overtake another.
    const recorded = this.#recording.then(() => this.#recordNow());
    this.#recording = recorded.then(ignore, ignore);
    return recorded;
  }

  async #recordNow(): Promise<void> {
    if (this.#unrecorded.length === 0) return;
    const now = this.#ctx.clock.now();
    const grants = this.#stillCounting(this.#unrecorded, now);
    this.#unrecorded = [];
    if (grants.length === 0) return;
    const shared = this.#limits.concurrency !== Infinity;
    const starts: RecordedStart[] = grants.map((grant) => {
      grant.recordSent = true;
      // An 'open' grant took nothing of the share, so it can not become a Redis grant: only its start counts.
      const live = !grant.released && grant.by === 'local';
      const pending = live && !grant.shareSettled;
      return { id: grant.id, weight: grant.weight, ageMs: now - (grant.startedAt ?? now), live, holds: live && shared, pending };
    });
    try {
      await this.#scripts.record(starts, this.#leaseTtlMs);
    } catch (error) {
      this.#unrecorded.unshift(...grants);
      throw error;
    }
    starts.forEach((start, i) => {
      if (start.live && (start.holds || start.pending)) this.#adopt(grants[i] as Grant, start);
    });
  }

  /** A `'local'` grant RECORD gave a lease: a Redis grant now. What it did meanwhile is passed on. */
  #adopt(grant: Grant, start: RecordedStart): void {
    grant.by = 'redis';
    grant.holds = start.holds;
    grant.settled = !start.pending;
    if (grant.released) {
      // It ended while RECORD was on its way: its release, kept by the share alone, goes to Redis now.
      this.#enqueue(this.#toRelease, grant);
      return;
    }
    if (start.pending && grant.shareSettled) {
      grant.settled = true;
      this.#enqueue(this.#toSettle, grant);
    }
    if (grant.holds || !grant.settled) {
      this.#leases.set(grant.id, grant);
      this.#syncRenewTimer();
    }
  }

  /** After an outage with nothing asking Redis: the outage's starts must reach it all the same. */
  #recordInBackground(): void {
    if (this.#unrecorded.length === 0) return;
    this.#track(this.#timed(() => this.#recordUnrecorded()).then(ignore, ignore));
  }

  // --- failure and recovery ---

  /**
   * Whether an acquire may try Redis while it is down. A lost connection ends with the client's
   * `'ready'` event, and a command that timed out on a live connection with its late answer; but a
   * server that answers errors (a read-only replica after a failover, say) sends no event: so, once
   * `commandTimeoutMs` has passed and nothing is outstanding, the next acquire asks Redis again.
   */
  #mayProbe(now: number): boolean {
    return this.#redis.status === 'ready' && this.#outstanding === 0 && now >= this.#probeAt;
  }

  /** Why nothing was sent: the client is not connected (ioredis would queue it offline, or refuse it). */
  #notReady(): Error {
    return new Error(`The Redis client is not ready (status \`${this.#redis.status}\`)`);
  }

  #failed(error: unknown, operation: StoreOperation): void {
    const context = this.#ctx;
    this.#probeAt = context.clock.now() + this.#commandTimeoutMs;
    if (this.#down || this.#closed) return;
    this.#down = true;
    this.#refusal = undefined;
    this.#armProbe();
    const replied = isReplyError(error);
    const what = replied ? `Redis answered an error to ${operation}` : 'Redis is unreachable';
    const detail = error instanceof Error ? error.message : String(error);
    context.report(
      new StoreError(`${what} (store \`${this.#key}\`): ${detail}; ${MODE_TEXT[this.#failureMode]}`, replied ? operation : 'connection', {
        cause: error,
      }),
    );
  }

  #armProbe(): void {
    if (this.#probeTimer !== undefined || this.#closed) return;
    this.#probeTimer = setTimeout(() => {
      this.#probeTimer = undefined;
      if (!this.#down || this.#closed) return;
      // A dropped connection ends with the client's 'ready'; only a live one needs asking.
      if (this.#redis.status === 'ready' && this.#outstanding === 0) {
        this.#timed(() => this.#scripts.probe()).then(
          () => this.#recovered(),
          () => this.#armProbe(),
        );
      } else {
        this.#armProbe();
      }
    }, this.#commandTimeoutMs);
    this.#probeTimer.unref();
  }

  /** Redis answered: an outage is over, and whatever it held back may go now. */
  #recovered(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#refusal = undefined;
    this.#recordInBackground();
    this.#flush();
    this.#wake();
  }

  readonly #onReady = (): void => {
    this.#connections++;
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const resolve of waiters) resolve();
    if (this.#down) {
      this.#recovered();
      return;
    }
    // A reconnection: releases announced meanwhile were missed.
    this.#freedEpoch++;
    this.#refusal = undefined;
    this.#wake();
  };

  /**
   * Runs one Redis command within `commandTimeoutMs`. One that times out is still watched: a late
   * answer means Redis is back (and `late` gets it); a late failure with nothing else outstanding
   * wakes the client, whose next acquire may then probe Redis (see `#mayProbe`).
   */
  #timed<T>(send: () => Promise<T>, late?: (value: T) => void): Promise<T> {
    let sent: Promise<T>;
    try {
      sent = send();
    } catch (error) {
      sent = Promise.reject(error);
    }
    this.#outstanding++;
    const settled = () => {
      this.#outstanding--;
    };
    sent.then(settled, settled);
    return withTimeout(sent, this.#commandTimeoutMs, {
      answered: (value) => {
        // Even after close(): a late grant must still be given back.
        late?.(value);
        if (!this.#closed) this.#recovered();
      },
      failed: () => {
        if (this.#outstanding === 0) this.#wake();
      },
    });
  }

  // --- settle, release, renew ---

  #enqueue(batch: Grant[], grant: Grant): void {
    batch.push(grant);
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => this.#flush());
  }

  /** Sends the batched restamps, settles, then releases: one command each, fire-and-forget. */
  #flush(): void {
    this.#flushQueued = false;
    const restamps = this.#toRestamp;
    const settles = this.#toSettle;
    const releases = this.#toRelease;
    this.#toRestamp = [];
    this.#toSettle = [];
    this.#toRelease = [];
    if (restamps.length > 0) this.#restamp(restamps);
    if (settles.length > 0) this.#send('settle', settles);
    if (releases.length > 0) this.#send('release', releases);
  }

  /**
   * Held back like a settle while this process counts Redis as down (others may still be granted
   * starts), and sent once it is back: a later time is still no earlier than the real start.
   */
  #restamp(grants: Grant[]): void {
    if (this.#holdsBack('settle')) {
      this.#toRestamp.push(...grants);
      return;
    }
    this.#track(
      this.#timed(() => this.#scripts.restamp(grants)).then(ignore, (error: unknown) => {
        this.#failed(error, 'settle');
        this.#toRestamp.push(...grants);
      }),
    );
  }

  /**
   * While Redis is down nothing is sent: the grants wait for its return (`#recovered` flushes them), so a
   * short outage does not hold their concurrency until their leases expire.
   */
  #send(operation: 'settle' | 'release', grants: Grant[]): void {
    if (this.#holdsBack(operation)) {
      this.#defer(operation, grants);
      return;
    }
    const ids = grants.map((grant) => grant.id);
    const command = operation === 'settle' ? () => this.#scripts.settle(ids) : () => this.#scripts.release(ids);
    const connection = this.#connections;
    this.#track(
      this.#timed(command).then(
        // Resent by ioredis after a reconnection, it may reach a restarted server that never saw these
        // leases: that is the restart's loss, not a lease that expired while its task ran.
        (lost) => this.#lost(operation, connection === this.#connections ? lost : [], grants),
        (error: unknown) => {
          this.#failed(error, operation);
          this.#defer(operation, grants);
        },
      ),
    );
  }

  /**
   * Whether a fire-and-forget command must not go out now: Redis counts as down, or the connection is
   * found not ready, which makes it count as down from here.
   */
  #holdsBack(operation: StoreOperation): boolean {
    if (!this.#down && this.#redis.status !== 'ready') this.#failed(this.#notReady(), operation);
    return this.#down;
  }

  /** Held back until Redis is back (`#recovered` flushes them); a lease that expired meanwhile is then no news. */
  #defer(operation: 'settle' | 'release', grants: Grant[]): void {
    for (const grant of grants) grant.deferred = true;
    (operation === 'settle' ? this.#toSettle : this.#toRelease).push(...grants);
  }

  /** A command `close()` waits for; it never rejects. */
  #track(done: Promise<void>): void {
    this.#flushes.add(done);
    void done.finally(() => this.#flushes.delete(done));
  }

  #renew(): void {
    if (this.#renewing || this.#down || this.#leases.size === 0) return;
    if (this.#redis.status !== 'ready') {
      this.#failed(this.#notReady(), 'renew');
      return;
    }
    const grants = [...this.#leases.values()];
    this.#renewing = true;
    this.#timed(() => this.#scripts.renew(grants.map((grant) => grant.id), this.#leaseTtlMs))
      .then(
        (lost) => this.#lost('renew', lost, grants),
        (error: unknown) => this.#failed(error, 'renew'),
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
      this.#ctx.report(new StoreError(`Lease ${id} was lost ${LOST[told]}`, told));
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

  // --- pub/sub ---

  /**
   * Another process released or settled (or a subscription began): a refusal by concurrency or pending
   * starts may be over. A settle frees no concurrency, so it does not wake a process waiting for that.
   */
  #freed(kind: FreedKind): void {
    if (this.#closed) return;
    if (kind === 'settle' && this.#refusal?.blockedBy === 'concurrency') return;
    this.#forgetRefusalFreedByRelease();
    if (!this.#down) this.#wake();
  }

  #wake(): void {
    if (!this.#closed) this.#context?.wake();
  }

  get #ctx(): StoreContext {
    if (this.#context === undefined) throw new Error('RedisStore used before a client opened it');
    return this.#context;
  }

  get #share(): LocalShare {
    if (this.#local === undefined) throw new Error('RedisStore used before a client opened it');
    return this.#local;
  }
}
