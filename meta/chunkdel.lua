-- rueidisfs chunk deletion.
--
-- Deletes one chunk list of a deleted file and releases its slice
-- references, atomically: every record with a non-zero slice id loses one
-- reference in the sliceRef hash (an absent field means one reference, so
-- the count goes to -1 when the last reference is dropped).
--
-- KEYS: the chunk list c{ino}_{indx}, sliceRef[, txnLog, txnLastLog]
-- ARGV: [1] change-log entry or '' when the change log is off
-- Reply: the sliceRef fields k{id}_{size} whose count went below zero (their
-- data is unreferenced and may be deleted).
local recs = redis.call('LRANGE', KEYS[1], 0, -1)
for i = 1, #recs do
  if string.len(recs[i]) ~= 24 then
    return redis.error_reply('CORRUPT slice record ' .. i .. ' of ' .. KEYS[1] .. ' has ' .. string.len(recs[i]) .. ' bytes')
  end
end
local freed = {}
for i = 1, #recs do
  local id = struct.unpack('>I8', recs[i], 5)
  if id > 0 then
    local size = struct.unpack('>I4', recs[i], 13)
    local field = 'k' .. string.format('%.0f', id) .. '_' .. string.format('%.0f', size)
    if redis.call('HINCRBY', KEYS[2], field, -1) < 0 then
      freed[#freed + 1] = field
    end
  end
end
redis.call('DEL', KEYS[1])
if ARGV[1] ~= '' and KEYS[3] then
  redis.call('RPUSH', KEYS[3], ARGV[1])
  redis.call('INCR', KEYS[4])
end
return freed
