package redistest

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sharedDatabases is the number of databases of the shared server. Database
// 0 is never handed out, so that code which forgets to select its database
// writes somewhere no test looks.
const sharedDatabases = 256

// sharedPrefix starts the name of the shared server's directory; the process
// id follows, so that directories left behind by killed test binaries can be
// recognised and removed.
const sharedPrefix = "redistest-shared-"

// newDBWait bounds how long NewDB waits for a free database.
const newDBWait = 2 * time.Minute

// shared is the server behind NewDB. It is started on first use and lives as
// long as the test binary (Main stops it; otherwise the kernel kills it with
// the binary, see spawner). It is global because its whole point is to be
// shared by every test of the process; mu guards every field.
var shared struct {
	mu   sync.Mutex
	srv  *Server
	err  error    // the start failure, reported to every caller
	free chan int // databases nobody uses
}

// NewDB returns the shared server and a database index that no other test
// of this process uses until t ends. The database is empty; it is flushed
// again when t ends and then handed out anew. Tests using NewDB may run in
// parallel. The shared server must not be stopped, paused or flushed as a
// whole; use Start for such tests.
func NewDB(t testing.TB) (*Server, int) {
	t.Helper()
	srv, free, err := sharedServer()
	if err != nil {
		t.Fatalf("redistest: shared server: %v", err)
	}
	var db int
	select {
	case db = <-free:
	case <-time.After(newDBWait):
		t.Fatalf("redistest: no free database on the shared server after %v (%d in use)", newDBWait, sharedDatabases-1)
	}
	if err := srv.Do(t, db, "FLUSHDB").Error(); err != nil {
		free <- db
		t.Fatalf("redistest: FLUSHDB %d on the shared server: %v", db, err)
	}
	t.Cleanup(func() {
		if err := srv.Do(t, db, "FLUSHDB").Error(); err != nil {
			// Keep the dirty database out of circulation.
			t.Errorf("redistest: FLUSHDB %d on the shared server at cleanup: %v", db, err)
			return
		}
		free <- db
	})
	return srv, db
}

func sharedServer() (*Server, chan int, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil || shared.err != nil {
		return shared.srv, shared.free, shared.err
	}
	removeStaleShared()
	dir, err := os.MkdirTemp("", sharedPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		shared.err = err
		return nil, nil, err
	}
	cfg := serverConfig{databases: sharedDatabases}
	srv, err := launch(cfg, dir, dir)
	if err != nil {
		os.RemoveAll(dir)
		shared.err = err
		return nil, nil, err
	}
	srv.shared = true
	shared.srv = srv
	shared.free = make(chan int, sharedDatabases)
	for db := 1; db < sharedDatabases; db++ {
		shared.free <- db
	}
	return shared.srv, shared.free, nil
}

// removeStaleShared deletes the directories of shared servers whose test
// binary no longer exists (it was killed before Main could clean up).
func removeStaleShared() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), sharedPrefix+"*"))
	for _, d := range dirs {
		rest := strings.TrimPrefix(filepath.Base(d), sharedPrefix)
		pidText, _, ok := strings.Cut(rest, "-")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
}

// stopShared kills the shared server, if it was started, and removes its
// directory.
func stopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil {
		return
	}
	shared.srv.shutdown()
	os.RemoveAll(shared.srv.Dir)
	shared.srv, shared.err = nil, errors.New("the shared server has been stopped by Main")
}

// Main runs the tests of a package and then stops the shared NewDB server
// and removes its directory. Call it from TestMain:
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
//
// It is optional: without it the server dies with the test binary, and its
// directory is removed by the next test binary that uses NewDB. The after
// functions run once the tests are done (e.g. s3test.StopShared).
func Main(m *testing.M, after ...func()) {
	code := m.Run()
	stopShared()
	for _, f := range after {
		f()
	}
	os.Exit(code)
}
