package meta

import (
	"context"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
)

// StatFS is what statfs(2) reports for a volume or a directory with a quota.
type StatFS struct {
	TotalSpace, AvailSpace  uint64
	UsedInodes, AvailInodes uint64
}

// StatFS returns the capacity and usage seen from inode ino: the volume's
// limits (or a virtual 1 PiB / 10 Mi inodes, doubled while usage nears
// them), narrowed by every directory quota above ino; the nearest quota
// defines the total. It never fails: counters that cannot be read within
// 150 ms come from this client's last known values.
func (e *Engine) StatFS(ctx context.Context, ino Ino) StatFS {
	used, inodes := e.stats.usedSpace.Load(), e.stats.usedInodes.Load()
	if v, err := e.counterWithin(ctx, e.keys.UsedSpace(), 150*time.Millisecond); err == nil {
		used = v
	}
	if v, err := e.counterWithin(ctx, e.keys.TotalInodes(), 150*time.Millisecond); err == nil {
		inodes = v
	}
	used, inodes = max(used, 0), max(inodes, 0)
	f := e.format.Load()
	if f == nil {
		f = &codec.Format{}
	}
	var st StatFS
	if f.Capacity > 0 {
		st.TotalSpace = max(f.Capacity, uint64(used))
	} else {
		st.TotalSpace = 1 << 50
		for st.TotalSpace*8 < uint64(used)*10 {
			if st.TotalSpace >= math.MaxUint64>>1 {
				st.TotalSpace = math.MaxUint64
				break
			}
			st.TotalSpace <<= 1
		}
	}
	st.AvailSpace = st.TotalSpace - uint64(used)
	st.UsedInodes = uint64(inodes)
	if f.Inodes > 0 {
		if st.UsedInodes < f.Inodes {
			st.AvailInodes = f.Inodes - st.UsedInodes
		}
	} else {
		st.AvailInodes = 10 << 20
		for st.UsedInodes > st.AvailInodes*4 && st.AvailInodes < math.MaxUint64>>1 {
			st.AvailInodes <<= 1
		}
	}
	if ino == 0 {
		ino = RootInode
	}
	var nearest *Quota
	e.stats.walkQuotas(ctx, ino, func(_ Ino, q *quota) bool {
		v := Quota{
			MaxSpace: q.maxSpace.Load(), MaxInodes: q.maxInodes.Load(),
			UsedSpace: max(q.usedSpace.Load()+q.newSpace.Load(), 0), UsedInodes: max(q.usedInodes.Load()+q.newInodes.Load(), 0),
		}
		if v.MaxSpace > 0 {
			v.MaxSpace = max(v.MaxSpace, v.UsedSpace)
			st.AvailSpace = min(st.AvailSpace, uint64(v.MaxSpace-v.UsedSpace))
		}
		if v.MaxInodes > 0 {
			v.MaxInodes = max(v.MaxInodes, v.UsedInodes)
			st.AvailInodes = min(st.AvailInodes, uint64(v.MaxInodes-v.UsedInodes))
		}
		if nearest == nil {
			nearest = &v
		}
		return true
	})
	if nearest != nil {
		st.TotalSpace = uint64(nearest.UsedSpace) + st.AvailSpace
		st.UsedInodes = uint64(nearest.UsedInodes)
	}
	return st
}

// counterWithin reads a counter, giving up after d.
func (e *Engine) counterWithin(ctx context.Context, key string, d time.Duration) (int64, error) {
	tctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return e.getInt(tctx, key)
}

// Counters returns the volume's usage counters (usedSpace, totalInodes) as
// stored in Redis.
func (e *Engine) Counters(ctx context.Context) (usedSpace, usedInodes int64, err error) {
	if usedSpace, err = e.getInt(ctx, e.keys.UsedSpace()); err != nil {
		return
	}
	usedInodes, err = e.getInt(ctx, e.keys.TotalInodes())
	return
}

