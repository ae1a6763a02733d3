// RedisScripts: the store's keys in Redis, each script sent by EVALSHA (EVAL again on NOSCRIPT), and
// the requests and replies of those scripts, typed and checked (the Lua itself: redis-lua-*.ts).
import { createHash } from 'node:crypto';
import type { Cost } from '../core/cost.js';
import { ACQUIRE } from './redis-lua-acquire.js';
import { AMEND, RELEASE, RENEW, RESTAMP, SETTLE } from './redis-lua-leases.js';
import { PROBE, RECORD } from './redis-lua-outage.js';
import type { RedisLike } from './redis-like.js';

/** What an acquire asks of Redis (see ACQUIRE). */
export interface AcquireRequest {
  /** Unique grant id, e.g. `${clientId}:${n}`. Any string. */
  id: string;
  clientId: string;
  /** Integer >= 1: the start's amount in every `'requests'` window. */
  weight: number;
  /** Its amounts in the other currencies (integers >= 0), or null for none. */
  cost: Cost | null;
  /** True: the start is recorded now (Redis TIME); false: pending until settle()/release()/lease expiry. */
  settle: boolean;
  /** Shared in-flight budget in units of weight; Infinity = none. */
  concurrency: number;
  leaseTtlMs: number;
  /** safetyMarginMs: every window is widened by it. */
  marginMs: number;
  /** How long this client counts as live after its last acquire. */
  clientTtlMs: number;
  /**
   * May be empty. `counts`: the currency a window counts (`'requests'` when not set); `burst`: a bucket
   * (see ACQUIRE), a sliding window when not set.
   */
  windows: ReadonlyArray<{ limit: number; windowMs: number; counts?: string | undefined; burst?: number | undefined }>;
}

/** A start made while Redis was down, for `record()`. */
export interface RecordedStart {
  id: string;
  weight: number;
  /** How long ago it started (0 for one still pending). */
  ageMs: number;
  /** Still running: it gets a lease. */
  live: boolean;
  /** Running under a finite shared concurrency: its lease holds its weight of it. */
  holds: boolean;
  /** Running, its start not known yet (an HTTP request before its response): pending, not logged. */
  pending: boolean;
  /** Its amounts in the other currencies (after any amend down), or null for none. */
  cost: Cost | null;
  /** What an amend added to its cost (counted from the amend), or null for none. */
  extra: Cost | null;
  /** How long ago that amend was (0 without one). */
  extraAgeMs: number;
}

/** A grant whose real cost is known, for `amend()`. */
export interface Amendment {
  id: string;
  /** The cost it was granted with. */
  estimate: Cost | null;
  /** What it really cost. */
  cost: Cost;
}

/**
 * A cost as the scripts read it: "points=3,tokens=1800", the amounts above 0 by currency name, '' for
 * none. Sorted, so the same cost is always the same text.
 */
export function encodeCost(cost: Cost | null): string {
  if (cost === null) return '';
  const parts: string[] = [];
  for (const name of Object.keys(cost).sort()) {
    const amount = cost[name] ?? 0;
    if (amount > 0) parts.push(`${name}=${amount}`);
  }
  return parts.join(',');
}

/** What held the room of a refused acquire, as the acquire script names it. */
export type BlockedBy = 'window' | 'concurrency' | 'pending';

/** What the acquire script answers, checked. */
export interface AcquireReply {
  granted: boolean;
  /**
   * 0 when granted. Else ms until a grant could be possible; when the room is held by leases
   * (concurrency) or by pending starts, the time until the earliest such lease expires (a release or
   * settle earlier is announced on the channel).
   */
  waitMs: number;
  blockedBy: BlockedBy | null;
  /** Units used in each window after this call (same order as request.windows), pending included; a bucket's: `burst - level`. */
  used: number[];
  /** Live clients (distinct clientIds seen within clientTtlMs), this one included. */
  clients: number;
}

