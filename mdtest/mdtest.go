// Package mdtest is the metadata workload behind `rueidisfs mdtest`. Its
// create phase does the same work as `juicefs mdtest` (JuiceFS 1.4.1): a
// tree of directories PATH/test-dir.0-0/mdtest_tree.0/mdtest_tree.N/... of
// the given width and depth, then every thread creates files
// file.mdtest.<thread>.<i> in every directory of the tree, each created
// through a path (every component looked up, as JuiceFS's path-based file
// system layer does), optionally with metadata-only writes. The phases that
// follow (stat, readdir, rename, remove) are those of the classic mdtest
// benchmark that juicefs's version lacks.
package mdtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// Options are the flags of `juicefs mdtest`, plus the phase selection. The
// defaults in parentheses are the command line's; Run takes a zero as
// zero, but for Threads (1).
type Options struct {
	Threads int // goroutines creating files (default 1)
	Dirs    int // width of the directory tree (3; 0: files in the top directory only, as juicefs)
	Depth   int // depth of the tree (2)
	Files   int // files per thread per directory (10)
	Write   int // bytes of metadata-only data per file (0)
	// Phases to run after the create phase, in this order: "stat",
	// "readdir", "rename", "remove". None by default: like juicefs mdtest,
	// the run creates the tree and leaves it in place.
	Phases []string
	// Umask applied to created nodes.
	Umask uint16
}

func (o *Options) setDefaults() {
	if o.Threads <= 0 {
		o.Threads = 1
	}
	if o.Dirs < 0 {
		o.Dirs = 0
	}
	if o.Depth < 0 {
		o.Depth = 0
	}
	if o.Files < 0 {
		o.Files = 0
	}
}

// Result is the outcome of one phase.
type Result struct {
	Phase   string        // "dirs", "create", "stat", "readdir", "rename", "remove"
	Count   int           // items processed
	Unit    string        // "dirs", "files"
	Elapsed time.Duration // wall time of the phase
}

// Rate is items per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Count) / r.Elapsed.Seconds()
}

// String is the summary line juicefs prints for its phases ("Created N dirs
// in T (X dirs/s)") and the same shape for ours.
func (r Result) String() string {
	verb := map[string]string{"dirs": "Created", "create": "Created", "stat": "Stat", "readdir": "Listed",
		"rename": "Renamed", "remove": "Removed"}[r.Phase]
	return fmt.Sprintf("%s %d %s in %s (%d %s/s)", verb, r.Count, r.Unit, r.Elapsed, int(r.Rate()), r.Unit)
}

// Progress receives progress: the phase starting with its total, then one
// call per processed item (Done).
type Progress interface {
	Start(phase string, total int)
	Increment()
	Done()
}

type nopProgress struct{}

func (nopProgress) Start(string, int) {}
func (nopProgress) Increment()        {}
func (nopProgress) Done()             {}

// TreeDirs is the number of directories of a tree of the given width and
// depth (its root included); ok is false when that is more than limit.
func TreeDirs(width, depth, limit int) (dirs int, ok bool) {
	switch {
	case width <= 0 || depth <= 0:
		return 1, limit >= 1
	case width == 1: // a chain: no loop over a huge depth
		return 1 + depth, depth < limit
	}
	dirs = 1
	for level, z := 1, 0; z < depth; z++ { // at most log2(limit) levels
		if level > limit/width {
			return 0, false
		}
		level *= width
		if dirs += level; dirs > limit {
			return 0, false
		}
	}
	return dirs, true
}

// KnownPhases are the phases that may follow the create phase, in order.
func KnownPhases() []string { return []string{"stat", "readdir", "rename", "remove"} }

// TreeRoot is the directory a run under root creates and fills, as juicefs
// mdtest names it.
func TreeRoot(root string) string { return path.Join(root, "test-dir.0-0") }

