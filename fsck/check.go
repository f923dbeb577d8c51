package fsck

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// ErrProblems is returned by Check and Volume when problems remain that
// were not repaired, or when checking itself failed somewhere.
var ErrProblems = errors.New("some errors occurred, please check the log of fsck")

// checkWorkers is how many nodes Check examines in parallel.
const checkWorkers = 20

// CheckOptions select what Check examines and repairs.
type CheckOptions struct {
	// Path is the absolute path (inside the volume) of the node to check.
	Path string
	// Recursive checks the whole tree below Path.
	Recursive bool
	// Repair rebuilds missing directory attributes, fixes directory link
	// counts and stores recomputed directory statistics.
	Repair bool
	// SyncDirStat recomputes the statistics of every directory checked
	// (compared without Repair, stored with it). With Path "/", Repair and
	// Recursive it also rebuilds the volume's usage counters.
	SyncDirStat bool
	// RepairDirMode is the mode of rebuilt directory attributes (0: 0755).
	RepairDirMode uint16
	// Progress, when set, is called once per node checked (never
	// concurrently).
	Progress func()
}

// CheckResult is what Check found.
type CheckResult struct {
	Checked int // nodes examined
	// Counted is how many of them are regular files or directories, what
	// the official fsck reports as "Checked N nodes".
	Counted  int
	Problems []Problem // in the order found; Repaired marks the fixed ones
	// Slices lists, for every regular file checked, the slices its chunk
	// lists reference (for the object store check, which needs the data
	// layer).
	Slices map[meta.Ino][]meta.SliceID
	// UsedSpace and UsedInodes are the volume counters stored by a counter
	// rebuild (Path "/", Repair, SyncDirStat, Recursive); -1 otherwise.
	UsedSpace, UsedInodes int64
}

// OK reports whether every problem found was repaired.
func (r *CheckResult) OK() bool {
	for _, p := range r.Problems {
		if !p.Repaired {
			return false
		}
	}
	return true
}

// checkNode is one node handed from the walk to the workers.
type checkNode struct {
	ino     meta.Ino
	path    string
	attr    meta.Attr
	hasAttr bool
}

type checker struct {
	e    *meta.Engine
	opts CheckOptions
	f    *codec.Format
	mu   sync.Mutex
	res  *CheckResult
}

// problem records p and returns its index.
func (c *checker) problem(p Problem) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.Problems = append(c.res.Problems, p)
	return len(c.res.Problems) - 1
}

// update changes a recorded problem.
func (c *checker) update(i int, fn func(p *Problem)) {
	c.mu.Lock()
	fn(&c.res.Problems[i])
	c.mu.Unlock()
}

func (c *checker) failed(path string, ino meta.Ino, err error) {
	c.problem(Problem{Kind: KindError, Key: c.e.Keys().Inode(ino), Path: path, Detail: err.Error()})
}

