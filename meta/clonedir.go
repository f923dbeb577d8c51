package meta

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
)

// cloneBatch is how many non-directories of a directory one transaction
// copies, as the official client does.
const cloneBatch = 1000

// children copies the entries of directory src into its copy dst:
// sub-directories one by one (up to the cloner's slots in parallel), the
// other nodes in batches. Entries removed meanwhile are left out, and the
// link count of dst lowered for the directories among them. It returns the
// statistics of what it copied into dst.
func (cl *cloner) children(ctx context.Context, src, dst Ino) (dirStatDelta, error) {
	e := cl.e
	var (
		mu  sync.Mutex
		sum dirStatDelta
	)
	ds, err := e.OpenDir(ctx, src, true, false)
	if errors.Is(err, syscall.ENOENT) {
		return sum, nil
	}
	if err != nil {
		return sum, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg      sync.WaitGroup
		skipped atomic.Uint32
	)
	child := func(ent Entry) {
		_, err := cl.entry(ctx, ent.Inode, dst, ent.Name, false)
		if errors.Is(err, syscall.ENOENT) {
			e.log.Warn(fmt.Sprintf("clone: %q of directory %d was removed meanwhile; left out", ent.Name, src))
			skipped.Add(1)
			return
		}
		if err != nil {
			cancel(err)
			return
		}
		mu.Lock()
		sum.space += codec.DirLength
		sum.inodes++
		mu.Unlock()
	}
	for ctx.Err() == nil {
		batch, err := ds.Next(ctx, cloneBatch)
		if err != nil {
			cancel(err)
			break
		}
		if len(batch) == 0 {
			break
		}
		var others []Entry
		for _, ent := range batch {
			switch {
			case ent.Name == "." || ent.Name == "..":
			case ent.Attr.Typ == codec.TypeDirectory:
				select {
				case cl.slots <- struct{}{}:
					wg.Add(1)
					go func() {
						defer func() { <-cl.slots; wg.Done() }()
						child(ent)
					}()
				default: // every slot busy: copy it here
					child(ent)
				}
			default:
				others = append(others, ent)
			}
		}
		if len(others) > 0 {
			copied, err := cl.batch(ctx, dst, others)
			if err != nil {
				cancel(err)
			}
			mu.Lock()
			sum.length, sum.space, sum.inodes = sum.length+copied.length, sum.space+copied.space, sum.inodes+copied.inodes
			mu.Unlock()
		}
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return sum, err
	}
	if n := skipped.Load(); n > 0 {
		return sum, cl.dropLinks(ctx, dst, n)
	}
	return sum, nil
}

// dropLinks lowers the link count of directory dir by n (sub-directories
// that vanished before they could be copied).
func (cl *cloner) dropLinks(ctx context.Context, dir Ino, n uint32) error {
	e := cl.e
	key := e.keys.Inode(dir)
	return e.runTx(ctx, func(tx *Tx) error {
		a, err := e.txAttr(tx, key)
		if err != nil {
			return err
		}
		a.Nlink = max(a.Nlink, n+2) - n
		tx.Set(key, marshalAttr(&a))
		return nil
	})
}

// batch copies non-directories (files, symlinks, special files) of a
// directory into its copy dst, cloneBatch per transaction, and returns the
// statistics of what it copied.
func (cl *cloner) batch(ctx context.Context, dst Ino, ents []Entry) (dirStatDelta, error) {
	var sum dirStatDelta
	for len(ents) > 0 {
		n := min(len(ents), cloneBatch)
		copied, err := cl.batchTx(ctx, dst, ents[:n])
		if err != nil {
			return sum, err
		}
		sum.length, sum.space, sum.inodes = sum.length+copied.length, sum.space+copied.space, sum.inodes+copied.inodes
		ents = ents[n:]
	}
	return sum, nil
}

// usage is space and inodes charged to one owner.
type usage struct{ space, inodes int64 }

type owner struct{ uid, gid uint32 }

