//go:build faults

package faulttest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestRandomized runs several clients (engines, each with its own
// connections and client-side cache) on a small shared tree: three
// directories of six names, random creates, mkdirs, unlinks, rmdirs,
// renames, links, chmods and lookups, all of them racing on the same names,
// while connections are killed, the script cache is flushed and the server
// is restarted from its append-only file. Then it checks the history
// against the model (see History), that the volume is consistent (fsck
// recount, counters exact), and that every client sees the same tree once
// things are quiet.
//
// The size is RUEIDISFS_RANDOM_OPS operations per client (a few hundred by
// default; make test-random runs many more).
func TestRandomized(t *testing.T) {
	ops := 300
	if n, err := strconv.Atoi(os.Getenv("RUEIDISFS_RANDOM_OPS")); err == nil && n > 0 {
		ops = n
	}
	const clients, perClient = 3, 2 // engines (see below), goroutines per engine
	srv := redistest.Start(t, redistest.WithAOF())
	url := srv.URL("redis", 1)
	e0 := format(t, url)
	engines := []*meta.Engine{e0, open(t, url)}
	// The last client hears of the others' changes 20 ms late, through a
	// proxy: its cache is stale for longer, as on a loaded network.
	slow := redistest.StartProxy(t, srv)
	slow.SetDelay(20 * time.Millisecond)
	engines = append(engines, open(t, slow.URL("redis", 1)))
	ctx := context.Background()
	top, _, err := e0.Mkdir(ctx, meta.RootInode, "t", 0o777, 0)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []meta.Ino
	for i := 0; i < 3; i++ {
		d, _, err := e0.Mkdir(ctx, top, "d"+strconv.Itoa(i), 0o777, 0)
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	e0.Sync(ctx) // the directories' statistics exist before the others change them
	if mnt := os.Getenv("RUEIDISFS_RANDOM_MOUNT"); mnt != "" {
		// By hand: mount the volume there (its URL is written to
		// RUEIDISFS_RANDOM_MOUNT.url) and the test goes on.
		if err := os.WriteFile(mnt+".url", []byte(url+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("waiting for %s to be mounted (volume %s)", mnt, url)
		deadline := time.Now().Add(2 * time.Minute)
		for _, err := os.Stat(mnt + "/t/d2"); err != nil; _, err = os.Stat(mnt + "/t/d2") {
			if time.Now().After(deadline) {
				t.Fatalf("%s was not mounted", mnt)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	h := &History{ReadDelay: time.Second}
	faultsDone, stopFaults := injectFaults(t, srv)
	var wg sync.WaitGroup
	for c, e := range engines {
		for g := 0; g < perClient; g++ {
			wg.Add(1)
			go func(c int, e *meta.Engine, seed uint64) {
				defer wg.Done()
				r := &randomClient{id: c, e: e, h: h, dirs: dirs, rng: rand.New(rand.NewPCG(seed, uint64(c)))}
				for i := 0; ; i++ {
					if i >= ops {
						select {
						case <-faultsDone: // the operations covered every fault
							return
						default:
						}
					}
					r.step()
				}
			}(c, e, uint64(g))
		}
	}
	if mnt := os.Getenv("RUEIDISFS_RANDOM_MOUNT"); mnt != "" {
		// By hand: another client (the official one, mounted there with
		// its kernel caches off) takes part through system calls.
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := &mountClient{id: len(engines), root: mnt, h: h, dirs: dirs, rng: rand.New(rand.NewPCG(99, 99))}
			for i := 0; ; i++ {
				if i >= ops {
					select {
					case <-faultsDone:
						return
					default:
					}
				}
				m.step()
			}
		}()
	}
	wg.Wait()
	faults := stopFaults()
	t.Logf("%d operations by %d clients; faults injected: %s", len(h.ops), clients*perClient, faults)
	logOutcomes(t, h)

	final := observe(t, open(t, url), dirs)
	if bad := h.Check(final, 0o644); len(bad) > 0 {
		t.Errorf("%d contradictions with the model:\n%s", len(bad), strings.Join(first(bad, 20), "\n"))
	}
	// Every client agrees once the invalidations are delivered.
	for i, e := range engines {
		var last error
		deadline := time.Now().Add(10 * time.Second)
		for {
			last = sameTree(observe(t, e, dirs), final)
			if last == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if last != nil {
			t.Errorf("client %d disagrees with a fresh client after quiescence: %v", i, last)
		}
	}
	unknown := 0
	for _, o := range h.ops {
		if o.Unknown {
			unknown++
		}
	}
	opts := fsck.Options{}
	if unknown > 0 {
		// Statistics cannot count what may or may not have been applied
		// (docs/deployments.md); the rest must be exact.
		opts.SkipDirStats = true
	}
	for _, e := range engines {
		e.Sync(ctx)
	}
	rep, err := fsck.Recount(ctx, e0.Client(), e0.Keys(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("volume inconsistent:\n%s", rep)
	}
}

// randomClient is one goroutine of the randomized test.
type randomClient struct {
	id   int
	e    *meta.Engine
	h    *History
	dirs []meta.Ino
	rng  *rand.Rand
}

const randomNames = 6

// key picks a name: n0..n5 of a directory, or with links also l0..l2. New
// hard links go to l names only, and renames move n names only, so that a
// rename never has two names of one inode for source and destination (which
// POSIX makes a no-op the model would have to guess).
func (r *randomClient) key(links bool) Key {
	d := r.dirs[r.rng.IntN(len(r.dirs))]
	if links && r.rng.IntN(3) == 0 {
		return Key{Dir: d, Name: "l" + strconv.Itoa(r.rng.IntN(3))}
	}
	return Key{Dir: d, Name: "n" + strconv.Itoa(r.rng.IntN(randomNames))}
}

// step runs one random operation and records it.
func (r *randomClient) step() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k := r.key(true)
	o := &Op{Client: r.id, Start: time.Now()}
	var err error
	switch p := r.rng.IntN(100); {
	case p < 20:
		o.What, o.Claims = "create "+k.String(), k
		var ino meta.Ino
		ino, _, err = r.e.Mknod(ctx, k.Dir, k.Name, codec.TypeFile, 0o644, 0, 0)
		o.Effects = map[Key]meta.Ino{k: ino}
		if ino == 0 {
			o.Effects[k] = someIno
		}
	case p < 27:
		o.What, o.Claims = "mkdir "+k.String(), k
		var ino meta.Ino
		ino, _, err = r.e.Mkdir(ctx, k.Dir, k.Name, 0o755, 0)
		o.Effects = map[Key]meta.Ino{k: ino}
		if ino == 0 {
			o.Effects[k] = someIno
		}
	case p < 42:
		o.What, o.Needs = "unlink "+k.String(), k
		o.Effects = map[Key]meta.Ino{k: 0}
		err = r.e.Unlink(ctx, k.Dir, k.Name, false)
	case p < 47:
		o.What, o.Needs = "rmdir "+k.String(), k
		o.Effects = map[Key]meta.Ino{k: 0}
		err = r.e.Rmdir(ctx, k.Dir, k.Name, false)
	case p < 65:
		dst := r.key(false)
		if dst == k || k.Name[0] == 'l' {
			return
		}
		o.What, o.Needs = "rename "+k.String()+" -> "+dst.String(), k
		var ino meta.Ino
		ino, _, err = r.e.Rename(ctx, k.Dir, k.Name, dst.Dir, dst.Name, 0)
		if ino == 0 {
			ino = someIno
		}
		o.Effects = map[Key]meta.Ino{k: 0, dst: ino}
	case p < 72:
		dst := Key{Dir: r.dirs[r.rng.IntN(len(r.dirs))], Name: "l" + strconv.Itoa(r.rng.IntN(3))}
		ino, _, lerr := r.e.Lookup(ctx, k.Dir, k.Name)
		if lerr != nil || dst == k {
			return
		}
		o.Start = time.Now()
		o.What, o.Claims = fmt.Sprintf("link %d -> %s", ino, dst), dst
		o.Effects = map[Key]meta.Ino{dst: ino}
		_, err = r.e.Link(ctx, ino, dst.Dir, dst.Name)
	case p < 85:
		ino, _, lerr := r.e.Lookup(ctx, k.Dir, k.Name)
		if lerr != nil {
			return
		}
		mode := uint16(0o600 + r.rng.IntN(0o100))
		o.Start = time.Now()
		o.What, o.ModeOf, o.Mode = fmt.Sprintf("chmod %d %o", ino, mode), ino, mode
		_, err = r.e.SetAttr(ctx, ino, codec.SetAttrMode, &meta.Attr{Mode: mode})
	default:
		o.What, o.Needs = "lookup "+k.String(), k
		ino, _, lerr := r.e.Lookup(ctx, k.Dir, k.Name)
		if lerr != nil && !isENOENT(lerr) {
			return
		}
		o.End = time.Now()
		o.Read = &ino
		r.h.Record(o, nil)
		return
	}
	o.End = time.Now()
	r.h.Record(o, err)
}

// observe reads the whole shared tree through e.
func observe(t *testing.T, e *meta.Engine, dirs []meta.Ino) Final {
	t.Helper()
	f := Final{Names: map[Key]meta.Ino{}, Modes: map[meta.Ino]uint16{}}
	for _, d := range dirs {
		ents, err := e.Readdir(context.Background(), d, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, ent := range ents {
			if ent.Name == "." || ent.Name == ".." {
				continue
			}
			f.Names[Key{d, ent.Name}] = ent.Inode
			f.Modes[ent.Inode] = ent.Attr.Mode & 0o7777
		}
	}
	return f
}

func sameTree(a, b Final) error {
	if len(a.Names) != len(b.Names) {
		return fmt.Errorf("%d names, want %d", len(a.Names), len(b.Names))
	}
	for k, v := range b.Names {
		if a.Names[k] != v {
			return fmt.Errorf("%s is inode %d, want %d", k, a.Names[k], v)
		}
	}
	for ino, m := range b.Modes {
		if a.Modes[ino] != m {
			return fmt.Errorf("inode %d has mode %o, want %o", ino, a.Modes[ino], m)
		}
	}
	return nil
}

// injectFaults kills every client connection again and again, flushes the
// script cache (every 4th fault) and restarts the server from its
// append-only file (every 200th, from the 20th), until stop is called, and
// at least 40 times: minDone closes after the 40th. The first 40 come 20 ms
// apart, the others 250 ms apart (every 20 ms, the client behind the
// slowed proxy would hardly finish an operation). stop returns what it did.
func injectFaults(t *testing.T, srv *redistest.Server) (minDone <-chan struct{}, stop func() string) {
	min, quit, done := make(chan struct{}), make(chan struct{}), make(chan string)
	go func() {
		kills, flushes, restarts := 0, 0, 0
		for i := 0; ; i++ {
			if i == 40 {
				close(min)
			}
			if i >= 40 {
				select {
				case <-quit:
					done <- fmt.Sprintf("%d connection kills, %d script flushes, %d restarts", kills, flushes, restarts)
					return
				default:
				}
			}
			if i < 40 {
				time.Sleep(20 * time.Millisecond)
			} else {
				time.Sleep(250 * time.Millisecond)
			}
			switch {
			case i%200 == 20:
				srv.Kill(t)
				srv.Restart(t)
				restarts++
			case i%4 == 0:
				srv.Do(t, 0, "SCRIPT", "FLUSH")
				flushes++
			default:
				srv.Do(t, 0, "CLIENT", "KILL", "TYPE", "normal")
				kills++
			}
		}
	}()
	return min, func() string { close(quit); return <-done }
}

func logOutcomes(t *testing.T, h *History) {
	var ok, failed, unknown int
	errs := map[string]int{}
	for _, o := range h.ops {
		switch {
		case o.Unknown:
			unknown++
			errs["unknown: "+firstLine(o.Err.Error())]++
		case o.Errno != 0:
			failed++
			errs[o.Errno.Error()]++
		default:
			ok++
		}
	}
	t.Logf("outcomes: %d applied, %d refused (%v), %d unknown", ok, failed, errs, unknown)
}

func isENOENT(err error) bool { return errors.Is(err, syscall.ENOENT) }
