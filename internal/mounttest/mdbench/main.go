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
	"strconv"
	"strings"
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
	mount := flag.String("mount", "", "mount point whose .stats gives the CPU time of the mount process (juicefs_cpu_usage)")
	redisPID := flag.Int("redis-pid", 0, "process id of the Redis server, for its CPU time")
	flag.Parse()
	var err error
	if *floor {
		err = measureFloor(*n)
	} else {
		err = run(*dir, *files, *threads, cpuMeters{mount: *mount, redisPID: *redisPID})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mdbench:", err)
		os.Exit(1)
	}
}

func run(dir string, files, threads int, cpu cpuMeters) error {
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
		cpuBefore := cpu.read()
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
		ops := per * threads
		fmt.Printf("%-8s %8d files %2d threads %10.0f ops/s%s\n", p.name, ops, threads, float64(ops)/secs, cpu.perOp(cpuBefore, ops))
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

// cpuMeters reads the CPU time of the processes serving the operations:
// on a shared machine, throughput follows the load of the other
// processes, the CPU time an operation costs much less.
type cpuMeters struct {
	mount    string // mount point with a .stats file
	redisPID int
}

type cpuReading struct{ mount, redis, self float64 } // seconds; negative: unknown

func (m cpuMeters) read() cpuReading {
	r := cpuReading{mount: -1, redis: -1, self: processCPU(os.Getpid())}
	if m.mount != "" {
		if b, err := os.ReadFile(filepath.Join(m.mount, ".stats")); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) == 2 && f[0] == "juicefs_cpu_usage" {
					r.mount, _ = strconv.ParseFloat(f[1], 64)
				}
			}
		}
	}
	if m.redisPID > 0 {
		r.redis = processCPU(m.redisPID)
	}
	return r
}

// perOp formats the CPU microseconds per operation spent since before.
func (m cpuMeters) perOp(before cpuReading, ops int) string {
	after := m.read()
	var out string
	if before.mount >= 0 && after.mount >= 0 {
		out += fmt.Sprintf(" %7.1f µs mount CPU/op", (after.mount-before.mount)*1e6/float64(ops))
	}
	if before.redis >= 0 && after.redis >= 0 {
		out += fmt.Sprintf(" %7.1f µs Redis CPU/op", (after.redis-before.redis)*1e6/float64(ops))
	}
	if out != "" && before.self >= 0 && after.self >= 0 {
		// The system calls of the benchmark itself: the kernel's side of
		// FUSE, the same for every file system measured.
		out += fmt.Sprintf(" %7.1f µs mdbench CPU/op", (after.self-before.self)*1e6/float64(ops))
	}
	return out
}

// processCPU returns the user and system CPU seconds of process pid, -1
// when it cannot be read.
func processCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The fields after the command name (which may hold spaces): utime and
	// stime are the 12th and 13th of them, in clock ticks (100 per second
	// on Linux).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return -1
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	t, _ := strconv.ParseFloat(f[12], 64)
	return (u + t) / 100
}
