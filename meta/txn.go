package meta

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
)

//go:embed txn.lua
var txnLua string

var txnScriptSource = luaSource("txn.lua", txnLua)

func newTxnScript() *mutationScript {
	s := newMutationScript(txnScriptSource)
	s.txn = true
	return s
}

// maxTxnAttempts bounds how often a transaction is re-run after its conditions
// failed. Every retry starts from the values the failed attempt returned, so
// needing many means another client keeps changing the same keys.
const maxTxnAttempts = 50

// TxStats counts the transactions of an engine.
type TxStats struct {
	Commits   uint64 // transactions applied
	Conflicts uint64 // attempts whose conditions failed and were re-run
	Errors    uint64 // transactions that failed with a Redis error
	Retries   uint64 // mutation scripts sent again after a fault (see fault.go)
	Replays   uint64 // of those, transactions found already applied by their marker
}

type txCounters struct{ commits, conflicts, errors, retries, replays atomic.Uint64 }

// TxStats returns the transaction counters of this engine.
func (e *Engine) TxStats() TxStats {
	return TxStats{Commits: e.txStats.commits.Load(), Conflicts: e.txStats.conflicts.Load(), Errors: e.txStats.errors.Load(),
		Retries: e.txStats.retries.Load(), Replays: e.txStats.replays.Load()}
}

type condKind byte

const (
	condGet    condKind = 'g' // whole string value
	condAttr   condKind = 'p' // attribute bytes that permission/type decisions use
	condHGet   condKind = 'h' // one hash field
	condExists condKind = 'x' // key existence
	condList   condKind = 'l' // a whole list (of fixed-size records), as the concatenation of its elements
)

// cond is one value a transaction's decision was based on.
type cond struct {
	kind    condKind
	key     string
	field   string
	present bool
	value   string
}

type condID struct {
	key, field string
	kind       condKind
}

// write is one command applied by the script when every condition holds.
type write struct {
	cmd  string
	key  string
	args []string
}

// Tx collects the reads and writes of one attempt of a transaction. Methods
// that read record a condition; methods that write queue a command. A Tx is
// used by one goroutine.
type Tx struct {
	e      *Engine
	ctx    context.Context
	conds  []cond
	index  map[condID]int // of conds, once there are more than maxLinearConds
	writes []write
	args   []string  // the arguments of every write, one after another
	now    time.Time // see Now

	// Room for a typical transaction, so that building one costs a single
	// allocation (see newTx).
	condBuf  [6]cond
	writeBuf [10]write
	argBuf   [24]string
	afterBuf [1]afterFn
	acctBuf  [1]func()

	// fresh holds the values returned by the previous attempt's failed
	// check: they are exactly what Redis held a moment ago.
	fresh map[condID]cond
	// speculative is set when a read was answered from the overlay of this
	// client's own recent writes, which Redis does not track for us.
	speculative bool
	// noSpeculation forbids overlay reads (set when an attempt must base an
	// error on values Redis vouches for).
	noSpeculation bool
	// unconfirmed is set when a condition's value did not come from Redis
	// in this call's previous attempt (the cache, the overlay, a read that
	// may be older than the call, an assumption): an outcome that writes
	// nothing must then be checked at commit (see runTx).
	unconfirmed bool
	// after runs once the transaction committed (see After, AfterResults).
	after []afterFn
	// readsResults is set when a caller reads the writes' results (see
	// AfterResults): only then does the reply carry them all (see
	// replyKind).
	readsResults bool
	// accounts runs after it: the transaction's accounting (see Account).
	accounts []func()
	// touched are the directories the accounting changes, when declared
	// (see Touches and the quota fence).
	touched      []Ino
	touchesKnown bool
	touchBuf     [2]Ino
	// fence is the quota fence as believed when the attempt began;
	// ownsFence: the transaction is the count's own (a directory move).
	fence     *fenceState
	ownsFence bool
}

