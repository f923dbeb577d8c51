package cachestore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/cachestore"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

var ctx = context.Background()

// values returns real replies from a real server to feed the store with.
func values(t *testing.T, vals ...string) []rueidis.RedisMessage {
	t.Helper()
	srv, db := redistest.NewDB(t)
	c := srv.Client(t, db)
	out := make([]rueidis.RedisMessage, len(vals))
	for i, v := range vals {
		if err := c.Do(ctx, c.B().Set().Key("k").Value(v).Build()).Error(); err != nil {
			t.Fatal(err)
		}
		m, err := c.Do(ctx, c.B().Get().Key("k").Build()).ToMessage()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = m
	}
	return out
}

func str(t *testing.T, m rueidis.RedisMessage) string {
	t.Helper()
	s, err := m.ToString()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newStore(max int) (*cachestore.Registry, rueidis.CacheStore) {
	r := cachestore.NewRegistry(max)
	return r, r.NewStoreFn()(rueidis.CacheStoreOption{})
}

func TestFlightUpdateHit(t *testing.T) {
	vs := values(t, "one")
	reg, s := newStore(10)
	now := time.Now()
	if v, e := s.Flight("k", "GET", time.Minute, now); e != nil || !isEmpty(v) {
		t.Fatal("first read must go to Redis")
	}
	// A second reader of the same key waits for the first read.
	_, e := s.Flight("k", "GET", time.Minute, now)
	if e == nil {
		t.Fatal("second reader did not join the read in flight")
	}
	s.Update("k", "GET", vs[0])
	if v, err := e.Wait(ctx); err != nil || str(t, v) != "one" {
		t.Fatalf("joined reader got %v %v", v, err)
	}
	if v, e := s.Flight("k", "GET", time.Minute, now); e != nil || str(t, v) != "one" {
		t.Fatal("no cache hit after the reply")
	}
	st := reg.Stats()
	if st.Hits != 1 || st.Misses != 1 || st.Joined != 1 || st.Entries != 1 {
		t.Fatalf("stats %+v", st)
	}
	if !reg.Cached("k", "GET") || reg.Cached("k", "HGETf") {
		t.Fatal("Cached disagrees")
	}
}

func isEmpty(m rueidis.RedisMessage) bool {
	return m.Error() == nil && func() bool { _, err := m.ToAny(); return err != nil }()
}

// TestLocalInvalidationRace is the read-your-writes case: a read in flight
// when this client's write is acknowledged must neither be cached nor be
// joined by readers that start after the write.
func TestLocalInvalidationRace(t *testing.T) {
	vs := values(t, "old", "new")
	reg, s := newStore(10)
	now := time.Now()
	s.Flight("k", "GET", time.Minute, now) // read R1 sent before the write
	reg.Invalidate("k")                    // the write was acknowledged
	v, e := s.Flight("k", "GET", time.Minute, now)
	if e != nil || !isEmpty(v) {
		t.Fatal("a read after the write joined the stale read in flight")
	}
	s.Update("k", "GET", vs[0]) // R1's (old) reply
	if reg.Cached("k", "GET") {
		t.Fatal("the stale reply was cached")
	}
	s.Update("k", "GET", vs[1]) // R2's reply
	if v, _ := s.Flight("k", "GET", time.Minute, now); str(t, v) != "new" {
		t.Fatalf("cached %q", str(t, v))
	}
	if st := reg.Stats(); st.StaleReplies != 1 || st.LocalInvalidations != 1 {
		t.Fatalf("stats %+v", st)
	}
	if reg.LastChange("k") == 0 {
		t.Fatal("change time not recorded")
	}
}

func TestServerInvalidation(t *testing.T) {
	vs := values(t, "a", "b")
	reg, s := newStore(10)
	now := time.Now()
	s.Flight("k", "GET", time.Minute, now)
	s.Update("k", "GET", vs[0])
	s.Flight("k2", "GET", time.Minute, now) // in flight when the push arrives
	keys := values(t, "k", "k2")
	s.Delete(keys)
	if reg.Cached("k", "GET") {
		t.Fatal("invalidated value still cached")
	}
	// On one connection the push is ordered with replies: a read still in
	// flight carries a value at least as new, and is cached.
	s.Update("k2", "GET", vs[1])
	if !reg.Cached("k2", "GET") {
		t.Fatal("reply after the push not cached")
	}
	s.Delete(nil) // FLUSHDB
	if reg.Cached("k2", "GET") || reg.Stats().Flushes != 1 {
		t.Fatal("flush left values")
	}
}

func TestCloseReleasesWaiters(t *testing.T) {
	_, s := newStore(10)
	now := time.Now()
	s.Flight("k", "GET", time.Minute, now)
	_, e := s.Flight("k", "GET", time.Minute, now)
	s.Close(errors.New("connection reset"))
	if _, err := e.Wait(ctx); err == nil {
		t.Fatal("waiter not released with an error")
	}
}

func TestTTLAndEviction(t *testing.T) {
	vs := values(t, "1", "2", "3")
	reg, s := newStore(2)
	now := time.Now()
	for i, k := range []string{"a", "b", "c"} {
		s.Flight(k, "GET", time.Minute, now)
		s.Update(k, "GET", vs[i])
	}
	if reg.Cached("a", "GET") || !reg.Cached("b", "GET") || !reg.Cached("c", "GET") {
		t.Fatal("least recently used entry not evicted")
	}
	if st := reg.Stats(); st.Evictions != 1 || st.Entries != 2 {
		t.Fatalf("stats %+v", st)
	}
	s.Flight("d", "GET", time.Millisecond, now)
	s.Update("d", "GET", vs[0])
	time.Sleep(5 * time.Millisecond)
	if v, e := s.Flight("d", "GET", time.Millisecond, time.Now()); e != nil || !isEmpty(v) {
		t.Fatal("expired entry served")
	}
}

// TestRegistryGet: Get finds a value cached on any connection's store, by
// command and argument (rueidis' cache key is their concatenation), counts
// it as a hit, and finds nothing once the key is invalidated or expired.
func TestRegistryGet(t *testing.T) {
	vs := values(t, "one", "two")
	reg := cachestore.NewRegistry(10)
	a, b := reg.NewStoreFn()(rueidis.CacheStoreOption{}), reg.NewStoreFn()(rueidis.CacheStoreOption{})
	now := time.Now()
	a.Flight("k", "GET", time.Minute, now)
	a.Update("k", "GET", vs[0])
	b.Flight("h", "HGETfield", time.Minute, now)
	b.Update("h", "HGETfield", vs[1])
	b.Flight("gone", "GET", time.Millisecond, now)
	b.Update("gone", "GET", vs[0])

	if v, ok := reg.Get("k", "GET", ""); !ok || str(t, v) != "one" {
		t.Fatalf("GET k: %v %v", v, ok)
	}
	if v, ok := reg.Get("h", "HGET", "field"); !ok || str(t, v) != "two" {
		t.Fatalf("HGET h field: %v %v", v, ok)
	}
	for _, miss := range [][3]string{{"h", "HGET", "other"}, {"h", "HGETfiel", "d2"}, {"k", "HGET", ""}, {"nope", "GET", ""}} {
		if _, ok := reg.Get(miss[0], miss[1], miss[2]); ok {
			t.Fatalf("Get%q found a value", miss)
		}
	}
	if st := reg.Stats(); st.Hits != 2 {
		t.Fatalf("hits %d, want 2", st.Hits)
	}
	// Hits check expiry on a clock that ticks every 100 ms.
	for deadline := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, ok := reg.Get("gone", "GET", ""); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an expired value was returned a second after it expired")
		}
	}
	reg.Invalidate("h")
	if _, ok := reg.Get("h", "HGET", "field"); ok {
		t.Fatal("an invalidated value was returned")
	}
}

