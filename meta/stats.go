package meta

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Accounting that the official client keeps eventually consistent is done the
// same way here, so that both clients' numbers agree: directory statistics
// (dirDataLength, dirUsedSpace, dirUsedInodes) are accumulated in memory and
// flushed every second, quota usage (directory, user and group) every three
// seconds. The global counters usedSpace and totalInodes are updated inside
// each operation's transaction.

//go:embed dirstat.lua
var dirStatLua string

var dirStatScriptSource = luaSource("dirstat.lua", dirStatLua)

// Quota is the limits and usage of one directory, user or group quota.
// Limits <= 0 mean unlimited (-1 by convention).
type Quota struct {
	MaxSpace, MaxInodes   int64
	UsedSpace, UsedInodes int64
}

// quota is one quota as this client knows it: limits and usage loaded from
// Redis at every heartbeat, plus this client's unflushed deltas.
type quota struct {
	maxSpace, maxInodes   atomic.Int64
	usedSpace, usedInodes atomic.Int64
	newSpace, newInodes   atomic.Int64
	// token is a directory quota's count token as loaded (Keys.QuotaCounts;
	// "" when it has none), which its flushed deltas are conditioned on
	// (see quotaflush.go). Guarded by the batcher's flushMu.
	token string
}

// exceeded reports whether adding (space, inodes) would pass a limit. Limits
// <= 0 mean unlimited; only growth is ever refused.
func (q *quota) exceeded(space, inodes int64) bool {
	if space > 0 {
		if max := q.maxSpace.Load(); max > 0 && q.usedSpace.Load()+q.newSpace.Load()+space > max {
			return true
		}
	}
	if inodes > 0 {
		if max := q.maxInodes.Load(); max > 0 && q.usedInodes.Load()+q.newInodes.Load()+inodes > max {
			return true
		}
	}
	return false
}

type dirStatDelta struct{ length, space, inodes int64 }

// statsBatcher holds the pending accounting of one engine.
type statsBatcher struct {
	e      *Engine
	script *mutationScript

	// Volume usage as last read from Redis plus our own changes since; used
	// for capacity checks and fast statfs.
	usedSpace, usedInodes atomic.Int64

	dirMu  sync.Mutex
	dirs   map[Ino]dirStatDelta
	dirsMu sync.Mutex     // serialises flushes, guards unsent and recountLater
	unsent []dirStatFlush // flush calls that failed, to send again
	// recountLater holds directories with missing statistics whose recount
	// was postponed (see recountDirStat), with the number of postponements.
	recountLater map[Ino]int
	// accounting is held shared by every transaction with accounting
	// (Tx.Account) from before its commit until that has added its deltas,
	// and exclusively by a recount while it drops the pending deltas and
	// reads the entries (see commitAndAccount, countExclusively).
	accounting sync.RWMutex

	quotaMu sync.RWMutex
	dirQ    map[Ino]*quota
	userQ   map[uint32]*quota
	groupQ  map[uint32]*quota
	flushMu sync.Mutex // serialises quota flushes and loads, guards unsentQuota
	// unsentQuota holds quota flush calls that failed, to send again.
	unsentQuota []quotaFlush

	parentMu sync.RWMutex
	parents  map[Ino]Ino // directory → parent, for quota walks
}

func newStatsBatcher(e *Engine) *statsBatcher {
	return &statsBatcher{
		e:            e,
		script:       newMutationScript(dirStatScriptSource),
		dirs:         make(map[Ino]dirStatDelta),
		recountLater: make(map[Ino]int),
		dirQ:         make(map[Ino]*quota),
		userQ:        make(map[uint32]*quota),
		groupQ:       make(map[uint32]*quota),
		parents:      make(map[Ino]Ino),
	}
}

func (s *statsBatcher) format() *codec.Format {
	if f := s.e.format.Load(); f != nil {
		return f
	}
	return &codec.Format{}
}

// rememberParent records a directory's parent (learnt from its attribute).
func (s *statsBatcher) rememberParent(dir, parent Ino) {
	if dir == RootInode || parent == 0 || dir.IsTrash() {
		return
	}
	// Every lookup of a directory comes here: most find it known already,
	// and readers share the lock.
	s.parentMu.RLock()
	known, ok := s.parents[dir]
	s.parentMu.RUnlock()
	if ok && known == parent {
		return
	}
	s.parentMu.Lock()
	s.parents[dir] = parent
	s.parentMu.Unlock()
}