// runTx executes fn in a check-and-apply transaction. fn reads through tx,
// decides, and queues writes; returning an error aborts without writing. fn
// may run several times and must not have side effects outside tx.
//
// An outcome that writes nothing is checked too. An errno (ENOENT, EEXIST,
// ENOTEMPTY, EACCES, ...) or a success with nothing to write decided from
// values Redis has not confirmed in this call (a cached value may be older
// than the call, by the invalidation delay or because this client's own
// write is not yet visible) is sent to the script with its conditions and
// no writes: it stands only if they still hold; otherwise fn decides again
// from the current values, as after any conflict. A mutation therefore
// never fails, or does nothing, because of a value that was already
// replaced when it began.
func (e *Engine) runTx(ctx context.Context, fn func(tx *Tx) error) error {
	if e.readOnly() {
		return syscall.EROFS
	}
	if e.format.Load() == nil {
		// Nothing is changed on a volume whose format this engine has not
		// read (Load, NewSession) or written (Init): it may be none.
		return ErrNotFormatted
	}
	if observe := e.opts.ObserveTxn; observe != nil {
		start := time.Now()
		defer func() { observe(time.Since(start)) }()
	}
	var fresh map[condID]cond
	noSpec := false
	tx := txPool.Get().(*Tx)
	defer txPool.Put(tx)
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		tx.reset(e, ctx)
		tx.fresh, tx.noSpeculation = fresh, noSpec
		tx.fence = e.qfence.state.Load()
		outcome := fn(tx)
		if outcome != nil {
			if tx.speculative && !noSpec {
				// The decision may rest on our own stale write: decide again
				// from values Redis vouches for.
				noSpec = true
				attempt--
				continue
			}
			if !tx.mustConfirm(outcome) {
				return outcome
			}
			tx.writes, tx.after, tx.accounts = nil, nil, nil
		} else if len(tx.writes) == 0 && !tx.mustConfirm(nil) {
			return nil
		}
		if len(tx.writes) == 0 {
			results, state, err := e.commit(ctx, tx)
			if state == nil {
				if err != nil && results == nil {
					e.txStats.errors.Add(1)
					return err
				}
				return outcome // confirmed: every condition held
			}
			fresh = state
		} else {
			state, err := e.commitAndAccount(ctx, tx)
			if hold := asFenceHold(err); hold != nil {
				// Held back by a count of a new directory quota, or the
				// fence was never read or changed: nothing was sent.
				if !hold.rerun {
					if err := e.awaitFence(ctx, hold.st); err != nil {
						return err
					}
				}
				attempt--
				continue
			}
			if state == nil {
				return err
			}
			if c, changed := e.fenceConflict(state); changed {
				// Refused by the fence alone or with other conditions:
				// learn it first; the attempt is not a conflict.
				if err := e.learnFence(ctx, c.value, c.present); err != nil {
					return err
				}
				fresh = state
				attempt--
				continue
			}
			fresh = state
		}
		e.txStats.conflicts.Add(1)
		if attempt+1 >= maxTxnAttempts {
			return fmt.Errorf("%w: %d attempts; last conflicting keys %v", ErrContended, attempt+1, conflictKeys(tx, fresh))
		}
		if attempt >= 3 {
			if err := sleepCtx(ctx, time.Duration(rand.IntN((attempt+1)*(attempt+1)))*time.Millisecond); err != nil {
				return err
			}
		}
	}
}

// commitAndAccount sends a transaction that writes and, once it is applied,
// runs its after-commit hooks, which do its accounting. For a transaction
// with accounting (Tx.Account), both happen under the shared accounting
// lock, so that a directory recount never sees this client's change in
// Redis while its statistics delta is still to come (it would count it
// twice); one without (a heartbeat, an xattr, a lock) has no delta and does
// not wait for a recount. The hooks therefore only record deltas and read:
// a hook that started or waited for a transaction could deadlock against a
// recount waiting for the lock. It returns the state of the conditions when
// one failed (nothing was applied), nil otherwise, with the error for the
// caller: nil, ErrNotReplicated after an applied change, or what failed.
func (e *Engine) commitAndAccount(ctx context.Context, tx *Tx) (map[condID]cond, error) {
	if len(tx.accounts) > 0 {
		e.stats.accounting.RLock()
		defer e.stats.accounting.RUnlock()
		if err := e.fenceAccounting(ctx, tx); err != nil {
			return nil, err
		}
		if tx.touchesKnown {
			e.stats.pinAncestry(ctx, tx.touched)
		}
	}
	results, state, err := e.commit(ctx, tx)
	if state != nil {
		return state, nil
	}
	if err != nil && results == nil {
		e.txStats.errors.Add(1)
		return nil, err
	}
	// Applied; err is nil or ErrNotReplicated (wait-replicas), which the
	// caller gets once the local state reflects the change.
	e.txStats.commits.Add(1)
	for _, f := range tx.after {
		if f.withResults != nil {
			f.withResults(results)
		} else {
			f.plain()
		}
	}
	for _, f := range tx.accounts {
		f()
	}
	return nil, err
}

// asFenceHold returns the fenceHold in err's chain, or nil; the variable
// errors.As fills escapes to the heap, so it is made only for an error.
func asFenceHold(err error) *fenceHold {
	if err == nil {
		return nil
	}
	var hold *fenceHold
	if !errors.As(err, &hold) {
		return nil
	}
	return hold
}

