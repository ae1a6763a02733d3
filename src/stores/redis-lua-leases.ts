// The Lua of what follows a grant: its start recorded (settle), its end (release), a late start moved
// (restamp), its real cost in other currencies (amend), and its lease kept alive while its task runs
// (renew). A keyed grant's tenant key comes with it (its group of KEYS), and each applies to both.
import { SLEEPERS } from './redis-lua-fleet.js';
import { PRELUDE } from './redis-lua-prelude.js';

/** ARGV: channel, then (id, group) for each grant (group: its tenant key's in KEYS, 0 for none). Returns the ids whose lease was gone. */
export const SETTLE = `${PRELUDE}
reap()
local settled = 0
local lost = eachGrant(2, function(id, key, w, c, p, cost)
  if not p then return end
  landPending(C, id, w, cost, now)
  if key then
    local kw, kcost = dropPending(key, id)
    if kw then landStart(key, id, kw, kcost, now) end
  end
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

/**
 * ARGV: channel, liner, priority, lapseMs, hold, then (id, group) for each grant. Returns the ids whose
 * lease was gone. A release of pending starts is announced to every process ('release': room in the
 * windows may have freed for anyone); one that freed concurrency wakes one sleeper per grant by name
 * (see SLEEPERS). Liner ('' for none): a process with more to start that joins the line here rather
 * than ask again at once and be refused (the line was not empty at its last grant), waiting with
 * `priority` for at most lapseMs; if the line was empty, it is the one woken.
 */
export const RELEASE = `${PRELUDE}
${SLEEPERS}
reap()
local channel, liner, hold = ARGV[1], ARGV[2], tonumber(ARGV[5])
local released, freedPending = 0, false
local lost = eachGrant(6, function(id, key, w, c, p, cost)
  -- A start that ended without being settled counts from its end.
  if p then
    landPending(C, id, w, cost, now)
    if key then
      local kw, kcost = dropPending(key, id)
      if kw then landStart(key, id, kw, kcost, now) end
    end
  end
  if c then
    redis.call('HINCRBY', stateKey, 'held', -w)
    released = released + 1
  end
  if p then freedPending = true end
  redis.call('HDEL', infoKey, id)
  redis.call('ZREM', leasesKey, id)
end)
if liner ~= '' then sleep(liner, tonumber(ARGV[3]), tonumber(ARGV[4]), 0) end
if freedPending then redis.call('PUBLISH', channel, 'release') end
if released > 0 then wakeSleepers(released, channel, hold) end
touch(0)
return lost
`;

/**
 * ARGV: (id, weight, cost, group) for each start that began in its process later than the safety
 * margin allows: its units and its cost's entry move in the log to now, the latest moment it can have
 * begun (see RedisStore's `settle`). The entry as Redis has it (an amend may have lowered it) is moved;
 * the cost given is logged only if the entry is gone.
 *
 * The buckets take the start again at now, and keep what they took at the grant: giving that back
 * first could count the start earlier than a start of another process made meanwhile, and a bucket
 * that counts out of order lets more through than its rate. A late start is counted twice (its whole
 * cost, in every currency), on the safe side.
 */
export const RESTAMP = `${PRELUDE}
local function restamp(c, id, weight, given)
  logUnits(c, id, weight, now)
  local member = redis.call('HGET', c.costs, id)
  local cost = member and memberCost(member) or given
  logCost(c, id, cost, now)
  countBuckets(c, amountsOf(weight, cost), now, 1)
end
for i = 1, #ARGV, 4 do
  local weight = tonumber(ARGV[i + 1])
  restamp(C, ARGV[i], weight, ARGV[i + 2])
  local key = tenant(ARGV[i + 3])
  if key then restamp(key, ARGV[i], weight, ARGV[i + 2]) end