// TestInvalidateOrder: once LastChange shows an invalidation, the value it
// invalidated is gone. A reader that takes the clock and then finds a value
// cached may rely on "not changed since": the directory snapshots of the
// engine do (with the change noted before the values were dropped, a
// snapshot built in between looked newer than the change).
func TestInvalidateOrder(t *testing.T) {
	vs := values(t, "v")
	reg := cachestore.NewRegistry(10)
	s := reg.NewStoreFn()(rueidis.CacheStoreOption{})
	for i := 0; i < 3000; i++ {
		s.Flight("k", "GET", time.Minute, time.Now())
		s.Update("k", "GET", vs[0])
		done := make(chan struct{})
		go func() {
			defer close(done)
			reg.Invalidate("k")
		}()
		var seen []int64 // clock readings after which the value was still found
		for running := true; running; {
			select {
			case <-done:
				running = false
			default:
			}
			at := reg.Now()
			if _, ok := reg.Get("k", "GET", ""); ok {
				seen = append(seen, at)
			}
		}
		last := reg.LastChange("k")
		for _, at := range seen {
			if at > last {
				t.Fatalf("iteration %d: the value was still cached after the invalidation had been noted", i)
			}
		}
	}
}

// TestAbandonedRead: a reader gave up (context error) while its read may
// still be on the wire. Its late reply must not be cached as the answer to a
// read sent after this client's write, and a reader that joined must not get
// the context error of another.
func TestAbandonedRead(t *testing.T) {
	vs := values(t, "old", "new", "newer")
	reg, s := newStore(10)
	now := time.Now()
	s.Flight("k", "GET", time.Minute, now) // A: sent before the write
	reg.Invalidate("k")                    // the write was acknowledged
	s.Flight("k", "GET", time.Minute, now) // B: sent after it
	_, j := s.Flight("k", "GET", time.Minute, now)
	if j == nil {
		t.Fatal("a third reader did not join B")
	}
	s.Cancel("k", "GET", context.Canceled) // A gave up
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := j.Wait(wctx); !errors.Is(err, cachestore.ErrRetry) {
		t.Fatalf("joined reader got %v, want ErrRetry", err)
	}
	s.Update("k", "GET", vs[0]) // A's reply after all
	s.Update("k", "GET", vs[1]) // B's
	if v, ok := reg.Get("k", "GET", ""); ok {
		t.Fatalf("cached %q while replies could not be matched with reads", str(t, v))
	}
	// Every flight answered: caching resumes.
	s.Flight("k", "GET", time.Minute, now)
	s.Update("k", "GET", vs[2])
	if v, ok := reg.Get("k", "GET", ""); !ok || str(t, v) != "newer" {
		t.Fatalf("not cached again after the flights were answered: %v", ok)
	}
	if st := reg.Stats(); st.Abandoned != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestAbandonedReadNeverSent: the reader gave up before its read was sent,
// so no reply will ever come for it. Nobody may wait for that reply, and a
// later read still gets its own.
func TestAbandonedReadNeverSent(t *testing.T) {
	vs := values(t, "v")
	reg, s := newStore(10)
	now := time.Now()
	s.Flight("k", "GET", time.Minute, now)
	_, j := s.Flight("k", "GET", time.Minute, now)
	s.Cancel("k", "GET", context.DeadlineExceeded)
	if _, err := j.Wait(ctx); !errors.Is(err, cachestore.ErrRetry) {
		t.Fatalf("joined reader got %v, want ErrRetry", err)
	}
	if v, e := s.Flight("k", "GET", time.Minute, now); e != nil || !isEmpty(v) {
		t.Fatal("a new reader joined a read that may never be answered")
	}
	s.Update("k", "GET", vs[0])
	if reg.Cached("k", "GET") {
		t.Fatal("a reply was cached while replies could not be matched with reads")
	}
}

// TestCellLifetime: a cached value's cell, and the memo kept with it, live
// exactly as long as the value is cached: a local invalidation, Redis'
// invalidation, an eviction, a whole-cache invalidation, the
// connection closing and expiry each end it, and the next value of the
// same command gets a new cell without the memo.
func TestCellLifetime(t *testing.T) {
	vs := values(t, "one", "two", "three")
	now := time.Now()
	fill := func(s rueidis.CacheStore, key string, v rueidis.RedisMessage, ttl time.Duration) {
		s.Flight(key, "GET", ttl, now)
		s.Update(key, "GET", v)
	}
	for _, c := range []struct {
		name string
		end  func(reg *cachestore.Registry, s rueidis.CacheStore)
	}{
		{"local invalidation", func(reg *cachestore.Registry, _ rueidis.CacheStore) { reg.Invalidate("k") }},
		{"Redis invalidation", func(_ *cachestore.Registry, s rueidis.CacheStore) { s.Delete(values(t, "k")) }},
		{"Redis flush", func(_ *cachestore.Registry, s rueidis.CacheStore) { s.Delete(nil) }},
		{"eviction", func(_ *cachestore.Registry, s rueidis.CacheStore) {
			fill(s, "a", vs[1], time.Minute)
			fill(s, "b", vs[2], time.Minute)
		}},
		{"invalidate all", func(reg *cachestore.Registry, _ rueidis.CacheStore) { reg.InvalidateAll() }},
		{"connection closed", func(_ *cachestore.Registry, s rueidis.CacheStore) { s.Close(nil) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			reg, s := newStore(2)
			fill(s, "k", vs[0], time.Minute)
			cell := reg.Cell("k", "GET", "")
			if cell == nil || !cell.Valid() || str(t, cell.Message()) != "one" || cell.Memo() != nil {
				t.Fatalf("fresh cell %+v", cell)
			}
			cell.SetMemo(1)
			if got := reg.Cell("k", "GET", ""); got != cell || got.Memo() != 1 {
				t.Fatal("a hit does not return the cell with its memo")
			}
			c.end(reg, s)
			if cell.Valid() {
				t.Fatal("the cell outlived its value")
			}
			if got := reg.Cell("k", "GET", ""); got != nil && (got == cell || got.Memo() != nil) {
				t.Fatal("a new value came with the old cell or its memo")
			}
		})
	}
	t.Run("expiry", func(t *testing.T) {
		reg, s := newStore(2)
		fill(s, "k", vs[0], time.Millisecond)
		cell := reg.Cell("k", "GET", "")
		if cell == nil {
			t.Fatal("no cell")
		}
		for deadline := time.Now().Add(time.Second); cell.Valid(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the cell outlived its TTL")
			}
		}
		if reg.Cell("k", "GET", "") != nil {
			t.Fatal("an expired cell was returned")
		}
	})
}
