package vfs

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The control file: command-line tools (info, summary, rmr, compact,
// warmup; ours and JuiceFS's) ask a mount for work by writing a request to
// .control and reading the reply from the same descriptor. A request is
// cmd (u32, big-endian) ‖ body length (u32) ‖ body. The request's bytes are
// echoed to the output first, so the reply starts at the offset the
// writer's descriptor has after its write; the reply is a sequence of
// frames: progress (0xFE, two u64 counters, every 300 ms while the command
// runs), data (0xFF, u32 length, JSON) and status (one errno byte, 0 for
// success) for commands that reply no data. Closing the descriptor cancels
// the command.

// Control command ids, as JuiceFS numbers them.
const (
	CtlRmr        = 1002
	CtlLegacyInfo = 1003
	CtlWarmup     = 1004
	CtlInfo       = 1005
	CtlClone      = 1006
	CtlSummary    = 1007
	CtlCompact    = 1008
)

// Frame markers of control replies.
const (
	frameProgress = 0xFE
	frameData     = 0xFF
)

// progressEvery is how often a running command reports progress.
const progressEvery = 300 * time.Millisecond

// ControlHandler runs one control command with the caller's identity in ctx
// and answers through r: Data with a JSON reply, or nothing for a
// status-only reply (the returned errno). It reports progress with
// r.Progress. Unknown commands return EINVAL.
type ControlHandler func(ctx context.Context, cmd uint32, body []byte, r *ControlReply) syscall.Errno

// ControlReply is how a command answers.
type ControlReply struct {
	a, b   atomic.Uint64
	data   []byte
	text   []byte // legacy info: length-prefixed text
	toMeta func(Ino) Ino
	root   Ino
	v      *VFS
}

// InvalidateEntry makes the kernel forget the entry name of directory
// parent (as the tool saw it), which the command removed.
func (r *ControlReply) InvalidateEntry(parent Ino, name string) { r.v.invalidateEntry(parent, name) }

// MetaIno is the engine's inode of an inode number the tool saw in the
// mount (they differ for the root of a sub-directory mount).
func (r *ControlReply) MetaIno(ino Ino) Ino { return r.toMeta(ino) }

// Root is the engine's inode of the mount's root, where the paths of
// warmup requests start.
func (r *ControlReply) Root() Ino { return r.root }

// Progress sets the two counters the next progress frame reports.
func (r *ControlReply) Progress(a, b uint64) {
	r.a.Store(a)
	r.b.Store(b)
}

// Data sets the JSON reply.
func (r *ControlReply) Data(json []byte) { r.data = json }

// Text sets the reply of the legacy info command.
func (r *ControlReply) Text(text []byte) { r.text = text }

// controlSession is an open .control descriptor.
type controlSession struct {
	v      *VFS
	ctx    context.Context // identity of the opener
	mu     sync.Mutex
	in     []byte
	out    []byte
	base   int64 // file offset of out[0]
	stop   context.CancelFunc
	cancel func()
}

func (v *VFS) newControlSession(ctx context.Context) *controlSession {
	s := &controlSession{v: v, ctx: context.WithoutCancel(ctx)}
	s.cancel = func() {
		s.mu.Lock()
		stop := s.stop
		s.mu.Unlock()
		if stop != nil {
			stop()
		}
	}
	return s
}

func (s *controlSession) write(data []byte) (int, syscall.Errno) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.in = append(s.in, data...)
	if len(s.in) < 8 {
		return len(data), 0
	}
	cmd := binary.BigEndian.Uint32(s.in)
	size := int(binary.BigEndian.Uint32(s.in[4:]))
	switch {
	case len(s.in) < 8+size:
		return len(data), 0
	case len(s.in) > 8+size:
		s.in = s.in[:0]
		s.out = append(s.out, byte(syscall.EIO))
		return len(data), 0
	}
	s.out = append(s.out, s.in...)
	body := append([]byte(nil), s.in[8:]...)
	s.in = s.in[:0]
	ctx, stop := context.WithCancel(s.ctx)
	s.stop = stop
	go s.run(ctx, cmd, body)
	return len(data), 0
}

