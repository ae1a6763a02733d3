// RedisScripts: the store's keys in Redis, each script sent by EVALSHA (EVAL again on NOSCRIPT), and
// the requests and replies of those scripts, typed and checked (the Lua itself: redis-lua-*.ts).
import { createHash } from 'node:crypto';
import type { Cost } from '../core/cost.js';
import { KeyLayout, TenantGroups } from './redis-key-layout.js';
import {
  type AcquireReply,
  type AcquireRequest,
  type Amendment,
  BLOCKED_BY,
  type BlockedBy,
  decodeWindows,
  encodeWindows,
  encodeCost,
  type GrantRef,
  type RecordedStart,
  type ScriptWindow,
} from './redis-script-types.js';
import { ACQUIRE } from './redis-lua-acquire.js';
import { FEEDBACK, WAKE } from './redis-lua-fleet.js';
import { AMEND, CANCEL, RELEASE, RENEW, RESTAMP, SETTLE } from './redis-lua-leases.js';
import { PROBE, RECORD } from './redis-lua-outage.js';
import type { RedisLike } from './redis-like.js';

export {
  type AcquireReply,
  type AcquireRequest,
  type Amendment,
  type BlockedBy,
  encodeCost,
  type GrantRef,
  type RecordedStart,
  type ScriptWindow,
} from './redis-script-types.js';

/**
 * How long a process has to ask again once its wait is over or a release woke it (its timer, its event
 * loop, a round trip), with room for a loaded machine: a process's word on the priority it waits with
 * outlives its refusal's wait by this much, and a wake by name lapses to the next sleeper after it (see
 * FLEET_CHECKS, SLEEPERS). A process that died waiting holds the others back no longer than this.
 */
export const HOLD_MS = 250;

/** A process joining the line for the shared concurrency with its release (see RELEASE). */
export interface LineUp {
  readonly clientId: string;
  /** The priority of the task it will ask for. */
  readonly priority: number;
  /** The longest it waits in line without a wake before its entry lapses (it asks again by then). */
  readonly lapseMs: number;
  /** How long a process woken by this release has to ask. */
  readonly holdMs: number;
}

/** What the server said, for `feedback()`. */
export type ServerWordNews =
  | { readonly kind: 'cooldown'; readonly currency: string; readonly ms: number }
  | { readonly kind: 'budget'; readonly currency: string; readonly remaining: number; readonly resetMs: number }
  | { readonly kind: 'policy'; readonly windows: readonly ScriptWindow[] };

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
  feedback: script(FEEDBACK),
  wake: script(WAKE),
  cancel: script(CANCEL),
};

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

function parseAcquire(reply: unknown, request: AcquireRequest): AcquireReply {
  if (!Array.isArray(reply) || reply.length < 9) throw malformed('acquire', reply);
  // ioredis with `stringNumbers: true` answers integers as strings: read them back as numbers.
  const [granted, waitMs, blockedBy, clients, line, inLine, policyVersion, policyText, extra, ...rest] = (reply as unknown[]).map(
    (value, index) => (index !== 1 && index !== 7 && typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value),
  );
  const policy = typeof policyText === 'string' && policyText !== '' ? decodeWindows(policyText) : undefined;
  const byKey = request.key === undefined ? undefined : rest.shift();
  const used = rest;
  const wait = Number(waitMs);
  if (
    (granted !== 0 && granted !== 1) ||
    typeof waitMs !== 'string' ||
    !Number.isFinite(wait) ||
    (blockedBy !== '' && !(typeof blockedBy === 'string' && BLOCKED_BY.has(blockedBy))) ||
    typeof clients !== 'number' ||
    typeof line !== 'number' ||
    (inLine !== 0 && inLine !== 1) ||
    typeof policyVersion !== 'number' ||
    typeof policyText !== 'string' ||
    typeof extra !== 'number' ||
    (policyText !== '' && policy === undefined) ||
    (byKey !== undefined && byKey !== 0 && byKey !== 1) ||
    !used.every((units) => typeof units === 'number')
  ) {
    throw malformed('acquire', reply);
  }
  const answer: AcquireReply = {
    granted: granted === 1,
    waitMs: wait,
    blockedBy: blockedBy === '' ? null : (blockedBy as BlockedBy),
    used,
    clients,
    line,
    inLine: inLine === 1,
    policyVersion,
    extra,
    ...(policy === undefined ? {} : { policy }),
  };
  if (byKey === undefined) return answer;
  // Refused by its key: only the key's windows were asked. Otherwise the client's come first.
  const split = byKey === 1 ? 0 : request.windows.length;
  return { ...answer, used: used.slice(0, split), byKey: byKey === 1, keyUsed: used.slice(split) };
}

