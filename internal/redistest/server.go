package redistest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// cmdTimeout bounds every command this package sends on its own.
const cmdTimeout = 10 * time.Second

// Server is one redis-server (or redis-sentinel) process listening on
// 127.0.0.1. Its methods are safe for concurrent use.
type Server struct {
	// Addr is "127.0.0.1:port", the TCP (or TLS) address.
	Addr string
	// Dir is the server's working directory: configuration, log, AOF,
	// nodes.conf, certificates.
	Dir string
	// Socket is the unix socket path, empty without WithUnixSocket.
	Socket string
	// Password is the default user's password, empty without WithPassword
	// (for a sentinel started with WithSentinelUser, Username's).
	Password string
	// Username is the ACL user this package authenticates as, empty for the
	// default user (set for sentinels started with WithSentinelUser).
	Username string

	port     int
	tls      *tlsFiles
	confPath string
	args     []string // redis-server arguments after the config file
	shared   bool     // the NewDB server: must not be stopped by a test

	mu      sync.Mutex
	proc    *process
	paused  bool
	clients map[int]rueidis.Client // Do's clients, one per database
	closed  bool                   // shut down for good: no new clients
}

// Start starts a redis-server configured by opts in a new temporary
// directory and waits until it answers PING. The server is killed when the
// test (or benchmark) ends, whatever its outcome.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := newConfig(opts)
	return startTB(t, cfg)
}

// startTB starts a server for t: directory from t.TempDir, kill at cleanup.
func startTB(t testing.TB, cfg serverConfig) *Server {
	t.Helper()
	dir := t.TempDir() // created before the kill cleanup so it is removed after it
	s, err := launch(cfg, dir, socketDir(t, dir))
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(s.shutdown)
	return s
}

// socketDir returns a directory for a unix socket: dir itself unless its
// path is too long for sun_path (108 bytes), then a short temporary one.
func socketDir(t testing.TB, dir string) string {
	if len(filepath.Join(dir, "redis.sock")) < 100 {
		return dir
	}
	short, err := os.MkdirTemp("", "rt")
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(short) })
	return short
}

// launch prepares and boots a server in dir, retrying with another port when
// the chosen one turns out to be taken.
func launch(cfg serverConfig, dir, sockDir string) (*Server, error) {
	s := &Server{Dir: dir, Password: cfg.password, Username: cfg.username, confPath: filepath.Join(dir, "redis.conf")}
	if cfg.sentinel != nil {
		s.confPath = filepath.Join(dir, "sentinel.conf")
		s.args = []string{"--sentinel"}
	}
	if cfg.unixSocket {
		s.Socket = filepath.Join(sockDir, "redis.sock")
	}
	if cfg.tls {
		s.tls = cfg.tlsFiles
		if s.tls == nil {
			var err error
			if s.tls, err = generateTLS(dir); err != nil {
				return nil, err
			}
		}
	}
	var lastErr error
	for range 8 {
		port, err := freePort(cfg.busPort)
		if err != nil {
			return nil, err
		}
		s.setPort(port)
		if err := os.WriteFile(s.confPath, []byte(cfg.render(dir, port, s.Socket, s.tls)), 0o600); err != nil {
			return nil, err
		}
		lastErr = s.boot()
		if lastErr == nil {
			return s, nil
		}
		if !errors.Is(lastErr, errPortInUse) {
			return nil, lastErr
		}
	}
	return nil, lastErr
}

