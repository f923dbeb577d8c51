package chunk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// With --writeback a block is written to the staging area of the disk
// cache instead of being uploaded while its writer waits: the slice may be
// committed in the metadata as soon as its blocks are on the local disk,
// and background uploaders store them in the object storage afterwards
// (right away, or after Config.UploadDelay, within Config.UploadHours).
// Until then only this client can read them: other clients' reads of those
// blocks fail, and a lost cache disk loses the data. Staged blocks left by
// an earlier run (of rueidisfs or JuiceFS) are uploaded whatever the
// setting, once the cache directory is opened again.

// backgroundTries is how often a staged block's upload is tried before it
// waits for the next round (JuiceFS tries 3 times too).
const backgroundTries = 3

type writeback struct {
	s         *Store
	enabled   bool // new blocks are staged
	threshold int  // blocks shorter than this are staged
	delay     time.Duration
	fromHour  int // uploads only from this hour of the day ...
	toHour    int // ... to this one (equal: at any time)
	timeout   time.Duration
	maxWrites int64
	writes    atomic.Int64 // staging writes in flight

	mu      sync.Mutex
	pending map[string]*stagedBlock
	queue   chan *stagedBlock
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// stagedBlock is a block waiting in a staging area for its upload.
type stagedBlock struct {
	key       string
	dir       *diskCache
	added     time.Time
	uploading atomic.Bool // queued or being uploaded
}

// ParseUploadHours reads --upload-hours: "start-end" or "start,end",
// hours 0 to 23 ("" or equal hours: at any time). The window may wrap
// around midnight ("22-6").
func ParseUploadHours(s string) (from, to int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	sep := ","
	if strings.Contains(s, "-") {
		sep = "-"
	}
	parts := strings.Split(s, sep)
	if len(parts) == 2 {
		from, err = strconv.Atoi(strings.TrimSpace(parts[0]))
		if err == nil {
			to, err = strconv.Atoi(strings.TrimSpace(parts[1]))
		}
		if err == nil && from >= 0 && from <= 23 && to >= 0 && to <= 23 {
			return from, to, nil
		}
	}
	return 0, 0, fmt.Errorf("invalid upload hours %q: use start-end with hours 0 to 23, e.g. 22-6", s)
}

func newWriteback(s *Store) *writeback {
	c := &s.conf
	ctx, cancel := context.WithCancel(context.Background())
	wb := &writeback{
		s:         s,
		enabled:   c.Writeback,
		threshold: c.WritebackThreshold,
		delay:     c.UploadDelay,
		fromHour:  c.uploadFrom,
		toHour:    c.uploadTo,
		timeout:   c.StageTimeout,
		maxWrites: int64(c.MaxStageWrite),
		pending:   map[string]*stagedBlock{},
		queue:     make(chan *stagedBlock, 100*c.MaxUploads),
		ctx:       ctx,
		cancel:    cancel,
	}
	for _, d := range s.disk.dirs {
		d.hurry = wb.hurry
	}
	for range c.MaxUploads {
		wb.wg.Add(1)
		go wb.uploader()
	}
	rescan := c.stagingRescan
	if rescan <= 0 {
		rescan = time.Minute
		if wb.delay > 0 {
			rescan = min(rescan, wb.delay)
		}
	}
	wb.wg.Add(2)
	go wb.rescanLoop(rescan)
	go wb.scanStaged()
	return wb
}

// close stops the uploads; blocks still staged stay on disk for the next
// run.
func (wb *writeback) close() {
	wb.cancel()
	wb.wg.Wait()
}

// stages reports whether a new block of blen bytes is to be staged.
func (wb *writeback) stages(blen int) bool { return wb.enabled && blen < wb.threshold }

// stage writes a block to the staging area and schedules its upload. It
// reports false, and the caller uploads the block itself, when the cache
// disk is short of space or failing, too many staging writes are in flight,
// or the write takes longer than the stage timeout (it is then undone).
func (wb *writeback) stage(key string, data []byte) bool {
	dir := wb.s.disk.pick(key)
	if dir.stageFull.Load() || dir.down() {
		return false
	}
	if wb.writes.Add(1) > wb.maxWrites {
		wb.writes.Add(-1)
		return false
	}
	const (
		running = iota
		done
		abandoned
	)
	var state atomic.Int32
	result := make(chan error, 1)
	go func() {
		defer wb.writes.Add(-1)
		err := dir.stage(key, data)
		if !state.CompareAndSwap(running, done) && err == nil {
			dir.dropStaged(key) // the caller uploads the block itself
		}
		result <- err
	}()
	t := time.NewTimer(wb.timeout)
	defer t.Stop()
	var err error
	select {
	case err = <-result:
	case <-t.C:
		if state.CompareAndSwap(running, abandoned) {
			wb.s.log.Warn(fmt.Sprintf("staging block %s took longer than %v: uploading it directly", key, wb.timeout))
			return false
		}
		err = <-result
	}
	if err != nil {
		wb.s.metrics.stageErrors.Inc()
		wb.s.log.Warn(fmt.Sprintf("staging block %s: %v: uploading it directly", key, err))
		return false
	}
	// Recorded unless the file vanished meanwhile: then the caller uploads.
	return wb.add(key, dir, time.Now(), wb.delay == 0)
}

// add records a staged block and queues it for upload when due (now with
// force, unless outside the upload hours). A block whose file is gone
// (its slice was removed since a scan found it) is not recorded: drop
// removes files under the same lock. It reports whether the block is
// recorded.
func (wb *writeback) add(key string, dir *diskCache, added time.Time, force bool) bool {
	wb.mu.Lock()
	b := wb.pending[key]
	if b == nil {
		if _, err := os.Stat(dir.stagePath(key)); err != nil {
			wb.mu.Unlock()
			return false
		}
		b = &stagedBlock{key: key, dir: dir, added: added}
		wb.pending[key] = b
	}
	wb.mu.Unlock()
	if force || time.Since(added) >= wb.delay {
		wb.enqueue(b, false)
	}
	return true
}

// enqueue hands b to the uploaders unless it is queued already, outside
// the upload hours, or (without wait) when the queue is full: the next
// round of rescanLoop brings it back.
func (wb *writeback) enqueue(b *stagedBlock, wait bool) {
	if !wb.canUpload(time.Now()) || !b.uploading.CompareAndSwap(false, true) {
		return
	}
	if wait {
		select {
		case wb.queue <- b:
		case <-wb.ctx.Done():
			b.uploading.Store(false)
		}
		return
	}
	select {
	case wb.queue <- b:
	default:
		b.uploading.Store(false)
	}
}

// canUpload reports whether now is within the upload hours.
func (wb *writeback) canUpload(now time.Time) bool {
	from, to, h := wb.fromHour, wb.toHour, now.Hour()
	switch {
	case from == to:
		return true
	case from < to:
		return h >= from && h < to
	default:
		return h >= from || h < to
	}
}

// rescanLoop queues, every interval, the staged blocks whose delay has
// passed (those whose upload failed included).
func (wb *writeback) rescanLoop(interval time.Duration) {
	defer wb.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-wb.ctx.Done():
			return
		case now := <-t.C:
			for _, b := range wb.due(now.Add(-wb.delay), nil) {
				wb.enqueue(b, true)
			}
		}
	}
}

