package meta

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
)

// TestCompiledMatchesGeneric sends random transactions, every kind of
// condition (holding or not) and every kind of write, to txn.lua on one
// database and to the script compiled for their shape on another, both
// databases starting alike: the replies must be the same and so must the
// keys afterwards, transaction after transaction, and so must the replies
// of the calls sent again (replays). Some writes meet a value they would
// fail on (a counter that is no integer, a key of another type): both
// scripts must then fail alike, naming the key, with nothing written.
func TestCompiledMatchesGeneric(t *testing.T) {
	e, w, generic, compiled := newTwoWorlds(t)
	w.rng = rand.New(rand.NewPCG(1, 2))
	n := 800
	if testing.Short() {
		n = 200
	}
	applied, compiledCalls, guarded, foldedCalls, statusOnly, patchesOnly := 0, 0, 0, 0, 0, 0
	for i := 0; i < n; i++ {
		tx := w.randomTx(t, e, generic)
		if len(e.shapes.scripts) == maxShapes {
			e.shapes.scripts = nil // random shapes are many: compile them all
		}
		marker := txnMarker{key: e.keys.TxnMarker(uint64(i % 3)), field: strconv.Itoa(i)}
		now := time.Unix(1700000000+int64(i), int64(i))
		g, c := encodeTx(tx, marker, now), e.encodeCall(tx, marker, now)
		if c.script != e.txnScript {
			compiledCalls++
		}
		if strings.Contains(c.script.src, "'HSETNX'") {
			foldedCalls++
		}
		before := w.dump(t, generic)
		first := markerFirst // the first sending, with or without the marker hash's PTTL
		if i%2 == 1 {
			first = markerTTLKnown
		}
		for _, replay := range []string{first, markerResent} {
			gr := w.send(t, e, generic, e.txnScript, g, replay)
			cr := w.send(t, e, compiled, c.script, c, replay)
			if gr != cr {
				t.Fatalf("transaction %d (replay %s): txn.lua replied %s, the compiled script %s\nconditions %+v\nwrites %+v\nscript:\n%s",
					i, replay, gr, cr, tx.conds, tx.writes, c.script.src)
			}
			if replay == first && strings.HasPrefix(gr, "1 ") {
				applied++
				if gr == "1 " && len(tx.writes) > 0 {
					statusOnly++
				}
				if tx.replyKind() == replyPatches {
					patchesOnly++
				}
			}
			if strings.HasPrefix(gr, "corrupt ") {
				guarded++
				if after := w.dump(t, generic); after != before {
					t.Fatalf("transaction %d: %s, but the keys changed\nbefore: %s\nafter:  %s\nwrites %+v", i, gr, before, after, tx.writes)
				}
			}
		}
		if gk, ck := w.dump(t, generic), w.dump(t, compiled); gk != ck {
			t.Fatalf("transaction %d: the keys differ\ntxn.lua:  %s\ncompiled: %s\nconditions %+v\nwrites %+v", i, gk, ck, tx.conds, tx.writes)
		}
	}
	if applied < n/4 || compiledCalls < n || guarded < n/20 || foldedCalls < n/10 || statusOnly < n/20 || patchesOnly < n/100 {
		t.Fatalf("%d of %d transactions applied (%d replied with the status alone, %d with their directory patches'), %d compiled, %d stopped by a guard, %d with a field set if absent: the test does not exercise enough",
			applied, n, statusOnly, patchesOnly, compiledCalls, guarded, foldedCalls)
	}
	t.Logf("%d transactions, %d applied (%d replied with the status alone, %d with their directory patches'), %d stopped by a guard, %d with a field set if absent", n, applied, statusOnly, patchesOnly, guarded, foldedCalls)
}