// Engine is what the workload needs of a metadata engine; *meta.Engine has
// it.
type Engine interface {
	Mkdir(ctx context.Context, parent meta.Ino, name string, mode, umask uint16) (meta.Ino, meta.Attr, error)
	Create(ctx context.Context, parent meta.Ino, name string, mode, umask uint16, flags uint32) (meta.Ino, meta.Attr, error)
	Release(ctx context.Context, ino meta.Ino) error
	NewSlice(ctx context.Context) (uint64, error)
	Write(ctx context.Context, ino meta.Ino, indx uint32, off uint32, s codec.Slice, mtime time.Time) error
	Lookup(ctx context.Context, parent meta.Ino, name string) (meta.Ino, meta.Attr, error)
	GetAttr(ctx context.Context, ino meta.Ino) (meta.Attr, error)
	Readdir(ctx context.Context, ino meta.Ino, plus bool) ([]meta.Entry, error)
	Rename(ctx context.Context, srcParent meta.Ino, srcName string, dstParent meta.Ino, dstName string, flags uint32) (meta.Ino, meta.Attr, error)
	Unlink(ctx context.Context, parent meta.Ino, name string, skipTrash bool) error
	Rmdir(ctx context.Context, parent meta.Ino, name string, skipTrash bool) error
}

var _ Engine = (*meta.Engine)(nil)

// runner holds the state of one run.
type runner struct {
	e    Engine
	opts Options
	prog Progress
	// dirs lists the tree's directories (paths relative to the root
	// PATH/test-dir.0-0/mdtest_tree.0) in creation order.
	dirs []string
	root string
}

// Run runs the workload under path root of the volume and reports each
// phase's result through report.
func Run(ctx context.Context, e Engine, root string, opts Options, prog Progress, report func(Result)) error {
	opts.setDefaults()
	if prog == nil {
		prog = nopProgress{}
	}
	r := &runner{e: e, opts: opts, prog: prog}
	start := time.Now()
	if err := r.mkdirAll(ctx, root); err != nil {
		return err
	}
	r.root = TreeRoot(root)
	if _, err := r.mkdirPath(ctx, r.root); err != nil {
		return fmt.Errorf("mkdir %s: %w", r.root, err)
	}
	r.root = path.Join(r.root, "mdtest_tree.0")
	if err := r.createDirs(ctx, "", opts.Depth); err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	report(Result{Phase: "dirs", Count: len(r.dirs), Unit: "dirs", Elapsed: time.Since(start)})

	total := len(r.dirs) * opts.Threads * opts.Files
	if err := r.parallel(ctx, "create", total, func(ctx context.Context, thread int) error {
		return r.createFiles(ctx, thread, "", opts.Depth)
	}, report); err != nil {
		return err
	}
	for _, phase := range opts.Phases {
		var err error
		switch phase {
		case "stat":
			err = r.parallel(ctx, "stat", total, func(ctx context.Context, thread int) error {
				// Like stat(2) on a path: every component is looked up.
				return r.eachFile(ctx, thread, func(_ meta.Ino, dirPath, name string) error {
					_, _, err := r.lookupPath(ctx, path.Join(dirPath, name))
					return err
				})
			}, report)
		case "readdir":
			err = r.readdirAll(ctx, report)
		case "rename":
			err = r.parallel(ctx, "rename", total, func(ctx context.Context, thread int) error {
				return r.eachFile(ctx, thread, func(dir meta.Ino, _, name string) error {
					_, _, err := r.e.Rename(ctx, dir, name, dir, renamed(name), 0)
					return err
				})
			}, report)
		case "remove":
			err = r.removeAll(ctx, report)
		default:
			err = fmt.Errorf("unknown phase %q (want stat, readdir, rename or remove)", phase)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func renamed(name string) string { return strings.Replace(name, "file.mdtest.", "renamed.mdtest.", 1) }

// parallel runs fn in opts.Threads goroutines as one phase.
func (r *runner) parallel(ctx context.Context, phase string, total int, fn func(ctx context.Context, thread int) error, report func(Result)) error {
	r.prog.Start(phase, total)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, r.opts.Threads)
	for i := 0; i < r.opts.Threads; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = fn(ctx, i)
		}(i)
	}
	wg.Wait()
	r.prog.Done()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("%s: %w", phase, err)
		}
	}
	report(Result{Phase: phase, Count: total, Unit: "files", Elapsed: time.Since(start)})
	return nil
}

