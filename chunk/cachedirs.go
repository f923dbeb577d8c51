package chunk

import (
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/davies/groupcache/consistenthash"
	"github.com/twmb/murmur3"
)

// cacheDirs is the disk cache: one or more directories sharing the
// capacity equally, each block placed in one of them by consistent hashing
// of its key over the directories' .lock UUIDs (murmur3, 100 points per
// directory, rebalanced: the ring library JuiceFS uses, so that either
// client finds the blocks of a set of cache directories the other wrote). A block is looked for in its
// directory first, then in every other one (placements of older JuiceFS
// versions, or a set of directories that changed). A directory stepping
// aside after an error hands its blocks to the next one on the ring.
type cacheDirs struct {
	dirs []*diskCache // sorted by path
	ring *consistenthash.Map
	byID map[string]*diskCache
}

const ringPoints = 100

// SplitCacheDirs splits a --cache-dir value as JuiceFS does (at colons, or
// at commas when there is no colon) and expands glob patterns; the paths
// are sorted.
func SplitCacheDirs(value string) ([]string, error) {
	parts := strings.Split(value, string(os.PathListSeparator))
	if len(parts) == 1 {
		parts = strings.Split(parts[0], ",")
	}
	var dirs []string
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !strings.ContainsAny(p, `*?[\`) {
			dirs = append(dirs, filepath.Clean(p))
			continue
		}
		matches, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("cache directory pattern %q: %w", p, err)
		}
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && fi.IsDir() {
				dirs = append(dirs, m)
			}
		}
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no cache directory in %q", value)
	}
	sort.Strings(dirs)
	return dirs, nil
}

// openCacheDirs opens every directory of conf.CacheDir (started by
// start); one that cannot be used is skipped with a warning, and when none
// can, the error says why.
func openCacheDirs(conf *Config, log *slog.Logger, metrics *storeMetrics) (*cacheDirs, error) {
	paths, err := SplitCacheDirs(conf.CacheDir)
	if err != nil {
		return nil, err
	}
	n := int64(len(paths))
	m := &cacheDirs{ring: consistenthash.New(ringPoints, murmur3.Sum32), byID: map[string]*diskCache{}}
	var errs []error
	for _, p := range paths {
		d, err := openDiskCache(p, conf, conf.CacheSize/n, conf.CacheItems/n, log, metrics)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		if _, dup := m.byID[d.id]; dup {
			errs = append(errs, fmt.Errorf("%s: the same directory as another one (.lock %s)", p, d.id))
			continue
		}
		m.dirs = append(m.dirs, d)
		m.byID[d.id] = d
		m.ring.Add(d.id)
	}
	if len(m.dirs) == 0 {
		return nil, errors.Join(errs...)
	}
	// The ring is laid out on its first lookup; doing it now leaves only
	// reads, which are safe for concurrent use.
	m.ring.Get("")
	for _, err := range errs {
		log.Warn(fmt.Sprintf("disk cache directory skipped: %v", err))
	}
	return m, nil
}

// start runs the background work of every directory.
func (m *cacheDirs) start() {
	for _, d := range m.dirs {
		d.start()
	}
}

func (m *cacheDirs) close() {
	for _, d := range m.dirs {
		d.close()
	}
}

// pick is the directory where block key goes: its place on the ring, or
// when that directory steps aside, the next usable one.
func (m *cacheDirs) pick(key string) *diskCache {
	d := m.byID[m.ring.Get(key)]
	if !d.down() || len(m.dirs) == 1 {
		return d
	}
	h := fnv.New32()
	h.Write([]byte(key))
	start := int(h.Sum32() % uint32(len(m.dirs)))
	for i := range m.dirs {
		if alt := m.dirs[(start+i)%len(m.dirs)]; !alt.down() {
			return alt
		}
	}
	return d
}

// find is the directory holding block key, or nil.
func (m *cacheDirs) find(key string) *diskCache {
	first := m.pick(key)
	if first.contains(key) {
		return first
	}
	for _, d := range m.dirs {
		if d != first && d.contains(key) {
			return d
		}
	}
	return nil
}

func (m *cacheDirs) contains(key string) bool { return m.find(key) != nil }

func (m *cacheDirs) store(key string, block []byte) { m.pick(key).store(key, block) }

func (m *cacheDirs) read(key string, blen int, p []byte, off int) bool {
	d := m.find(key)
	return d != nil && d.read(key, blen, p, off)
}

// remove deletes block key from every directory that may hold it.
func (m *cacheDirs) remove(key string) {
	picked := m.pick(key)
	picked.remove(key)
	if d := m.find(key); d != nil && d != picked {
		d.remove(key)
	}
}

// CacheDirs returns the directories of the disk cache in use, each with
// the volume's UUID appended (none without a disk cache).
func (s *Store) CacheDirs() []string {
	if s.disk == nil {
		return nil
	}
	var dirs []string
	for _, d := range s.disk.dirs {
		dirs = append(dirs, filepath.Clean(d.dir))
	}
	return dirs
}