// run executes one command and appends its reply frames.
func (s *controlSession) run(ctx context.Context, cmd uint32, body []byte) {
	r := &ControlReply{toMeta: s.v.toMeta, root: s.v.root, v: s.v}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s.progress(r)
			}
		}
	}()
	st := syscall.EINVAL
	if s.v.conf.Control != nil {
		st = s.v.conf.Control(ctx, cmd, body, r)
	}
	close(done)
	if r.a.Load() != 0 || r.b.Load() != 0 {
		s.progress(r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.data != nil && st == 0:
		s.out = append(s.out, frameData)
		s.out = binary.BigEndian.AppendUint32(s.out, uint32(len(r.data)))
		s.out = append(s.out, r.data...)
	case r.text != nil && st == 0:
		s.out = binary.BigEndian.AppendUint32(s.out, uint32(len(r.text)))
		s.out = append(s.out, r.text...)
	default:
		s.out = append(s.out, byte(st))
	}
}

func (s *controlSession) progress(r *ControlReply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out = append(s.out, frameProgress)
	s.out = binary.BigEndian.AppendUint64(s.out, r.a.Load())
	s.out = binary.BigEndian.AppendUint64(s.out, r.b.Load())
}

// read returns output bytes from file offset off. Long replies are trimmed
// from the front once the reader is well past them.
func (s *controlSession) read(buf []byte, off int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if off < s.base {
		return 0
	}
	rel := off - s.base
	if rel >= int64(len(s.out)) {
		return 0
	}
	n := copy(buf, s.out[rel:])
	if len(s.out) > 2<<20 && rel > 1<<20 {
		s.out = append([]byte(nil), s.out[1<<20:]...)
		s.base += 1 << 20
	}
	return n
}

// ControlCall sends command cmd with body to the mount holding dir, through
// its .control file, as the tools do; progress receives the counters of the
// progress frames. It returns the JSON of a data reply, nil for a status
// reply of 0, or the errno of a failed command.
func ControlCall(ctx context.Context, dir string, cmd uint32, body []byte, progress func(a, b uint64)) ([]byte, error) {
	f, err := openControl(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	req := binary.BigEndian.AppendUint32(nil, cmd)
	req = binary.BigEndian.AppendUint32(req, uint32(len(body)))
	if _, err := f.Write(append(req, body...)); err != nil {
		return nil, fmt.Errorf("write %s: %w", f.Name(), err)
	}
	r := &controlReader{f: f, ctx: ctx}
	for {
		marker, err := r.next(1)
		if err != nil {
			return nil, err
		}
		switch marker[0] {
		case frameProgress:
			b, err := r.next(16)
			if err != nil {
				return nil, err
			}
			if progress != nil {
				progress(binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:]))
			}
		case frameData:
			n, err := r.next(4)
			if err != nil {
				return nil, err
			}
			return r.next(int(binary.BigEndian.Uint32(n)))
		case 0:
			return nil, nil
		default:
			return nil, syscall.Errno(marker[0])
		}
	}
}

// openControl opens the control file of the mount holding dir.
func openControl(dir string) (*os.File, error) {
	var err error
	for _, name := range []string{internalPrefix + ".control", ".control"} {
		var f *os.File
		if f, err = os.OpenFile(filepath.Join(dir, name), os.O_RDWR, 0); err == nil {
			return f, nil
		}
	}
	return nil, fmt.Errorf("%s is not inside a mounted volume: %w", dir, err)
}

// controlReader reads reply bytes as they come: an empty read means the
// mount has nothing yet, and is retried after a pause growing from 20 ms to
// 300 ms.
type controlReader struct {
	f   *os.File
	ctx context.Context
	buf []byte
}

func (r *controlReader) next(n int) ([]byte, error) {
	wait := 20 * time.Millisecond
	chunk := make([]byte, 64<<10)
	for len(r.buf) < n {
		m, err := r.f.Read(chunk)
		if m > 0 {
			r.buf = append(r.buf, chunk[:m]...)
			wait = 20 * time.Millisecond
			continue
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read %s: %w", r.f.Name(), err)
		}
		select {
		case <-r.ctx.Done():
			return nil, r.ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 300*time.Millisecond)
	}
	out := r.buf[:n:n]
	r.buf = r.buf[n:]
	return out, nil
}
