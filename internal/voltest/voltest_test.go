package voltest_test

import (
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/meta"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func TestClock(t *testing.T) {
	c := voltest.NewClock()
	t0 := c.Now()
	if t0.Nanosecond() != 0 || !c.Now().Equal(t0) {
		t.Fatalf("a new clock is at %v and moves by itself", t0)
	}
	c.Advance(1500 * time.Millisecond)
	if d := c.Now().Sub(t0); d != 1500*time.Millisecond {
		t.Fatalf("advanced by %v", d)
	}
}

// TestVolume: a volume is formatted, its engine uses the clock it is given
// (the root was created at the clock's time) and it passes its own check.
func TestVolume(t *testing.T) {
	c := voltest.NewClock()
	v := voltest.New(t, voltest.Options{Engine: meta.Options{Clock: c}})
	d, a, err := v.E.Mkdir(t.Context(), meta.RootInode, "d", 0o755, 0)
	if err != nil || a.Mtime != c.Now().Unix() {
		t.Fatalf("mkdir: %+v %v; clock at %v", a, err, c.Now())
	}
	other := v.Open(meta.Options{})
	voltest.Eventually(t, 2*time.Second, "the other client sees the directory", func() error {
		_, err := other.GetAttr(t.Context(), d)
		return err
	})
	v.Check(other)
}