// due lists the staged blocks added before cutoff (of dir, when not nil).
func (wb *writeback) due(cutoff time.Time, dir *diskCache) []*stagedBlock {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	var list []*stagedBlock
	for _, b := range wb.pending {
		if b.added.Before(cutoff) && (dir == nil || b.dir == dir) {
			list = append(list, b)
		}
	}
	return list
}

// hurry queues the staged blocks of a cache directory short of space,
// whatever their delay.
func (wb *writeback) hurry(dir *diskCache) {
	for _, b := range wb.due(time.Now().Add(time.Hour), dir) {
		wb.enqueue(b, false)
	}
}

func (wb *writeback) uploader() {
	defer wb.wg.Done()
	for {
		select {
		case <-wb.ctx.Done():
			return
		case b := <-wb.queue:
			wb.upload(b)
			b.uploading.Store(false)
		}
	}
}

// valid reports whether b is still to be uploaded (its slice was not
// deleted meanwhile).
func (wb *writeback) valid(b *stagedBlock) bool {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	return wb.pending[b.key] == b
}

// upload stores a staged block. After success the staged copy goes; when
// the block's slice was deleted while the upload ran, so does the object.
func (wb *writeback) upload(b *stagedBlock) {
	if !wb.canUpload(time.Now()) || !wb.valid(b) {
		return
	}
	blen, _ := cachedBlockLen(b.key)
	data, err := b.dir.readStaged(b.key, blen)
	if err != nil {
		if !wb.valid(b) {
			return // dropped while it was read
		}
		if errors.Is(err, fs.ErrNotExist) {
			wb.s.log.Error(fmt.Sprintf("staged block %s vanished before its upload: its data is lost", b.dir.stagePath(b.key)))
		} else {
			wb.s.log.Error(fmt.Sprintf("cannot upload %v: left in the staging area", err))
		}
		wb.forget(b)
		return
	}
	if err := wb.s.putBlock(wb.ctx, b.key, data, backgroundTries); err != nil {
		if wb.ctx.Err() == nil {
			wb.s.log.Warn(fmt.Sprintf("%v; trying again later", err))
		}
		return
	}
	if !wb.forget(b) {
		// Deleted while uploading: the object must not outlive its slice.
		if err := wb.s.storage.Delete(context.Background(), b.key); err != nil {
			wb.s.log.Warn(fmt.Sprintf("delete object %s of a deleted slice: %v (left for gc)", b.key, err))
		}
		return
	}
	wb.s.metrics.stageDelay.Add(time.Since(b.added).Seconds())
	b.dir.unstage(b.key)
}

