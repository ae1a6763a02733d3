// The Lua of an acquire: the one script that decides a grant, against every window and bucket of every
// currency, the tenant key's as well as the client's, and the shared concurrency at once, on Redis's clock.
import { CHECKS } from './redis-lua-checks.js';
import { FLEET_CHECKS } from './redis-lua-fleet.js';
import { CLIENT_KEY_COUNT, PRELUDE } from './redis-lua-prelude.js';

/**
 * ARGV: id, clientId, weight, settle (0|1), concurrency (-1 = none), leaseTtlMs, marginMs, clientTtlMs,
 * cost ("tokens=1800,points=3", '' for none), priority, more (1: the process has more tasks waiting
 * after this one), hold (ms: see FLEET_CHECKS), channel (for 'priority' announcements), the version of
 * the shared policy this process knows (-1: none), extra (how many more starts of the same kind it
 * could use at once: see the batch below), the number of the client's windows, then limit, windowMs,
 * counts ('requests' or a currency), burst (0: a sliding window) for each of the client's windows, then
 * for each of the tenant key's (when KEYS has its group). Returns {granted, waitMs (string), blockedBy
 * ('' = none), clients, others, inLine, policyVersion, policy, extra, used...} (others: how many other
 * processes wait in line for the concurrency, inLine: 1 when this one does; policy: the shared
 * windows, see FEEDBACK, when their version is not the one known, else ''; a bucket's used is burst -
 * level); for a keyed acquire {granted, waitMs, blockedBy, clients, others, inLine, policyVersion,
 * policy, extra, byKey (1: the key's windows refused), used...}, used being the client's
 * windows then the key's, or only the key's when the key refused (the client's are then not checked).
 *
 * A keyed start must fit its key's windows and the client's at once: the key's are checked first, and
 * a grant takes room in both. Then the server's word shared by the fleet (a cooldown or a spent budget:
 * blockedBy 'cooldown' or 'budget'), the client's windows and concurrency, and last the priorities other
 * processes wait with ('priority'). Every refusal by the client's limits leaves this process's word
 * that it waits with this priority (see FLEET_CHECKS). Concurrency and leases stay the client's: a key's concurrency is kept in
 * each process by its scheduler, not in Redis.
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
local priority, more, hold, channel = tonumber(ARGV[10]), ARGV[11] == '1', tonumber(ARGV[12]), ARGV[13]
local knownPolicy = tonumber(ARGV[14])
local extra = tonumber(ARGV[15])
local FIRST = 17
local LAST = FIRST + 4 * tonumber(ARGV[16]) - 1
-- How many more starts of the same kind this answer grants besides the first (see BATCH).
local extraGranted = 0
${CHECKS}
${FLEET_CHECKS}
reap()

local span, longestBucket = spans(FIRST, LAST)
local ttl = math.ceil(math.max(prune(C, span), longestBucket) + leaseTtl + clientTtl)

local clientsKey = KEYS[5]
redis.call('ZREMRANGEBYSCORE', clientsKey, '-inf', now)
redis.call('ZADD', clientsKey, now + clientTtl, clientId)
local clients = redis.call('ZCARD', clientsKey)

-- What ends a refusal: a settle or release for pending starts; else time, for a window (a release
-- would not help: asking again on one would be a wasted round trip); else a release.
local function refusal(byPending, byWindow, wait)
  if byWindow and not byPending then return wait, 'window' end
  -- Held by leases: ask again when the first one can expire, unless a release is announced first.
  local first = redis.call('ZRANGE', leasesKey, 0, 0, 'WITHSCORES')
  if first[2] then wait = math.max(wait, tonumber(first[2]) - now) end
  return math.max(wait, 1), byPending and 'pending' or 'concurrency'
end

-- What every answer begins with: the decision, the live clients, the line for the concurrency, and the
-- windows servers told any process of (see FEEDBACK) when this process has not heard them yet.
local function head(granted, wait, blockedBy)
  local others, inLine = lineView(clientId)
  local version, policy = policyNews(knownPolicy)
  return {granted, wait, blockedBy, clients, others, inLine, version, policy, extraGranted}
end

local key = tenant(#KEYS > ${CLIENT_KEY_COUNT} and 1 or 0)
local keyed
if key then
  local keySpan, keyBucket = spans(LAST + 1, #ARGV)
  key.ttl = math.max(prune(key, keySpan), keyBucket)
  keyed = check(key, LAST + 1, #ARGV)
  if keyed.byPending or keyed.byWindow then
    local wait, blockedBy = refusal(keyed.byPending, keyed.byWindow, keyed.wait)
    leaveLine(clientId, true, channel, hold)
    touch(ttl)
    local out = head(0, string.format('%.17g', wait), blockedBy)
    out[#out + 1] = 1
    for _, units in ipairs(keyed.used) do out[#out + 1] = units end
    return out
  end
end

local r = check(C, FIRST, LAST)
-- Processes in line for the concurrency ahead of this one each take a unit first (see SLEEPERS).
local byConcurrency = concurrency >= 0 and stateNumber(C, 'held') + weight + ahead(clientId, priority) > concurrency
passLapsedWakes(channel, hold)
local function reply(granted, wait, blockedBy, used)
  local out = head(granted, wait, blockedBy)
  if keyed then
    out[#out + 1] = 0
    for _, units in ipairs(keyed.used) do used[#used + 1] = units end
  end
  for _, units in ipairs(used) do out[#out + 1] = units end
  return out
end

local amounts = amountsOf(weight, costText)
local wordWait, heldBy = heldByWord(amounts)
if heldBy then
  waitWith(wordWait)
  leaveLine(clientId, true, channel, hold)
  touch(ttl)
  return reply(0, string.format('%.17g', wordWait), heldBy, r.used)
end

if byConcurrency or r.byPending or r.byWindow then
  local wait, blockedBy = refusal(r.byPending, r.byWindow, r.wait)
  waitWith(wait)
  if blockedBy == 'concurrency' then sleep(clientId, priority, wait, hold) else leaveLine(clientId, true, channel, hold) end
  touch(ttl)
  return reply(0, string.format('%.17g', wait), blockedBy, r.used)
end

local betterUntil = betterWaiting()
if betterUntil then
  local wait = math.max(betterUntil - now, 1)
  waitWith(wait)
  leaveLine(clientId, true, channel, hold)
  touch(ttl)
  return reply(0, string.format('%.17g', wait), 'priority', r.used)
end

local holds = concurrency >= 0
if settleNow then
  logUnits(C, id, weight, now)
  logCost(C, id, costText, now)
  countBuckets(C, amountsOf(weight, costText), now + margin, 1)
  if key then
    logUnits(key, id, weight, now)
    logCost(key, id, costText, now)
    countBuckets(key, amountsOf(weight, costText), now + margin, 1)
  end
else
  redis.call('HINCRBY', stateKey, 'pending', weight)
  addPending(C, costText, 1)
  if key then
    holdPending(key, id, weight, costText)
    -- It may land in the key's log as late as its lease's expiry, and count a window after that.
    key.ttl = key.ttl + leaseTtl
  end
end
if holds or not settleNow then
  redis.call('ZADD', leasesKey, now + leaseTtl, id)
  redis.call('HSET', infoKey, id, infoValue(weight, holds, not settleNow, settleNow and '' or costText))
  if holds then redis.call('HINCRBY', stateKey, 'held', weight) end
end
spendWord(amounts)
leaveWord(more, channel)
leaveLine(clientId, false)
-- With more to ask for while others wait in line and would take every unit left, asking again at once
-- would only be refused: this process joins the back of the line now, and waits for its wake.
if more and concurrency >= 0 then
  local others = redis.call('HLEN', sleepersKey)
  if others > 0 and stateNumber(C, 'held') + 1 + others > concurrency then sleep(clientId, priority, leaseTtl, 0) end
end
-- A batch: more starts like this one for the same process's next tasks, while nothing else waits for
-- the room (no tenant key, no cost besides requests, no bucket, settled at once, no server budget, no
-- other process in line for the concurrency or waiting with a priority). Each takes what the first
-- did; as many as every window and the concurrency still have room for. Ids: <id>+1, <id>+2, ...
local function othersWithWord()
  local n = redis.call('ZCARD', waitersKey)
  if redis.call('ZSCORE', waitersKey, clientId) then n = n - 1 end
  return n
end
if extra > 0 and settleNow and not key and costText == '' and redis.call('HLEN', sleepersKey) == 0 and othersWithWord() == 0 then
  local room = extra
  for i = FIRST, LAST, 4 do
    if ARGV[i + 3] ~= '0' then room = 0 end
    if ARGV[i + 2] == 'requests' then
      local used = r.used[(i - FIRST) / 4 + 1] + weight
      room = math.min(room, math.floor((tonumber(ARGV[i]) - used) / weight))
    end
  end
  if holds then room = math.min(room, math.floor((concurrency - stateNumber(C, 'held')) / weight)) end
  if redis.call('HEXISTS', stateKey, 'bd:requests') == 1 then room = 0 end
  for k = 1, room do
    local extraId = id .. '+' .. k
    logUnits(C, extraId, weight, now)
    if holds then
      redis.call('ZADD', leasesKey, now + leaseTtl, extraId)
      redis.call('HSET', infoKey, extraId, infoValue(weight, true, false, ''))
    end
  end
  if room > 0 then
    if holds then redis.call('HINCRBY', stateKey, 'held', weight * room) end
    extraGranted = room
    -- The use the answer reports counts them too.
    for i = FIRST, LAST, 4 do
      if ARGV[i + 2] == 'requests' then
        local n = (i - FIRST) / 4 + 1
        r.used[n] = r.used[n] + weight * room
      end
    end
  end
end
local used = usedAfter(r, settleNow)
if keyed then usedAfter(keyed, settleNow) end
touch(ttl)
return reply(1, '0', '', used)
`;