// lookupPath resolves a path from the root one component at a time, like a
// path-based file system layer.
func (r *runner) lookupPath(ctx context.Context, p string) (meta.Ino, meta.Attr, error) {
	ino := meta.RootInode
	var attr meta.Attr
	for rest := p; rest != ""; {
		var comp string
		comp, rest, _ = strings.Cut(rest, "/")
		if comp == "" {
			continue
		}
		var err error
		if ino, attr, err = r.e.Lookup(ctx, ino, comp); err != nil {
			return 0, attr, fmt.Errorf("lookup %s in %s: %w", comp, p, err)
		}
	}
	if ino == meta.RootInode {
		a, err := r.e.GetAttr(ctx, ino)
		return ino, a, err
	}
	return ino, attr, nil
}

// mkdirPath creates the last component of p (its parent must exist).
func (r *runner) mkdirPath(ctx context.Context, p string) (meta.Ino, error) {
	parent, _, err := r.lookupPath(ctx, path.Dir(p))
	if err != nil {
		return 0, err
	}
	ino, _, err := r.e.Mkdir(ctx, parent, path.Base(p), 0o777, r.opts.Umask)
	return ino, err
}

// mkdirAll creates root and its missing ancestors; an existing root is fine.
func (r *runner) mkdirAll(ctx context.Context, root string) error {
	cur := "/"
	for _, comp := range strings.Split(strings.Trim(root, "/"), "/") {
		if comp == "" {
			continue
		}
		cur = path.Join(cur, comp)
		if _, err := r.mkdirPath(ctx, cur); err != nil && !isExists(err) {
			return fmt.Errorf("mkdir %s: %w", cur, err)
		}
	}
	return nil
}

func isExists(err error) bool { return meta.ToErrno(err) == syscall.EEXIST }

func (r *runner) createDirs(ctx context.Context, rel string, depth int) error {
	if _, err := r.mkdirPath(ctx, path.Join(r.root, rel)); err != nil {
		return fmt.Errorf("mkdir %s: %w", path.Join(r.root, rel), err)
	}
	r.dirs = append(r.dirs, rel)
	if depth == 0 {
		return nil
	}
	for i := 0; i < r.opts.Dirs; i++ {
		if err := r.createDirs(ctx, path.Join(rel, fmt.Sprintf("mdtest_tree.%d", i)), depth-1); err != nil {
			return err
		}
	}
	return nil
}

// createFiles creates this thread's files in rel and, in random order, in
// its sub-directories, as juicefs mdtest does.
func (r *runner) createFiles(ctx context.Context, thread int, rel string, depth int) error {
	dir := path.Join(r.root, rel)
	names := newFileNames(thread)
	for i := 0; i < r.opts.Files; i++ {
		name := names.name(i)
		parent, _, err := r.lookupPath(ctx, dir)
		if err != nil {
			return err
		}
		ino, _, err := r.e.Create(ctx, parent, name, 0o666, r.opts.Umask, 0)
		if err != nil {
			return fmt.Errorf("create %s: %w", path.Join(dir, name), err)
		}
		if err := r.write(ctx, ino); err != nil {
			r.e.Release(ctx, ino)
			return fmt.Errorf("write %s: %w", path.Join(dir, name), err)
		}
		if err := r.e.Release(ctx, ino); err != nil {
			return err
		}
		r.prog.Increment()
	}
	if depth == 0 {
		return nil
	}
	order := rand.Perm(r.opts.Dirs)
	for _, i := range order {
		if err := r.createFiles(ctx, thread, path.Join(rel, fmt.Sprintf("mdtest_tree.%d", i)), depth-1); err != nil {
			return err
		}
	}
	return nil
}

