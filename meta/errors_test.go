package meta_test

import (
	"context"
	"errors"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestCancellationStaysContextError: an operation whose context is
// cancelled fails with context.Canceled (wrapped), which tools can test
// for; only ToErrno, at the file-system boundary, makes it EINTR (and an
// expired deadline ETIMEDOUT).
func TestCancellationStaysContextError(t *testing.T) {
	v := newVolume(t, 0)
	ctx, cancel := context.WithCancel(bg)
	cancel()
	_, _, err := v.e.Mkdir(ctx, meta.RootInode, "d", 0o755, 0)
	if !errors.Is(err, context.Canceled) || meta.ToErrno(err) != syscall.EINTR {
		t.Fatalf("mkdir with a cancelled context: %v (errno %v), want context.Canceled / EINTR", err, meta.ToErrno(err))
	}
	if _, err := v.e.Remove(ctx, meta.RootInode, "missing", true, 0, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("remove with a cancelled context: %v", err)
	}
	dctx, dcancel := context.WithDeadline(bg, time.Now().Add(-time.Second))
	defer dcancel()
	_, _, err = v.e.Mkdir(dctx, meta.RootInode, "d", 0o755, 0)
	if !errors.Is(err, context.DeadlineExceeded) || meta.ToErrno(err) != syscall.ETIMEDOUT {
		t.Fatalf("mkdir past its deadline: %v (errno %v), want DeadlineExceeded / ETIMEDOUT", err, meta.ToErrno(err))
	}
}

// TestOutOfMemoryIsENOSPC: Redis refusing writes for lack of memory is
// ENOSPC, whichever path the refusal takes (a transaction script, a plain
// command), and the error says what Redis said.
func TestOutOfMemoryIsENOSPC(t *testing.T) {
	srv := redistest.Start(t)
	e := formatAt(t, srv.URL("redis", 0), meta.Options{})
	used, err := strconv.ParseInt(srv.Info(t, "memory", "used_memory"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	srv.Do(t, 0, "CONFIG", "SET", "maxmemory", strconv.FormatInt(used+64<<10, 10))
	defer srv.Do(t, 0, "CONFIG", "SET", "maxmemory", "0")
	var lastErr error
	for i := 0; i < 100000 && lastErr == nil; i++ {
		_, _, lastErr = e.Mknod(bg, meta.RootInode, "f"+strconv.Itoa(i), codec.TypeFile, 0o644, 0, 0)
	}
	if meta.ToErrno(lastErr) != syscall.ENOSPC || !errors.Is(lastErr, syscall.ENOSPC) {
		t.Fatalf("creates until Redis is full: %v (errno %v), want ENOSPC", lastErr, meta.ToErrno(lastErr))
	}
	srv.Do(t, 0, "CONFIG", "SET", "maxmemory", "0")
	recount(t, e)
}
