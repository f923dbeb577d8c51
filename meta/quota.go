package meta

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Quota administration, as `juicefs quota` does it (HandleQuota), on
// Quotas. Directory
// quotas are keyed by a path resolved from the volume's real root, user and
// group quotas by a decimal uid or gid. Limits <= 0 mean unlimited; −1 is
// what "no limit" is stored as. Usage of a directory quota is the recursive
// usage of the tree below the directory, the directory itself excluded; usage
// of a user or group quota is what the owner's nodes are charged.

// Quotas sets, lists, checks and repairs the quotas of a volume (the
// `quota` command). It acts as root. Get one with Engine.Quotas.
type Quotas struct{ e *Engine }

// Quotas returns the engine's quota administration.
func (e *Engine) Quotas() Quotas { return Quotas{e} }

// Quota types (see codec.QuotaType).
const (
	QuotaDir   = codec.QuotaDir
	QuotaUser  = codec.QuotaUser
	QuotaGroup = codec.QuotaGroup
	QuotaAll   = codec.QuotaAll
)

// QuotaUsage is a usage counted by a scan.
type QuotaUsage struct{ Space, Inodes int64 }

// QuotaMismatch is a quota whose stored usage differs from the recount.
type QuotaMismatch struct {
	Key     string // the quota's path, "uid:N" or "gid:N"
	Stored  Quota  // limits and stored usage
	Actual  QuotaUsage
	Missing bool // the recount found usage of an id that has no quota entry
}

// QuotaCheckResult is what Quotas.Check found.
type QuotaCheckResult struct {
	// Quotas are the quotas found consistent (and, for a repaired
	// directory quota, its new values), keyed by path, "uid:N" or "gid:N".
	Quotas     map[string]Quota
	Mismatches []QuotaMismatch
	Repaired   bool
}

// quotaTarget resolves a quota key: a directory path (resolved from the
// real root, missing components created with create) or a decimal id.
func (e *Engine) quotaTarget(ctx context.Context, qtype codec.QuotaType, key string, create bool) (uint64, error) {
	switch qtype {
	case QuotaDir:
		ino, err := e.resolveDir(ctx, key, create)
		if err != nil {
			return 0, fmt.Errorf("resolve dir %s: %w", key, err)
		}
		if ino.IsTrash() {
			return 0, errors.New("no quota for any trash directory")
		}
		return uint64(ino), nil
	case QuotaUser, QuotaGroup:
		id, err := strconv.ParseUint(key, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse quota key %q: %w", key, err)
		}
		return id, nil
	}
	return 0, fmt.Errorf("invalid quota type %d", qtype)
}

// resolveDir walks path from the real root as root, creating missing
// directories (mode 0777 minus the caller's umask) with create.
func (e *Engine) resolveDir(ctx context.Context, path string, create bool) (Ino, error) {
	umask := CallerOf(ctx).Umask
	ctx = WithCaller(ctx, rootCaller)
	ino := RootInode
	for _, name := range strings.Split(path, "/") {
		if name == "" {
			continue
		}
		child, attr, err := e.Lookup(ctx, ino, name)
		if errors.Is(err, syscall.ENOENT) && create {
			child, attr, err = e.Mkdir(ctx, ino, name, 0o777, umask)
			var exists *ExistsError
			if errors.As(err, &exists) {
				child, attr, err = exists.Inode, exists.Attr, nil
			}
		}
		if err != nil {
			return 0, err
		}
		if attr.Typ != codec.TypeDirectory {
			return 0, syscall.ENOTDIR
		}
		ino = child
	}
	return ino, nil
}

