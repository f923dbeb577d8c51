package meta_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestConcurrentNamespace has several clients, each with many goroutines,
// create, link, rename and delete files and directories in the same few
// directories. Every operation must either succeed or fail with an errno a
// racing file system may return; afterwards every counter, directory
// statistic, link count and parent record must equal a recount.
func TestConcurrentNamespace(t *testing.T) {
	for _, trash := range []int{0, 1} {
		t.Run(fmt.Sprintf("trash=%d", trash), func(t *testing.T) {
			v := newVolume(t, trash)
			clients := []*meta.Engine{v.e, v.open(meta.Options{}), v.open(meta.Options{})}
			dirs := make([]meta.Ino, 3)
			for i := range dirs {
				dirs[i] = mustMkdir(t, v.e, bg, meta.RootInode, fmt.Sprintf("d%d", i), 0o777)
			}
			const workers, ops = 8, 150
			var wg sync.WaitGroup
			errs := make(chan error, len(clients)*workers)
			for ci, e := range clients {
				for w := 0; w < workers; w++ {
					wg.Add(1)
					go func(e *meta.Engine, seed uint64) {
						defer wg.Done()
						r := rand.New(rand.NewPCG(seed, seed*7+1))
						for i := 0; i < ops; i++ {
							if err := randomOp(e, r, dirs); err != nil {
								errs <- err
								return
							}
						}
					}(e, uint64(ci*100+w))
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			v.check(clients[1:]...)
		})
	}
}

// benign are the errors concurrent operations on the same names may see.
var benign = []syscall.Errno{syscall.ENOENT, syscall.EEXIST, syscall.ENOTEMPTY, syscall.ENOTDIR, syscall.EISDIR, syscall.EPERM}

func randomOp(e *meta.Engine, r *rand.Rand, dirs []meta.Ino) error {
	dir := func() meta.Ino { return dirs[r.IntN(len(dirs))] }
	name := func() string { return fmt.Sprintf("n%d", r.IntN(12)) }
	var err error
	var what string
	switch op := r.IntN(10); op {
	case 0, 1:
		what = "create"
		var ino meta.Ino
		ino, _, err = e.Create(bg, dir(), name(), 0o644, 0, 0o200)
		if err == nil {
			err = e.Release(bg, ino)
		}
	case 2:
		what = "mkdir"
		_, _, err = e.Mkdir(bg, dir(), name(), 0o755, 0)
	case 3:
		what = "symlink"
		_, _, err = e.Symlink(bg, dir(), name(), "target")
	case 4:
		what = "link"
		var ino meta.Ino
		var a meta.Attr
		ino, a, err = e.Lookup(bg, dir(), name())
		if err == nil && a.Typ != codec.TypeDirectory {
			_, err = e.Link(bg, ino, dir(), name())
		}
	case 5, 6:
		what = "rename"
		flags := []uint32{0, 0, codec.RenameNoReplace, codec.RenameExchange}[r.IntN(4)]
		_, _, err = e.Rename(bg, dir(), name(), dir(), name(), flags)
	case 7, 8:
		what = "unlink"
		err = e.Unlink(bg, dir(), name(), false)
	case 9:
		what = "rmdir"
		err = e.Rmdir(bg, dir(), name(), false)
	}
	if err == nil {
		return nil
	}
	for _, b := range benign {
		if errors.Is(err, b) {
			return nil
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}
