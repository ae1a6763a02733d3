// RedisStore: the LimiterStore whose limits every process with the same key shares in Redis. It asks
// Redis for each start, and leaves the rest to the pieces it composes (see the constructor).
import { randomUUID } from 'node:crypto';
import { amountOf, type Cost, REQUESTS } from '../core/cost.js';
import type { RateWindow, WindowUsage } from '../core/options.js';
import type { LimiterStore, StoreContext, StoreLimits, StoreSlot } from '../core/store.js';
import type { StoreError } from '../errors/store-error.js';
import { AcquireSender } from './redis-acquire-sender.js';
import { RedisConnection } from './redis-connection.js';
import { LocalShare } from './redis-fallback.js';
import { FallbackGrants } from './redis-fallback-grants.js';
import { type Grant, newGrant } from './redis-grant.js';
import { LeaseWriter } from './redis-lease-writer.js';
import { LinePlace } from './redis-line.js';
import { type RedisFailureMode, type RedisStoreOptions, type RedisStoreStats, resolveRedisStoreOptions } from './redis-options.js';
import { type Announced, RefusalMemory, type RefusalEpoch } from './redis-refusal.js';
import { type AcquireReply, HOLD_MS, RedisScripts, type ServerWordNews } from './redis-scripts.js';
import { type Announcement, FreedSubscriber } from './redis-subscriber.js';
import { LastUsed, longestSpan, usageOf } from './redis-usage.js';

/** What this process knows of a tenant key (from its `setKeyLimits` until its `dropKey`). */
interface KnownKey {
  windows: readonly RateWindow[];
  /** Redis's last figures for the key's windows. */
  readonly last: LastUsed;
}

function ignore(): void {}

/** What the scripts announce on the channel, besides a wake by name (see `#heard`). */
const ANNOUNCED: ReadonlySet<string> = new Set<Announced>(['settle', 'release', 'amend', 'priority']);

/** The most starts one acquire asks for besides its own (a batch: see ACQUIRE). */
const MOST_EXTRA = 15;

/** Starts a batch granted that the next acquires of the same kind take, without asking Redis. */
interface Reserve {
  /** The batch's first grant's id: the others are `<base>+1` to `<base>+count`. */
  readonly base: string;
  readonly count: number;
  /** The next to take. */
  next: number;
  readonly weight: number;
  readonly holds: boolean;
  readonly askedAt: number | undefined;
}

/** Whether some window counts a currency other than requests. */
function countsCurrencies(windows: readonly RateWindow[]): boolean {
  return windows.some((window) => (window.counts ?? REQUESTS) !== REQUESTS);
}

/**
 * Limits shared by every process that uses the same `key`, kept in Redis by Lua scripts on Redis's
 * clock (see `RedisScripts`): sliding windows, and buckets (a window with `burst`), each one number
 * (GCRA) that every process of the same shape shares exactly. A granted start costs one round trip; a refusal is remembered, so the
 * scheduler's next questions are answered at once until the refusal's wait has passed or a release
 * announced on pub/sub may have freed room. While Redis is down, `failureMode` decides.
 *
 * Tenant keys (a task's `key`): each key's counters live in Redis beside the client's (see
 * `RedisScripts`), and a keyed start is decided against both in the same round trip. The key's windows
 * are this process's (`setKeyLimits`), sent with each acquire: processes that disagree about a key's
 * windows each hold it to their own, over the starts of all. A key's concurrency is the scheduler's.
 *
 * The Redis client passed in (any supported library) stays the caller's: the store adds a `'ready'`
 * listener to it (a node-redis cluster: `'connect'` and `'node-ready'`), removed by `close()`,
 * duplicates it once for its subscriber (connecting that copy itself for node-redis), and never
 * connects, quits or closes it.
 *
 * The fleet (see redis-lua-fleet.ts): what a server said to one process (a cooldown, a budget until its
 * reset, tightened windows) holds every process on the key; a process refused with a better priority
 * holds back grants of worse ones anywhere; processes refused by the shared concurrency wait in a line
 * and are woken one per freed grant, by name (see `LinePlace`).
 */
