// Package voltest makes throwaway volumes for tests: a volume formatted on
// the shared test Redis (or at any meta URL), more clients on it, and the
// check that every test touching a volume ends with, the way bbolt checks
// its database after each test: all pending accounting flushed, then every
// counter recounted from the entries and attributes (fsck.Recount) and
// compared. It also has the clock tests move instead of sleeping and a
// poll for what another client changes.
package voltest

import (
	"context"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// Format returns the format of a test volume named name: file storage,
// 4 MiB blocks, directory statistics on, no trash.
func Format(name string) *codec.Format {
	return &codec.Format{Name: name, UUID: "00000000-0000-0000-0000-000000000001", Storage: "file", Bucket: "/tmp/" + name + "/",
		BlockSize: 4096, MetaVersion: 1, DirStats: true, Tiers: map[uint8]codec.Tier{0: {}}}
}

// Options tune New and At.
type Options struct {
	// Format adjusts the volume's format (see Format) before it is written.
	Format func(f *codec.Format)
	// Engine are the options of the first engine.
	Engine meta.Options
	// NoCheck skips the recount at the end of the test (a test that leaves
	// damage fsck cannot repair).
	NoCheck bool
}

// Volume is a volume formatted for one test.
type Volume struct {
	t   testing.TB
	URL string
	Srv *redistest.Server
	DB  int
	// E is the first engine, with a registered session.
	E *meta.Engine
	// Dirty, set by the test, skips the final recount (damage left on
	// purpose).
	Dirty bool
}

// New formats a volume on a fresh database of the shared test server and
// opens its first engine. When the test ends (and had not failed), the
// volume is checked (see Check), then the engine is closed.
func New(t testing.TB, o Options) *Volume {
	t.Helper()
	srv, db := redistest.NewDB(t)
	v := &Volume{t: t, URL: srv.URL("redis", db), Srv: srv, DB: db}
	v.E = at(t, v.URL, o)
	t.Cleanup(func() {
		if !o.NoCheck && !v.Dirty && !t.Failed() {
			v.Check()
		}
	})
	return v
}

// At formats a volume at url (any deployment a test starts) and returns its
// first engine, with a registered session, closed when the test ends. The
// caller checks the volume (Recount).
func At(t testing.TB, url string, o Options) *meta.Engine {
	t.Helper()
	return at(t, url, o)
}

func at(t testing.TB, url string, o Options) *meta.Engine {
	t.Helper()
	e := Dial(t, url, o.Engine)
	f := Format("test")
	if o.Format != nil {
		o.Format(f)
	}
	if err := e.Init(context.Background(), f, false); err != nil {
		t.Fatalf("format %s: %v", url, err)
	}
	if err := e.NewSession(context.Background(), true); err != nil {
		t.Fatalf("session on %s: %v", url, err)
	}
	return e
}

// Dial opens an engine at url without a session, closed when the test ends.
func Dial(t testing.TB, url string, opts meta.Options) *meta.Engine {
	t.Helper()
	e, err := meta.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

// Open opens another client of the volume at url, closed when the test
// ends: a session that registers itself, unless opts.ReadOnly.
func Open(t testing.TB, url string, opts meta.Options) *meta.Engine {
	t.Helper()
	e := Dial(t, url, opts)
	if err := e.NewSession(context.Background(), !opts.ReadOnly); err != nil {
		t.Fatalf("session on %s: %v", url, err)
	}
	return e
}

// Open opens another client of the volume (see the function Open).
func (v *Volume) Open(opts meta.Options) *meta.Engine {
	v.t.Helper()
	return Open(v.t, v.URL, opts)
}

// Fresh opens another engine on the volume, without background jobs and
// with a session that does not register: its cache holds nothing a test
// wrote or damaged before.
func (v *Volume) Fresh() *meta.Engine {
	v.t.Helper()
	e := Dial(v.t, v.URL, meta.Options{NoBackgroundJobs: true})
	if err := e.NewSession(context.Background(), false); err != nil {
		v.t.Fatal(err)
	}
	return e
}

// Check flushes the pending accounting of the volume's engine and of
// others, then recounts the volume and fails the test on any difference.
func (v *Volume) Check(others ...*meta.Engine) {
	v.t.Helper()
	Recount(v.t, append([]*meta.Engine{v.E}, others...)...)
}

// Recount flushes the pending accounting of the engines, then recounts the
// volume of the first one (directory statistics compared when the volume
// keeps them) and fails the test on any difference.
func Recount(t testing.TB, engines ...*meta.Engine) {
	t.Helper()
	f, err := engines[0].Load(context.Background(), false)
	if err != nil {
		t.Fatalf("recount: %v", err)
	}
	// Tests write slice records with ids of their choosing.
	RecountWith(t, fsck.Options{SkipDirStats: !f.DirStats, SkipSliceCounter: true}, engines...)
}

// RecountWith is Recount with the recount's options.
func RecountWith(t testing.TB, opts fsck.Options, engines ...*meta.Engine) {
	t.Helper()
	ctx := context.Background()
	for _, e := range engines {
		e.Sync(ctx)
	}
	e := engines[0]
	rep, err := fsck.Recount(ctx, e.Client(), e.Keys(), opts)
	if err != nil {
		t.Fatalf("recount: %v", err)
	}
	if !rep.OK() {
		t.Fatalf("volume inconsistent:\n%s", rep)
	}
}
