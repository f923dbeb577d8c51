package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/objstore"
	"github.com/rueidisfs/rueidisfs/objstore/limit"
	"github.com/rueidisfs/rueidisfs/objstore/volstore"
)

// Helpers of the tools that work on paths of a volume (info, summary, rmr)
// and on its objects (fsck, gc, rmr).

// maxSymlinkHops bounds the symbolic links followed while resolving one
// path, as the kernel's ELOOP limit does.
const maxSymlinkHops = 40

// volumePath cleans a path given on the command line into an absolute path
// inside the volume: juicefs's tools take paths below the mount point,
// rueidisfs's take them relative to the volume's root ("data/a", "/data/a"
// and "./data/a" are the same file; ".." is resolved lexically, as
// filepath.Abs does).
func volumePath(p string) string { return path.Clean("/" + p) }

// resolvePath finds the node p names (see volumePath), following symbolic
// links on the way, and the last one too with followLast, as a stat
// through a mount point would. A link to an absolute path cannot be
// followed: the path is relative to a mount point rueidisfs does not know.
func resolvePath(ctx context.Context, e *meta.Engine, p string, followLast bool) (meta.Ino, meta.Attr, error) {
	ino := meta.RootInode
	attr, err := e.GetAttr(ctx, ino)
	if err != nil {
		return 0, meta.Attr{}, err
	}
	var parents []meta.Ino // the directories walked through, for ".."
	todo := strings.FieldsFunc(volumePath(p), func(r rune) bool { return r == '/' })
	hops := 0
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		switch name {
		case ".":
			continue
		case "..":
			if len(parents) > 0 {
				ino = parents[len(parents)-1]
				parents = parents[:len(parents)-1]
				if attr, err = e.GetAttr(ctx, ino); err != nil {
					return 0, meta.Attr{}, err
				}
			}
			continue
		}
		if attr.Typ != codec.TypeDirectory {
			return 0, meta.Attr{}, syscall.ENOTDIR
		}
		child, cattr, err := e.Lookup(ctx, ino, name)
		if err != nil {
			return 0, meta.Attr{}, err
		}
		if cattr.Typ == codec.TypeSymlink && (len(todo) > 0 || followLast) {
			if hops++; hops > maxSymlinkHops {
				return 0, meta.Attr{}, syscall.ELOOP
			}
			target, err := e.ReadLink(ctx, child)
			if err != nil {
				return 0, meta.Attr{}, err
			}
			if strings.HasPrefix(target, "/") {
				return 0, meta.Attr{}, fmt.Errorf("%s is a symbolic link to the absolute path %q, which rueidisfs cannot resolve without a mount point", name, target)
			}
			todo = append(strings.FieldsFunc(target, func(r rune) bool { return r == '/' }), todo...)
			continue
		}
		parents = append(parents, ino)
		ino, attr = child, cattr
	}
	return ino, attr, nil
}

// errnoText is how juicefs prints a failed operation's error: the errno's
// text when there is one.
func errnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}

// openStore opens the object storage of f for a tool, logging which one
// ("Data use file:///..."), as juicefs does. It returns nil (and logs why)
// when rueidisfs cannot reach that storage yet; what is lost is said by
// the caller with what.
func (a *app) openStore(f *codec.Format, what string) objstore.Store {
	store, err := a.openObjects(f)
	if err != nil {
		if errors.Is(err, volstore.ErrUnsupported) {
			a.log.Warn(fmt.Sprintf("%v: %s", err, what))
		} else {
			a.log.Warn(fmt.Sprintf("object storage: %v; %s", err, what))
		}
		return nil
	}
	a.log.Info("Data use " + store.String())
	return store
}

// quietSliceDeleter is the meta.Options.SliceDeleter of commands that
// only delete data on the way, as a mounted client would: it opens the
// object storage of f without a word, and when rueidisfs cannot reach it
// the data of deleted slices is left for gc.
func (a *app) quietSliceDeleter(f *codec.Format) (meta.DeleteSliceFunc, error) {
	store, err := a.openObjects(f)
	if err != nil {
		a.log.Debug(fmt.Sprintf("object storage: %v; data of deleted files is left for gc", err))
		return nil, nil
	}
	return storeSliceDeleter(store, f, nil), nil
}

// storeSliceDeleter deletes the blocks of slices from store (nil: the
// slices keep a negative reference count for a later gc). counted, when
// set, is called for every slice deleted.
func storeSliceDeleter(store objstore.Store, f *codec.Format, counted func()) meta.DeleteSliceFunc {
	if store == nil {
		return nil
	}
	return func(ctx context.Context, id uint64, size uint32) error {
		if err := objstore.RemoveSlice(ctx, store, f, id, size); err != nil {
			return err
		}
		if counted != nil {
			counted()
		}
		return nil
	}
}

// openObjects opens the object storage of f (see volstore.Open); finding
// the region of a bare AWS bucket name may take up to a minute.
func (a *app) openObjects(f *codec.Format) (objstore.Store, error) {
	return a.openObjectsWith(f, volstore.Options{})
}

func (a *app) openObjectsWith(f *codec.Format, opts volstore.Options) (objstore.Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts.Getenv = a.getenv
	a.warnInsecureBucket(f.Bucket)
	return volstore.Open(ctx, f, opts)
}

// warnInsecureBucket warns when a bucket URL turns certificate
// verification off.
func (a *app) warnInsecureBucket(bucket string) {
	u, err := url.Parse(bucket)
	if err != nil {
		return
	}
	if on, _ := strconv.ParseBool(u.Query().Get("tls-insecure-skip-verify")); on {
		a.log.Warn("bucket URL parameter tls-insecure-skip-verify turns TLS certificate verification OFF (insecure): " +
			"anyone on the network path can pose as the object storage and read or change the data; give ca-certs instead")
	}
}

// openClientObjects opens the object storage of f as a client's options
// ask (those of mount): another storage type or bucket for this client
// only, the storage class and tag of the objects it writes, the deadlines
// of one download and one upload, and bandwidth limits (by default the
// volume's, set with config). Commands without these options open the
// volume's storage with the volume's limits.
func (a *app) openClientObjects(c *cli.Context, f *codec.Format) (objstore.Store, error) {
	format, opts := *f, volstore.Options{}
	if c.IsSet("storage") {
		format.Storage = c.String("storage")
	}
	if c.IsSet("bucket") {
		format.Bucket = c.String("bucket")
	}
	opts.S3.StorageClass, opts.S3.Tag = c.String("storage-class"), c.String("tag")
	for _, t := range []struct {
		flag string
		to   *time.Duration
	}{{"get-timeout", &opts.S3.Timeout}, {"put-timeout", &opts.S3.PutTimeout}} {
		d, err := parseSeconds(t.flag, c.String(t.flag))
		if err != nil {
			return nil, err
		}
		*t.to = d
	}
	st, err := a.openObjectsWith(&format, opts)
	if err != nil {
		return nil, err
	}
	limits := [2]int64{f.UploadLimit, f.DownloadLimit} // Mbps
	for i, flag := range []string{"upload-limit", "download-limit"} {
		if c.IsSet(flag) {
			if limits[i], err = parseMbps(flag, c.String(flag)); err != nil {
				return nil, err
			}
		}
	}
	return limit.New(st, limits[0]*1e6/8, limits[1]*1e6/8), nil
}