// TestFoldedRefusals: a create whose name is taken (the HSETNX refuses
// after the SET ... NX of the new inode succeeded) or whose inode exists
// (the SET ... NX refuses) writes nothing and replies with the state of
// every condition, as txn.lua does.
func TestFoldedRefusals(t *testing.T) {
	e, w, generic, compiled := newTwoWorlds(t)
	for i, inode := range []string{"i9", "i1", "i9"} { // absent, present, absent
		for _, name := range []string{"f1", "f3"} { // taken, free
			tx := &Tx{e: e, ctx: context.Background()}
			tx.addCond(cond{kind: condAttr, key: "i2", present: true, value: w.attr(2)})
			tx.addCond(cond{kind: condHGet, key: "h1", field: name})
			tx.addCond(cond{kind: condExists, key: inode})
			tx.Set(inode, w.attr(9))
			tx.HSet("h1", name, "entry")
			tx.IncrBy("n1", 1)
			marker := txnMarker{key: e.keys.TxnMarker(7), field: strconv.Itoa(i) + name}
			now := time.Unix(1700000000, 0)
			g, c := encodeTx(tx, marker, now), e.encodeCall(tx, marker, now)
			if !strings.Contains(c.script.src, "'HSETNX'") || !strings.Contains(c.script.src, "'NX')") {
				t.Fatalf("the create's script folds no check:\n%s", c.script.src)
			}
			before := w.dump(t, compiled)
			gr := w.send(t, e, generic, e.txnScript, g, markerFirst)
			cr := w.send(t, e, compiled, c.script, c, markerFirst)
			if gr != cr {
				t.Fatalf("inode %s, name %s: txn.lua replied %s, the compiled script %s", inode, name, gr, cr)
			}
			applied := strings.HasPrefix(cr, "1 ")
			if applied != (inode == "i9" && name == "f3") {
				t.Fatalf("inode %s, name %s: reply %s", inode, name, cr)
			}
			if after := w.dump(t, compiled); !applied && after != before {
				t.Fatalf("inode %s, name %s: refused (%s) but the keys changed\nbefore: %s\nafter:  %s", inode, name, cr, before, after)
			}
			if gk, ck := w.dump(t, generic), w.dump(t, compiled); gk != ck {
				t.Fatalf("the keys differ\ntxn.lua:  %s\ncompiled: %s", gk, ck)
			}
			if applied { // undo the create for the next round
				for _, c := range []rueidis.Client{generic, compiled} {
					c.Do(context.Background(), c.B().Del().Key(inode).Build())
					c.Do(context.Background(), c.B().Hdel().Key("h1").Field(name).Build())
				}
			}
		}
	}
}

// newTwoWorlds returns an engine (for its scripts) and two databases
// seeded alike, one for txn.lua, one for the compiled scripts.
func newTwoWorlds(t *testing.T) (*Engine, *txWorld, rueidis.Client, rueidis.Client) {
	srv, db := redistest.NewDB(t)
	_, db2 := redistest.NewDB(t)
	e, err := Open(context.Background(), srv.URL("redis", db), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	generic, compiled := srv.Client(t, db), srv.Client(t, db2)
	w := &txWorld{}
	for _, c := range []rueidis.Client{generic, compiled} {
		w.seed(t, c)
	}
	return e, w, generic, compiled
}

// txWorld is the keyspace the random transactions work on: strings holding
// attributes (and one too short to be one), hashes, lists, counters.
type txWorld struct {
	rng *rand.Rand
}

var (
	worldStrings  = []string{"i1", "i2", "i3", "i4", "i5", "short"}
	worldHashes   = []string{"h1", "h2"}
	worldLists    = []string{"l1", "l2"}
	worldCounters = []string{"n1", "bad", "long"} // bad holds no integer; long one of 19 digits
	worldFields   = []string{"f1", "f2", "f3"}
)

func (w *txWorld) attr(i int) string {
	a := codec.Attr{Typ: codec.TypeDirectory, Mode: uint16(0o700 + i%8), Nlink: uint32(2 + i%3), Length: 4096, Parent: 1, Mtime: int64(i)}
	return string(a.Marshal())
}

func (w *txWorld) seed(t *testing.T, c rueidis.Client) {
	ctx := context.Background()
	cmds := rueidis.Commands{
		c.B().Set().Key("i1").Value(w.attr(1)).Build(),
		c.B().Set().Key("i2").Value(w.attr(2)).Build(),
		c.B().Set().Key("short").Value("abc").Build(),
		c.B().Hset().Key("h1").FieldValue().FieldValue("f1", "v1").FieldValue("f2", "v2").FieldValue("n", "-922337203685477580").Build(),
		c.B().Set().Key("long").Value("1234567890123456789").Build(),
		c.B().Rpush().Key("l1").Element("r1", "r2").Build(),
		c.B().Set().Key("bad").Value("01").Build(),
		c.B().Set().Key("wrongstring").Value("x").Build(),
		c.B().Hset().Key("wronghash").FieldValue().FieldValue("f1", "x").Build(),
		c.B().Hset().Key("h2").FieldValue().FieldValue("n", "9223372036854775808").Build(),
	}
	for _, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			t.Fatal(err)
		}
	}
}

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