// Set sets the limits of a quota, creating it if needed. key is a
// directory path (QuotaDir; with create, missing directories are made) or a
// uid/gid. A negative limit keeps the current one (unlimited for a new
// quota). Setting a directory quota turns on the volume's directory
// statistics; a user or group quota turns on user/group quotas and rescans
// the usage of every user and group. A new directory quota starts with the
// usage of its tree counted entry by entry (whatever strict says) while the
// quota fence holds back rueidisfs's changes inside the directory (see
// quotafence.go), so that the usage is exact. It returns the quota as
// stored.
func (qs Quotas) Set(ctx context.Context, qtype codec.QuotaType, key string, maxSpace, maxInodes int64, strict, create bool) (Quota, error) {
	e := qs.e
	if e.readOnly() {
		return Quota{}, syscall.EROFS
	}
	id, err := e.quotaTarget(ctx, qtype, key, create)
	if err != nil {
		return Quota{}, err
	}
	scan := false
	if f := e.format.Load(); f != nil {
		nf := *f
		what := ""
		if qtype == QuotaDir && !f.DirStats {
			nf.DirStats, what = true, "directory statistics"
		}
		if qtype != QuotaDir && !f.UserGroupQuota {
			nf.UserGroupQuota, what, scan = true, "user/group quotas", true
		}
		if what != "" {
			if err := e.Init(ctx, &nf, false); err != nil {
				e.log.Warn(fmt.Sprintf("turn on %s: %v", what, err))
			}
		}
	}
	stored := false
	if qtype == QuotaDir {
		if stored, err = e.setNewDirQuota(ctx, Ino(id), maxSpace, maxInodes); err != nil {
			return Quota{}, fmt.Errorf("set quota of %s: %w", key, err)
		}
	}
	if !stored {
		if _, err := e.storeQuota(ctx, qtype, id, maxSpace, maxInodes, -1, -1); err != nil {
			return Quota{}, err
		}
	}
	switch {
	case scan:
		if err := qs.ScanUserGroupUsage(ctx); err != nil {
			return Quota{}, err
		}
	}
	e.reloadQuotas(ctx)
	q, err := e.readQuota(ctx, qtype, id)
	if err != nil || q == nil {
		return Quota{}, err
	}
	return *q, nil
}

// setNewDirQuota stores a directory quota that does not exist yet with the
// exact usage of its tree (see countUnderFence). It reports false when the
// quota exists (its limits are then the caller's to store).
func (e *Engine) setNewDirQuota(ctx context.Context, dir Ino, maxSpace, maxInodes int64) (bool, error) {
	if q, err := e.readQuota(ctx, QuotaDir, uint64(dir)); err != nil || q != nil {
		return false, err
	}
	// What this client changed (the directories --create made) reaches
	// Redis now: a command's engine has no session to flush it later.
	e.stats.flushAll(ctx)
	// Another `quota set` may have stored it before the fence was ours.
	exists := func() (bool, error) {
		q, err := e.readQuota(ctx, QuotaDir, uint64(dir))
		return q != nil, err
	}
	return e.countUnderFence(ctx, dir, exists, func(tx *Tx, used QuotaUsage) error {
		_, err := e.queueQuota(tx, QuotaDir, uint64(dir), maxSpace, maxInodes, used.Space, used.Inodes)
		return err
	})
}

// countUnderFence stores the exact usage of directory dir's tree although
// rueidisfs clients write (see quotafence.go): it takes the fence, runs
// skip (nil, or false: go on), counts the tree entry by entry, and in one
// transaction that checks the fence is still its own lets store queue the
// quota's writes with the usage counted, gives the quota a new count token
// (the deltas other clients charged before the fence are then dropped by
// their flushes, see quotaflush.go) and sets the fence to its stored value.
// It reports whether the quota was stored.
func (e *Engine) countUnderFence(ctx context.Context, dir Ino, skip func() (bool, error), store func(tx *Tx, used QuotaUsage) error) (bool, error) {
	fence, stopRenewal, err := e.takeFence(ctx, dir)
	if err != nil {
		return false, err
	}
	stored := false
	defer func() {
		stopRenewal()
		if !stored {
			e.releaseFence(context.WithoutCancel(ctx), fence)
		}
	}()
	if skip != nil {
		if done, err := skip(); err != nil || done {
			return false, err
		}
	}
	start := time.Now()
	sum, err := e.GetSummary(ctx, dir, true, true)
	if err != nil {
		return false, fmt.Errorf("count the usage of directory %d: %w", dir, err)
	}
	if hook := e.qfence.beforeStore; hook != nil {
		hook()
	}
	used := QuotaUsage{Space: int64(sum.Size) - 4096, Inodes: int64(sum.Dirs+sum.Files) - 1}
	counted := strings.Replace(fence, fenceCounting, fenceStored, 1)
	err = e.runTx(ctx, func(tx *Tx) error {
		v, present, err := tx.Get(e.qfence.key)
		if err != nil {
			return err
		}
		if !present || v != fence {
			return errFenceLost
		}
		if err := store(tx, used); err != nil {
			return err
		}
		tx.HSet(e.keys.QuotaCounts(), dir.String(), counted)
		tx.Set(e.qfence.key, counted)
		return nil
	})
	if errors.Is(err, errFenceLost) {
		return false, fmt.Errorf("the quota was not stored: counting the usage of its %d entries took %v, longer than the fence's lease, "+
			"so writers were let through and the count may be off (was the command stopped or stalled?); run the command again",
			used.Inodes, time.Since(start).Round(time.Millisecond))
	}
	if !applied(err) {
		return false, err
	}
	stored = true
	if err := e.learnFence(ctx, counted, true); err != nil {
		e.log.Warn(err.Error())
	}
	return true, err // ErrNotReplicated (wait-replicas): stored, and the caller says so
}

