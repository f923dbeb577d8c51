package objbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/rueidisfs/rueidisfs/objstore"
)

// Config sizes a performance run; juicefs's defaults are noted.
type Config struct {
	BlockSize       int // size of each object of the big object (4 MiB)
	BigObjectSize   int // written as BigObjectSize/BlockSize objects (1 GiB)
	SmallObjectSize int // (128 KiB)
	SmallObjects    int // (100)
	Threads         int // requests in flight (4)
	// Progress, when set, shows each measure as it runs.
	Progress Progress
}

// Progress draws the progress of one measure at a time.
type Progress interface {
	Start(name string, total int)
	Add(n int)
	Done()
}

// Result is one row of the performance table.
type Result struct {
	Item, Value, Cost string
	Err               error // what failed, when Value is "failed"
}

// maxListed bounds the objects one listing reads.
const maxListed = 1000

// bench is one performance run.
type bench struct {
	st                       objstore.Store
	cfg                      Config
	big, small               []byte // seeds: object i is the seed rotated by i
	bigCount, listCount      int
	bigBuffers, smallBuffers sync.Pool
}

// Threads is the number of requests in flight Performance uses for cfg:
// no more than there are big or small objects, as juicefs limits it.
func Threads(cfg Config) int {
	bigCount := (cfg.BigObjectSize + cfg.BlockSize - 1) / cfg.BlockSize
	return max(1, min(cfg.Threads, bigCount, cfg.SmallObjects))
}

// Performance measures st (an empty prefix of its own) and returns the
// rows in juicefs's order: upload and download of the big object, put and
// get of small objects, list, head, delete, and the file operations
// rueidisfs's stores do not have.
func Performance(ctx context.Context, st objstore.Store, cfg Config) []Result {
	cfg.Threads = Threads(cfg)
	b := &bench{st: st, cfg: cfg, big: make([]byte, cfg.BlockSize), small: make([]byte, cfg.SmallObjectSize)}
	b.bigCount = (cfg.BigObjectSize + cfg.BlockSize - 1) / cfg.BlockSize
	b.listCount = min(cfg.SmallObjects+b.bigCount, maxListed)
	fillRandom(b.big, 2)
	fillRandom(b.small, 3)
	b.bigBuffers.New = func() any { s := make([]byte, cfg.BlockSize); return &s }
	b.smallBuffers.New = func() any { s := make([]byte, cfg.SmallObjectSize); return &s }
	s, n := cfg.SmallObjects, b.bigCount
	smallPut := b.measure(ctx, "put small objects", 0, s, b.putSmall)
	smallGet := b.measure(ctx, "get small objects", 0, s, b.getSmall)
	put := b.measure(ctx, "upload objects", s, n, b.putBig)
	get := b.measure(ctx, "download objects", s, n, b.getBig)
	list := b.measure(ctx, "list objects", 0, cfg.Threads, b.list)
	head := b.measure(ctx, "head objects", 0, s+n, b.head)
	del := b.measure(ctx, "delete objects", 0, s+n, func(ctx context.Context, i int) error { return b.st.Delete(ctx, key(i)) })
	bigMiB := float64(cfg.BlockSize) / (1 << 20) * float64(n)
	return []Result{
		b.result(put, bigMiB, n, "MiB/s", "ms/object"),
		b.result(get, bigMiB, n, "MiB/s", "ms/object"),
		b.result(smallPut, float64(s), s, "objects/s", "ms/object"),
		b.result(smallGet, float64(s), s, "objects/s", "ms/object"),
		b.listResult(list),
		b.result(head, float64(s+n), s+n, "objects/s", "ms/object"),
		b.result(del, float64(s+n), s+n, "objects/s", "ms/object"),
		{Item: "change permissions", Value: NotSupported, Cost: NotSupported},
		{Item: "change owner/group", Value: NotSupported, Cost: NotSupported},
		{Item: "update mtime", Value: NotSupported, Cost: NotSupported},
	}
}

// measured is how long count operations took, or what failed.
type measured struct {
	item string
	cost float64 // seconds
	err  error
}

