package meta

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// The quota fence makes the usage of a new directory quota exact although
// rueidisfs clients keep writing while it is counted. Usage is kept by
// deltas: each client charges the quotas it knows above the directory a
// mutation changes, in memory, and flushes them later. A new quota D is
// counted by a walk of its tree; a mutation the walk saw must not be
// charged to D, one it did not see must be.
//
// The fence is one key of our own (Keys.QuotaFence). Every transaction with
// accounting (Tx.Account) carries one more condition: the key holds what its
// client believes it holds. The setter of D first sets the key to
// "count D token" with a lease, then walks, then stores D with its count and
// sets the key to "quota D token" (no expiry) in one transaction. So:
//   - a mutation committed before the fence is in Redis before the walk
//     reads, and its client did not know D: counted once, by the walk;
//   - a mutation inside D's tree cannot commit while the fence holds: its
//     client is refused (the key changed), learns the fence and waits for
//     the key to change again (commitAndAccount, awaitFence);
//   - a mutation outside D's tree goes on during the count: D's usage does
//     not depend on it;
//   - a mutation committed after D was stored passed "quota D token", so its
//     client had learnt it: learnFence reloads the quotas (D included) and
//     drops the cached ancestry under the exclusive accounting lock, before
//     any transaction can pass the new value; the mutation is charged to D.
//
// Whether a directory is inside D is read from Redis (uncached) by
// following the parents up; during the fence no rueidisfs rename moves a
// directory into or out of D's tree (it is a mutation inside D: it waits),
// and renames elsewhere do not change which directories are inside D, so
// the answers are kept for the fence's life (fenceState.inside).
//
// `quota check --repair` of an existing quota D counts and stores the same
// way; clients may then hold usage of D they charged before the fence,
// which the count has. Each such store (and a delete of D, and the
// removal of directory D, see queueDropDirStats) writes a new count token
// of D (Keys.QuotaCounts) in the same transaction; a client's
// flush adds its usage of D only while the token is the one it loaded, and
// a client that loads a new token (under the exclusive accounting lock)
// drops what it holds for D: every delta it charged to D under the old
// token belongs to a mutation committed before the fence was taken (none
// inside D commits during the count, and after the store it must learn the
// fence, and with it the token, first). See quotaflush.go.
//
// What is trusted: that JuiceFS clients do not write in D's tree while it is
// counted, nor hold unflushed usage of D when it is stored (they ignore the
// fence and the tokens; docs/commands.md says so).

//go:embed quotafence.lua
var quotaFenceLua string

var quotaFenceScript = rueidis.NewLuaScript(luaSource("quotafence.lua", quotaFenceLua))

// defaultFenceLease is how long a fence outlives its setter (renewed every
// third of it while the count runs): the longest a crashed `quota set`
// holds writers back.
const defaultFenceLease = 10 * time.Second

const (
	fenceCounting = "count "
	fenceStored   = "quota "
)

// fenceState is the quota fence as this client believes it is.
type fenceState struct {
	value   string // the key's value, "" when absent
	present bool
	counted []Ino // while a count holds the fence: the directories counted
	// inside caches whether a directory is inside one of counted's trees.
	inside sync.Map
}

// quotaFence is an engine's view of the fence, and its setter's knobs.
type quotaFence struct {
	key   string
	state atomic.Pointer[fenceState] // nil until first read
	lease time.Duration
	// beforeStore, when set (by tests), runs after the count, before the
	// quota is stored; noRenew stops the lease renewal (a stalled setter).
	beforeStore func()
	noRenew     bool
}

func newFenceState(value string, present bool) *fenceState {
	st := &fenceState{value: value, present: present}
	if rest, ok := strings.CutPrefix(value, fenceCounting); ok && present {
		dirs, _, _ := strings.Cut(rest, " ")
		for _, d := range strings.Split(dirs, ",") {
			if n, err := strconv.ParseUint(d, 10, 64); err == nil && n > 0 {
				st.counted = append(st.counted, Ino(n))
			}
		}
	}
	return st
}