// Check is the metadata part of `fsck --path`: it resolves opts.Path from
// the volume's real root, then examines that node (or, with Recursive, every
// node below it) with a pool of workers. Directories are checked for a
// missing attribute, a wrong link count and missing, negative or (with
// SyncDirStat) wrong statistics; with Repair these are fixed. Entries whose
// attribute is missing are reported. Regular files have their slices listed
// in the result.
//
// With Path "/", Repair and SyncDirStat the volume counters usedSpace and
// totalInodes are rebuilt from the walk (the trash included, hard links
// counted once, plus the files kept open after deletion). The official
// client does that even without Recursive, where it walks nothing and sets
// the counters to about zero; here that combination is refused.
//
// The error is ErrProblems when something was found and not repaired.
func Check(ctx context.Context, e *meta.Engine, opts CheckOptions) (*CheckResult, error) {
	if !strings.HasPrefix(opts.Path, "/") {
		return nil, fmt.Errorf("file path %q should be the absolute path within the volume", opts.Path)
	}
	syncVolume := path.Clean(opts.Path) == "/" && opts.Repair && opts.SyncDirStat
	if syncVolume && !opts.Recursive {
		return nil, errors.New("--path / --repair --sync-dir-stat rebuilds the volume counters from a recursive walk; add --recursive")
	}
	if opts.RepairDirMode == 0 {
		opts.RepairDirMode = 0o755
	}
	f, err := e.Load(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("load meta format: %w", err)
	}
	c := &checker{e: e, opts: opts, f: f, res: &CheckResult{Slices: map[meta.Ino][]meta.SliceID{}, UsedSpace: -1, UsedInodes: -1}}
	start, err := c.resolve(ctx)
	if err != nil {
		return c.res, err
	}
	var (
		counts  volumeCount
		walkErr error
		nodes   = make(chan checkNode, 1000)
	)
	counts.seen = map[meta.Ino]bool{}
	go func() {
		defer close(nodes)
		emit := func(n checkNode) {
			if syncVolume {
				counts.add(n)
			}
			nodes <- n
		}
		if !opts.Recursive {
			emit(start)
			return
		}
		walkErr = c.walk(ctx, start, emit, map[meta.Ino]bool{})
		if walkErr == nil && syncVolume && f.TrashDays > 0 {
			trash := checkNode{ino: meta.TrashInode, path: "/" + meta.TrashName}
			trash.attr, trash.hasAttr, walkErr = e.Inspect().Attr(ctx, meta.TrashInode)
			if walkErr == nil && trash.hasAttr {
				walkErr = c.walk(ctx, trash, counts.add, map[meta.Ino]bool{})
			}
		}
	}()
	var wg sync.WaitGroup
	for range checkWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range nodes {
				c.checkOne(ctx, n)
			}
		}()
	}
	wg.Wait()
	if walkErr != nil {
		c.failed(start.path, start.ino, fmt.Errorf("walk: %w", walkErr))
	} else if syncVolume {
		c.syncCounters(ctx, &counts)
	}
	if !c.res.OK() {
		return c.res, ErrProblems
	}
	return c.res, nil
}

// resolve finds the node named by opts.Path. A directory on the way whose
// attribute is missing is reported (it can be repaired by checking its own
// path with Repair).
func (c *checker) resolve(ctx context.Context) (checkNode, error) {
	n := checkNode{ino: meta.RootInode, path: "/"}
	parent := meta.RootInode
	names := strings.FieldsFunc(c.opts.Path, func(r rune) bool { return r == '/' })
	if len(names) == 0 {
		a, ok, err := c.e.Inspect().Attr(ctx, meta.RootInode)
		if err != nil {
			return n, err
		}
		n.attr, n.hasAttr = a, ok
	}
	for i, name := range names {
		parent = n.ino
		r, err := c.e.Inspect().Lookup(ctx, parent, name)
		if err != nil {
			return n, fmt.Errorf("lookup parent %d name %s: %w", parent, name, err)
		}
		n = checkNode{ino: r.Inode, path: "/" + path.Join(names[:i+1]...), attr: r.Attr, hasAttr: r.HasAttr}
		if !r.HasAttr && i < len(names)-1 {
			detail := fmt.Sprintf("attribute of inode %d is missing, please re-run with '--path %s --repair' to fix it", r.Inode, n.path)
			if r.Attr.Typ != codec.TypeDirectory {
				detail = fmt.Sprintf("attribute of inode %d (%s) is missing and cannot be repaired automatically; repair it manually or remove it", r.Inode, r.Attr.Typ)
			}
			c.problem(Problem{Kind: KindMissingAttr, Key: c.e.Keys().Inode(r.Inode), Path: n.path, Detail: detail})
		}
	}
	if !n.hasAttr {
		n.attr.Parent = parent
	}
	return n, nil
}

// walk visits n and, depth first, everything below it. Directories already
// visited are not entered again (a corrupt volume may name one twice).
func (c *checker) walk(ctx context.Context, n checkNode, visit func(checkNode), seen map[meta.Ino]bool) error {
	visit(n)
	if n.hasAttr && n.attr.Typ != codec.TypeDirectory || seen[n.ino] {
		return nil
	}
	seen[n.ino] = true
	entries, err := c.e.Inspect().Entries(ctx, n.ino)
	if err != nil && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("list %s: %w", n.path, err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	for _, ent := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		child := checkNode{ino: ent.Inode, path: path.Join(n.path, ent.Name), attr: ent.Attr, hasAttr: ent.HasAttr}
		if !ent.HasAttr {
			child.attr.Parent = n.ino
		}
		if c.crossLink(ctx, n, ent, child.path) {
			continue // the directory is checked where it lives
		}
		if err := c.walk(ctx, child, visit, seen); err != nil {
			return err
		}
	}
	return nil
}

