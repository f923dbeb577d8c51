// Package s3test runs a real S3-compatible server for tests: versitygw
// (pinned to Version) serving a temporary directory on a loopback port.
// `make s3-server` installs it where Binary looks; a test that needs it
// fails when it is missing or of another version.
package s3test

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Version is the versitygw release the tests run.
const Version = "v1.8.0"

// Keys of the server's root account.
const (
	AccessKey = "rueidisfs-test"
	SecretKey = "rueidisfs-test-secret"
)

// Binary is the versitygw executable: $VERSITYGW, or where `make
// s3-server` installs it, bin/tools/versitygw-<Version>/versitygw in the
// repository.
func Binary() string {
	if p := os.Getenv("VERSITYGW"); p != "" {
		return p
	}
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "bin", "tools", "versitygw-"+Version, "versitygw")
		}
		if filepath.Dir(d) == d {
			return filepath.Join(dir, "versitygw")
		}
	}
}

// Server is one running versitygw.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT
	Port     int
	Dir      string // the directory it serves; buckets are its subdirectories
	cmd      *exec.Cmd
	stderr   bytes.Buffer
	buckets  atomic.Int64
}

// Start starts a server on a free loopback port, serving dir.
func Start(dir string) (*Server, error) {
	bin := Binary()
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("the S3 test server versitygw %s is not installed at %s (run `make s3-server`, or set VERSITYGW): %w", Version, bin, err)
	}
	if info.Main.Version != Version {
		return nil, fmt.Errorf("%s is versitygw %s; the tests need %s (run `make s3-server`)", bin, info.Main.Version, Version)
	}
	for range 3 { // the free port may be taken before the server binds it
		var s *Server
		if s, err = start(bin, dir); err == nil {
			return s, nil
		}
	}
	return nil, err
}

func start(bin, dir string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Port: port, Dir: dir, Endpoint: "http://127.0.0.1:" + strconv.Itoa(port)}
	s.cmd = exec.Command(bin, "--access", AccessKey, "--secret", SecretKey,
		"--port", "127.0.0.1:"+strconv.Itoa(port), "--quiet", "posix", dir)
	s.cmd.Stdout, s.cmd.Stderr = &s.stderr, &s.stderr
	// The server dies with the test binary, even when it crashes.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID=", "ROOT_SECRET_ACCESS_KEY=")
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			conn.Close()
			return s, nil
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("versitygw exited (%v): %s", err, strings.TrimSpace(s.stderr.String()))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("versitygw did not listen on port %d within 20 s: %s", port, s.stderr.String())
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop kills the server.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
}

// BucketName returns a bucket name not used yet on this server (the
// bucket itself is not created).
func (s *Server) BucketName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, s.buckets.Add(1))
}

// MakeBucket creates a bucket by creating its directory, as the posix
// backend allows, and returns its name.
func (s *Server) MakeBucket(t testing.TB) string {
	t.Helper()
	name := s.BucketName("b")
	if err := os.Mkdir(filepath.Join(s.Dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
	return name
}

var (
	shared    *Server
	sharedErr error
	sharedMu  sync.Mutex
	sharedDir string
)

// Shared returns the server of this test binary, started on first use; a
// server that cannot start fails the test.
func Shared(t testing.TB) *Server {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil && sharedErr == nil {
		sharedDir, sharedErr = os.MkdirTemp("", "rueidisfs-s3test-")
		if sharedErr == nil {
			shared, sharedErr = Start(sharedDir)
		}
	}
	if sharedErr != nil {
		t.Fatalf("S3 test server: %v", sharedErr)
	}
	return shared
}

// CleanEnv gives the tests a clean AWS environment: no instance metadata
// (never reached from a test), no shared configuration or keys of the
// user. Call it from TestMain, before the tests run.
func CleanEnv() {
	for k, v := range map[string]string{
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
	} {
		os.Setenv(k, v)
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "MINIO_REGION", "JFS_S3_VHOST_STYLE"} {
		os.Unsetenv(k)
	}
}

// StopShared stops the shared server, if one was started, and removes its
// directory.
func StopShared() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared != nil {
		shared.Stop()
	}
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	shared, sharedErr = nil, errors.New("the shared S3 server has been stopped")
}

// Main runs the tests of a package with CleanEnv, then StopShared.
func Main(m *testing.M) {
	CleanEnv()
	code := m.Run()
	StopShared()
	os.Exit(code)
}

// Context is a context for a test's requests, ended with the test.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
