// Package storetest is the behaviour every objstore.Store shows, as a test
// suite run against each backend and wrapper: the `file` storage, a real
// S3-compatible server, shards, encryption and the memory store of unit
// tests.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/objstore"
)

// Options tune the suite to a store.
type Options struct {
	// Listed is how many objects the listing tests store: enough to make
	// a store list several pages (default 25).
	Listed int
	// MtimeSlack is how far an object's mtime may be from the test's
	// clock (default one minute).
	MtimeSlack time.Duration
	// StoredSize is the size a store reports for an object of n bytes
	// (default n; encryption adds its envelope).
	StoredSize func(n int64) int64
}

// Run runs the suite. open returns an empty store for one test; it is
// called once per subtest.
func Run(t *testing.T, open func(t *testing.T) objstore.Store, opts Options) {
	if opts.Listed == 0 {
		opts.Listed = 25
	}
	if opts.MtimeSlack == 0 {
		opts.MtimeSlack = time.Minute
	}
	if opts.StoredSize == nil {
		opts.StoredSize = func(n int64) int64 { return n }
	}
	s := suite{opts: opts}
	for _, c := range []struct {
		name string
		test func(*testing.T, objstore.Store)
	}{
		{"PutGet", s.putGet},
		{"Ranges", s.ranges},
		{"EmptyObject", s.emptyObject},
		{"BigObject", s.bigObject},
		{"Overwrite", s.overwrite},
		{"Missing", s.missing},
		{"Head", s.head},
		{"Delete", s.delete},
		{"List", s.list},
		{"ListStartAfter", s.listStartAfter},
		{"ListOrder", s.listOrder},
		{"ListStop", s.listStop},
		{"SpecialKeys", s.specialKeys},
		{"BadKeys", s.badKeys},
		{"Canceled", s.canceled},
		{"Concurrent", s.concurrent},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, open(t)) })
	}
}

type suite struct{ opts Options }

// Data returns n pseudo-random bytes, the same for the same seed.
func Data(seed uint64, n int) []byte {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	b := make([]byte, n)
	_, _ = r.Read(b)
	return b
}

func put(t *testing.T, s objstore.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, data); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func get(t *testing.T, s objstore.Store, key string, off, limit int64) []byte {
	t.Helper()
	b, err := objstore.ReadAll(context.Background(), s, key, off, limit)
	if err != nil {
		t.Fatalf("get %s [%d, +%d): %v", key, off, limit, err)
	}
	return b
}

