package faulttest

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/meta"
)

// A History records the operations several clients made on a small shared
// tree, each with the moment it began and the moment it returned, and
// checks them against what the tree holds afterwards, the way a
// linearizability checker would but per name: an operation that returned
// before another began comes first in any serial order, and two that
// overlapped may come in either order.
//
// What it checks (Check):
//   - every name holds what the last operation on it left, for some order
//     the intervals allow: no acknowledged update lost, no removed entry
//     resurrected, no mode change lost;
//   - no mutation failed with ENOENT or EEXIST although the name had been
//     made present (absent) by an operation that returned before the
//     mutation began, and nothing that could undo that ran in between;
//   - no lookup contradicted an operation of its own client that returned
//     before it began (read-your-writes), nor one of another client that
//     returned more than ReadDelay before it began.
type History struct {
	mu  sync.Mutex
	ops []*Op
	// ReadDelay is how long another client's change may stay invisible to a
	// lookup (the invalidation delay; reads may be answered from the cache
	// that long).
	ReadDelay time.Duration
}

// Key names one entry of the tree: a directory and a name in it.
type Key struct {
	Dir  meta.Ino
	Name string
}

func (k Key) String() string { return fmt.Sprintf("%d/%s", k.Dir, k.Name) }

// Op is one operation and its outcome. Effects are what it did to names
// when it was applied: the inode a name holds afterwards (0: absent).
type Op struct {
	Client     int
	What       string // for messages
	Start, End time.Time
	// Effects maps each name the operation changes to what it holds after.
	Effects map[Key]meta.Ino
	// Mode is the mode a chmod set on ModeOf.
	ModeOf meta.Ino
	Mode   uint16
	// Read is set for a lookup of Needs: what it found (0: ENOENT).
	Read *meta.Ino
	// Needs is the name the operation needs present (ENOENT otherwise);
	// Claims the name it needs absent (EEXIST otherwise).
	Needs, Claims Key
	// Errno, when not 0, is the error the operation returned (not
	// applied); Unknown says it may or may not have been applied.
	Errno   syscall.Errno
	Unknown bool
	Err     error // what an operation of unknown outcome returned
}

func (o *Op) String() string {
	s := fmt.Sprintf("client %d %s [%s..%s]", o.Client, o.What, o.Start.Format("15:04:05.000000"), o.End.Format("15:04:05.000000"))
	switch {
	case o.Errno != 0:
		s += " -> " + o.Errno.Error()
	case o.Unknown:
		s += " -> outcome unknown"
	}
	return s
}

// Record adds a finished operation. err decides its outcome: nil applied,
// an errno not applied, anything else unknown.
func (h *History) Record(o *Op, err error) {
	var exists *meta.ExistsError
	var errno syscall.Errno
	switch {
	case err == nil:
	case errors.As(err, &errno):
		o.Errno = errno
	case errors.As(err, &exists):
		o.Errno = syscall.EEXIST
	default:
		o.Unknown, o.Err = true, err
	}
	h.mu.Lock()
	h.ops = append(h.ops, o)
	h.mu.Unlock()
}

// applied reports whether o took effect for sure; maybe whether it may have.
func (o *Op) applied() bool { return o.Errno == 0 && !o.Unknown && o.Read == nil }
func (o *Op) maybe() bool   { return o.Errno == 0 && o.Read == nil }

// someIno stands for "some inode" in the effect of an operation that could
// not tell which (its outcome is unknown).
const someIno = meta.Ino(1<<63 - 1)

// before: a returned before b began, so a comes first in every order.
func before(a, b *Op) bool { return a.End.Before(b.Start) }

// Final is the state observed after quiescence: what each name holds and
// each inode's mode.
type Final struct {
	Names map[Key]meta.Ino
	Modes map[meta.Ino]uint16
}

// Check returns every contradiction between the history and final, with
// initialMode the mode files are created with.
func (h *History) Check(final Final, initialMode uint16) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	byKey := map[Key][]*Op{}
	for _, o := range h.ops {
		for k := range o.Effects {
			byKey[k] = append(byKey[k], o)
		}
	}
	var bad []string
	keys := map[Key]bool{}
	for k := range byKey {
		keys[k] = true
	}
	for k := range final.Names {
		keys[k] = true
	}
	for k := range keys {
		if msg := checkName(k, byKey[k], final.Names[k]); msg != "" {
			bad = append(bad, msg)
		}
	}
	bad = append(bad, h.checkModes(final, initialMode)...)
	for _, o := range h.ops {
		if msg := h.checkErrno(o, byKey); msg != "" {
			bad = append(bad, msg)
		}
	}
	sort.Strings(bad)
	return bad
}

