// Package meta is rueidisfs' metadata engine: a from-scratch implementation of
// JuiceFS 1.4.1's Redis metadata engine on rueidis.
//
// # The domain
//
// A JuiceFS volume keeps its file system's metadata in Redis and its file data
// in an object store. Every file, directory, symlink or special file is an
// inode with an attribute record (key i{ino}); a directory is a hash of its
// entries (d{ino}: name → type and inode); a file's content is described, for
// every 64 MiB chunk, by a list of slice records (c{ino}_{indx}) naming byte
// ranges of immutable objects. Around them live counters (used space, inodes),
// per-directory statistics, quotas, sessions of the clients using the volume,
// locks, extended attributes, ACL rules and a trash. The exact keys and
// encodings are those of the official client, so both can share a volume.
//
// # Using the engine
//
//	e, err := meta.Open(ctx, "rueidis://localhost:6379/1", meta.Options{})
//	if err != nil { ... }
//	defer e.Close(ctx)
//	if err := e.NewSession(ctx, true); err != nil { ... }
//	ino, attr, err := e.Mkdir(ctx, meta.RootInode, "photos", 0o755, 0o022)
//
// Operations take a context; the identity they act for (uid, gids) travels in
// it (see WithCaller; without one, operations run as root). File-system errors
// are syscall.Errno values; ToErrno maps any returned error to one.
//
// The Engine's methods are what a file system needs (lookups, attributes,
// namespace changes, directory listings, file data layout, extended
// attributes and ACLs, statfs) plus its lifetime (Open, Load, NewSession,
// Close). What tools need lives on types named for what they do:
// Inspector (Engine.Inspect) reads the keyspace as stored, Repairer
// (Engine.Repair) writes back values a check found wrong, Cleaner
// (Engine.Cleanup) deletes garbage, and Quotas (Engine.Quotas) administers
// quotas. The packages fsck and gc build the tools on them.
//
// # How it talks to Redis
//
// Reads go through rueidis' server-assisted client-side cache (see package
// cachestore); every mutation is one EVALSHA of a generic check-and-apply
// script (see docs/design.md). Commands share rueidis' auto-pipelined
// connections; only a mutation followed by WAIT (the wait-replicas option)
// uses a connection of rueidis' pool for blocking commands.
package meta

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/cachestore"
	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/keyspace"
	"github.com/rueidisfs/rueidisfs/metaurl"
	"github.com/rueidisfs/rueidisfs/redisconn"
)

// Ino is an inode number.
type Ino = codec.Ino

// Attr is the attribute record of an inode.
type Attr = codec.Attr

// Well-known inodes.
const (
	RootInode  = codec.RootInode
	TrashInode = codec.TrashInode
)

// Version is the JuiceFS version this engine is compatible with, as it
// reports itself in session records and compares against a volume's
// MinClientVersion/MaxClientVersion.
const Version = "1.4.1+rueidisfs"

// DefaultHeartbeat is the session heartbeat interval of the official client.
const DefaultHeartbeat = 12 * time.Second