// Listing returns the keys s lists.
func Listing(t *testing.T, s objstore.Store, prefix, startAfter string) []string {
	t.Helper()
	var keys []string
	for o, err := range s.List(context.Background(), prefix, startAfter) {
		if err != nil {
			t.Fatalf("list %q after %q: %v", prefix, startAfter, err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}

func (s suite) putGet(t *testing.T, st objstore.Store) {
	data := Data(1, 1000)
	put(t, st, "chunks/0/0/1_0_1000", data)
	if got := get(t, st, "chunks/0/0/1_0_1000", 0, -1); !bytes.Equal(got, data) {
		t.Errorf("read back %d bytes, differing from the %d written", len(got), len(data))
	}
	// The caller may reuse its buffer once Put returned.
	clear(data)
	if got := get(t, st, "chunks/0/0/1_0_1000", 0, -1); !bytes.Equal(got, Data(1, 1000)) {
		t.Error("the store kept a reference to the buffer put")
	}
}

func (s suite) ranges(t *testing.T, st objstore.Store) {
	data := Data(2, 4096)
	put(t, st, "r", data)
	for _, c := range []struct{ off, limit, from, to int64 }{
		{0, -1, 0, 4096},
		{0, 4096, 0, 4096},
		{0, 1, 0, 1},
		{1000, 24, 1000, 1024},
		{1000, -1, 1000, 4096},
		{4000, 200, 4000, 4096}, // cut at the end
		{4095, 1, 4095, 4096},
		{4096, 10, 0, 0}, // at the end
		{4096, -1, 0, 0},
		{9999, 10, 0, 0}, // beyond
		{100, 0, 0, 0},
	} {
		if got := get(t, st, "r", c.off, c.limit); !bytes.Equal(got, data[c.from:c.to]) {
			t.Errorf("get [%d, +%d): %d bytes, want [%d, %d)", c.off, c.limit, len(got), c.from, c.to)
		}
	}
}

func (s suite) emptyObject(t *testing.T, st objstore.Store) {
	put(t, st, "empty", nil)
	if got := get(t, st, "empty", 0, -1); len(got) != 0 {
		t.Errorf("empty object read as %d bytes", len(got))
	}
	if got := get(t, st, "empty", 0, 10); len(got) != 0 {
		t.Errorf("range of an empty object read as %d bytes", len(got))
	}
	o, err := st.Head(context.Background(), "empty")
	if err != nil || o.Size != s.opts.StoredSize(0) {
		t.Errorf("head of an empty object: %+v, %v", o, err)
	}
	if keys := Listing(t, st, "", ""); !slices.Equal(keys, []string{"empty"}) {
		t.Errorf("listing %q", keys)
	}
}

func (s suite) bigObject(t *testing.T, st objstore.Store) {
	data := Data(3, 16<<20+12345) // beyond the largest block size
	put(t, st, "big", data)
	if got := get(t, st, "big", 0, -1); !bytes.Equal(got, data) {
		t.Errorf("big object read back as %d bytes, differing", len(got))
	}
	if got := get(t, st, "big", 8<<20, 1<<20); !bytes.Equal(got, data[8<<20:9<<20]) {
		t.Error("range of a big object differs")
	}
}

func (s suite) overwrite(t *testing.T, st objstore.Store) {
	put(t, st, "k", Data(4, 3000))
	put(t, st, "k", Data(5, 100))
	if got := get(t, st, "k", 0, -1); !bytes.Equal(got, Data(5, 100)) {
		t.Errorf("after overwrite: %d bytes, not the new object", len(got))
	}
	if keys := Listing(t, st, "", ""); !slices.Equal(keys, []string{"k"}) {
		t.Errorf("listing after overwrite %q", keys)
	}
}

func (s suite) missing(t *testing.T, st objstore.Store) {
	ctx := context.Background()
	put(t, st, "dir/present", []byte("x"))
	for _, key := range []string{"absent", "dir/absent", "nodir/absent", "dir"} {
		if r, err := st.Get(ctx, key, 0, -1); !errors.Is(err, fs.ErrNotExist) {
			if err == nil {
				r.Close()
			}
			t.Errorf("get %s: %v, want not found", key, err)
		}
		if r, err := st.Get(ctx, key, 10, 10); !errors.Is(err, fs.ErrNotExist) {
			if err == nil {
				r.Close()
			}
			t.Errorf("range get %s: %v, want not found", key, err)
		}
		if _, err := st.Head(ctx, key); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("head %s: %v, want not found", key, err)
		}
	}
}

func (s suite) head(t *testing.T, st objstore.Store) {
	before := time.Now()
	put(t, st, "a/b/c", Data(6, 777))
	o, err := st.Head(context.Background(), "a/b/c")
	if err != nil {
		t.Fatal(err)
	}
	if o.Key != "a/b/c" || o.Size != s.opts.StoredSize(777) {
		t.Errorf("head: %+v", o)
	}
	if o.Mtime.Before(before.Add(-s.opts.MtimeSlack)) || o.Mtime.After(time.Now().Add(s.opts.MtimeSlack)) {
		t.Errorf("mtime %v, put at %v", o.Mtime, before)
	}
	n := 0
	for o, err := range st.List(context.Background(), "a/", "") {
		if n++; err != nil {
			t.Fatal(err)
		}
		if o.Key != "a/b/c" || o.Size != s.opts.StoredSize(777) || o.Mtime.Sub(before).Abs() > s.opts.MtimeSlack {
			t.Errorf("listed: %+v", o)
		}
	}
	if n != 1 {
		t.Errorf("%d items listed under a/", n)
	}
}

func (s suite) delete(t *testing.T, st objstore.Store) {
	ctx := context.Background()
	put(t, st, "d/1", []byte("1"))
	put(t, st, "d/2", []byte("2"))
	if err := st.Delete(ctx, "d/1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Head(ctx, "d/1"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("head after delete: %v", err)
	}
	for _, key := range []string{"d/1", "absent", "nodir/absent"} {
		if err := st.Delete(ctx, key); err != nil {
			t.Errorf("deleting missing %s: %v", key, err)
		}
	}
	if keys := Listing(t, st, "", ""); !slices.Equal(keys, []string{"d/2"}) {
		t.Errorf("listing after delete %q", keys)
	}
	// A "directory" left empty is not an object, and deleting one (as
	// format does with "testing/") is no error.
	if err := st.Delete(ctx, "d/2"); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "d/"); err != nil {
		t.Errorf("deleting an empty directory: %v", err)
	}
	if keys := Listing(t, st, "", ""); len(keys) != 0 {
		t.Errorf("listing after deleting everything %q", keys)
	}
}

// blockKeys stores n block objects (and a few others) and returns the
// block keys in order.
func blockKeys(t *testing.T, st objstore.Store, n int) []string {
	var keys []string
	for i := range n {
		id := uint64(i*997 + 1)
		keys = append(keys, objstore.BlockKey(false, id, 0, 10+i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(keys))
	for _, k := range keys {
		wg.Go(func() { errs <- st.Put(context.Background(), k, []byte(k)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	put(t, st, "juicefs_uuid", []byte("x"))
	put(t, st, "meta/dump", []byte("x"))
	slices.Sort(keys)
	return keys
}

func (s suite) list(t *testing.T, st objstore.Store) {
	if keys := Listing(t, st, "", ""); len(keys) != 0 {
		t.Fatalf("a new store lists %q", keys)
	}
	want := blockKeys(t, st, s.opts.Listed)
	if got := Listing(t, st, objstore.ChunksPrefix, ""); !slices.Equal(got, want) {
		t.Errorf("listing chunks/:\n got %q\nwant %q", got, want)
	}
	all := append(slices.Clone(want), "juicefs_uuid", "meta/dump")
	slices.Sort(all)
	if got := Listing(t, st, "", ""); !slices.Equal(got, all) {
		t.Errorf("listing everything:\n got %q\nwant %q", got, all)
	}
	// A prefix that is not a directory: part of a name.
	var part []string
	for _, k := range want {
		if strings.HasPrefix(k, "chunks/0/1") {
			part = append(part, k)
		}
	}
	if got := Listing(t, st, "chunks/0/1", ""); !slices.Equal(got, part) {
		t.Errorf("listing chunks/0/1: got %q, want %q", got, part)
	}
	if got := Listing(t, st, "juicefs", ""); !slices.Equal(got, []string{"juicefs_uuid"}) {
		t.Errorf("listing juicefs: %q", got)
	}
	if got := Listing(t, st, "nothing/", ""); len(got) != 0 {
		t.Errorf("listing an absent prefix: %q", got)
	}
	// Sizes come with the listing.
	n := 0
	for o, err := range st.List(context.Background(), "meta/", "") {
		if n++; err != nil || o.Size != s.opts.StoredSize(1) || o.Key != "meta/dump" {
			t.Errorf("listed %+v, %v", o, err)
		}
	}
	if n != 1 {
		t.Errorf("%d items listed under meta/", n)
	}
}

func (s suite) listStartAfter(t *testing.T, st objstore.Store) {
	want := blockKeys(t, st, s.opts.Listed)
	for _, i := range []int{0, 1, len(want) / 2, len(want) - 2, len(want) - 1} {
		if got := Listing(t, st, objstore.ChunksPrefix, want[i]); !slices.Equal(got, want[i+1:]) {
			t.Errorf("listing after %s:\n got %q\nwant %q", want[i], got, want[i+1:])
		}
	}
	// startAfter need not be a key: here, one sorting between two.
	mid := want[len(want)/2]
	if got := Listing(t, st, objstore.ChunksPrefix, mid+"0"); !slices.Equal(got, want[len(want)/2+1:]) {
		t.Errorf("listing after %s0: %q", mid, got)
	}
	// Before the prefix: everything; a directory: what follows it.
	if got := Listing(t, st, objstore.ChunksPrefix, "a"); !slices.Equal(got, want) {
		t.Errorf("listing after a: %q", got)
	}
	if got := Listing(t, st, "", "chunks/0/"); !slices.Equal(got, append(slices.Clone(want), "juicefs_uuid", "meta/dump")) {
		t.Errorf("listing after chunks/0/: %q", got)
	}
	if got := Listing(t, st, "", "chunks/1"); !slices.Equal(got, []string{"juicefs_uuid", "meta/dump"}) {
		t.Errorf("listing after chunks/1: %q", got)
	}
	if got := Listing(t, st, "", "z"); len(got) != 0 {
		t.Errorf("listing after z: %q", got)
	}
}

// listOrder checks byte order where a directory walk could get it wrong:
// "a-b" < "a/b" < "a0" because '-' < '/' < '0'.
func (s suite) listOrder(t *testing.T, st objstore.Store) {
	want := []string{"a-b", "a.c", "a/b-c", "a/b/c", "a/b0", "a0", "aa", "b"}
	for _, k := range []string{"b", "a/b/c", "a0", "a-b", "a/b0", "aa", "a.c", "a/b-c"} {
		put(t, st, k, []byte(k))
	}
	if got := Listing(t, st, "", ""); !slices.Equal(got, want) {
		t.Errorf("order:\n got %q\nwant %q", got, want)
	}
	if got := Listing(t, st, "a", "a-b"); !slices.Equal(got, want[1:len(want)-1]) {
		t.Errorf("after a-b: %q", got)
	}
	if got := Listing(t, st, "a/", "a/b-c"); !slices.Equal(got, []string{"a/b/c", "a/b0"}) {
		t.Errorf("after a/b-c: %q", got)
	}
}

func (s suite) listStop(t *testing.T, st objstore.Store) {
	want := blockKeys(t, st, s.opts.Listed)
	var got []string
	for o, err := range st.List(context.Background(), objstore.ChunksPrefix, "") {
		if err != nil {
			t.Fatal(err)
		}
		if got = append(got, o.Key); len(got) == 3 {
			break
		}
	}
	if !slices.Equal(got, want[:3]) {
		t.Errorf("first three: %q", got)
	}
	// Objects deleted while listing are not listed when not yet reached.
	got = got[:0]
	for o, err := range st.List(context.Background(), objstore.ChunksPrefix, "") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, o.Key)
		if err := st.Delete(context.Background(), o.Key); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("deleting while listing: %q", got)
	}
}

func (s suite) specialKeys(t *testing.T, st objstore.Store) {
	keys := []string{
		"with space", "plus+sign", "percent%20", "question?mark", "hash#tag",
		"amp&and=eq", "unicode-ü-€-日本", "tilde~", "quote'\"", "colon:semi;",
		"comma,", "star*", "dollar$", "at@", "brackets[]{}()", "excl!", "back\\slash",
		"caret^", "pipe|", "lt<gt>", "dots...", ".hidden", "-dash", "emoji-🙂",
	}
	for i, k := range keys {
		put(t, st, "sp/"+k, []byte(fmt.Sprint(i)))
	}
	for i, k := range keys {
		if got := get(t, st, "sp/"+k, 0, -1); string(got) != fmt.Sprint(i) {
			t.Errorf("key %q read back %q", k, got)
		}
		if o, err := st.Head(context.Background(), "sp/"+k); err != nil || o.Key != "sp/"+k {
			t.Errorf("head %q: %+v %v", k, o, err)
		}
	}
	want := make([]string, len(keys))
	for i, k := range keys {
		want[i] = "sp/" + k
	}
	slices.Sort(want)
	if got := Listing(t, st, "sp/", ""); !slices.Equal(got, want) {
		t.Errorf("listing special keys:\n got %q\nwant %q", got, want)
	}
	if got := Listing(t, st, "sp/", "sp/percent%20"); !slices.Equal(got, want[slices.Index(want, "sp/percent%20")+1:]) {
		t.Errorf("listing after a special key: %q", got)
	}
	for _, k := range keys {
		if err := st.Delete(context.Background(), "sp/"+k); err != nil {
			t.Errorf("delete %q: %v", k, err)
		}
	}
	if got := Listing(t, st, "", ""); len(got) != 0 {
		t.Errorf("left after deleting: %q", got)
	}
}

func (s suite) badKeys(t *testing.T, st objstore.Store) {
	ctx := context.Background()
	for _, key := range []string{"", "/abs", "../up", "a/../../up", "a//b", "a/./b", "."} {
		if err := st.Put(ctx, key, []byte("x")); err == nil {
			t.Errorf("put %q accepted", key)
		}
		if _, err := st.Head(ctx, key); err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("head %q: %v, want a bad key", key, err)
		}
	}
}

func (s suite) canceled(t *testing.T, st objstore.Store) {
	put(t, st, "c", []byte("x"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := st.Put(ctx, "c2", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("put: %v", err)
	}
	if _, err := st.Get(ctx, "c", 0, -1); !errors.Is(err, context.Canceled) {
		t.Errorf("get: %v", err)
	}
	if _, err := st.Head(ctx, "c"); !errors.Is(err, context.Canceled) {
		t.Errorf("head: %v", err)
	}
	if err := st.Delete(ctx, "c"); !errors.Is(err, context.Canceled) {
		t.Errorf("delete: %v", err)
	}
	var listErr error
	for _, err := range st.List(ctx, "", "") {
		listErr = err
	}
	if !errors.Is(listErr, context.Canceled) {
		t.Errorf("list: %v", listErr)
	}
	if got := get(t, st, "c", 0, -1); string(got) != "x" {
		t.Errorf("a canceled delete removed the object: %q", got)
	}
	if _, err := st.Head(context.Background(), "c2"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a canceled put stored the object: %v", err)
	}
}

// concurrent checks that readers of an object being replaced see one
// version or the other, whole.
func (s suite) concurrent(t *testing.T, st objstore.Store) {
	ctx := context.Background()
	versions := [][]byte{Data(7, 64<<10), Data(8, 32<<10), Data(9, 100<<10)}
	put(t, st, "hot", versions[0])
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 2 {
		wg.Go(func() {
			for i := range 20 {
				if err := st.Put(ctx, "hot", versions[(i+w)%len(versions)]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				b, err := objstore.ReadAll(ctx, st, "hot", 0, -1)
				if err != nil {
					t.Error(err)
					return
				}
				if !slices.ContainsFunc(versions, func(v []byte) bool { return bytes.Equal(v, b) }) {
					t.Errorf("read a mix of versions (%d bytes)", len(b))
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	if t.Failed() {
		return
	}
	// Parallel puts of distinct keys, listed afterwards.
	var keys []string
	for i := range 40 {
		keys = append(keys, fmt.Sprintf("par/%02d/%d", i%7, i))
	}
	for _, k := range keys {
		wg.Go(func() {
			if err := st.Put(ctx, k, []byte(k)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	slices.Sort(keys)
	if got := Listing(t, st, "par/", ""); !slices.Equal(got, keys) {
		t.Errorf("parallel puts listed as %q", got)
	}
}
