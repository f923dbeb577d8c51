package vfs

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/meta"
)

// The access log: while .accesslog is open, every kernel request becomes a
// line, in JuiceFS's format so that `juicefs profile` reads ours too:
//
//	2026.01.02 15:04:05.000123 [uid:0,gid:0,pid:42] lookup (1,foo): OK <0.000101>
//
// Each reader has its own buffer of lines; a reader that falls behind
// loses lines rather than slowing the file system down.

// logBuffer is how many lines a reader may fall behind.
const logBuffer = 10240

// slowOperation: requests taking longer are logged as warnings.
const slowOperation = 10 * time.Second

type accessLog struct {
	mu      sync.Mutex
	readers map[*logReader]struct{}
	active  atomic.Int32
}

type logReader struct {
	owner *accessLog
	lines chan []byte
	rest  []byte // what did not fit in the previous read
}

func (a *accessLog) open() *logReader {
	r := &logReader{owner: a, lines: make(chan []byte, logBuffer)}
	a.mu.Lock()
	if a.readers == nil {
		a.readers = map[*logReader]struct{}{}
	}
	a.readers[r] = struct{}{}
	a.active.Store(int32(len(a.readers)))
	a.mu.Unlock()
	return r
}

func (r *logReader) close() {
	a := r.owner
	a.mu.Lock()
	delete(a.readers, r)
	a.active.Store(int32(len(a.readers)))
	a.mu.Unlock()
}

func (a *accessLog) publish(line []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for r := range a.readers {
		select {
		case r.lines <- line:
		default:
		}
	}
}

// read fills buf with whole lines; with nothing to say for a second it
// returns "#\n" so that readers can tell the mount is alive.
func (r *logReader) read(ctx context.Context, buf []byte) int {
	n := 0
	if len(r.rest) > 0 {
		n = copy(buf, r.rest)
		r.rest = r.rest[n:]
		return n
	}
	timer := time.NewTimer(time.Second)
	defer timer.Stop()
	select {
	case line := <-r.lines:
		n = copy(buf, line)
		r.rest = line[n:]
	case <-timer.C:
		return copy(buf, "#\n")
	case <-ctx.Done():
		return 0
	}
	for n < len(buf) {
		select {
		case line := <-r.lines:
			c := copy(buf[n:], line)
			n += c
			if c < len(line) {
				r.rest = line[c:]
				return n
			}
		default:
			return n
		}
	}
	return n
}

// Observe records one kernel request of kind op that ended with st after
// starting at start: in the metrics, and as an access-log line (details
// formats its arguments and result, and is called only when a line is
// written).
func (v *VFS) Observe(ctx context.Context, op string, st syscall.Errno, start time.Time, details func() string) {
	used := time.Since(start)
	v.metrics.observe(op, st, used)
	if v.alog.active.Load() == 0 && used < slowOperation {
		return
	}
	c := meta.CallerOf(ctx)
	result := "OK"
	if st != 0 {
		result = st.Error()
	}
	cmd := fmt.Sprintf("%s %s - %s <%.6f>", op, details(), result, used.Seconds())
	if used >= slowOperation && c.Pid != 0 {
		v.log.Warn("slow operation: " + cmd)
	}
	if v.alog.active.Load() == 0 {
		return
	}
	line := fmt.Sprintf("%s [uid:%d,gid:%d,pid:%d] %s\n", time.Now().Format("2006.01.02 15:04:05.000000"),
		c.Uid, c.Gid(), c.Pid, cmd)
	v.alog.publish([]byte(line))
}