// fenceHold is returned by commitAndAccount, before anything is sent, when
// the transaction must wait: the fence was never read, or a count holds it
// and the transaction changes the usage inside the directory counted.
type fenceHold struct {
	st    *fenceState
	rerun bool // the fence changed since the attempt began: decide again
}

func (*fenceHold) Error() string { return "held back by the quota fence" }

// Touches declares the directories whose quota usage the transaction's
// accounting changes (the parents of the names it adds, removes or resizes).
// Without a declaration, a transaction with accounting waits for every count
// of a new directory quota to end.
func (tx *Tx) Touches(dirs ...Ino) {
	tx.touchesKnown = true
	tx.touched = append(tx.touched, dirs...)
}

// touchParent declares the parent of a file whose length changes; a file
// with several names (parent 0) is left undeclared: it waits. A file in no
// directory (unlinked while open) touches none.
func touchParent(tx *Tx, a *Attr) {
	switch {
	case !inDirectories(a):
		tx.Touches()
	case a.Parent > 0:
		tx.Touches(a.Parent)
	}
}

// fenceAccounting adds the fence condition to a transaction with accounting
// (called with the accounting lock held shared, so the state cannot change
// until the accounting is done), or tells it to wait.
func (e *Engine) fenceAccounting(ctx context.Context, tx *Tx) error {
	st := e.qfence.state.Load()
	if st == nil {
		return &fenceHold{}
	}
	if st != tx.fence {
		// The attempt decided with the quotas of another fence (a rename's
		// quota move, a limit): decide again with the current ones.
		return &fenceHold{st: st, rerun: true}
	}
	if len(st.counted) > 0 && !tx.ownsFence {
		if !tx.touchesKnown {
			return &fenceHold{st: st}
		}
		for _, d := range tx.touched {
			in, err := e.insideCounted(ctx, st, d)
			if err != nil {
				return err
			}
			if in {
				return &fenceHold{st: st}
			}
		}
	}
	tx.conds = append(tx.conds, cond{kind: condGet, key: e.qfence.key, present: st.present, value: st.value})
	return nil
}

// insideCounted reports whether directory dir is one of st.counted or below,
// following the parents in Redis. A directory that is gone counts as
// inside: its transaction waits (and will find it gone).
func (e *Engine) insideCounted(ctx context.Context, st *fenceState, dir Ino) (bool, error) {
	var g upwardGuard
	var path []Ino
	in := false
	for {
		if v, ok := st.inside.Load(dir); ok {
			in = v.(bool)
			break
		}
		if slices.Contains(st.counted, dir) {
			in = true
			break
		}
		if dir <= RootInode || dir.IsTrash() {
			break
		}
		if err := g.step(ctx, dir); err != nil {
			return false, err
		}
		path = append(path, dir)
		key := e.keys.Inode(dir)
		v, ok, err := stringReply(e, "GET", key, e.rdb.Do(ctx, e.rdb.B().Get().Key(key).Build()))
		if err != nil {
			return false, err
		}
		if !ok {
			in = true
			break
		}
		a, err := e.decodeAttr(key, v)
		if err != nil {
			return false, err
		}
		dir = a.Parent
	}
	for _, p := range path {
		st.inside.Store(p, in)
	}
	return in, nil
}

// fenceConflict returns the fence's current value from the state of a
// failed commit, and whether it differs from what this client believes.
func (e *Engine) fenceConflict(state map[condID]cond) (cond, bool) {
	c, ok := state[condID{e.qfence.key, "", condGet}]
	if !ok {
		return cond{}, false
	}
	st := e.qfence.state.Load()
	changed := st == nil || c.present != st.present || (c.present && c.value != st.value)
	return c, changed
}

// readFence reads the fence from Redis.
func (e *Engine) readFence(ctx context.Context) (string, bool, error) {
	return stringReply(e, "GET", e.qfence.key, e.rdb.Do(ctx, e.rdb.B().Get().Key(e.qfence.key).Build()))
}