// clearParents drops every remembered parent (the quota fence changed:
// directories may have moved since they were remembered).
func (s *statsBatcher) clearParents() {
	s.parentMu.Lock()
	s.parents = make(map[Ino]Ino)
	s.parentMu.Unlock()
}

func (s *statsBatcher) forgetParent(dir Ino) {
	s.parentMu.Lock()
	delete(s.parents, dir)
	s.parentMu.Unlock()
}

func (s *statsBatcher) parentOf(ctx context.Context, dir Ino) (Ino, error) {
	s.parentMu.RLock()
	p, ok := s.parents[dir]
	s.parentMu.RUnlock()
	if ok {
		return p, nil
	}
	a, err := s.e.GetAttr(ctx, dir)
	if err != nil {
		return 0, err
	}
	return a.Parent, nil
}

// volume records a change of the global usage made by this client.
func (s *statsBatcher) volume(space, inodes int64) {
	s.usedSpace.Add(space)
	s.usedInodes.Add(inodes)
}

// dirStat records a change of a directory's direct-children statistics.
func (s *statsBatcher) dirStat(dir Ino, length, space, inodes int64) {
	if length == 0 && space == 0 && inodes == 0 {
		return
	}
	s.dirMu.Lock()
	d := s.dirs[dir]
	d.length += length
	d.space += space
	d.inodes += inodes
	s.dirs[dir] = d
	s.dirMu.Unlock()
}

func (s *statsBatcher) dropPending(dir Ino) {
	s.dirMu.Lock()
	delete(s.dirs, dir)
	s.dirMu.Unlock()
}

// pendingDirStat returns this client's unflushed delta for dir.
func (s *statsBatcher) pendingDirStat(dir Ino) dirStatDelta {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	return s.dirs[dir]
}

// dirQuotaOf returns the quota of directory dir this client has loaded,
// or nil.
func (s *statsBatcher) dirQuotaOf(dir Ino) *quota {
	s.quotaMu.RLock()
	defer s.quotaMu.RUnlock()
	return s.dirQ[dir]
}

func (s *statsBatcher) hasDirQuotas() bool {
	s.quotaMu.RLock()
	defer s.quotaMu.RUnlock()
	return len(s.dirQ) > 0
}

// walkQuotas calls fn for every directory quota on the path from dir up to
// the root (dir included).
func (s *statsBatcher) walkQuotas(ctx context.Context, dir Ino, fn func(ino Ino, q *quota) bool) {
	if !s.format().DirStats || !s.hasDirQuotas() {
		return
	}
	var g upwardGuard
	for dir != 0 {
		if err := g.step(ctx, dir); err != nil {
			s.e.log.Warn(fmt.Sprintf("quotas above directory %d: %v", dir, err))
			return
		}
		if q := s.dirQuotaOf(dir); q != nil && !fn(dir, q) {
			return
		}
		if dir <= RootInode {
			return
		}
		p, err := s.parentOf(ctx, dir)
		if err != nil {
			s.e.log.Warn(fmt.Sprintf("parent of directory %d: %v", dir, err))
			return
		}
		dir = p
	}
}

// pinAncestry remembers, before a transaction that changes the usage of
// dirs commits, the parents its accounting will walk to charge their
// directory quotas. The accounting runs after the commit, when another
// client may already have moved one of the directories to another quota
// tree; reading the parents then would charge the mutation to the tree the
// directory moved into, whose move already carried the count that includes
// it (or miss the tree it left). The parents known now are those the quota
// fence condition of the transaction vouches for: a move between quota
// trees changes the fence, and the commit then fails and is decided again.
// Called with the accounting lock shared, so that no fence learnt meanwhile
// clears them.
func (s *statsBatcher) pinAncestry(ctx context.Context, dirs []Ino) {
	for _, d := range dirs {
		s.walkQuotas(ctx, d, func(Ino, *quota) bool { return true })
	}
}

