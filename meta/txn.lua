-- rueidisfs generic check-and-apply transaction.
--
-- The client decided what to change from values it read earlier (possibly from
-- its client-side cache). This script re-checks, atomically, that every one of
-- those values is still what the client saw, and only then applies the writes.
-- All decision logic stays in Go; the script only compares and applies, so one
-- script serves every operation and a mutation costs one round trip. It is
-- the reference: most transactions are sent to a script compiled for their
-- shape (meta/txnshape.go) that does exactly what this one does for them.
--
-- KEYS[1]: the hash of the transaction's replay marker (see below);
-- KEYS[2..]: every key the transaction reads or writes (one hash slot in
-- Cluster).
-- ARGV:
--   [1] now, seconds        [2] now, nanoseconds
--   [3] number of conditions, then per condition:
--         kind, key index, [field for kind 'h'], present ('1'/'0'), value
--       kinds: 'g' GET equals value (or key absent)
--              'p' GET equals value on the attribute bytes a permission/type
--                  decision depends on: everything except atime..rdev (the
--                  bytes from ${ATTR_ATIME} to ${ATTR_PARENT}, 0-based), which
--                  ordinary updates of a directory change
--              'h' HGET field equals value (or field absent)
--              'x' key exists (present '1') or not ('0'); value ignored
--              'l' the whole list, its elements concatenated, equals value
--                  (present is always '1'; an absent list is empty)
--   then the number of writes, then per write:
--         command, key index, argument count, arguments...
--       command is a Redis command applied to KEYS[key index] with the
--       arguments, or '!dirpatch' (argument: nlink delta): add the delta to a
--       directory's nlink and set its mtime and ctime to now;
--   then which results the reply carries: every write's ('1'), the
--   '!dirpatch' writes' ('p') or none ('0'); then the field of the replay
--   marker, then whether the call is sent again (see below).
--
-- Reply: {1, result...} with one element per write on success, where a
-- '!dirpatch' yields the new attribute value and other commands their
-- integer reply (0 for status replies); only those of the '!dirpatch'
-- writes when so asked; the number 1 alone when none are asked for
-- (cheaper than a table); {0, present1, value1,
-- present2, value2, ...} with the current state of every condition when any
-- condition failed (nothing written then); {2, result...} (or 2) when the
-- marker exists.
--
-- Replay marker: a client whose connection failed while it waited for the
-- reply cannot know whether the script ran, so it sends the very same call
-- again. Having applied the writes, the script stores their results (the
-- empty string when the reply has none) in the
-- hash KEYS[1] under the field ARGV[#ARGV - 1] (the transaction's random
-- id; the hash, one per client at a time, expires after twice meta's
-- markerTTL, see meta/marker.go); a call that finds its marker returns
-- {2, results} without applying anything a second time. The last ARGV is
-- '1' when the call is sent again, '2' the first time, when no marker can
-- exist yet, and '0' the first time when the client knows that the hash
-- has its expiry already (the script then does not look). The marker is written in the same atomic unit as the
-- writes, so a failover that loses one loses both.
--
-- Redis' Lua is slow at string work, so the common paths avoid it: values
-- are compared as (interned) strings first and byte ranges only on mismatch,
-- and the failure state is collected only when a check failed.

local argv, keys, call = ARGV, KEYS, redis.call
local sub = string.sub

-- seen holds what the conditions read with GET, by key, so that a
-- '!dirpatch' of a key the conditions checked (the parent directory of
-- almost every namespace change) needs no second GET: each redis.call
-- costs a few microseconds. A write to a key forgets or updates it.
local seen = {}

local function read(kind, key, field)
  if kind == 'h' then return call('HGET', key, field) end
  if kind == 'x' then return call('EXISTS', key) == 1 end
  if kind == 'l' then return table.concat(call('LRANGE', key, 0, -1)) end
  local v = call('GET', key)
  seen[key] = v
  return v
end

