package vfs

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Unit tests of the parts of the VFS that need no engine; the file system
// itself is tested through real mounts (package fusefs, internal/mounttest).

func TestInternalNodes(t *testing.T) {
	ns := newInternalNodes(false, 0, 0, time.Unix(1, 0), true)
	if n := ns.byName(RootInode, ".stats"); n == nil || n.ino != statsIno {
		t.Fatalf(".stats in the root: %+v", n)
	}
	if ns.byName(5, ".stats") != nil {
		t.Fatal(".stats resolves outside the root")
	}
	if n := ns.byName(5, ".control"); n == nil || n.ino != controlIno {
		t.Fatal(".control does not resolve in a sub-directory")
	}
	if !ns.reserved(RootInode, ".trash") || ns.reserved(5, ".trash") {
		t.Fatal(".trash is reserved in the root only")
	}
	// juicefs mount's .trash: a directory of mode 0555, 2 links, size 0,
	// owned by root, with the mount's start time.
	want := Attr{Typ: codec.TypeDirectory, Mode: 0o555, Nlink: 2, Atime: 1, Mtime: 1, Ctime: 1, Parent: RootInode}
	if n := ns.byName(RootInode, ".trash"); n == nil || n.attr != want {
		t.Fatalf(".trash: %+v, want the attributes %+v", n, want)
	}
	prefixed := newInternalNodes(true, 0, 0, time.Unix(1, 0), false)
	if prefixed.byName(RootInode, ".jfs.config") == nil || prefixed.byName(RootInode, ".config") != nil {
		t.Fatal("--prefix-internal names")
	}
	if prefixed.byName(RootInode, ".jfs.trash") != nil {
		t.Fatal("a sub-directory mount shows the trash")
	}
}

func TestHandleNumbers(t *testing.T) {
	var ht handleTable
	ht.init()
	ro := ht.add(&handle{ino: 2, flags: syscall.O_RDONLY})
	rw := ht.add(&handle{ino: 2, flags: syscall.O_RDWR})
	dir := ht.add(&handle{ino: 3, dir: &dirHandle{}, flags: syscall.O_RDWR})
	if ro%2 != 1 || rw%2 != 0 || dir%2 != 1 {
		t.Fatalf("handles %d (read-only) %d (writable) %d (directory): want odd, even, odd", ro, rw, dir)
	}
	if ht.get(3, ro) != nil || ht.get(2, ro) == nil {
		t.Fatal("a handle is found only with its inode")
	}
	if ht.remove(2, ro) == nil || ht.get(2, ro) != nil || ht.remove(2, ro) != nil {
		t.Fatal("remove")
	}
}

func TestControlSession(t *testing.T) {
	v := &VFS{conf: Config{Control: func(ctx context.Context, cmd uint32, body []byte, r *ControlReply) syscall.Errno {
		switch cmd {
		case CtlInfo:
			r.Progress(3, 4)
			r.Data([]byte(`{"Ino":` + string(body) + `}`))
			return 0
		case CtlRmr:
			return syscall.ENOENT
		}
		return syscall.EINVAL
	}}}
	v.root = RootInode
	call := func(cmd uint32, body string) []byte {
		s := v.newControlSession(context.Background())
		req := binary.BigEndian.AppendUint32(nil, cmd)
		req = binary.BigEndian.AppendUint32(req, uint32(len(body)))
		req = append(req, body...)
		// Written in two pieces: the request is run once it is whole.
		s.write(req[:5])
		s.write(req[5:])
		deadline := time.Now().Add(5 * time.Second)
		buf := make([]byte, 4096)
		var out []byte
		for time.Now().Before(deadline) {
			n := s.read(buf, int64(len(req)+len(out)))
			out = append(out, buf[:n]...)
			if len(out) > 0 && (out[0] != frameProgress || len(out) > 17) {
				time.Sleep(10 * time.Millisecond)
				if n := s.read(buf, int64(len(req)+len(out))); n == 0 {
					return out
				}
			}
			time.Sleep(time.Millisecond)
		}
		t.Fatalf("no reply to command %d", cmd)
		return nil
	}
	got := call(CtlInfo, "7")
	want := append([]byte{frameProgress}, binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, 3), 4)...)
	want = append(want, frameData, 0, 0, 0, byte(len(`{"Ino":7}`)))
	want = append(want, `{"Ino":7}`...)
	if !bytes.Equal(got, want) {
		t.Fatalf("info reply %q, want %q", got, want)
	}
	if got := call(CtlRmr, ""); !bytes.Equal(got, []byte{byte(syscall.ENOENT)}) {
		t.Fatalf("failed command reply %q", got)
	}
	if got := call(4242, ""); !bytes.Equal(got, []byte{byte(syscall.EINVAL)}) {
		t.Fatalf("unknown command reply %q", got)
	}
}

func TestStatsText(t *testing.T) {
	reg := prometheus.NewRegistry()
	jfs := prometheus.WrapRegistererWithPrefix("juicefs_", reg)
	m := newMetrics(jfs)
	m.observe("lookup", 0, time.Millisecond)
	m.observe("lookup", syscall.EIO, 3*time.Millisecond)
	text := string(StatsText(reg))
	for _, want := range []string{
		"juicefs_fuse_ops_durations_histogram_seconds_total 2\n",
		"juicefs_fuse_ops_durations_histogram_seconds_sum 0.004\n",
		"juicefs_fuse_ops_total_lookup 2\n",
		"juicefs_fuse_ops_io_errors_EIO 1\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf(".stats lacks %q:\n%s", want, text)
		}
	}
}

func TestAccessLogReader(t *testing.T) {
	var a accessLog
	r := a.open()
	a.publish([]byte("one\n"))
	a.publish([]byte("two\n"))
	buf := make([]byte, 6)
	if n := r.read(context.Background(), buf); string(buf[:n]) != "one\ntw" {
		t.Fatalf("first read %q", buf[:n])
	}
	if n := r.read(context.Background(), buf); string(buf[:n]) != "o\n" {
		t.Fatalf("second read %q", buf[:n])
	}
	start := time.Now()
	if n := r.read(context.Background(), buf); string(buf[:n]) != "#\n" || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("an idle read returned %q after %v, want #\\n after a second", buf[:n], time.Since(start))
	}
	r.close()
	if a.active.Load() != 0 {
		t.Fatal("the closed reader still counts")
	}
}

func TestSupplementaryGroups(t *testing.T) {
	var g groupCache
	if got := g.of(0, 5, 1); len(got) != 1 || got[0] != 5 {
		t.Fatalf("root's groups are not read: %v", got)
	}
	if got := g.of(1000, 7, 0); len(got) != 1 || got[0] != 7 {
		t.Fatalf("kernel requests (pid 0): %v", got)
	}
}
