// The Lua of what makes the processes on one key act as one client beyond the windows: the server's
// word any of them heard (a cooldown, a remaining budget), and the best priority each of them waits with.
import { PRELUDE } from './redis-lua-prelude.js';

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
export const FLEET_CHECKS = `
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
 * ARGV: kind ('cooldown' | 'budget'), currency, then for a cooldown its length (ms from now), for a
 * budget the units remaining and the ms until its reset. A cooldown only ever grows: an earlier end
 * never replaces a later one. A budget of a new period (a reset later than the known one's) replaces
 * it; one of the same period can only lower what remains (the answers of concurrent requests can
 * arrive out of order). The keys live at least until the word has lapsed.
 */
export const FEEDBACK = `${PRELUDE}
local kind, currency = ARGV[1], ARGV[2]
local life = 0
if kind == 'cooldown' then
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