// reloadQuotas makes this engine enforce quota changes at once instead of
// at its next heartbeat.
func (e *Engine) reloadQuotas(ctx context.Context) {
	if err := e.stats.loadQuotas(ctx); err != nil {
		e.log.Warn(fmt.Sprintf("load quotas: %v", err))
	}
}

// storeQuota writes a quota (doSetQuota): limits replace the stored ones
// where >= 0 (a new quota starts unlimited); usage is written where >= 0,
// and set to 0 for a new quota. It reports whether the quota is new.
func (e *Engine) storeQuota(ctx context.Context, qtype codec.QuotaType, id uint64, maxSpace, maxInodes, usedSpace, usedInodes int64) (bool, error) {
	created := false
	err := e.runTx(ctx, func(tx *Tx) (err error) {
		created, err = e.queueQuota(tx, qtype, id, maxSpace, maxInodes, usedSpace, usedInodes)
		return err
	})
	return created, err
}

// queueQuota queues the writes of storeQuota in tx; it reports whether the
// quota is new.
func (e *Engine) queueQuota(tx *Tx, qtype codec.QuotaType, id uint64, maxSpace, maxInodes, usedSpace, usedInodes int64) (bool, error) {
	limitsKey, spaceKey, inodesKey, ok := e.keys.Quota(qtype)
	if !ok {
		return false, fmt.Errorf("invalid quota type %d", qtype)
	}
	field := strconv.FormatUint(id, 10)
	if qtype == QuotaDir {
		if err := e.txQuotaDirLive(tx, Ino(id)); err != nil {
			return false, err
		}
	}
	v, present, err := tx.HGet(limitsKey, field)
	if err != nil {
		return false, err
	}
	limits := codec.UnlimitedQuota()
	created := !present
	if present {
		if limits, err = codec.UnmarshalQuota(v); err != nil {
			return false, codec.CorruptField(limitsKey, field, err)
		}
	}
	if maxSpace >= 0 {
		limits.MaxSpace = maxSpace
	}
	if maxInodes >= 0 {
		limits.MaxInodes = maxInodes
	}
	tx.HSet(limitsKey, field, string(limits.Marshal()))
	if usedSpace >= 0 {
		tx.HSet(spaceKey, field, strconv.FormatInt(usedSpace, 10))
	} else if created {
		tx.HSet(spaceKey, field, "0")
	}
	if usedInodes >= 0 {
		tx.HSet(inodesKey, field, strconv.FormatInt(usedInodes, 10))
	} else if created {
		tx.HSet(inodesKey, field, "0")
	}
	tx.Log("SETQUOTA(%d,%d,%d,%d)", qtype, id, maxSpace, maxInodes)
	return created, nil
}

// txQuotaDirLive checks, within tx, that directory dir still exists outside
// the trash: a quota stored for a directory removed meanwhile (its rmdir
// deleted no quota yet) would stay behind as a stray one. (The commit
// depends on the attribute's parent, not on its times: changes inside the
// directory do not conflict with a limit update.)
func (e *Engine) txQuotaDirLive(tx *Tx, dir Ino) error {
	key := e.keys.Inode(dir)
	v, present, err := tx.GetAttrBytes(key)
	if err != nil {
		return err
	}
	if !present {
		return fmt.Errorf("directory %d was removed: %w", dir, syscall.ENOENT)
	}
	a, err := e.decodeAttr(key, v)
	if err != nil {
		return err
	}
	if a.Parent.IsTrash() {
		return fmt.Errorf("directory %d was moved to the trash: %w", dir, syscall.ENOENT)
	}
	return nil
}

