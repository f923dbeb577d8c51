// Command mdbench measures metadata operations through a mounted file
// system, for scripts/bench-mount.sh: create, stat, readdir, rename and
// unlink of many empty files, by several threads at once, each in a
// directory of its own; and, with -floor, the round trip of the machine's
// FUSE (a getattr of a go-fuse file system that does nothing).
//
//	mdbench -dir /mnt/jfs/bench -files 10000 -threads 4
//	mdbench -floor -n 100000
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

func main() {
	dir := flag.String("dir", "", "directory in the mount to work in (created, removed at the end)")
	files := flag.Int("files", 10000, "files in all")
	threads := flag.Int("threads", 1, "threads")
	floor := flag.Bool("floor", false, "measure the FUSE round trip of a no-op file system instead")
	n := flag.Int("n", 100000, "getattr calls of -floor")
	flag.Parse()
	var err error
	if *floor {
		err = measureFloor(*n)
	} else {
		err = run(*dir, *files, *threads)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mdbench:", err)
		os.Exit(1)
	}
}

func run(dir string, files, threads int) error {
	if dir == "" {
		return fmt.Errorf("-dir is needed")
	}
	per := files / threads
	name := func(t, i int) string { return filepath.Join(dir, fmt.Sprint(t), fmt.Sprintf("f%06d", i)) }
	renamed := func(t, i int) string { return filepath.Join(dir, fmt.Sprint(t), fmt.Sprintf("r%06d", i)) }
	for t := 0; t < threads; t++ {
		if err := os.MkdirAll(filepath.Join(dir, fmt.Sprint(t)), 0o755); err != nil {
			return err
		}
	}
	defer os.RemoveAll(dir)
	phases := []struct {
		name string
		op   func(t, i int) error
	}{
		{"create", func(t, i int) error {
			fd, err := syscall.Open(name(t, i), syscall.O_CREAT|syscall.O_EXCL|syscall.O_WRONLY, 0o644)
			if err == nil {
				err = syscall.Close(fd)
			}
			return err
		}},
		{"stat", func(t, i int) error {
			var st syscall.Stat_t
			return syscall.Stat(name(t, i), &st)
		}},
		{"readdir", nil},
		{"rename", func(t, i int) error { return syscall.Rename(name(t, i), renamed(t, i)) }},
		{"unlink", func(t, i int) error { return syscall.Unlink(renamed(t, i)) }},
	}
	for _, p := range phases {
		dropCaches()
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, threads)
		for t := 0; t < threads; t++ {
			wg.Add(1)
			go func(t int) {
				defer wg.Done()
				if p.op == nil { // list the directory, with the attributes (ls -l)
					entries, err := os.ReadDir(filepath.Join(dir, fmt.Sprint(t)))
					for _, e := range entries {
						if err == nil {
							_, err = e.Info()
						}
					}
					if err == nil && len(entries) != per {
						err = fmt.Errorf("listed %d entries, want %d", len(entries), per)
					}
					errs <- err
					return
				}
				for i := 0; i < per; i++ {
					if err := p.op(t, i); err != nil {
						errs <- fmt.Errorf("%s: %w", p.name, err)
						return
					}
				}
				errs <- nil
			}(t)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		secs := time.Since(start).Seconds()
		fmt.Printf("%-8s %8d files %2d threads %10.0f ops/s\n", p.name, per*threads, threads, float64(per*threads)/secs)
	}
	return nil
}

// dropCaches makes every phase reach the file system (root only).
func dropCaches() { _ = os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0) }

// noop is a file system whose root answers getattr with no work at all.
type noop struct{ fuse.RawFileSystem }

func (noop) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	out.Mode = syscall.S_IFDIR | 0o755
	out.Ino = 1
	return fuse.OK
}

// measureFloor mounts the no-op file system and times n stat calls of its
// root (the attribute is never cached: each is a round trip).
func measureFloor(n int) error {
	mnt, err := os.MkdirTemp("", "mdbench-floor-")
	if err != nil {
		return err
	}
	defer os.Remove(mnt)
	srv, err := fuse.NewServer(noop{fuse.NewDefaultRawFileSystem()}, mnt, &fuse.MountOptions{Name: "noop", DirectMount: true})
	if err != nil {
		return err
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		return err
	}
	defer srv.Unmount()
	var st syscall.Stat_t
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := syscall.Stat(mnt, &st); err != nil {
			return err
		}
	}
	d := time.Since(start)
	fmt.Printf("floor    %8d getattr, 1 thread %10.0f ops/s (%.1f µs each)\n", n, float64(n)/d.Seconds(), float64(d.Microseconds())/float64(n))
	return nil
}
