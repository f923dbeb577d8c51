package meta

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Compiled transactions.
//
// txn.lua interprets a transaction: it walks its arguments to find each
// condition and write, and that walk costs Redis' single thread about as
// much as the checks and writes themselves. So a transaction is sent to a
// script compiled for its shape instead: the kinds, keys and presence of
// its conditions and the commands, keys and argument counts of its writes.
// The compiled script is straight-line Lua doing exactly what txn.lua does
// for that shape, with only the values in ARGV, generated once per shape
// and called by its SHA-1 from then on. One operation nearly always has
// the same shape (a create: the parent's attribute, the name's and the new
// inode's absence; the inode, the parent's patch, the entry, two counters),
// so a few dozen scripts serve almost every call. Shapes with more than
// maxShapeItems conditions and writes (batches), and new shapes once
// maxShapes are compiled, are sent to txn.lua. TestCompiledMatchesGeneric
// runs random transactions through both and compares replies and keys.
const (
	maxShapeItems = 48
	maxShapes     = 256
)

// shapes holds the scripts compiled for the shapes an engine has sent.
type shapes struct {
	mu      sync.Mutex
	scripts map[string]*mutationScript
}

// encodeCall lays tx out for the script compiled for its shape, or for
// txn.lua (see encodeTx) when it has none.
func (e *Engine) encodeCall(tx *Tx, marker txnMarker, now time.Time) txCall {
	if len(tx.conds)+len(tx.writes) > maxShapeItems {
		return e.encodeGeneric(tx, marker, now)
	}
	ix := keyIndexer{keys: make([]string, 1, 1+len(tx.conds)+len(tx.writes))}
	ix.keys[0] = marker.key
	var buf [256]byte
	shape := buf[:0]
	args := make([]string, 0, 4+2*len(tx.conds)+3*len(tx.writes))
	if tx.patches() {
		args = append(args, strconv.FormatInt(now.Unix(), 10), strconv.Itoa(now.Nanosecond()))
	}
	folded, into := fieldIfAbsent(tx)
	for i, c := range tx.conds {
		shape = append(shape, byte(c.kind))
		shape = append(shape, ix.index(c.key)...)
		shape = append(shape, "-+"[b2i(c.present)])
		if i == folded {
			shape = append(shape, '>')
			shape = strconv.AppendInt(shape, int64(into), 10)
		} else if c.kind == condHGet {
			args = append(args, c.field)
		}
		if c.present && c.kind != condExists {
			args = append(args, c.value)
		}
	}
	for _, w := range tx.writes {
		shape = append(shape, '|')
		shape = append(shape, w.cmd...)
		shape = append(shape, ' ')
		shape = append(shape, ix.index(w.key)...)
		shape = append(shape, ' ')
		shape = strconv.AppendInt(shape, int64(len(w.args)), 10)
		args = append(args, w.args...)
	}
	args = append(args, marker.field)
	script := e.shapes.script(shape, tx, ix.keys)
	if script == nil {
		return e.encodeGeneric(tx, marker, now)
	}
	return txCall{script: script, keys: ix.keys, args: args, marker: marker}
}

// encodeGeneric is encodeTx for txn.lua.
func (e *Engine) encodeGeneric(tx *Tx, marker txnMarker, now time.Time) txCall {
	call := encodeTx(tx, marker, now)
	call.script = e.txnScript
	return call
}