func (s *Server) setPort(port int) {
	s.port = port
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// boot starts the process with the current configuration file and waits
// until it answers PING.
func (s *Server) boot() error {
	logPath := filepath.Join(s.Dir, logName)
	stdoutPath := filepath.Join(s.Dir, stdoutName)
	// Only this run's output explains this run's failure.
	logFrom, stdoutFrom := fileSize(logPath), fileSize(stdoutPath)
	p, err := startProcess(append([]string{s.confPath}, s.args...), s.Dir, stdoutPath)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.proc, s.paused = p, false
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var tlsConf *tls.Config
	if s.tls != nil {
		tlsConf = s.tls.config()
	}
	for {
		perr := probe(ctx, s.Addr, tlsConf, s.Username, s.Password)
		if perr == nil {
			return nil
		}
		if p.exited() {
			logs := tailFrom(logPath, logFrom, 25) + "\n" + tailFrom(stdoutPath, stdoutFrom, 10)
			if strings.Contains(logs, "Address already in use") {
				return fmt.Errorf("port %d: %w", s.port, errPortInUse)
			}
			return fmt.Errorf("redis-server (%s, dir %s) exited during startup (%v); last log lines:\n%s", s.Addr, s.Dir, p.err, logs)
		}
		select {
		case <-ctx.Done():
			p.kill()
			return fmt.Errorf("redis-server (%s, dir %s) did not answer PING within %v (last error: %v); last log lines:\n%s",
				s.Addr, s.Dir, startTimeout, perr, tailFrom(logPath, logFrom, 25))
		case <-time.After(3 * time.Millisecond):
		}
	}
}

// shutdown is the cleanup: close clients, SIGKILL, reap.
func (s *Server) shutdown() {
	s.mu.Lock()
	s.closed = true
	p := s.proc
	s.mu.Unlock()
	s.dropClients()
	if p != nil {
		p.kill()
	}
}

// dropClients closes Do's cached clients; their connections die with the
// process, and fresh ones avoid a spurious EOF on the first command after a
// restart.
func (s *Server) dropClients() {
	s.mu.Lock()
	clients := s.clients
	s.clients = nil
	s.mu.Unlock()
	for _, c := range clients {
		c.Close()
	}
}

// Port returns the TCP (or TLS) port.
func (s *Server) Port() int { return s.port }

// TLS reports whether the server listens with TLS.
func (s *Server) TLS() bool { return s.tls != nil }

// TLSFiles returns the CA certificate and the client certificate and key
// (PEM files) to connect to a TLS server; all empty without TLS.
func (s *Server) TLSFiles() (ca, cert, key string) {
	if s.tls == nil {
		return "", "", ""
	}
	return s.tls.CA, s.tls.ClientCert, s.tls.ClientKey
}

// TLSConfig returns a client configuration that trusts the server's CA and
// presents the client certificate; nil without TLS.
func (s *Server) TLSConfig() *tls.Config {
	if s.tls == nil {
		return nil
	}
	return s.tls.config()
}

// LogPath returns the path of the server's log file.
func (s *Server) LogPath() string { return filepath.Join(s.Dir, logName) }

// URL returns a meta URL for database db. scheme "unix" gives
// "unix:///path/redis.sock?db=N" (needs WithUnixSocket); any other scheme
// gives "scheme://127.0.0.1:PORT/N". The default user's password, if any, is
// in the user-info part (":pw@"). With TLS the query carries
// tls-ca-cert-file, tls-cert-file and tls-key-file.
func (s *Server) URL(scheme string, db int) string {
	return s.URLAs(scheme, "", s.Password, db)
}

// URLAs is URL with an explicit user name and password (for ACL users).
func (s *Server) URLAs(scheme, user, pass string, db int) string {
	if scheme == "unix" {
		u := url.URL{Scheme: "unix", User: userInfo(user, pass), Path: s.Socket, RawQuery: "db=" + strconv.Itoa(db)}
		return u.String()
	}
	return buildURL(scheme, user, pass, s.Addr, db, s.tls)
}

func userInfo(user, pass string) *url.Userinfo {
	switch {
	case user == "" && pass == "":
		return nil
	case pass == "":
		return url.User(user)
	default:
		return url.UserPassword(user, pass)
	}
}

// buildURL renders scheme://[user:pass@]hosts/db[?tls files].
func buildURL(scheme, user, pass, hosts string, db int, tf *tlsFiles) string {
	u := url.URL{Scheme: scheme, User: userInfo(user, pass), Host: hosts, Path: "/" + strconv.Itoa(db)}
	if tf != nil {
		q := url.Values{}
		q.Set("tls-ca-cert-file", tf.CA)
		q.Set("tls-cert-file", tf.ClientCert)
		q.Set("tls-key-file", tf.ClientKey)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// ClientOption returns the rueidis options of a raw client for database db:
// this one server only (no cluster or sentinel discovery), RESP3, client-side
// caching disabled, the default user's password and the TLS configuration.
func (s *Server) ClientOption(db int) rueidis.ClientOption {
	return rueidis.ClientOption{
		InitAddress:       []string{s.Addr},
		SelectDB:          db,
		Username:          s.Username,
		Password:          s.Password,
		TLSConfig:         s.TLSConfig(),
		DisableCache:      true,
		ForceSingleClient: true,
		Dialer:            net.Dialer{Timeout: 5 * time.Second},
		ConnWriteTimeout:  cmdTimeout,
	}
}

// Client returns a new raw client for database db (see ClientOption); it is
// closed when the test ends.
func (s *Server) Client(t testing.TB, db int) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(s.ClientOption(db))
	if err != nil {
		t.Fatalf("redistest: connect to %s db %d: %v", s.Addr, db, err)
	}
	t.Cleanup(c.Close)
	return c
}

// Do sends one command (args[0] is the command name) to database db and
// returns its result, within a 10 s deadline. Its connection is cached by the
// server and renewed after Restart; a command whose connection turns out to
// be broken is sent once more. Do calls t.Fatal only when no connection can
// be made at all; command errors are in the result.
func (s *Server) Do(t testing.TB, db int, args ...string) rueidis.RedisResult {
	t.Helper()
	if len(args) == 0 {
		t.Fatal("redistest: Do without a command")
	}
	c, err := s.cachedClient(db)
	if err != nil {
		t.Fatalf("redistest: connect to %s db %d: %v", s.Addr, db, err)
	}
	return doArgs(c, args...)
}

// doArgs sends args on c within cmdTimeout. A command that fails because its
// connection broke (closed by the server after a restart, a failover or
// CLIENT KILL, which rueidis notices only on use) is sent once more; rueidis
// then dials a new connection.
func doArgs(c rueidis.Client, args ...string) rueidis.RedisResult {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	build := func() rueidis.Completed {
		b := c.B().Arbitrary(args[0]).Args(args[1:]...)
		if blocking(args) {
			return b.Blocking() // on its own connection, not stalling the pipeline
		}
		return b.Build()
	}
	r := c.Do(ctx, build())
	if err := r.NonRedisError(); err != nil && ctx.Err() == nil && !errors.Is(err, rueidis.ErrClosing) {
		r = c.Do(ctx, build())
	}
	return r
}

// blocking reports whether a command may block its connection for a while.
func blocking(args []string) bool {
	switch strings.ToUpper(args[0]) {
	case "BLPOP", "BRPOP", "BLMOVE", "BRPOPLPUSH", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP", "WAIT", "WAITAOF":
		return true
	case "XREAD", "XREADGROUP":
		for _, a := range args[1:] {
			if strings.EqualFold(a, "BLOCK") {
				return true
			}
		}
	case "DEBUG":
		return len(args) > 1 && strings.EqualFold(args[1], "SLEEP")
	}
	return false
}

// call runs a command on db 0 of s without a testing.TB, for the helpers of
// this package; the error is the connection or command error.
func (s *Server) call(args ...string) (rueidis.RedisResult, error) {
	c, err := s.cachedClient(0)
	if err != nil {
		return rueidis.RedisResult{}, err
	}
	r := doArgs(c, args...)
	return r, r.Error()
}

// callString is call for commands answering a string (INFO, CLUSTER NODES).
func (s *Server) callString(args ...string) (string, error) {
	r, err := s.call(args...)
	if err != nil {
		return "", err
	}
	text, err := r.ToString()
	return plainText(text), err
}

// plainText removes the "txt:" format prefix that RESP3 verbatim strings
// (INFO, CLUSTER INFO, CLUSTER NODES) carry in rueidis.
func plainText(s string) string {
	return strings.TrimPrefix(s, "txt:")
}

// cachedClient returns Do's client for db, connecting on first use. The
// connection is made without holding s.mu, so that a server that does not
// answer cannot block Pause or Resume.
func (s *Server) cachedClient(db int) (rueidis.Client, error) {
	s.mu.Lock()
	c, ok := s.clients[db]
	s.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := rueidis.NewClient(s.ClientOption(db))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil, fmt.Errorf("%s has been shut down", s.Addr)
	}
	if old, ok := s.clients[db]; ok {
		c.Close()
		return old, nil
	}
	if s.clients == nil {
		s.clients = make(map[int]rueidis.Client)
	}
	s.clients[db] = c
	return c, nil
}

// WaitReplicas waits until n replicas have received everything the server
// has executed so far, by anyone, and fails the test after 30 s. A bare
// WAIT would not do: it waits for the writes of its own connection, and
// Do's connections write nothing. WaitReplicas writes and deletes a key of
// its own (in a slot the server serves, in a Cluster) and waits for that:
// the replication stream is ordered, so a replica that has it has all that
// came before.
func (s *Server) WaitReplicas(t testing.TB, n int) {
	t.Helper()
	// A write refused with NOREPLICAS (min-replicas-to-write) is retried.
	if err := waitFor(30*time.Second, 50*time.Millisecond, func() error { return s.waitReplicas(n, 30*time.Second) }); err != nil {
		t.Fatalf("redistest: %v", err)
	}
}

func (s *Server) waitReplicas(n int, timeout time.Duration) error {
	key, err := s.syncKey()
	if err != nil {
		return err
	}
	c, err := s.cachedClient(0)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+cmdTimeout)
	defer cancel()
	// One pipeline on one (dedicated, since WAIT blocks) connection, so
	// that WAIT covers the SET and the DEL.
	res := c.DoMulti(ctx,
		c.B().Set().Key(key).Value("1").Build().Pin(),
		c.B().Del().Key(key).Build().Pin(),
		c.B().Wait().Numreplicas(int64(n)).Timeout(timeout.Milliseconds()).Build().Pin())
	for _, r := range res[:2] {
		if err := r.Error(); err != nil {
			return fmt.Errorf("write %s on %s: %w", key, s.Addr, err)
		}
	}
	acked, err := res[2].AsInt64()
	if err != nil || acked < int64(n) {
		return fmt.Errorf("WAIT on %s: %d of %d replicas have its writes (%v)", s.Addr, acked, n, err)
	}
	return nil
}