// Options tune an Engine. The zero value gives JuiceFS's defaults.
type Options struct {
	// Logger receives warnings and informational messages; nil discards them.
	Logger *slog.Logger
	// ReadOnly refuses every mutation with EROFS and registers no session.
	ReadOnly bool
	// Heartbeat is the session heartbeat interval (default 12s, as juicefs).
	Heartbeat time.Duration
	// SkipDirMtime: a directory's mtime is not updated when it is younger
	// than this and its link count does not change (default 100ms).
	SkipDirMtime time.Duration
	// AtimeMode is "noatime" (default), "relatime" or "strictatime".
	AtimeMode string
	// NoBackgroundJobs disables the cluster-wide cleanup jobs (stale
	// sessions, deleted files, trash, slices).
	NoBackgroundJobs bool
	// DirStatFlushPeriod and QuotaFlushPeriod are how often pending directory
	// statistics and quota usage are written (defaults 1s and 3s, as juicefs).
	DirStatFlushPeriod, QuotaFlushPeriod time.Duration
	// MountPoint is recorded in the session (default: the command name).
	MountPoint string
	// OverlaySize bounds how many of its own recent writes the engine
	// remembers to speed up the next transaction on the same keys (default
	// 16384; negative disables).
	OverlaySize int
	// Getenv reads the environment for meta URL options (default os.Getenv).
	Getenv func(string) string
	// Clock tells the time of every decision that depends on it: the times
	// written into attributes, trash hour directories, session expiry, the
	// ages of leaked inodes and deleted files, the quiet periods of the
	// client-side cache (default: the system clock). Tests pass a clock
	// they move instead of sleeping.
	Clock Clock
	// SliceDeleter connects the engine to the volume's object data, which
	// is only known once the volume's format is: the engine calls it once,
	// with the format, the first time it loads the format (Load,
	// NewSession), and from then on calls the DeleteSliceFunc it returns
	// for every slice whose last reference goes away (file deletion,
	// truncation, expired trash, gc), after which the slice's reference
	// count is removed. A data layer builds its object store (or chunk
	// store) from the format here and returns its slice deletion.
	//
	// Without it, or when it returns nil or an error (logged), slices whose
	// last reference went away keep a negative reference count for `gc` to
	// delete later; the metadata stays consistent either way.
	SliceDeleter func(f *codec.Format) (DeleteSliceFunc, error)
	// Compact writes merged slices for compaction (see CompactFunc); the
	// data layer provides it. Without it chunks are never compacted by
	// this client (others may).
	Compact CompactFunc
	// ObserveTxn, when set, receives the duration of every transaction
	// (all its attempts), for a mount's metrics.
	ObserveTxn func(time.Duration)
}

// Clock tells the time.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// cacheClock is the clock of the client-side cache's change times: nil (the
// cache store's own monotonic clock, cheaper to read than the wall clock)
// unless a test moves a clock of its own.
func (o *Options) cacheClock() func() time.Time {
	if _, system := o.Clock.(systemClock); system {
		return nil
	}
	return o.Clock.Now
}

// now is the engine's time (Options.Clock).
func (e *Engine) now() time.Time { return e.opts.Clock.Now() }

// DeleteSliceFunc deletes the objects of slice id (of size bytes in total)
// from the object storage. It must succeed when they are already gone: a
// slice is released again when an earlier attempt failed after deleting
// some of its blocks.
type DeleteSliceFunc func(ctx context.Context, id uint64, size uint32) error

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.SkipDirMtime == 0 {
		o.SkipDirMtime = 100 * time.Millisecond
	}
	if o.AtimeMode == "" {
		o.AtimeMode = "noatime"
	}
	if o.DirStatFlushPeriod == 0 {
		o.DirStatFlushPeriod = time.Second
	}
	if o.QuotaFlushPeriod == 0 {
		o.QuotaFlushPeriod = 3 * time.Second
	}
	if o.OverlaySize == 0 {
		o.OverlaySize = 16384
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	if o.MountPoint == "" {
		o.MountPoint = "rueidisfs"
	}
}

// Engine is an open connection to one volume's metadata. It is safe for
// concurrent use by many goroutines; operations from all of them share one
// auto-pipelined connection per Redis node.
type Engine struct {
	opts     Options
	log      *slog.Logger
	url      *metaurl.Config
	conn     *redisconn.Conn
	rdb      rueidis.Client
	cache    *cachestore.Registry // nil when client-side caching is off
	cacheTTL time.Duration
	keys     keyspace.Keys
	// fenced is set when the volume under the engine went away (destroyed,
	// reformatted, upgraded): every later mutation is refused.
	fenced atomic.Bool
	// privilegesProbed: the Redis user may run every command of the
	// mutation scripts (probePrivileges).
	privilegesProbed atomic.Bool

	txnScript      *mutationScript
	qfence         quotaFence // see quotafence.go
	shapes         shapes     // scripts compiled for transaction shapes
	chunkDelScript *rueidis.Lua
	resolveScript  *rueidis.Lua
	overlay        *overlay
	txnID          atomic.Uint64 // change-log transaction counter
	txStats        txCounters
	markerState    // replay markers: the hash in use, the acknowledged ones
	// sentHook, when set (by tests), sees every mutation call that got a
	// reply, so that a test can send it again as a lost reply would.
	sentHook func(script *mutationScript, keys, args []string)

	format atomic.Pointer[codec.Format]
	// deleteSlice is what Options.SliceDeleter returned (set once, at the
	// first Load).
	deleteSlice     atomic.Pointer[DeleteSliceFunc]
	sliceDeleterSet sync.Once

	inodes, slices idAllocator

	sid        atomic.Uint64 // session id, 0 without a registered session
	files      openFiles
	stats      *statsBatcher
	acls       aclStore
	prefetch   dirPrefetch
	trash      trashCache
	purgeSlots chan struct{}
	purgeWG    sync.WaitGroup // purges of deleted files under way
	compacting compactions

	// The engine's lifetime (see lifetime.go): life is cancelled by Close,
	// which then waits for every goroutine the engine started (tasks).
	life        context.Context
	endLife     context.CancelFunc
	tasksMu     sync.Mutex
	ending      bool // no goroutine may start any more
	tasks       sync.WaitGroup
	sessionStop context.CancelFunc // stops the background work of a session
	sessionWG   sync.WaitGroup     // that work
	closeMu     sync.Mutex
	closed      bool
}