// Summary is the recursive usage of a tree, as `juicefs info` shows it.
type Summary struct {
	Length uint64 // summed length of regular files
	Size   uint64 // summed charged space (align4K per node)
	Files  uint64
	Dirs   uint64
}

// GetSummary summarises inode ino: a file counts itself; a directory counts
// itself and its children, recursively with recursive. With strict (or when
// directory statistics are off) children are listed and counted one by one;
// otherwise the directory statistics give sizes without listing. A damaged
// tree (see ErrNotATree) ends the summary with that error.
func (e *Engine) GetSummary(ctx context.Context, ino Ino, recursive, strict bool) (Summary, error) {
	a, err := e.GetAttr(ctx, ino)
	if err != nil {
		return Summary{}, err
	}
	if a.Typ != codec.TypeDirectory {
		s := Summary{Files: 1, Size: codec.Align4K(lengthOf(&a))}
		if a.Typ == codec.TypeFile {
			s.Length = a.Length
		}
		return s, nil
	}
	w := e.newSummaryWalk(recursive, strict, make(chan struct{}, 50), newTreeGuard())
	w.sum = Summary{Dirs: 1, Size: 4096}
	err = w.dir(ctx, ino, &a)
	return w.sum, err
}

func lengthOf(a *Attr) uint64 {
	if a.Typ == codec.TypeFile {
		return a.Length
	}
	return 0
}

// summaryWalk sums a directory's tree, in parallel while slots are free.
type summaryWalk struct {
	e                 *Engine
	recursive, strict bool
	slots             chan struct{}
	guard             *treeGuard
	mu                sync.Mutex
	sum               Summary
}

func (e *Engine) newSummaryWalk(recursive, strict bool, slots chan struct{}, guard *treeGuard) *summaryWalk {
	return &summaryWalk{e: e, recursive: recursive, strict: strict, slots: slots, guard: guard}
}

func (w *summaryWalk) add(s Summary) {
	w.mu.Lock()
	w.sum.Files, w.sum.Dirs, w.sum.Size, w.sum.Length = w.sum.Files+s.Files, w.sum.Dirs+s.Dirs, w.sum.Size+s.Size, w.sum.Length+s.Length
	w.mu.Unlock()
}

// dir adds what directory ino (attribute a) holds and, when recursive,
// walks into its sub-directories.
func (w *summaryWalk) dir(ctx context.Context, ino Ino, a *Attr) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f := w.e.format.Load()
	var subdirs []Entry
	var err error
	if !w.strict && f != nil && f.DirStats {
		subdirs, err = w.fromStats(ctx, ino, a)
	} else {
		subdirs, err = w.fromEntries(ctx, ino)
	}
	if err != nil || !w.recursive {
		return err
	}
	children := newFanOut(w.slots)
	for _, sd := range subdirs {
		children.tryGo(func() error {
			sa, err := w.e.GetAttr(ctx, sd.Inode)
			if err == nil {
				if err = w.guard.enter(ctx, ino, sd.Name, sd.Inode, &sa); err == nil {
					err = w.dir(ctx, sd.Inode, &sa)
				}
			}
			return ignoreENOENT(err)
		})
	}
	return children.wait()
}

// fromStats adds a directory's statistics and returns its sub-directories
// (none are listed when its link count says it has none).
func (w *summaryWalk) fromStats(ctx context.Context, ino Ino, a *Attr) ([]Entry, error) {
	st, err := w.e.GetDirStat(ctx, ino)
	if err != nil {
		return nil, err
	}
	add := Summary{Size: uint64(st.Space), Length: uint64(st.Length)}
	if a.Nlink <= 2 {
		add.Files = uint64(st.Inodes)
		w.add(add)
		return nil, nil
	}
	entries, err := w.e.listEntries(ctx, ino)
	if err != nil {
		return nil, err
	}
	files, subdirs := splitDirs(entries)
	add.Files, add.Dirs = uint64(len(files)), uint64(len(subdirs))
	w.add(add)
	return subdirs, nil
}

