package meta

import (
	"slices"
	"strconv"
	"strings"

	"github.com/redis/rueidis"
	"github.com/rueidisfs/rueidisfs/codec"
)

// Write guards.
//
// Redis does not undo a script: a command that fails inside it stops the
// script and leaves the writes before it applied. Once its conditions
// hold, a transaction therefore checks, before its first write, what could
// make one of its writes fail — a counter that is not an integer (INCRBY,
// HINCRBY), a key of another Redis type (HSET on a string, ZADD on a hash)
// — and, if anything would, writes nothing and fails with the key named
// (CORRUPT <key> <what>; execMutation turns that into a codec.CorruptError).
// A key a condition read with a command of its type (HGET, LRANGE) needs no
// type check. What remains are refusals of the Redis user, which the engine
// checks before its first transaction (probePrivileges), and running out of
// memory, which Redis checks before a script starts.
//
// txn.lua applies the same rules to the transactions it interprets;
// compileTx emits them for a shape (guardLua); dirstat.lua, chunkdel.lua
// and compact.lua check their own writes with the same helpers
// (guardFuncs).

// guardKind is what a write needs checked.
type guardKind byte

const (
	guardNone     guardKind = iota
	guardInt                // the string key is absent or holds an integer
	guardIntField           // the hash field (the write's first argument) is absent or holds an integer
	guardType               // the key is absent or of the type in guardTypes
)

// writeGuards maps the commands transactions send to their guard; commands
// that cannot fail on what a key holds (SET, DEL, EXPIRE) have none. Two
// writes of one transaction never give a key two types (the keyspace gives
// each key one), so the guards look at the keys as they are before the
// first write.
var writeGuards = map[string]struct {
	kind guardKind
	typ  string
}{
	"INCR": {guardInt, ""}, "INCRBY": {guardInt, ""}, "DECR": {guardInt, ""}, "DECRBY": {guardInt, ""},
	"HINCRBY": {guardIntField, "hash"},
	"HSET":    {guardType, "hash"}, "HSETNX": {guardType, "hash"}, "HDEL": {guardType, "hash"},
	"RPUSH": {guardType, "list"}, "RPUSHX": {guardType, "list"}, "LPUSH": {guardType, "list"}, "LREM": {guardType, "list"}, "LTRIM": {guardType, "list"},
	"SADD": {guardType, "set"}, "SREM": {guardType, "set"},
	"ZADD": {guardType, "zset"}, "ZREM": {guardType, "zset"},
	cmdDirPatch: {guardType, "string"}, // its GET
}

// guardTypeOf is the Redis type a condition of kind k proves its key has
// (it was read with a command of that type), or "".
func guardTypeOf(k condKind) string {
	switch k {
	case condHGet:
		return "hash"
	case condList:
		return "list"
	case condGet, condAttr:
		return "string"
	}
	return ""
}

// guardLua emits into g the guards of tx's writes, checked before any of
// them; argIndex(j) is the ARGV index of write j's first argument. A guard
// that fails calls fail(key, what), which prelude defines (after
// guardFuncs) unless fail is "corrupt".
func guardLua(g *luaGen, tx *Tx, keyIndex map[string]int, argIndex func(j int) int, fail, prelude string) {
	typed := map[string]string{} // keys whose type a condition read proved
	for _, c := range tx.conds {
		if t := guardTypeOf(c.kind); t != "" {
			typed[c.key] = t
		}
	}
	done := map[string]bool{}
	first := true
	for j, w := range tx.writes {
		gd, ok := writeGuards[w.cmd]
		if !ok {
			continue
		}
		key := keyIndex[w.key]
		if first {
			g.WriteString(guardFuncs)
			g.WriteString(prelude)
			first = false
		}
		if gd.kind == guardIntField {
			// The field's value, read whatever the hash holds.
			g.line("do local v = redis.pcall('HGET', k[%d], a[%d]); if type(v) == 'table' then return %s(k[%d], 'is not a hash') end", key, argIndex(j), fail, key)
			g.line("  if not isint(v) then return %s(k[%d], 'field ' .. a[%d] .. ' holds ' .. string.format('%%q', v) .. ', not an integer') end end", fail, key, argIndex(j))
			continue
		}
		id := w.cmd + " " + w.key
		if gd.kind == guardType {
			if typed[w.key] == gd.typ {
				continue
			}
			id = gd.typ + " " + w.key
		}
		if done[id] {
			continue
		}
		done[id] = true
		switch gd.kind {
		case guardInt:
			g.line("do local v = redis.pcall('GET', k[%d]); if type(v) == 'table' then return %s(k[%d], 'is not a string') end", key, fail, key)
			g.line("  if not isint(v) then return %s(k[%d], 'holds ' .. string.format('%%q', v) .. ', not an integer') end end", fail, key)
		case guardType:
			g.line("do local t = call('TYPE', k[%d]).ok; if t ~= '%s' and t ~= 'none' then return %s(k[%d], 'holds a ' .. t .. ', not a %s') end end", key, gd.typ, fail, key, gd.typ)
		}
	}
}

// guardFuncs are the Lua helpers of the guards: corrupt(key, what) is the
// error reply, isint(v) whether Redis' INCRBY/HINCRBY accept value v (or
// false, an absent key or field) as a signed 64-bit integer: no sign but
// '-', no leading zero, no space, within range.
const guardFuncs = `local function corrupt(key, what) return redis.error_reply('CORRUPT ' .. key .. ' ' .. what) end
local function isint(v)
  if v == false or v == '0' then return true end
  local n = string.len(v)
  if n > 20 or string.match(v, '^%-?[1-9]%d*$') == nil then return false end
  if string.sub(v, 1, 1) == '-' then return n < 20 or v <= '-9223372036854775808' end
  return n < 19 or (n == 19 and v <= '9223372036854775807')
end
`

// scriptCorruption turns a script's "CORRUPT <key> <what>" error reply
// into a codec.CorruptError naming the key (nil for other errors).
func scriptCorruption(err error) error {
	rerr, ok := rueidis.IsRedisErr(err)
	if !ok || !strings.HasPrefix(rerr.Error(), "CORRUPT ") {
		return nil
	}
	key, what, _ := strings.Cut(strings.TrimPrefix(rerr.Error(), "CORRUPT "), " ")
	if j := strings.Index(what, " script: "); j >= 0 { // Redis appends where the script failed
		what = what[:j]
	}
	return &codec.CorruptError{Key: key, What: strings.TrimSpace(what) + " (nothing was written)"}
}

// writeGuardsLua is writeGuards as a Lua table literal: 'i' for guardInt,
// 'f' for guardIntField, the type's name for guardType.
func writeGuardsLua() string {
	cmds := make([]string, 0, len(writeGuards))
	for c := range writeGuards {
		cmds = append(cmds, c)
	}
	slices.Sort(cmds)
	var b strings.Builder
	b.WriteString("{")
	for i, c := range cmds {
		if i > 0 {
			b.WriteString(", ")
		}
		v := writeGuards[c].typ
		switch writeGuards[c].kind {
		case guardInt:
			v = "i"
		case guardIntField:
			v = "f"
		}
		b.WriteString("[" + strconv.Quote(c) + "] = " + strconv.Quote(v))
	}
	b.WriteString("}")
	return b.String()
}