// applied tells whether a transaction that returned err was applied: with
// ErrNotReplicated (wait-replicas) it was, and this client's own accounting
// must follow, although the caller gets the error.
func applied(err error) bool { return err == nil || errors.Is(err, ErrNotReplicated) }

// Now is the time of this attempt (Options.Clock), read once: the times an
// operation writes, and the directory patches of its script, share it.
func (tx *Tx) Now() time.Time {
	if tx.now.IsZero() {
		tx.now = tx.e.now()
	}
	return tx.now
}

// txPool recycles the transactions of runTx (a Tx is a kilobyte and a half,
// most of a mutation's garbage otherwise).
var txPool = sync.Pool{New: func() any { return new(Tx) }}

// reset makes tx an empty transaction of e, its arrays ready for use.
func (tx *Tx) reset(e *Engine, ctx context.Context) {
	*tx = Tx{e: e, ctx: ctx}
	tx.conds, tx.writes, tx.args = tx.condBuf[:0], tx.writeBuf[:0], tx.argBuf[:0]
	tx.touched = tx.touchBuf[:0]
	tx.after, tx.accounts = tx.afterBuf[:0], tx.acctBuf[:0]
}

// mustConfirm tells whether an attempt that ends with outcome (nil: success)
// without writing must have its conditions checked by Redis before it is
// returned: it rests on values not confirmed in this call, and the outcome
// is a decision (an errno or a no-op), not a failure to read.
func (tx *Tx) mustConfirm(outcome error) bool {
	if !tx.unconfirmed || len(tx.conds) == 0 {
		return false
	}
	if outcome == nil {
		return true
	}
	var errno syscall.Errno
	var exists *ExistsError
	return errors.As(outcome, &errno) && errno != syscall.EROFS || errors.As(outcome, &exists)
}

func conflictKeys(tx *Tx, state map[condID]cond) []string {
	var keys []string
	for _, c := range tx.conds {
		s := state[condID{c.key, c.field, c.kind}]
		if s.present != c.present || (s.present && c.kind != condExists && s.value != c.value) {
			keys = append(keys, c.key)
		}
	}
	return keys
}

// commit sends the transaction. It returns the per-write results on success,
// or the current state of every condition when a condition failed.
func (e *Engine) commit(ctx context.Context, tx *Tx) ([]rueidis.RedisMessage, map[condID]cond, error) {
	call := e.encodeCall(tx, e.newMarker(), tx.Now())
	e.noteWriting(tx)
	gen := e.markerGen() // before sending: the answer proves the hash on that master
	reply, err := e.execMutation(ctx, call.script, call.keys, call.args, true, false)
	call.done()
	var lateErr error // ErrNotReplicated: the reply stands, the error follows it
	if errors.Is(err, ErrNotReplicated) {
		lateErr, err = err, nil
	}
	if err != nil {
		if isScriptPermissionError(err) {
			// Redis 7.0 does not say which command the script was denied.
			return nil, nil, fmt.Errorf("redis transaction: the Redis user may not run one of the commands of the transaction script (%s; docs/deployments.md lists what the engine needs): %w",
				strings.Join(tx.commands(), ", "), err)
		}
		return nil, nil, e.redisErr("transaction", err)
	}
	if len(reply) == 0 {
		return nil, nil, fmt.Errorf("transaction script: empty reply")
	}
	okFlag, err := reply[0].AsInt64()
	if err != nil {
		return nil, nil, fmt.Errorf("transaction script: malformed reply: %w", err)
	}
	if okFlag != 1 && okFlag != 2 {
		state, err := e.conflictState(tx, reply[1:])
		return nil, state, err
	}
	if want := replyResults(tx, call.reply); len(reply)-1 != want {
		return nil, nil, fmt.Errorf("transaction script: %d results for %d writes (%d expected)", len(reply)-1, len(tx.writes), want)
	}
	results := reply[1:]
	if call.reply == replyPatches {
		results = spreadPatches(tx, results)
	}
	if okFlag == 2 {
		e.txStats.replays.Add(1)
	}
	if len(tx.writes) > 0 { // a check alone leaves no marker
		e.markerWritten(call.marker.key, gen)
		e.ackMarker(call.marker)
	}
	e.afterCommit(tx, results)
	return results, nil, lateErr
}

// txCall is one call of a transaction script: txn.lua or the script
// compiled for the transaction's shape (see encodeCall), its KEYS and ARGV.
type txCall struct {
	script     *mutationScript
	keys, args []string
	marker     txnMarker // its replay marker: keys[0] and the last of args
	reply      replyKind // the results its reply carries (Tx.replyKind)
	buf        *callBuf  // the room of keys and args, recycled (see done)
}