// awaitFence waits until the fence differs from st (st nil: reads it once)
// and learns its new value.
func (e *Engine) awaitFence(ctx context.Context, st *fenceState) error {
	delay := time.Millisecond
	for {
		v, present, err := e.readFence(ctx)
		if err != nil {
			return err
		}
		if st == nil || v != st.value || present != st.present {
			return e.learnFence(ctx, v, present)
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return err
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// learnFence makes value the fence this client believes in. With the
// accounting lock held exclusively (no transaction is between its commit
// and its accounting), the quotas are reloaded from Redis and the cached
// ancestry dropped, so that a transaction that passes the new value is
// charged to the quotas as they are now.
func (e *Engine) learnFence(ctx context.Context, value string, present bool) error {
	s := e.stats
	s.accounting.Lock()
	defer s.accounting.Unlock()
	if st := e.qfence.state.Load(); st != nil && st.present == present && st.value == value {
		return nil
	}
	if !s.format().DirStats {
		// A `quota set` may have turned directory statistics on, which
		// this client would otherwise learn only at its next heartbeat,
		// charging no directory quota until then. (Its stored value may
		// already be replaced by a later fence's.)
		if f, err := e.readFormat(ctx); err == nil && f.CheckMetaVersion() == nil {
			if old := e.format.Load(); old == nil || old.UUID == f.UUID {
				e.format.Store(f)
			}
		}
	}
	if !e.readOnly() {
		if err := s.loadQuotasLocked(ctx); err != nil {
			return fmt.Errorf("reload quotas after the quota fence changed: %w", err)
		}
	}
	s.clearParents()
	e.qfence.state.Store(newFenceState(value, present))
	return nil
}

// errFenceLost says the count of a new directory quota outlasted its fence.
var errFenceLost = errors.New("the quota fence was lost")

// takeFence sets the fence for a count of dirs, waiting while another
// count holds it. It returns the fence's value and a function that stops
// its renewal.
func (e *Engine) takeFence(ctx context.Context, dirs ...Ino) (string, func(), error) {
	names := make([]string, len(dirs))
	for i, d := range dirs {
		names[i] = d.String()
	}
	value := fmt.Sprintf("%s%s %016x", fenceCounting, strings.Join(names, ","), rand.Uint64())
	lease := e.qfence.lease
	if lease <= 0 {
		lease = defaultFenceLease
	}
	ms := fmt.Sprint(lease.Milliseconds())
	delay := 10 * time.Millisecond
	for {
		holder, err := quotaFenceScript.Exec(ctx, e.rdb, []string{e.qfence.key}, []string{"take", value, ms}).ToString()
		if isNil(err) {
			break
		}
		if err != nil {
			return "", nil, e.redisErr("take the quota fence", err)
		}
		e.log.Info(fmt.Sprintf("quota set: waiting for another count (%s)", holder))
		if err := sleepCtx(ctx, delay); err != nil {
			return "", nil, err
		}
		delay = min(2*delay, time.Second)
	}
	renewCtx, stop := context.WithCancel(e.life)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(lease / 3)
		defer t.Stop()
		for {
			select {
			case <-renewCtx.Done():
				return
			case <-t.C:
			}
			if e.qfence.noRenew {
				continue
			}
			if err := quotaFenceScript.Exec(renewCtx, e.rdb, []string{e.qfence.key}, []string{"renew", value, ms}).Error(); err != nil && renewCtx.Err() == nil {
				e.log.Warn(fmt.Sprintf("renew the quota fence: %v", err))
			}
		}
	}()
	return value, func() { stop(); <-done }, nil
}

// releaseFence removes a fence that is still ours (a count that failed).
func (e *Engine) releaseFence(ctx context.Context, value string) {
	if err := quotaFenceScript.Exec(ctx, e.rdb, []string{e.qfence.key}, []string{"release", value}).Error(); err != nil {
		e.log.Warn(fmt.Sprintf("release the quota fence (it expires by its lease): %v", err))
	}
}
