-- rueidisfs chunk compaction: swap compacted records for their merged slice.
--
-- The first n records of the chunk list must still be exactly those the
-- compaction read (else the reply is an error "WASTED": the list changed
-- and the merged slice is not used). They are replaced by the skipped
-- leading records (kept as they were), then the new record, in one step;
-- records appended meanwhile stay after them.
--
-- KEYS: [1] the chunk list c{ino}_{indx}, [2] sliceRef, [3] delSlices,
--       [4] txnLog, [5] txnLastLog (only written with a change-log entry)
-- ARGV: [1] the n records read, concatenated (${SLICE_RECORD_SIZE} bytes each)
--       [2] how many leading records are kept (skipped)
--       [3] the new record
--       [4] the new slice's sliceRef field, marked "0" while installed
--       [5] '1': trash enabled: the replaced slices keep their references
--           and are listed in delSlices field ARGV[6] with value ARGV[7]
--           (skipped when ARGV[7] is empty); '0': their references are
--           dropped now, fields ARGV[9..]
--       [8] change-log entry or ''
-- Reply: the sliceRef fields whose count went below zero (trash disabled).
local origin = ARGV[1]
local size = ${SLICE_RECORD_SIZE}
local n = string.len(origin) / size
local cur = redis.call('LRANGE', KEYS[1], 0, n - 1)
if #cur ~= n then
  return redis.error_reply('WASTED chunk has ' .. #cur .. ' records, compaction read ' .. n)
end
for i = 1, n do
  if cur[i] ~= string.sub(origin, (i - 1) * size + 1, i * size) then
    return redis.error_reply('WASTED record ' .. i .. ' changed')
  end
end
-- Nothing may fail after the first write (Redis keeps a failed script's
-- earlier writes): the reference counts and the keys written are checked
-- first.
${GUARD_FUNCS}
local e = badtype(KEYS[2], 'hash') or badtype(KEYS[3], 'hash')
if e then return e end
if ARGV[5] ~= '1' then
  for i = 9, #ARGV do
    e = badfield(KEYS[2], ARGV[i])
    if e then return e end
  end
end
if ARGV[8] ~= '' and KEYS[4] then
  e = badtype(KEYS[4], 'list') or badint(KEYS[5])
  if e then return e end
end
redis.call('LTRIM', KEYS[1], n, -1)
redis.call('LPUSH', KEYS[1], ARGV[3])
for i = tonumber(ARGV[2]), 1, -1 do
  redis.call('LPUSH', KEYS[1], string.sub(origin, (i - 1) * size + 1, i * size))
end
redis.call('HSET', KEYS[2], ARGV[4], '0')
local freed = {}
if ARGV[5] == '1' then
  if ARGV[7] ~= '' then
    redis.call('HSET', KEYS[3], ARGV[6], ARGV[7])
  end
else
  for i = 9, #ARGV do
    if redis.call('HINCRBY', KEYS[2], ARGV[i], -1) < 0 then
      freed[#freed + 1] = ARGV[i]
    end
  end
end
if ARGV[8] ~= '' and KEYS[4] then
  redis.call('RPUSH', KEYS[4], ARGV[8])
  redis.call('INCR', KEYS[5])
end
return freed
