// The Lua every script of the store begins with: the keys it reads (the client's, and each tenant key's
// counters passed with it), Redis's clock, the cost and lease codecs, and what ends expired leases and
// keeps the keys alive (the keys' layout: see `RedisScripts`; the counters: redis-lua-counters.ts).
import { CLIENT_KEYS, TENANT_KEYS } from './redis-key-layout.js';
import { COUNTERS } from './redis-lua-counters.js';

/** How many of KEYS are the client's own; each tenant key's group of KEY_GROUP follows them. */
export const CLIENT_KEY_COUNT = CLIENT_KEYS.length;
/** Keys of one tenant key's counters: log, state, spend, costs, sums. */
const KEY_GROUP = TENANT_KEYS.length;

/*
 * Shared by every script. KEYS: log, leases, info, state, clients, spend, costs, sums, waiters, waitUntil, sleepers (the client's),
 * then log, state, spend, costs, sums for each tenant key the script is about (group 1, 2, ...). One
 * hash tag, one cluster slot for all of them.
 *
 * Lua turns a number into a string with 14 significant digits (`tostring`, `..`), which would cut a
 * millisecond time with its microseconds; a number passed straight to redis.call keeps all 17, so
 * times go to Redis as numbers and back to Node through string.format('%.17g').
 *
 * A cost is encoded "tokens=1800,points=3": the amounts besides requests, each > 0, '' for none.
 */
