package mounttest_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rueidisfs/rueidisfs/internal/mounttest"
	"github.com/rueidisfs/rueidisfs/vfs"
)

// TestCloneOnMount: clone in a mount, both ways juicefs users do it:
// `rueidisfs clone SRC DST` with paths in the mount, and the request
// `juicefs clone` writes to the mount's control file. The copies read as
// the originals; a taken name is EEXIST.
func TestCloneOnMount(t *testing.T) {
	mounttest.NeedRoot(t)
	v := mounttest.NewVolume(t, mounttest.VolumeOptions{})
	p := v.StartMount(t, "")
	src := filepath.Join(p.Dir, "src")
	must(t, os.MkdirAll(filepath.Join(src, "sub"), 0o755))
	data := bytes.Repeat([]byte("clone me "), 200000)
	must(t, os.WriteFile(filepath.Join(src, "big"), data, 0o644))
	writeFile(t, filepath.Join(src, "sub", "small"), "small")

	out := mounttest.Run(t, "clone", src, filepath.Join(p.Dir, "copy"))
	if !strings.Contains(out, "Cloned 4 entries") {
		t.Errorf("clone through the mount:\n%s", out)
	}
	sameFile(t, filepath.Join(src, "big"), filepath.Join(p.Dir, "copy", "big"))

	// juicefs clone's request: source, its parent, destination directory,
	// name, umask, mode (0: new owner and times), parallelism.
	body := binary.BigEndian.AppendUint64(nil, inodeOf(t, src))
	body = binary.BigEndian.AppendUint64(body, inodeOf(t, p.Dir))
	body = binary.BigEndian.AppendUint64(body, inodeOf(t, p.Dir))
	body = append(body, byte(len("jcopy")))
	body = append(body, "jcopy"...)
	body = binary.BigEndian.AppendUint16(body, 0o022)
	body = append(body, 0, 4)
	var last [2]uint64
	_, err := vfs.ControlCall(context.Background(), p.Dir, vfs.CtlClone, body, func(a, b uint64) { last = [2]uint64{a, b} })
	must(t, err)
	if last != [2]uint64{4, 4} {
		t.Errorf("clone's last progress %v, want 4 of 4", last)
	}
	sameFile(t, filepath.Join(src, "sub", "small"), filepath.Join(p.Dir, "jcopy", "sub", "small"))
	if _, err := vfs.ControlCall(context.Background(), p.Dir, vfs.CtlClone, body, nil); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("a clone onto a taken name: %v, want EEXIST", err)
	}
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	must(t, err)
	y, err := os.ReadFile(b)
	must(t, err)
	if !bytes.Equal(x, y) {
		t.Errorf("%s (%d bytes) differs from %s (%d bytes)", b, len(y), a, len(x))
	}
}