// Open connects to the Redis database named by metaURL. It does not require
// the database to hold a volume (Format creates one); Load reads it.
func Open(ctx context.Context, metaURL string, opts Options) (*Engine, error) {
	opts.setDefaults()
	cfg, warnings, err := metaurl.Parse(metaURL, opts.Getenv)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		opts.Logger.Warn(w)
	}
	conn, err := redisconn.Dial(ctx, cfg, redisconn.Options{Logger: opts.Logger, ReadOnly: opts.ReadOnly, Clock: opts.cacheClock()})
	if err != nil {
		return nil, err
	}
	e := &Engine{
		opts:           opts,
		log:            opts.Logger,
		url:            cfg,
		conn:           conn,
		rdb:            conn.Client,
		cache:          conn.Cache,
		cacheTTL:       cfg.ClientCacheTTL,
		keys:           keyspace.New(conn.Prefix),
		txnScript:      newTxnScript(),
		chunkDelScript: rueidis.NewLuaScript(chunkDelScriptSource),
		resolveScript:  rueidis.NewLuaScriptReadOnly(resolveScriptSource),
		overlay:        newOverlay(opts.OverlaySize, 2*time.Second),
		purgeSlots:     make(chan struct{}, maxConcurrentPurges),
	}
	if e.cache == nil {
		// Keep the hooks total: a registry that no store ever joins.
		e.cache = cachestore.NewRegistryClock(1, opts.cacheClock())
	}
	e.life, e.endLife = context.WithCancel(context.Background())
	e.inodes = idAllocator{e: e, key: e.keys.NextInode(), batch: inodeBatch, skipBelow: 2}
	e.slices = idAllocator{e: e, key: e.keys.NextChunk(), batch: sliceBatch, skipBelow: 1}
	e.files.init()
	e.stats = newStatsBatcher(e)
	e.qfence.key = e.keys.QuotaFence()
	return e, nil
}

// Keys returns the key names of this volume (with the Cluster prefix).
func (e *Engine) Keys() keyspace.Keys { return e.keys }

// Client returns the underlying rueidis client, for tools that scan the
// keyspace (dump, fsck). Writes through it bypass the engine's invariants.
func (e *Engine) Client() rueidis.Client { return e.rdb }

// CacheStats returns the client-side cache counters of this engine.
func (e *Engine) CacheStats() cachestore.Stats {
	st := e.cache.Stats()
	st.Hits += e.files.hitCount() // open files' chunk lists (see Read)
	return st
}

// CacheEnabled reports whether server-assisted client-side caching is on.
func (e *Engine) CacheEnabled() bool { return e.conn.Cache != nil }

// Conn returns the connection details (mode, server version, prefix).
func (e *Engine) Conn() *redisconn.Conn { return e.conn }

// URL returns the parsed meta URL.
func (e *Engine) URL() *metaurl.Config { return e.url }

// Format returns the volume format loaded by Load, Format or the latest
// heartbeat, or nil.
func (e *Engine) Format() *codec.Format { return e.format.Load() }
