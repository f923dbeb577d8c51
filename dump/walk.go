package dump

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/keyspace"
)

// How the tree is walked
//
// One goroutine (the walker) writes the tree depth-first. For each directory
// it lists the entries with HSCAN, keeping only names, inodes and types, in
// one byte arena, and sorts them. The children are then read in batches of
// batchSize nodes (attribute, xattrs, ACLs, chunk lists or symlink target:
// two pipelined round trips per batch) by a pool of Threads workers, which
// also render every node's JSON; the walker writes the rendered batches in
// order and descends into sub-directories as it meets them.
//
// Prefetching is bounded by a budget of 2×Threads batches shared by all the
// directories on the current path: a directory submits its next batches to
// the pool while the budget allows, and when the walker needs a batch that
// was never submitted it reads it itself. The walker therefore never waits
// for a budget slot, so there is no deadlock however deep the tree, and the
// memory held is at most the budget plus one batch per level, plus the
// sorted names of the directories on the path.

// batchSize is the number of nodes read together, as juicefs does.
const batchSize = 100

// child is one entry of a directory listing; its name is in the listing's
// arena.
type child struct {
	off int
	n   uint32
	typ codec.FileType
	ino codec.Ino
}

// listing is the sorted content of one directory.
type listing struct {
	arena []byte
	kids  []child
}

func (l *listing) name(c *child) string { return string(l.arena[c.off : c.off+int(c.n)]) }

// rendered is a node read and rendered by a worker.
type rendered struct {
	ino  codec.Ino
	dir  bool
	text []byte // the whole node, or a directory's beginning up to its entries
}

type batchResult struct {
	nodes []rendered
	err   error
}

type job struct {
	l     *listing
	kids  []child
	depth int
	out   chan batchResult
}

type walker struct {
	ctx    context.Context
	cancel context.CancelFunc
	f      *fetcher
	bw     *bufio.Writer
	buf    []byte

	threads int
	jobs    chan job
	budget  chan struct{}
	wg      sync.WaitGroup

	ancestors map[codec.Ino]bool
	path      []string

	progress    func(done, total int64)
	done, total int64
	lastReport  int64
	useTotal    bool
}

func newWalker(ctx context.Context, c rueidis.Client, keys keyspace.Keys, bw *bufio.Writer, opts DumpOptions) *walker {
	ctx, cancel := context.WithCancel(ctx)
	budget := 2 * opts.Threads
	w := &walker{
		ctx:       ctx,
		cancel:    cancel,
		f:         &fetcher{c: c, keys: keys, log: opts.Logger, acls: map[uint32]*codec.ACLRule{}},
		bw:        bw,
		threads:   opts.Threads,
		jobs:      make(chan job, budget),
		budget:    make(chan struct{}, budget),
		ancestors: map[codec.Ino]bool{},
		progress:  opts.Progress,
	}
	for range opts.Threads {
		w.wg.Add(1)
		go w.work()
	}
	return w
}

// stop ends the workers; batches still queued are abandoned.
func (w *walker) stop() {
	w.cancel()
	close(w.jobs)
	w.wg.Wait()
}

func (w *walker) work() {
	defer w.wg.Done()
	for j := range w.jobs {
		nodes, err := w.render(j.l, j.kids, j.depth)
		j.out <- batchResult{nodes, err}
	}
}

// render reads a batch of children and renders them at depth.
func (w *walker) render(l *listing, kids []child, depth int) ([]rendered, error) {
	if err := w.ctx.Err(); err != nil {
		return nil, err
	}
	reqs := make([]nodeRequest, len(kids))
	for i := range kids {
		reqs[i] = nodeRequest{name: l.name(&kids[i]), ino: kids[i].ino, typ: kids[i].typ}
	}
	nodes, err := w.f.fetch(w.ctx, reqs)
	if err != nil {
		return nil, err
	}
	out := make([]rendered, len(nodes))
	for i := range nodes {
		n := &nodes[i]
		out[i] = rendered{ino: n.ino, dir: n.isDir()}
		if out[i].dir {
			out[i].text = appendDirStart(nil, n, depth)
		} else {
			out[i].text = appendNode(nil, n, depth)
		}
	}
	return out, nil
}

func (w *walker) write(b []byte) error {
	_, err := w.bw.Write(b)
	return err
}

func (w *walker) count() {
	w.done++
	w.report(false)
}

func (w *walker) report(final bool) {
	if w.progress == nil || (!final && w.done-w.lastReport < ProgressEvery) {
		return
	}
	w.lastReport = w.done
	w.progress(w.done, max(w.total, w.done))
}