// patches reports whether tx patches a directory (its script needs the
// time).
func (tx *Tx) patches() bool {
	for _, w := range tx.writes {
		if w.cmd == cmdDirPatch {
			return true
		}
	}
	return false
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// script returns the script compiled for shape (compiling it from tx, whose
// keys are keys), or nil when maxShapes are compiled already.
func (s *shapes) script(shape []byte, tx *Tx, keys []string) *mutationScript {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc, ok := s.scripts[string(shape)]; ok {
		return sc
	}
	if len(s.scripts) >= maxShapes {
		return nil
	}
	if s.scripts == nil {
		s.scripts = make(map[string]*mutationScript)
	}
	sc := newMutationScript(compileTx(tx, keys))
	sc.txn = true
	s.scripts[string(shape)] = sc
	return sc
}

// compileTx generates the script of tx's shape; keys are its KEYS (the
// marker first).
func compileTx(tx *Tx, keys []string) string {
	keyIndex := make(map[string]int, len(keys))
	for i, k := range keys {
		keyIndex[k] = i + 1
	}
	g := luaGen{}
	arg := 0
	nextArg := func() int { arg++; return arg }
	g.line("-- rueidisfs transaction compiled for one shape (meta/txnshape.go)")
	g.line("local k, a, call = KEYS, ARGV, redis.call")
	g.line("local sub, len, find = string.sub, string.len, string.find")
	g.line("if a[#a] == '1' then")
	g.line("  local done = call('HGET', k[1], a[#a - 1])")
	g.line("  if done then local out = cmsgpack.unpack(done); out[1] = 2; return out end")
	g.line("end")
	if tx.patches() {
		s, ns := nextArg(), nextArg()
		g.line("local now = struct.pack('>i8>I4', tonumber(a[%d]), tonumber(a[%d]))", s, ns)
	}
	// current[key] names the local holding key's current value, when the
	// conditions read it with GET and no write changed it since (txn.lua's
	// "seen").
	current := map[int]string{}
	nx := setIfAbsent(tx)
	hc, hw := fieldIfAbsent(tx)
	var checks, state []string
	for i, c := range tx.conds {
		v := "c" + strconv.Itoa(i+1)
		key := keyIndex[c.key]
		switch {
		case i == nx:
			// Checked by the first write (SET ... NX): read only for the
			// state of a failure of the other conditions.
			state = append(state, v+" and '1' or '0'", "''")
			continue
		case i == hc:
			// Checked by HSETNX, read only for the state of a failure.
			state = append(state, v+" and '1' or '0'", v+" or ''")
			continue
		case c.kind == condExists:
			g.line("local %s = call('EXISTS', k[%d]) == 1", v, key)
			if c.present {
				checks = append(checks, v)
			} else {
				checks = append(checks, "not "+v)
			}
			state = append(state, v+" and '1' or '0'", "''")
			continue
		case c.kind == condHGet:
			g.line("local %s = call('HGET', k[%d], a[%d])", v, key, nextArg())
		case c.kind == condList:
			g.line("local %s = table.concat(call('LRANGE', k[%d], 0, -1))", v, key)
		default:
			g.line("local %s = call('GET', k[%d])", v, key)
			current[key] = v
		}
		switch {
		case !c.present:
			checks = append(checks, "not "+v)
		case c.kind == condAttr:
			checks = append(checks, v+" and "+sameExpr(v, "a["+strconv.Itoa(nextArg())+"]"))
		default:
			checks = append(checks, v+" == a["+strconv.Itoa(nextArg())+"]")
		}
		state = append(state, v+" and '1' or '0'", v+" or ''")
	}
	writeArg := make([]int, len(tx.writes)) // ARGV index of each write's first argument
	next := arg + 1
	for j, w := range tx.writes {
		writeArg[j] = next
		next += len(w.args)
	}
	// folded emits what a failure reports of the folded conditions: the
	// SET ... NX's key existing (nxState) and the HSETNX's field.
	nxVar, hVar := "c"+strconv.Itoa(nx+1), "c"+strconv.Itoa(hc+1)
	folded := func(g *luaGen, nxState string) {
		if nx >= 0 {
			g.line("  local %s = %s", nxVar, nxState)
		}
		if hc >= 0 {
			g.line("  local %s = call('HGET', k[%d], a[%d])", hVar, keyIndex[tx.conds[hc].key], writeArg[hw])
		}
	}
	nxExists := ""
	if nx >= 0 {
		nxExists = fmt.Sprintf("call('EXISTS', k[%d]) == 1", keyIndex[tx.conds[nx].key])
	}
	conflict := "return {0, " + strings.Join(state, ", ") + "}"
	if len(checks) > 0 {
		g.line("if not (%s) then", strings.Join(checks, " and "))
		folded(&g, nxExists)
		g.line("  %s", conflict)
		g.line("end")
	}
	// The guards run before any write, the folded ones included. A guard
	// failing reports a folded condition that fails, as txn.lua, which
	// checks them with the other conditions, does.
	failExpr, prelude := "e", ""
	if nx >= 0 || hc >= 0 {
		var present []string
		if nx >= 0 {
			present = append(present, nxVar)
		}
		if hc >= 0 {
			present = append(present, hVar)
		}
		var b luaGen
		b.line("local function fail(e)")
		folded(&b, nxExists)
		b.line("  if %s then %s end", strings.Join(present, " or "), conflict)
		b.line("  return e")
		b.line("end")
		failExpr, prelude = "fail(e)", b.String()
	}
	ic, tryInt := intFirst(tx, nx), ""
	if ic >= 0 {
		tryInt = tx.writes[ic].key
	}
	guardLua(&g, tx, keyIndex, func(j int) int { return writeArg[j] }, failExpr, prelude, tryInt)
	undo := "" // the Lua undoing the writes run so far (folded ones only)
	for _, j := range foldedOrder(len(tx.writes), nx, hw, ic) {
		w := tx.writes[j]
		arg = writeArg[j] - 1
		r := "r" + strconv.Itoa(j+1)
		key := keyIndex[w.key]
		if j == ic {
			// A counter with no integer fails as its guard would have,
			// the folded writes undone.
			call := fmt.Sprintf("redis.pcall('%s', k[%d]", w.cmd, key)
			for range w.args {
				call += ", a[" + strconv.Itoa(nextArg()) + "]"
			}
			g.line("local %s = %s)", r, call)
			g.line("if type(%s) == 'table' then", r)
			if undo != "" {
				g.line("  %s", strings.TrimSuffix(undo, " "))
			}
			g.WriteString(guardFuncs)
			g.line("  return badint(k[%d]) or %s", key, r)
			g.line("end")
			delete(current, key)
			continue
		}
		if j == hw {
			// A refusal undoes the SET ... NX before it, if any.
			g.line("local %s = redis.pcall('HSETNX', k[%d], a[%d], a[%d])", r, key, writeArg[j], writeArg[j]+1)
			g.line("if type(%s) == 'table' then %sreturn %s end", r, undo, r)
			g.line("if %s == 0 then", r)
			if undo != "" {
				g.line("  %s", strings.TrimSuffix(undo, " "))
			}
			folded(&g, "false")
			g.line("  %s", conflict)
			g.line("end")
			undo = fmt.Sprintf("call('HDEL', k[%d], a[%d]); ", key, writeArg[j]) + undo
			delete(current, key)
			continue
		}
		if w.cmd == cmdDirPatch {
			v := current[key]
			if v == "" {
				v = "call('GET', k[" + strconv.Itoa(key) + "])"
			}
			g.line("local %s = %s", r, v)
			g.line("if %s and len(%s) >= ${ATTR_MIN_LEN} then", r, r)
			g.line("  local nlink = struct.unpack('>I4', %s, ${ATTR_NLINK} + 1) + tonumber(a[%d])", r, nextArg())
			g.line("  if nlink < 0 then nlink = 0 end")
			g.line("  %s = sub(%s, 1, ${ATTR_MTIME}) .. now .. now .. struct.pack('>I4', nlink) .. sub(%s, ${ATTR_LENGTH} + 1)", r, r, r)
			g.line("  call('SET', k[%d], %s)", key, r)
			g.line("else %s = false end", r)
			current[key] = r
		} else {
			call := "call('" + w.cmd + "', k[" + strconv.Itoa(key) + "]"
			for range w.args {
				call += ", a[" + strconv.Itoa(nextArg()) + "]"
			}
			if j == 0 && nx >= 0 {
				g.line("local %s = %s, 'NX')", r, call)
				g.line("if not %s then", r)
				folded(&g, "true")
				g.line("  %s", conflict)
				g.line("end")
				undo = fmt.Sprintf("call('DEL', k[%d]); ", key)
			} else {
				g.line("local %s = %s)", r, call)
			}
			g.line("if type(%s) ~= 'number' then %s = 0 end", r, r)
			delete(current, key)
		}
	}
	results := []string{"1"}
	for j := range tx.writes { // in queued order, whatever order they ran in
		results = append(results, "r"+strconv.Itoa(j+1))
	}
	g.line("local out = {%s}", strings.Join(results, ", "))
	if len(tx.writes) > 0 {
		g.line("call('HSET', k[1], a[#a - 1], cmsgpack.pack(out))")
		g.line("if a[#a] ~= '0' and call('PTTL', k[1]) < 0 then call('PEXPIRE', k[1], ${MARKER_HASH_TTL_MS}) end")
	}
	g.line("return out")
	return luaSource("compiled transaction", g.String())
}

// sameExpr is txn.lua's comparison of the attribute bytes a decision
// depends on (condition kind 'p') of cur with want, as an expression: the
// compiled scripts define no function on their usual path (creating a
// closure on every call costs Redis more than the comparison).
func sameExpr(cur, want string) string {
	return "(" + cur + " == " + want + " or (len(" + cur + ") >= ${ATTR_MIN_LEN} and len(" + want + ") >= ${ATTR_MIN_LEN} and " +
		"sub(" + cur + ", 1, ${ATTR_ATIME}) == sub(" + want + ", 1, ${ATTR_ATIME}) and " +
		"sub(" + cur + ", ${ATTR_PARENT} + 1) == sub(" + want + ", ${ATTR_PARENT} + 1)))"
}

// luaGen accumulates generated Lua.
type luaGen struct {
	strings.Builder
}

func (g *luaGen) line(format string, args ...any) {
	if len(args) > 0 {
		format = fmt.Sprintf(format, args...)
	}
	g.WriteString(format)
	g.WriteByte('\n')
}
