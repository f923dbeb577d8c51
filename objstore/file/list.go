package file

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/rueidisfs/rueidisfs/objstore"
)

// errStop ends a walk whose caller stopped iterating.
var errStop = errors.New("listing stopped")

// dirID identifies a directory, to not follow a link into one of the
// directories being walked.
type dirID struct{ dev, ino uint64 }

// walk is one List: a depth-first walk in key order.
type walk struct {
	ctx           context.Context
	s             *Store
	prefix, after string
	yield         func(objstore.Object, error) bool
	open          map[dirID]bool // directories on the current path
}

// entry is one directory entry as a key: directories end with "/".
type entry struct {
	key  string
	info fs.FileInfo // of the link's target for links
}

// start walks from the deepest directory the prefix names.
func (w *walk) start() error {
	return w.dir(w.prefix[:strings.LastIndexByte(w.prefix, '/')+1])
}

// dir walks the directory holding the keys starting with rel ("" or
// ending with "/").
func (w *walk) dir(rel string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	entries, id, err := w.read(rel)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil // deleted meanwhile, or never created
	}
	if err != nil {
		return err
	}
	if w.open[id] {
		return nil // a link back into the walk
	}
	w.open[id] = true
	defer delete(w.open, id)
	for _, e := range entries {
		if !strings.HasPrefix(e.key, w.prefix) && e.key > w.prefix {
			return errStop // every later key is beyond the prefix too
		}
		if e.info.IsDir() {
			if w.mayHold(e.key) {
				if err := w.dir(e.key); err != nil {
					return err
				}
			}
			continue
		}
		if !strings.HasPrefix(e.key, w.prefix) || e.key <= w.after {
			continue
		}
		if !w.yield(objstore.Object{Key: e.key, Size: e.info.Size(), Mtime: e.info.ModTime()}, nil) {
			return errStop
		}
	}
	return nil
}

// mayHold tells whether directory key (ending with "/") may hold keys
// wanted: keys starting with the prefix and sorting after startAfter. All
// its keys start with key, so none is wanted when key sorts before
// startAfter without being a prefix of it.
func (w *walk) mayHold(key string) bool {
	if !strings.HasPrefix(key, w.prefix) && !strings.HasPrefix(w.prefix, key) {
		return false
	}
	return key > w.after || strings.HasPrefix(w.after, key)
}

// read returns the entries of directory rel sorted by key, and the
// directory's identity. Links are replaced by what they point to; links to
// nothing and files that are neither regular nor directories are left out.
func (w *walk) read(rel string) ([]entry, dirID, error) {
	dir := w.s.root + filepath.FromSlash(rel)
	f, err := os.Open(dir)
	if err != nil {
		return nil, dirID{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, dirID{}, err
	}
	if !fi.IsDir() {
		return nil, dirID{}, syscall.ENOTDIR
	}
	var id dirID
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id = dirID{uint64(st.Dev), st.Ino}
	}
	des, err := f.ReadDir(-1)
	if err != nil {
		return nil, dirID{}, err
	}
	entries := make([]entry, 0, len(des))
	for _, de := range des {
		info, err := de.Info()
		if err == nil && de.Type()&fs.ModeSymlink != 0 {
			info, err = os.Stat(filepath.Join(dir, de.Name()))
		}
		if err != nil {
			continue // deleted meanwhile, or a dangling link
		}
		key := rel + de.Name()
		switch {
		case info.IsDir():
			key += "/"
		case !info.Mode().IsRegular():
			continue
		}
		entries = append(entries, entry{key: key, info: info})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	return entries, id, nil
}
