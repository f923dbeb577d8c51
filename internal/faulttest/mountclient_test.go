//go:build faults

package faulttest

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/meta"
)

// mountClient is a client of the randomized test that works through a
// mounted file system (RUEIDISFS_RANDOM_MOUNT: the mount point of the same
// volume by the official client, say), with system calls, so that another
// implementation takes part in the same history.
type mountClient struct {
	id   int
	root string // the mount point
	h    *History
	dirs []meta.Ino
	rng  *rand.Rand
}

// path of k: the test's directories are /t/d0.. of the volume.
func (m *mountClient) path(k Key) string {
	for i, d := range m.dirs {
		if d == k.Dir {
			return filepath.Join(m.root, "t", "d"+strconv.Itoa(i), k.Name)
		}
	}
	panic("unknown directory")
}

func (m *mountClient) key(links bool) Key {
	d := m.dirs[m.rng.IntN(len(m.dirs))]
	if links && m.rng.IntN(3) == 0 {
		return Key{Dir: d, Name: "l" + strconv.Itoa(m.rng.IntN(3))}
	}
	return Key{Dir: d, Name: "n" + strconv.Itoa(m.rng.IntN(randomNames))}
}

var errUnknownOutcome = errors.New("the mounted client could not tell whether it was applied")

func inoOf(fi os.FileInfo) meta.Ino { return meta.Ino(fi.Sys().(*syscall.Stat_t).Ino) }

// step runs one random operation through the mount and records it, as
// randomClient.step does through an engine.
func (m *mountClient) step() {
	k := m.key(true)
	o := &Op{Client: m.id, Start: time.Now()}
	var err error
	switch p := m.rng.IntN(100); {
	case p < 20:
		o.What, o.Claims = "create "+k.String(), k
		var f *os.File
		f, err = os.OpenFile(m.path(k), os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o644)
		o.Effects = map[Key]meta.Ino{k: someIno}
		if err == nil {
			fi, _ := f.Stat()
			o.Effects[k] = inoOf(fi)
			f.Close()
		}
	case p < 27:
		o.What, o.Claims = "mkdir "+k.String(), k
		err = syscall.Mkdir(m.path(k), 0o755)
		o.Effects = map[Key]meta.Ino{k: someIno}
	case p < 42:
		o.What, o.Needs = "unlink "+k.String(), k
		o.Effects = map[Key]meta.Ino{k: 0}
		err = syscall.Unlink(m.path(k))
	case p < 47:
		o.What, o.Needs = "rmdir "+k.String(), k
		o.Effects = map[Key]meta.Ino{k: 0}
		err = syscall.Rmdir(m.path(k))
	case p < 65:
		dst := m.key(false)
		if dst == k || k.Name[0] == 'l' {
			return
		}
		o.What, o.Needs = "rename "+k.String()+" -> "+dst.String(), k
		o.Effects = map[Key]meta.Ino{k: 0, dst: someIno}
		err = syscall.Rename(m.path(k), m.path(dst))
	case p < 72:
		dst := Key{Dir: m.dirs[m.rng.IntN(len(m.dirs))], Name: "l" + strconv.Itoa(m.rng.IntN(3))}
		if dst == k {
			return
		}
		o.What, o.Claims = "link "+k.String()+" -> "+dst.String(), dst
		o.Effects = map[Key]meta.Ino{dst: someIno}
		err = syscall.Link(m.path(k), m.path(dst))
	case p < 85:
		f, oerr := os.Open(m.path(k))
		if oerr != nil {
			return
		}
		defer f.Close()
		fi, serr := f.Stat()
		if serr != nil || fi.IsDir() {
			return
		}
		mode := uint16(0o600 + m.rng.IntN(0o100))
		o.Start = time.Now()
		o.What, o.ModeOf, o.Mode = "chmod "+k.String(), inoOf(fi), mode
		err = f.Chmod(os.FileMode(mode))
	default:
		o.What, o.Needs = "lookup "+k.String(), k
		var ino meta.Ino
		fi, lerr := os.Lstat(m.path(k))
		if lerr == nil {
			ino = inoOf(fi)
		} else if !errors.Is(lerr, syscall.ENOENT) {
			return
		}
		o.End = time.Now()
		o.Read = &ino
		m.h.Record(o, nil)
		return
	}
	o.End = time.Now()
	var perr *os.PathError
	if errors.As(err, &perr) {
		err = perr.Err
	}
	if errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.ETIMEDOUT) {
		err = errUnknownOutcome // the client could not tell whether it was applied
	}
	m.h.Record(o, err)
}