export class RedisStore implements LimiterStore {
  readonly #failureMode: RedisFailureMode;
  readonly #marginMs: number;
  readonly #clientId = randomUUID();
  /** Grant ids made so far; each grant's id is `${clientId}:${n}`, unique across processes. */
  #grantCount = 0;

  readonly #scripts: RedisScripts;
  readonly #connection: RedisConnection;
  readonly #writer: LeaseWriter;
  readonly #fallback: FallbackGrants;
  readonly #sender: AcquireSender;
  readonly #refusals = new RefusalMemory();
  readonly #line = new LinePlace();
  readonly #leaseTtlMs: number;
  readonly #subscriber: FreedSubscriber;

  /** Set once, by `open()`. */
  #context: StoreContext | undefined = undefined;
  /** The client's limits: those `open()` was given, then each `setLimits()`'s. */
  #limits: StoreLimits = { windows: [], concurrency: Infinity };
  /** Created by `open()`; records every grant of this process, and answers while Redis is down ('local'). */
  #local: LocalShare | undefined = undefined;
  /** Redis's last figures for the client's windows (same order as `#limits.windows`). */
  readonly #lastUsed = new LastUsed();
  /** Each tenant key this process has been given limits for and not let go. */
  readonly #keys = new Map<string, KnownKey>();
  /** Set by `close()`: the client is not woken, nor a subscription made, from then on. */
  #closed = false;
  /** The version of the fleet's shared tightened windows this process has adopted (-1: none yet). */
  #policyVersion = -1;
  /**
   * Wakes by name heard so far: one heard while an acquire was on its way may be for the place in line
   * that acquire's answer gives (the message can overtake the answer), so that place is not waited in.
   */
  #wakesHeard = 0;
  /**
   * Starts the last answer granted besides the one asked for (a batch), taken by the next acquires of
   * the same kind in this turn; what is left when the turn ends is given back (`#cancelReserve`).
   */
  #reserve: Reserve | undefined = undefined;
  /** Acquires sent to Redis so far, and those not answered yet: whether a wake by name was used. */
  #sent = 0;
  #inFlight = 0;

  readonly #stats = { batched: 0, acquires: 0, grants: 0, refusals: 0, syncRefusals: 0, fallbackGrants: 0, restamps: 0 };