// crossLink reports entry ent of directory n when it is a stray name of a
// directory that lives elsewhere (see meta.Inspector.StrayEntry): the walk
// does not follow it.
func (c *checker) crossLink(ctx context.Context, n checkNode, ent meta.RawEntry, path string) bool {
	if !ent.HasAttr || ent.Attr.Typ != codec.TypeDirectory {
		return false
	}
	if stray, err := c.e.Inspect().StrayEntry(ctx, n.ino, ent.Inode, &ent.Attr); err != nil {
		c.failed(path, ent.Inode, err)
		return true
	} else if !stray {
		return false
	}
	c.problem(Problem{Kind: KindCrossLink, Key: c.e.Keys().Entries(n.ino) + " " + strconv.Quote(ent.Name), Path: path,
		Detail: fmt.Sprintf("names directory %d, which lives in %d; `fsck --repair` (without --path) deletes this entry", ent.Inode, ent.Attr.Parent)})
	return true
}

// checkOne examines one node.
func (c *checker) checkOne(ctx context.Context, n checkNode) {
	defer func() {
		c.mu.Lock()
		c.res.Checked++
		if n.attr.Typ == codec.TypeFile || n.attr.Typ == codec.TypeDirectory {
			c.res.Counted++
		}
		if c.opts.Progress != nil {
			c.opts.Progress()
		}
		c.mu.Unlock()
	}()
	if n.attr.Typ != codec.TypeDirectory {
		switch {
		case !n.hasAttr:
			c.problem(Problem{Kind: KindDanglingEntry, Key: c.e.Keys().Inode(n.ino), Path: n.path,
				Detail: fmt.Sprintf("attribute of %s inode %d is missing and cannot be repaired automatically", n.attr.Typ, n.ino)})
		case n.attr.Typ == codec.TypeFile:
			ss, err := c.e.Inspect().FileSlices(ctx, n.ino)
			if err != nil && !errors.Is(err, syscall.ENOENT) {
				c.failed(n.path, n.ino, fmt.Errorf("list slices: %w", err))
				return
			}
			c.mu.Lock()
			c.res.Slices[n.ino] = ss
			c.mu.Unlock()
		}
		return
	}
	if !c.checkDirAttr(ctx, n) {
		return
	}
	if c.f.DirStats {
		c.checkDirStat(ctx, n)
	}
}

// checkDirAttr checks (and repairs) a directory's attribute and link count.
// It reports whether the directory has an attribute now.
func (c *checker) checkDirAttr(ctx context.Context, n checkNode) bool {
	key := c.e.Keys().Inode(n.ino)
	var p int
	var detail string
	if n.hasAttr {
		want, err := c.e.Inspect().DirNlink(ctx, n.ino)
		if err != nil {
			c.failed(n.path, n.ino, fmt.Errorf("count nlink: %w", err))
			return true
		}
		if n.attr.Nlink == want {
			return true
		}
		detail = fmt.Sprintf("nlink should be %d, but got %d", want, n.attr.Nlink)
		p = c.problem(Problem{Kind: KindNlink, Key: key, Path: n.path, Detail: detail})
	} else {
		detail = "attribute of the directory is missing"
		p = c.problem(Problem{Kind: KindMissingAttr, Key: key, Path: n.path, Detail: detail})
	}
	if !c.opts.Repair {
		c.update(p, func(p *Problem) {
			p.Detail = detail + fmt.Sprintf("; it can be repaired, please re-run with '--path %s --repair'", n.path)
		})
		return n.hasAttr
	}
	var rebuild *meta.Attr
	if !n.hasAttr {
		caller := meta.CallerOf(ctx)
		now := time.Now().Unix()
		rebuild = &meta.Attr{Typ: codec.TypeDirectory, Mode: c.opts.RepairDirMode, Uid: caller.Uid, Gid: caller.Gid(),
			Atime: now, Mtime: now, Ctime: now, Length: codec.DirLength, Parent: n.attr.Parent, Nlink: 2}
	}
	if err := c.e.Repair().Dir(ctx, n.ino, rebuild); err != nil && !errors.Is(err, syscall.ENOENT) {
		c.update(p, func(p *Problem) { p.Detail = detail + fmt.Sprintf("; repair failed: %v", err) })
		return n.hasAttr
	}
	c.update(p, func(p *Problem) { p.Repaired = true })
	return true
}

