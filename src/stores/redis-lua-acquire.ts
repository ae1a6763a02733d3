// The Lua of an acquire: the one script that decides a grant, against every window and bucket of every
// currency and the shared concurrency at once, on Redis's clock.
import { PRELUDE } from './redis-lua-prelude.js';

/**
 * ARGV: id, clientId, weight, settle (0|1), concurrency (-1 = none), leaseTtlMs, marginMs, clientTtlMs,
 * cost ("tokens=1800,points=3", '' for none), then limit, windowMs, counts ('requests' or a currency),
 * burst (0: a sliding window) for each window. Returns {granted, waitMs (string), blockedBy ('' = none),
 * clients, used...}: a bucket's used is burst - level.
 *
 * A bucket is checked as TokenBucket checks it, pending amounts included: a cost fits when
 * max(tat, now) + (pending + cost - burst) * interval - now <= 0; while pending starts hold the room
 * (pending + cost > burst) only their settle can tell when it frees ('pending'). A start settled at its
 * grant is taken by every bucket of its currencies at now + marginMs: its task begins up to the margin
 * later (a later one is restamped), and a bucket must count each unit from no earlier than the server
 * can have seen it. Every other start is taken at a Redis now after it really began (a settle, release,
 * restamp) or at its recorded age (RECORD), with no margin.
 */