// readQuota reads one quota; nil when it has no limits entry.
func (e *Engine) readQuota(ctx context.Context, qtype codec.QuotaType, id uint64) (*Quota, error) {
	keys, ok := e.quotaKeys(qtype)
	if !ok {
		return nil, fmt.Errorf("invalid quota type %d", qtype)
	}
	field := strconv.FormatUint(id, 10)
	var vals [3]*string
	for i, r := range e.rdb.DoMulti(ctx,
		e.rdb.B().Hget().Key(keys[0]).Field(field).Build(),
		e.rdb.B().Hget().Key(keys[1]).Field(field).Build(),
		e.rdb.B().Hget().Key(keys[2]).Field(field).Build()) {
		v, err := r.ToString()
		if isNil(err) {
			continue
		}
		if err != nil {
			return nil, e.redisErr("HGET "+keys[i], err)
		}
		vals[i] = &v
	}
	return decodeQuota(keys, field, vals)
}

// txQuota reads one quota in tx (its fields become conditions); nil when
// it has no limits entry.
func (e *Engine) txQuota(tx *Tx, qtype codec.QuotaType, id uint64) (*Quota, error) {
	keys, ok := e.quotaKeys(qtype)
	if !ok {
		return nil, fmt.Errorf("invalid quota type %d", qtype)
	}
	field := strconv.FormatUint(id, 10)
	var vals [3]*string
	for i, key := range keys {
		v, present, err := tx.HGet(key, field)
		if err != nil {
			return nil, err
		}
		if present {
			vals[i] = &v
		}
	}
	return decodeQuota(keys, field, vals)
}

// quotaKeys returns the limits, used-space and used-inodes hashes of a
// quota family.
func (e *Engine) quotaKeys(qtype codec.QuotaType) ([3]string, bool) {
	limits, space, inodes, ok := e.keys.Quota(qtype)
	return [3]string{limits, space, inodes}, ok
}

