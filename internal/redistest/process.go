package redistest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	logName    = "redis.log"
	stdoutName = "redis.stdout"

	// startTimeout bounds how long a redis-server may take to answer PING.
	startTimeout = 15 * time.Second
	// stopTimeout bounds a graceful stop before SIGKILL is sent.
	stopTimeout = 15 * time.Second
)

// errPortInUse reports that redis-server could not bind its port (or its
// cluster bus port); the caller may retry with another port.
var errPortInUse = errors.New("address already in use")

// missingBinary is the failure message when redis-server is not installed.
const missingBinary = "redis-server not found in PATH; install it with: apt-get install -y redis-server"

// spawner starts every redis-server from one goroutine locked to its OS
// thread. The children are started with Pdeathsig=SIGKILL so that they die
// with the test binary even when no cleanup runs (for example after a test
// timeout panic); Pdeathsig fires when the *thread* that forked the child
// exits, and a locked goroutine that never returns keeps its thread alive for
// the life of the process. This is process-wide state by nature; it is
// created once and only used through spawn.
var spawner struct {
	once sync.Once
	reqs chan spawnRequest
}

type spawnRequest struct {
	cmd  *exec.Cmd
	errc chan error
}

// spawn starts cmd from the spawner thread.
func spawn(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread must outlive every child
			for r := range spawner.reqs {
				r.errc <- r.cmd.Start()
			}
		}()
	})
	errc := make(chan error, 1)
	spawner.reqs <- spawnRequest{cmd: cmd, errc: errc}
	return <-errc
}

// process is one running redis-server.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and been reaped
	err  error         // result of Wait, valid after done
}

// startProcess runs redis-server with args; its stdout and stderr go to the
// file stdoutPath (appended, so that restarts keep the history).
func startProcess(args []string, dir, stdoutPath string) (*process, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New(missingBinary)
	}
	out, err := os.OpenFile(stdoutPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer out.Close() // the child has its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := spawn(cmd); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) signal(sig syscall.Signal) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(sig) // may race with the exit; harmless
	}
}

// wait waits until the process has exited or d has passed.
func (p *process) wait(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-p.done:
		return true
	case <-timer.C:
		return false
	}
}

// kill sends SIGKILL and reaps the process.
func (p *process) kill() {
	p.signal(syscall.SIGKILL)
	p.wait(stopTimeout)
}

// tail returns the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	return tailFrom(path, 0, n)
}

// tailFrom is tail of the part of the file after offset from.
func tailFrom(path string, from int64, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	if from > 0 && from <= int64(len(data)) {
		data = data[from:]
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// fileSize returns the size of a file, 0 if it does not exist.
func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// freePort returns a loopback TCP port that is free right now. With bus set
// it also checks port+10000 (the Redis Cluster bus port) and chooses the port
// below the kernel's ephemeral range, so that neither port can be taken by an
// outgoing connection later on.
func freePort(bus bool) (int, error) {
	if !bus {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	lo, hi := 10000, ephemeralLow()-10000
	if hi-lo < 1000 {
		lo, hi = 10000, 55535
	}
	for range 200 {
		p := lo + rand.IntN(hi-lo)
		if canListen(p) && canListen(p+10000) {
			return p, nil
		}
	}
	return 0, errors.New("no free port pair (port, port+10000) found on 127.0.0.1")
}

func canListen(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(data))
	if len(f) < 1 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}

// probe connects to addr, authenticates when password is set, and sends
// PING. It returns nil once the server answers PONG (or NOAUTH, which also
// proves it serves commands).
func probe(ctx context.Context, addr string, tlsConf *tls.Config, username, password string) error {
	d := net.Dialer{Timeout: 500 * time.Millisecond}
	var conn net.Conn
	var err error
	if tlsConf != nil {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: tlsConf}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline := time.Now().Add(2 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
	var req bytes.Buffer
	switch {
	case username != "":
		req.WriteString(respCommand("AUTH", username, password))
	case password != "":
		req.WriteString(respCommand("AUTH", password))
	}
	req.WriteString(respCommand("PING"))
	if _, err := conn.Write(req.Bytes()); err != nil {
		return err
	}
	r := bufio.NewReader(conn)
	if password != "" {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, "+OK") {
			return fmt.Errorf("AUTH: %s", strings.TrimSpace(line))
		}
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH") {
		return nil
	}
	return fmt.Errorf("PING: %s", strings.TrimSpace(line))
}

func respCommand(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}
