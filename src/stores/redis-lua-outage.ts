// The Lua of an outage's end: the starts this process granted without Redis logged there (record), and
// the write that tells whether Redis takes the store's writes again (probe).
import { PRELUDE } from './redis-lua-prelude.js';

/**
 * ARGV: leaseTtlMs, then (id, weight, ageMs, live, holds, pending, cost, extra, extraAgeMs, group,
 * keySpanMs) for each start this process made while Redis was down (by its failure mode), so that they
 * count after the outage: a start is logged `ageMs` before Redis's now, with its cost; one still
 * running (`live`) gets a lease, holding the shared concurrency (`holds`) or staying pending until
 * settled (`pending`: not logged yet). `extra` is what an amend added to the cost, logged `extraAgeMs`
 * before now ('' for none). An id Redis already knows (a late grant of the same acquire) is first
 * undone, so nothing counts twice in the windows. A keyed start (group > 0) counts in its tenant key's
 * counters too, which live at least `keySpanMs` (its longest window as the process knows it) from now.
 *
 * The buckets take each start (and each extra) at its time, oldest first, as GCRA counts them. What a
 * late grant of a known id took of the buckets stays taken (it can not be told apart from what came
 * after it): counted twice, on the safe side, and only for an acquire that timed out as Redis answered.
 */
export const RECORD = `${PRELUDE}
reap()
local leaseTtl = tonumber(ARGV[1])
-- What the buckets take, {counters, amounts, at}: sorted by time once every start is known.
local taken = {}
for i = 2, #ARGV, 11 do
  local id, w, age = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local live, holds, pending = ARGV[i + 3] == '1', ARGV[i + 4] == '1', ARGV[i + 5] == '1'
  local cost, extra, extraAge = ARGV[i + 6], ARGV[i + 7], tonumber(ARGV[i + 8])
  local key = tenant(ARGV[i + 9])
  local sets = {C}
  if key then
    sets[2] = key
    local span = tonumber(ARGV[i + 10])
    if span > stateNumber(key, 'maxWindow') then redis.call('HSET', key.state, 'maxWindow', span) end
    key.ttl = math.max(key.ttl or 0, span + (pending and leaseTtl or 0))
    dropPending(key, id)
  end
  local known = redis.call('HGET', infoKey, id)
  if known then
    local kw, kc, kp, kcost = parseInfo(known)
    if kc then redis.call('HINCRBY', stateKey, 'held', -kw) end
    if kp then
      redis.call('HINCRBY', stateKey, 'pending', -kw)
      addPending(C, kcost, -1)
    end
    redis.call('HDEL', infoKey, id)
    redis.call('ZREM', leasesKey, id)
  end
  for _, c in ipairs(sets) do
    for unit = 0, w - 1 do redis.call('ZREM', c.log, id .. '#' .. unit) end
    logCost(c, id, '', now)
    if not pending then
      logUnits(c, id, w, now - age)
      logCost(c, id, cost, now - age)
      taken[#taken + 1] = {c, amountsOf(w, cost), now - age}
    end
    if extra ~= '' then
      logCost(c, id .. '+', extra, now - extraAge)
      taken[#taken + 1] = {c, decodeCost(extra), now - extraAge}
    end
  end
  if pending then
    redis.call('HINCRBY', stateKey, 'pending', w)
    addPending(C, cost, 1)
    if key then holdPending(key, id, w, cost) end
  end
  if live and (holds or pending) then
    if holds then redis.call('HINCRBY', stateKey, 'held', w) end
    redis.call('ZADD', leasesKey, now + leaseTtl, id)
    redis.call('HSET', infoKey, id, infoValue(w, holds, pending, pending and cost or ''))
  end
end
table.sort(taken, function(a, b) return a[3] < b[3] end)
for _, start in ipairs(taken) do countBuckets(start[1], start[2], start[3], 1) end
touch(math.ceil(leaseTtl + stateNumber(C, 'maxWindow')))
return 1
`;

/** A write that changes nothing (the keys' expiry): answers only where the store could work. */
export const PROBE = `${PRELUDE}
touch(0)
return 1
`;