// randomTx builds a transaction whose conditions mostly hold (their values
// read from db) and sometimes not.
func (w *txWorld) randomTx(t *testing.T, e *Engine, db rueidis.Client) *Tx {
	ctx := context.Background()
	tx := &Tx{e: e, ctx: ctx}
	rng := w.rng
	wrong := rng.IntN(4) == 0
	for range rng.IntN(5) {
		var c cond
		switch rng.IntN(5) {
		case 0, 1:
			c = cond{kind: pick(rng, []condKind{condGet, condAttr}), key: pick(rng, worldStrings)}
			v, err := db.Do(ctx, db.B().Get().Key(c.key).Build()).ToString()
			c.present, c.value = err == nil, v
		case 2:
			c = cond{kind: condHGet, key: pick(rng, worldHashes), field: pick(rng, worldFields)}
			v, err := db.Do(ctx, db.B().Hget().Key(c.key).Field(c.field).Build()).ToString()
			c.present, c.value = err == nil, v
		case 3:
			c = cond{kind: condExists, key: pick(rng, slices.Concat(worldStrings, worldHashes, worldLists))}
			n, _ := db.Do(ctx, db.B().Exists().Key(c.key).Build()).AsInt64()
			c.present = n == 1
		case 4:
			c = cond{kind: condList, key: pick(rng, worldLists), present: true}
			l, _ := db.Do(ctx, db.B().Lrange().Key(c.key).Start(0).Stop(-1).Build()).AsStrSlice()
			c.value = strings.Join(l, "")
		}
		if wrong && rng.IntN(2) == 0 {
			switch {
			case c.kind == condAttr && c.present && rng.IntN(2) == 0:
				// differs only in the bytes 'p' ignores: still holds
				b := []byte(c.value)
				if len(b) > codec.AttrOffMtime {
					b[codec.AttrOffMtime+7]++
				}
				c.value = string(b)
			case c.kind == condList || rng.IntN(2) == 0:
				c.value += "x"
			default:
				c.present = !c.present
			}
		}
		tx.addCond(c)
	}
	if rng.IntN(3) == 0 {
		// As a create: a key expected absent (rightly or not), set first.
		k := pick(rng, worldStrings)
		n, _ := db.Do(ctx, db.B().Exists().Key(k).Build()).AsInt64()
		tx.addCond(cond{kind: condExists, key: k, present: n == 1 && rng.IntN(2) == 0})
		tx.Set(k, w.attr(rng.IntN(100)))
	}
	if rng.IntN(3) == 0 {
		// As a new entry: a field expected absent (rightly or not), set.
		h, f := pick(rng, worldHashes), pick(rng, worldFields)
		_, err := db.Do(ctx, db.B().Hget().Key(h).Field(f).Build()).ToString()
		present := err == nil
		tx.addCond(cond{kind: condHGet, key: h, field: f, present: present && rng.IntN(3) == 0})
		if c, _ := tx.condAt(condID{h, f, condHGet}); tx.conds[c].present {
			tx.conds[c].value, _ = db.Do(ctx, db.B().Hget().Key(h).Field(f).Build()).ToString()
		}
		tx.HSet(h, f, "e"+strconv.Itoa(rng.IntN(10)))
	}
	for range rng.IntN(6) {
		switch rng.IntN(11) {
		case 0:
			tx.Set(pick(rng, worldStrings), w.attr(rng.IntN(100)))
		case 1:
			tx.Del(pick(rng, slices.Concat(worldStrings, worldHashes, worldLists, worldCounters)))
		case 2:
			tx.HSet(pick(rng, worldHashes), pick(rng, worldFields), "v"+strconv.Itoa(rng.IntN(10)))
		case 3:
			tx.HDel(pick(rng, worldHashes), pick(rng, worldFields), pick(rng, worldFields))
		case 4:
			tx.HIncrBy(pick(rng, worldHashes), "n", int64(rng.IntN(7)-3))
		case 5:
			tx.IncrBy(pick(rng, worldCounters), int64(rng.IntN(7)-3))
		case 6:
			tx.Do("RPUSH", pick(rng, worldLists), "r"+strconv.Itoa(rng.IntN(10)))
		case 7:
			tx.Do(cmdDirPatch, pick(rng, worldStrings), strconv.Itoa(rng.IntN(5)-2))
		case 8: // keys of another type (never written otherwise)
			tx.HSet("wrongstring", pick(rng, worldFields), "v")
		case 9:
			tx.Do("RPUSH", "wronghash", "r")
		case 10:
			tx.Do("SADD", "wronghash", "m")
		}
	}
	// Half the callers read a write's result: the others get the status
	// alone, or the results of their directory patches.
	tx.readsResults = rng.IntN(2) == 0
	return tx
}