end
touch(0)
return 1
`;

/**
 * ARGV: channel, then (id, estimate, cost, group) for each grant whose real cost is known: the cost it
 * was granted with and the real one. In each currency, less than the grant's start counts gives the
 * difference back at once (its entry keeps its time; a pending start will log less); more logs the
 * difference as an entry "<id>+" at now. An entry already gone from the log (or from spend alone, its
 * key evicted) gives nothing back. Sending the same amend twice counts it once. Returns 1.
 *
 * The buckets likewise: a settled start's difference goes back into them (tat -= amount * interval, as
 * TokenBucket's refund), a pending one's through its pending amounts; an increase is taken at now. A
 * keyed grant's key counts the same change (see amendIn).
 */
export const AMEND = `${PRELUDE}
reap()
local refunds = 0
for i = 2, #ARGV, 4 do
  local id, estimate = ARGV[i], ARGV[i + 1]
  local real = decodeCost(ARGV[i + 2])
  local key = tenant(ARGV[i + 3])
  -- What Redis counts for the grant's start: its pending cost, or its entry's; nil once that is gone.
  local w, c, p, pendingCost
  local info = redis.call('HGET', infoKey, id)
  if info then w, c, p, pendingCost = parseInfo(info) end
  local lowered, kept = amendIn(C, id, real, estimate, p, pendingCost)
  if lowered and p then redis.call('HSET', infoKey, id, infoValue(w, c, p, kept)) end
  if key then
    local held = redis.call('HGET', key.state, 'g:' .. id)
    local kw, kcost
    if held then kw, kcost = string.match(held, '^(%d+)|(.*)$') end
    local keyLowered, keyKept = amendIn(key, id, real, estimate, held and true or false, kcost)
    if keyLowered and held then redis.call('HSET', key.state, 'g:' .. id, kw .. '|' .. keyKept) end
    lowered = lowered or keyLowered
  end
  if lowered then refunds = refunds + 1 end
end
-- Room given back: waiters may start before their windows' wait has passed.
if refunds > 0 then redis.call('PUBLISH', ARGV[1], 'amend') end
touch(0)
return 1
`;

/** ARGV: leaseTtlMs, then (id, group) for each grant. Returns the ids whose lease was already gone. */
export const RENEW = `${PRELUDE}
reap()
local leaseTtl = tonumber(ARGV[1])
local lost = {}
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('ZSCORE', leasesKey, id) then
    redis.call('ZADD', leasesKey, 'XX', now + leaseTtl, id)
    local key = tenant(ARGV[i + 1])
    -- Its key's pending start, likewise: the key's state must outlive the lease by a window.
    if key then key.ttl = math.max(key.ttl or 0, leaseTtl + stateNumber(key, 'maxWindow')) end
  else
    lost[#lost + 1] = id
  end
end
-- A pending start may now land in the log as late as the new expiry, and count a window after it.
touch(math.ceil(leaseTtl + stateNumber(C, 'maxWindow')))
return lost
`;

/**
 * ARGV: channel, hold, weight, then ids. Starts an ACQUIRE granted in a batch (see there) that their
 * process did not use: their log entries go (they never started), and their concurrency is freed,
 * waking as many processes in line for it. An id whose lease is gone already (expired) only loses its
 * log entries.
 */
export const CANCEL = `${PRELUDE}
${SLEEPERS}
reap()
local channel, hold, weight = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local freed = 0
for i = 4, #ARGV do
  local id = ARGV[i]
  local members = {}
  for unit = 0, weight - 1 do members[#members + 1] = id .. '#' .. unit end
  redis.call('ZREM', logKey, unpack(members))
  local value = redis.call('HGET', infoKey, id)
  if value then
    local w, c = parseInfo(value)
    if c then
      redis.call('HINCRBY', stateKey, 'held', -w)
      freed = freed + 1
    end
    redis.call('HDEL', infoKey, id)
    redis.call('ZREM', leasesKey, id)
  end
end
if freed > 0 then wakeSleepers(freed, channel, hold) end
touch(0)
return 1
`;