// dirQuota records a usage change of every directory quota above dir.
func (s *statsBatcher) dirQuota(ctx context.Context, dir Ino, space, inodes int64) {
	if space == 0 && inodes == 0 {
		return
	}
	s.walkQuotas(ctx, dir, func(_ Ino, q *quota) bool {
		q.newSpace.Add(space)
		q.newInodes.Add(inodes)
		return true
	})
}

// userGroup records a usage change of a user's and a group's quota. Like the
// official client, any uid/gid that changes usage gets an (unlimited) entry.
func (s *statsBatcher) userGroup(uid, gid uint32, space, inodes int64) {
	if !s.format().UserGroupQuota || (space == 0 && inodes == 0) {
		return
	}
	s.quotaMu.Lock()
	for _, x := range []struct {
		m  map[uint32]*quota
		id uint32
	}{{s.userQ, uid}, {s.groupQ, gid}} {
		q := x.m[x.id]
		if q == nil {
			q = &quota{}
			q.maxSpace.Store(-1)
			q.maxInodes.Store(-1)
			x.m[x.id] = q
		}
		q.newSpace.Add(space)
		q.newInodes.Add(inodes)
	}
	s.quotaMu.Unlock()
}

func (s *statsBatcher) ugExceeded(m map[uint32]*quota, id uint32, space, inodes int64) bool {
	if !s.format().UserGroupQuota {
		return false
	}
	s.quotaMu.RLock()
	q := m[id]
	s.quotaMu.RUnlock()
	return q != nil && q.exceeded(space, inodes)
}

// checkQuota refuses growth that would pass a user quota, a group quota
// (EDQUOT), the volume's capacity or inode limit (ENOSPC), or a directory
// quota above any of parents (EDQUOT), in that order.
func (s *statsBatcher) checkQuota(ctx context.Context, space, inodes int64, uid, gid uint32, parents ...Ino) error {
	if space <= 0 && inodes <= 0 {
		return nil
	}
	if s.ugExceeded(s.userQ, uid, space, inodes) || s.ugExceeded(s.groupQ, gid, space, inodes) {
		return syscall.EDQUOT
	}
	f := s.format()
	if space > 0 && f.Capacity > 0 && s.usedSpace.Load()+space > int64(f.Capacity) {
		return syscall.ENOSPC
	}
	if inodes > 0 && f.Inodes > 0 && s.usedInodes.Load()+inodes > int64(f.Inodes) {
		return syscall.ENOSPC
	}
	return s.checkDirQuotas(ctx, space, inodes, parents...)
}

// checkDirQuotas refuses growth that would pass a directory quota above any
// of parents (EDQUOT).
func (s *statsBatcher) checkDirQuotas(ctx context.Context, space, inodes int64, parents ...Ino) error {
	for _, p := range parents {
		exceeded := false
		s.walkQuotas(ctx, p, func(_ Ino, q *quota) bool {
			exceeded = q.exceeded(space, inodes)
			return !exceeded
		})
		if exceeded {
			return syscall.EDQUOT
		}
	}
	return nil
}

func (s *statsBatcher) checkGroupQuota(gid uint32, space, inodes int64) error {
	if s.ugExceeded(s.groupQ, gid, space, inodes) {
		return syscall.EDQUOT
	}
	return nil
}

// run flushes directory statistics every DirStatFlushPeriod and quotas every
// QuotaFlushPeriod until ctx ends.
func (s *statsBatcher) run(ctx context.Context) {
	dirTick := time.NewTicker(s.e.opts.DirStatFlushPeriod)
	defer dirTick.Stop()
	quotaTick := time.NewTicker(s.e.opts.QuotaFlushPeriod)
	defer quotaTick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-dirTick.C:
			s.flushDirStats(ctx, true)
		case <-quotaTick.C:
			s.flushQuotas(ctx)
		}
	}
}

// flushAll writes everything pending (at close, by Sync and FlushStats, by
// tests): directories whose statistics are missing are recounted now.
func (s *statsBatcher) flushAll(ctx context.Context) error {
	return errors.Join(s.flushDirStats(ctx, false), s.flushQuotas(ctx))
}