// fromEntries adds a directory's entries, counted one by one, and returns
// its sub-directories.
func (w *summaryWalk) fromEntries(ctx context.Context, ino Ino) ([]Entry, error) {
	entries, err := w.e.listEntries(ctx, ino)
	if err != nil {
		return nil, err
	}
	if err := w.e.fillAttrs(ctx, entries); err != nil {
		return nil, err
	}
	var add Summary
	var subdirs []Entry
	for _, ent := range entries {
		if ent.Attr.Typ == codec.TypeDirectory {
			add.Dirs++
			add.Size += 4096
			subdirs = append(subdirs, ent)
		} else {
			add.Files++
			add.Size += codec.Align4K(lengthOf(&ent.Attr))
			add.Length += lengthOf(&ent.Attr)
		}
	}
	w.add(add)
	return subdirs, nil
}

// GetParents returns the directories holding names of ino, with how many
// names each holds.
func (e *Engine) GetParents(ctx context.Context, ino Ino) (map[Ino]int, error) {
	if ino == RootInode || ino == TrashInode {
		return map[Ino]int{RootInode: 1}, nil
	}
	a, err := e.GetAttr(ctx, ino)
	if err != nil {
		return nil, err
	}
	if a.Parent > 0 {
		return map[Ino]int{a.Parent: 1}, nil
	}
	m, err := e.rdb.Do(ctx, e.rdb.B().Hgetall().Key(e.keys.Parents(ino)).Build()).AsStrMap()
	if err != nil {
		return nil, e.redisErr("HGETALL "+e.keys.Parents(ino), err)
	}
	out := make(map[Ino]int, len(m))
	for k, v := range m {
		p, err1 := strconv.ParseUint(k, 10, 64)
		n, err2 := strconv.Atoi(v)
		if err1 == nil && err2 == nil && n > 0 {
			out[Ino(p)] = n
		}
	}
	return out, nil
}

// GetPaths returns every path of ino (several for hard links).
func (e *Engine) GetPaths(ctx context.Context, ino Ino) ([]string, error) {
	if ino == RootInode {
		return []string{"/"}, nil
	}
	if ino == TrashInode {
		return []string{"/" + TrashName}, nil
	}
	parents, err := e.GetParents(ctx, ino)
	if err != nil {
		return nil, err
	}
	var paths []string
	for p := range parents {
		dir, err := e.dirPath(ctx, p)
		if err != nil {
			continue
		}
		entries, err := e.listEntries(ctx, p)
		if err != nil {
			continue
		}
		for _, ent := range entries {
			if ent.Inode == ino {
				if dir == "/" {
					paths = append(paths, "/"+ent.Name)
				} else {
					paths = append(paths, dir+"/"+ent.Name)
				}
			}
		}
	}
	return paths, nil
}

// dirPath rebuilds the path of a directory by walking up its parents. A
// directory whose parents lead back to it (a cycle detached from the tree,
// which only a corrupt volume or an older client's rename can hold) is
// unreachable, as is one whose parent does not list it.
func (e *Engine) dirPath(ctx context.Context, dir Ino) (string, error) {
	var names []string
	var g upwardGuard
	for dir != RootInode {
		if err := g.step(ctx, dir); err != nil {
			return "", err
		}
		if dir == TrashInode {
			names = append(names, TrashName)
			break
		}
		a, err := e.GetAttr(ctx, dir)
		if err != nil {
			return "", err
		}
		entries, err := e.listEntries(ctx, a.Parent)
		if err != nil {
			return "", err
		}
		found := false
		for _, ent := range entries {
			if ent.Inode == dir {
				names = append(names, ent.Name)
				found = true
				break
			}
		}
		if !found {
			return "", errUnreachable
		}
		dir = a.Parent
	}
	path := ""
	for i := len(names) - 1; i >= 0; i-- {
		path += "/" + names[i]
	}
	if path == "" {
		path = "/"
	}
	return path, nil
}
