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
	b := callBufs.Get().(*callBuf)
	ix := keyIndexer{keys: append(b.keys[:0], marker.key)}
	var buf [256]byte
	shape := buf[:0]
	args := b.args[:0]
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
	kind := tx.replyKind()
	if kind != replyAll {
		shape = append(shape, "|="...) // the results the reply carries
		shape = append(shape, kind...)
	}
	args = append(args, marker.field)
	script := e.shapes.script(shape, tx, ix.keys)
	if script == nil {
		b.release(ix.keys, args)
		return e.encodeGeneric(tx, marker, now)
	}
	return txCall{script: script, keys: ix.keys, args: args, marker: marker, reply: kind, buf: b}
}

// callBuf is room for the KEYS and ARGV of a compiled call, recycled once
// the call is answered (rueidis copies them into its command): most
// mutations then allocate none for them.
type callBuf struct {
	keys [12]string
	args [32]string
}

var callBufs = sync.Pool{New: func() any { return new(callBuf) }}

// release returns b to callBufs, the strings the call used (keys, args:
// the slices laid out in b, or grown elsewhere) dropped.
func (b *callBuf) release(keys, args []string) {
	clear(b.keys[:min(len(keys), len(b.keys))])
	clear(b.args[:min(len(args), len(b.args))])
	callBufs.Put(b)
}

