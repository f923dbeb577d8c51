package mounttest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rueidisfs/rueidisfs/internal/mounttest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestCrash kills a mount with SIGKILL in the middle of a write-heavy
// workload. Every file written, fsync'ed and closed before the kill must
// read back intact through a new mount started at once on the same mount
// point; the dead client's session, its lock and the file it kept open
// after unlinking it are cleaned by the new client within JuiceFS's
// timing (the session expires after five heartbeats); fsck finds nothing.
func TestCrash(t *testing.T) {
	mounttest.NeedRoot(t)
	v := mounttest.NewVolume(t, mounttest.VolumeOptions{BlockSize: 256})
	p := v.StartMount(t, "", "--heartbeat", "1")
	dir := p.Dir
	must(t, os.Mkdir(filepath.Join(dir, "w"), 0o755))

	// A lock and an open-but-unlinked file held through the doomed mount.
	locked, err := os.Create(filepath.Join(dir, "locked"))
	must(t, err)
	must(t, unix.Flock(int(locked.Fd()), unix.LOCK_EX|unix.LOCK_NB))
	ghost, err := os.Create(filepath.Join(dir, "ghost"))
	must(t, err)
	_, err = ghost.Write(bytes.Repeat([]byte("g"), 1<<20))
	must(t, err)
	var st syscall.Stat_t
	must(t, syscall.Fstat(int(ghost.Fd()), &st))
	ghostIno := meta.Ino(st.Ino)
	must(t, os.Remove(filepath.Join(dir, "ghost")))
	oldSid := sessionOf(t, v, dir)

	var mu sync.Mutex
	durable := map[string][32]byte{} // fsync'ed and closed before the kill
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := filepath.Join(dir, "w", fmt.Sprintf("%d-%d", w, i))
				data := make([]byte, 1+r.IntN(3<<20))
				for j := range data {
					data[j] = byte(r.Uint32())
				}
				if writeDurably(name, data, i%3 != 0) != nil {
					return // the mount is gone
				}
				if i%3 != 0 {
					mu.Lock()
					durable[name] = sha256.Sum256(data)
					mu.Unlock()
				}
			}
		}(w)
	}
	time.Sleep(3 * time.Second)
	p.Kill()
	close(stop)
	wg.Wait()
	locked.Close()
	ghost.Close()
	mu.Lock()
	t.Logf("killed the mount after %d durable files", len(durable))
	mu.Unlock()

	start := time.Now()
	p2 := v.StartMount(t, dir, "--heartbeat", "1")
	t.Logf("remounted in %v", time.Since(start))
	for name, sum := range durable {
		got, err := os.ReadFile(name)
		if err != nil || sha256.Sum256(got) != sum {
			t.Fatalf("%s was fsync'ed and closed before the crash, but reads differently now (%v)", name, err)
		}
	}

	// The new client cleans the dead session once it expired.
	e := v.Engine(t, meta.Options{NoBackgroundJobs: true})
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := e.Inspect().Session(context.Background(), oldSid, false); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the session %d of the killed mount is still registered after a minute", oldSid)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("stale session cleaned %v after the remount", time.Since(start))
	f, err := os.Open(filepath.Join(p2.Dir, "locked"))
	must(t, err)
	defer f.Close()
	must(t, unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB))
	if _, err := e.GetAttr(context.Background(), ghostIno); err == nil {
		t.Fatalf("the unlinked file the killed mount kept open (inode %d) still exists", ghostIno)
	}
	mounttest.Run(t, "fsck", v.URL)
}

// writeDurably writes a file and, with sync, fsyncs it before closing it.
func writeDurably(name string, data []byte, sync bool) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// sessionOf returns the session id of the mount on dir, from its .config.
func sessionOf(t *testing.T, v *mounttest.Volume, dir string) uint64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ".config"))
	must(t, err)
	i := strings.Index(string(b), `"Sid": `)
	if i < 0 {
		t.Fatalf(".config has no session id: %s", b)
	}
	rest := string(b[i+len(`"Sid": `):])
	sid, err := strconv.ParseUint(strings.TrimRight(strings.SplitN(rest, "\n", 2)[0], ","), 10, 64)
	must(t, err)
	return sid
}
