package meta_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestReplayMarkersBounded: the replay markers of acknowledged transactions
// are deleted in batches, so an idle client leaves fewer than a batch of
// them, and none once it is closed. Markers are fields of a few hashes,
// each expiring within twice the markers' TTL of 10 minutes.
func TestReplayMarkersBounded(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	e := v.open(meta.Options{NoBackgroundJobs: true})
	for i := 0; i < 1000; i++ {
		if _, _, err := e.Mknod(ctx, meta.RootInode, "f"+strconv.Itoa(i), codec.TypeFile, 0o644, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	markers := func() int64 {
		keys, err := v.srv.Do(t, v.db, "KEYS", e.Keys().Prefix()+"rueidisfsTxn*").AsStrSlice()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) > 4 {
			t.Fatalf("%d marker hashes, want one or two per client", len(keys))
		}
		var n int64
		for _, k := range keys {
			if _, ok := e.Keys().ParseTxnMarker(k); !ok {
				t.Fatalf("marker name %q does not parse", k)
			}
			ttl, err := v.srv.Do(t, v.db, "PTTL", k).AsInt64()
			if err != nil || ttl <= 0 || ttl > 1200000 {
				t.Fatalf("marker hash %s has PTTL %d (%v), want 1..1200000", k, ttl, err)
			}
			fields, err := v.srv.Do(t, v.db, "HLEN", k).AsInt64()
			if err != nil {
				t.Fatal(err)
			}
			n += fields
		}
		return n
	}
	// The last batch deletion may still be under way: at most two batches.
	if n := markers(); n > 2*256 {
		t.Fatalf("%d replay markers left after 1000 transactions", n)
	}
	// Closing deletes the client's markers; what is left belongs to the
	// volume's other client (its format and session transactions).
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := markers(); n > 10 {
		t.Fatalf("%d replay markers left after the client closed", n)
	}
}

// TestMarkerHashExpiry: once a transaction has written into the marker
// hash in use and been answered, the scripts no longer ask the hash's
// PTTL; after a fault (which may have lost the hash with a failover) they
// ask again, so a hash created anew gets its expiry.
func TestMarkerHashExpiry(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	e := v.open(meta.Options{NoBackgroundJobs: true})
	mknod := func(name string) {
		t.Helper()
		if _, _, err := e.Mknod(ctx, meta.RootInode, name, codec.TypeFile, 0o644, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	pttlCalls := func() int64 {
		t.Helper()
		info, err := v.srv.Do(t, v.db, "INFO", "commandstats").ToString()
		if err != nil {
			t.Fatal(err)
		}
		_, rest, ok := strings.Cut(info, "cmdstat_pttl:calls=")
		if !ok {
			return 0
		}
		n, err := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	mknod("first")
	before := pttlCalls()
	for i := range 20 {
		mknod("f" + strconv.Itoa(i))
	}
	if n := pttlCalls() - before; n != 0 {
		t.Fatalf("%d PTTL calls for 20 transactions into a marker hash known to expire", n)
	}
	keys, err := v.srv.Do(t, v.db, "KEYS", e.Keys().Prefix()+"rueidisfsTxn*").AsStrSlice()
	if err != nil || len(keys) == 0 {
		t.Fatalf("marker hashes %v (%v)", keys, err)
	}
	for _, k := range keys {
		v.srv.Do(t, v.db, "DEL", k) // lost, as with a failover to a replica that lagged
	}
	e.MarkerFaultForTest()
	mknod("after")
	keys, err = v.srv.Do(t, v.db, "KEYS", e.Keys().Prefix()+"rueidisfsTxn*").AsStrSlice()
	if err != nil || len(keys) == 0 {
		t.Fatalf("marker hashes after the fault %v (%v)", keys, err)
	}
	for _, k := range keys {
		if ttl, err := v.srv.Do(t, v.db, "PTTL", k).AsInt64(); err != nil || ttl <= 0 {
			t.Fatalf("marker hash %s created after a fault has PTTL %d (%v)", k, ttl, err)
		}
	}
}

// TestMarkerAcksKeepHash: deleting the markers of every acknowledged
// transaction must not delete the marker hash in use, which the next
// transactions, told it has its expiry, would make anew without one.
func TestMarkerAcksKeepHash(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	e := v.open(meta.Options{NoBackgroundJobs: true})
	for i := range 5 {
		if _, _, err := e.Mknod(ctx, meta.RootInode, "f"+strconv.Itoa(i), codec.TypeFile, 0o644, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	e.FlushMarkersForTest() // every marker of the hash in use acknowledged
	if _, _, err := e.Mknod(ctx, meta.RootInode, "after", codec.TypeFile, 0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	keys, err := v.srv.Do(t, v.db, "KEYS", e.Keys().Prefix()+"rueidisfsTxn*").AsStrSlice()
	if err != nil || len(keys) == 0 {
		t.Fatalf("marker hashes %v (%v)", keys, err)
	}
	for _, k := range keys {
		if ttl, err := v.srv.Do(t, v.db, "PTTL", k).AsInt64(); err != nil || ttl <= 0 {
			t.Fatalf("marker hash %s has PTTL %d (%v) after its markers were deleted", k, ttl, err)
		}
	}
}

// TestReplayMarkerResend sends mutations again as if their replies had been
// lost: each finds its marker and returns the first call's results (flag 2;
// the mkdir patches its parent, so its reply carries the results, the
// others the status alone) without applying anything twice, which the
// recount at the end checks (a second mkdir, link count patch or
// statistics flush would show).
func TestReplayMarkerResend(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	e := v.open(meta.Options{NoBackgroundJobs: true})
	var calls []meta.SentCall
	e.RecordSentForTest(func(c meta.SentCall) { calls = append(calls, c) })
	d, _, err := e.Mkdir(ctx, meta.RootInode, "d", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Mknod(ctx, d, "f", codec.TypeFile, 0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Rename(ctx, d, "f", meta.RootInode, "g", 0); err != nil {
		t.Fatal(err)
	}
	e.FlushStats(ctx) // a dirstat.lua call
	txns, withResults, flushes := 0, 0, 0
	for _, c := range calls {
		flag, n, err := e.ResendForTest(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if e.IsTxnForTest(c) {
			txns++
			if flag != 2 || n < 1 {
				t.Fatalf("resent transaction: flag %d with %d values, want 2 and the stored results", flag, n)
			}
			if n > 1 {
				withResults++
			}
		} else {
			flushes++
		}
	}
	if txns < 3 || withResults == 0 || flushes == 0 {
		t.Fatalf("recorded %d transactions (%d replied with results) and %d statistics flushes", txns, withResults, flushes)
	}
	if root := names(t, e, meta.RootInode); !slices.Equal(root, []string{"d", "g"}) || len(names(t, e, d)) != 0 {
		t.Fatalf("tree after the resends: root %v, d %v", names(t, e, meta.RootInode), names(t, e, d))
	}
	v.check(e)
}
