-- rueidisfs lock update: compare-and-set of one lock holder's field.
--
-- A lock hash (lockf{ino} or lockp{ino}) maps holder fields "<sid>_<owner>"
-- to their locks. The client decided the holder's new value from the whole
-- hash as it saw it; this script applies that value only if the hash still
-- holds exactly what the client saw, so a decision is never committed on
-- stale contents. Otherwise it returns the current contents and changes
-- nothing; the client decides again from them.
--
-- KEYS[1] the lock hash   KEYS[2] locked{sid} of the holder's session
-- KEYS[3] txnLog          KEYS[4] txnLastLog  (used only with a log entry)
-- ARGV[1] the holder's field
-- ARGV[2] its new value, '' to remove the field
-- ARGV[3] the session prefix of fields, "<sid>_"
-- ARGV[4] change-log entry, '' for none
-- ARGV[5] n, then n field/value pairs: the hash as the client saw it
--
-- Reply: {1} when applied; {0, field1, value1, ...} with the current hash
-- when it changed.
--
-- The session keeps the lock key in locked{sid} while any field of the
-- session remains in the hash, so that cleaning the session finds it.

local key, locked = KEYS[1], KEYS[2]
local field, value, prefix, entry = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local call = redis.call

local current = call('HGETALL', key)
local n = tonumber(ARGV[5])
local same = #current == 2 * n
if same then
  local have = {}
  for i = 1, #current, 2 do have[current[i]] = current[i + 1] end
  for i = 6, 5 + 2 * n, 2 do
    if have[ARGV[i]] ~= ARGV[i + 1] then
      same = false
      break
    end
  end
end
if not same then
  table.insert(current, 1, 0)
  return current
end

if value ~= '' then
  call('HSET', key, field, value)
  call('SADD', locked, key)
else
  call('HDEL', key, field)
  local still = false
  local plen = #prefix
  for _, f in ipairs(call('HKEYS', key)) do
    if string.sub(f, 1, plen) == prefix then
      still = true
      break
    end
  end
  if not still then call('SREM', locked, key) end
end
if entry ~= '' then
  call('RPUSH', KEYS[3], entry)
  call('INCR', KEYS[4])
end
return {1}
