// The Lua of what makes the processes on one key act as one client beyond the windows: the server's
// word any of them heard (a cooldown, a remaining budget), and the best priority each of them waits with.
import { PRELUDE } from './redis-lua-prelude.js';

/*
 * The line for the shared concurrency: `sleepers` (hash) holds each process (clientId) refused by it,
 * "<priority> <since> <until> <woken>": the priority of the task it asked for, when it joined (kept
 * while it is refused again: its place in line), when its entry lapses (its refusal's wait plus hold; a
 * process that died or stopped asking is forgotten then) and whether a release woke it (1) since.
 * Best priority first, then the longest waiting. While processes are in line a start is granted only to
 * one with room left after every process ahead of it has taken a unit: a process that was not refused
 * (one whose task just ended, say) goes to the back. A release wakes as many sleepers as it freed grants,
 * each by name ('release:<clientId>' on the channel); the others sleep on. A woken process that leaves
 * the line without a grant (refused by something else, or with nothing to ask) passes its wake on, and
 * so does one that does not ask within hold: its entry lapses, and the next script to read the line
 * wakes the next sleeper in its place.
 */
export const SLEEPERS = `
local function sleeperOf(clientId)
  local value = redis.call('HGET', sleepersKey, clientId)
  if not value then return nil end
  local priority, since, ends, woken = string.match(value, '^(%S+) (%S+) (%S+) (%d)$')
  return {id = clientId, priority = tonumber(priority), since = tonumber(since), ends = tonumber(ends), woken = woken == '1'}
end

local function saveSleeper(s)
  redis.call('HSET', sleepersKey, s.id, string.format('%.17g %.17g %.17g %d', s.priority, s.since, s.ends, s.woken and 1 or 0))
end

-- Wakes that lapsed unused (a woken process did not ask within hold): each goes to the next in line.
local lapsedWakes = 0

-- The live sleepers in line order; lapsed ones are dropped.
local function line()
  local rows = redis.call('HGETALL', sleepersKey)
  local live = {}
  for i = 1, #rows, 2 do
    local priority, since, ends, woken = string.match(rows[i + 1], '^(%S+) (%S+) (%S+) (%d)$')
    if tonumber(ends) <= now then
      redis.call('HDEL', sleepersKey, rows[i])
      if woken == '1' then lapsedWakes = lapsedWakes + 1 end
    else live[#live + 1] = {id = rows[i], priority = tonumber(priority), since = tonumber(since), ends = tonumber(ends), woken = woken == '1'} end
  end
  table.sort(live, function(a, b)
    if a.priority ~= b.priority then return a.priority < b.priority end
    if a.since ~= b.since then return a.since < b.since end
    return a.id < b.id
  end)
  return live
end

-- How many processes are in line ahead of clientId, were it to wait with this priority.
local function ahead(clientId, priority)
  local own = sleeperOf(clientId)
  local since = own and own.since or now
  local count = 0
  for _, s in ipairs(line()) do
    if s.id ~= clientId and (s.priority < priority or (s.priority == priority and s.since <= since)) then count = count + 1 end
  end
  return count
end

-- clientId waits in line with this priority until wait + hold from now (keeping its place if in line).
local function sleep(clientId, priority, wait, hold)
  local own = sleeperOf(clientId)
  saveSleeper({id = clientId, priority = priority, since = own and own.since or now, ends = now + wait + hold, woken = false})
end

-- Wakes the next n sleepers not woken yet, by name, and one more for each wake that lapsed unused; each
-- has hold ms to ask. Returns how many it woke.
local function wakeSleepers(n, channel, hold)
  local live = line()
  n = n + lapsedWakes
  lapsedWakes = 0
  local woken = 0
  for _, s in ipairs(live) do
    if woken >= n then break end
    if not s.woken then
      s.woken = true
      s.ends = math.min(s.ends, now + hold)
      saveSleeper(s)
      redis.call('PUBLISH', channel, 'release:' .. s.id)
      woken = woken + 1
    end
  end
  return woken
end

-- The reply's view of the line: how many others wait in it, and whether clientId does (1) or not (0).
local function lineView(clientId)
  local n = redis.call('HLEN', sleepersKey)
  local own = redis.call('HEXISTS', sleepersKey, clientId)
  return n - own, own
end

-- Passes on the wakes that lapsed unused, found while reading the line.
local function passLapsedWakes(channel, hold)
  if lapsedWakes > 0 then wakeSleepers(0, channel, hold) end
end

-- clientId leaves the line; a wake it had not used goes to the next sleeper (passOn).
local function leaveLine(clientId, passOn, channel, hold)
  local own = sleeperOf(clientId)
  if not own then return end
  redis.call('HDEL', sleepersKey, clientId)
  if passOn and own.woken then wakeSleepers(1, channel, hold) end
end
`;

