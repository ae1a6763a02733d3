// The Lua of an acquire: the one script that decides a grant, against every window and the shared
// concurrency at once, on Redis's clock.
import { PRELUDE } from './redis-lua-prelude.js';

/**
 * ARGV: id, clientId, weight, settle (0|1), concurrency (-1 = none), leaseTtlMs, marginMs, clientTtlMs,
 * then limit, windowMs for each window. Returns {granted, waitMs (string), blockedBy ('' = none),
 * clients, used...}.
 */
export const ACQUIRE = `${PRELUDE}
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