// syncKey returns the name of WaitReplicas' key: one the server serves.
func (s *Server) syncKey() (string, error) {
	info, err := s.callString("INFO", "cluster")
	if err != nil {
		return "", fmt.Errorf("INFO cluster on %s: %w", s.Addr, err)
	}
	if infoField(info, "cluster_enabled") != "1" {
		return "redistest-sync", nil
	}
	text, err := s.callString("CLUSTER", "NODES")
	if err != nil {
		return "", fmt.Errorf("CLUSTER NODES on %s: %w", s.Addr, err)
	}
	views, err := parseNodes(text)
	if err != nil {
		return "", err
	}
	var me nodeView
	for _, v := range views {
		if v.has("myself") {
			me = v
		}
	}
	for i := 0; i < 1000; i++ {
		key := "redistest-sync-" + strconv.Itoa(i)
		r, err := s.call("CLUSTER", "KEYSLOT", key)
		if err != nil {
			return "", err
		}
		if slot, err := r.AsInt64(); err == nil && me.servesSlot(int(slot)) {
			return key, nil
		}
	}
	return "", fmt.Errorf("%s serves no slot", s.Addr)
}

// Running reports whether the process is alive (it may be paused).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil && !s.proc.exited()
}

func (s *Server) refuseShared(t testing.TB, what string) {
	t.Helper()
	if s.shared {
		t.Fatalf("redistest: %s of the shared NewDB server is not allowed; use Start for a private server", what)
	}
}