interface Script {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

const scripts = {
  acquire: script(ACQUIRE),
  settle: script(SETTLE),
  release: script(RELEASE),
  restamp: script(RESTAMP),
  amend: script(AMEND),
  renew: script(RENEW),
  record: script(RECORD),
  probe: script(PROBE),
};

const KEY_COUNT = 8;

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

function malformed(script: string, reply: unknown): TypeError {
  return new TypeError(`Unexpected reply from the ${script} script: ${JSON.stringify(reply)}`);
}

function parseIds(script: string, reply: unknown): string[] {
  if (!Array.isArray(reply) || !reply.every((id) => typeof id === 'string')) throw malformed(script, reply);
  return reply;
}

function parseAcquire(reply: unknown): AcquireReply {
  if (!Array.isArray(reply) || reply.length < 4) throw malformed('acquire', reply);
  const [granted, waitMs, blockedBy, clients, ...used] = reply as unknown[];
  const wait = Number(waitMs);
  if (
    (granted !== 0 && granted !== 1) ||
    typeof waitMs !== 'string' ||
    !Number.isFinite(wait) ||
    (blockedBy !== '' && blockedBy !== 'window' && blockedBy !== 'concurrency' && blockedBy !== 'pending') ||
    typeof clients !== 'number' ||
    !used.every((units) => typeof units === 'number')
  ) {
    throw malformed('acquire', reply);
  }
  return {
    granted: granted === 1,
    waitMs: wait,
    blockedBy: blockedBy === '' ? null : blockedBy,
    used,
    clients,
  };
}

/**
 * The limiter's shared state in Redis, changed only by Lua scripts so that every decision is atomic,
 * on Redis's clock (`TIME`), never a client's. The semantics are `SlidingWindowLimiter`'s and
 * `TokenBucket`'s, plus concurrency and leases:
 *
 * - `log` (zset): one member `<id>#<i>` per unit of weight, scored by its start. A start `s` counts in
 *   a window while `s + windowMs + marginMs > now`.
 * - `leases` (zset): grant id scored by its expiry. A grant has one while it holds concurrency or is
 *   pending, so that what a dead process held ends by itself; an expired pending start lands in the
 *   log at its expiry. `info` (hash): grant id to `"<weight>:<holds concurrency><pending>"`.
 * - `state` (hash): `held`, `pending` (units), `maxWindow` (longest `windowMs + marginMs` any process
 *   used: the log is kept that far back), `ttl` (every key's life after a write), and one field per
 *   bucket any process asked about, `b:<currency>:<limit>:<windowMs>:<burst>` to its `tat` (GCRA's
 *   theoretical arrival time on Redis's clock, ms: when it is full again). A bucket's shape is its name:
 *   processes configured alike share one number exactly, a process configured otherwise has its own,
 *   and every start of a currency advances every bucket of that currency when it lands in the log (its
 *   pending amount, `pending` or `p:<currency>`, holds the units until then). A refund moves `tat` back.
 *   The keys live until the last bucket is full again.
 * - `clients` (zset): clientId scored by when it stops counting as live.
 * - `spend` (zset): the amounts of other currencies (tokens, points), one member per start that has
 *   any, `<entry>|<cost>` (see `encodeCost`), scored by its start: a window counting `tokens` sums
 *   the tokens of its live members. An entry is the grant's id, or `<id>+` for what an amend added.
 *   `costs` (hash): entry to its member, so that an amend or restamp finds it. A pending start's cost
 *   is in its `info` (`"<weight>:<c><p>|<cost>"`) and in `state` as `p:<currency>`.
 * - `sums` (hash): a running sum per currency window asked for, so that an acquire does not read every
 *   live spend member: `<currency>@<windowMs + marginMs>` to `"<cursor> <sum> <count> <seen>"`, where
 *   `sum` and `count` are the amount of the currency and the number of spend members scored above
 *   `cursor`. An acquire moves the cursor up to its window's start, taking away the members it passes
 *   (each once, as `SlidingWindowLimiter`'s cursors pass its log), and every change to `spend` adds to
 *   or takes from the sums whose cursor its member's start is above. A window asked for the first
 *   time, not asked for during a whole longest window (`seen`: when last asked), or whose `count`
 *   disagrees with the log (a key evicted) is counted once from `spend`.
 *
 * A grant settled at once without concurrency has no lease: settling or releasing it reports it lost.
 */
export class RedisScripts {
  /** Commands sent to Redis: an EVALSHA answered NOSCRIPT and sent again as EVAL counts 2. */
  roundTrips = 0;
  readonly #redis: RedisLike;
  /** log, leases, info, state, clients, spend, costs, sums: the order every script reads KEYS in. */
  readonly #keys: readonly string[];
  readonly #channel: string;