func (cl *cloner) batchTx(ctx context.Context, dst Ino, ents []Entry) (dirStatDelta, error) {
	for taken := 0; ; taken++ {
		sum, err := cl.batchTxOnce(ctx, dst, ents)
		if !errors.Is(err, errInodeTaken) || taken == 3 {
			return sum, err
		}
		cl.e.inodes.discard()
	}
}

func (cl *cloner) batchTxOnce(ctx context.Context, dst Ino, ents []Entry) (dirStatDelta, error) {
	e := cl.e
	inos := make([]Ino, len(ents))
	for i := range ents {
		var err error
		if inos[i], err = e.newInode(ctx); err != nil {
			return dirStatDelta{}, err
		}
	}
	srcKeys := make([]string, len(ents))
	for i, ent := range ents {
		srcKeys[i] = e.keys.Inode(ent.Inode)
	}
	var (
		owners map[owner]usage
		copied int64
		space  int64
		length int64
	)
	err := e.runTx(ctx, func(tx *Tx) error {
		owners, copied, space, length = map[owner]usage{}, 0, 0, 0
		if _, err := e.txParentDir(ctx, tx, cl.c, e.keys.Inode(dst), dirAddName); err != nil {
			return err
		}
		dkey := e.keys.Entries(dst)
		for _, ent := range ents {
			tx.ExpectFieldAbsent(dkey, ent.Name)
			if _, present := tx.KnownField(dkey, ent.Name); present {
				return syscall.EEXIST
			}
		}
		vals, present, err := tx.MGet(srcKeys...)
		if err != nil {
			return err
		}
		var todo []int
		attrs := make([]*Attr, len(ents))
		for i := range ents {
			if !present[i] {
				continue // removed meanwhile
			}
			a, err := e.decodeAttr(srcKeys[i], vals[i])
			if err != nil {
				return err
			}
			if a.Typ == codec.TypeDirectory {
				continue
			}
			if err := e.checkAccess(ctx, cl.c, &a, MayRead); err != nil {
				return err
			}
			attrs[i] = &a
			todo = append(todo, i)
		}
		srcInos, srcAttrs := make([]Ino, len(todo)), make([]*Attr, len(todo))
		for k, i := range todo {
			srcInos[k], srcAttrs[k] = ents[i].Inode, attrs[i]
		}
		data, err := cl.readNodes(ctx, srcInos, srcAttrs)
		if err != nil {
			return err
		}
		now := time.Now()
		refs := map[string]int64{}
		for k, i := range todo {
			if data[k] == nil {
				continue // a symlink whose target went away with it
			}
			nkey := e.keys.Inode(inos[i])
			tx.ExpectNoKey(nkey)
			if p, _ := tx.KnownKey(nkey); p {
				return errInodeTaken
			}
			a := cl.newAttr(*attrs[i], dst, now)
			tx.Set(nkey, marshalAttr(&a))
			tx.HSet(dkey, ents[i].Name, string(codec.Entry{Typ: a.Typ, Inode: inos[i]}.Marshal()))
			cl.queueNode(tx, inos[i], &a, data[k], refs)
			s := int64(codec.Align4K(lengthOf(&a)))
			space += s
			length += int64(lengthOf(&a))
			copied++
			u := owners[owner{a.Uid, a.Gid}]
			owners[owner{a.Uid, a.Gid}] = usage{u.space + s, u.inodes + 1}
		}
		if copied > 0 {
			tx.IncrBy(e.keys.UsedSpace(), space)
			tx.IncrBy(e.keys.TotalInodes(), copied)
			cl.queueRefs(tx, refs)
		}
		return nil
	})
	if !applied(err) {
		return dirStatDelta{}, err
	}
	e.stats.volume(space, copied)
	for o, u := range owners {
		e.stats.userGroup(o.uid, o.gid, u.space, u.inodes)
	}
	cl.count(uint64(copied), space)
	return dirStatDelta{length: length, space: space, inodes: copied}, err
}