// dumpRoot writes the FSTree or Trash node (depth 1) and everything below.
func (w *walker) dumpRoot(name string, ino codec.Ino) error {
	nodes, err := w.f.fetch(w.ctx, []nodeRequest{{name: name, ino: ino, typ: codec.TypeDirectory}})
	if err != nil {
		return err
	}
	w.buf = appendDirStart(w.buf[:0], &nodes[0], 1)
	if err := w.write(w.buf); err != nil {
		return err
	}
	if !w.useTotal {
		w.total++
	}
	w.count()
	w.ancestors[ino] = true
	w.path = append(w.path[:0], name)
	if err := w.dumpDir(ino, 1); err != nil {
		return err
	}
	delete(w.ancestors, ino)
	w.buf = appendDirEnd(w.buf[:0], 1)
	return w.write(w.buf)
}

// dumpDir writes the entries of directory ino, whose node is at depth.
func (w *walker) dumpDir(ino codec.Ino, depth int) error {
	l, err := w.f.list(w.ctx, ino)
	if err != nil {
		return err
	}
	if !w.useTotal {
		w.total += int64(len(l.kids))
	}
	d := &dirReader{w: w, l: l, depth: depth + 2, results: make([]chan batchResult, (len(l.kids)+batchSize-1)/batchSize)}
	d.prefetch(0)
	for b := range d.results {
		nodes, err := d.get(b)
		if err != nil {
			return err
		}
		for i := range nodes {
			n := &nodes[i]
			if err := w.write(n.text); err != nil {
				return err
			}
			if n.dir {
				if err := w.descend(l, &l.kids[b*batchSize+i], n.ino, depth+2); err != nil {
					return err
				}
			}
			if b*batchSize+i < len(l.kids)-1 {
				if err := w.write([]byte{','}); err != nil {
					return err
				}
			}
			w.count()
		}
		d.prefetch(b + 1)
	}
	return nil
}

// descend writes the entries of sub-directory ino (whose beginning has been
// written at depth) and closes it.
func (w *walker) descend(l *listing, c *child, ino codec.Ino, depth int) error {
	w.path = append(w.path, l.name(c))
	if w.ancestors[ino] {
		return fmt.Errorf("dump: %w: %q (inode %d) contains itself; the volume needs fsck", errCycle, pathString(w.path), ino)
	}
	w.ancestors[ino] = true
	if err := w.dumpDir(ino, depth); err != nil {
		return err
	}
	delete(w.ancestors, ino)
	w.path = w.path[:len(w.path)-1]
	w.buf = appendDirEnd(w.buf[:0], depth)
	return w.write(w.buf)
}

func pathString(p []string) string {
	var b bytes.Buffer
	for i, s := range p {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(s)
	}
	return b.String()
}

// dirReader hands out the rendered batches of one directory in order,
// prefetching through the worker pool within the shared budget.
type dirReader struct {
	w       *walker
	l       *listing
	depth   int
	results []chan batchResult // nil: not submitted
}

func (d *dirReader) batch(b int) []child {
	return d.l.kids[b*batchSize : min((b+1)*batchSize, len(d.l.kids))]
}

// prefetch submits batches from..from+threads-1 that are not submitted yet,
// as long as the budget has room.
func (d *dirReader) prefetch(from int) {
	for b := from; b < len(d.results) && b < from+d.w.threads; b++ {
		if d.results[b] != nil {
			continue
		}
		select {
		case d.w.budget <- struct{}{}:
		default:
			return
		}
		d.results[b] = make(chan batchResult, 1)
		d.w.jobs <- job{l: d.l, kids: d.batch(b), depth: d.depth, out: d.results[b]}
	}
}

// get returns batch b, reading it directly if it was never submitted.
func (d *dirReader) get(b int) ([]rendered, error) {
	if ch := d.results[b]; ch != nil {
		var r batchResult
		select {
		case r = <-ch:
		case <-d.w.ctx.Done():
			return nil, d.w.ctx.Err()
		}
		<-d.w.budget
		d.results[b] = nil
		return r.nodes, r.err
	}
	return d.w.render(d.l, d.batch(b), d.depth)
}

// sortListing sorts children by raw name bytes and drops duplicates (HSCAN
// may return a field twice while the hash is being resized).
func sortListing(l *listing) {
	name := func(c child) []byte { return l.arena[c.off : c.off+int(c.n)] }
	slices.SortFunc(l.kids, func(a, b child) int { return bytes.Compare(name(a), name(b)) })
	l.kids = slices.CompactFunc(l.kids, func(a, b child) bool { return bytes.Equal(name(a), name(b)) })
}
