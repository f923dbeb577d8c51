package meta

import "context"

// Caller is the identity an operation acts for: the uid and gids the kernel
// reports for the process making a file-system call. The first gid is the
// primary group (new inodes get it unless the parent is set-group-ID).
type Caller struct {
	Uid  uint32
	Gids []uint32
	Pid  uint32
	// Umask is applied by Create/Mknod/Mkdir callers that do not pass one
	// explicitly (tools); 0 when unset.
	Umask uint16
}

// Root is the identity of background work and administrative tools.
var rootCaller = Caller{Uid: 0, Gids: []uint32{0}}

type callerKey struct{}

// WithCaller returns a context whose operations act for c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	if len(c.Gids) == 0 {
		c.Gids = []uint32{0}
	}
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerOf returns the identity carried by ctx: root when none was set.
func CallerOf(ctx context.Context) Caller {
	if c, ok := ctx.Value(callerKey{}).(Caller); ok {
		return c
	}
	return rootCaller
}

// Gid returns the caller's primary group.
func (c Caller) Gid() uint32 {
	if len(c.Gids) == 0 {
		return 0
	}
	return c.Gids[0]
}

func (c Caller) inGroup(gid uint32) bool {
	for _, g := range c.Gids {
		if g == gid {
			return true
		}
	}
	return false
}
