// The Lua every script of the store begins with: the keys it reads, Redis's clock, and the helpers
// that log starts (their weight and their amounts in other currencies), advance the buckets, end expired
// leases and keep the keys alive (the keys' layout: see `RedisScripts`).

/*
 * Shared by every script. KEYS: log, leases, info, state, clients, spend, costs, sums (one hash tag,
 * one cluster slot).
 *
 * Lua turns a number into a string with 14 significant digits (`tostring`, `..`), which would cut a
 * millisecond time with its microseconds; a number passed straight to redis.call keeps all 17, so
 * times go to Redis as numbers and back to Node through string.format('%.17g').
 *
 * A cost is encoded "tokens=1800,points=3": the amounts besides requests, each > 0, '' for none.
 */
export const PRELUDE = `
local logKey, leasesKey, infoKey, stateKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local spendKey, costsKey, sumsKey = KEYS[6], KEYS[7], KEYS[8]
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

-- One log member per unit of weight, so a window's usage of requests is a ZCOUNT.
local function logUnits(id, weight, at)
  local args = {}
  for i = 0, weight - 1 do
    args[#args + 1] = at
    args[#args + 1] = id .. '#' .. i
    if #args >= 1000 then redis.call('ZADD', logKey, unpack(args)); args = {} end
  end
  if #args > 0 then redis.call('ZADD', logKey, unpack(args)) end
end

-- The cost part of a spend member "<entry>|<cost>" (an entry may hold '|'; a cost never does).
local function memberCost(member)
  return string.match(member, '|([^|]*)$') or ''
end

-- The running sums of the currency windows any process asked about (see RedisScripts), by name
-- "<currency>@<span>": {currency, span, cursor, sum, count, seen}. Invariant, for every one: sum and
-- count are the amount of its currency and the number of the spend members scored above its cursor.
-- So every change to spend goes through logCost or advanceSum (the prune takes only what lies below
-- every cursor). Read on first use; written back by touch(), which every script ends with.
local sums
local changedSums, forgottenSums = {}, {}

local function loadSums()
  if sums then return sums end
  sums = {}
  local rows = redis.call('HGETALL', sumsKey)
  for i = 1, #rows, 2 do
    local currency, span = string.match(rows[i], '^(.*)@([^@]*)$')
    local cursor, sum, count, seen = string.match(rows[i + 1], '^(%S+) (%S+) (%S+) (%S+)$')
    if currency and cursor then
      sums[rows[i]] = {
        currency = currency, span = tonumber(span), cursor = tonumber(cursor), sum = tonumber(sum),
        count = tonumber(count), seen = tonumber(seen),
      }
    end
  end
  return sums
end

local function saveSums()
  if not sums then return end
  local args = {}
  for name in pairs(changedSums) do
    local w = sums[name]
    if w then
      args[#args + 1] = name
      args[#args + 1] = string.format('%.17g %.17g %.17g %.17g', w.cursor, w.sum, w.count, w.seen)
    end
  end
  if #args > 0 then redis.call('HSET', sumsKey, unpack(args)) end
  local gone = {}
  for name in pairs(forgottenSums) do gone[#gone + 1] = name end
  if #gone > 0 then redis.call('HDEL', sumsKey, unpack(gone)) end
end

-- Adds (sign 1) or takes away (sign -1) a spend member of this cost scored at \`at\` in every running sum
-- whose cursor it is above.
local function countCost(cost, at, sign)
  if next(loadSums()) == nil then return end
  local amounts = decodeCost(cost)
  for name, w in pairs(sums) do
    if at > w.cursor then
      w.sum = w.sum + sign * (amounts[w.currency] or 0)
      w.count = w.count + sign
      changedSums[name] = true
    end
  end
end

-- Moves a running sum's cursor up to \`to\`, taking away the members it passes: each member is passed
-- once per sum, however many acquires read it.
local function advanceSum(name, w, to)
  local passed = redis.call('ZRANGEBYSCORE', spendKey, string.format('(%.17g', w.cursor), to)
  for _, member in ipairs(passed) do
    w.sum = w.sum - (decodeCost(memberCost(member))[w.currency] or 0)
  end
  w.count = w.count - #passed
  w.cursor = to
  changedSums[name] = true
end

-- Forgets a running sum: counted again from the log when next asked for.
local function forgetSum(name)
  sums[name] = nil
  changedSums[name] = nil
  forgottenSums[name] = true
end

-- One spend member per entry, "<entry>|<cost>", scored by its start; costs maps the entry to its
-- member. An entry is a grant's id, or "<id>+" for what an amend added. Nothing for a cost of ''.
-- Replacing an entry's member (a new cost or time) keeps every running sum.
local function logCost(entry, cost, at)
  local old = redis.call('HGET', costsKey, entry)
  if old then
    local oldAt = redis.call('ZSCORE', spendKey, old)
    if oldAt then
      redis.call('ZREM', spendKey, old)
      countCost(memberCost(old), tonumber(oldAt), -1)
    end
  end
  if cost == '' then
    if old then redis.call('HDEL', costsKey, entry) end
    return
  end
  local member = entry .. '|' .. cost
  redis.call('ZADD', spendKey, at, member)
  redis.call('HSET', costsKey, entry, member)
  countCost(cost, at, 1)
end

-- The buckets any process asked about (see RedisScripts), by field "b:<currency>:<limit>:<windowMs>:<burst>"
-- of state: {currency, interval, burst, tat}. tat (GCRA's theoretical arrival time, Redis ms) is when the
-- bucket is full again, as if every start it counted had taken its units at its time. Invariant: every
-- start that lands in the log (or spend) advances every bucket of each currency it costs, at that time;
-- its pending amount ("pending", "p:<currency>") is what the buckets hold for it until then. Read on first
-- use; written back by touch().
local buckets
local changedBuckets = {}

local function loadBuckets()
  if buckets then return buckets end
  buckets = {}
  local rows = redis.call('HGETALL', stateKey)
  for i = 1, #rows, 2 do
    local currency, limit, span, burst = string.match(rows[i], '^b:([^:]+):([^:]+):([^:]+):([^:]+)$')
    if currency then
      buckets[rows[i]] = {
        currency = currency, interval = tonumber(span) / tonumber(limit), burst = tonumber(burst), tat = tonumber(rows[i + 1]),
      }
    end
  end
  return buckets
end

-- A start of these amounts ({currency = amount}, requests included) taken at \`at\` by every bucket of its
-- currencies (sign 1: tat = max(tat, at) + amount * interval); sign -1 gives them back (a refund: tat -=
-- amount * interval, \`at\` unused), as TokenBucket does.
local function countBuckets(amounts, at, sign)
  for name, b in pairs(loadBuckets()) do
    local amount = amounts[b.currency] or 0
    if amount > 0 then
      if sign > 0 then b.tat = math.max(b.tat, at) + amount * b.interval else b.tat = b.tat - amount * b.interval end
      changedBuckets[name] = true
    end
  end
end

-- A settled start that took \`counted\` ({currency = amount}) at \`startedAt\` gives back \`given\` at \`now\`:
-- each bucket of its currencies gets back only what of the start's own span is still ahead of now
-- (it ends no earlier than startedAt + counted * interval): GCRA's max(tat, time) is not linear, and
-- units the start freed long ago may have gone to a later start since (TokenBucket#refund).
local function refundBuckets(given, counted, startedAt, now)
  for name, b in pairs(loadBuckets()) do
    local amount = given[b.currency] or 0
    if amount > 0 then
      local ahead = math.max(0, startedAt + (counted[b.currency] or 0) * b.interval - now)
      b.tat = b.tat - math.min(amount * b.interval, ahead)
      changedBuckets[name] = true
    end
  end
end

-- A start's amounts in every currency: its weight of requests, and its cost.
local function amountsOf(weight, cost)
  local amounts = decodeCost(cost)
  amounts['requests'] = weight
  return amounts
end

-- Writes the changed buckets back; returns the ms until the last of all buckets is full again (the keys
-- must live that long: a bucket forgotten early would be full too soon).
local function saveBuckets()
  if not buckets then loadBuckets() end
  local args = {}
  local need = 0
  for name, b in pairs(buckets) do
    need = math.max(need, b.tat - now)
    if changedBuckets[name] then
      args[#args + 1] = name
      args[#args + 1] = string.format('%.17g', b.tat)
    end
  end
  if #args > 0 then redis.call('HSET', stateKey, unpack(args)) end
  return math.ceil(need)
end

-- Adds (sign 1) or takes away (sign -1) a cost from the pending amounts ("p:<currency>" in state).
local function addPending(cost, sign)
  for name, amount in pairs(decodeCost(cost)) do
    if amount > 0 then redis.call('HINCRBY', stateKey, 'p:' .. name, sign * amount) end
  end
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
        local w, c, p, cost = parseInfo(value)
        if p then
          local at = tonumber(expired[i + 1])
          logUnits(id, w, at)
          logCost(id, cost, at)
          countBuckets(amountsOf(w, cost), at, 1)
          addPending(cost, -1)
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

-- Calls onGrant(id, weight, holdsConcurrency, pending, cost) for each grant id in ARGV[2..] that still
-- has its info, and returns the ids that had none (their lease was gone).
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

-- Every write ends here: the running sums are written back, and every key's life is extended to the
-- longest that any of its data is still needed (at least a minute; never 0, which would delete the keys).
-- A bucket keeps the keys alive until it is full again, beyond that when need be (an amend that added
-- much): not stored as the ttl, since it passes.
local function touch(ttl)
  saveSums()
  local untilFull = saveBuckets()
  ttl = math.max(ttl, 60000)
  local known = stateNumber('ttl')
  if ttl > known then redis.call('HSET', stateKey, 'ttl', ttl) else ttl = known end
  ttl = math.max(ttl, untilFull)
  for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, ttl) end
end
`;