// fileNames builds the names of a thread's files, file.mdtest.THREAD.I, in
// one buffer: formatting them (and cleaning a path) per file cost more
// client CPU than the file's cached lookups.
type fileNames struct {
	buf    []byte
	prefix int
}

func newFileNames(thread int) *fileNames {
	b := strconv.AppendInt([]byte("file.mdtest."), int64(thread), 10)
	b = append(b, '.')
	return &fileNames{buf: b, prefix: len(b)}
}

func (f *fileNames) name(i int) string {
	f.buf = strconv.AppendInt(f.buf[:f.prefix], int64(i), 10)
	return string(f.buf)
}

// write records metadata-only slices covering opts.Write bytes, one per
// 64 MiB chunk, without uploading data (as juicefs mdtest --write does).
func (r *runner) write(ctx context.Context, ino meta.Ino) error {
	for indx := 0; indx*codec.ChunkSize < r.opts.Write; indx++ {
		id, err := r.e.NewSlice(ctx)
		if err != nil {
			return err
		}
		size := min(r.opts.Write-indx*codec.ChunkSize, codec.ChunkSize)
		if err := r.e.Write(ctx, ino, uint32(indx), 0, codec.Slice{ID: id, Size: uint32(size), Len: uint32(size)}, time.Now()); err != nil {
			return err
		}
	}
	return nil
}

// eachFile calls fn for every file of this thread, directory by directory,
// with the directory's inode and path.
func (r *runner) eachFile(ctx context.Context, thread int, fn func(dir meta.Ino, dirPath, name string) error) error {
	for _, rel := range r.dirs {
		p := path.Join(r.root, rel)
		dir, _, err := r.lookupPath(ctx, p)
		if err != nil {
			return err
		}
		names := newFileNames(thread)
		for i := 0; i < r.opts.Files; i++ {
			if err := fn(dir, p, names.name(i)); err != nil {
				return err
			}
			r.prog.Increment()
		}
	}
	return nil
}

// readdirAll lists every directory of the tree with attributes, spread over
// the threads.
func (r *runner) readdirAll(ctx context.Context, report func(Result)) error {
	r.prog.Start("readdir", len(r.dirs))
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, r.opts.Threads)
	for t := 0; t < r.opts.Threads; t++ {
		wg.Add(1)
		go func(t int) {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(r.dirs) {
					return
				}
				dir, _, err := r.lookupPath(ctx, path.Join(r.root, r.dirs[i]))
				if err == nil {
					_, err = r.e.Readdir(ctx, dir, true)
				}
				if err != nil {
					errs[t] = err
					return
				}
				r.prog.Increment()
			}
		}(t)
	}
	wg.Wait()
	r.prog.Done()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("readdir: %w", err)
		}
	}
	report(Result{Phase: "readdir", Count: len(r.dirs), Unit: "dirs", Elapsed: time.Since(start)})
	return nil
}

// removeAll removes every file (in parallel) and then the directory tree.
func (r *runner) removeAll(ctx context.Context, report func(Result)) error {
	total := len(r.dirs) * r.opts.Threads * r.opts.Files
	err := r.parallel(ctx, "remove", total, func(ctx context.Context, thread int) error {
		return r.eachFile(ctx, thread, func(dir meta.Ino, _, name string) error {
			err := r.e.Unlink(ctx, dir, renamed(name), false)
			if meta.ToErrno(err) == syscall.ENOENT {
				err = r.e.Unlink(ctx, dir, name, false)
			}
			return err
		})
	}, report)
	if err != nil {
		return err
	}
	for i := len(r.dirs) - 1; i >= 0; i-- {
		p := path.Join(r.root, r.dirs[i])
		parent, _, err := r.lookupPath(ctx, path.Dir(p))
		if err != nil {
			return err
		}
		if err := r.e.Rmdir(ctx, parent, path.Base(p), false); err != nil {
			return fmt.Errorf("rmdir %s: %w", p, err)
		}
	}
	return nil
}
