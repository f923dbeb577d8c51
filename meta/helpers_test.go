package meta_test

import (
	"context"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/meta"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// volume is a freshly formatted volume for one test, with a registered
// session. At the end of the test every counter of the volume is recounted
// and compared (fsck.Recount), the way bbolt checks its database after each
// test: a test that leaves the volume inconsistent fails.
type volume struct {
	t   *testing.T
	url string
	e   *meta.Engine
	srv *redistest.Server
	db  int
}

type volumeOpts struct {
	trashDays      int
	acl            bool
	userGroupQuota bool
	capacity       uint64
	inodes         uint64
	noCheck        bool
	engine         meta.Options
	// deleteSlice, when set, is the engine's slice deletion (installed as
	// its Options.SliceDeleter).
	deleteSlice meta.DeleteSliceFunc
}

func newVolume(t *testing.T, trashDays int) *volume {
	return newVolumeWith(t, volumeOpts{trashDays: trashDays})
}

func newVolumeWith(t *testing.T, o volumeOpts) *volume {
	t.Helper()
	srv, db := redistest.NewDB(t)
	v := &volume{t: t, url: srv.URL("redis", db), srv: srv, db: db}
	ctx := context.Background()
	if o.deleteSlice != nil {
		o.engine.SliceDeleter = func(*codec.Format) (meta.DeleteSliceFunc, error) { return o.deleteSlice, nil }
	}
	e, err := meta.Open(ctx, v.url, o.engine)
	if err != nil {
		t.Fatal(err)
	}
	f := &codec.Format{Name: "test", UUID: "00000000-0000-0000-0000-000000000001", Storage: "file", BlockSize: 4096,
		TrashDays: o.trashDays, MetaVersion: 1, DirStats: true, EnableACL: o.acl, UserGroupQuota: o.userGroupQuota,
		Capacity: o.capacity, Inodes: o.inodes, Tiers: map[uint8]codec.Tier{0: {}}}
	if err := e.Init(ctx, f, false); err != nil {
		t.Fatal(err)
	}
	if err := e.NewSession(ctx, true); err != nil {
		t.Fatal(err)
	}
	v.e = e
	t.Cleanup(func() {
		ctx := context.Background()
		if !o.noCheck && !t.Failed() {
			v.check()
		}
		e.Close(ctx)
	})
	return v
}

// open returns another engine (another client) on the same volume.
func (v *volume) open(opts meta.Options) *meta.Engine {
	v.t.Helper()
	ctx := context.Background()
	e, err := meta.Open(ctx, v.url, opts)
	if err != nil {
		v.t.Fatal(err)
	}
	if err := e.NewSession(ctx, true); err != nil {
		v.t.Fatal(err)
	}
	v.t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

// check flushes the pending accounting and recounts the volume.
func (v *volume) check(others ...*meta.Engine) {
	v.t.Helper()
	ctx := context.Background()
	for _, e := range append([]*meta.Engine{v.e}, others...) {
		e.Sync(ctx)
	}
	f := v.e.Format()
	rep, err := fsck.Recount(ctx, v.e.Client(), v.e.Keys(), fsck.Options{SkipDirStats: f != nil && !f.DirStats})
	if err != nil {
		v.t.Fatalf("recount: %v", err)
	}
	if !rep.OK() {
		v.t.Fatalf("volume inconsistent after the test:\n%s", rep)
	}
}
