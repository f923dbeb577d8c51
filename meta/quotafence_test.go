package meta_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestQuotaFenceExpires: a `quota set` that stalls while it counts (its
// fence no longer renewed) holds writers inside the directory back only
// until the fence's lease runs out; its final step then refuses to store a
// usage that may be off and says so, and nothing is stored. Set again, the
// quota gets the exact usage.
func TestQuotaFenceExpires(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	e := v.e
	d := mustMkdir(t, e, ctx, meta.RootInode, "D", 0o777)
	for i := range 20 {
		mustCreate(t, e, ctx, d, "pre"+string(rune('a'+i)), 0o644)
	}
	writer := v.open(meta.Options{})
	mustCreate(t, writer, ctx, meta.RootInode, "warm", 0o644) // the writer knows the fence (none)
	fenceKey := e.Keys().QuotaFence()
	fence := func() string {
		s, _ := v.do("GET", fenceKey).ToString() // "" when absent
		return s
	}

	setter := v.open(meta.Options{})
	held := make(chan error, 1)
	setter.SetQuotaFenceForTest(300*time.Millisecond, true, func() {
		// The count is done, the fence is no longer renewed. A change
		// outside the directory goes on at once...
		if _, _, err := writer.Mknod(ctx, meta.RootInode, "outside", codec.TypeFile, 0o644, 0, 0); err != nil {
			held <- err
			return
		}
		if s := fence(); !strings.HasPrefix(s, "count ") {
			held <- errors.New("the fence was gone before the lease ran out: " + s)
			return
		}
		// ...one inside waits for the lease to run out.
		_, _, err := writer.Mknod(ctx, d, "late", codec.TypeFile, 0o644, 0, 0)
		if err == nil {
			if s := fence(); s != "" {
				err = errors.New("a change inside the directory went through while the fence held: " + s)
			}
		}
		held <- err
	})
	_, err := setter.Quotas().Set(ctx, meta.QuotaDir, "/D", -1, -1, false, false)
	if herr := <-held; herr != nil {
		t.Fatal(herr)
	}
	if err == nil || !strings.Contains(err.Error(), "lease") || !strings.Contains(err.Error(), "run the command again") {
		t.Fatalf("quota set whose fence expired: %v", err)
	}
	if q, err := e.Quotas().Get(ctx, meta.QuotaDir, "/D"); err != nil || q != nil {
		t.Fatalf("quota stored although its count was not fenced: %+v %v", q, err)
	}

	setter.SetQuotaFenceForTest(0, false, nil)
	q, err := setter.Quotas().Set(ctx, meta.QuotaDir, "/D", -1, -1, false, false)
	if err != nil || q.UsedInodes != 21 || q.UsedSpace != 21*4096 {
		t.Fatalf("quota set again: %+v %v", q, err)
	}
	mustCreate(t, writer, ctx, d, "after", 0o644)
	writer.Sync(ctx)
	if res, err := setter.Quotas().Check(ctx, meta.QuotaDir, "/D", true, false); err != nil {
		t.Fatalf("check: %v %+v", err, res.Mismatches)
	}
	v.check(writer, setter)
}

// TestQuotaExchangeDirectories: exchanging (RENAME_EXCHANGE) a directory
// inside a directory quota with one outside moves the usage of both trees,
// exactly, while another client keeps creating and writing files in both.
func TestQuotaExchangeDirectories(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	e := v.e
	d := mustMkdir(t, e, ctx, meta.RootInode, "D", 0o777)
	x := mustMkdir(t, e, ctx, d, "x", 0o777)
	y := mustMkdir(t, e, ctx, meta.RootInode, "y", 0o777)
	for i := range 5 {
		mustCreate(t, e, ctx, x, fmt.Sprint("x", i), 0o644)
		mustCreate(t, e, ctx, mustMkdir(t, e, ctx, y, fmt.Sprint("sub", i), 0o777), "f", 0o644)
	}
	if _, err := e.Quotas().Set(ctx, meta.QuotaDir, "/D", -1, -1, false, false); err != nil {
		t.Fatal(err)
	}
	writer := v.open(meta.Options{})
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			ino, _, err := writer.Mknod(ctx, []meta.Ino{x, y}[i%2], fmt.Sprint("w", i), codec.TypeFile, 0o644, 0, 0)
			if err == nil {
				err = writer.Write(ctx, ino, 0, 0, codec.Slice{ID: uint64(i + 1), Size: 5000, Len: 5000}, time.Now())
			}
			if err != nil {
				done <- err
				return
			}
		}
	}()
	for i := range 30 {
		if _, _, err := e.Rename(ctx, d, "x", meta.RootInode, "y", codec.RenameExchange); err != nil {
			t.Fatalf("exchange %d: %v", i, err)
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	writer.Sync(ctx)
	if res, err := e.Quotas().Check(ctx, meta.QuotaDir, "/D", true, false); err != nil {
		t.Fatalf("check: %v %+v", err, res.Mismatches)
	}
	v.check(writer)
}
