-- rueidisfs chunk deletion.
--
-- Deletes one chunk list and releases its slice references, atomically:
-- every record with a non-zero slice id loses one reference in the sliceRef
-- hash (an absent field means one reference, so the count goes to -1 when
-- the last reference is dropped).
--
-- KEYS: [1] the chunk list c{ino}_{indx}, [2] sliceRef, [3] the file's
--       attribute key, [4] txnLog, [5] txnLastLog (only written when a
--       change-log entry is given)
-- ARGV: [1] change-log entry or ''
--       [2] guard: '' (the file is gone: delete the chunk, unless the
--           file's attribute exists after all — a delfiles member or a
--           leaked chunk list naming a live file is corruption, and its data
--           is kept) or the byte offset where the chunk starts, in which
--           case the chunk is only deleted while the file (KEYS[3]) ends at
--           or before it — a file that was shrunk and is being written again
--           keeps its chunk.
-- Reply: the sliceRef fields k{id}_{size} whose count went below zero (their
-- data is unreferenced and may be deleted).
if ARGV[2] ~= '' then
  local attr = redis.call('GET', KEYS[3])
  if attr and string.len(attr) >= ${ATTR_MIN_LEN} and struct.unpack('>I8', attr, ${ATTR_LENGTH} + 1) > tonumber(ARGV[2]) then
    return {}
  end
elseif redis.call('EXISTS', KEYS[3]) == 1 then
  return redis.error_reply('CORRUPT ' .. KEYS[1] .. ' is to be deleted with its file, but the file ' .. KEYS[3] .. ' exists')
end
local recs = redis.call('LRANGE', KEYS[1], 0, -1)
for i = 1, #recs do
  if string.len(recs[i]) ~= ${SLICE_RECORD_SIZE} then
    return redis.error_reply('CORRUPT slice record ' .. i .. ' of ' .. KEYS[1] .. ' has ' .. string.len(recs[i]) .. ' bytes')
  end
end
-- Nothing may fail after the first write (Redis keeps a failed script's
-- earlier writes): the reference counts and the log keys are checked first.
${GUARD_FUNCS}
local fields = {}
for i = 1, #recs do
  local id = struct.unpack('>I8', recs[i], ${SLICE_ID} + 1)
  if id > 0 then
    local size = struct.unpack('>I4', recs[i], ${SLICE_SIZE} + 1)
    local field = 'k' .. string.format('%.0f', id) .. '_' .. string.format('%.0f', size)
    local e = badfield(KEYS[2], field)
    if e then return e end
    fields[#fields + 1] = field
  end
end
if ARGV[1] ~= '' and KEYS[4] then
  local e = badtype(KEYS[4], 'list') or badint(KEYS[5])
  if e then return e end
end
local freed = {}
for _, field in ipairs(fields) do
  if redis.call('HINCRBY', KEYS[2], field, -1) < 0 then
    freed[#freed + 1] = field
  end
end
redis.call('DEL', KEYS[1])
if ARGV[1] ~= '' and KEYS[4] then
  redis.call('RPUSH', KEYS[4], ARGV[1])
  redis.call('INCR', KEYS[5])
end
return freed
