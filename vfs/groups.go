package vfs

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/rueidisfs/rueidisfs/meta"
)

// The kernel tells a FUSE file system the uid, gid and pid of the caller,
// but not its supplementary groups, which the permission rules need (a user
// may write a file of a group they are a member of). They are read from
// /proc/<pid>/status (the pid the kernel reports is the calling thread's, so
// this also works for threads that changed their own credentials) and kept
// for a short while per pid.

// groupsTTL bounds how long the groups read for a pid are trusted. A process
// that changes its groups usually changes its uid or gid with them, which
// makes the entry invalid at once.
const groupsTTL = 10 * time.Second

type groupCache struct {
	mu      sync.Mutex
	entries map[uint32]groupEntry
}

type groupEntry struct {
	uid, gid uint32
	gids     []uint32 // primary first
	read     time.Time
}

// CallerContext returns ctx carrying the identity of a request (see
// meta.WithCaller): uid, gid and pid as the kernel reports them, the
// caller's supplementary groups, and the umask of a request creating a node
// (the mount's --umask replaces it).
func (v *VFS) CallerContext(ctx context.Context, uid, gid, pid uint32, umask uint16) context.Context {
	return meta.WithCaller(ctx, meta.Caller{Uid: uid, Gids: v.groups.of(uid, gid, pid), Pid: pid, Umask: v.umask(umask)})
}

func (g *groupCache) of(uid, gid, pid uint32) []uint32 {
	if pid == 0 || uid == 0 {
		// Requests of the kernel itself; root passes every check anyway.
		return []uint32{gid}
	}
	now := time.Now()
	g.mu.Lock()
	e, ok := g.entries[pid]
	g.mu.Unlock()
	if ok && e.uid == uid && e.gid == gid && now.Sub(e.read) < groupsTTL {
		return e.gids
	}
	e = groupEntry{uid: uid, gid: gid, gids: append([]uint32{gid}, supplementaryGroups(pid, gid)...), read: now}
	g.mu.Lock()
	if g.entries == nil || len(g.entries) > 10000 {
		g.entries = map[uint32]groupEntry{}
	}
	g.entries[pid] = e
	g.mu.Unlock()
	return e.gids
}

// supplementaryGroups reads the groups of process (or thread) pid other
// than primary; none when it cannot be read (the process is gone).
func supplementaryGroups(pid, primary uint32) []uint32 {
	b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/status")
	if err != nil {
		return nil
	}
	var out []uint32
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line, ok := bytes.CutPrefix(sc.Bytes(), []byte("Groups:"))
		if !ok {
			continue
		}
		for _, f := range bytes.Fields(line) {
			if g, err := strconv.ParseUint(string(f), 10, 32); err == nil && uint32(g) != primary {
				out = append(out, uint32(g))
			}
		}
		break
	}
	return out
}