// forget removes b from the pending blocks; false if it was gone already.
func (wb *writeback) forget(b *stagedBlock) bool {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	if wb.pending[b.key] != b {
		return false
	}
	delete(wb.pending, b.key)
	return true
}

// drop forgets a staged block whose slice is deleted (or never committed)
// and removes its staged copies in every cache directory, also one a scan
// found and did not record yet (the caller removes the cached copy). It
// reports whether the block was recorded. An upload under way deletes its
// object when it finds the block gone.
func (wb *writeback) drop(key string) bool {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	b := wb.pending[key]
	delete(wb.pending, key)
	for _, d := range wb.s.disk.dirs {
		d.removeStaged(key)
	}
	return b != nil
}

// read fills p from offset off of a staged block, when the cache no longer
// has it.
func (wb *writeback) read(key string, blen int, p []byte, off int) bool {
	wb.mu.Lock()
	b := wb.pending[key]
	wb.mu.Unlock()
	if b == nil {
		return false
	}
	data, err := b.dir.readStaged(key, blen)
	if err != nil {
		return false
	}
	copy(p, data[off:])
	return true
}

// Staging returns the number and the total length of the blocks waiting in
// the staging area for their upload.
func (s *Store) Staging() (blocks int, bytes int64) {
	if s.wb == nil {
		return 0, 0
	}
	s.wb.mu.Lock()
	defer s.wb.mu.Unlock()
	for key := range s.wb.pending {
		blen, _ := cachedBlockLen(key)
		bytes += int64(blen)
	}
	return len(s.wb.pending), bytes
}

// scanStaged queues the blocks earlier runs left in the staging areas.
func (wb *writeback) scanStaged() {
	defer wb.wg.Done()
	for _, d := range wb.s.disk.dirs {
		d.scanStaging(func(key string, mtime time.Time) { wb.add(key, d, mtime, false) })
	}
}

// Writeback reports whether new blocks are staged before their upload.
func (s *Store) Writeback() bool { return s.wb != nil && s.wb.enabled }
