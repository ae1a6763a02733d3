// The Lua an acquire decides with, for one counter set at a time (the client's, or a tenant key's): the
// prune of what no window sees any more, and the check of every sliding window and bucket asked for.

/*
 * Needs the prelude and the acquire's own locals: weight, cost (decoded), margin. A window in ARGV is
 * four values: limit, windowMs, counts ('requests' or a currency), burst (0: a sliding window).
 */
export const CHECKS = `
-- The longest span (windowMs + margin) of the windows ARGV[first..last], and the longest refill of a
-- bucket among them (a bucket's log reaches back as far as it takes to fill).
local function spans(first, last)
  local longest, longestBucket = 0, 0
  for i = first, last, 4 do
    longest = math.max(longest, tonumber(ARGV[i + 1]) + margin)
    local burst = tonumber(ARGV[i + 3])
    if burst > 0 then longestBucket = math.max(longestBucket, burst * tonumber(ARGV[i + 1]) / tonumber(ARGV[i]) + margin) end
  end
  return longest, longestBucket
end

-- Prunes only what the longest window any process has used for c (its "maxWindow", raised to \`span\`)
-- no longer sees. Returns that longest window.
local function prune(c, span)
  local maxWindow = stateNumber(c, 'maxWindow')
  if span > maxWindow then
    maxWindow = span
    redis.call('HSET', c.state, 'maxWindow', maxWindow)
  end
  local oldest = now - maxWindow
  redis.call('ZREMRANGEBYSCORE', c.log, '-inf', oldest)
  -- Before spend forgets what no window sees, no running sum may count it: a sum not asked for in a
  -- whole longest window is forgotten (a scan when asked again costs what keeping it would), the others
  -- move past it.
  for name, w in pairs(loadSums(c)) do
    if w.seen < oldest then forgetSum(c, name) elseif w.cursor < oldest then advanceSum(c, name, w, oldest) end
  end
  local gone = redis.call('ZRANGEBYSCORE', c.spend, '-inf', oldest)
  if #gone > 0 then
    local entries = {}
    for _, member in ipairs(gone) do
      entries[#entries + 1] = string.match(member, '^(.*)|')
      if #entries >= 1000 then redis.call('HDEL', c.costs, unpack(entries)); entries = {} end
    end
    if #entries > 0 then redis.call('HDEL', c.costs, unpack(entries)) end
    redis.call('ZREMRANGEBYSCORE', c.spend, '-inf', oldest)
  end
  return maxWindow
end

-- The live amount of a currency in a window of this span: its running sum, moved up to the window's
-- cutoff. Counted from the log the first time (or again should the sum disagree with the log: its
-- member count checks that in O(log n), in case a key was evicted, or the clock went back).
local function liveSum(c, currency, span)
  local name = currency .. '@' .. string.format('%.17g', span)
  local cutoff = now - span
  local sums = loadSums(c)
  local w = sums[name]
  if w and cutoff > w.cursor then advanceSum(c, name, w, cutoff) end
  if not w or cutoff < w.cursor or w.sum < 0 or
      redis.call('ZCOUNT', c.spend, string.format('(%.17g', cutoff), '+inf') ~= w.count then
    local members = redis.call('ZRANGEBYSCORE', c.spend, string.format('(%.17g', cutoff), '+inf')
    local sum = 0
    for _, member in ipairs(members) do sum = sum + (decodeCost(memberCost(member))[currency] or 0) end
    w = {currency = currency, span = span, cursor = cutoff, sum = sum, count = #members}
    sums[name] = w
    c.forgottenSums[name] = nil
  end
  w.seen = now
  c.changedSums[name] = true
  return w.sum
end

-- The start above \`cutoff\` at whose expiry the live starts up to it have freed \`needed\` of a currency:
-- read oldest first, a page at a time, so that a refusal reads what must expire, not the whole window.
local function freedAt(c, currency, cutoff, needed)
  local rank = redis.call('ZCOUNT', c.spend, '-inf', cutoff)
  local freed = 0
  while true do
    local rows = redis.call('ZRANGE', c.spend, rank, rank + 99, 'WITHSCORES')
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
local function newBucket(c, field, currency, limit, windowMs, burst)
  local interval = windowMs / limit
  local cutoff = now - windowMs
  local recent
  if currency == 'requests' then
    recent = redis.call('ZCOUNT', c.log, string.format('(%.17g', cutoff), '+inf')
  else
    recent = 0
    for _, member in ipairs(redis.call('ZRANGEBYSCORE', c.spend, string.format('(%.17g', cutoff), '+inf')) do
      recent = recent + (decodeCost(memberCost(member))[currency] or 0)
    end
  end
  local missing = recent
  local buckets = loadBuckets(c)
  for _, other in pairs(buckets) do
    if other.currency == currency then missing = math.max(missing, (other.tat - now) / other.interval) end
  end
  local b = {currency = currency, interval = interval, burst = burst, tat = now + math.min(missing, burst) * interval}
  buckets[field] = b
  c.changedBuckets[field] = true
  return b
end

-- burst - level: a bucket's whole units not there now (level as TokenBucket's usage counts it).
local function bucketUsed(b, waiting)
  local missing = math.max(0, b.tat - now) / b.interval + waiting
  return b.burst - math.max(0, math.floor(b.burst - missing + 1e-9))
end

-- A sliding window: the live starts of its span, and the pending ones (which land no earlier than now).
local function checkWindow(c, r, limit, span, counts)
  -- Live while start + span > now: a start exactly span later is allowed.
  local cutoff = now - span
  local live, waiting, amount
  if counts == 'requests' then
    amount = weight
    live = redis.call('ZCOUNT', c.log, string.format('(%.17g', cutoff), '+inf')
    waiting = r.pending
  else
    amount = cost[counts] or 0
    live = liveSum(c, counts, span)
    waiting = stateNumber(c, 'p:' .. counts)
  end
  r.amounts[#r.amounts + 1] = amount
  local inUse = live + waiting
  r.used[#r.used + 1] = inUse
  local mustExpire = inUse + amount - limit
  -- A start that costs none of a window's currency is not held back by it (requests cost >= 1).
  if amount <= 0 or mustExpire <= 0 then return end
  if amount > limit then
    r.byWindow = true
    r.wait = math.max(r.wait, span)
  elseif mustExpire > live then
    -- Pending starts land in the log no earlier than now: their room frees no sooner than span.
    r.byPending = true
    r.wait = math.max(r.wait, span)
  else
    r.byWindow = true
    local at
    if counts == 'requests' then
      local first = redis.call('ZRANGEBYSCORE', c.log, string.format('(%.17g', cutoff), '+inf', 'WITHSCORES', 'LIMIT', mustExpire - 1, 1)
      at = tonumber(first[2])
    else
      at = freedAt(c, counts, cutoff, mustExpire)
    end
    -- Not found only if the counts disagree with the log: wait a whole window rather than guess.
    r.wait = math.max(r.wait, at and at + span - now or span)
  end
end

-- A bucket, as TokenBucket.wait decides (the field's parts are ARGV's own text, so every process names
-- a shape alike).
local function checkBucket(c, r, limitText, windowText, counts, burstText)
  local limit, windowMs, burst = tonumber(limitText), tonumber(windowText), tonumber(burstText)
  local amount = counts == 'requests' and weight or (cost[counts] or 0)
  local waiting = counts == 'requests' and r.pending or stateNumber(c, 'p:' .. counts)
  local field = 'b:' .. counts .. ':' .. limitText .. ':' .. windowText .. ':' .. burstText
  local b = loadBuckets(c)[field] or newBucket(c, field, counts, limit, windowMs, burst)
  r.amounts[#r.amounts + 1] = amount
  r.used[#r.used + 1] = bucketUsed(b, waiting)
  r.asked[#r.used] = {b, waiting}
  if amount <= 0 then return end
  if amount > burst then
    -- Never fits (the client refuses such a cost before it asks): a whole refill, then again.
    r.byWindow = true
    r.wait = math.max(r.wait, burst * b.interval)
    return
  end
  local bucketWait = math.max(b.tat, now) + (waiting + amount - burst) * b.interval - now
  -- Floating-point noise (an interval of 74 / 3 ms) is not a wait: 24.000000000000004 is 24.
  local whole = math.floor(bucketWait + 0.5)
  if math.abs(bucketWait - whole) < 1e-9 then bucketWait = whole end
  if bucketWait <= 0 then return end
  -- While the pending units fit beside the cost, refill alone makes the room, at a time known now;
  -- otherwise they hold it until they settle.
  if waiting > 0 and waiting + amount > burst then r.byPending = true else r.byWindow = true end
  r.wait = math.max(r.wait, bucketWait)
end

-- Checks the windows ARGV[first..last] against c: {byPending, byWindow, wait, used, amounts, asked}, used
-- and amounts by window, asked: for each bucket (by its position in used), {bucket, its currency's
-- pending amount}.
local function check(c, first, last)
  local r = {pending = stateNumber(c, 'pending'), byPending = false, byWindow = false, wait = 0, used = {}, amounts = {}, asked = {}}
  for i = first, last, 4 do
    if ARGV[i + 3] ~= '0' then
      checkBucket(c, r, ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
    else
      checkWindow(c, r, tonumber(ARGV[i]), tonumber(ARGV[i + 1]) + margin, ARGV[i + 2])
    end
  end
  return r
end

-- After a grant: each window's use with the start in it (pending or taken just now, the cost is
-- missing from a bucket's level either way).
local function usedAfter(r, settleNow)
  for i = 1, #r.used do
    local bucket = r.asked[i]
    if bucket then
      r.used[i] = bucketUsed(bucket[1], bucket[2] + (settleNow and 0 or r.amounts[i]))
    else
      r.used[i] = r.used[i] + r.amounts[i]
    end
  end
  return r.used
end
`;