  /**
   * Checks every option (a TypeError or RangeError names the one that is wrong) and applies the
   * defaults. Nothing is sent to Redis before a client has opened the store and asks for a start.
   */
  constructor(options: RedisStoreOptions) {
    const resolved = resolveRedisStoreOptions(options);
    this.#failureMode = resolved.failureMode;
    this.#marginMs = resolved.safetyMarginMs;
    this.#leaseTtlMs = resolved.leaseTtlMs;
    const now = () => this.#ctx.clock.now();
    const report = (error: StoreError) => this.#ctx.report(error);
    // Each piece gets what it needs here, and calls back for the rest: the store's context only comes with `open()`.
    this.#scripts = new RedisScripts(resolved.redis, resolved.key);
    this.#connection = new RedisConnection(resolved.redis, resolved, {
      now,
      report,
      probe: () => this.#scripts.probe(),
      down: () => {
        this.#refusals.forget();
        this.#line.leave();
      },
      recovered: () => this.#recovered(),
      reconnected: () => {
        // A reconnection: releases announced meanwhile were missed.
        this.#refusals.missed();
        this.#line.leave();
        this.#wake();
      },
      wake: () => this.#wake(),
    });
    this.#writer = new LeaseWriter(this.#connection, this.#scripts, resolved.leaseTtlMs, report);
    this.#fallback = new FallbackGrants({
      failureMode: this.#failureMode,
      leaseTtlMs: resolved.leaseTtlMs,
      connection: this.#connection,
      scripts: this.#scripts,
      writer: this.#writer,
      stats: this.#stats,
      share: () => this.#share,
      limits: () => this.#limits,
      longestSpan: () => this.#longestSpan(),
      keySpan: (key) => this.#keySpan(key),
      now,
      newId: () => this.#newId(),
    });
    this.#sender = new AcquireSender(
      this.#connection,
      this.#scripts,
      this.#fallback,
      {
        clientId: this.#clientId,
        leaseTtlMs: resolved.leaseTtlMs,
        marginMs: this.#marginMs,
        clientTtlMs: resolved.clientTtlMs,
        priorityHoldMs: HOLD_MS,
      },
      now,
    );
    this.#subscriber = new FreedSubscriber(resolved.redis, this.#scripts.channel, (message) => this.#heard(message));
  }

  /** Counters for monitoring and benchmarks: round trips per grant is `roundTrips / grants`. */
  stats(): RedisStoreStats {
    return { ...this.#stats, roundTrips: this.#scripts.roundTrips, down: this.#connection.down };
  }

  /**
   * Binds the store to the client that uses it (the client calls this when it is created with the
   * store), and starts listening for the Redis client's `'ready'`. A store serves one client: a second
   * `open()` throws a TypeError.
   */
  open(context: StoreContext): void {
    if (this.#context !== undefined) {
      throw new TypeError('Expected `store` to be a store no other client uses: a store serves one client');
    }
    this.#context = context;
    this.#limits = context.limits;
    this.#local = new LocalShare(context.limits);
    this.#connection.open();
  }

  /**
   * New limits for the starts to come (starts already made count in them: a bucket of a shape Redis
   * does not know yet starts with its currency's recent starts taken); a remembered refusal no longer
   * holds.
   */
  setLimits(limits: StoreLimits, now: number): void {
    if (limits.windows.length !== this.#limits.windows.length) this.#lastUsed.clear();
    this.#limits = limits;
    this.#refusals.forget();
    this.#line.leave();
    this.#share.setLimits(limits, now);
  }

  /**
   * `key`'s own windows from now on, sent with each of its acquires (Redis keeps its counters, not its
   * windows); this process's share of them answers while Redis is down with `failureMode: 'local'`.
   */
  setKeyLimits(key: string, windows: readonly RateWindow[], now: number): void {
    const known = this.#keys.get(key);
    if (known === undefined) {
      this.#keys.set(key, { windows, last: new LastUsed() });
    } else {
      if (known.windows.length !== windows.length) known.last.clear();
      known.windows = windows;
    }
    this.#share.setKeyLimits(key, windows, now);
  }

  /** The client let `key` go: this process forgets it; its counters in Redis expire with its longest window. */
  dropKey(key: string): void {
    this.#keys.delete(key);
    this.#share.dropKey(key);
  }

  /** `key`'s windows as `usage()` tells the client's: Redis's last figures for it, else this process's own starts. */
  keyUsage(key: string, now: number): WindowUsage[] {
    const known = this.#keys.get(key);
    if (known === undefined) return [];
    if (this.#connection.down && this.#failureMode === 'local') return this.#share.keyUsage(key, now);
    const used = known.last.read(now, this.#keySpan(key)) ?? this.#share.keyUsage(key, now).map((window) => window.used);
    return usageOf(known.windows, used);
  }

  /**
   * Whether a start of `slot.weight` may begin now: 0 for a grant, else the milliseconds to wait
   * (`Infinity`: until the store wakes the client). A refusal remembered from Redis is answered at once;
   * otherwise Redis decides, in one round trip (a promise, which never rejects: a failure makes Redis
   * count as down). While Redis is down, `failureMode` answers at once.
   */
  acquire(slot: StoreSlot, now: number): number | Promise<number> {
    this.#stats.acquires++;
    if (this.#reserve !== undefined && this.#takeReserved(slot)) return 0;
    const connection = this.#connection;
    if (connection.down && !connection.mayProbe(now)) return this.#fallback.answer(slot, now);
    if (!connection.down) {
      // In line for the shared concurrency since its last release: a release will wake it by name.
      const inLine = this.#line.waitFor(slot.priority ?? 0, now);
      if (inLine > 0) {
        if (slot.key !== undefined) slot.refusedByKey = false;
        this.#stats.refusals++;
        this.#stats.syncRefusals++;
        return inLine;
      }
      const remembered = this.#refusals.remembered(slot.weight, slot.cost ?? null, slot.priority ?? 0, now);
      if (remembered > 0) {
        // Only the client's windows are remembered: a key's refusal is the scheduler's to wait out.
        if (slot.key !== undefined) slot.refusedByKey = false;
        this.#stats.refusals++;
        this.#stats.syncRefusals++;
        return remembered;
      }
      if (!connection.usable()) {
        connection.failNotReady('acquire');
        return this.#fallback.answer(slot, now);
      }
    }
    return this.#acquireFromRedis(slot);
  }

  /**
   * A lower bound of the wait `acquire` would answer for `slot`, without asking Redis: what a window's
   * refusal from Redis still says (of a start no lighter in any currency), or, while Redis is down with
   * `failureMode: 'local'`, this process's share. 0 when nothing tells.
   */
  earliestWait(slot: StoreSlot, now: number): number {
    // `?? null`: a slot made by hand (JavaScript) may leave out its cost.
    const cost = slot.cost ?? null;
    if (!this.#connection.down) return this.#refusals.earliestWait(slot.weight, cost, slot.priority ?? 0, now);
    if (this.#failureMode !== 'local') return 0;
    const wait = this.#share.earliestWait(slot.weight, cost, now);
    return slot.key === undefined ? wait : Math.max(wait, this.#share.keyEarliestWait(slot.key, slot.weight, cost, now));
  }

  /**
   * The slot's start counts from `now` (the client calls this once per grant: when its task began, or
   * for a request at its response). A start Redis holds as pending is logged there with the next batch
   * of writes, on Redis's clock; one Redis logged at the grant is moved if it began too late (see
   * `#restampIfLate`).
   */
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
    if (!grant.holds) this.#writer.unlease(grant);
    this.#refusals.freed();
    this.#writer.settle(grant);
  }

  /**
   * The slot's real cost in the other currencies (at most once per grant, before or after its settle or
   * release). Redis counts it instead of the estimate with the next batch of writes, atomically (see
   * AMEND): less gives the difference back to every process at once, more counts from Redis's now. A
   * grant made while Redis was down keeps it for RECORD. A refund also ends a remembered refusal here.
   */
  amend(slot: StoreSlot, cost: Cost, now: number): void {
    const grant = slot.storeData as Grant | undefined;
    if (grant === undefined || grant.amended) return;
    grant.amended = true;
    if (grant.by !== 'open') {
      // Settled in the share: its cost sits in the share's log (`{}`: it cost only requests).
      this.#share.amend(grant.shareCost, cost, grant.shareSettled ? (grant.shareLogged ?? {}) : null, now);
      if (grant.key !== undefined) {
        this.#share.amendKey(grant.key, grant.shareCost, cost, grant.shareSettled ? (grant.keyShareLogged ?? {}) : null, now);
      }
      // Not settled there yet: its pending amounts are now the real cost, which its settle must take off and log.
      grant.shareCost = cost;
    }
    if (this.#gaveBack(grant.cost, cost)) this.#refusals.refunded();
    if (grant.by === 'redis' || !this.#fallback.amend(grant, cost, now)) this.#writer.amend(grant, grant.cost, cost);
  }

  /**
   * The slot's task has ended (the client calls this once per grant, settled or not). What it held in
   * Redis (shared concurrency, a pending start, which then counts from its end) is given back with the
   * next batch of writes, and announced to the other processes.
   */
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
    this.#writer.unlease(grant);
    // A grant settled at once without concurrency has nothing left in Redis to release.
    if (!grant.holds && !wasPending) return;
    this.#refusals.freed();
    // With processes in line for the concurrency, this one joins them with the release (see LinePlace),
    // unless a question of its own is out (its answer says where it stands).
    const line =
      grant.holds && this.#inFlight === 0
        ? this.#line.join(this.#clientId, this.#ctx.nextPriority?.(), now, this.#leaseTtlMs, HOLD_MS)
        : undefined;
    if (line !== undefined && !this.#closed) this.#subscriber.ensure();
    this.#writer.release(grant, line);
  }

  /**
   * A cooldown this process heard (a Retry-After, a bare refusal): written to Redis, where every
   * process's next acquire is refused until it ends (on Redis's clock, from its arrival there). Dropped
   * while Redis is down: each process then holds to what it heard itself.
   */
  shareCooldown(currency: string, ms: number): void {
    this.#shareWord({ kind: 'cooldown', currency, ms: Math.max(0, Math.ceil(ms)) });
  }

  /**
   * A remaining budget this process heard, until its reset: written to Redis, where every process's
   * grants come off it (see FEEDBACK). Dropped while Redis is down, as `shareCooldown`.
   */
  shareBudget(currency: string, remaining: number, resetMs: number): void {
    this.#shareWord({ kind: 'budget', currency, remaining: Math.max(0, Math.floor(remaining)), resetMs: Math.max(0, Math.ceil(resetMs)) });
  }

  /**
   * Request windows this client tightened to a server's quota: written to Redis, where every process's
   * next acquire answers them to it, and its client tightens its own windows alike.
   */
  sharePolicy(windows: readonly RateWindow[]): void {
    if (windows.length > 0) this.#shareWord({ kind: 'policy', windows });
  }

  /**
   * Windows another process's server tightened, new to this process: its client tightens its own to
   * them, once this answer has been handled (the limits must not change under it).
   */
  #adoptPolicy(reply: AcquireReply): void {
    if (reply.policyVersion === this.#policyVersion) return;
    this.#policyVersion = reply.policyVersion;
    const policy = reply.policy;
    const context = this.#ctx;
    if (policy !== undefined && policy.length > 0 && context.tighten !== undefined && !this.#closed) {
      queueMicrotask(() => context.tighten?.(policy));
    }
  }

  #shareWord(word: ServerWordNews): void {
    const connection = this.#connection;
    if (this.#closed || this.#context === undefined || connection.down || !connection.ready) return;
    connection.track(
      connection.send(() => this.#scripts.feedback(word)).then(ignore, (error: unknown) => connection.failed(error, 'feedback')),
    );
  }

  /**
   * Redis's last reported usage of each window (before its first answer, this process's own starts).
   * While Redis is down with `failureMode: 'local'`, this process's own starts against its share: each
   * window's `limit` is then the share.
   */
  usage(now: number): WindowUsage[] {
    const local = this.#share;
    if (this.#connection.down && this.#failureMode === 'local') return local.usage(now);
    // Redis's last figures, while they can still be true; after that, this process's own starts.
    return usageOf(this.#limits.windows, this.#lastUsed.read(now, this.#longestSpan()) ?? local.used(now));
  }

  /**
   * Stops renewing leases and probing Redis, sends what is still batched and waits for the commands on
   * their way (each within `commandTimeoutMs`), then drops its subscriber. The Redis client passed in
   * stays open: it is the caller's to quit.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancelReserve();
    this.#writer.close();
    this.#connection.close();
    this.#writer.flush();
    if (!this.#connection.down) this.#fallback.recordInBackground();
    await this.#connection.drain();
    this.#connection.detach();
    await this.#subscriber.close((command) => this.#connection.send(command));
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
    this.#writer.restamp(grant);
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
    if (grant.by === 'open') return;
    grant.shareLogged = this.#share.settle(grant.weight, grant.shareCost, now);
    if (grant.key !== undefined) grant.keyShareLogged = this.#share.settleKey(grant.key, grant.weight, grant.shareCost, now);
  }

  #acquireFromRedis(slot: StoreSlot): Promise<number> {
    const holds = this.#limits.concurrency !== Infinity;
    // A key this process was given no limits for has none of its own: only the client's windows hold it.
    const keyWindows = slot.key === undefined ? undefined : this.#keys.get(slot.key)?.windows;
    const key = keyWindows === undefined ? undefined : slot.key;
    const grant = newGrant(this.#newId(), 'redis', slot.weight, slot.cost ?? null, holds, slot.settleAtStart, key);
    // Settles and releases of this tick go first, on the same connection: the room they free counts.
    this.#writer.flush();
    const epoch = this.#refusals.epoch;
    const wakes = this.#wakesHeard;
    const keyed = key === undefined || keyWindows === undefined ? undefined : { name: key, windows: keyWindows };
    const waiting = this.#ctx.waiting?.() ?? 0;
    const more = waiting > 1;
    const extra = more && this.#batchable(slot) ? Math.min(waiting - 1, MOST_EXTRA) : 0;
    this.#sent++;
    this.#inFlight++;
    const answer = this.#sender.send(slot, grant, this.#limits, keyed, { more, extra, policyVersion: this.#policyVersion }, (reply) =>
      this.#answered(slot, grant, reply, epoch, wakes),
    );
    answer.then(this.#answeredOrFailed, this.#answeredOrFailed);
    return answer;
  }

  #answered(slot: StoreSlot, grant: Grant, reply: AcquireReply, epoch: RefusalEpoch, wakes: number): number {
    const local = this.#share;
    const now = this.#ctx.clock.now();
    this.#connection.recovered();
    local.setClients(reply.clients, now);
    this.#line.heard(reply.line);
    this.#adoptPolicy(reply);
    const known = grant.key === undefined ? undefined : this.#keys.get(grant.key);
    if (reply.byKey !== true) this.#lastUsed.set(reply.used, now);
    if (reply.keyUsed !== undefined) known?.last.set(reply.keyUsed, now);
    if (slot.key !== undefined) slot.refusedByKey = reply.byKey === true;
    if (reply.granted) {
      // Granted: out of the line in Redis, unless the answer put it at the back for its next task.
      // A wake heard since the question was sent may be this place's: then the next task asks at once.
      if (reply.inLine && this.#wakesHeard === wakes) {
        this.#line.queued(slot.priority ?? 0, now, this.#leaseTtlMs);
        // Its wake comes by name on the channel.
        if (!this.#closed) this.#subscriber.ensure();
      } else {
        this.#line.leave();
      }
      this.#stats.grants++;
      slot.storeData = grant;
      local.take(grant.weight, grant.estimate, grant.key);
      this.#writer.lease(grant);
      if (reply.extra > 0) this.#keepReserve(grant, reply.extra);
      return 0;
    }
    this.#stats.refusals++;
    const blockedBy = reply.blockedBy ?? 'window';
    // Only the client's refusals are remembered: one of a key holds no other key's work back.
    if (reply.byKey !== true)
      this.#refusals.remember(grant.weight, grant.estimate, slot.priority ?? 0, reply.waitMs, blockedBy, now, epoch);
    // A window of another currency can be freed early by a refund, announced on the channel too.
    const currencies = countsCurrencies(this.#limits.windows) || (known !== undefined && countsCurrencies(known.windows));
    const announced = blockedBy === 'concurrency' || blockedBy === 'pending' || blockedBy === 'priority';
    if ((announced || currencies) && !this.#closed) this.#subscriber.ensure();
    return reply.waitMs;
  }

  /**
   * Whether a start may come with more of its kind (a batch): no tenant key, no cost besides requests,
   * settled at its grant, and no bucket among the windows (a start given back could not be taken out of
   * one exactly).
   */
  #batchable(slot: StoreSlot): boolean {
    const cost = slot.cost ?? null;
    return (
      slot.key === undefined &&
      slot.settleAtStart &&
      (cost === null || Object.values(cost).every((amount) => amount === 0)) &&
      this.#limits.windows.every((window) => window.burst === undefined)
    );
  }

  /** A batch came with `grant`: the next acquires of its kind in this turn take these; the rest go back after it. */
  #keepReserve(grant: Grant, count: number): void {
    this.#cancelReserve();
    this.#reserve = { base: grant.id, count, next: 1, weight: grant.weight, holds: grant.holds, askedAt: grant.askedAt };
    this.#stats.batched += count;
    setImmediate(() => this.#cancelReserve());
  }

  /** Takes a start of the batch for `slot` if it is of the batch's kind: a grant, answered at once. */
  #takeReserved(slot: StoreSlot): boolean {
    const reserve = this.#reserve as Reserve;
    if (slot.weight !== reserve.weight || !this.#batchable(slot)) return false;
    const grant = newGrant(`${reserve.base}+${reserve.next}`, 'redis', reserve.weight, null, reserve.holds, true);
    if (reserve.askedAt !== undefined) grant.askedAt = reserve.askedAt;
    reserve.next++;
    if (reserve.next > reserve.count) this.#reserve = undefined;
    this.#stats.grants++;
    slot.storeData = grant;
    this.#share.take(grant.weight, null, undefined);
    this.#writer.lease(grant);
    return true;
  }

  /** Gives back what is left of a batch: those starts never began (see CANCEL). */
  #cancelReserve(): void {
    const reserve = this.#reserve;
    if (reserve === undefined) return;
    this.#reserve = undefined;
    const ids: string[] = [];
    for (let n = reserve.next; n <= reserve.count; n++) ids.push(`${reserve.base}+${n}`);
    const connection = this.#connection;
    // While Redis is down they stay counted (on the safe side) and their leases expire.
    if (connection.down || !connection.ready) return;
    connection.track(connection.send(() => this.#scripts.cancel(ids, reserve.weight, HOLD_MS)).then(ignore, ignore));
  }

  /** Redis answered after an outage: whatever the outage held back (starts to record, settles, releases) may go now. */
  #recovered(): void {
    this.#refusals.forget();
    this.#line.leave();
    this.#fallback.recordInBackground();
    this.#writer.flush();
    this.#wake();
  }

  readonly #answeredOrFailed = (): void => {
    this.#inFlight--;
  };

  /**
   * An announcement on the channel: `'settle'`, `'release'`, `'amend'` or `'priority'`, or a release's
   * wake by name (`'release:<clientId>'`: only that process wakes); anything else is taken as any.
   */
  #heard(message: Announcement): void {
    if (message.startsWith('release:')) {
      if (message.slice('release:'.length) === this.#clientId) this.#wokenByName();
      return;
    }
    this.#freed(ANNOUNCED.has(message) ? (message as Announced) : 'unknown');
  }

  /**
   * Another process released or settled (or a subscription began): a refusal by concurrency or pending
   * starts may be over. A settle frees no concurrency, so it does not wake a process waiting for that.
   */
  #freed(kind: Announced): void {
    if (this.#closed) return;
    // Room may have freed for anyone: a place in line waits for it no longer.
    if (kind === 'release' || kind === 'unknown') this.#line.leave();
    if (!this.#refusals.announced(kind)) return;
    if (!this.#connection.down) this.#wake();
  }

  /**
   * A release woke this process by name: it was the next to wait for the shared concurrency. If it does
   * not ask Redis now (nothing waits, or its first task is held back here) and has no question out (whose
   * answer, stale, makes the client ask again), it passes its turn on to the next sleeper.
   */
  #wokenByName(): void {
    this.#wakesHeard++;
    const sent = this.#sent;
    this.#line.leave();
    this.#freed('release');
    if (this.#sent !== sent || this.#inFlight > 0) return;
    const connection = this.#connection;
    if (connection.down || !connection.ready) return;
    connection.track(connection.send(() => this.#scripts.passWake(this.#clientId, HOLD_MS)).then(ignore, ignore));
  }

  /** Whether `cost` is below `estimate` in some currency: room given back. */
  #gaveBack(estimate: Cost | null, cost: Cost): boolean {
    if (estimate === null) return false;
    return Object.keys(estimate).some((name) => amountOf(cost, name) < amountOf(estimate, name));
  }

  #wake(): void {
    if (!this.#closed) this.#context?.wake();
  }

  #newId(): string {
    return `${this.#clientId}:${++this.#grantCount}`;
  }

  /** How long a start counts in Redis: the longest window (or bucket's refill), widened by the margin. */
  #longestSpan(): number {
    return longestSpan(this.#limits.windows, this.#marginMs);
  }

  /** How long a start of `key` counts in its key's counters, as far as this process knows its windows. */
  #keySpan(key: string): number {
    return longestSpan(this.#keys.get(key)?.windows ?? [], this.#marginMs);
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
