package meta_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestCorruptValues: malformed values in Redis give an error that is marked
// as corruption and names the key, and never a panic.
func TestCorruptValues(t *testing.T) {
	v := newVolumeWith(t, volumeOpts{noCheck: true})
	e := v.e
	d := mustMkdir(t, e, bg, meta.RootInode, "d", 0o755)
	f := mustCreate(t, e, bg, d, "f", 0o644)
	l, _, err := e.Symlink(bg, d, "l", "t")
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error, key string) {
		t.Helper()
		if err == nil || !meta.IsCorruption(err) || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v (want a corruption error naming %s)", what, err, key)
		}
	}
	v.srv.Do(t, v.db, "SET", "i"+f.String(), "short")
	_, err = e.GetAttr(bg, f)
	check("getattr", err, "i"+f.String())
	_, _, err = e.Lookup(bg, d, "f")
	check("lookup", err, "i"+f.String())
	v.srv.Do(t, v.db, "HSET", "d"+d.String(), "bad", "12345")
	_, _, err = e.Lookup(bg, d, "bad")
	check("entry", err, "d"+d.String())
	_, err = e.Readdir(bg, d, false)
	check("readdir", err, "d"+d.String())
	v.srv.Do(t, v.db, "RPUSH", "c"+f.String()+"_0", "not a slice record")
	la := mustAttr(t, e, l)
	la.Typ = 1 // a regular file again
	v.srv.Do(t, v.db, "SET", "i"+f.String(), string(la.Marshal()))
	_, err = e.Read(bg, f, 0)
	if err == nil {
		t.Error("read of a corrupt chunk list succeeded")
	}
	v.srv.Do(t, v.db, "SET", "setting", "{not json")
	// Another client's change reaches the cache within a moment.
	voltest.Eventually(t, 2*time.Second, "corrupt setting", voltest.Holds(func() bool { _, err = e.Load(bg, false); return err != nil }))
	check("setting", err, "setting")
}

func mustAttr(t *testing.T, e *meta.Engine, ino meta.Ino) meta.Attr {
	t.Helper()
	a, err := e.GetAttr(bg, ino)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
