-- rueidisfs quota fence (see meta/quotafence.go): the string KEYS[1] holds
-- "count <dir> <token>" with a lease while a client counts the usage of a new
-- directory quota, and "quota <dir> <token>" without expiry once it stored it.
--
-- ARGV[1] is the operation, ARGV[2] the caller's fence value:
--   'take'    set the fence with a lease of ARGV[3] ms unless another count
--             holds it; returns false (nil) when taken, else the holder's value
--   'renew'   extend the lease to ARGV[3] ms if the fence is still ours: 1, else 0
--   'release' delete the fence if it is still ours: 1, else 0

local key, op, mine = KEYS[1], ARGV[1], ARGV[2]
local v = redis.call('GET', key)
if op == 'take' then
  if v and string.sub(v, 1, 6) == 'count ' then return v end
  redis.call('SET', key, mine, 'PX', ARGV[3])
  return false
end
if v ~= mine then return 0 end
if op == 'renew' then return redis.call('PEXPIRE', key, ARGV[3]) end
if op == 'release' then return redis.call('DEL', key) end
return redis.error_reply('quotafence.lua: unknown operation ' .. tostring(op))
