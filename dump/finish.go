package dump

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// loadPlan is what writing needs besides the spool: the link count of every
// hard-linked inode, whose spooled attribute gets that count and Parent 0.
type loadPlan struct {
	links map[codec.Ino]uint32
}

// finish checks what could only be checked at the end, and appends the
// commands computed from the whole document to the spool, the setting last
// (so that a database whose load is interrupted never looks formatted).
func (p *parser) finish(now time.Time) (*loadPlan, error) {
	if err := p.format.Validate(); err != nil {
		return nil, &FormatError{Offset: p.settingOffset, Path: "$.Setting", Err: err}
	}
	if err := meta.CheckCompatible(p.format); err != nil {
		return nil, &FormatError{Offset: p.settingOffset, Path: "$.Setting", Err: err}
	}
	for ino, off := range p.delFileAt {
		if ino == uint64(codec.RootInode) || p.isSeen(codec.Ino(ino)) {
			// gc would delete the data of a file the tree still has.
			return nil, &FormatError{Offset: off, Path: "$.DelFiles", Err: fmt.Errorf("inode %d is queued for deletion but is in the tree", ino)}
		}
	}
	plan := &loadPlan{}
	var err error
	if plan.links, err = p.hardLinks(); err != nil {
		return nil, err
	}
	steps := []func() error{p.sliceRefs, p.aclHash, p.dirQuotaHashes, p.userGroupQuotas,
		func() error { return p.counterKeys() }, func() error { return p.trashRoot(now) }}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	setting, err := p.format.MarshalSetting()
	if err != nil {
		return nil, fmt.Errorf("encode the volume format: %w", err)
	}
	if err := p.sp.add("SET", p.keys.Setting(), string(setting)); err != nil {
		return nil, err
	}
	if p.sustained > 0 {
		p.log.Warn("sustained inodes (deleted files still open when the dump was made) are not restored; their data objects are leaked",
			"inodes", p.sustained)
	}
	if p.seenTop["ChangeLog"] {
		p.log.Warn("the change log of the dump is not restored")
	}
	p.log.Info("loaded counters", "usedSpace", p.usedSpace, "usedInodes", p.totalInodes,
		"nextInode", p.maxIno+1, "nextChunk", p.maxChunk+1, "nextTrash", p.maxTrash)
	p.log.Info("dumped counters", "usedSpace", p.counters.UsedSpace, "usedInodes", p.counters.UsedInodes,
		"nextInode", p.counters.NextInode, "nextChunk", p.counters.NextChunk, "nextTrash", p.counters.NextTrash)
	return plan, nil
}

