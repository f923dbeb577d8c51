-- rueidisfs generic check-and-apply transaction.
--
-- The client decided what to change from values it read earlier (possibly from
-- its client-side cache). This script re-checks, atomically, that every one of
-- those values is still what the client saw, and only then applies the writes.
-- All decision logic stays in Go; the script only compares and applies, so one
-- script serves every operation and a mutation costs one round trip.
--
-- KEYS: every key the transaction reads or writes (one hash slot in Cluster).
-- ARGV:
--   [1] now, seconds        [2] now, nanoseconds
--   [3] skip-dir-mtime, nanoseconds (for the directory patch)
--   [4] number of conditions, then per condition:
--         kind, key index, [field for kind 'h'], present ('1'/'0'), value
--       kinds: 'g' GET equals value (or key absent)
--              'p' GET equals value on the attribute bytes a permission/type
--                  decision depends on: everything except atime..rdev (bytes
--                  11..62), which ordinary updates of a directory change
--              'h' HGET field equals value (or field absent)
--              'x' key exists (present '1') or not ('0'); value ignored
--   then the number of writes, then per write:
--         command, key index, argument count, arguments...
--       command is a Redis command applied to KEYS[key index] with the
--       arguments, or '!dirpatch' (arguments: nlink delta, force '1'/'0'):
--       adjust a directory's nlink and, unless the skip-dir-mtime rule says
--       otherwise, set its mtime and ctime to now.
--
-- Reply: {1, result...} with one element per write on success, where a
-- '!dirpatch' yields the new attribute value (or false when nothing was
-- written) and other commands their integer reply (0 for status replies);
-- {0, present1, value1, present2, value2, ...} with the current state of every
-- condition when any condition failed (nothing written then).

local now_s = tonumber(ARGV[1])
local now_ns = tonumber(ARGV[2])
local skip_ns = tonumber(ARGV[3])
local pos = 5
local nconds = tonumber(ARGV[4])

local function masked(v)
  if v and string.len(v) >= 63 then
    return string.sub(v, 1, 11) .. string.sub(v, 64)
  end
  return v
end

local ok = true
local state = {}
for i = 1, nconds do
  local kind = ARGV[pos]
  local key = KEYS[tonumber(ARGV[pos + 1])]
  pos = pos + 2
  local cur
  if kind == 'h' then
    cur = redis.call('HGET', key, ARGV[pos])
    pos = pos + 1
  elseif kind == 'x' then
    cur = redis.call('EXISTS', key) == 1
  else
    cur = redis.call('GET', key)
  end
  local want_present = ARGV[pos] == '1'
  local want = ARGV[pos + 1]
  pos = pos + 2
  if kind == 'x' then
    if cur ~= want_present then ok = false end
    state[#state + 1] = cur and '1' or '0'
    state[#state + 1] = ''
  else
    local present = cur ~= false
    if present ~= want_present then
      ok = false
    elseif present then
      if kind == 'p' then
        if masked(cur) ~= masked(want) then ok = false end
      elseif cur ~= want then
        ok = false
      end
    end
    state[#state + 1] = present and '1' or '0'
    state[#state + 1] = present and cur or ''
  end
end

if not ok then
  table.insert(state, 1, 0)
  return state
end

-- Directory patch: nlink += delta; mtime = ctime = now unless nlink is
-- unchanged, the patch is not forced and mtime is younger than skip-dir-mtime.
local function dirpatch(key, delta, force)
  local v = redis.call('GET', key)
  if not v or string.len(v) < 63 then return false end
  local nlink = struct.unpack('>I4', v, 48)
  if delta == 0 and not force then
    local mtime = struct.unpack('>i8', v, 24)
    local mtime_ns = struct.unpack('>I4', v, 32)
    local age = (now_s - mtime) * 1e9 + (now_ns - mtime_ns)
    if age < skip_ns then return false end
  end
  nlink = nlink + delta
  if nlink < 0 then nlink = 0 end
  local t = struct.pack('>i8>I4', now_s, now_ns)
  local nv = string.sub(v, 1, 23) .. t .. t .. struct.pack('>I4', nlink) .. string.sub(v, 52)
  redis.call('SET', key, nv)
  return nv
end

local out = {1}
local nwrites = tonumber(ARGV[pos])
pos = pos + 1
for i = 1, nwrites do
  local cmd = ARGV[pos]
  local key = KEYS[tonumber(ARGV[pos + 1])]
  local nargs = tonumber(ARGV[pos + 2])
  pos = pos + 3
  local r
  if cmd == '!dirpatch' then
    r = dirpatch(key, tonumber(ARGV[pos]), ARGV[pos + 1] == '1')
  else
    r = redis.call(cmd, key, unpack(ARGV, pos, pos + nargs - 1))
    if type(r) ~= 'number' then r = 0 end
  end
  pos = pos + nargs
  out[#out + 1] = r
end
return out