// checkDirStat checks (and repairs) a directory's statistics.
func (c *checker) checkDirStat(ctx context.Context, n checkNode) {
	st, ok, err := c.e.Inspect().StoredDirStat(ctx, n.ino)
	key := c.e.Keys().DirUsedSpace() + " " + n.ino.String()
	var detail string
	switch {
	case meta.IsCorruption(err):
		// Stored statistics are overwritten whatever they hold.
		detail = fmt.Sprintf("usage stat is broken: %v", err)
	case err != nil:
		c.failed(n.path, n.ino, fmt.Errorf("get dir stat: %w", err))
		return
	case !ok || st.Space < 0 || st.Inodes < 0 || st.Length < 0:
		detail = "usage stat is missing or broken"
	}
	if !c.opts.Repair && c.opts.SyncDirStat && detail == "" {
		want, err := c.e.Inspect().CountDirStat(ctx, n.ino)
		if err != nil {
			if !errors.Is(err, syscall.ENOENT) {
				c.failed(n.path, n.ino, fmt.Errorf("calc dir stat: %w", err))
			}
			return
		}
		if want != st {
			detail = fmt.Sprintf("usage stat should be %d/%d/%d (length/space/inodes), but got %d/%d/%d",
				want.Length, want.Space, want.Inodes, st.Length, st.Space, st.Inodes)
		}
	}
	if !c.opts.Repair {
		if detail != "" {
			c.problem(Problem{Kind: KindDirStat, Key: key, Path: n.path,
				Detail: detail + fmt.Sprintf("; please re-run with '--path %s --repair --sync-dir-stat' to fix it", n.path)})
		}
		return
	}
	if detail == "" && !c.opts.SyncDirStat {
		return
	}
	_, err = c.e.Repair().RecountDirStat(ctx, n.ino)
	if err != nil && !errors.Is(err, syscall.ENOENT) {
		if detail == "" {
			detail = "sync of usage stat"
		}
		c.problem(Problem{Kind: KindDirStat, Key: key, Path: n.path, Detail: detail + fmt.Sprintf("; repair failed: %v", err)})
		return
	}
	if detail != "" {
		c.problem(Problem{Kind: KindDirStat, Key: key, Path: n.path, Detail: detail, Repaired: true})
	}
}

// volumeCount sums what the volume counters should hold over the walk.
type volumeCount struct {
	mu            sync.Mutex
	space, inodes int64
	seen          map[meta.Ino]bool
}

// A directory whose attribute is missing counts: the repair rebuilds it. A
// dangling entry of another type does not.
func (v *volumeCount) add(n checkNode) {
	if !n.hasAttr && n.attr.Typ != codec.TypeDirectory || n.ino == meta.RootInode || n.ino == meta.TrashInode {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if n.attr.Typ != codec.TypeDirectory && n.attr.Nlink > 1 {
		if v.seen[n.ino] {
			return
		}
		v.seen[n.ino] = true
	}
	v.inodes++
	if n.attr.Typ == codec.TypeFile {
		v.space += int64(codec.Align4K(n.attr.Length))
	} else {
		v.space += 4096
	}
}

// syncCounters stores the walked usage (plus sustained inodes) in the
// volume counters.
func (c *checker) syncCounters(ctx context.Context, v *volumeCount) {
	sustained, err := c.e.Inspect().Sustained(ctx)
	if err != nil {
		c.failed("/", meta.RootInode, fmt.Errorf("scan sustained inodes: %w", err))
		return
	}
	for _, s := range sustained {
		v.inodes++
		v.space += int64(codec.Align4K(s.Attr.Length))
	}
	if err := c.e.Repair().VolumeCounters(ctx, v.space, v.inodes); err != nil {
		c.failed("/", meta.RootInode, fmt.Errorf("sync used space: %w", err))
		return
	}
	c.res.UsedSpace, c.res.UsedInodes = v.space, v.inodes
}
