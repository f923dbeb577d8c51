package meta

import (
	"context"
	_ "embed"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Replay markers (see fault.go for why they exist).
//
// A transaction's marker is a field of a hash: the field is the
// transaction's random id, its value the script's results. Each client
// writes its markers into a hash of its own (keyspace.TxnMarker with a
// random id) for markerTTL, then starts a new one. The script that first
// writes into a hash gives it an expiry of markerHashTTL, twice markerTTL:
// every marker written during the hash's markerTTL of use lives at least
// markerTTL. A new key with an expiry per transaction, as markers were
// first stored, cost Redis about three times as much as a new field of an
// existing hash, and deleting it half as much again.
//
// The scripts get the hash as a key and the field as their next-to-last
// argument; the last is the call's marker flag (see markerFlag).
//
// Giving the hash its expiry costs a script a PTTL after every marker it
// writes, unless it is told that the hash has one already: once a
// transaction script has written a marker into the hash in use and been
// answered, the hash exists with its expiry (the script that created it
// gave it one), and the transaction scripts sent after need not look
// (flag markerTTLKnown). A fault of any mutation, and a Sentinel
// failover, forget this until the next answer, so that a hash lost with a
// failover is given its expiry again.

//go:embed markerack.lua
var markerAckLua string

// markerAckScript deletes acknowledged markers without ever emptying a hash
// that has its expiry (see markerack.lua).
var markerAckScript = rueidis.NewLuaScript(luaSource("markerack.lua", markerAckLua))

// markerHashTTL is the life of a marker hash (the scripts get it as
// ${MARKER_HASH_TTL_MS}, see scripts.go).
const markerHashTTL = 2 * markerTTL

// txnMarker names the replay marker of one transaction.
type txnMarker struct {
	key   string // the hash
	field string // the transaction's id
}

// markerHash is the hash a client writes its markers into until expires.
type markerHash struct {
	key     string
	expires time.Duration // on monoNow's clock
	// ttlSince is 1 + the failover generation (see markerGen) at which a
	// transaction that wrote a marker into the hash was answered, 0 when
	// none has been since the last fault (see markerFlag).
	ttlSince atomic.Uint64
}

// The values of a guarded script's last argument, its marker flag.
const (
	markerResent   = "1" // the call may have been sent before: look for its marker first
	markerFirst    = "2" // first sending: no marker yet; give the hash its expiry if it has none
	markerTTLKnown = "0" // first sending, and the hash has its expiry already (txn.lua and compiled transactions)
)

// markerFlag returns the marker flag of a script call whose keys are keys:
// markerTTLKnown for a transaction (txn is set) into the marker hash in use
// once that hash has its expiry, markerResent for a call sent again,
// markerFirst otherwise.
func (e *Engine) markerFlag(txn bool, keys []string, resent bool) string {
	if resent {
		return markerResent
	}
	// In a Cluster (a prefixed volume) rueidis follows a slot's new master
	// by itself (MOVED), so a failover may pass unseen: the scripts look.
	h := e.markerHash.Load()
	if txn && h != nil && len(keys) > 0 && keys[0] == h.key && h.ttlSince.Load() == e.markerGen() && e.keys.Prefix() == "" {
		return markerTTLKnown
	}
	return markerFirst
}

// markerGen is 1 + the generation of the Sentinel failover watcher (1
// without Sentinel): a hash known to expire on one master may be missing
// on the next.
func (e *Engine) markerGen() uint64 {
	if fo := e.conn.Failover; fo != nil {
		return fo.Gen() + 1
	}
	return 1
}

// markerWritten records that a transaction which wrote its marker into the
// hash key was answered: the hash exists, with its expiry, on the master of
// gen, the markerGen read before the transaction was sent (a failover since
// makes the next transactions look again).
func (e *Engine) markerWritten(key string, gen uint64) {
	if h := e.markerHash.Load(); h != nil && h.key == key {
		if h.ttlSince.Load() != gen {
			h.ttlSince.Store(gen)
		}
	}
}

// markerFault forgets that the marker hash in use has its expiry: after a
// fault (a failover may have lost it) the next transactions look again.
func (e *Engine) markerFault() {
	if h := e.markerHash.Load(); h != nil {
		h.ttlSince.Store(0)
	}
}

// monoStart is the origin of monoNow.
var monoStart = time.Now()

// monoNow reads the monotonic clock alone, for deadlines within this
// process: time.Now reads the wall clock too, which costs as much again on
// some virtual machines, and every mutation reads this clock twice.
func monoNow() time.Duration { return time.Since(monoStart) }

// newMarker returns the replay marker of a new transaction.
func (e *Engine) newMarker() txnMarker {
	h := e.markerHash.Load()
	if now := monoNow(); h == nil || now >= h.expires {
		h = &markerHash{key: e.keys.TxnMarker(rand.Uint64()), expires: now + markerTTL}
		e.markerHash.Store(h) // racing writers each store a fresh hash: any is fine
	}
	return txnMarker{key: h.key, field: strconv.FormatUint(rand.Uint64(), 36)}
}

// markerState is what an engine keeps of its markers: the hash in use,
// and the markers of acknowledged transactions, which nobody will send
// again, so that they are deleted in batches long before they expire.
type markerState struct {
	markerHash atomic.Pointer[markerHash]
	acks       markerAcks
}

type markerAcks struct {
	mu      sync.Mutex
	pending []txnMarker
	wg      sync.WaitGroup
}

// ackMarker records that the transaction of marker m was acknowledged.
func (e *Engine) ackMarker(m txnMarker) {
	a := &e.acks
	a.mu.Lock()
	a.pending = append(a.pending, m)
	var batch []txnMarker
	if len(a.pending) >= markerAckBatch {
		batch, a.pending = a.pending, nil
	}
	a.mu.Unlock()
	if batch != nil {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			e.deleteMarkers(batch)
		}()
	}
}

// flushMarkers deletes the pending acknowledged markers and waits for the
// deletions under way.
func (e *Engine) flushMarkers() {
	a := &e.acks
	a.mu.Lock()
	batch := a.pending
	a.pending = nil
	a.mu.Unlock()
	if len(batch) > 0 {
		e.deleteMarkers(batch)
	}
	a.wg.Wait()
}

// deleteMarkers deletes markers with one script call per hash (nearly
// always one). A failure only leaves them to expire with their hash.
func (e *Engine) deleteMarkers(markers []txnMarker) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(markers) > 0 {
		key := markers[0].key
		var fields []string
		var others []txnMarker
		for _, m := range markers {
			if m.key == key {
				fields = append(fields, m.field)
			} else {
				others = append(others, m)
			}
		}
		if err := markerAckScript.Exec(ctx, e.rdb, []string{key}, fields).Error(); err != nil {
			e.log.Debug(fmt.Sprintf("delete %d transaction markers: %v (they expire with their hash within %v)", len(fields), err, markerHashTTL))
		}
		markers = others
	}
}