// done releases the room of the call's KEYS and ARGV, if recycled; the
// call is not used after.
func (c *txCall) done() {
	if c.buf != nil {
		c.buf.release(c.keys, c.args)
		c.buf = nil
	}
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
// marker first). Each piece emits one part of the script, in the order the
// script runs them.
func compileTx(tx *Tx, keys []string) string {
	c := newTxCompiler(tx, keys)
	c.emitHeader()
	c.emitConditions()
	c.placeWrites()
	c.emitConditionCheck()
	c.emitGuards()
	for _, j := range foldedOrder(len(tx.writes), c.nx, c.hw, c.ic) {
		c.emitWrite(j)
	}
	c.emitResults()
	return luaSource("compiled transaction", c.g.String())
}

// txCompiler holds what compileTx's pieces share while they generate the
// script of one transaction.
type txCompiler struct {
	g        luaGen
	tx       *Tx
	keyIndex map[string]int // KEYS index of each key
	arg      int            // the last ARGV index taken (see nextArg)
	writeArg []int          // ARGV index of each write's first argument

	// The checks folded into writes (txnfold.go), -1 when a shape has none:
	// setIfAbsent's condition, fieldIfAbsent's condition and write, and
	// intFirst's counter write.
	nx, hc, hw, ic int

	// current[key] names the local holding key's current value, when the
	// conditions read it with GET and no write changed it since (txn.lua's
	// "seen").
	current map[int]string

	reply    replyKind // the results the reply carries (Tx.replyKind)
	checks   []string  // what must hold of the conditions read first
	state    []string  // what a failure reports of each condition: two values each
	conflict string    // the Lua statement returning that failure
	undo     string    // the Lua undoing the folded writes run so far, newest first
}

func newTxCompiler(tx *Tx, keys []string) *txCompiler {
	c := &txCompiler{tx: tx, keyIndex: make(map[string]int, len(keys)), current: map[int]string{}, reply: tx.replyKind()}
	for i, k := range keys {
		c.keyIndex[k] = i + 1
	}
	c.nx = setIfAbsent(tx)
	c.hc, c.hw = fieldIfAbsent(tx)
	c.ic = intFirst(tx)
	return c
}

// nextArg takes the next ARGV index. encodeCall lays the arguments out in
// the order compileTx takes them: the time, the conditions', then each
// write's (see writeArg: emitWrite starts from there, whatever order the
// writes run in).
func (c *txCompiler) nextArg() int {
	c.arg++
	return c.arg
}

// argList is the Lua of the next n arguments, each after a comma.
func (c *txCompiler) argList(n int) string {
	var b strings.Builder
	for range n {
		b.WriteString(", a[" + strconv.Itoa(c.nextArg()) + "]")
	}
	return b.String()
}

// condVar and writeVar name the locals holding condition i's value and
// write j's result.
func condVar(i int) string  { return "c" + strconv.Itoa(i+1) }
func writeVar(j int) string { return "r" + strconv.Itoa(j+1) }

// emitHeader emits the start of every compiled script: its locals, then
// the replay check (a call sent again, its last argument '1', whose marker
// exists returns the results stored there, marked 2, and writes nothing),
// then the time of directory patches, from the first two arguments.
func (c *txCompiler) emitHeader() {
	c.g.line("-- rueidisfs transaction compiled for one shape (meta/txnshape.go)")
	c.g.line("local k, a, call = KEYS, ARGV, redis.call")
	c.g.line("local sub, len, find = string.sub, string.len, string.find")
	c.g.line("if a[#a] == '1' then")
	c.g.line("  local done = call('HGET', k[1], a[#a - 1])")
	if c.reply != replyStatus {
		c.g.line("  if done then local out = cmsgpack.unpack(done); out[1] = 2; return out end")
	} else {
		c.g.line("  if done then return 2 end")
	}
	c.g.line("end")
	if c.tx.patches() {
		s, ns := c.nextArg(), c.nextArg()
		c.g.line("local now = struct.pack('>i8>I4', tonumber(a[%d]), tonumber(a[%d]))", s, ns)
	}
}

// emitConditions reads the conditions that no write checks, gathers
// checks and state and sets conflict; the folded ones only get their place
// in state (their writes check them, see emitFoldedState).
func (c *txCompiler) emitConditions() {
	for i, cd := range c.tx.conds {
		v := condVar(i)
		switch {
		case i == c.nx:
			// Checked by the first write (SET ... NX).
			c.report(v, false)
		case i == c.hc:
			// Checked by HSETNX.
			c.report(v, true)
		case cd.kind == condExists:
			c.g.line("local %s = call('EXISTS', k[%d]) == 1", v, c.keyIndex[cd.key])
			c.checks = append(c.checks, notUnless(cd.present, v))
			c.report(v, false)
		default:
			c.emitRead(v, cd)
			c.report(v, true)
		}
	}
	c.conflict = "return {0, " + strings.Join(c.state, ", ") + "}"
}

// emitRead reads a condition on a value into v and adds its check.
func (c *txCompiler) emitRead(v string, cd cond) {
	key := c.keyIndex[cd.key]
	switch cd.kind {
	case condHGet:
		c.g.line("local %s = call('HGET', k[%d], a[%d])", v, key, c.nextArg())
	case condList:
		c.g.line("local %s = table.concat(call('LRANGE', k[%d], 0, -1))", v, key)
	default:
		c.g.line("local %s = call('GET', k[%d])", v, key)
		c.current[key] = v
	}
	switch {
	case !cd.present:
		c.checks = append(c.checks, "not "+v)
	case cd.kind == condAttr:
		c.checks = append(c.checks, v+" and "+sameExpr(v, "a["+strconv.Itoa(c.nextArg())+"]"))
	default:
		c.checks = append(c.checks, v+" == a["+strconv.Itoa(c.nextArg())+"]")
	}
}

// report adds to a failure's state what txn.lua reports of the condition
// read into v: whether it is present, and its value (the empty string for
// a condition on existence, which has none).
func (c *txCompiler) report(v string, value bool) {
	val := "''"
	if value {
		val = v + " or ''"
	}
	c.state = append(c.state, v+" and '1' or '0'", val)
}

// notUnless is v when present, its negation when not.
func notUnless(present bool, v string) string {
	if present {
		return v
	}
	return "not " + v
}

// placeWrites lays out the writes' arguments, after the conditions'.
func (c *txCompiler) placeWrites() {
	c.writeArg = make([]int, len(c.tx.writes))
	next := c.arg + 1
	for j, w := range c.tx.writes {
		c.writeArg[j] = next
		next += len(w.args)
	}
}

// emitConditionCheck fails the script, nothing written, when a condition
// read first does not hold.
func (c *txCompiler) emitConditionCheck() {
	if len(c.checks) == 0 {
		return
	}
	c.g.line("if not (%s) then", strings.Join(c.checks, " and "))
	c.emitConflict(c.nxExists())
	c.g.line("end")
}

// emitFoldedState emits into g, inside a failure's block, the values a
// failure reports of the folded conditions, which nothing read before:
// whether the SET ... NX's key exists (nxState) and the HSETNX's field.
func (c *txCompiler) emitFoldedState(g *luaGen, nxState string) {
	if c.nx >= 0 {
		g.line("  local %s = %s", condVar(c.nx), nxState)
	}
	if c.hc >= 0 {
		g.line("  local %s = call('HGET', k[%d], a[%d])", condVar(c.hc), c.keyIndex[c.tx.conds[c.hc].key], c.writeArg[c.hw])
	}
}

// emitConflict emits the failure of the conditions: the folded ones'
// state (nxState as in emitFoldedState), then the return of every
// condition's state.
func (c *txCompiler) emitConflict(nxState string) {
	c.emitFoldedState(&c.g, nxState)
	c.g.line("  %s", c.conflict)
}

// nxExists is the Lua telling whether setIfAbsent's key exists ("" when
// the shape has no SET ... NX).
func (c *txCompiler) nxExists() string {
	if c.nx < 0 {
		return ""
	}
	return fmt.Sprintf("call('EXISTS', k[%d]) == 1", c.keyIndex[c.tx.conds[c.nx].key])
}

// emitGuards emits the guards of the writes (guardLua), which run before
// any write, the folded ones included.
func (c *txCompiler) emitGuards() {
	failExpr, prelude := "e", ""
	if c.nx >= 0 || c.hc >= 0 {
		failExpr, prelude = "fail(e)", c.failFunc()
	}
	tryInt := ""
	if c.ic >= 0 {
		tryInt = c.tx.writes[c.ic].key
	}
	guardLua(&c.g, c.tx, c.keyIndex, func(j int) int { return c.writeArg[j] }, failExpr, prelude, tryInt)
}

// failFunc is the Lua function a failing guard's error e goes through when
// conditions are folded: txn.lua checks them with the other conditions, so
// when one of them fails, that failure is the reply, not e.
func (c *txCompiler) failFunc() string {
	var present []string
	if c.nx >= 0 {
		present = append(present, condVar(c.nx))
	}
	if c.hc >= 0 {
		present = append(present, condVar(c.hc))
	}
	var b luaGen
	b.line("local function fail(e)")
	c.emitFoldedState(&b, c.nxExists())
	b.line("  if %s then %s end", strings.Join(present, " or "), c.conflict)
	b.line("  return e")
	b.line("end")
	return b.String()
}

// emitWrite emits write j into its local, writeVar(j).
func (c *txCompiler) emitWrite(j int) {
	w := c.tx.writes[j]
	c.arg = c.writeArg[j] - 1
	r, key := writeVar(j), c.keyIndex[w.key]
	switch {
	case j == 0 && c.nx >= 0:
		c.emitSetIfAbsent(r, w, key)
	case j == c.hw:
		c.emitFieldIfAbsent(r, j, key)
	case j == c.ic:
		c.emitCounter(r, w, key)
	case w.cmd == cmdDirPatch:
		c.emitDirPatch(r, key)
		c.current[key] = r // what a later patch of the directory starts from
		return
	case c.reply != replyAll:
		c.g.line("%s)", c.command("call", w, key))
	default:
		c.g.line("local %s = %s)", r, c.command("call", w, key))
		c.numberReply(r)
	}
	delete(c.current, key) // the write changed the value the conditions read
}

// command is the Lua calling w on KEYS[key] with fn (call or redis.pcall),
// its arguments taken from ARGV, without the closing parenthesis.
func (c *txCompiler) command(fn string, w write, key int) string {
	return fn + "('" + w.cmd + "', k[" + strconv.Itoa(key) + "]" + c.argList(len(w.args))
}

// numberReply makes a write's result r its integer reply, 0 for a status
// reply (OK), as txn.lua, when the reply carries every result.
func (c *txCompiler) numberReply(r string) {
	if c.reply != replyAll {
		return
	}
	c.g.line("if type(%s) ~= 'number' then %s = 0 end", r, r)
}

// emitSetIfAbsent emits the first write, SET ... NX, which checks that
// its key is absent (setIfAbsent): a refusal fails with nothing written.
func (c *txCompiler) emitSetIfAbsent(r string, w write, key int) {
	c.g.line("local %s = %s, 'NX')", r, c.command("call", w, key))
	c.g.line("if not %s then", r)
	c.emitConflict("true")
	c.g.line("end")
	c.pushUndo(fmt.Sprintf("call('DEL', k[%d])", key))
	c.numberReply(r)
}

// emitFieldIfAbsent emits write j as HSETNX, which checks that its field
// is absent (fieldIfAbsent): a refusal undoes the SET ... NX before it, if
// any, and fails; so does an error reply, which is then the reply.
func (c *txCompiler) emitFieldIfAbsent(r string, j, key int) {
	c.g.line("local %s = redis.pcall('HSETNX', k[%d], a[%d], a[%d])", r, key, c.writeArg[j], c.writeArg[j]+1)
	c.g.line("if type(%s) == 'table' then %sreturn %s end", r, c.undo, r)
	c.g.line("if %s == 0 then", r)
	c.emitUndo()
	c.emitConflict("false")
	c.g.line("end")
	c.pushUndo(fmt.Sprintf("call('HDEL', k[%d], a[%d])", key, c.writeArg[j]))
}

// emitCounter emits intFirst's write, whose counter the quick guards do
// not read: with redis.pcall, a counter holding no integer fails as its
// guard would have, the folded writes undone.
func (c *txCompiler) emitCounter(r string, w write, key int) {
	c.g.line("local %s = %s)", r, c.command("redis.pcall", w, key))
	c.g.line("if type(%s) == 'table' then", r)
	c.emitUndo()
	c.g.WriteString(guardFuncs)
	c.g.line("  return badint(k[%d]) or %s", key, r)
	c.g.line("end")
}

// pushUndo records stmt, the undo of a folded write that just ran; the
// undo runs the newest first.
func (c *txCompiler) pushUndo(stmt string) {
	c.undo = stmt + "; " + c.undo
}

// emitUndo emits, inside a failure's block, the undo of the folded writes
// run so far, if any.
func (c *txCompiler) emitUndo() {
	if c.undo != "" {
		c.g.line("  %s", strings.TrimSuffix(c.undo, " "))
	}
}

// emitDirPatch emits a directory patch: its nlink plus the delta (never
// below 0), its mtime and ctime now; an absent value, or one too short to
// be an attribute, is left alone (result false). A value the conditions
// read, or an earlier patch wrote, is not read again.
func (c *txCompiler) emitDirPatch(r string, key int) {
	v := c.current[key]
	if v == "" {
		v = "call('GET', k[" + strconv.Itoa(key) + "])"
	}
	c.g.line("local %s = %s", r, v)
	c.g.line("if %s and len(%s) >= ${ATTR_MIN_LEN} then", r, r)
	c.g.line("  local nlink = struct.unpack('>I4', %s, ${ATTR_NLINK} + 1) + tonumber(a[%d])", r, c.nextArg())
	c.g.line("  if nlink < 0 then nlink = 0 end")
	c.g.line("  %s = sub(%s, 1, ${ATTR_MTIME}) .. now .. now .. struct.pack('>I4', nlink) .. sub(%s, ${ATTR_LENGTH} + 1)", r, r, r)
	c.g.line("  call('SET', k[%d], %s)", key, r)
	c.g.line("else %s = false end", r)
}

// emitResults emits the reply, the results it carries (Tx.replyKind) in
// queued order (whatever order the writes ran in) or, when it carries
// none, the number 1 alone, and, when the script wrote, the replay marker: the results
// stored in the same atomic unit as the writes (the empty string when the
// reply has none), its hash given an expiry unless the client knows it
// has one (last argument '0').
func (c *txCompiler) emitResults() {
	out, marker := "1", "''"
	if c.reply != replyStatus {
		results := []string{"1"}
		for j, w := range c.tx.writes {
			if c.reply == replyAll || w.cmd == cmdDirPatch {
				results = append(results, writeVar(j))
			}
		}
		c.g.line("local out = {%s}", strings.Join(results, ", "))
		out, marker = "out", "cmsgpack.pack(out)"
	}
	if len(c.tx.writes) > 0 {
		c.g.line("call('HSET', k[1], a[#a - 1], %s)", marker)
		c.g.line("if a[#a] ~= '0' and call('PTTL', k[1]) < 0 then call('PEXPIRE', k[1], ${MARKER_HASH_TTL_MS}) end")
	}
	c.g.line("return %s", out)
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
