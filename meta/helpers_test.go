package meta_test

import (
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/meta"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// volume is a freshly formatted volume for one test (see voltest), with
// the fields the tests use. At the end of the test every counter of the
// volume is recounted and compared: a test that leaves the volume
// inconsistent fails.
type volume struct {
	*voltest.Volume
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
	if o.deleteSlice != nil {
		o.engine.SliceDeleter = func(*codec.Format) (meta.DeleteSliceFunc, error) { return o.deleteSlice, nil }
	}
	vv := voltest.New(t, voltest.Options{Engine: o.engine, NoCheck: o.noCheck, Format: func(f *codec.Format) {
		f.TrashDays, f.EnableACL, f.UserGroupQuota, f.Capacity, f.Inodes = o.trashDays, o.acl, o.userGroupQuota, o.capacity, o.inodes
	}})
	return &volume{Volume: vv, t: t, url: vv.URL, e: vv.E, srv: vv.Srv, db: vv.DB}
}

// open returns another engine (another client) on the same volume.
func (v *volume) open(opts meta.Options) *meta.Engine { return v.Open(opts) }

// check flushes the pending accounting and recounts the volume.
func (v *volume) check(others ...*meta.Engine) { v.Check(others...) }
