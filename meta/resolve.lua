-- rueidisfs path resolution in one round trip.
--
-- Walks a slash-separated path from a directory, checking search permission
-- on every directory it passes with the mode bits, as a kernel would. Used
-- when the client-side cache cannot answer the walk.
--
-- KEYS[1]: the key prefix + "i" (attribute keys are KEYS[1] .. inode) and
-- KEYS[2]: the prefix + "d" (entry hashes); both only name the slot in
--          Cluster mode and are never read themselves.
-- ARGV: [1] starting inode (decimal), [2] path, [3] caller uid, [4..] gids
-- Reply: {inode (decimal string), attribute bytes} of the final node, or an
-- error: ENOENT, ENOTDIR, EACCES, or ENOTSUP when the walk needs what only the
-- client does (a symlink in the middle, an ACL on a directory, a corrupt
-- value).

local ipfx, dpfx = KEYS[1], KEYS[2]
local call, sub, byte, len = redis.call, string.sub, string.byte, string.len

-- Decimal string of the 8-byte big-endian unsigned integer at 0-based
-- offset off of s, exactly (inodes
-- of the trash exceed what a Lua double holds).
local function dec64(s, off)
  local hi, lo = struct.unpack('>I4>I4', s, off + 1)
  if hi < 2097152 then
    -- below 2^53: exact as a Lua number (every ordinary inode)
    return string.format('%d', hi * 4294967296 + lo)
  end
  local limbs = {}
  for i = 0, 3 do
    limbs[i + 1] = byte(s, off + 2 * i + 1) * 256 + byte(s, off + 2 * i + 2)
  end
  local digits = {}
  repeat
    local rem, nonzero = 0, false
    for i = 1, 4 do
      local cur = rem * 65536 + limbs[i]
      limbs[i] = math.floor(cur / 10)
      rem = cur % 10
      if limbs[i] > 0 then nonzero = true end
    end
    digits[#digits + 1] = tostring(rem)
  until not nonzero
  return string.reverse(table.concat(digits))
end

local uid = tonumber(ARGV[3])
local function allowed(attr)
  if uid == 0 then return true end
  local mode = struct.unpack('>I2', attr, ${ATTR_MODE} + 1)
  local fuid = struct.unpack('>I4', attr, ${ATTR_UID} + 1)
  local fgid = struct.unpack('>I4', attr, ${ATTR_GID} + 1)
  local bits
  if uid == fuid then
    bits = math.floor(mode / 64) % 8
  else
    bits = mode % 8
    for i = 4, #ARGV do
      if tonumber(ARGV[i]) == fgid then
        bits = math.floor(mode / 8) % 8
        break
      end
    end
  end
  return bits % 2 == 1
end

local ino = ARGV[1]
local attr = call('GET', ipfx .. ino)
if not attr then return redis.error_reply('ENOENT') end
for comp in string.gmatch(ARGV[2], '[^/]+') do
  if len(attr) < ${ATTR_MIN_LEN} then return redis.error_reply('ENOTSUP') end
  local typ = math.floor(byte(attr, ${ATTR_MODE} + 1) / 16)
  if typ == 3 then return redis.error_reply('ENOTSUP') end
  if typ ~= 2 then return redis.error_reply('ENOTDIR') end
  -- An access ACL (a non-zero id after the parent) needs the client's
  -- evaluation, unless the group class of the mode is empty.
  if len(attr) >= ${ATTR_ACL} + 8 and sub(attr, ${ATTR_ACL} + 1, ${ATTR_ACL} + 4) ~= '\0\0\0\0' and
    math.floor(byte(attr, ${ATTR_MODE} + 2) / 8) % 8 ~= 0 then
    return redis.error_reply('ENOTSUP')
  end
  if not allowed(attr) then return redis.error_reply('EACCES') end
  local ent = call('HGET', dpfx .. ino, comp)
  if not ent then return redis.error_reply('ENOENT') end
  -- A malformed entry is the client's to report (as corruption).
  if len(ent) ~= ${ENTRY_SIZE} or byte(ent, 1) < ${TYPE_FIRST} or byte(ent, 1) > ${TYPE_LAST} then
    return redis.error_reply('ENOTSUP')
  end
  ino = dec64(ent, ${ENTRY_INODE})
  attr = call('GET', ipfx .. ino)
  if not attr then return redis.error_reply('ENOENT') end
end
return {ino, attr}