// Stop stops the server gracefully (SIGTERM, so an AOF is complete) and
// waits for it to exit; after 15 s it is killed.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.refuseShared(t, "Stop")
	s.mu.Lock()
	p, paused := s.proc, s.paused
	s.paused = false
	s.mu.Unlock()
	s.dropClients()
	if p == nil || p.exited() {
		return
	}
	if paused {
		p.signal(syscall.SIGCONT)
	}
	p.signal(syscall.SIGTERM)
	if !p.wait(stopTimeout) {
		p.kill()
		t.Logf("redistest: %s did not stop within %v after SIGTERM; killed", s.Addr, stopTimeout)
	}
}

// Kill kills the server with SIGKILL and waits for it to exit.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.refuseShared(t, "Kill")
	s.mu.Lock()
	p := s.proc
	s.paused = false
	s.mu.Unlock()
	s.dropClients()
	if p != nil {
		p.kill()
	}
}

// Restart stops the server if it is running (gracefully) and starts it again
// on the same port with the same directory and configuration; data persists
// with WithAOF, and cluster nodes and sentinels keep their state files.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	var err error
	for range 20 { // the port may linger briefly; it is ours to take again
		if err = s.boot(); !errors.Is(err, errPortInUse) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("redistest: restart: %v", err)
	}
}

// Pause suspends the process (SIGSTOP): connections stay open but nothing is
// answered, as with a hung server.
func (s *Server) Pause(t testing.TB) {
	t.Helper()
	s.refuseShared(t, "Pause")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || s.proc.exited() {
		t.Fatalf("redistest: Pause: %s is not running", s.Addr)
	}
	s.proc.signal(syscall.SIGSTOP)
	s.paused = true
}

// Resume continues a paused process (SIGCONT).
func (s *Server) Resume(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.signal(syscall.SIGCONT)
	}
	s.paused = false
}

// FlushAll removes every key of every database.
func (s *Server) FlushAll(t testing.TB) {
	t.Helper()
	s.refuseShared(t, "FlushAll")
	if err := s.Do(t, 0, "FLUSHALL").Error(); err != nil {
		t.Fatalf("redistest: FLUSHALL on %s: %v", s.Addr, err)
	}
}

// Info returns one field of INFO (for example Info(t, "replication",
// "role")), "" when absent.
func (s *Server) Info(t testing.TB, section, field string) string {
	t.Helper()
	out, err := s.Do(t, 0, "INFO", section).ToString()
	if err != nil {
		t.Fatalf("redistest: INFO %s on %s: %v", section, s.Addr, err)
	}
	return infoField(out, field)
}

// infoField extracts "field:value" from INFO (or CLUSTER INFO) output.
func infoField(info, field string) string {
	for _, line := range strings.Split(plainText(info), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// waitFor polls cond every interval until it returns nil or timeout passes;
// then it returns cond's last error.
func waitFor(timeout, interval time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %v: %w", timeout, err)
		}
		time.Sleep(interval)
	}
}