// decodeQuota decodes one quota's limits, used space and used inodes
// (nil: absent) read from keys; nil when it has no limits.
func decodeQuota(keys [3]string, field string, vals [3]*string) (*Quota, error) {
	if vals[0] == nil {
		return nil, nil
	}
	limits, err := codec.UnmarshalQuota(*vals[0])
	if err != nil {
		return nil, codec.CorruptField(keys[0], field, err)
	}
	q := &Quota{MaxSpace: limits.MaxSpace, MaxInodes: limits.MaxInodes}
	for i, dst := range []*int64{&q.UsedSpace, &q.UsedInodes} {
		if vals[i+1] == nil {
			continue
		}
		if *dst, err = codec.ParseInt(keys[i+1], field, *vals[i+1]); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// Get returns a quota, or nil when it does not exist.
func (qs Quotas) Get(ctx context.Context, qtype codec.QuotaType, key string) (*Quota, error) {
	e := qs.e
	id, err := e.quotaTarget(ctx, qtype, key, false)
	if err != nil {
		return nil, err
	}
	return e.readQuota(ctx, qtype, id)
}

// Delete removes a directory quota (limits and usage), or resets a user
// or group quota to unlimited (its usage is kept, as it keeps being
// maintained).
func (qs Quotas) Delete(ctx context.Context, qtype codec.QuotaType, key string) error {
	e := qs.e
	id, err := e.quotaTarget(ctx, qtype, key, false)
	if err != nil {
		return err
	}
	limitsKey, spaceKey, inodesKey, _ := e.keys.Quota(qtype)
	field := strconv.FormatUint(id, 10)
	err = e.runTx(ctx, func(tx *Tx) error {
		if qtype == QuotaDir {
			tx.HDel(limitsKey, field)
			tx.HDel(spaceKey, field)
			tx.HDel(inodesKey, field)
			// Usage clients still hold for the deleted quota must not
			// recreate it (HSETNX) nor land in one set again later.
			tx.HSet(e.keys.QuotaCounts(), field, deletedToken())
		} else {
			tx.HSet(limitsKey, field, string(codec.UnlimitedQuota().Marshal()))
		}
		tx.Log("DELQUOTA(%d,%d)", qtype, id)
		return nil
	})
	if applied(err) {
		e.reloadQuotas(ctx)
	}
	return err
}

// deletedToken is the count token (Keys.QuotaCounts) of a directory quota
// that was deleted, by `quota delete` or with its directory: it differs from
// every token a client may have charged usage under, so that their flushes
// of that usage are refused (see quotaflush.go) instead of recreating the
// quota (HSETNX).
func deletedToken() string { return fmt.Sprintf("deleted %016x", rand.Uint64()) }

// List returns the quotas with a limit: with QuotaAll every directory
// quota (when directory statistics are on), user and group quota (when
// user/group quotas are on); with another type only the quota named by key.
// Directory quotas are keyed by their first path (sorted) or "inode:N" when
// no path is found, users by "uid:N", groups by "gid:N". (The official
// client lists nothing for `quota list --path`; here the path's quota is
// listed.)
func (qs Quotas) List(ctx context.Context, qtype codec.QuotaType, key string) (map[string]Quota, error) {
	e := qs.e
	var id uint64
	if qtype != QuotaAll {
		var err error
		if id, err = e.quotaTarget(ctx, qtype, key, false); err != nil {
			return nil, err
		}
	}
	f := e.format.Load()
	if f == nil {
		f = &codec.Format{}
	}
	out := map[string]Quota{}
	for _, fam := range []struct {
		t       codec.QuotaType
		enabled bool
		prefix  string
	}{{QuotaDir, f.DirStats, ""}, {QuotaUser, f.UserGroupQuota, "uid:"}, {QuotaGroup, f.UserGroupQuota, "gid:"}} {
		if !fam.enabled || (qtype != QuotaAll && qtype != fam.t) {
			continue
		}
		limits, space, inodes, _ := e.keys.Quota(fam.t)
		m, err := e.readQuotaHashes(ctx, limits, space, inodes)
		if err != nil {
			return nil, err
		}
		for k, q := range m {
			if q.MaxSpace == -1 && q.MaxInodes == -1 || (qtype != QuotaAll && k != id) {
				continue
			}
			if fam.t != QuotaDir {
				out[fam.prefix+strconv.FormatUint(k, 10)] = q
				continue
			}
			paths, _ := e.GetPaths(ctx, Ino(k))
			if len(paths) == 0 {
				out["inode:"+strconv.FormatUint(k, 10)] = q
				continue
			}
			sort.Strings(paths)
			out[paths[0]] = q
		}
	}
	return out, nil
}

// Check compares stored quota usage with a recount. For a directory
// quota (key is its path) the recount is a recursive summary (strict:
// entry by entry); for QuotaUser or QuotaGroup (key ignored) every user and
// group quota is compared with a scan of the whole volume
// (Quotas.ScanUserGroupUsage's rules). With repair, a directory quota's
// usage is counted entry by entry under the quota fence and stored
// (repairDirQuota: exact while rueidisfs clients write); users' and
// groups' differing usage is overwritten (every stored usage is reset
// first, then the scanned usage stored). Without repair, a difference
// makes the error wrap ErrQuotaInconsistent; the result is returned either
// way.
func (qs Quotas) Check(ctx context.Context, qtype codec.QuotaType, key string, strict, repair bool) (*QuotaCheckResult, error) {
	e := qs.e
	if repair && e.readOnly() {
		return nil, syscall.EROFS
	}
	if !e.readOnly() {
		e.stats.flushAll(ctx)
	}
	if qtype == QuotaUser || qtype == QuotaGroup {
		return e.checkUserGroupQuotas(ctx, repair)
	}
	id, err := e.quotaTarget(ctx, qtype, key, false)
	if err != nil {
		return nil, err
	}
	q, err := e.readQuota(ctx, QuotaDir, id)
	if err != nil {
		return nil, err
	}
	if q == nil {
		return nil, fmt.Errorf("no quota for inode %d path %s", id, key)
	}
	if repair {
		return e.repairDirQuota(ctx, key, Ino(id))
	}
	sum, err := e.GetSummary(ctx, Ino(id), true, strict)
	if err != nil {
		return nil, err
	}
	actual := QuotaUsage{Space: int64(sum.Size) - 4096, Inodes: int64(sum.Dirs+sum.Files) - 1}
	res := &QuotaCheckResult{Quotas: map[string]Quota{}}
	if q.UsedSpace == actual.Space && q.UsedInodes == actual.Inodes {
		res.Quotas[key] = *q
		return res, nil
	}
	res.Mismatches = append(res.Mismatches, QuotaMismatch{Key: key, Stored: *q, Actual: actual})
	return res, &quotaError{fmt.Sprintf("quota of %s is inconsistent, please repair it with --repair flag", key)}
}

// repairDirQuota stores the usage of directory dir's quota (key is its
// path) counted entry by entry under the quota fence, as `quota set` does
// for a new quota (countUnderFence), so that it is exact although
// rueidisfs clients write or hold unflushed usage. It is stored even when
// it equals the stored usage: the new count token makes the flushes of
// usage the count already has drop it.
func (e *Engine) repairDirQuota(ctx context.Context, key string, dir Ino) (*QuotaCheckResult, error) {
	res := &QuotaCheckResult{Quotas: map[string]Quota{}}
	var before, after Quota
	_, err := e.countUnderFence(ctx, dir, nil, func(tx *Tx, used QuotaUsage) error {
		q, err := e.txQuota(tx, QuotaDir, uint64(dir))
		if err != nil {
			return err
		}
		if q == nil {
			return fmt.Errorf("no quota for inode %d path %s (deleted meanwhile)", dir, key)
		}
		before, after = *q, *q
		after.UsedSpace, after.UsedInodes = used.Space, used.Inodes
		_, err = e.queueQuota(tx, QuotaDir, uint64(dir), -1, -1, used.Space, used.Inodes)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("repair quota of %s: %w", key, err)
	}
	res.Quotas[key] = after
	if before != after {
		res.Mismatches = append(res.Mismatches, QuotaMismatch{Key: key, Stored: before,
			Actual: QuotaUsage{Space: after.UsedSpace, Inodes: after.UsedInodes}})
		res.Repaired = true
	}
	e.reloadQuotas(ctx)
	return res, nil
}

func (e *Engine) checkUserGroupQuotas(ctx context.Context, repair bool) (*QuotaCheckResult, error) {
	users, groups, err := e.scanUserGroupUsage(ctx)
	if err != nil {
		return nil, fmt.Errorf("scan global user group usage: %w", err)
	}
	res := &QuotaCheckResult{Quotas: map[string]Quota{}}
	families := []struct {
		t      codec.QuotaType
		prefix string
		usage  map[uint32]QuotaUsage
		stored map[uint64]Quota
	}{{QuotaUser, "uid:", users, nil}, {QuotaGroup, "gid:", groups, nil}}
	for i := range families {
		fam := &families[i]
		limits, space, inodes, _ := e.keys.Quota(fam.t)
		if fam.stored, err = e.readQuotaHashes(ctx, limits, space, inodes); err != nil {
			return nil, fmt.Errorf("load user/group quotas: %w", err)
		}
		ids := make([]uint64, 0, len(fam.usage))
		for id := range fam.usage {
			ids = append(ids, uint64(id))
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, id := range ids {
			u := fam.usage[uint32(id)]
			k := fam.prefix + strconv.FormatUint(id, 10)
			q, ok := fam.stored[id]
			switch {
			case !ok:
				res.Mismatches = append(res.Mismatches, QuotaMismatch{Key: k, Actual: u, Missing: true})
			case q.UsedSpace != u.Space || q.UsedInodes != u.Inodes:
				res.Mismatches = append(res.Mismatches, QuotaMismatch{Key: k, Stored: q, Actual: u})
			default:
				res.Quotas[k] = q
			}
		}
		for id, q := range fam.stored {
			if _, ok := fam.usage[uint32(id)]; !ok && (q.UsedSpace != 0 || q.UsedInodes != 0) {
				k := fam.prefix + strconv.FormatUint(id, 10)
				res.Mismatches = append(res.Mismatches, QuotaMismatch{Key: k, Stored: q})
			}
		}
	}
	if len(res.Mismatches) == 0 {
		return res, nil
	}
	if !repair {
		return res, &quotaError{"user/group quota is inconsistent, please repair it with --repair flag"}
	}
	for _, fam := range families {
		if err := e.resetUsage(ctx, fam.t); err != nil {
			return res, fmt.Errorf("clean %s quotas: %w", strings.TrimSuffix(fam.prefix, ":"), err)
		}
		for id, u := range fam.usage {
			if _, err := e.storeQuota(ctx, fam.t, uint64(id), -1, -1, u.Space, u.Inodes); err != nil {
				return res, fmt.Errorf("set %s quota: %w", strings.TrimSuffix(fam.prefix, ":"), err)
			}
		}
	}
	res.Repaired = true
	e.reloadQuotas(ctx)
	return res, nil
}

// resetUsage sets the usage of every existing quota of a family to 0 (a
// quota exists when it has limits or usage; the official client only
// resets those with limits, leaving usage without limits wrong forever).
func (e *Engine) resetUsage(ctx context.Context, qtype codec.QuotaType) error {
	limits, space, inodes, _ := e.keys.Quota(qtype)
	seen := map[string]bool{}
	var fields []string
	for _, key := range []string{limits, inodes} {
		if err := e.hscan(ctx, key, func(field, _ string) error {
			if !seen[field] {
				seen[field] = true
				fields = append(fields, field)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	for start := 0; start < len(fields); start += 1000 {
		batch := fields[start:min(start+1000, len(fields))]
		err := e.runTx(ctx, func(tx *Tx) error {
			for _, f := range batch {
				tx.HSet(space, f, "0")
				tx.HSet(inodes, f, "0")
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ScanUserGroupUsage recounts the usage of every user and group from the
// whole volume and stores it (limits are kept; ids the scan does not find
// keep their stored usage), as the official client does when user/group
// quotas are turned on. The counting rules are the official client's: a
// regular file is charged align4K(length) and a directory 4096, one inode
// each; a hard-linked file once; the root is not counted; the trash is
// walked when enabled, and files kept open after deletion (sustained) are
// counted. Symlinks and special files are not counted by the scan (unlike
// the incremental updates, which charge them 4096 bytes and an inode).
func (qs Quotas) ScanUserGroupUsage(ctx context.Context) error {
	e := qs.e
	if e.readOnly() {
		return syscall.EROFS
	}
	e.stats.flushAll(ctx)
	users, groups, err := e.scanUserGroupUsage(ctx)
	if err != nil {
		return fmt.Errorf("scan global user group usage: %w", err)
	}
	for _, fam := range []struct {
		t     codec.QuotaType
		usage map[uint32]QuotaUsage
	}{{QuotaUser, users}, {QuotaGroup, groups}} {
		for id, u := range fam.usage {
			if _, err := e.storeQuota(ctx, fam.t, uint64(id), -1, -1, u.Space, u.Inodes); err != nil {
				e.log.Warn(fmt.Sprintf("save quota of id %d (type %d): %v", id, fam.t, err))
			}
		}
	}
	e.reloadQuotas(ctx)
	return nil
}

// scanUserGroupUsage walks the volume breadth first and counts usage per
// uid and gid (see ScanUserGroupUsage).
func (e *Engine) scanUserGroupUsage(ctx context.Context) (users, groups map[uint32]QuotaUsage, err error) {
	users, groups = map[uint32]QuotaUsage{}, map[uint32]QuotaUsage{}
	charge := func(a *Attr, space int64) {
		u := users[a.Uid]
		users[a.Uid] = QuotaUsage{u.Space + space, u.Inodes + 1}
		g := groups[a.Gid]
		groups[a.Gid] = QuotaUsage{g.Space + space, g.Inodes + 1}
	}
	queue := []Ino{RootInode}
	if f := e.format.Load(); f != nil && f.TrashDays > 0 {
		if _, ok, err := e.Inspect().Attr(ctx, TrashInode); err == nil && ok {
			queue = append(queue, TrashInode)
		}
	}
	visited := map[Ino]bool{}
	files := map[Ino]bool{}
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		dir := queue[0]
		queue = queue[1:]
		visited[dir] = true
		entries, err := e.Inspect().Entries(ctx, dir)
		if err != nil {
			e.log.Warn(fmt.Sprintf("readdir %d: %v", dir, err))
			continue
		}
		for i := range entries {
			ent := &entries[i]
			if !ent.HasAttr {
				continue
			}
			switch ent.Attr.Typ {
			case codec.TypeFile:
				if ent.Attr.Nlink > 1 {
					if files[ent.Inode] {
						continue
					}
					files[ent.Inode] = true
				}
				charge(&ent.Attr, int64(codec.Align4K(ent.Attr.Length)))
			case codec.TypeDirectory:
				charge(&ent.Attr, 4096)
				if !visited[ent.Inode] {
					queue = append(queue, ent.Inode)
				}
			}
		}
	}
	sustained, err := e.Inspect().Sustained(ctx)
	if err != nil {
		e.log.Warn(fmt.Sprintf("scan sustained inodes for user/group quota: %v", err))
	}
	for i := range sustained {
		charge(&sustained[i].Attr, int64(codec.Align4K(sustained[i].Attr.Length)))
	}
	return users, groups, nil
}