// hardLinks checks that every later occurrence of an inode is identical to
// its first one and queues the parents hash of each hard-linked inode. The
// first occurrences are found again in the spool, which holds each one's
// parent (in the attribute) and fingerprint.
func (p *parser) hardLinks() (map[codec.Ino]uint32, error) {
	if len(p.dups) == 0 {
		return nil, nil
	}
	type first struct {
		parent codec.Ino
		fp     uint64
		found  bool
	}
	firsts := make(map[codec.Ino]*first)
	for _, d := range p.dups {
		firsts[d.ino] = &first{}
	}
	rd, err := p.sp.reader()
	if err != nil {
		return nil, err
	}
	var rec spoolRecord
	for {
		err := rd.next(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		f := firsts[rec.ino]
		if rec.kind != kindAttr || f == nil {
			continue
		}
		var a codec.Attr
		if err := codec.UnmarshalAttr(rec.args[2], &a); err != nil {
			return nil, fmt.Errorf("%w: %v", errSpoolCorrupt, err)
		}
		f.parent, f.fp, f.found = a.Parent, rec.fp, true
	}
	if err := p.sp.appendMode(); err != nil {
		return nil, err
	}
	parents := make(map[codec.Ino]map[codec.Ino]int64, len(firsts))
	for _, d := range p.dups {
		f := firsts[d.ino]
		if !f.found {
			return nil, fmt.Errorf("%w: first occurrence of inode %d not found", errSpoolCorrupt, d.ino)
		}
		if f.fp != d.fp {
			return nil, &FormatError{Offset: d.offset, Path: d.path,
				Err: fmt.Errorf("inode %d differs from its first occurrence (every name of a hard-linked file must show the same attributes and content)", d.ino)}
		}
		if parents[d.ino] == nil {
			parents[d.ino] = map[codec.Ino]int64{f.parent: 1}
		}
		parents[d.ino][d.parent]++
	}
	links := make(map[codec.Ino]uint32, len(parents))
	for _, ino := range slices.Sorted(maps.Keys(parents)) {
		args := []string{"HSET", p.keys.Parents(ino)}
		var n int64
		for _, parent := range slices.Sorted(maps.Keys(parents[ino])) {
			c := parents[ino][parent]
			n += c
			args = append(args, parent.String(), strconv.FormatInt(c, 10))
		}
		links[ino] = uint32(min(n, 1<<32-1))
		if err := p.sp.add(args...); err != nil {
			return nil, err
		}
	}
	return links, nil
}

// sliceRefs queues sliceRef fields for slices referenced by more than one
// record: the count minus one.
func (p *parser) sliceRefs() error {
	slices.SortFunc(p.refs, func(a, b sliceKey) int {
		if c := cmp.Compare(a.id, b.id); c != 0 {
			return c
		}
		return cmp.Compare(a.size, b.size)
	})
	batch := newCmdBatch(p.sp, 2*hashBatch, "HSET", p.keys.SliceRef())
	for i := 0; i < len(p.refs); {
		j := i + 1
		for j < len(p.refs) && p.refs[j] == p.refs[i] {
			j++
		}
		if j-i > 1 {
			if err := batch.add(p.keys.SliceRefField(p.refs[i].id, p.refs[i].size), strconv.Itoa(j-i-1)); err != nil {
				return err
			}
		}
		i = j
	}
	p.refs = nil
	return batch.flush()
}

// aclHash queues the ACL rules and aclMaxId (nothing without rules).
func (p *parser) aclHash() error {
	if len(p.aclRules) == 0 {
		return nil
	}
	batch := newCmdBatch(p.sp, 2*hashBatch, "HSET", p.keys.ACL())
	for i, r := range p.aclRules {
		if err := batch.add(strconv.Itoa(i+1), r); err != nil {
			return err
		}
	}
	if err := batch.flush(); err != nil {
		return err
	}
	return p.sp.add("SET", p.keys.ACLMaxID(), strconv.Itoa(len(p.aclRules)))
}

// quotaLimits applies juicefs's rule when setting a quota on a new entry:
// a negative limit is stored as -1 (unlimited).
func quotaLimits(q dumpedQuota) codec.QuotaLimits {
	l := codec.UnlimitedQuota()
	if q.MaxSpace >= 0 {
		l.MaxSpace = q.MaxSpace
	}
	if q.MaxInodes >= 0 {
		l.MaxInodes = q.MaxInodes
	}
	return l
}

// setQuotas queues the three hashes of a quota family.
func (p *parser) setQuotas(t codec.QuotaType, ids []uint64, limits func(uint64) codec.QuotaLimits, used func(uint64) usage) error {
	lk, sk, ik, _ := p.keys.Quota(t)
	for start := 0; start < len(ids); start += hashBatch {
		l, s, n := []string{"HSET", lk}, []string{"HSET", sk}, []string{"HSET", ik}
		for _, id := range ids[start:min(start+hashBatch, len(ids))] {
			f := strconv.FormatUint(id, 10)
			u := used(id)
			l = append(l, f, string(limits(id).Marshal()))
			s = append(s, f, strconv.FormatInt(u.space, 10))
			n = append(n, f, strconv.FormatInt(u.inodes, 10))
		}
		for _, args := range [][]string{l, s, n} {
			if err := p.sp.add(args...); err != nil {
				return err
			}
		}
	}
	return nil
}

// dirQuotaHashes queues the directory quotas with the usage computed from
// the tree. A quota is kept only for a directory of the loaded tree; with a
// sub-directory dump, the sub-directory's own quota moves to the new root
// and the old root's is dropped.
func (p *parser) dirQuotaHashes() error {
	quotas := map[uint64]dumpedQuota{}
	for id, q := range p.dirQuotas {
		ino := codec.Ino(id)
		switch {
		case p.rootDumpedIno != codec.RootInode && ino == p.rootDumpedIno:
			ino = codec.RootInode
		case p.rootDumpedIno != codec.RootInode && ino == codec.RootInode:
			p.log.Warn("the quota of the old root is not loaded with a sub-directory dump")
			continue
		}
		if _, ok := p.dirUsage[ino]; !ok {
			p.log.Warn("quota dropped: no such directory in the dumped tree", "inode", id)
			continue
		}
		quotas[uint64(ino)] = q
	}
	ids := slices.Sorted(maps.Keys(quotas))
	return p.setQuotas(codec.QuotaDir, ids,
		func(id uint64) codec.QuotaLimits { return quotaLimits(quotas[id]) },
		func(id uint64) usage { return p.dirUsage[codec.Ino(id)] })
}

// userGroupQuotas queues user and group quotas with their usage, computed as
// the official full scan does, when the dump has any or the volume enables
// them; every owner met gets an entry.
func (p *parser) userGroupQuotas() error {
	if len(p.userQuotas)+len(p.groupQuotas) == 0 && !p.format.UserGroupQuota {
		return nil
	}
	users, groups := map[uint64]usage{}, map[uint64]usage{}
	merge := func(ug *ugUsage) {
		for id, u := range ug.users {
			v := users[uint64(id)]
			users[uint64(id)] = usage{v.space + u.space, v.inodes + u.inodes}
		}
		for id, g := range ug.groups {
			v := groups[uint64(id)]
			groups[uint64(id)] = usage{v.space + g.space, v.inodes + g.inodes}
		}
	}
	merge(&p.ugTree)
	if p.format.TrashDays > 0 && p.haveTrash {
		merge(&p.ugTrash)
	}
	for _, f := range []struct {
		t      codec.QuotaType
		dumped map[uint64]dumpedQuota
		used   map[uint64]usage
	}{{codec.QuotaUser, p.userQuotas, users}, {codec.QuotaGroup, p.groupQuotas, groups}} {
		ids := slices.Sorted(maps.Keys(f.used))
		for id := range f.dumped {
			if _, ok := f.used[id]; !ok {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		err := p.setQuotas(f.t, ids,
			func(id uint64) codec.QuotaLimits {
				if q, ok := f.dumped[id]; ok {
					return quotaLimits(q)
				}
				return codec.UnlimitedQuota()
			},
			func(id uint64) usage { return f.used[id] })
		if err != nil {
			return err
		}
	}
	return nil
}

// counterKeys queues the recomputed counters (the dumped ones are only
// logged). nextinode also covers the inodes of DelFiles, so that a new file
// never gets the number of one whose data is still to be deleted.
func (p *parser) counterKeys() error {
	set := func(key string, v int64) error { return p.sp.add("SET", key, strconv.FormatInt(v, 10)) }
	k := p.keys
	for _, c := range []struct {
		key string
		v   int64
	}{{k.UsedSpace(), p.usedSpace}, {k.TotalInodes(), p.totalInodes}, {k.NextInode(), int64(max(p.maxIno, 1))},
		{k.NextChunk(), int64(p.maxChunk)}, {k.NextSession(), 0}, {k.NextTrash(), int64(p.maxTrash)}} {
		if err := set(c.key, c.v); err != nil {
			return err
		}
	}
	return nil
}

// trashRoot creates the trash root, as format does, when the volume keeps a
// trash but the dump has none (it was made with SkipTrash or of a
// sub-directory): without it nothing could be deleted. Its (empty)
// directory statistics are written too, as for every loaded directory.
func (p *parser) trashRoot(now time.Time) error {
	if p.haveTrash || p.format.TrashDays <= 0 {
		return nil
	}
	t := now.Unix()
	a := codec.Attr{Typ: codec.TypeDirectory, Mode: 0o555, Nlink: 2, Length: codec.DirLength, Parent: codec.RootInode,
		Atime: t, Mtime: t, Ctime: t}
	if err := p.stats.add(p.sp, codec.TrashInode, dirStat{}); err != nil {
		return err
	}
	if err := p.stats.flush(p.sp); err != nil {
		return err
	}
	return p.sp.add("SET", p.keys.Inode(codec.TrashInode), string(a.Marshal()))
}
