package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Log levels beyond slog's four, with JuiceFS's names.
const (
	levelTrace = slog.Level(-8)
	levelFatal = slog.Level(12)
)

// levelName returns the level as JuiceFS (logrus) spells it.
func levelName(l slog.Level) string {
	switch {
	case l <= levelTrace:
		return "TRACE"
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARNING"
	case l < levelFatal:
		return "ERROR"
	}
	return "FATAL"
}

// levelColor is the ANSI colour of a level name on a terminal.
func levelColor(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 31 // red
	case l >= slog.LevelWarn:
		return 33 // yellow
	case l >= slog.LevelInfo:
		return 34 // blue
	}
	return 35 // magenta
}

// lineHandler is a slog.Handler printing one line per record in the shape of
// the official client's log:
//
//	2026/11/27 11:22:39.742099 rueidisfs[7743] <WARNING>: message [func@file.go:84]
//
// Attributes, if any, follow the message as key=value pairs, before the
// caller part, which is left out when the record has no program counter.
type lineHandler struct {
	mu    *sync.Mutex // shared by all handlers derived from one
	w     io.Writer
	name  string
	pid   int
	level slog.Leveler
	color bool
	logID string // printed first, in brackets, when set
	attrs string // pre-rendered attributes of WithAttrs, each with a leading space
	group string // group prefix of WithGroup, "a.b."
}

var _ slog.Handler = (*lineHandler)(nil)

// Enabled reports whether records of level l are printed.
func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

// Handle prints one record.
func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	if h.logID != "" {
		b.WriteString("[" + h.logID + "] ")
	}
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	b.WriteString(t.Format("2006/01/02 15:04:05.000000"))
	b.WriteString(" " + h.name + "[" + strconv.Itoa(h.pid) + "] <")
	if h.color {
		fmt.Fprintf(&b, "\033[1;%dm%s\033[0m", levelColor(r.Level), levelName(r.Level))
	} else {
		b.WriteString(levelName(r.Level))
	}
	b.WriteString(">: ")
	b.WriteString(strings.TrimRight(r.Message, "\n"))
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		writeAttr(&b, h.group, a)
		return true
	})
	if r.PC != 0 {
		frame, _ := runtime.CallersFrames([]uintptr{r.PC}).Next()
		if frame.Function != "" {
			fmt.Fprintf(&b, " [%s@%s:%d]", shortFuncName(frame.Function), filepath.Base(frame.File), frame.Line)
		}
	}
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

// WithAttrs returns a handler that prints attrs with every record.
func (h *lineHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range attrs {
		writeAttr(&b, h.group, a)
	}
	c.attrs = b.String()
	return &c
}

// WithGroup returns a handler that qualifies later attributes with name.
func (h *lineHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.group = h.group + name + "."
	return &c
}

func writeAttr(b *strings.Builder, group string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, g := range a.Value.Group() {
			writeAttr(b, group+a.Key+".", g)
		}
		return
	}
	v := a.Value.String()
	if strings.ContainsAny(v, " \t\n\"=") || v == "" {
		v = strconv.Quote(v)
	}
	b.WriteString(" " + group + a.Key + "=" + v)
}

// shortFuncName turns "github.com/x/y/pkg.(*T).Method.func2" into "Method":
// the last element of the name, or the function enclosing an anonymous
// function or a numbered init.
func shortFuncName(full string) string {
	if i := strings.LastIndexByte(full, '/'); i >= 0 {
		full = full[i+1:]
	}
	parts := strings.Split(full, ".")
	for i := len(parts) - 1; i > 0; i-- {
		p := parts[i]
		anonymous := strings.HasPrefix(p, "func") && len(p) > 4 && isDigits(p[4:])
		if p != "" && !anonymous && !isDigits(p) {
			return strings.Trim(p, "()*")
		}
	}
	return full
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
