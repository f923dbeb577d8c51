-- rueidisfs directory-statistics flush.
--
-- Adds a client's pending deltas to the per-directory statistics hashes, but
-- only for directories whose statistics exist: a missing field means the
-- statistics were never computed (or were dropped when the feature was
-- enabled) and must be recomputed from the directory's entries instead of
-- being started from a delta. Checking and adding in one script keeps a
-- concurrent rmdir (which deletes the fields) from being undone.
--
-- KEYS: dirDataLength, dirUsedSpace, dirUsedInodes, and the hash of this
-- call's replay marker (see txn.lua: a call sent again after its reply was
-- lost finds it and adds nothing twice)
-- ARGV: groups of (directory inode, length delta, space delta, inodes delta),
-- then the marker's field, then '1' when the call is sent again ('2' the
-- first time: no marker yet; the hash's expiry is always checked)
-- Reply: the inodes whose statistics are missing, and, prefixed with '!',
-- those whose statistics hold a value that is not an integer (both are
-- recomputed from the directories' entries).
--
-- Redis does not undo a script that fails half-way, so nothing here may
-- fail once the first HINCRBY ran: the keys' types are checked first (a
-- wrong one fails the call naming the key, nothing written) and a
-- directory with a field HINCRBY would refuse is left to the recount.
${GUARD_FUNCS}
local last = #ARGV
if ARGV[last] == '1' then
  local done = redis.call('HGET', KEYS[4], ARGV[last - 1])
  if done then return cmsgpack.unpack(done) end
end
for k = 1, 3 do
  local e = badtype(KEYS[k], 'hash')
  if e then return e end
end
local missing = {}
for i = 1, last - 2, 4 do
  local ino = ARGV[i]
  local space = redis.call('HGET', KEYS[2], ino)
  if not space then
    missing[#missing + 1] = ino
  elseif not (isint(space) and isint(redis.call('HGET', KEYS[1], ino)) and isint(redis.call('HGET', KEYS[3], ino))) then
    missing[#missing + 1] = '!' .. ino
  else
    if ARGV[i + 1] ~= '0' then redis.call('HINCRBY', KEYS[1], ino, ARGV[i + 1]) end
    if ARGV[i + 2] ~= '0' then redis.call('HINCRBY', KEYS[2], ino, ARGV[i + 2]) end
    if ARGV[i + 3] ~= '0' then redis.call('HINCRBY', KEYS[3], ino, ARGV[i + 3]) end
  end
end
redis.call('HSET', KEYS[4], ARGV[last - 1], cmsgpack.pack(missing))
if redis.call('PTTL', KEYS[4]) < 0 then redis.call('PEXPIRE', KEYS[4], ${MARKER_HASH_TTL_MS}) end
return missing
