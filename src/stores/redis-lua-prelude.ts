// The Lua every script of the store begins with: the keys it reads, Redis's clock, and the helpers
// that log starts, end expired leases and keep the keys alive (the keys' layout: see `RedisScripts`).

/*
 * Shared by every script. KEYS: log, leases, info, state, clients (one hash tag, one cluster slot).
 *
 * Lua turns a number into a string with 14 significant digits (`tostring`, `..`), which would cut a
 * millisecond time with its microseconds; a number passed straight to redis.call keeps all 17, so
 * times go to Redis as numbers and back to Node through string.format('%.17g').
 */
export const PRELUDE = `
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
