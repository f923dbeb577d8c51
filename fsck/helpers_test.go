package fsck_test

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/meta"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// volume is a fresh formatted volume on the shared test server (see
// voltest). Damage is injected with raw commands on another connection;
// checks then run on a new engine (fresh), whose cache cannot hold values
// from before the damage. Set Dirty when the test leaves damage fsck
// cannot repair.
type volume struct {
	*voltest.Volume
	t   *testing.T
	url string
	srv *redistest.Server
	db  int
	e   *meta.Engine
}

func newVolume(t *testing.T, trashDays int, ugQuota bool) *volume {
	t.Helper()
	vv := voltest.New(t, voltest.Options{Format: func(f *codec.Format) {
		f.Name, f.TrashDays, f.UserGroupQuota = "fsck", trashDays, ugQuota
	}})
	return &volume{Volume: vv, t: t, url: vv.URL, srv: vv.Srv, db: vv.DB, e: vv.E}
}

// fresh opens another engine on the volume, with an empty cache.
func (v *volume) fresh() *meta.Engine { return v.Fresh() }

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
