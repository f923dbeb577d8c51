// Package fsck checks a volume's metadata for consistency.
//
// Recount recomputes, from the directory entries and attributes alone, every
// counter the engine maintains incrementally (used space, inode count, link
// counts, parent tracking of hard links, directory statistics, quota usage,
// slice references) and reports every difference, along with dangling
// entries and leaked keys. The same check ends every integration test of the
// engine, the way bbolt checks its database after each test.
//
// Volume is `fsck` without a path: the recount, plus the repair of what can
// be repaired safely (each Problem carries the recounted value to store).
// Check is `fsck --path`: the official client's walk of a tree, finding and
// repairing missing directory attributes, link counts and directory
// statistics, and rebuilding the volume counters.
//
// Checking the object store (missing or leaked blocks) needs the data layer
// and is not done here; Check and meta.Inspector.Slices list the slices the
// metadata references for it.
package fsck

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/keyspace"
)

// Problem is one inconsistency.
type Problem struct {
	Kind   string // short class, one of the Kind constants
	Key    string // the key (and field) holding the wrong or dangling value
	Detail string
	// Path is the file-system path of the node concerned, when known
	// (problems found by Check).
	Path string
	// Fix, when set, is the repair Volume applies: the recounted value to
	// store. Problems without one are reported only.
	Fix *Fix
	// Repaired is set once the problem was repaired.
	Repaired bool
}

func (p Problem) String() string {
	s := p.Kind + " " + p.Key
	if p.Path != "" {
		s += " (" + p.Path + ")"
	}
	s += ": " + p.Detail
	if p.Repaired {
		s += " [repaired]"
	}
	return s
}

// FixAction names the repair of a problem.
type FixAction uint8

// Repairs Volume knows. Values holds the recounted values to store.
const (
	FixNone             FixAction = iota
	FixUsedSpace                  // usedSpace = Values[0]
	FixTotalInodes                // totalInodes = Values[0]
	FixNlink                      // link count of Ino from Old to Values[0]
	FixParentCount                // p{Ino} field Parent = Values[0] (0: delete)
	FixDirStat                    // statistics of directory Ino = Values (length, space, inodes)
	FixDropDirStat                // delete the statistics of missing directory Ino
	FixDirQuota                   // usage of the quota of directory Ino = Values (space, inodes)
	FixUserQuota                  // usage of uid ID = Values (space, inodes)
	FixGroupQuota                 // usage of gid ID = Values (space, inodes)
	FixReattach                   // move directory Ino, named Name in Parent, to the root as lost+found-<Ino>
	FixDropEntry                  // delete entry Name of directory Parent, a stray name of directory Ino
	FixParent                     // the parent field of Ino from Old to Values[0], the one directory naming it
	FixDropField                  // delete field Name of hash Key, which holds Value and names nothing
	FixDropMember                 // remove member Name, which names nothing, from the set Key
	FixDropLiveDeletion           // unqueue delfiles member Name: its inode Ino exists
	FixNextInode                  // raise nextinode to Values[0]
	FixNextSlice                  // raise nextchunk to Values[0]
	FixSliceRef                   // the sliceRef field of slice ID (size Values[1]) from Value to Values[0]
)

// structural reports whether f repairs the tree itself rather than a
// counter: the counts the other repairs store change with it.
func (f *Fix) structural() bool {
	return f.Action == FixReattach || f.Action == FixDropEntry || f.Action == FixParent
}

// Fix is how a problem can be repaired: which value to store where. The
// values come from the recount, the single source of truth of what every
// maintained counter should hold.
type Fix struct {
	Action FixAction
	Ino    codec.Ino
	Parent codec.Ino
	ID     uint64
	Old    int64
	Values [3]int64
	Name   string
	Key    string // the key of FixDropField and FixDropMember
	Value  string // the value seen, for the repairs that compare strings
}

// Options select what the recount compares.
type Options struct {
	// UserGroupScanRules counts user/group quota usage the way the official
	// client's full scan does (regular files and directories only). Without
	// it every node type is counted, which is what incremental updates do.
	UserGroupScanRules bool
	// SkipDirStats does not compare directory statistics.
	SkipDirStats bool
	// SkipSliceCounter does not compare nextchunk with the slice ids in
	// use (for tests that write slice records with ids of their choosing).
	SkipSliceCounter bool
}

