package meta_test

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestInvalidFormatRefused: a setting whose block size is 0 (or that is
// "{}", or absent) is refused where it is read, with an error naming the
// key, and an engine that could not read a valid format changes nothing:
// creates, links, renames and removals fail.
func TestInvalidFormatRefused(t *testing.T) {
	for _, c := range []struct {
		name, setting string
		want          string
	}{
		{"block size 0", `{"Name":"v","UUID":"u","Storage":"file","BlockSize":0,"TrashDays":0}`, "block size 0"},
		{"block size overflows", `{"Name":"v","UUID":"u","Storage":"file","BlockSize":9223372036854775807,"TrashDays":0}`, "block size"},
		{"empty object", `{}`, "no name"},
		{"negative trash days", `{"Name":"v","UUID":"u","Storage":"file","BlockSize":4096,"TrashDays":-1}`, "trash days"},
		{"unknown compression", `{"Name":"v","UUID":"u","Storage":"file","BlockSize":4096,"Compression":"rot13"}`, "compression"},
		{"absent", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := newVolumeWith(t, volumeOpts{noCheck: true})
			f := mustMkdir(t, v.e, bg, meta.RootInode, "d", 0o755)
			if c.setting == "" {
				v.do("DEL", v.e.Keys().Setting())
			} else {
				v.do("SET", v.e.Keys().Setting(), c.setting)
			}
			e, err := meta.Open(bg, v.url, meta.Options{NoBackgroundJobs: true})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close(bg)
			_, err = e.Load(bg, false)
			switch {
			case c.setting == "" && !errors.Is(err, meta.ErrNotFormatted):
				t.Fatalf("load: %v, want ErrNotFormatted", err)
			case c.setting != "" && (!meta.IsCorruption(err) || !strings.Contains(err.Error(), `"setting"`) || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("load: %v, want a corruption of setting saying %q", err, c.want)
			}
			if err := e.NewSession(bg, true); err == nil {
				t.Fatal("a session started on the volume")
			}
			if _, _, err := e.Mkdir(bg, meta.RootInode, "x", 0o755, 0); !errors.Is(err, meta.ErrNotFormatted) {
				t.Errorf("mkdir: %v", err)
			}
			if _, _, err := e.Mknod(bg, f, "x", codec.TypeFile, 0o644, 0, 0); !errors.Is(err, meta.ErrNotFormatted) {
				t.Errorf("mknod: %v", err)
			}
			if _, _, err := e.Rename(bg, meta.RootInode, "d", meta.RootInode, "e", 0); !errors.Is(err, meta.ErrNotFormatted) {
				t.Errorf("rename: %v", err)
			}
			if err := e.Rmdir(bg, meta.RootInode, "d", true); !errors.Is(err, meta.ErrNotFormatted) {
				t.Errorf("rmdir: %v", err)
			}
			if _, err := e.Remove(bg, meta.RootInode, "d", true, 1, nil); err == nil || errors.Is(err, syscall.ENOENT) {
				t.Errorf("remove: %v", err)
			}
			if _, err := e.Link(bg, f, meta.RootInode, "l"); !errors.Is(err, meta.ErrNotFormatted) {
				t.Errorf("link: %v", err)
			}
			if _, _, err := e.Lookup(bg, meta.RootInode, "d"); err != nil {
				t.Errorf("the directory is gone: %v", err)
			}
		})
	}
}