// checkName: the final value of k must be the effect of an operation that
// no applied operation on k definitely follows (or the initial absence when
// no operation on k was surely applied).
func checkName(k Key, ops []*Op, got meta.Ino) string {
	anyApplied := false
	for _, o := range ops {
		anyApplied = anyApplied || o.applied()
	}
	if got == 0 && !anyApplied {
		return ""
	}
	for _, o := range ops {
		eff := o.Effects[k]
		if !o.maybe() || (eff != got && !(eff == someIno && got != 0)) {
			continue
		}
		last := true
		for _, p := range ops {
			if p != o && p.applied() && before(o, p) {
				last = false
				break
			}
		}
		if last {
			return ""
		}
	}
	return fmt.Sprintf("%s holds inode %d at the end, which no last operation on it explains: %s", k, got, describe(ops))
}

// checkModes: the final mode of every inode that still exists must be the
// one of a last chmod of it (or the initial mode).
func (h *History) checkModes(final Final, initialMode uint16) []string {
	chmods := map[meta.Ino][]*Op{}
	for _, o := range h.ops {
		if o.ModeOf != 0 {
			chmods[o.ModeOf] = append(chmods[o.ModeOf], o)
		}
	}
	var bad []string
	for ino, ops := range chmods {
		got, ok := final.Modes[ino]
		if !ok {
			continue // removed
		}
		anyApplied := false
		explained := false
		for _, o := range ops {
			anyApplied = anyApplied || o.applied()
		}
		if !anyApplied && got == initialMode {
			continue
		}
		for _, o := range ops {
			if !o.maybe() || o.Mode != got {
				continue
			}
			last := true
			for _, p := range ops {
				if p != o && p.applied() && before(o, p) {
					last = false
					break
				}
			}
			explained = explained || last
		}
		if !explained {
			bad = append(bad, fmt.Sprintf("inode %d has mode %o at the end, which no last chmod explains: %s", ino, got, describe(ops)))
		}
	}
	return bad
}

// checkErrno: ENOENT (EEXIST) on a name is wrong when an operation that
// returned before o began made it present (absent), and nothing that could
// make it absent (present) again may have come in between. A lookup is held
// to the same rule for its own client's operations, and for the others'
// after ReadDelay.
func (h *History) checkErrno(o *Op, byKey map[Key][]*Op) string {
	var k Key
	var wantPresent bool
	switch {
	case o.Read != nil:
		k = o.Needs
		wantPresent = *o.Read == 0 // found nothing: was it surely there?
		if !wantPresent {
			return ""
		}
	case o.Errno == syscall.ENOENT:
		k, wantPresent = o.Needs, true
	case o.Errno == syscall.EEXIST:
		k, wantPresent = o.Claims, false
	default:
		return ""
	}
	ops := byKey[k]
	for _, p := range ops {
		if !p.applied() || (p.Effects[k] != 0) != wantPresent {
			continue
		}
		end := p.End
		if o.Read != nil && p.Client != o.Client {
			end = end.Add(h.ReadDelay)
		}
		if !end.Before(o.Start) {
			continue
		}
		undone := false
		for _, r := range ops {
			if r != p && r.maybe() && (r.Effects[k] != 0) != wantPresent && r.End.After(p.Start) && r.Start.Before(o.End) {
				undone = true
				break
			}
		}
		if !undone {
			var near []*Op
			for _, r := range ops {
				if r.End.After(p.Start.Add(-50*time.Millisecond)) && r.Start.Before(o.End) {
					near = append(near, r)
				}
			}
			return fmt.Sprintf("%s, although %s had returned before; operations on %s then: %s", o, p, k, describe(near))
		}
	}
	if !wantPresent && o.Read == nil {
		// EEXIST on a name nothing could have made present yet.
		for _, r := range ops {
			if r.maybe() && r.Effects[k] != 0 && r.Start.Before(o.End) {
				return ""
			}
		}
		return fmt.Sprintf("%s, although nothing had made %s present", o, k)
	}
	return ""
}

func describe(ops []*Op) string {
	s := ""
	for i, o := range ops {
		if i == 40 {
			return s + "; ..."
		}
		if i > 0 {
			s += "; "
		}
		s += o.String()
	}
	return s
}