// node is what the recount learns about one inode.
type node struct {
	attr     codec.Attr
	hasAttr  bool
	names    int // entries naming it
	parents  map[codec.Ino]int
	subdirs  int         // for directories: entries that are directories
	stat     dirStat     // for directories: recomputed statistics
	children []codec.Ino // for directories
}

// dirStat is a directory's statistics; bad, when set, says which stored
// value is not an integer.
type dirStat struct {
	length, space, inodes int64
	bad                   string
}

// Report is the result of Recount.
type Report struct {
	Problems []Problem
	Inodes   int // attribute records seen
	Entries  int // directory entries seen
}

// OK reports whether every problem found (if any) was repaired.
func (r *Report) OK() bool {
	for _, p := range r.Problems {
		if !p.Repaired {
			return false
		}
	}
	return true
}

func (r *Report) add(kind, key, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{Kind: kind, Key: key, Detail: fmt.Sprintf(format, args...)})
}

// addFix records a problem Volume can repair with fix.
func (r *Report) addFix(fix Fix, kind, key, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{Kind: kind, Key: key, Detail: fmt.Sprintf(format, args...), Fix: &fix})
}

// String lists the problems, one per line.
func (r *Report) String() string {
	var b strings.Builder
	for _, p := range r.Problems {
		b.WriteString(p.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Recount reads the whole volume and compares every maintained counter with
// a recount. The volume should be quiescent (no client writing) and every
// client's pending directory statistics and quota usage flushed.
func Recount(ctx context.Context, c rueidis.Client, keys keyspace.Keys, opts Options) (*Report, error) {
	s, err := loadSnapshot(ctx, c, keys)
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	s.analyze(rep, opts)
	if opts.SkipSliceCounter {
		s.nextChunk = max(s.nextChunk, int64(s.maxSlice))
	}
	s.checkCorruption(rep)
	s.dropUnsafeFixes(rep)
	sort.Slice(rep.Problems, func(i, j int) bool {
		if rep.Problems[i].Kind != rep.Problems[j].Kind {
			return rep.Problems[i].Kind < rep.Problems[j].Kind
		}
		return rep.Problems[i].Key < rep.Problems[j].Key
	})
	return rep, nil
}

func (s *snapshot) analyze(rep *Report, opts Options) {
	k := s.keys
	rep.Inodes = len(s.attrs)
	nodes := make(map[codec.Ino]*node, len(s.attrs))
	get := func(ino codec.Ino) *node {
		n := nodes[ino]
		if n == nil {
			n = &node{}
			if a, ok := s.attrs[ino]; ok {
				n.attr, n.hasAttr = a, true
			}
			nodes[ino] = n
		}
		return n
	}
	for ino := range s.attrs {
		get(ino)
	}
	// Entries: every d{ino} hash.
	for dir, entries := range s.dirs {
		dn := get(dir)
		if !dn.hasAttr {
			rep.add(KindDanglingDir, k.Entries(dir), "directory has %d entries but no attribute", len(entries))
		} else if dn.attr.Typ != codec.TypeDirectory {
			rep.add(KindNotADir, k.Entries(dir), "entries hash of a %s", dn.attr.Typ)
		}
		for name, ent := range entries {
			rep.Entries++
			cn := get(ent.Inode)
			cn.names++
			if cn.parents == nil {
				cn.parents = map[codec.Ino]int{}
			}
			cn.parents[dir]++
			dn.children = append(dn.children, ent.Inode)
			if ent.Typ == codec.TypeDirectory && !s.stray(dir, ent.Inode, cn) {
				// A directory's link count follows its entries' types,
				// as the official fsck counts it; a stray name of a
				// directory living elsewhere is no sub-directory.
				dn.subdirs++
			}
			if s.badAttrs[ent.Inode] {
				continue // reported as corrupt
			}
			if !cn.hasAttr {
				rep.add(KindDanglingEntry, k.Entries(dir)+" "+strconv.Quote(name), "names inode %d which has no attribute", ent.Inode)
				// Statistics count it the way clients recompute them:
				// a node of length 0.
				dn.stat.inodes++
				dn.stat.space += 4096
				continue
			}
			if cn.attr.Typ != ent.Typ {
				rep.add(KindEntryType, k.Entries(dir)+" "+strconv.Quote(name), "entry type %s, attribute type %s", ent.Typ, cn.attr.Typ)
			}
			dn.stat.inodes++
			if cn.attr.Typ == codec.TypeFile {
				dn.stat.length += int64(cn.attr.Length)
				dn.stat.space += int64(codec.Align4K(cn.attr.Length))
			} else {
				dn.stat.space += 4096
			}
		}
	}
	var usedSpace, usedInodes int64
	overflow := false
	for ino, n := range nodes {
		if !n.hasAttr {
			continue
		}
		a := &n.attr
		key := k.Inode(ino)
		if ino != codec.RootInode && ino != codec.TrashInode {
			usedInodes++
			if a.Typ == codec.TypeFile {
				usedSpace += int64(codec.Align4K(a.Length))
			} else {
				usedSpace += 4096
			}
			// Each length is below 2^57: a sum past 2^63 wraps negative.
			overflow = overflow || usedSpace < 0
		}
		s.checkNode(rep, ino, n, key)
	}
	switch {
	case overflow:
		s.incompleteTree++ // no sum the recount makes can be stored
		rep.add(KindUsedSpace, k.UsedSpace(), "the lengths of the volume add up to more than %d bytes: no counter holds them", int64(math.MaxInt64))
	case s.usedSpaceBad != "":
		rep.addFix(Fix{Action: FixUsedSpace, Old: -1, Values: [3]int64{usedSpace}},
			KindCorrupt, k.UsedSpace(), "stored %q is not an integer (repair: store the recount %d)", s.usedSpaceBad, usedSpace)
	case usedSpace != s.usedSpace:
		rep.addFix(Fix{Action: FixUsedSpace, Old: s.usedSpace, Values: [3]int64{usedSpace}},
			KindUsedSpace, k.UsedSpace(), "stored %d, recount %d", s.usedSpace, usedSpace)
	}
	switch {
	case s.totalInodesBad != "":
		rep.addFix(Fix{Action: FixTotalInodes, Old: -1, Values: [3]int64{usedInodes}},
			KindCorrupt, k.TotalInodes(), "stored %q is not an integer (repair: store the recount %d)", s.totalInodesBad, usedInodes)
	case usedInodes != s.totalInodes:
		rep.addFix(Fix{Action: FixTotalInodes, Old: s.totalInodes, Values: [3]int64{usedInodes}},
			KindTotalInodes, k.TotalInodes(), "stored %d, recount %d", s.totalInodes, usedInodes)
	}
	if !opts.SkipDirStats {
		s.checkDirStats(rep, nodes)
	}
	s.checkQuotas(rep, nodes, opts)
	s.checkCycles(rep, nodes)
	s.checkCrossLinks(rep, nodes)
	s.checkOrphans(rep, nodes)
	s.checkSlices(rep)
}

func (s *snapshot) checkNode(rep *Report, ino codec.Ino, n *node, key string) {
	k := s.keys
	a := &n.attr
	sustained := s.sustained[ino]
	switch {
	case ino == codec.RootInode || ino == codec.TrashInode:
	case n.names == 0 && sustained:
		if a.Nlink != 0 {
			rep.add(KindSustained, key, "sustained inode has nlink %d, want 0", a.Nlink)
		}
	case n.names == 0 && s.detached[ino]:
	case n.names == 0:
		rep.add(KindLeakedInode, key, "%s is named by no directory entry", a.Typ)
	}
	if a.Typ == codec.TypeDirectory {
		want := uint32(2 + n.subdirs)
		if ino.IsTrash() {
			want = 2 // trash directories are not charged for sub-directories
		}
		if a.Nlink != want {
			rep.addFix(Fix{Action: FixNlink, Ino: ino, Old: int64(a.Nlink), Values: [3]int64{int64(want)}},
				KindNlink, key, "directory nlink %d, want %d", a.Nlink, want)
		}
		if a.Length != codec.DirLength {
			rep.add(KindDirLength, key, "directory length %d, want 4096", a.Length)
		}
		if n.names > 1 {
			rep.add(KindDirLinks, key, "directory has %d names", n.names)
		}
	} else if n.names > 0 && a.Nlink != uint32(n.names) {
		rep.addFix(Fix{Action: FixNlink, Ino: ino, Old: int64(a.Nlink), Values: [3]int64{int64(n.names)}},
			KindNlink, key, "nlink %d, but %d entries name it", a.Nlink, n.names)
	}
	// Parent tracking.
	if ino != codec.RootInode && ino != codec.TrashInode && n.names > 0 {
		if a.Parent > 0 {
			switch {
			case n.names == 1 && n.parents[a.Parent] == 0:
				holder := keysOf(n.parents)[0]
				rep.addFix(Fix{Action: FixParent, Ino: ino, Old: int64(a.Parent), Values: [3]int64{int64(holder)}},
					KindParent, key, "Parent is %d but its one entry is in %d", a.Parent, holder)
			case len(n.parents) != 1 || n.parents[a.Parent] == 0:
				rep.add(KindParent, key, "Parent is %d but entries are in %v", a.Parent, keysOf(n.parents))
			}
		} else {
			if a.Typ == codec.TypeDirectory {
				rep.add(KindParent, key, "directory with Parent 0")
			}
			stored := s.parents[ino]
			for p, cnt := range n.parents {
				if bad, ok := s.badParentCounts[ino][p]; ok {
					rep.addFix(Fix{Action: FixParentCount, Ino: ino, Parent: p, Old: -1, Values: [3]int64{int64(cnt)}},
						KindCorrupt, k.Parents(ino)+" "+p.String(), "stored %q is not an integer (repair: store the recount %d)", bad, cnt)
					continue
				}
				if stored[p] != int64(cnt) {
					rep.addFix(Fix{Action: FixParentCount, Ino: ino, Parent: p, Old: stored[p], Values: [3]int64{int64(cnt)}},
						KindParentCount, k.Parents(ino)+" "+p.String(), "stored %d, %d entries", stored[p], cnt)
				}
			}
			for p, cnt := range stored {
				if bad, ok := s.badParentCounts[ino][p]; ok && n.parents[p] == 0 {
					rep.addFix(Fix{Action: FixParentCount, Ino: ino, Parent: p, Old: -1},
						KindCorrupt, k.Parents(ino)+" "+p.String(), "stored %q is not an integer, and no entry is there (repair: delete the field)", bad)
					continue
				}
				if cnt > 0 && n.parents[p] == 0 {
					rep.addFix(Fix{Action: FixParentCount, Ino: ino, Parent: p, Old: cnt},
						KindParentCount, k.Parents(ino)+" "+p.String(), "stored %d, no entry", cnt)
				}
			}
		}
	}
	if a.Typ == codec.TypeSymlink && !s.badSymlinks[ino] {
		if _, ok := s.symlinks[ino]; !ok {
			rep.add(KindSymlink, k.Symlink(ino), "symlink without target: its target is lost; remove the symlink (or store its target in %s by hand)", k.Symlink(ino))
		} else if uint64(len(s.symlinks[ino])) != a.Length {
			rep.add(KindSymlink, key, "length %d, target has %d bytes", a.Length, len(s.symlinks[ino]))
		}
	}
}

func keysOf(m map[codec.Ino]int) []codec.Ino {
	out := make([]codec.Ino, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (s *snapshot) checkDirStats(rep *Report, nodes map[codec.Ino]*node) {
	k := s.keys
	for ino, n := range nodes {
		if !n.hasAttr || n.attr.Typ != codec.TypeDirectory {
			continue
		}
		got, ok := s.dirStats[ino]
		if ok && got.bad != "" {
			rep.addFix(Fix{Action: FixDirStat, Ino: ino, Values: [3]int64{n.stat.length, n.stat.space, n.stat.inodes}},
				KindCorrupt, k.DirUsedSpace()+" "+ino.String(), "%s (repair: store the recount %d/%d/%d)", got.bad, n.stat.length, n.stat.space, n.stat.inodes)
			continue
		}
		if !ok && (ino == codec.RootInode || ino == codec.TrashInode || n.attr.Parent > codec.TrashInode) {
			// Format creates no statistics for the root, and removal into
			// the trash drops a directory's: they are computed when first
			// needed, which is a legitimate state.
			continue
		}
		if !ok {
			rep.addFix(Fix{Action: FixDirStat, Ino: ino, Values: [3]int64{n.stat.length, n.stat.space, n.stat.inodes}},
				KindDirStat, k.DirUsedSpace()+" "+ino.String(), "missing (recount %d/%d/%d)", n.stat.length, n.stat.space, n.stat.inodes)
			continue
		}
		if got != n.stat {
			rep.addFix(Fix{Action: FixDirStat, Ino: ino, Values: [3]int64{n.stat.length, n.stat.space, n.stat.inodes}},
				KindDirStat, k.DirUsedSpace()+" "+ino.String(), "stored length/space/inodes %d/%d/%d, recount %d/%d/%d",
				got.length, got.space, got.inodes, n.stat.length, n.stat.space, n.stat.inodes)
		}
	}
	for ino := range s.dirStats {
		if n := nodes[ino]; n == nil || !n.hasAttr {
			rep.addFix(Fix{Action: FixDropDirStat, Ino: ino},
				KindDirStatStray, k.DirUsedSpace()+" "+ino.String(), "statistics of a directory that does not exist")
		}
	}
}

// checkQuotas recomputes directory quota usage (recursive, excluding the
// quota directory itself) and user/group usage.
func (s *snapshot) checkQuotas(rep *Report, nodes map[codec.Ino]*node, opts Options) {
	k := s.keys
	// usage sums the tree below a directory, following only the entries
	// of sub-directories whose parent is the directory holding the entry
	// (a cross-link counts as one node, not as its tree), each directory
	// once: it ends, and stays linear, on any damaged tree.
	type sum struct{ space, inodes int64 }
	memo := map[codec.Ino]sum{}
	var usage func(ino codec.Ino) (int64, int64)
	usage = func(ino codec.Ino) (int64, int64) {
		if u, ok := memo[ino]; ok {
			return u.space, u.inodes
		}
		memo[ino] = sum{} // a cycle back here adds nothing
		n := nodes[ino]
		if n == nil {
			return 0, 0
		}
		var u sum
		for _, c := range n.children {
			cn := nodes[c]
			if cn == nil {
				continue
			}
			u.inodes++
			switch {
			case !cn.hasAttr:
				u.space += 4096 // as a summary counts a dangling entry
			case cn.attr.Typ == codec.TypeFile:
				u.space += int64(codec.Align4K(cn.attr.Length))
			default:
				u.space += 4096
			}
			if cn.hasAttr && cn.attr.Typ == codec.TypeDirectory && cn.attr.Parent == ino {
				sp, in := usage(c)
				u.space += sp
				u.inodes += in
			}
		}
		memo[ino] = u
		return u.space, u.inodes
	}
	for ino, q := range s.dirQuotas {
		if n := nodes[ino]; n == nil || !n.hasAttr {
			rep.add(KindQuotaStray, k.DirQuotaUsedInodes()+" "+ino.String(), "quota of a directory that does not exist")
			continue
		}
		sp, in := usage(ino)
		if q.bad != "" {
			rep.addFix(Fix{Action: FixDirQuota, Ino: ino, Values: [3]int64{sp, in}},
				KindCorrupt, k.DirQuotaUsedSpace()+" "+ino.String(), "%s (repair: store the recount %d/%d)", q.bad, sp, in)
			continue
		}
		if q.usedSpace != sp || q.usedInodes != in {
			rep.addFix(Fix{Action: FixDirQuota, Ino: ino, Values: [3]int64{sp, in}},
				KindDirQuota, k.DirQuotaUsedSpace()+" "+ino.String(), "stored %d bytes/%d inodes, recount %d/%d", q.usedSpace, q.usedInodes, sp, in)
		}
	}
	if !s.format.UserGroupQuota {
		return
	}
	users := map[uint32][2]int64{}
	groups := map[uint32][2]int64{}
	for ino, n := range nodes {
		if !n.hasAttr || ino == codec.RootInode || ino == codec.TrashInode {
			continue
		}
		a := &n.attr
		var sp int64 = 4096
		if a.Typ == codec.TypeFile {
			sp = int64(codec.Align4K(a.Length))
		}
		if opts.UserGroupScanRules && a.Typ != codec.TypeFile && a.Typ != codec.TypeDirectory {
			continue
		}
		u := users[a.Uid]
		users[a.Uid] = [2]int64{u[0] + sp, u[1] + 1}
		g := groups[a.Gid]
		groups[a.Gid] = [2]int64{g[0] + sp, g[1] + 1}
	}
	cmp := func(action FixAction, kind, key string, stored map[uint64]quotaUse, counted map[uint32][2]int64) {
		for id, c := range counted {
			q := stored[uint64(id)]
			if q.bad != "" {
				rep.addFix(Fix{Action: action, ID: uint64(id), Values: [3]int64{c[0], c[1]}},
					KindCorrupt, key+" "+strconv.FormatUint(uint64(id), 10), "%s (repair: store the recount %d/%d)", q.bad, c[0], c[1])
				continue
			}
			if q.usedSpace != c[0] || q.usedInodes != c[1] {
				rep.addFix(Fix{Action: action, ID: uint64(id), Values: [3]int64{c[0], c[1]}},
					kind, key+" "+strconv.FormatUint(uint64(id), 10), "stored %d bytes/%d inodes, recount %d/%d", q.usedSpace, q.usedInodes, c[0], c[1])
			}
		}
		for id, q := range stored {
			if _, ok := counted[uint32(id)]; !ok && (q.usedSpace != 0 || q.usedInodes != 0 || q.bad != "") {
				rep.addFix(Fix{Action: action, ID: id},
					kind, key+" "+strconv.FormatUint(id, 10), "stored %d bytes/%d inodes, owns nothing", q.usedSpace, q.usedInodes)
			}
		}
	}
	cmp(FixUserQuota, KindUserQuota, k.UserQuotaUsedSpace(), s.userQuotas, users)
	cmp(FixGroupQuota, KindGroupQuota, k.GroupQuotaUsedSpace(), s.groupQuotas, groups)
}

// checkOrphans reports keys that belong to inodes that do not exist.
func (s *snapshot) checkOrphans(rep *Report, nodes map[codec.Ino]*node) {
	k := s.keys
	exists := func(ino codec.Ino) bool { n := nodes[ino]; return n != nil && n.hasAttr || s.badAttrs[ino] }
	for ino := range s.symlinks {
		if !exists(ino) {
			rep.add(KindOrphan, k.Symlink(ino), "symlink target of a missing inode")
		}
	}
	for ino := range s.xattrs {
		if !exists(ino) {
			rep.add(KindOrphan, k.Xattrs(ino), "xattrs of a missing inode")
		}
	}
	for ino := range s.parents {
		if !exists(ino) {
			rep.add(KindOrphan, k.Parents(ino), "parent counts of a missing inode")
		}
	}
	for ino, indexes := range s.chunkIndexes {
		if exists(ino) || s.deleting[ino] {
			if n := nodes[ino]; n != nil && n.hasAttr && n.attr.Typ != codec.TypeFile {
				rep.add(KindOrphan, k.Chunk(ino, indexes[0]), "chunk list of a %s", n.attr.Typ)
			}
			continue
		}
		rep.add(KindOrphan, k.Chunk(ino, indexes[0]), "chunk lists of a missing inode not queued in delfiles")
	}
}

// checkSlices compares stored slice reference counts with the records that
// reference each slice (chunk lists and delSlices).
func (s *snapshot) checkSlices(rep *Report) {
	k := s.keys
	for ref, n := range s.sliceUses {
		stored, ok := s.sliceRefs[ref]
		want := int64(n - 1)
		if bad, isBad := s.badRefs[ref]; isBad {
			rep.addFix(Fix{Action: FixSliceRef, ID: ref.id, Values: [3]int64{want, int64(ref.size)}, Value: bad},
				KindCorrupt, k.SliceRef()+" "+k.SliceRefField(ref.id, ref.size), "stored %q is not an integer; %d records reference the slice (repair: store %d)", bad, n, want)
			continue
		}
		if (!ok && want != 0) || (ok && stored != want) {
			rep.add(KindSliceRef, k.SliceRef()+" "+k.SliceRefField(ref.id, ref.size), "stored %d (absent=0), %d records reference it", stored, n)
		}
	}
	for ref, v := range s.sliceRefs {
		if bad, isBad := s.badRefs[ref]; isBad {
			if _, used := s.sliceUses[ref]; !used {
				rep.add(KindCorrupt, k.SliceRef()+" "+k.SliceRefField(ref.id, ref.size),
					"stored %q is not an integer, and no record references the slice: remove the field by hand once its data is known unneeded", bad)
			}
			continue
		}
		if _, used := s.sliceUses[ref]; !used && v >= 0 {
			rep.add(KindSliceRef, k.SliceRef()+" "+k.SliceRefField(ref.id, ref.size), "count %d but no record references it", v)
		}
	}
}