// encodeTx lays out tx for the transaction script (see txn.lua): KEYS[1]
// is the replay marker, then every key the conditions and writes name,
// once; ARGV holds the time, the conditions and the writes, keys given by
// their index.
func encodeTx(tx *Tx, marker txnMarker, now time.Time) txCall {
	ix := keyIndexer{keys: make([]string, 1, 1+len(tx.conds)+len(tx.writes))}
	ix.keys[0] = marker.key
	args := make([]string, 0, 6+5*len(tx.conds)+6*len(tx.writes))
	args = append(args,
		strconv.FormatInt(now.Unix(), 10),
		strconv.Itoa(now.Nanosecond()),
		strconv.Itoa(len(tx.conds)))
	for _, c := range tx.conds {
		args = append(args, string(c.kind), ix.index(c.key))
		if c.kind == condHGet {
			args = append(args, c.field)
		}
		args = append(args, boolArg(c.present), c.value)
	}
	args = append(args, strconv.Itoa(len(tx.writes)))
	for _, w := range tx.writes {
		args = append(args, w.cmd, ix.index(w.key), strconv.Itoa(len(w.args)))
		args = append(args, w.args...)
	}
	kind := tx.replyKind()
	args = append(args, string(kind), marker.field)
	return txCall{keys: ix.keys, args: args, marker: marker, reply: kind}
}

// replyResults is how many results a reply of kind carries after its
// status (see Tx.replyKind).
func replyResults(tx *Tx, kind replyKind) int {
	switch kind {
	case replyAll:
		return len(tx.writes)
	case replyPatches:
		n := 0
		for _, w := range tx.writes {
			if w.cmd == cmdDirPatch {
				n++
			}
		}
		return n
	}
	return 0
}

// spreadPatches places the results of tx's directory patches, in order,
// at their writes' indexes (the others zero), for the overlay.
func spreadPatches(tx *Tx, patches []rueidis.RedisMessage) []rueidis.RedisMessage {
	results := make([]rueidis.RedisMessage, len(tx.writes))
	for i, w := range tx.writes {
		if w.cmd == cmdDirPatch {
			results[i], patches = patches[0], patches[1:]
		}
	}
	return results
}

// keyIndexer numbers the keys of a script call. Most transactions touch a
// handful of keys, for which a linear search beats a map; batches use the
// map.
type keyIndexer struct {
	keys  []string
	byKey map[string]int // from 17 keys on
}

// index returns the 1-based KEYS index of k as a string, adding k.
func (x *keyIndexer) index(k string) string {
	if x.byKey != nil {
		if i, ok := x.byKey[k]; ok {
			return itoa(i)
		}
	} else {
		for i, have := range x.keys {
			if have == k {
				return itoa(i + 1)
			}
		}
	}
	x.keys = append(x.keys, k)
	if x.byKey == nil && len(x.keys) > 16 {
		x.byKey = make(map[string]int, 4*len(x.keys))
		for i, have := range x.keys {
			x.byKey[have] = i + 1
		}
	} else if x.byKey != nil {
		x.byKey[k] = len(x.keys)
	}
	return itoa(len(x.keys))
}

func itoa(i int) string {
	if i < len(smallInts) {
		return smallInts[i]
	}
	return strconv.Itoa(i)
}

// conflictState decodes the script's reply to failed conditions (present,
// value pairs in condition order) into the current state of every
// condition. What we believed about the keys that changed came from the
// cache or the overlay and is outdated: it is dropped at once, without
// waiting for Redis' invalidation.
func (e *Engine) conflictState(tx *Tx, pairs []rueidis.RedisMessage) (map[condID]cond, error) {
	if len(pairs) != 2*len(tx.conds) {
		return nil, fmt.Errorf("transaction script: conflict reply has %d values for %d conditions", len(pairs), len(tx.conds))
	}
	state := make(map[condID]cond, len(tx.conds))
	var stale []string
	for i, c := range tx.conds {
		p, _ := pairs[2*i].ToString()
		v, _ := pairs[2*i+1].ToString()
		s := cond{kind: c.kind, key: c.key, field: c.field, present: p == "1", value: v}
		state[condID{c.key, c.field, c.kind}] = s
		if s.present != c.present || (s.present && s.value != c.value && c.kind != condExists) {
			stale = append(stale, c.key)
		}
	}
	e.cache.Invalidate(stale...)
	e.overlay.forget(stale...)
	return state, nil
}