// measure runs op for items first … first+count-1 with the configured
// number of requests in flight.
func (b *bench) measure(ctx context.Context, item string, first, count int, op func(context.Context, int) error) measured {
	if b.cfg.Progress != nil {
		b.cfg.Progress.Start(item, count)
		defer b.cfg.Progress.Done()
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	next := make(chan int)
	start := time.Now()
	for range b.cfg.Threads {
		wg.Go(func() {
			for i := range next {
				if err := op(ctx, i); err != nil {
					mu.Lock()
					firstErr = cmpOr(firstErr, err)
					mu.Unlock()
				}
				if b.cfg.Progress != nil {
					b.cfg.Progress.Add(1)
				}
			}
		})
	}
	for i := first; i < first+count; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return measured{item: item, cost: time.Since(start).Seconds(), err: firstErr}
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// result makes a row: total units per second, and the time one request
// took on average with the requests in flight.
func (b *bench) result(m measured, units float64, count int, unit, per string) Result {
	if m.err != nil {
		return Result{Item: m.item, Value: "failed", Cost: "failed", Err: m.err}
	}
	return Result{
		Item:  m.item,
		Value: strconv.FormatFloat(units/m.cost, 'f', 2, 64) + " " + unit,
		Cost:  formatCost(float64(b.cfg.Threads)*m.cost*1000/float64(count)) + " " + per,
	}
}

func (b *bench) listResult(m measured) Result {
	if m.err != nil {
		return Result{Item: m.item, Value: "failed", Cost: "failed", Err: m.err}
	}
	return Result{
		Item:  m.item,
		Value: strconv.FormatFloat(float64(b.listCount*b.cfg.Threads)/m.cost, 'f', 2, 64) + " objects/s",
		Cost:  formatCost(m.cost*1000) + fmt.Sprintf(" ms/ %d objects", b.listCount),
	}
}

// formatCost shows milliseconds with two decimals, or two significant
// digits below 0.01.
func formatCost(ms float64) string {
	if ms < 0.01 {
		return strconv.FormatFloat(ms, 'g', 2, 64)
	}
	return strconv.FormatFloat(ms, 'f', 2, 64)
}

// key names object i.
func key(i int) string { return strconv.Itoa(i) }

// rotated fills out with seed rotated left by i bytes, so that every
// object differs.
func rotated(seed []byte, i int, out []byte) {
	i %= len(seed)
	n := copy(out, seed[i:])
	copy(out[n:], seed[:i])
}

func fillRandom(b []byte, seed uint64) {
	r := rand.NewChaCha8([32]byte{byte(seed)})
	_, _ = r.Read(b)
}

func (b *bench) putBig(ctx context.Context, i int) error {
	buf := b.bigBuffers.Get().(*[]byte)
	defer b.bigBuffers.Put(buf)
	rotated(b.big, i-b.cfg.SmallObjects, *buf)
	return b.st.Put(ctx, key(i), *buf)
}

func (b *bench) putSmall(ctx context.Context, i int) error {
	buf := b.smallBuffers.Get().(*[]byte)
	defer b.smallBuffers.Put(buf)
	rotated(b.small, i, *buf)
	return b.st.Put(ctx, key(i), *buf)
}

func (b *bench) getBig(ctx context.Context, i int) error {
	return b.getChecked(ctx, i, b.big, i-b.cfg.SmallObjects, &b.bigBuffers)
}

func (b *bench) getSmall(ctx context.Context, i int) error {
	return b.getChecked(ctx, i, b.small, i, &b.smallBuffers)
}

// errWrongContent: an object read back is not what was written.
var errWrongContent = errors.New("the downloaded content is incorrect")

// getChecked reads object i whole and checks its size and first bytes
// (a full comparison would weigh on the figures of fast storages).
func (b *bench) getChecked(ctx context.Context, i int, seed []byte, rotation int, pool *sync.Pool) error {
	r, err := b.st.Get(ctx, key(i), 0, -1)
	if err != nil {
		return err
	}
	defer r.Close()
	buf := pool.Get().(*[]byte)
	defer pool.Put(buf)
	if _, err := io.ReadFull(r, *buf); err != nil {
		return fmt.Errorf("object %s: %w", key(i), err)
	}
	if n, _ := r.Read(make([]byte, 1)); n != 0 {
		return fmt.Errorf("object %s: %w (longer than written)", key(i), errWrongContent)
	}
	var head [10]byte
	rotated(seed, rotation, head[:min(len(head), len(seed))])
	if string((*buf)[:min(len(head), len(seed))]) != string(head[:min(len(head), len(seed))]) {
		return fmt.Errorf("object %s: %w", key(i), errWrongContent)
	}
	return nil
}

func (b *bench) head(ctx context.Context, i int) error {
	_, err := b.st.Head(ctx, key(i))
	return err
}

// list reads the first listCount objects.
func (b *bench) list(ctx context.Context, _ int) error {
	n := 0
	for _, err := range b.st.List(ctx, "", "") {
		if err != nil {
			return err
		}
		if n++; n == b.listCount {
			break
		}
	}
	return nil
}