export const ACQUIRE = `${PRELUDE}
local id, clientId = ARGV[1], ARGV[2]
local weight = tonumber(ARGV[3])
local settleNow = ARGV[4] == '1'
local concurrency = tonumber(ARGV[5])
local leaseTtl, margin, clientTtl = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local costText = ARGV[9]
local cost = decodeCost(costText)
local FIRST = 10

reap()

-- Prune only what the longest window any process has used no longer sees.
local maxWindow = stateNumber('maxWindow')
local known = maxWindow
-- A bucket's log reaches back as far as it takes to fill: what a new bucket of another shape counts.
local longestBucket = 0
for i = FIRST, #ARGV, 4 do
  local span = tonumber(ARGV[i + 1]) + margin
  maxWindow = math.max(maxWindow, span)
  local burst = tonumber(ARGV[i + 3])
  if burst > 0 then longestBucket = math.max(longestBucket, burst * tonumber(ARGV[i + 1]) / tonumber(ARGV[i]) + margin) end
end
if maxWindow > known then redis.call('HSET', stateKey, 'maxWindow', maxWindow) end
local oldest = now - maxWindow
redis.call('ZREMRANGEBYSCORE', logKey, '-inf', oldest)
-- Before spend forgets what no window sees, no running sum may count it: a sum not asked for in a
-- whole longest window is forgotten (a scan when asked again costs what keeping it would), the others
-- move past it.
for name, w in pairs(loadSums()) do
  if w.seen < oldest then forgetSum(name) elseif w.cursor < oldest then advanceSum(name, w, oldest) end
end
local gone = redis.call('ZRANGEBYSCORE', spendKey, '-inf', oldest)
if #gone > 0 then
  local entries = {}
  for i, member in ipairs(gone) do
    entries[#entries + 1] = string.match(member, '^(.*)|')
    if #entries >= 1000 then redis.call('HDEL', costsKey, unpack(entries)); entries = {} end
  end
  if #entries > 0 then redis.call('HDEL', costsKey, unpack(entries)) end
  redis.call('ZREMRANGEBYSCORE', spendKey, '-inf', oldest)
end
local ttl = math.ceil(math.max(maxWindow, longestBucket) + leaseTtl + clientTtl)

local clientsKey = KEYS[5]
redis.call('ZREMRANGEBYSCORE', clientsKey, '-inf', now)
redis.call('ZADD', clientsKey, now + clientTtl, clientId)
local clients = redis.call('ZCARD', clientsKey)

-- The live amount of a currency in a window of this span: its running sum, moved up to the window's
-- cutoff. Counted from the log the first time (or again should the sum disagree with the log: its
-- member count checks that in O(log n), in case a key was evicted, or the clock went back).
local function liveSum(currency, span)
  local name = currency .. '@' .. string.format('%.17g', span)
  local cutoff = now - span
  local w = loadSums()[name]
  if w and cutoff > w.cursor then advanceSum(name, w, cutoff) end
  if not w or cutoff < w.cursor or w.sum < 0 or
      redis.call('ZCOUNT', spendKey, string.format('(%.17g', cutoff), '+inf') ~= w.count then
    local members = redis.call('ZRANGEBYSCORE', spendKey, string.format('(%.17g', cutoff), '+inf')
    local sum = 0
    for _, member in ipairs(members) do sum = sum + (decodeCost(memberCost(member))[currency] or 0) end
    w = {currency = currency, span = span, cursor = cutoff, sum = sum, count = #members}
    sums[name] = w
    forgottenSums[name] = nil
  end
  w.seen = now
  changedSums[name] = true
  return w.sum
end

-- The start above \`cutoff\` at whose expiry the live starts up to it have freed \`needed\` of a currency:
-- read oldest first, a page at a time, so that a refusal reads what must expire, not the whole window.
local function freedAt(currency, cutoff, needed)
  local rank = redis.call('ZCOUNT', spendKey, '-inf', cutoff)
  local freed = 0
  while true do
    local rows = redis.call('ZRANGE', spendKey, rank, rank + 99, 'WITHSCORES')
    if #rows == 0 then return nil end
    for i = 1, #rows, 2 do
      freed = freed + (decodeCost(memberCost(rows[i]))[currency] or 0)
      if freed >= needed then return tonumber(rows[i + 1]) end
    end
    rank = rank + 100
  end
end

-- A bucket no process asked about before starts with what its currency started in its last windowMs
-- already taken (at most burst), and what the other buckets of the currency still miss, as CostLimiter
-- starts one: a shape switched to, or a process configured differently, can not open a burst.
local function newBucket(field, currency, limit, windowMs, burst)
  local interval = windowMs / limit
  local cutoff = now - windowMs
  local recent
  if currency == 'requests' then
    recent = redis.call('ZCOUNT', logKey, string.format('(%.17g', cutoff), '+inf')
  else
    recent = 0
    for _, member in ipairs(redis.call('ZRANGEBYSCORE', spendKey, string.format('(%.17g', cutoff), '+inf')) do
      recent = recent + (decodeCost(memberCost(member))[currency] or 0)
    end
  end
  local missing = recent
  for _, other in pairs(loadBuckets()) do
    if other.currency == currency then missing = math.max(missing, (other.tat - now) / other.interval) end
  end
  local b = {currency = currency, interval = interval, burst = burst, tat = now + math.min(missing, burst) * interval}
  buckets[field] = b
  changedBuckets[field] = true
  return b
end

-- burst - level: a bucket's whole units not there now (level as TokenBucket's usage counts it).
local function bucketUsed(b, waiting)
  local missing = math.max(0, b.tat - now) / b.interval + waiting
  return b.burst - math.max(0, math.floor(b.burst - missing + 1e-9))
end

local held, pending = stateNumber('held'), stateNumber('pending')
local byConcurrency = concurrency >= 0 and held + weight > concurrency
local byPending, byWindow = false, false
local wait = 0
local used = {}
local amounts = {}
-- For each bucket of the request (by its position in used): {bucket, its currency's pending amount}.
local asked = {}

-- A sliding window: the live starts of its span, and the pending ones (which land no earlier than now).
local function checkWindow(limit, span, counts)
  -- Live while start + span > now: a start exactly span later is allowed.
  local cutoff = now - span
  local live, waiting, amount
  if counts == 'requests' then
    amount = weight
    live = redis.call('ZCOUNT', logKey, string.format('(%.17g', cutoff), '+inf')
    waiting = pending
  else
    amount = cost[counts] or 0
    live = liveSum(counts, span)
    waiting = stateNumber('p:' .. counts)
  end
  amounts[#amounts + 1] = amount
  local inUse = live + waiting
  used[#used + 1] = inUse
  local mustExpire = inUse + amount - limit
  -- A start that costs none of a window's currency is not held back by it (requests cost >= 1).
  if amount <= 0 or mustExpire <= 0 then return end
  if amount > limit then
    byWindow = true
    wait = math.max(wait, span)
  elseif mustExpire > live then
    -- Pending starts land in the log no earlier than now: their room frees no sooner than span.
    byPending = true
    wait = math.max(wait, span)
  else
    byWindow = true
    local at
    if counts == 'requests' then
      local first = redis.call('ZRANGEBYSCORE', logKey, string.format('(%.17g', cutoff), '+inf', 'WITHSCORES', 'LIMIT', mustExpire - 1, 1)
      at = tonumber(first[2])
    else
      at = freedAt(counts, cutoff, mustExpire)
    end
    -- Not found only if the counts disagree with the log: wait a whole window rather than guess.
    wait = math.max(wait, at and at + span - now or span)
  end
end

-- A bucket, as TokenBucket.wait decides (the field's parts are ARGV's own text, so every process names
-- a shape alike).
local function checkBucket(limitText, windowText, counts, burstText)
  local limit, windowMs, burst = tonumber(limitText), tonumber(windowText), tonumber(burstText)
  local amount = counts == 'requests' and weight or (cost[counts] or 0)
  local waiting = counts == 'requests' and pending or stateNumber('p:' .. counts)
  local field = 'b:' .. counts .. ':' .. limitText .. ':' .. windowText .. ':' .. burstText
  local b = loadBuckets()[field] or newBucket(field, counts, limit, windowMs, burst)
  amounts[#amounts + 1] = amount
  used[#used + 1] = bucketUsed(b, waiting)
  asked[#used] = {b, waiting}
  if amount <= 0 then return end
  if amount > burst then
    -- Never fits (the client refuses such a cost before it asks): a whole refill, then again.
    byWindow = true
    wait = math.max(wait, burst * b.interval)
    return
  end
  local bucketWait = math.max(b.tat, now) + (waiting + amount - burst) * b.interval - now
  -- Floating-point noise (an interval of 74 / 3 ms) is not a wait: 24.000000000000004 is 24.
  local whole = math.floor(bucketWait + 0.5)
  if math.abs(bucketWait - whole) < 1e-9 then bucketWait = whole end
  if bucketWait <= 0 then return end
  -- While the pending units fit beside the cost, refill alone makes the room, at a time known now;
  -- otherwise they hold it until they settle.
  if waiting > 0 and waiting + amount > burst then byPending = true else byWindow = true end
  wait = math.max(wait, bucketWait)
end

for i = FIRST, #ARGV, 4 do
  if ARGV[i + 3] ~= '0' then
    checkBucket(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
  else
    checkWindow(tonumber(ARGV[i]), tonumber(ARGV[i + 1]) + margin, ARGV[i + 2])
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
  logCost(id, costText, now)
  countBuckets(amountsOf(weight, costText), now + margin, 1)
else
  redis.call('HINCRBY', stateKey, 'pending', weight)
  addPending(costText, 1)
end
if holds or not settleNow then
  redis.call('ZADD', leasesKey, now + leaseTtl, id)
  redis.call('HSET', infoKey, id, infoValue(weight, holds, not settleNow, settleNow and '' or costText))
  if holds then redis.call('HINCRBY', stateKey, 'held', weight) end
end
for i = 1, #used do
  local bucket = asked[i]
  if bucket then
    -- Pending or taken just now, the cost is missing from the level either way.
    used[i] = bucketUsed(bucket[1], bucket[2] + (settleNow and 0 or amounts[i]))
  else
    used[i] = used[i] + amounts[i]
  end
end
touch(ttl)
return {1, '0', '', clients, unpack(used)}
`;
