import { createHash } from 'node:crypto';

/** The part of an ioredis client (v5) the store uses; an ioredis `Redis` or `Cluster` instance fits. */
export interface RedisLike {
  evalsha(sha: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>;
  eval(script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>;
  readonly status: string;
  // `any[]`: Node's EventEmitter declares listeners so, and it lets a caller write a typed listener
  // such as `(channel: string, message: string) => void`, which `unknown[]` would refuse.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  on(event: string, listener: (...args: any[]) => void): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  off(event: string, listener: (...args: any[]) => void): unknown;
  /** A second connection to the same server(s), for the pub/sub subscriber. */
  duplicate(): RedisLike;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  disconnect(): void;
}

export interface AcquireRequest {
  /** Unique grant id, e.g. `${clientId}:${n}`. Any string. */
  id: string;
  clientId: string;
  /** Integer >= 1. */
  weight: number;
  /** True: the start is recorded now (Redis TIME); false: pending until settle()/release()/lease expiry. */
  settle: boolean;
  /** Shared in-flight budget in units of weight; Infinity = none. */
  concurrency: number;
  leaseTtlMs: number;
  /** safetyMarginMs: every window is widened by it. */
  marginMs: number;
  /** How long this client counts as live after its last acquire. */
  clientTtlMs: number;
  /** May be empty. */
  windows: ReadonlyArray<{ limit: number; windowMs: number }>;
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
}

export interface AcquireReply {
  granted: boolean;
  /**
   * 0 when granted. Else ms until a grant could be possible; when the room is held by leases
   * (concurrency) or by pending starts, the time until the earliest such lease expires (a release or
   * settle earlier is announced on the channel).
   */
  waitMs: number;
  blockedBy: 'window' | 'concurrency' | 'pending' | null;
  /** Units used in each window after this call (same order as request.windows), pending included. */
  used: number[];
  /** Live clients (distinct clientIds seen within clientTtlMs), this one included. */
  clients: number;
}

/*
 * Shared by every script. KEYS: log, leases, info, state, clients (one hash tag, one cluster slot).
 *
 * Lua turns a number into a string with 14 significant digits (`tostring`, `..`), which would cut a
 * millisecond time with its microseconds; a number passed straight to redis.call keeps all 17, so
 * times go to Redis as numbers and back to Node through string.format('%.17g').
 */
const PRELUDE = `
local logKey, leasesKey, infoKey, stateKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000

-- info value "<weight>:<c><p>": c = holds concurrency, p = still pending.
local function parseInfo(value)
  local w, c, p = string.match(value, '^(%d+):(%d)(%d)$')
  return tonumber(w), c == '1', p == '1'
end

-- One log member per unit of weight, so a window's usage is a ZCOUNT.
local function logUnits(id, weight, at)
  local args = {}
  for i = 0, weight - 1 do
    args[#args + 1] = at
    args[#args + 1] = id .. '#' .. i
    if #args >= 1000 then redis.call('ZADD', logKey, unpack(args)); args = {} end
  end
  if #args > 0 then redis.call('ZADD', logKey, unpack(args)) end
end

-- Ends the leases expired by now. A pending start lands in the log at its lease's expiry: the server
-- may have counted it any time until then.
local function reap()
  local expired = redis.call('ZRANGEBYSCORE', leasesKey, '-inf', now, 'WITHSCORES')
  if #expired > 0 then
    local held, pending = 0, 0
    for i = 1, #expired, 2 do
      local id = expired[i]
      local value = redis.call('HGET', infoKey, id)
      if value then
        local w, c, p = parseInfo(value)
        if p then logUnits(id, w, tonumber(expired[i + 1])); pending = pending + w end
        if c then held = held + w end
        redis.call('HDEL', infoKey, id)
      end
    end
    redis.call('ZREMRANGEBYSCORE', leasesKey, '-inf', now)
    if held > 0 then redis.call('HINCRBY', stateKey, 'held', -held) end
    if pending > 0 then redis.call('HINCRBY', stateKey, 'pending', -pending) end
  end
  -- Nothing holds room without a lease: if the counters say otherwise (a key evicted), they are wrong.
  if redis.call('ZCARD', leasesKey) == 0 then redis.call('HDEL', stateKey, 'held', 'pending') end
end

-- Calls onGrant(id, weight, holdsConcurrency, pending) for each grant id in ARGV[2..] that still has
-- its info, and returns the ids that had none (their lease was gone).
local function eachGrant(onGrant)
  local lost = {}
  for i = 2, #ARGV do
    local id = ARGV[i]
    local value = redis.call('HGET', infoKey, id)
    if value then onGrant(id, parseInfo(value)) else lost[#lost + 1] = id end
  end
  return lost
end

local function stateNumber(field)
  return tonumber(redis.call('HGET', stateKey, field)) or 0
end

-- Every write extends every key's life to the longest that any of its data is still needed (at least
-- a minute; never 0, which would delete the keys).
local function touch(ttl)
  ttl = math.max(ttl, 60000)
  local known = stateNumber('ttl')
  if ttl > known then redis.call('HSET', stateKey, 'ttl', ttl) else ttl = known end
  for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, ttl) end
end
`;

/**
 * ARGV: id, clientId, weight, settle (0|1), concurrency (-1 = none), leaseTtlMs, marginMs, clientTtlMs,
 * then limit, windowMs for each window. Returns {granted, waitMs (string), blockedBy ('' = none),
 * clients, used...}.
 */
const ACQUIRE = `${PRELUDE}
local id, clientId = ARGV[1], ARGV[2]
local weight = tonumber(ARGV[3])
local settleNow = ARGV[4] == '1'
local concurrency = tonumber(ARGV[5])
local leaseTtl, margin, clientTtl = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])

reap()

-- Prune only what the longest window any process has used no longer sees.
local maxWindow = stateNumber('maxWindow')
local known = maxWindow
for i = 9, #ARGV, 2 do maxWindow = math.max(maxWindow, tonumber(ARGV[i + 1]) + margin) end
if maxWindow > known then redis.call('HSET', stateKey, 'maxWindow', maxWindow) end
redis.call('ZREMRANGEBYSCORE', logKey, '-inf', now - maxWindow)
local ttl = math.ceil(maxWindow + leaseTtl + clientTtl)

local clientsKey = KEYS[5]
redis.call('ZREMRANGEBYSCORE', clientsKey, '-inf', now)
redis.call('ZADD', clientsKey, now + clientTtl, clientId)
local clients = redis.call('ZCARD', clientsKey)

local held, pending = stateNumber('held'), stateNumber('pending')
local byConcurrency = concurrency >= 0 and held + weight > concurrency
local byPending, byWindow = false, false
local wait = 0
local used = {}
for i = 9, #ARGV, 2 do
  local limit, span = tonumber(ARGV[i]), tonumber(ARGV[i + 1]) + margin
  -- Live while start + span > now: a start exactly span later is allowed.
  local cutoff = string.format('(%.17g', now - span)
  local live = redis.call('ZCOUNT', logKey, cutoff, '+inf')
  local inUse = live + pending
  used[#used + 1] = inUse
  local mustExpire = inUse + weight - limit
  if mustExpire > 0 then
    if weight > limit then
      byWindow = true
      wait = math.max(wait, span)
    elseif mustExpire > live then
      -- Pending starts land in the log no earlier than now: their room frees no sooner than span.
      byPending = true
      wait = math.max(wait, span)
    else
      byWindow = true
      local entry = redis.call('ZRANGEBYSCORE', logKey, cutoff, '+inf', 'WITHSCORES', 'LIMIT', mustExpire - 1, 1)
      wait = math.max(wait, tonumber(entry[2]) + span - now)
    end
  end
end

if byConcurrency or byPending or byWindow then
  -- What ends the refusal: a settle or release for pending starts; else time, for a window (a release
  -- would not help: asking again on one would be a wasted round trip); else a release.
  local blockedBy = 'window'
  if byPending or not byWindow then
    blockedBy = byPending and 'pending' or 'concurrency'
    -- Held by leases: ask again when the first one can expire, unless a release is announced first.
    local first = redis.call('ZRANGE', leasesKey, 0, 0, 'WITHSCORES')
    if first[2] then wait = math.max(wait, tonumber(first[2]) - now) end
    wait = math.max(wait, 1)
  end
  touch(ttl)
  return {0, string.format('%.17g', wait), blockedBy, clients, unpack(used)}
end

local holds = concurrency >= 0
if settleNow then
  logUnits(id, weight, now)
else
  redis.call('HINCRBY', stateKey, 'pending', weight)
end
if holds or not settleNow then
  redis.call('ZADD', leasesKey, now + leaseTtl, id)
  redis.call('HSET', infoKey, id, weight .. ':' .. (holds and '1' or '0') .. (settleNow and '0' or '1'))
  if holds then redis.call('HINCRBY', stateKey, 'held', weight) end
end
for i = 1, #used do used[i] = used[i] + weight end
touch(ttl)
return {1, '0', '', clients, unpack(used)}
`;

/** ARGV: channel, ids... Returns the ids whose lease was gone. */
const SETTLE = `${PRELUDE}
reap()
local settled = 0
local lost = eachGrant(function(id, w, c, p)
  if not p then return end
  logUnits(id, w, now)
  redis.call('HINCRBY', stateKey, 'pending', -w)
  settled = settled + 1
  if c then
    redis.call('HSET', infoKey, id, w .. ':10')
  else
    redis.call('HDEL', infoKey, id)
    redis.call('ZREM', leasesKey, id)
  end
end)
-- A pending start became a timed one: waiters can compute their wait now.
if settled > 0 then redis.call('PUBLISH', ARGV[1], 'settle') end
touch(0)
return lost
`;

/** ARGV: channel, ids... Returns the ids whose lease was gone. */
const RELEASE = `${PRELUDE}
reap()
local released = 0
local lost = eachGrant(function(id, w, c, p)
  -- A start that ended without being settled counts from its end.
  if p then
    logUnits(id, w, now)
    redis.call('HINCRBY', stateKey, 'pending', -w)
  end
  if c then redis.call('HINCRBY', stateKey, 'held', -w) end
  redis.call('HDEL', infoKey, id)
  redis.call('ZREM', leasesKey, id)
  released = released + 1
end)
if released > 0 then redis.call('PUBLISH', ARGV[1], 'release') end
touch(0)
return lost
`;

/**
 * ARGV: (id, weight) for each start that began in its process later than the safety margin allows:
 * its units move in the log to now, the latest moment it can have begun (see RedisStore's `settle`).
 */
const RESTAMP = `${PRELUDE}
for i = 1, #ARGV, 2 do logUnits(ARGV[i], tonumber(ARGV[i + 1]), now) end
touch(0)
return 1
`;

/** ARGV: leaseTtlMs, ids... Returns the ids whose lease was gone. */
const RENEW = `${PRELUDE}
reap()
local leaseTtl = tonumber(ARGV[1])
local lost = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('ZSCORE', leasesKey, id) then
    redis.call('ZADD', leasesKey, 'XX', now + leaseTtl, id)
  else
    lost[#lost + 1] = id
  end
end
-- A pending start may now land in the log as late as the new expiry, and count a window after it.
touch(math.ceil(leaseTtl + stateNumber('maxWindow')))
return lost
`;

/**
 * ARGV: leaseTtlMs, then (id, weight, ageMs, live, holds, pending) for each start this process made
 * while Redis was down (by its failure mode), so that they count after the outage: a start is logged
 * `ageMs` before Redis's now; one still running (`live`) gets a lease, holding the shared concurrency
 * (`holds`) or staying pending until settled (`pending`: not logged yet). An id Redis already knows (a
 * late grant of the same acquire) is first undone, so nothing counts twice.
 */
const RECORD = `${PRELUDE}
reap()
local leaseTtl = tonumber(ARGV[1])
for i = 2, #ARGV, 6 do
  local id, w, age = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local live, holds, pending = ARGV[i + 3] == '1', ARGV[i + 4] == '1', ARGV[i + 5] == '1'
  local known = redis.call('HGET', infoKey, id)
  if known then
    local kw, kc, kp = parseInfo(known)
    if kc then redis.call('HINCRBY', stateKey, 'held', -kw) end
    if kp then redis.call('HINCRBY', stateKey, 'pending', -kw) end
    redis.call('HDEL', infoKey, id)
    redis.call('ZREM', leasesKey, id)
  end
  for unit = 0, w - 1 do redis.call('ZREM', logKey, id .. '#' .. unit) end
  if pending then redis.call('HINCRBY', stateKey, 'pending', w) else logUnits(id, w, now - age) end
  if live and (holds or pending) then
    if holds then redis.call('HINCRBY', stateKey, 'held', w) end
    redis.call('ZADD', leasesKey, now + leaseTtl, id)
    redis.call('HSET', infoKey, id, w .. ':' .. (holds and '1' or '0') .. (pending and '1' or '0'))
  end
end
touch(math.ceil(leaseTtl + stateNumber('maxWindow')))
return 1
`;

/** A write that changes nothing (the keys' expiry): answers only where the store could work. */
const PROBE = `${PRELUDE}
touch(0)
return 1
`;

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
  renew: script(RENEW),
  record: script(RECORD),
  probe: script(PROBE),
};

const KEY_COUNT = 5;

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
 * on Redis's clock (`TIME`), never a client's. The semantics are `SlidingWindowLimiter`'s, plus
 * concurrency and leases:
 *
 * - `log` (zset): one member `<id>#<i>` per unit of weight, scored by its start. A start `s` counts in
 *   a window while `s + windowMs + marginMs > now`.
 * - `leases` (zset): grant id scored by its expiry. A grant has one while it holds concurrency or is
 *   pending, so that what a dead process held ends by itself; an expired pending start lands in the
 *   log at its expiry. `info` (hash): grant id to `"<weight>:<holds concurrency><pending>"`.
 * - `state` (hash): `held`, `pending` (units), `maxWindow` (longest `windowMs + marginMs` any process
 *   used: the log is kept that far back), `ttl` (every key's life after a write).
 * - `clients` (zset): clientId scored by when it stops counting as live.
 *
 * A grant settled at once without concurrency has no lease: settling or releasing it reports it lost.
 */
export class RedisScripts {
  /** Commands sent to Redis: an EVALSHA answered NOSCRIPT and sent again as EVAL counts 2. */
  roundTrips = 0;
  readonly #redis: RedisLike;
  /** log, leases, info, state, clients: the order every script reads KEYS in. */
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
    this.#keys = ['log', 'leases', 'info', 'state', 'clients'].map((name) => prefix + name);
    this.#channel = `${prefix}freed`;
  }

  /** Where a settle or release is announced (pub/sub, not a key). */
  get channel(): string {
    return this.#channel;
  }

  async acquire(request: AcquireRequest): Promise<AcquireReply> {
    const windows = request.windows.flatMap((window) => [window.limit, window.windowMs]);
    const reply = await this.#run(scripts.acquire, [
      request.id,
      request.clientId,
      request.weight,
      request.settle ? 1 : 0,
      request.concurrency === Infinity ? -1 : request.concurrency,
      request.leaseTtlMs,
      request.marginMs,
      request.clientTtlMs,
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
  async restamp(grants: ReadonlyArray<{ readonly id: string; readonly weight: number }>): Promise<void> {
    if (grants.length === 0) return;
    await this.#run(scripts.restamp, grants.flatMap((grant) => [grant.id, grant.weight]));
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