/** A window's four values in ARGV. */
function windowArgs(windows: readonly ScriptWindow[]): Array<string | number> {
  return windows.flatMap((window) => [window.limit, window.windowMs, window.counts ?? 'requests', window.burst ?? 0]);
}

/** The id of a grant a command is about, and its tenant key. */
function refOf(ref: GrantRef): { id: string; key: string | undefined } {
  return typeof ref === 'string' ? { id: ref, key: undefined } : { id: ref.id, key: ref.key };
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
 * - Each tenant key (a task's `key` option) has its own counters, with the same layout and meaning as the
 *   client's: `log`, `state`, `spend`, `costs`, `sums` (see `KeyLayout` for their names), checked in the
 *   same ACQUIRE as the client's. A keyed start takes room in both and is settled, released, amended and
 *   restamped in both; its lease is the client's, and a key's pending start is `g:<id>` in its `state`
 *   (see holdPending). A key's windows come with each acquire: every process checks its own windows
 *   for the key against the shared counters, as it does the client's, and a key's state lives as long
 *   as the longest window any process used for it (its `maxWindow`), no minimum: an idle key's state
 *   expires a window after its last start. A key's concurrency is not here: each process's scheduler keeps it.
 *
 * A grant settled at once without concurrency has no lease: settling or releasing it reports it lost.
 */
export class RedisScripts {
  /** Commands sent to Redis: an EVALSHA answered NOSCRIPT and sent again as EVAL counts 2. */
  roundTrips = 0;
  readonly #redis: RedisLike;
  readonly #layout: KeyLayout;

  constructor(redis: RedisLike, key: string) {
    // An empty hash tag `{}` does not count as one: the keys would spread over several cluster slots.
    if (typeof key !== 'string' || key === '') {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-conversion -- a JavaScript caller may pass anything
      throw new TypeError(`Expected \`key\` to be a non-empty string, got \`${String(key)}\` (${typeof key})`);
    }
    this.#redis = redis;
    this.#layout = new KeyLayout(key);
  }

  /** Where a settle or release is announced (pub/sub, not a key). */
  get channel(): string {
    return this.#layout.channel;
  }

  /** A tenant key's keys (log, state, spend, costs, sums), for tests and operators. */
  tenantKeys(key: string): string[] {
    return this.#layout.tenant(key);
  }

  async acquire(request: AcquireRequest): Promise<AcquireReply> {
    const groups = new TenantGroups(this.#layout);
    groups.group(request.key?.name);
    const reply = await this.#run(scripts.acquire, groups, [
      request.id,
      request.clientId,
      request.weight,
      request.settle ? 1 : 0,
      request.concurrency === Infinity ? -1 : request.concurrency,
      request.leaseTtlMs,
      request.marginMs,
      request.clientTtlMs,
      encodeCost(request.cost),
      request.priority ?? 0,
      request.more === true ? 1 : 0,
      request.holdMs ?? HOLD_MS,
      this.channel,
      request.policyVersion ?? -1,
      request.extra ?? 0,
      request.windows.length,
      ...windowArgs(request.windows),
      ...windowArgs(request.key?.windows ?? []),
    ]);
    return parseAcquire(reply, request);
  }

  /** Records the start of pending grants now. Returns the ids that were lost (lease gone). */
  async settle(grants: readonly GrantRef[]): Promise<string[]> {
    if (grants.length === 0) return [];
    return parseIds('settle', await this.#withGrants(scripts.settle, [this.channel], grants));
  }

  /**
   * Ends grants: frees their concurrency (waking as many processes in line for it, by name); a pending
   * one counts from now. With `line`, this process joins the line for the concurrency (see RELEASE).
   * Returns the lost ids.
   */
  async release(grants: readonly GrantRef[], line?: LineUp): Promise<string[]> {
    if (grants.length === 0) return [];
    const first = [this.channel, line?.clientId ?? '', line?.priority ?? 0, line?.lapseMs ?? 0, line?.holdMs ?? HOLD_MS];
    return parseIds('release', await this.#withGrants(scripts.release, first, grants));
  }

  /** Moves the logged starts of these grants to now (Redis's clock). */
  async restamp(
    grants: ReadonlyArray<{ readonly id: string; readonly weight: number; readonly cost: Cost | null; readonly key?: string | undefined }>,
  ): Promise<void> {
    if (grants.length === 0) return;
    const groups = new TenantGroups(this.#layout);
    await this.#run(
      scripts.restamp,
      groups,
      grants.flatMap((grant) => [grant.id, grant.weight, encodeCost(grant.cost), groups.group(grant.key)]),
    );
  }

  /** Counts each grant's real cost instead of its estimate (see AMEND), and announces a refund. */
  async amend(amendments: readonly Amendment[]): Promise<void> {
    if (amendments.length === 0) return;
    const groups = new TenantGroups(this.#layout);
    await this.#run(scripts.amend, groups, [
      this.channel,
      ...amendments.flatMap((amendment) => [
        amendment.id,
        encodeCost(amendment.estimate),
        encodeCost(amendment.cost),
        groups.group(amendment.key),
      ]),
    ]);
  }

  /** Extends leases to `leaseTtlMs` from now. Returns the ids whose lease was already gone. */
  async renew(grants: readonly GrantRef[], leaseTtlMs: number): Promise<string[]> {
    if (grants.length === 0) return [];
    return parseIds('renew', await this.#withGrants(scripts.renew, [leaseTtlMs], grants));
  }

  /** Logs starts made without Redis, and gives those still running a lease (see RECORD). */
  async record(starts: readonly RecordedStart[], leaseTtlMs: number): Promise<void> {
    if (starts.length === 0) return;
    const groups = new TenantGroups(this.#layout);
    await this.#run(scripts.record, groups, [
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
        groups.group(start.key?.name),
        start.key?.spanMs ?? 0,
      ]),
    ]);
  }

  /**
   * The server's word heard by this process, for every process on the key: a cooldown of `currency`
   * for `ms` from Redis's now, a budget of `remaining` units until `resetMs` from now, or request
   * windows a server's quota tightened (see FEEDBACK).
   */
  async feedback(word: ServerWordNews): Promise<void> {
    const args: Array<string | number> =
      word.kind === 'cooldown'
        ? ['cooldown', word.currency, word.ms]
        : word.kind === 'budget'
          ? ['budget', word.currency, word.remaining, word.resetMs]
          : ['policy', 'requests', encodeWindows(word.windows)];
    await this.#run(scripts.feedback, new TenantGroups(this.#layout), args);
  }

  /** Gives back starts of `weight` a batch granted and this process did not use (see CANCEL). */
  async cancel(ids: readonly string[], weight: number, holdMs: number): Promise<void> {
    if (ids.length === 0) return;
    await this.#run(scripts.cancel, new TenantGroups(this.#layout), [this.channel, holdMs, weight, ...ids]);
  }

  /** `clientId`, woken by name with nothing to ask for, leaves the line and passes its wake on (see WAKE). */
  async passWake(clientId: string, holdMs: number): Promise<void> {
    await this.#run(scripts.wake, new TenantGroups(this.#layout), [this.channel, clientId, holdMs]);
  }

  /** Resolves if Redis takes writes for this store again (after an outage). */
  async probe(): Promise<void> {
    await this.#run(scripts.probe, new TenantGroups(this.#layout), []);
  }

  /** A script whose ARGV is `first`, then (id, group) for each grant. */
  #withGrants(script: Script, first: ReadonlyArray<string | number>, grants: readonly GrantRef[]): Promise<unknown> {
    const groups = new TenantGroups(this.#layout);
    const args: Array<string | number> = [...first];
    for (const ref of grants) {
      const { id, key } = refOf(ref);
      args.push(id, groups.group(key));
    }
    return this.#run(script, groups, args);
  }

  /**
   * EVALSHA, and EVAL (which loads the script again) when Redis has lost its script cache. The EVAL
   * goes out behind whatever was sent meanwhile: a command answered NOSCRIPT may run after commands
   * sent after it (their scripts still loaded), so a caller must not read order into the answers.
   * Loading every script first would not prevent it: a restart or SCRIPT FLUSH can come in between.
   */
  async #run(script: Script, groups: TenantGroups, args: Array<string | number>): Promise<unknown> {
    this.roundTrips++;
    // Read after the ARGV were built: building them gave each tenant key its group.
    const keys = groups.keys;
    try {
      return await this.#redis.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!isNoScript(error)) throw error;
      this.roundTrips++;
      return this.#redis.eval(script.source, keys.length, ...keys, ...args);
    }
  }
}
