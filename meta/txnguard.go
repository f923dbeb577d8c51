package meta

import (
	"fmt"
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
// checks before its first mutation (probePrivileges), and running out of
// memory, which Redis checks at a script's first write only (a script that
// has written may finish).
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
	guardType               // the key is absent or of the Redis type typ
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
// that fails returns failExpr, an expression of its error reply e (which
// prelude may define a function for; prelude comes after guardFuncs).
//
// The usual path defines no function: each guard reads its key once and
// checks the value with an expression that holds for nearly every sound
// value (an integer without sign or leading zero below 19 digits, a key
// of the right type or none). Only when one of these fails are the
// helpers defined and every guard checked in full, which also tells
// apart the values the quick check left out (a long or negative
// integer) from the corrupt ones.
//
// The counter of tryInt (its first write, see intFirst), if any, has no
// quick check: that write checks it itself. It keeps its place among the
// full checks, so that with several bad keys the one named is the same.
func guardLua(g *luaGen, tx *Tx, keyIndex map[string]int, argIndex func(j int) int, failExpr, prelude, tryInt string) {
	typed := map[string]string{} // keys whose type a condition read proved
	for _, c := range tx.conds {
		if t := guardTypeOf(c.kind); t != "" {
			typed[c.key] = t
		}
	}
	done := map[string]bool{}
	var quick, full []string
	for j, w := range tx.writes {
		gd, ok := writeGuards[w.cmd]
		if !ok {
			continue
		}
		key := keyIndex[w.key]
		v := "g" + strconv.Itoa(len(quick)+1)
		var check, id string
		switch gd.kind {
		case guardIntField:
			check, id = fmt.Sprintf("badfield(k[%d], a[%d])", key, argIndex(j)), ""
			g.line("local %s = redis.pcall('HGET', k[%d], a[%d])", v, key, argIndex(j))
			quick = append(quick, quickInt(v))
		case guardInt:
			check, id = fmt.Sprintf("badint(k[%d])", key), "int "+w.key
			if done[id] {
				continue
			}
			if w.key != tryInt {
				g.line("local %s = redis.pcall('GET', k[%d])", v, key)
				quick = append(quick, quickInt(v))
			}
		case guardType:
			if typed[w.key] == gd.typ {
				continue
			}
			check, id = fmt.Sprintf("badtype(k[%d], '%s')", key, gd.typ), gd.typ+" "+w.key
			if done[id] {
				continue
			}
			g.line("local %s = call('TYPE', k[%d]).ok", v, key)
			quick = append(quick, "("+v+" == '"+gd.typ+"' or "+v+" == 'none')")
		}
		done[id] = true
		full = append(full, fmt.Sprintf("do local e = %s; if e then return %s end end", check, failExpr))
	}
	if len(quick) == 0 {
		return
	}
	g.line("if not (%s) then", strings.Join(quick, " and "))
	g.WriteString(guardFuncs)
	g.WriteString(prelude)
	for _, l := range full {
		g.line("%s", l)
	}
	g.line("end")
}

// quickInt is the quick check of guardLua for an integer read into v
// (false when absent, an error table for another type): true for most
// integers INCRBY/HINCRBY accept, false for the rest and for other values.
func quickInt(v string) string {
	return "(" + v + " == false or " + v + " == '0' or (type(" + v + ") == 'string' and len(" + v + ") < 19 and find(" + v + ", '^%-?[1-9]%d*$') ~= nil))"
}

// guardFuncs are the Lua helpers of the guards, shared by every script
// that writes: corrupt(key, what) is the error reply; isint(v) whether
// Redis' INCRBY/HINCRBY accept value v (or false, an absent key or field)
// as a signed 64-bit integer: no sign but '-', no leading zero, no space,
// within range. badtype, badint and badfield return the error reply when
// key is of another type than want (absent is fine), when the string key
// or the hash field does not hold such an integer; nil otherwise.
const guardFuncs = `local function corrupt(key, what) return redis.error_reply('CORRUPT ' .. key .. ' ' .. what) end
local function isint(v)
  if v == false or v == '0' then return true end
  local n = string.len(v)
  if n > 20 or string.match(v, '^%-?[1-9]%d*$') == nil then return false end
  if string.sub(v, 1, 1) == '-' then return n < 20 or v <= '-9223372036854775808' end
  return n < 19 or (n == 19 and v <= '9223372036854775807')
end
local function badtype(key, want)
  local t = redis.call('TYPE', key).ok
  if t ~= want and t ~= 'none' then return corrupt(key, 'holds a ' .. t .. ', not a ' .. want) end
end
local function badint(key)
  local v = redis.pcall('GET', key)
  if type(v) == 'table' then return corrupt(key, 'is not a string') end
  if not isint(v) then return corrupt(key, 'holds ' .. string.format('%q', v) .. ', not an integer') end
end
local function badfield(key, field)
  local v = redis.pcall('HGET', key, field)
  if type(v) == 'table' then return corrupt(key, 'is not a hash') end
  if not isint(v) then return corrupt(key, 'field ' .. field .. ' holds ' .. string.format('%q', v) .. ', not an integer') end
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
