package chunk

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// The staging area of a cache directory, <dir>/<uuid>/rawstaging/, holds
// the blocks written with --writeback until they are uploaded: each is a
// file named by the block's object key, in the cache file format, and
// hard-linked into raw/ so that reads find it (a cache file with more than
// one link is a staged block, never evicted). JuiceFS lays out staged
// blocks the same way, so either client finishes the uploads of the other
// when started on the same cache directory.

// stagedKey matches the names of staged blocks; other files are left alone.
var stagedKey = regexp.MustCompile(`^chunks/((\d+)|([0-9a-fA-F]{2}))/\d+/\d+_\d+_\d+$`)

func (c *diskCache) stagePath(key string) string { return c.stageRoot + filepath.FromSlash(key) }

// stage writes block to the staging area and links it into the cache.
func (c *diskCache) stage(key string, block []byte) error {
	if c.down() {
		return errors.New("the cache directory is bypassed after an error")
	}
	p := c.stagePath(key)
	end := c.clock.begin()
	defer end()
	if err := writeCacheFile(p, block, c.checksum != ChecksumNone, c.fileMode, c.dirMode); err != nil {
		c.failed("stage", key, err)
		return err
	}
	cached := c.path(key)
	err := mkdirMode(filepath.Dir(cached), c.dirMode)
	if err == nil {
		err = os.Link(p, cached)
	}
	if err != nil {
		// The block is staged: only reads miss the cache.
		c.log.Warn(fmt.Sprintf("disk cache: link %s to %s: %v", p, cached, err))
		return nil
	}
	c.add(key, len(block), time.Now().UnixNano(), true)
	c.metrics.stageWriteBytes.Add(float64(len(block)))
	return nil
}

// unstage removes the staged copy of an uploaded block; its cached copy
// becomes an ordinary one.
func (c *diskCache) unstage(key string) {
	c.removeStaged(key)
	if blen, ok := cachedBlockLen(key); ok {
		c.mu.Lock()
		if e, ok := c.index.get(key); ok && e.staged {
			c.index.add(key, &cacheEntry{charged: int64(blen) + entryOverhead, atime: e.atime})
		}
		c.mu.Unlock()
	}
}

// dropStaged removes a staged block and its cached copy (its slice is
// gone).
func (c *diskCache) dropStaged(key string) {
	c.removeStaged(key)
	c.remove(key)
}

// removeStaged removes the staged copy of a block, if any.
func (c *diskCache) removeStaged(key string) {
	if err := os.Remove(c.stagePath(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.log.Warn(fmt.Sprintf("remove staged block %s: %v", c.stagePath(key), err))
	}
}

// readStaged reads a staged block whole and verifies its checksums.
func (c *diskCache) readStaged(key string, blen int) ([]byte, error) {
	end := c.clock.begin()
	defer end()
	f, err := os.Open(c.stagePath(key))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	block := make([]byte, blen)
	if err := readCacheFile(f, blen, block, 0, ChecksumFull); err != nil {
		return nil, fmt.Errorf("staged block %s: %w", c.stagePath(key), err)
	}
	return block, nil
}

// scanStaging calls found for every staged block on disk (left by an
// earlier run of this client or of JuiceFS), with its modification time;
// temporary files and empty directories older than a minute are removed.
func (c *diskCache) scanStaging(found func(key string, mtime time.Time)) {
	n := 0
	err := filepath.WalkDir(c.stageRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		select {
		case <-c.stop:
			return fs.SkipAll
		default:
		}
		fi, err := d.Info()
		if err != nil || p+string(filepath.Separator) == c.stageRoot {
			return nil
		}
		if d.IsDir() || strings.HasSuffix(p, ".tmp") {
			if time.Since(fi.ModTime()) > time.Minute {
				os.Remove(p) // fails for a directory that is not empty
			}
			return nil
		}
		key := filepath.ToSlash(strings.TrimPrefix(p, c.stageRoot))
		blen, ok := cachedBlockLen(key)
		if !stagedKey.MatchString(key) || !ok {
			c.log.Warn("staging area: ignoring " + p + ": not a staged block")
			return nil
		}
		if _, err := cacheLayout(fi.Size(), blen); err != nil {
			c.log.Error(fmt.Sprintf("staging area: %s: %v; left alone", p, err))
			return nil
		}
		found(key, fi.ModTime())
		n++
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.log.Warn(fmt.Sprintf("staging area %s: scan: %v", c.stageRoot, err))
	}
	if n > 0 {
		c.log.Info(fmt.Sprintf("staging area %s: %d blocks to upload", c.stageRoot, n))
	}
}
