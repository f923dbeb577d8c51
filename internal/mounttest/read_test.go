package mounttest_test

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/internal/mounttest"
)

// TestBigReadsLogNothing: reads of a whole megabyte through a mount leave
// no line in its log (go-fuse tried to splice every read reply into a
// pipe and warned for each 1 MiB one that did not fit).
func TestBigReadsLogNothing(t *testing.T) {
	mounttest.NeedRoot(t)
	v := mounttest.NewVolume(t, mounttest.VolumeOptions{})
	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	local := filepath.Join(t.TempDir(), "big")
	must(t, os.WriteFile(local, data, 0o644))
	mounttest.Run(t, "put", v.URL, local, "big")
	p := v.StartMount(t, "")
	got, err := os.ReadFile(filepath.Join(p.Dir, "big"))
	if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("read through the mount: %v", err)
	}
	if strings.Contains(p.Log(), "splice") {
		t.Fatalf("the mount logged while reading:\n%.500s", p.Log())
	}
}