/**
 * ARGV: channel, clientId, hold. A process woken by name with nothing to ask for leaves the line and
 * passes its wake on (see SLEEPERS), so that the room it was woken for is not left unused, and takes
 * back its word on the priority it waited with.
 */
export const WAKE = `${PRELUDE}
${SLEEPERS}
leaveLine(ARGV[2], true, ARGV[1], tonumber(ARGV[3]))
-- Nor does it wait with a priority any more (see FLEET_CHECKS).
if redis.call('ZREM', waitersKey, ARGV[2]) == 1 then
  redis.call('ZREM', waitUntilKey, ARGV[2])
  redis.call('PUBLISH', ARGV[1], 'priority')
end
return 1
`;

/*
 * The server's word lives in the client's `state` hash, one field per currency: `cd:<currency>` to the
 * end of a cooldown, and `bd:<currency>` to "<remaining> <end>", a budget until its reset (Redis's clock,
 * ms). Fields whose time has passed are dropped when read.
 *
 * Waiting priorities: `waiters` (zset) holds each process (clientId) that was refused, scored by the
 * priority of the task it asked for; `waitUntil` (zset) the time its word lapses: the refusal's wait
 * plus `hold` (what the process needs to ask again once that wait is over). A grant never goes to a
 * task of a worse priority (a higher number) while another process's word holds; a grant to a process
 * with nothing more to ask for takes its word back, and announces it ('priority').
 *
 * Used by ACQUIRE, after its ARGV are read (clientId, priority, hold).
 */
export const FLEET_CHECKS = `${SLEEPERS}
-- How long the server's word holds a start of these amounts back, and why ('cooldown' or 'budget').
local function heldByWord(amounts)
  local wait, why = 0, nil
  for currency, amount in pairs(amounts) do
    if amount > 0 then
      local word = redis.call('HMGET', stateKey, 'cd:' .. currency, 'bd:' .. currency)
      local ends = tonumber(word[1])
      if ends then
        if ends <= now then redis.call('HDEL', stateKey, 'cd:' .. currency)
        elseif ends - now > wait then wait, why = ends - now, 'cooldown' end
      end
      if word[2] then
        local left, resets = string.match(word[2], '^(%S+) (%S+)$')
        left, resets = tonumber(left), tonumber(resets)
        if resets <= now then redis.call('HDEL', stateKey, 'bd:' .. currency)
        elseif left < amount and resets - now > wait then wait, why = resets - now, 'budget' end
      end
    end
  end
  return wait, why
end

-- A granted start comes off every budget of its currencies.
local function spendWord(amounts)
  for currency, amount in pairs(amounts) do
    if amount > 0 then
      local field = 'bd:' .. currency
      local budget = redis.call('HGET', stateKey, field)
      if budget then
        local left, resets = string.match(budget, '^(%S+) (%S+)$')
        redis.call('HSET', stateKey, field, string.format('%.17g %.17g', tonumber(left) - amount, tonumber(resets)))
      end
    end
  end
end

-- The shared windows' version (0: none yet), and the windows themselves when \`known\` is not it ('').
local function policyNews(known)
  local version = tonumber(redis.call('HGET', stateKey, 'polv')) or 0
  if version == known then return version, '' end
  return version, redis.call('HGET', stateKey, 'pol') or ''
end

-- When the word of a process waiting with a better priority than this task's lapses (nil: none waits).
local function betterWaiting()
  local lapsed = redis.call('ZRANGEBYSCORE', waitUntilKey, '-inf', now)
  if #lapsed > 0 then
    redis.call('ZREM', waitersKey, unpack(lapsed))
    redis.call('ZREMRANGEBYSCORE', waitUntilKey, '-inf', now)
  end
  -- The two best: the first may be this process's own word.
  local best = redis.call('ZRANGE', waitersKey, 0, 1, 'WITHSCORES')
  for i = 1, #best, 2 do
    if best[i] ~= clientId then
      if tonumber(best[i + 1]) < priority then return tonumber(redis.call('ZSCORE', waitUntilKey, best[i])) end
      return nil
    end
  end
  return nil
end

-- This process waits with the task's priority until \`wait\` from now has passed, plus hold.
local function waitWith(wait)
  redis.call('ZADD', waitersKey, priority, clientId)
  redis.call('ZADD', waitUntilKey, now + wait + hold, clientId)
end

-- A grant: with more to ask for (more), the process keeps its word for its next question; without, it
-- takes it back and announces that (processes it held wake).
local function leaveWord(more, channel)
  if more then
    waitWith(0)
  elseif redis.call('ZREM', waitersKey, clientId) == 1 then
    redis.call('ZREM', waitUntilKey, clientId)
    redis.call('PUBLISH', channel, 'priority')
  end
end
`;