// noteWriting marks the attributes and directories tx writes as changing,
// before it is sent: a directory recount (see recountDirStat) then knows
// that a write it cannot see the end of yet may be about to queue a
// statistics delta.
func (e *Engine) noteWriting(tx *Tx) {
	var buf [8]string
	keys := buf[:0]
	for _, w := range tx.writes {
		if e.overlayable(w.key) {
			keys = append(keys, w.key)
		}
	}
	if len(keys) > 0 {
		e.cache.NoteChange(keys...)
	}
}

// isScriptPermissionError recognises an ACL denial inside a script.
func isScriptPermissionError(err error) bool {
	return strings.Contains(err.Error(), "user executing the script can't run this command")
}

// commands lists the Redis commands the script runs for tx.
func (tx *Tx) commands() []string {
	seen := map[string]bool{"GET": true, "SET": true}
	out := []string{"GET", "SET"}
	add := func(c string) {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	for _, c := range tx.conds {
		switch c.kind {
		case condHGet:
			add("HGET")
		case condExists:
			add("EXISTS")
		case condList:
			add("LRANGE")
		}
	}
	for _, w := range tx.writes {
		if !strings.HasPrefix(w.cmd, "!") {
			add(w.cmd)
		}
	}
	return out
}

// afterCommit makes this client's own writes visible to its later reads
// before the operation returns: cached values of written keys are dropped,
// and what we now know the keys hold is remembered for later transactions.
func (e *Engine) afterCommit(tx *Tx, results []rueidis.RedisMessage) {
	var buf [16]string
	written := buf[:0]
	for _, w := range tx.writes {
		written = append(written, w.key)
	}
	e.overlay.record(e, tx.writes, results)
	e.cache.Invalidate(written...)
}

// smallInts are the decimal strings of 0..63, the key indexes and counts of
// almost every transaction.
var smallInts = func() (s [64]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return
}()

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// stringKinds are the condition kinds on a whole string value; a transaction
// keeps at most one of them per key, the stronger (full compare) winning.
func stringKind(k condKind) bool { return k == condGet || k == condAttr }

// maxLinearConds is how many conditions a transaction searches one by one;
// beyond, it indexes them (batches).
const maxLinearConds = 16

// condAt returns the position of the condition on id, if any.
func (tx *Tx) condAt(id condID) (int, bool) {
	if tx.index != nil {
		i, ok := tx.index[id]
		return i, ok
	}
	for i := range tx.conds {
		if c := &tx.conds[i]; c.kind == id.kind && c.key == id.key && c.field == id.field {
			return i, true
		}
	}
	return 0, false
}

func (tx *Tx) addCond(c cond) {
	if stringKind(c.kind) {
		for _, k := range [...]condKind{condGet, condAttr} {
			if i, ok := tx.condAt(condID{c.key, "", k}); ok {
				if c.kind == condGet && k == condAttr {
					tx.conds[i] = c
					if tx.index != nil {
						delete(tx.index, condID{c.key, "", k})
						tx.index[condID{c.key, "", condGet}] = i
					}
				}
				return
			}
		}
	}
	id := condID{c.key, c.field, c.kind}
	if i, ok := tx.condAt(id); ok {
		tx.conds[i] = c
		return
	}
	tx.conds = append(tx.conds, c)
	switch {
	case tx.index != nil:
		tx.index[id] = len(tx.conds) - 1
	case len(tx.conds) > maxLinearConds:
		tx.index = make(map[condID]int, 2*len(tx.conds))
		for i, c := range tx.conds {
			tx.index[condID{c.key, c.field, c.kind}] = i
		}
	}
}

// known returns what this transaction already knows about a value without a
// read: from an earlier read in this attempt, from the previous attempt's
// conflict reply, or (speculatively) from the overlay of our own writes.
func (tx *Tx) known(kind condKind, key, field string) (cond, bool) {
	kinds := []condKind{kind}
	if stringKind(kind) {
		kinds = []condKind{condGet, condAttr}
	}
	for _, k := range kinds {
		if i, ok := tx.condAt(condID{key, field, k}); ok {
			c := tx.conds[i]
			c.kind = kind
			return c, true
		}
	}
	for _, k := range kinds {
		if c, ok := tx.fresh[condID{key, field, k}]; ok {
			c.kind = kind
			return c, true
		}
	}
	if kind == condExists || kind == condList || tx.noSpeculation {
		return cond{}, false
	}
	if v, present, ok := tx.e.overlay.get(key, field); ok {
		tx.speculative, tx.unconfirmed = true, true
		return cond{kind: kind, key: key, field: field, present: present, value: v}, true
	}
	return cond{}, false
}

// get reads a string key and records the condition "unchanged".
func (tx *Tx) get(key string, kind condKind) (string, bool, error) {
	if c, ok := tx.known(kind, key, ""); ok {
		tx.addCond(c)
		return c.value, c.present, nil
	}
	v, present, err := tx.e.cachedGet(tx.ctx, key)
	if err != nil {
		return "", false, err
	}
	tx.unconfirmed = true
	tx.addCond(cond{kind: kind, key: key, present: present, value: v})
	return v, present, nil
}

// Get reads a string key and makes the commit depend on it being unchanged.
func (tx *Tx) Get(key string) (string, bool, error) { return tx.get(key, condGet) }

// GetAttrBytes reads an attribute key; the commit depends only on the bytes
// that type, permission, ownership, flags, parent and ACL decisions use, so
// concurrent nlink/time updates (directory patches) do not conflict.
func (tx *Tx) GetAttrBytes(key string) (string, bool, error) { return tx.get(key, condAttr) }

// MGet reads several string keys (one round trip for the ones not known or
// cached) with full-value conditions.
func (tx *Tx) MGet(keys ...string) ([]string, []bool, error) {
	vals := make([]string, len(keys))
	present := make([]bool, len(keys))
	var missing []int
	for i, k := range keys {
		if c, ok := tx.known(condGet, k, ""); ok {
			tx.addCond(c)
			vals[i], present[i] = c.value, c.present
		} else {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		return vals, present, nil
	}
	mk := make([]string, len(missing))
	for j, i := range missing {
		mk[j] = keys[i]
	}
	mv, mp, err := tx.e.cachedMGet(tx.ctx, mk)
	if err != nil {
		return nil, nil, err
	}
	tx.unconfirmed = true
	for j, i := range missing {
		vals[i], present[i] = mv[j], mp[j]
		tx.addCond(cond{kind: condGet, key: keys[i], present: mp[j], value: mv[j]})
	}
	return vals, present, nil
}

// HGet reads one hash field and makes the commit depend on it.
func (tx *Tx) HGet(key, field string) (string, bool, error) {
	if c, ok := tx.known(condHGet, key, field); ok {
		tx.addCond(c)
		return c.value, c.present, nil
	}
	v, present, err := tx.e.cachedHGet(tx.ctx, key, field)
	if err != nil {
		return "", false, err
	}
	tx.unconfirmed = true
	tx.addCond(cond{kind: condHGet, key: key, field: field, present: present, value: v})
	return v, present, nil
}

// LRanges reads whole lists of slice records (chunk lists) and makes the
// commit depend on each being unchanged: a copy made from them must not
// reference slices that a compaction has meanwhile replaced and deleted.
func (tx *Tx) LRanges(keys []string) ([][]string, error) {
	out := make([][]string, len(keys))
	var missing []string
	var at []int
	for i, k := range keys {
		if c, ok := tx.known(condList, k, ""); ok {
			tx.addCond(c)
			recs, err := splitRecords(k, c.value)
			if err != nil {
				return nil, err
			}
			out[i] = recs
			continue
		}
		missing, at = append(missing, k), append(at, i)
	}
	if len(missing) == 0 {
		return out, nil
	}
	lists, err := tx.e.cachedLRanges(tx.ctx, missing)
	if err != nil {
		return nil, err
	}
	tx.unconfirmed = true
	for j, l := range lists {
		out[at[j]] = l
		tx.addCond(cond{kind: condList, key: missing[j], present: true, value: strings.Join(l, "")})
	}
	return out, nil
}

// splitRecords cuts the concatenated records of a list condition apart.
func splitRecords(key, v string) ([]string, error) {
	if len(v)%codec.SliceRecordSize != 0 {
		return nil, corrupt(key, fmt.Errorf("slice list of %d bytes, not a multiple of %d", len(v), codec.SliceRecordSize))
	}
	recs := make([]string, 0, len(v)/codec.SliceRecordSize)
	for len(v) > 0 {
		recs, v = append(recs, v[:codec.SliceRecordSize]), v[codec.SliceRecordSize:]
	}
	return recs, nil
}

// ExpectFieldAbsent makes the commit depend on a hash field not existing,
// without reading it: a create that finds the name taken learns so from the
// conflict reply instead of paying a round trip up front.
func (tx *Tx) ExpectFieldAbsent(key, field string) {
	if c, ok := tx.known(condHGet, key, field); ok {
		tx.addCond(c)
		return
	}
	tx.unconfirmed = true
	tx.addCond(cond{kind: condHGet, key: key, field: field})
}

// HGetLikelyAbsent reads a hash field that is most likely absent, such as the
// name a rename moves to. Unless its value is known or cached, it is assumed
// absent without a round trip (see assumeAbsent).
func (tx *Tx) HGetLikelyAbsent(key, field string) (string, bool, error) {
	if c, ok := tx.assumeAbsent(condHGet, key, field, cmdField+field); ok {
		return c.value, c.present, nil
	}
	return tx.HGet(key, field)
}

// assumeAbsent records the condition that (key, field) is absent, without a
// read, or what the transaction already knows of it, and returns it; false
// when a real read is due instead: when this attempt may not speculate, or
// when the value is in the client-side cache under cacheCmd (reading it costs
// nothing then). The commit checks the assumption, and when it is wrong the
// conflict reply gives the actual value to the next attempt; an attempt that
// fails with an error while resting on the assumption is run again with
// real reads, as after a speculative read of the overlay.
func (tx *Tx) assumeAbsent(kind condKind, key, field, cacheCmd string) (cond, bool) {
	if c, ok := tx.known(kind, key, field); ok {
		tx.addCond(c)
		return c, true
	}
	if tx.noSpeculation || tx.e.cache.Cached(key, cacheCmd) {
		return cond{}, false
	}
	tx.speculative, tx.unconfirmed = true, true
	c := cond{kind: kind, key: key, field: field}
	tx.addCond(c)
	return c, true
}

// KnownField reports what the transaction knows about a hash field without
// reading it (after ExpectFieldAbsent and a conflict, the actual value).
func (tx *Tx) KnownField(key, field string) (string, bool) {
	i, ok := tx.condAt(condID{key, field, condHGet})
	if !ok {
		return "", false
	}
	return tx.conds[i].value, tx.conds[i].present
}

// KnownKey reports what the transaction knows about a key's existence
// without reading it (after ExpectNoKey and a conflict, the actual state).
func (tx *Tx) KnownKey(key string) (present, known bool) {
	i, ok := tx.condAt(condID{key, "", condExists})
	if !ok {
		return false, false
	}
	return tx.conds[i].present, true
}

// Exists reads whether a key exists and makes the commit depend on it.
func (tx *Tx) Exists(key string) (bool, error) {
	if c, ok := tx.known(condExists, key, ""); ok {
		tx.addCond(c)
		return c.present, nil
	}
	n, err := tx.e.cachedExists(tx.ctx, key)
	if err != nil {
		return false, err
	}
	tx.unconfirmed = true
	tx.addCond(cond{kind: condExists, key: key, present: n})
	return n, nil
}

// ExistsLikelyNot is Exists for a key that most likely does not exist, such
// as the entries of a directory being removed (rm -r empties it first).
// Unless its state is known or cached, it is assumed absent without a round
// trip (see assumeAbsent).
func (tx *Tx) ExistsLikelyNot(key string) (bool, error) {
	if c, ok := tx.assumeAbsent(condExists, key, "", cmdHLen); ok {
		return c.present, nil
	}
	return tx.Exists(key)
}

// ExpectNoKey makes the commit depend on a key not existing, without reading.
func (tx *Tx) ExpectNoKey(key string) {
	if c, ok := tx.known(condExists, key, ""); ok {
		tx.addCond(c)
		return
	}
	tx.unconfirmed = true
	tx.addCond(cond{kind: condExists, key: key})
}

// Do queues a write command applied to key.
func (tx *Tx) Do(cmd, key string, args ...string) {
	n := len(tx.args)
	tx.args = append(tx.args, args...)
	tx.writes = append(tx.writes, write{cmd: cmd, key: key, args: tx.args[n:len(tx.args):len(tx.args)]})
}

// Set queues SET key value.
func (tx *Tx) Set(key, value string) { tx.Do("SET", key, value) }

// Del queues DEL key.
func (tx *Tx) Del(key string) { tx.Do("DEL", key) }

// HSet queues HSET key field value.
func (tx *Tx) HSet(key, field, value string) { tx.Do("HSET", key, field, value) }

// HDel queues HDEL key fields...
func (tx *Tx) HDel(key string, fields ...string) { tx.Do("HDEL", key, fields...) }

// HIncrBy queues HINCRBY key field delta.
func (tx *Tx) HIncrBy(key, field string, delta int64) {
	tx.Do("HINCRBY", key, field, strconv.FormatInt(delta, 10))
}

// IncrBy queues INCRBY key delta (nothing when delta is 0).
func (tx *Tx) IncrBy(key string, delta int64) {
	if delta != 0 {
		tx.Do("INCRBY", key, strconv.FormatInt(delta, 10))
	}
}

// PatchDir queues the server-side update of a directory whose content
// changes: nlink += delta and mtime = ctime = now. When the link count does
// not change and the directory's mtime (as read into dir) is younger than the
// skip-dir-mtime option, nothing is written, as the official client does;
// mtimes only move forward, so a stale read can only make us write when we
// could have skipped. The patch is applied by the script to the current
// value, so concurrent operations in one directory do not conflict.
func (tx *Tx) PatchDir(key string, dir *Attr, delta int) {
	if delta == 0 && dir != nil {
		mtime := time.Unix(dir.Mtime, int64(dir.Mtimensec))
		if tx.Now().Sub(mtime) < tx.e.opts.SkipDirMtime {
			return
		}
	}
	tx.Do(cmdDirPatch, key, strconv.Itoa(delta))
}

// cmdDirPatch is the write of PatchDir, applied by the script itself.
const cmdDirPatch = "!dirpatch"

// afterFn is a function run once the transaction committed: one of the two.
type afterFn struct {
	plain       func()
	withResults func(results []rueidis.RedisMessage)
}

// After registers fn, run once the transaction committed.
func (tx *Tx) After(fn func()) { tx.after = append(tx.after, afterFn{plain: fn}) }

// AfterResults registers fn, run once the transaction committed with the
// result of every write (results[i] for the write queued when WriteIndex
// returned i). Registering it is what makes the reply carry the results:
// Redis builds, keeps (replay marker) and sends them only for transactions
// that read them.
func (tx *Tx) AfterResults(fn func(results []rueidis.RedisMessage)) {
	tx.readsResults = true
	tx.after = append(tx.after, afterFn{withResults: fn})
}

// Account registers the accounting of the transaction (directory statistics,
// quotas, volume usage): it runs once the transaction committed, after the
// After functions, before a directory recount can read what it changed (see
// commitAndAccount).
func (tx *Tx) Account(fn func()) { tx.accounts = append(tx.accounts, fn) }

// Logging reports whether the volume keeps a change log. The frequent
// operations ask before calling Log: building its arguments (escaped
// names, numbers in interfaces) costs allocations even when Log drops them.
func (tx *Tx) Logging() bool {
	f := tx.e.format.Load()
	return f != nil && f.ChangeLog
}

// WriteIndex returns the index the next queued write will have, so an
// AfterResults function can find its result.
func (tx *Tx) WriteIndex() int { return len(tx.writes) }

// replyKind is what the reply to a transaction carries after its status
// (the script's argument before its marker's): the results a caller reads
// and no others, which spares Redis building, storing (replay marker) and
// sending them.
type replyKind string

const (
	replyStatus  replyKind = "0" // none: the reply is the number 1
	replyAll     replyKind = "1" // every write's (a caller reads one, see WriteIndex)
	replyPatches replyKind = "p" // the directory patches' (their new attributes, for the overlay)
)

func (tx *Tx) replyKind() replyKind {
	switch {
	case tx.readsResults:
		return replyAll
	case tx.patches():
		return replyPatches
	}
	return replyStatus
}

// Log appends a change-log entry to the transaction when the volume has the
// change log enabled (txnLog, txnLastLog, in the same atomic unit as the
// change, as the official client does). op is NAME(args)[:result].
func (tx *Tx) Log(format string, args ...any) {
	if !tx.Logging() {
		return
	}
	tx.Do("RPUSH", tx.e.keys.TxnLog(), tx.e.changeLogEntry(fmt.Sprintf(format, args...)))
	tx.Do("INCR", tx.e.keys.TxnLastLog())
}

// changeLogEntry formats {sec}.{nsec}|{op}|({sid},{txnId}).
func (e *Engine) changeLogEntry(op string) string {
	now := e.now()
	return fmt.Sprintf("%d.%09d|%s|(%d,%d)", now.Unix(), now.Nanosecond(), op, e.sid.Load(), e.txnID.Add(1))
}

// logEscape escapes a string argument of a change-log entry: bytes below
// 0x20, from 0x7F, and , % ( ) " \ become %XX.
func logEscape(s string) string {
	needs := false
	for i := 0; i < len(s) && !needs; i++ {
		needs = logEscapeByte(s[i])
	}
	if !needs {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if logEscapeByte(c) {
			b = append(b, '%', hex[c>>4], hex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

func logEscapeByte(c byte) bool {
	return c < 0x20 || c >= 0x7F || c == ',' || c == '%' || c == '(' || c == ')' || c == '"' || c == '\\'
}

func logEscapeList(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = logEscape(n)
	}
	return strings.Join(out, ",")
}