  constructor(redis: RedisLike, key: string) {
    // An empty hash tag `{}` does not count as one: the keys would spread over several cluster slots.
    if (typeof key !== 'string' || key === '') {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-conversion -- a JavaScript caller may pass anything
      throw new TypeError(`Expected \`key\` to be a non-empty string, got \`${String(key)}\` (${typeof key})`);
    }
    this.#redis = redis;
    const prefix = `rlc:{${key}}:`;
    this.#keys = ['log', 'leases', 'info', 'state', 'clients', 'spend', 'costs', 'sums'].map((name) => prefix + name);
    this.#channel = `${prefix}freed`;
  }

  /** Where a settle or release is announced (pub/sub, not a key). */
  get channel(): string {
    return this.#channel;
  }

  async acquire(request: AcquireRequest): Promise<AcquireReply> {
    const windows = request.windows.flatMap((window) => [window.limit, window.windowMs, window.counts ?? 'requests', window.burst ?? 0]);
    const reply = await this.#run(scripts.acquire, [
      request.id,
      request.clientId,
      request.weight,
      request.settle ? 1 : 0,
      request.concurrency === Infinity ? -1 : request.concurrency,
      request.leaseTtlMs,
      request.marginMs,
      request.clientTtlMs,
      encodeCost(request.cost),
      ...windows,
    ]);
    return parseAcquire(reply);
  }

  /** Records the start of pending grants now. Returns the ids that were lost (lease gone). */
  async settle(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    return parseIds('settle', await this.#run(scripts.settle, [this.#channel, ...ids]));
  }

  /** Ends grants: frees their concurrency; a pending one counts from now. Returns the lost ids. */
  async release(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    return parseIds('release', await this.#run(scripts.release, [this.#channel, ...ids]));
  }

  /** Moves the logged starts of these grants to now (Redis's clock). */
  async restamp(grants: ReadonlyArray<{ readonly id: string; readonly weight: number; readonly cost: Cost | null }>): Promise<void> {
    if (grants.length === 0) return;
    await this.#run(
      scripts.restamp,
      grants.flatMap((grant) => [grant.id, grant.weight, encodeCost(grant.cost)]),
    );
  }

  /** Counts each grant's real cost instead of its estimate (see AMEND), and announces a refund. */
  async amend(amendments: readonly Amendment[]): Promise<void> {
    if (amendments.length === 0) return;
    await this.#run(scripts.amend, [
      this.#channel,
      ...amendments.flatMap((amendment) => [amendment.id, encodeCost(amendment.estimate), encodeCost(amendment.cost)]),
    ]);
  }

  /** Extends leases to `leaseTtlMs` from now. Returns the ids whose lease was already gone. */
  async renew(ids: readonly string[], leaseTtlMs: number): Promise<string[]> {
    if (ids.length === 0) return [];
    return parseIds('renew', await this.#run(scripts.renew, [leaseTtlMs, ...ids]));
  }

  /** Logs starts made without Redis, and gives those still running a lease (see RECORD). */
  async record(starts: readonly RecordedStart[], leaseTtlMs: number): Promise<void> {
    if (starts.length === 0) return;
    await this.#run(scripts.record, [
      leaseTtlMs,
      ...starts.flatMap((start) => [
        start.id,
        start.weight,
        Math.max(0, start.ageMs),
        start.live ? 1 : 0,
        start.holds ? 1 : 0,
        start.pending ? 1 : 0,
        encodeCost(start.cost),
        encodeCost(start.extra),
        Math.max(0, start.extraAgeMs),
      ]),
    ]);
  }

  /** Resolves if Redis takes writes for this store again (after an outage). */
  async probe(): Promise<void> {
    await this.#run(scripts.probe, []);
  }

  /**
   * EVALSHA, and EVAL (which loads the script again) when Redis has lost its script cache. The EVAL
   * goes out behind whatever was sent meanwhile: a command answered NOSCRIPT may run after commands
   * sent after it (their scripts still loaded), so a caller must not read order into the answers.
   * Loading every script first would not prevent it: a restart or SCRIPT FLUSH can come in between.
   */
  async #run(script: Script, args: Array<string | number>): Promise<unknown> {
    this.roundTrips++;
    try {
      return await this.#redis.evalsha(script.sha, KEY_COUNT, ...this.#keys, ...args);
    } catch (error) {
      if (!isNoScript(error)) throw error;
      this.roundTrips++;
      return this.#redis.eval(script.source, KEY_COUNT, ...this.#keys, ...args);
    }
  }
}