export const PRELUDE = `
local logKey, leasesKey, infoKey, stateKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local waitersKey, waitUntilKey, sleepersKey = KEYS[9], KEYS[10], KEYS[11]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000

local function decodeCost(encoded)
  local cost = {}
  if encoded then
    for name, amount in string.gmatch(encoded, '([%w%-]+)=(%d+)') do cost[name] = tonumber(amount) end
  end
  return cost
end

local function encodeCost(cost)
  local names = {}
  for name, amount in pairs(cost) do if amount > 0 then names[#names + 1] = name end end
  table.sort(names)
  local parts = {}
  for i, name in ipairs(names) do parts[i] = name .. '=' .. string.format('%d', cost[name]) end
  return table.concat(parts, ',')
end
${COUNTERS}
local C = counterSet(KEYS[1], KEYS[4], KEYS[6], KEYS[7], KEYS[8])

-- info value "<weight>:<c><p>[|<cost>]": c = holds concurrency, p = still pending, cost = what a
-- pending start will log besides its weight.
local function parseInfo(value)
  local w, c, p, cost = string.match(value, '^(%d+):(%d)(%d)|?(.*)$')
  return tonumber(w), c == '1', p == '1', cost
end

local function infoValue(weight, holds, pending, cost)
  local value = weight .. ':' .. (holds and '1' or '0') .. (pending and '1' or '0')
  if cost ~= '' then value = value .. '|' .. cost end
  return value
end

-- A tenant key's pending start: its units and cost in the key's pending amounts, and "g:<id>" in its
-- state to "<weight>|<cost>". A lease is the client's (leases, info): when it expires, reap() can not
-- reach the key (its keys are not in the script), so the key finds the start by its missing lease the
-- next time a script is about it (see tenant()), and logs it then, later than reap(): on the safe side.
local function holdPending(c, id, weight, cost)
  redis.call('HINCRBY', c.state, 'pending', weight)
  addPending(c, cost, 1)
  redis.call('HSET', c.state, 'g:' .. id, weight .. '|' .. cost)
end

-- Ends a tenant key's pending start; returns its weight and cost, or nil if the key does not hold it.
local function dropPending(c, id)
  local value = redis.call('HGET', c.state, 'g:' .. id)
  if not value then return nil end
  redis.call('HDEL', c.state, 'g:' .. id)
  local w, cost = string.match(value, '^(%d+)|(.*)$')
  w = tonumber(w)
  redis.call('HINCRBY', c.state, 'pending', -w)
  addPending(c, cost, -1)
  return w, cost
end

-- The pending starts of a tenant key whose lease has ended without their key hearing of it land now.
local function sweep(c)
  if stateNumber(c, 'pending') <= 0 then return end
  local rows = redis.call('HGETALL', c.state)
  for i = 1, #rows, 2 do
    local id = string.match(rows[i], '^g:(.*)$')
    if id and not redis.call('ZSCORE', leasesKey, id) then
      local w, cost = dropPending(c, id)
      landStart(c, id, w, cost, now)
    end
  end
  -- Nothing left pending: the counters agree (a field lost to eviction must not hold room for ever).
  if redis.call('HEXISTS', c.state, 'pending') == 1 and stateNumber(c, 'pending') <= 0 then
    local fields = redis.call('HKEYS', c.state)
    for _, field in ipairs(fields) do
      if field == 'pending' or string.sub(field, 1, 2) == 'p:' then redis.call('HDEL', c.state, field) end
    end
  end
end

-- The counters of tenant key group g (1, 2, ...; nil for 0), swept on first use.
local tenants = {}
local function tenant(g)
  g = tonumber(g)
  if not g or g == 0 then return nil end
  local c = tenants[g]
  if c then return c end
  local base = ${CLIENT_KEY_COUNT} + (g - 1) * ${KEY_GROUP}
  c = counterSet(KEYS[base + 1], KEYS[base + 2], KEYS[base + 3], KEYS[base + 4], KEYS[base + 5])
  tenants[g] = c
  sweep(c)
  return c
end

-- Ends the leases expired by now. A pending start lands in the log at its lease's expiry: the server
-- may have counted it any time until then. (A tenant key's copy: see holdPending.)
local function reap()
  local expired = redis.call('ZRANGEBYSCORE', leasesKey, '-inf', now, 'WITHSCORES')
  if #expired > 0 then
    local held, pending = 0, 0
    for i = 1, #expired, 2 do
      local id = expired[i]
      local value = redis.call('HGET', infoKey, id)
      if value then
        local w, c, p, cost = parseInfo(value)
        if p then
          local at = tonumber(expired[i + 1])
          landStart(C, id, w, cost, at)
          addPending(C, cost, -1)
          pending = pending + w
        end
        if c then held = held + w end
        redis.call('HDEL', infoKey, id)
      end
    end
    redis.call('ZREMRANGEBYSCORE', leasesKey, '-inf', now)
    if held > 0 then redis.call('HINCRBY', stateKey, 'held', -held) end
    if pending > 0 then redis.call('HINCRBY', stateKey, 'pending', -pending) end
  end
  -- Nothing holds room without a lease: if the counters say otherwise (a key evicted), they are wrong.
  if redis.call('ZCARD', leasesKey) == 0 then
    local fields = redis.call('HKEYS', stateKey)
    for _, field in ipairs(fields) do
      if field == 'held' or field == 'pending' or string.sub(field, 1, 2) == 'p:' then redis.call('HDEL', stateKey, field) end
    end
  end
end

-- Calls onGrant(id, key, weight, holdsConcurrency, pending, cost) for each grant (id, group) in ARGV
-- from \`from\` on that still has its info (key: its tenant key's counters, or nil), and returns the ids
-- that had none (their lease was gone).
local function eachGrant(from, onGrant)
  local lost = {}
  for i = from, #ARGV, 2 do
    local id = ARGV[i]
    local key = tenant(ARGV[i + 1])
    local value = redis.call('HGET', infoKey, id)
    if value then
      local w, c, p, cost = parseInfo(value)
      onGrant(id, key, w, c, p, cost)
    else
      lost[#lost + 1] = id
    end
  end
  return lost
end

-- A tenant key lives as long as its longest window (and until its buckets are full again), no minimum:
-- an idle key's state is gone a window after its last start. While it holds pending starts, not less
-- than its state has already been given. c.ttl: the least the script wants it to live (ms), set where
-- it leaves the key a pending start (its lease may keep it pending that long, and it counts a window after).
local function touchKey(c)
  saveSums(c)
  local ttl = math.max(stateNumber(c, 'maxWindow'), saveBuckets(c), c.ttl or 0)
  if stateNumber(c, 'pending') > 0 then ttl = math.max(ttl, redis.call('PTTL', c.state)) end
  ttl = math.max(1, math.ceil(ttl))
  for _, key in ipairs({c.log, c.state, c.spend, c.costs, c.sums}) do redis.call('PEXPIRE', key, ttl) end
end

-- Every write ends here: the running sums are written back, and every key's life is extended to the
-- longest that any of its data is still needed (at least a minute; never 0, which would delete the keys).
-- A bucket keeps the keys alive until it is full again, beyond that when need be (an amend that added
-- much): not stored as the ttl, since it passes. Each tenant key the script used: see touchKey.
local function touch(ttl)
  saveSums(C)
  local untilFull = saveBuckets(C)
  ttl = math.max(ttl, 60000)
  local known = stateNumber(C, 'ttl')
  if ttl > known then redis.call('HSET', stateKey, 'ttl', ttl) else ttl = known end
  ttl = math.max(ttl, untilFull)
  for i = 1, ${CLIENT_KEY_COUNT} do redis.call('PEXPIRE', KEYS[i], ttl) end
  for _, c in pairs(tenants) do touchKey(c) end
end
`;
