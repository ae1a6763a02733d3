// The Lua of what follows a grant: its start recorded (settle), its end (release), a late start moved
// (restamp), and its lease kept alive while its task runs (renew).
import { PRELUDE } from './redis-lua-prelude.js';

/** ARGV: channel, ids... Returns the ids whose lease was gone. */
export const SETTLE = `${PRELUDE}
reap()
local settled = 0
local lost = eachGrant(function(id, w, c, p)
  if not p then return end
  logUnits(id, w, now)
  redis.call('HINCRBY', stateKey, 'pending', -w)
  settled = settled + 1
  if c then
    redis.call('HSET', infoKey, id, w .. ':10')
  else
    redis.call('HDEL', infoKey, id)
    redis.call('ZREM', leasesKey, id)
  end
end)
-- A pending start became a timed one: waiters can compute their wait now.
if settled > 0 then redis.call('PUBLISH', ARGV[1], 'settle') end
touch(0)
return lost
`;

/** ARGV: channel, ids... Returns the ids whose lease was gone. */
export const RELEASE = `${PRELUDE}
reap()
local released = 0
local lost = eachGrant(function(id, w, c, p)
  -- A start that ended without being settled counts from its end.
  if p then
    logUnits(id, w, now)
    redis.call('HINCRBY', stateKey, 'pending', -w)
  end
  if c then redis.call('HINCRBY', stateKey, 'held', -w) end
  redis.call('HDEL', infoKey, id)
  redis.call('ZREM', leasesKey, id)
  released = released + 1
end)
if released > 0 then redis.call('PUBLISH', ARGV[1], 'release') end
touch(0)
return lost
`;

/**
 * ARGV: (id, weight) for each start that began in its process later than the safety margin allows:
 * its units move in the log to now, the latest moment it can have begun (see RedisStore's `settle`).
 */
export const RESTAMP = `${PRELUDE}
for i = 1, #ARGV, 2 do logUnits(ARGV[i], tonumber(ARGV[i + 1]), now) end
touch(0)
return 1
`;

/** ARGV: leaseTtlMs, ids... Returns the ids whose lease was gone. */
export const RENEW = `${PRELUDE}
reap()
local leaseTtl = tonumber(ARGV[1])
local lost = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('ZSCORE', leasesKey, id) then
    redis.call('ZADD', leasesKey, 'XX', now + leaseTtl, id)
  else
    lost[#lost + 1] = id
  end
end
-- A pending start may now land in the log as late as the new expiry, and count a window after it.
touch(math.ceil(leaseTtl + stateNumber('maxWindow')))
return lost
`;
