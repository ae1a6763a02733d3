// The Lua of a counter set: the log of starts, the amounts of other currencies with their running sums,
// the buckets and the pending amounts. The client has one, each tenant key (the `key` option of a task)
// has its own, with the same layout and the same code (the keys' layout: see `RedisScripts`).

/*
 * A counter set c is {log, state, spend, costs, sums} (key names) plus what a script read of it: its
 * running sums and buckets, loaded on first use and written back by saveSums(c) and saveBuckets(c).
 * Every function here takes the set it works on first. Needs \`now\`, decodeCost and encodeCost.
 */
export const COUNTERS = `
local function counterSet(log, state, spend, costs, sums)
  return {
    log = log, state = state, spend = spend, costs = costs, sums = sums,
    sumsCache = nil, changedSums = {}, forgottenSums = {}, buckets = nil, changedBuckets = {},
  }
end

local function stateNumber(c, field)
  return tonumber(redis.call('HGET', c.state, field)) or 0
end

-- One log member per unit of weight, so a window's usage of requests is a ZCOUNT.
local function logUnits(c, id, weight, at)
  local args = {}
  for i = 0, weight - 1 do
    args[#args + 1] = at
    args[#args + 1] = id .. '#' .. i
    if #args >= 1000 then redis.call('ZADD', c.log, unpack(args)); args = {} end
  end
  if #args > 0 then redis.call('ZADD', c.log, unpack(args)) end
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
local function loadSums(c)
  if c.sumsCache then return c.sumsCache end
  local sums = {}
  local rows = redis.call('HGETALL', c.sums)
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
  c.sumsCache = sums
  return sums
end

local function saveSums(c)
  local sums = c.sumsCache
  if not sums then return end
  local args = {}
  for name in pairs(c.changedSums) do
    local w = sums[name]
    if w then
      args[#args + 1] = name
      args[#args + 1] = string.format('%.17g %.17g %.17g %.17g', w.cursor, w.sum, w.count, w.seen)
    end
  end
  if #args > 0 then redis.call('HSET', c.sums, unpack(args)) end
  local gone = {}
  for name in pairs(c.forgottenSums) do gone[#gone + 1] = name end
  if #gone > 0 then redis.call('HDEL', c.sums, unpack(gone)) end
end

-- Adds (sign 1) or takes away (sign -1) a spend member of this cost scored at \`at\` in every running sum
-- whose cursor it is above.
local function countCost(c, cost, at, sign)
  local sums = loadSums(c)
  if next(sums) == nil then return end
  local amounts = decodeCost(cost)
  for name, w in pairs(sums) do
    if at > w.cursor then
      w.sum = w.sum + sign * (amounts[w.currency] or 0)
      w.count = w.count + sign
      c.changedSums[name] = true
    end
  end
end

-- Moves a running sum's cursor up to \`to\`, taking away the members it passes: each member is passed
-- once per sum, however many acquires read it.
local function advanceSum(c, name, w, to)
  local passed = redis.call('ZRANGEBYSCORE', c.spend, string.format('(%.17g', w.cursor), to)
  for _, member in ipairs(passed) do
    w.sum = w.sum - (decodeCost(memberCost(member))[w.currency] or 0)
  end
  w.count = w.count - #passed
  w.cursor = to
  c.changedSums[name] = true
end

-- Forgets a running sum: counted again from the log when next asked for.
local function forgetSum(c, name)
  c.sumsCache[name] = nil
  c.changedSums[name] = nil
  c.forgottenSums[name] = true
end

-- One spend member per entry, "<entry>|<cost>", scored by its start; costs maps the entry to its
-- member. An entry is a grant's id, or "<id>+" for what an amend added. Nothing for a cost of ''.
-- Replacing an entry's member (a new cost or time) keeps every running sum.
local function logCost(c, entry, cost, at)
  local old = redis.call('HGET', c.costs, entry)
  if old then
    local oldAt = redis.call('ZSCORE', c.spend, old)
    if oldAt then
      redis.call('ZREM', c.spend, old)
      countCost(c, memberCost(old), tonumber(oldAt), -1)
    end
  end
  if cost == '' then
    if old then redis.call('HDEL', c.costs, entry) end
    return
  end
  local member = entry .. '|' .. cost
  redis.call('ZADD', c.spend, at, member)
  redis.call('HSET', c.costs, entry, member)
  countCost(c, cost, at, 1)
end

-- The buckets any process asked about (see RedisScripts), by field "b:<currency>:<limit>:<windowMs>:<burst>"
-- of state: {currency, interval, burst, tat}. tat (GCRA's theoretical arrival time, Redis ms) is when the
-- bucket is full again, as if every start it counted had taken its units at its time. Invariant: every
-- start that lands in the log (or spend) advances every bucket of each currency it costs, at that time;
-- its pending amount ("pending", "p:<currency>") is what the buckets hold for it until then. Read on first
-- use; written back by touch().
local function loadBuckets(c)
  if c.buckets then return c.buckets end
  local buckets = {}
  local rows = redis.call('HGETALL', c.state)
  for i = 1, #rows, 2 do
    local currency, limit, span, burst = string.match(rows[i], '^b:([^:]+):([^:]+):([^:]+):([^:]+)$')
    if currency then
      buckets[rows[i]] = {
        currency = currency, interval = tonumber(span) / tonumber(limit), burst = tonumber(burst), tat = tonumber(rows[i + 1]),
      }
    end
  end
  c.buckets = buckets
  return buckets
end

-- A start of these amounts ({currency = amount}, requests included) taken at \`at\` by every bucket of its
-- currencies (sign 1: tat = max(tat, at) + amount * interval); sign -1 gives them back (a refund: tat -=
-- amount * interval, \`at\` unused), as TokenBucket does.
local function countBuckets(c, amounts, at, sign)
  for name, b in pairs(loadBuckets(c)) do
    local amount = amounts[b.currency] or 0
    if amount > 0 then
      if sign > 0 then b.tat = math.max(b.tat, at) + amount * b.interval else b.tat = b.tat - amount * b.interval end
      c.changedBuckets[name] = true
    end
  end
end

-- A settled start that took \`counted\` ({currency = amount}) at \`startedAt\` gives back \`given\` at \`now\`:
-- each bucket of its currencies gets back only what of the start's own span is still ahead of now
-- (it ends no earlier than startedAt + counted * interval): GCRA's max(tat, time) is not linear, and
-- units the start freed long ago may have gone to a later start since (TokenBucket#refund).
local function refundBuckets(c, given, counted, startedAt)
  for name, b in pairs(loadBuckets(c)) do
    local amount = given[b.currency] or 0
    if amount > 0 then
      local ahead = math.max(0, startedAt + (counted[b.currency] or 0) * b.interval - now)
      b.tat = b.tat - math.min(amount * b.interval, ahead)
      c.changedBuckets[name] = true
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
local function saveBuckets(c)
  local args = {}
  local need = 0
  for name, b in pairs(loadBuckets(c)) do
    need = math.max(need, b.tat - now)
    if c.changedBuckets[name] then
      args[#args + 1] = name
      args[#args + 1] = string.format('%.17g', b.tat)
    end
  end
  if #args > 0 then redis.call('HSET', c.state, unpack(args)) end
  return math.ceil(need)
end

-- Adds (sign 1) or takes away (sign -1) a cost from the pending amounts ("p:<currency>" in state).
local function addPending(c, cost, sign)
  for name, amount in pairs(decodeCost(cost)) do
    if amount > 0 then redis.call('HINCRBY', c.state, 'p:' .. name, sign * amount) end
  end
end

-- A start of \`weight\` and \`cost\` lands in c's log at \`at\`: its units, its cost, and every bucket of its currencies.
local function landStart(c, id, weight, cost, at)
  logUnits(c, id, weight, at)
  logCost(c, id, cost, at)
  countBuckets(c, amountsOf(weight, cost), at, 1)
end

-- A pending start lands at \`at\`: off the pending amounts, into the log.
local function landPending(c, id, weight, cost, at)
  landStart(c, id, weight, cost, at)
  redis.call('HINCRBY', c.state, 'pending', -weight)
  addPending(c, cost, -1)
end

-- Counts an amend's real cost \`real\` ({currency = amount}) instead of \`base\` (what c counts for the start:
-- its pending cost when \`pending\`, else its entry's, found here; nil: look it up) in c. Returns whether
-- room was given back, and for a pending start the cost it will log from now on. \`estimate\` stands in
-- for a base that is gone.
local function amendIn(c, id, real, estimate, pending, pendingCost)
  local base, memberAt
  if pending then
    base = decodeCost(pendingCost)
  else
    local member = redis.call('HGET', c.costs, id)
    if member then memberAt = tonumber(redis.call('ZSCORE', c.spend, member)) end
    -- A lookup whose member spend lost (its key evicted) is an entry gone: it is dropped, not lowered.
    if memberAt then base = decodeCost(memberCost(member)) elseif member then redis.call('HDEL', c.costs, id) end
  end
  local reference = base or decodeCost(estimate)
  local extra = {}
  for name, amount in pairs(real) do
    local before = reference[name] or 0
    if amount > before then extra[name] = amount - before end
  end
  local lowered, keptText = false, pendingCost
  if base then
    local kept = {}
    for name, amount in pairs(base) do
      kept[name] = math.min(amount, real[name] or 0)
      if kept[name] < amount then lowered = true end
    end
    if lowered then
      keptText = encodeCost(kept)
      if pending then
        for name, amount in pairs(base) do
          if kept[name] < amount then redis.call('HINCRBY', c.state, 'p:' .. name, kept[name] - amount) end
        end
      else
        logCost(c, id, keptText, memberAt)
        local given = {}
        for name, amount in pairs(base) do given[name] = amount - kept[name] end
        refundBuckets(c, given, base, memberAt)
      end
    end
  end
  local added = encodeCost(extra)
  if added ~= '' then
    -- An amend sent again finds its increase logged already: the buckets take only what is new.
    local before = redis.call('HGET', c.costs, id .. '+')
    local logged = before and decodeCost(memberCost(before)) or {}
    local more = {}
    for name, amount in pairs(extra) do more[name] = amount - (logged[name] or 0) end
    logCost(c, id .. '+', added, now)
    countBuckets(c, more, now, 1)
  end
  return lowered, keptText
end
`;
