package meta_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// Helpers of the deployment tests (Cluster, Sentinel, TLS, ACL users,
// replica reads): volumes on any meta URL, raw counters of a server, and
// polling for what another client changed.

// formatAt formats a new volume at url and returns an engine with a
// registered session, closed when the test ends; the caller checks
// consistency with recount.
func formatAt(t *testing.T, url string, opts meta.Options) *meta.Engine {
	t.Helper()
	return voltest.At(t, url, voltest.Options{Engine: opts})
}

// openAt opens another client of the volume at url (a read-only one when
// opts.ReadOnly is set), closed when the test ends.
func openAt(t *testing.T, url string, opts meta.Options) *meta.Engine {
	t.Helper()
	return voltest.Open(t, url, opts)
}

// recount flushes the pending accounting of the engines and checks the
// volume of the first one.
func recount(t *testing.T, engines ...*meta.Engine) {
	t.Helper()
	voltest.Recount(t, engines...)
}

// commandCalls returns the calls= counter of every command in the server's
// INFO commandstats (keys in lower case: "get", "evalsha_ro", ...).
func commandCalls(t *testing.T, s *redistest.Server) map[string]int64 {
	t.Helper()
	info, err := s.Do(t, 0, "INFO", "commandstats").ToString()
	if err != nil {
		t.Fatalf("INFO commandstats on %s: %v", s.Addr, err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		var n int64
		fmt.Sscanf(rest, "%d", &n)
		out[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return out
}

// readCalls sums the calls of the read commands the engine's read paths use.
func readCalls(m map[string]int64) int64 {
	var n int64
	for _, c := range []string{"get", "mget", "hget", "hgetall", "hlen", "exists", "lrange", "evalsha_ro", "eval_ro"} {
		n += m[c]
	}
	return n
}

// modeIs returns a condition: e sees inode ino with permission bits mode.
func modeIs(e *meta.Engine, ino meta.Ino, mode uint16) func() error {
	return func() error {
		a, err := e.GetAttr(context.Background(), ino)
		if err != nil {
			return err
		}
		if a.Mode != mode {
			return fmt.Errorf("inode %d has mode %o, want %o", ino, a.Mode, mode)
		}
		return nil
	}
}

// chmod sets the permission bits of ino.
func chmod(t *testing.T, e *meta.Engine, ino meta.Ino, mode uint16) {
	t.Helper()
	if _, err := e.SetAttr(context.Background(), ino, codec.SetAttrMode, &meta.Attr{Mode: mode}); err != nil {
		t.Fatalf("chmod %d %o: %v", ino, mode, err)
	}
}

// namespaceOps runs every kind of namespace operation under a new
// directory name of the root and checks their results.
func namespaceOps(t *testing.T, e *meta.Engine, name string) {
	t.Helper()
	ctx := context.Background()
	d, _, err := e.Mkdir(ctx, meta.RootInode, name, 0o755, 0)
	if err != nil {
		t.Fatalf("mkdir %s: %v", name, err)
	}
	sub, _, err := e.Mkdir(ctx, d, "sub", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	f, _, err := e.Create(ctx, sub, "file", 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Release(ctx, f); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Link(ctx, f, d, "hardlink"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Symlink(ctx, d, "symlink", "sub/file"); err != nil {
		t.Fatal(err)
	}
	if err := e.SetXattr(ctx, f, "user.k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	id, err := e.NewSlice(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Write(ctx, f, 0, 0, codec.Slice{ID: id, Size: 4096, Len: 4096}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Rename(ctx, sub, "file", d, "moved", 0); err != nil {
		t.Fatal(err)
	}
	ino, _, err := e.Resolve(ctx, meta.RootInode, name+"/moved")
	if err != nil || ino != f {
		t.Fatalf("resolve %s/moved = %d, %v; want %d", name, ino, err, f)
	}
	if got, err := e.ReadLink(ctx, ino2(t, e, name+"/symlink")); err != nil || got != "sub/file" {
		t.Fatalf("readlink: %q %v", got, err)
	}
	if err := e.Unlink(ctx, d, "hardlink", false); err != nil {
		t.Fatal(err)
	}
	if err := e.Rmdir(ctx, d, "sub", false); err != nil {
		t.Fatal(err)
	}
	ents, err := e.Readdir(ctx, d, true)
	if err != nil || len(ents) != 4 { // ., .., moved, symlink
		t.Fatalf("readdir %s: %d entries, %v", name, len(ents), err)
	}
}

// ino2 resolves a path from the root.
func ino2(t *testing.T, e *meta.Engine, path string) meta.Ino {
	t.Helper()
	ino, _, err := e.Resolve(context.Background(), meta.RootInode, path)
	if err != nil {
		t.Fatalf("resolve %s: %v", path, err)
	}
	return ino
}
