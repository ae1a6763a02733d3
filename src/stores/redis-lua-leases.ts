// The Lua of what follows a grant: its start recorded (settle), its end (release), a late start moved
// (restamp), its real cost in other currencies (amend), and its lease kept alive while its task runs (renew).
import { PRELUDE } from './redis-lua-prelude.js';

/** ARGV: channel, ids... Returns the ids whose lease was gone. */
export const SETTLE = `${PRELUDE}
reap()
local settled = 0
local lost = eachGrant(function(id, w, c, p, cost)
  if not p then return end
  logUnits(id, w, now)
  logCost(id, cost, now)
  countBuckets(amountsOf(w, cost), now, 1)
  redis.call('HINCRBY', stateKey, 'pending', -w)
  addPending(cost, -1)
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
export const RELEASE = `${PRELUDE}
reap()
local released = 0
local lost = eachGrant(function(id, w, c, p, cost)
  -- A start that ended without being settled counts from its end.
  if p then
    logUnits(id, w, now)
    logCost(id, cost, now)
    countBuckets(amountsOf(w, cost), now, 1)
    redis.call('HINCRBY', stateKey, 'pending', -w)
    addPending(cost, -1)
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
 * ARGV: (id, weight, cost) for each start that began in its process later than the safety margin
 * allows: its units and its cost's entry move in the log to now, the latest moment it can have begun
 * (see RedisStore's `settle`). The entry as Redis has it (an amend may have lowered it) is moved; the
 * cost given is logged only if the entry is gone.
 *
 * The buckets take the start again at now, and keep what they took at the grant: giving that back
 * first could count the start earlier than a start of another process made meanwhile, and a bucket
 * that counts out of order lets more through than its rate. A late start is counted twice (its whole
 * cost, in every currency), on the safe side.
 */
export const RESTAMP = `${PRELUDE}
for i = 1, #ARGV, 3 do
  local id = ARGV[i]
  local weight = tonumber(ARGV[i + 1])
  logUnits(id, weight, now)
  local member = redis.call('HGET', costsKey, id)
  local cost = member and memberCost(member) or ARGV[i + 2]
  logCost(id, cost, now)
  countBuckets(amountsOf(weight, cost), now, 1)
end
touch(0)
return 1
`;

/**
 * ARGV: channel, then (id, estimate, cost) for each grant whose real cost is known: the cost it was
 * granted with and the real one. In each currency, less than the grant's start counts gives the
 * difference back at once (its entry keeps its time; a pending start will log less); more logs the
 * difference as an entry "<id>+" at now. An entry already gone from the log (or from spend alone, its
 * key evicted) gives nothing back. Sending the same amend twice counts it once. Returns 1.
 *
 * The buckets likewise: a settled start's difference goes back into them (tat -= amount * interval, as
 * TokenBucket's refund), a pending one's through its pending amounts; an increase is taken at now.
 */
export const AMEND = `${PRELUDE}
reap()
local refunds = 0
for i = 2, #ARGV, 3 do
  local id = ARGV[i]
  local real = decodeCost(ARGV[i + 2])
  -- What Redis counts for the grant's start: its pending cost, or its entry's; nil once that is gone.
  local base, w, c, p
  local info = redis.call('HGET', infoKey, id)
  local pendingCost
  if info then w, c, p, pendingCost = parseInfo(info) end
  local memberAt
  if p then
    base = decodeCost(pendingCost)
  else
    local member = redis.call('HGET', costsKey, id)
    if member then memberAt = tonumber(redis.call('ZSCORE', spendKey, member)) end
    -- A lookup whose member spend lost (its key evicted) is an entry gone: it is dropped, not lowered.
    if memberAt then base = decodeCost(memberCost(member)) elseif member then redis.call('HDEL', costsKey, id) end
  end
  local reference = base or decodeCost(ARGV[i + 1])
  local extra = {}
  for name, amount in pairs(real) do
    local before = reference[name] or 0
    if amount > before then extra[name] = amount - before end
  end
  if base then
    local kept, lowered = {}, false
    for name, amount in pairs(base) do
      kept[name] = math.min(amount, real[name] or 0)
      if kept[name] < amount then lowered = true end
    end
    if lowered then
      refunds = refunds + 1
      if p then
        for name, amount in pairs(base) do
          if kept[name] < amount then redis.call('HINCRBY', stateKey, 'p:' .. name, kept[name] - amount) end
        end
        redis.call('HSET', infoKey, id, infoValue(w, c, p, encodeCost(kept)))
      else
        logCost(id, encodeCost(kept), memberAt)
        local given = {}
        for name, amount in pairs(base) do given[name] = amount - kept[name] end
        refundBuckets(given, base, memberAt, now)
      end
    end
  end
  local added = encodeCost(extra)
  if added ~= '' then
    -- An amend sent again finds its increase logged already: the buckets take only what is new.
    local before = redis.call('HGET', costsKey, id .. '+')
    local logged = before and decodeCost(memberCost(before)) or {}
    local more = {}
    for name, amount in pairs(extra) do more[name] = amount - (logged[name] or 0) end
    logCost(id .. '+', added, now)
    countBuckets(more, now, 1)
  end
end
-- Room given back: waiters may start before their windows' wait has passed.
if refunds > 0 then redis.call('PUBLISH', ARGV[1], 'amend') end
touch(0)
return 1
`;

/** ARGV: leaseTtlMs, ids... Returns the ids whose lease was gone. */
export const RENEW = `${PRELUDE}
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