// FlushStats writes this client's pending directory statistics and quota
// usage now instead of waiting for the periodic flush. An error
// (ErrStatsNotStored) says some could not be stored: those not given up
// yet are sent again by the next flush.
func (e *Engine) FlushStats(ctx context.Context) error { return e.stats.flushAll(ctx) }

// dirStatFlush is one script call of a directory-statistics flush. A call
// that failed is sent again, identical (same replay marker), at the next
// flush: it is applied exactly once however often its reply is lost.
type dirStatFlush struct {
	keys, args []string
	marker     txnMarker // keys[3] and the last of args
	since      time.Time
	sent       bool // sent before without an answer: it may have been applied
}

// flushDirStats adds the pending deltas to the stored statistics with one
// script call per 1000 directories. Directories whose statistics are absent
// (never computed, or dropped when DirStats was enabled) are recomputed from
// their entries instead, as the official client does; with waitQuiet (the
// periodic flush, which runs while operations are) only those this client
// left alone for a while (see recountDirStat).
func (s *statsBatcher) flushDirStats(ctx context.Context, waitQuiet bool) error {
	s.dirsMu.Lock()
	defer s.dirsMu.Unlock()
	s.dirMu.Lock()
	pending := s.dirs
	s.dirs = make(map[Ino]dirStatDelta)
	s.dirMu.Unlock()
	if !s.format().DirStats {
		return nil
	}
	s.queueFlushCalls(pending)
	missing, err := s.sendFlushCalls(ctx)
	s.recountMissing(ctx, missing, waitQuiet)
	return err
}

// queueFlushCalls turns pending deltas into script calls (one per 1000
// directories), after those that failed before.
func (s *statsBatcher) queueFlushCalls(pending map[Ino]dirStatDelta) {
	inos := make([]Ino, 0, len(pending))
	for ino := range pending {
		inos = append(inos, ino)
	}
	sort.Slice(inos, func(i, j int) bool { return inos[i] < inos[j] })
	k := s.e.keys
	now := time.Now()
	for start := 0; start < len(inos); start += 1000 {
		end := min(start+1000, len(inos))
		args := make([]string, 0, 4*(end-start)+1)
		for _, ino := range inos[start:end] {
			d := pending[ino]
			args = append(args, strconv.FormatUint(uint64(ino), 10),
				strconv.FormatInt(d.length, 10), strconv.FormatInt(d.space, 10), strconv.FormatInt(d.inodes, 10))
		}
		m := s.e.newMarker()
		keys := []string{k.DirDataLength(), k.DirUsedSpace(), k.DirUsedInodes(), m.key}
		s.unsent = append(s.unsent, dirStatFlush{keys: keys, args: append(args, m.field), marker: m, since: now})
	}
}

// sendFlushCalls sends the queued flush calls in order, keeping the first
// that fails and those after it for the next flush, and returns the
// directories whose statistics turned out to be missing, and an error
// (ErrStatsNotStored) when a call failed.
func (s *statsBatcher) sendFlushCalls(ctx context.Context) ([]Ino, error) {
	var missing []Ino
	var failed error
	calls := s.unsent
	s.unsent = nil
	for i, f := range calls {
		reply, err := s.e.execMutation(ctx, s.script, f.keys, f.args, true, f.sent)
		if errors.Is(err, ErrNotReplicated) {
			s.e.log.Warn(fmt.Sprintf("flush directory statistics: %v", err))
			err = nil
		}
		if err != nil {
			if time.Since(f.since) > replayWindow {
				s.e.log.Warn(fmt.Sprintf("flush directory statistics: %v; giving up after %v: they may be off until `fsck` recomputes them", err, replayWindow))
				failed = cmp.Or(failed, fmt.Errorf("%w: directory statistics of %d directories were given up (%w); `fsck --path / -r --repair --sync-dir-stat` recomputes them", ErrStatsNotStored, len(f.args)/4, err))
				continue
			}
			s.e.log.Warn(fmt.Sprintf("flush directory statistics: %v; will send it again", err))
			calls[i].sent = true
			s.unsent = append(s.unsent, calls[i:]...)
			n := 0
			for _, c := range calls[i:] {
				n += len(c.args) / 4
			}
			failed = cmp.Or(failed, fmt.Errorf("%w: directory statistics of %d directories (%w); `fsck --path / -r --repair --sync-dir-stat` recomputes them if this client stops before they are", ErrStatsNotStored, n, err))
			break
		}
		s.e.ackMarker(f.marker)
		for _, m := range reply {
			if ino, err := m.ToString(); err == nil {
				corrupt := strings.HasPrefix(ino, "!")
				if n, err := strconv.ParseUint(strings.TrimPrefix(ino, "!"), 10, 64); err == nil {
					if corrupt {
						s.e.log.Warn(fmt.Sprintf("directory statistics of inode %d hold a value that is not an integer (%s, %s, %s): recomputed from its entries",
							n, f.keys[0], f.keys[1], f.keys[2]))
					}
					missing = append(missing, Ino(n))
				}
			}
		}
		s.e.cache.Invalidate(f.keys[:3]...)
	}
	return missing, failed
}

