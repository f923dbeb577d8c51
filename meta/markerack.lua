-- rueidisfs replay markers (see meta/marker.go): deletes the markers ARGV of
-- acknowledged transactions from the marker hash KEYS[1].
--
-- Deleting the last fields of a hash deletes the hash, and the next
-- transaction, told that the hash has its expiry already, would make it anew
-- without one. So while the hash has an expiry it keeps a placeholder field
-- (named "", never a marker's id) and lives until it expires.
local key = KEYS[1]
if redis.call('PTTL', key) > 0 then
  redis.call('HSET', key, '', '')
end
return redis.call('HDEL', key, unpack(ARGV))