/**
 * ARGV: kind ('cooldown' | 'budget' | 'policy'), currency, then for a cooldown its length (ms from now), for a
 * budget the units remaining and the ms until its reset, for a policy the requests windows a server's
 * quota tightened ("limit:windowMs,...": `state` keeps, per windowMs, the lowest limit any process
 * heard, as `pol`, and counts its changes as `polv`; every acquire answers them to a process that has
 * not heard that version). A cooldown only ever grows: an earlier end
 * never replaces a later one. A budget of a new period (a reset later than the known one's) replaces
 * it; one of the same period can only lower what remains (the answers of concurrent requests can
 * arrive out of order). The keys live at least until the word has lapsed.
 */
export const FEEDBACK = `${PRELUDE}
local kind, currency = ARGV[1], ARGV[2]
local life = 0
if kind == 'policy' then
  local limits = {}
  for limit, windowMs in string.gmatch(redis.call('HGET', stateKey, 'pol') or '', '(%d+):(%d+)') do limits[windowMs] = tonumber(limit) end
  local changed = false
  for limit, windowMs in string.gmatch(ARGV[3], '(%d+):(%d+)') do
    limit = tonumber(limit)
    if not limits[windowMs] or limit < limits[windowMs] then
      limits[windowMs] = limit
      changed = true
    end
  end
  if changed then
    local parts = {}
    for windowMs, limit in pairs(limits) do parts[#parts + 1] = limit .. ':' .. windowMs end
    table.sort(parts)
    redis.call('HSET', stateKey, 'pol', table.concat(parts, ','))
    redis.call('HINCRBY', stateKey, 'polv', 1)
  end
elseif kind == 'cooldown' then
  local ends = now + tonumber(ARGV[3])
  local known = tonumber(redis.call('HGET', stateKey, 'cd:' .. currency))
  if not known or ends > known then redis.call('HSET', stateKey, 'cd:' .. currency, string.format('%.17g', ends)) end
  life = tonumber(ARGV[3])
else
  local left, resets = tonumber(ARGV[3]), now + tonumber(ARGV[4])
  local field = 'bd:' .. currency
  local known = redis.call('HGET', stateKey, field)
  if known then
    local knownLeft, knownResets = string.match(known, '^(%S+) (%S+)$')
    knownLeft, knownResets = tonumber(knownLeft), tonumber(knownResets)
    -- The same period, give or take a second of rounding in the server's reset: keep the lower.
    if knownResets > now and resets <= knownResets + 1000 then left = math.min(left, knownLeft) end
    if knownResets > resets then resets = knownResets end
  end
  redis.call('HSET', stateKey, field, string.format('%.17g %.17g', left, resets))
  life = resets - now
end
touch(math.ceil(life))
return 1
`;