// recountMissing recomputes the statistics of the directories in missing
// and of those postponed before; with waitQuiet, those this client wrote
// to too recently are postponed again (see recountDirStat).
func (s *statsBatcher) recountMissing(ctx context.Context, missing []Ino, waitQuiet bool) {
	for ino := range s.recountLater {
		if !slices.Contains(missing, ino) {
			missing = append(missing, ino)
		}
	}
	for _, ino := range missing {
		postponed := s.recountLater[ino]
		_, err := s.e.recountDirStat(ctx, ino, waitQuiet && postponed < recountMaxPostponed)
		if errors.Is(err, errRecountBusy) {
			s.recountLater[ino] = postponed + 1
			continue
		}
		delete(s.recountLater, ino)
		if err != nil && !errors.Is(err, syscall.ENOENT) {
			s.e.log.Warn(fmt.Sprintf("recompute statistics of directory %d: %v", ino, err))
		}
	}
}

// loadQuotas refreshes limits and usage of every quota from Redis; directory
// quotas that disappeared are dropped. It also refreshes the volume usage.
// A directory quota this client did not know, or whose count token changed,
// is loaded with the accounting lock held exclusively: a transaction
// committed before the quota was stored (counted) must not be charged to it
// by its accounting (see quotafence.go).
func (s *statsBatcher) loadQuotas(ctx context.Context) error {
	needExclusive, err := s.loadQuotasAs(ctx, false)
	if err != nil || !needExclusive {
		return err
	}
	s.accounting.Lock()
	defer s.accounting.Unlock()
	_, err = s.loadQuotasAs(ctx, true)
	return err
}

// loadQuotasLocked is loadQuotas with the accounting lock held exclusively.
func (s *statsBatcher) loadQuotasLocked(ctx context.Context) error {
	_, err := s.loadQuotasAs(ctx, true)
	return err
}

