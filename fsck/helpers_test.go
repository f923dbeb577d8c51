package fsck_test

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/meta"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// volume is a fresh formatted volume on the shared test server. Damage is
// injected with raw commands on another connection; checks then run on a
// new engine (fresh), whose cache cannot hold values from before the damage.
type volume struct {
	t   *testing.T
	url string
	srv *redistest.Server
	db  int
	e   *meta.Engine
	// dirty: the test leaves damage fsck cannot repair; skip the final
	// recount.
	dirty bool
}

func newVolume(t *testing.T, trashDays int, ugQuota bool) *volume {
	t.Helper()
	srv, db := redistest.NewDB(t)
	v := &volume{t: t, url: srv.URL("redis", db), srv: srv, db: db}
	ctx := context.Background()
	e, err := meta.Open(ctx, v.url, meta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &codec.Format{Name: "fsck", UUID: "00000000-0000-0000-0000-0000000000f5", Storage: "file", BlockSize: 4096,
		TrashDays: trashDays, MetaVersion: 1, DirStats: true, UserGroupQuota: ugQuota, Tiers: map[uint8]codec.Tier{0: {}}}
	if err := e.Init(ctx, f, false); err != nil {
		t.Fatal(err)
	}
	if err := e.NewSession(ctx, true); err != nil {
		t.Fatal(err)
	}
	v.e = e
	t.Cleanup(func() {
		if !v.dirty && !t.Failed() {
			e.Sync(ctx)
			rep, err := fsck.Recount(ctx, e.Client(), e.Keys(), fsck.Options{})
			if err != nil {
				t.Errorf("recount: %v", err)
			} else if !rep.OK() {
				t.Errorf("volume inconsistent after the test:\n%s", rep)
			}
		}
		e.Close(ctx)
	})
	return v
}

// fresh opens another engine on the volume, with an empty cache.
func (v *volume) fresh() *meta.Engine {
	v.t.Helper()
	ctx := context.Background()
	e, err := meta.Open(ctx, v.url, meta.Options{NoBackgroundJobs: true})
	if err != nil {
		v.t.Fatal(err)
	}
	if err := e.NewSession(ctx, false); err != nil {
		v.t.Fatal(err)
	}
	v.t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

func (v *volume) raw() rueidis.Client { return v.srv.Client(v.t, v.db) }

func (v *volume) do(args ...string) rueidis.RedisResult {
	v.t.Helper()
	r := v.srv.Do(v.t, v.db, args...)
	if err := r.Error(); err != nil && !rueidis.IsRedisNil(err) {
		v.t.Fatalf("%v: %v", args, err)
	}
	return r
}

// setNlink rewrites an attribute's link count by hand.
func (v *volume) setNlink(ino meta.Ino, n uint32) {
	v.t.Helper()
	ctx := context.Background()
	s, err := v.raw().Do(ctx, v.raw().B().Get().Key(v.e.Keys().Inode(ino)).Build()).ToString()
	if err != nil {
		v.t.Fatal(err)
	}
	var a codec.Attr
	if err := codec.UnmarshalAttr(s, &a); err != nil {
		v.t.Fatal(err)
	}
	a.Nlink = n
	v.do("SET", v.e.Keys().Inode(ino), string(a.Marshal()))
}

// kinds lists the kinds of the problems, with "+" appended to repaired ones.
func kinds(ps []fsck.Problem) string {
	var out []string
	for _, p := range ps {
		k := p.Kind
		if p.Repaired {
			k += "+"
		}
		out = append(out, k)
	}
	return strings.Join(out, ",")
}