-- One pass over the conditions: returns whether all hold, and the position
-- of the first write.
local function check()
  local pos = 4
  local ok = true
  for _ = 1, tonumber(argv[3]) do
    local kind = argv[pos]
    local field
    pos = pos + 2
    if kind == 'h' then
      field = argv[pos]
      pos = pos + 1
    end
    if ok then
      local cur = read(kind, keys[tonumber(argv[pos - (field and 2 or 1)])], field)
      local want_present = argv[pos] == '1'
      if kind == 'x' then
        ok = cur == want_present
      elseif (cur ~= false) ~= want_present then
        ok = false
      elseif want_present and cur ~= argv[pos + 1] then
        local want = argv[pos + 1]
        ok = kind == 'p' and string.len(cur) >= ${ATTR_MIN_LEN} and string.len(want) >= ${ATTR_MIN_LEN} and
          sub(cur, 1, ${ATTR_ATIME}) == sub(want, 1, ${ATTR_ATIME}) and
          sub(cur, ${ATTR_PARENT} + 1) == sub(want, ${ATTR_PARENT} + 1)
      end
    end
    pos = pos + 2
  end
  return ok, pos
end

if argv[#argv] == '1' then
  local done = call('HGET', keys[1], argv[#argv - 1])
  if done == '' then return 2 end
  if done then
    local out = cmsgpack.unpack(done)
    out[1] = 2
    return out
  end
end

local ok, pos = check()
if not ok then
  local state = {0}
  local p = 4
  for _ = 1, tonumber(argv[3]) do
    local kind, key = argv[p], keys[tonumber(argv[p + 1])]
    local field
    p = p + 2
    if kind == 'h' then
      field = argv[p]
      p = p + 1
    end
    local cur = read(kind, key, field)
    if kind == 'x' then
      state[#state + 1] = cur and '1' or '0'
      state[#state + 1] = ''
    else
      state[#state + 1] = cur and '1' or '0'
      state[#state + 1] = cur or ''
    end
    p = p + 2
  end
  return state
end

-- Guards (meta/txnguard.go): before the first write, whatever would make
-- one fail — a counter that is not an integer, a key of another type —
-- fails the transaction with the key named and nothing written (Redis does
-- not undo the writes of a script that fails half-way).
do
  local guards = ${WRITE_GUARDS}
  ${GUARD_FUNCS}
  local checked = {}
  local p = pos + 1
  for _ = 1, tonumber(argv[pos]) do
    local cmd, key, nargs = argv[p], keys[tonumber(argv[p + 1])], tonumber(argv[p + 2])
    local g = guards[cmd]
    local e
    if g == 'f' then
      e = badfield(key, argv[p + 3])
    elseif g and not checked[g .. ' ' .. key] then
      checked[g .. ' ' .. key] = true
      if g == 'i' then e = badint(key) else e = badtype(key, g) end
    end
    if e then return e end
    p = p + 3 + nargs
  end
end

local now = struct.pack('>i8>I4', tonumber(argv[1]), tonumber(argv[2]))

local out = {1}
local results = argv[#argv - 2]
local nwrites = tonumber(argv[pos])
pos = pos + 1
for i = 1, nwrites do
  local cmd, key, nargs = argv[pos], keys[tonumber(argv[pos + 1])], tonumber(argv[pos + 2])
  pos = pos + 3
  local r
  if cmd == '!dirpatch' then
    r = false
    local v = seen[key]
    if v == nil then v = call('GET', key) end
    if v and string.len(v) >= ${ATTR_MIN_LEN} then
      local nlink = struct.unpack('>I4', v, ${ATTR_NLINK} + 1) + tonumber(argv[pos])
      if nlink < 0 then nlink = 0 end
      -- mtime and ctime (each seconds and nanoseconds) are now; then nlink
      r = sub(v, 1, ${ATTR_MTIME}) .. now .. now .. struct.pack('>I4', nlink) .. sub(v, ${ATTR_LENGTH} + 1)
      call('SET', key, r)
      seen[key] = r
    end
  else
    seen[key] = nil
    r = call(cmd, key, unpack(argv, pos, pos + nargs - 1))
    if type(r) ~= 'number' then r = 0 end
  end
  pos = pos + nargs
  if results == '1' or (results == 'p' and cmd == '!dirpatch') then out[#out + 1] = r end
end
if nwrites > 0 then -- a check alone (nothing to write) needs no marker
  call('HSET', keys[1], argv[#argv - 1], results ~= '0' and cmsgpack.pack(out) or '')
  if argv[#argv] ~= '0' and call('PTTL', keys[1]) < 0 then call('PEXPIRE', keys[1], ${MARKER_HASH_TTL_MS}) end
end
if results ~= '0' then return out end
return 1