// loadQuotasAs loads the quotas; unless exclusive, directory quotas this
// client does not know, or whose count token changed, are left as they are
// and reported.
func (s *statsBatcher) loadQuotasAs(ctx context.Context, exclusive bool) (needExclusive bool, err error) {
	k := s.e.keys
	if sp, err := s.e.getInt(ctx, k.UsedSpace()); err == nil {
		s.usedSpace.Store(sp)
	}
	if in, err := s.e.getInt(ctx, k.TotalInodes()); err == nil {
		s.usedInodes.Store(in)
	}
	f := s.format()
	if !f.DirStats && !f.UserGroupQuota {
		return false, nil
	}
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	var loadErr error
	load := func(limits, sp, in string) map[uint64]Quota {
		if loadErr != nil {
			return nil
		}
		m, err := s.e.readQuotaHashes(ctx, limits, sp, in)
		if err != nil {
			loadErr = err
		}
		return m
	}
	var dirs, users, groups map[uint64]Quota
	var tokens map[string]string
	if f.DirStats {
		dirs = load(k.DirQuota(), k.DirQuotaUsedSpace(), k.DirQuotaUsedInodes())
		if tokens, err = s.e.rdb.Do(ctx, s.e.rdb.B().Hgetall().Key(k.QuotaCounts()).Build()).AsStrMap(); err != nil {
			return false, s.e.redisErr("HGETALL "+k.QuotaCounts(), err)
		}
	}
	if f.UserGroupQuota {
		users = load(k.UserQuota(), k.UserQuotaUsedSpace(), k.UserQuotaUsedInodes())
		groups = load(k.GroupQuota(), k.GroupQuotaUsedSpace(), k.GroupQuotaUsedInodes())
	}
	if loadErr != nil {
		return false, loadErr
	}
	s.quotaMu.Lock()
	defer s.quotaMu.Unlock()
	sync := func(q *quota, v Quota) {
		q.maxSpace.Store(v.MaxSpace)
		q.maxInodes.Store(v.MaxInodes)
		q.usedSpace.Store(v.UsedSpace)
		q.usedInodes.Store(v.UsedInodes)
	}
	for ino, v := range dirs {
		q := s.dirQ[Ino(ino)]
		token := tokens[strconv.FormatUint(ino, 10)]
		if q == nil || q.token != token {
			if !exclusive {
				needExclusive = true
				continue
			}
			if q == nil {
				q = &quota{}
				s.dirQ[Ino(ino)] = q
			} else {
				// Counted again since this client loaded it: what is
				// pending here was charged by mutations committed before
				// that count's fence, which the count has (quotafence.go).
				q.newSpace.Store(0)
				q.newInodes.Store(0)
			}
			q.token = token
		}
		sync(q, v)
	}
	for ino := range s.dirQ {
		if _, ok := dirs[uint64(ino)]; !ok {
			delete(s.dirQ, ino)
		}
	}
	// Charging a directory quota reads the changed directory's ancestry
	// from the cache, which must then reflect every change committed
	// before the mutation: its reply must come on the tracked connection.
	s.e.conn.PauseDirectCalls(len(s.dirQ) > 0)
	for _, x := range []struct {
		m      map[uint32]*quota
		loaded map[uint64]Quota
	}{{s.userQ, users}, {s.groupQ, groups}} {
		for id, v := range x.loaded {
			q := x.m[uint32(id)]
			if q == nil {
				q = &quota{}
				x.m[uint32(id)] = q
			}
			sync(q, v)
		}
	}
	return needExclusive, nil
}

// readQuotaHashes reads one family of quota hashes. A quota exists when its
// used-inodes field exists (that is what the official client scans).
func (e *Engine) readQuotaHashes(ctx context.Context, limitsKey, spaceKey, inodesKey string) (map[uint64]Quota, error) {
	res := e.rdb.DoMulti(ctx,
		e.rdb.B().Hgetall().Key(limitsKey).Build(),
		e.rdb.B().Hgetall().Key(spaceKey).Build(),
		e.rdb.B().Hgetall().Key(inodesKey).Build())
	var maps [3]map[string]string
	for i, r := range res {
		m, err := r.AsStrMap()
		if err != nil {
			return nil, e.redisErr("HGETALL quota hashes", err)
		}
		maps[i] = m
	}
	out := make(map[uint64]Quota, len(maps[2]))
	for field, inodes := range maps[2] {
		id, err := strconv.ParseUint(field, 10, 64)
		if err != nil {
			continue
		}
		q := Quota{MaxSpace: -1, MaxInodes: -1}
		if v, ok := maps[0][field]; ok {
			l, err := codec.UnmarshalQuota(v)
			if err != nil {
				return nil, codec.CorruptField(limitsKey, field, err)
			}
			q.MaxSpace, q.MaxInodes = l.MaxSpace, l.MaxInodes
		}
		if q.UsedInodes, err = codec.ParseInt(inodesKey, field, inodes); err != nil {
			return nil, err
		}
		if v, ok := maps[1][field]; ok {
			if q.UsedSpace, err = codec.ParseInt(spaceKey, field, v); err != nil {
				return nil, err
			}
		}
		out[id] = q
	}
	return out, nil
}

// Sync writes this client's pending directory statistics and quota usage and
// waits for the background purges of deleted files it started, so that the
// keyspace reflects everything this client did (tests and tools use it
// before checking a volume).
func (e *Engine) Sync(ctx context.Context) {
	e.purgeWG.Wait()
	e.stats.flushAll(ctx)
}