// send calls script with call's keys and arguments, the replay flag last,
// and returns the reply as text.
func (w *txWorld) send(t *testing.T, e *Engine, c rueidis.Client, script *mutationScript, call txCall, replay string) string {
	args := append(slices.Clone(call.args), replay)
	reply, err := scriptReply(script.lua.Exec(context.Background(), c, call.keys, args))
	if cerr := scriptCorruption(err); cerr != nil {
		return "corrupt " + cerr.Error()
	}
	if err != nil { // without the script's name and line
		msg, _, _ := strings.Cut(err.Error(), " script: ")
		return "error " + msg
	}
	var b strings.Builder
	for _, m := range reply {
		if n, err := m.AsInt64(); err == nil {
			fmt.Fprintf(&b, "%d ", n)
		} else if s, err := m.ToString(); err == nil {
			fmt.Fprintf(&b, "%q ", s)
		} else {
			b.WriteString("nil ")
		}
	}
	return b.String()
}

// dump returns every key of the database and its value as text.
func (w *txWorld) dump(t *testing.T, c rueidis.Client) string {
	ctx := context.Background()
	keys, err := c.Do(ctx, c.B().Keys().Pattern("*").Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		typ, _ := c.Do(ctx, c.B().Type().Key(k).Build()).ToString()
		var v any
		switch typ {
		case "string":
			v, _ = c.Do(ctx, c.B().Get().Key(k).Build()).ToString()
		case "hash":
			v, _ = c.Do(ctx, c.B().Hgetall().Key(k).Build()).AsStrMap()
		case "list":
			v, _ = c.Do(ctx, c.B().Lrange().Key(k).Start(0).Stop(-1).Build()).AsStrSlice()
		}
		fmt.Fprintf(&b, "%s %s=%q; ", typ, k, v)
	}
	return b.String()
}
