package meta

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Open flags understood by Create and Open (Linux values).
const (
	oExcl = 0o200
)

// ExistsError is returned (as the error) by Mknod, Mkdir and Create when the
// name is taken; it carries the existing node for callers that want it (an
// O_CREAT without O_EXCL, or a lookup-after-EEXIST). errors.Is(err,
// syscall.EEXIST) is true.
type ExistsError struct {
	Inode Ino
	Attr  Attr
}

func (e *ExistsError) Error() string { return syscall.EEXIST.Error() }

// Is makes errors.Is(err, syscall.EEXIST) work.
func (e *ExistsError) Is(target error) bool { return target == syscall.EEXIST }

// Mknod creates a node of any type in directory parent. mode is the
// requested permission bits; umask is applied unless the parent has a
// default ACL; rdev is the device number of device nodes. The caller needs
// write and search permission on parent.
func (e *Engine) Mknod(ctx context.Context, parent Ino, name string, typ codec.FileType, mode, umask uint16, rdev uint32) (Ino, Attr, error) {
	return e.mknod(ctx, parent, name, typ, mode, umask, rdev, "")
}

// Mkdir creates a directory.
func (e *Engine) Mkdir(ctx context.Context, parent Ino, name string, mode, umask uint16) (Ino, Attr, error) {
	return e.mknod(ctx, parent, name, codec.TypeDirectory, mode, umask, 0, "")
}

// Symlink creates a symbolic link to target.
func (e *Engine) Symlink(ctx context.Context, parent Ino, name, target string) (Ino, Attr, error) {
	if target == "" || len(target) > codec.MaxSymlinkLen {
		if len(target) > codec.MaxSymlinkLen {
			return 0, Attr{}, syscall.ENAMETOOLONG
		}
		return 0, Attr{}, syscall.EINVAL
	}
	for i := 0; i < len(target); i++ {
		if target[i] == 0 {
			return 0, Attr{}, syscall.EINVAL
		}
	}
	return e.mknod(ctx, parent, name, codec.TypeSymlink, 0o777, 0, 0, target)
}

// Create creates a regular file and opens it (the inode counts as open in
// this client until Close). Without O_EXCL in flags an existing regular file
// of that name is opened instead, as open(2) with O_CREAT does.
func (e *Engine) Create(ctx context.Context, parent Ino, name string, mode, umask uint16, flags uint32) (Ino, Attr, error) {
	ino, attr, err := e.mknod(ctx, parent, name, codec.TypeFile, mode, umask, 0, "")
	if err != nil && flags&oExcl == 0 {
		// Declared here: the variable errors.As fills escapes to the heap.
		var exists *ExistsError
		if errors.As(err, &exists) && exists.Attr.Typ == codec.TypeFile {
			ino, attr, err = exists.Inode, exists.Attr, nil
		}
	}
	if err == nil {
		e.files.open(ino, &attr)
	}
	return ino, attr, err
}

func (e *Engine) mknod(ctx context.Context, parent Ino, name string, typ codec.FileType, mode, umask uint16, rdev uint32, target string) (Ino, Attr, error) {
	if !typ.Valid() {
		return 0, Attr{}, syscall.EINVAL
	}
	if parent == 0 {
		parent = RootInode
	}
	if parent.IsTrash() || (parent == RootInode && name == TrashName) {
		return 0, Attr{}, syscall.EPERM
	}
	if e.readOnly() {
		return 0, Attr{}, syscall.EROFS
	}
	if name == "." || name == ".." {
		return 0, Attr{}, syscall.EEXIST
	}
	if err := validName(name); err != nil {
		return 0, Attr{}, err
	}
	c := CallerOf(ctx)
	// The group quota is checked for gid 0 here, as the official client does;
	// the effective group is checked inside the transaction.
	if err := e.stats.checkQuota(ctx, nodeSpace, 1, c.Uid, 0, parent); err != nil {
		return 0, Attr{}, err
	}
	var ino Ino
	var attr Attr
	var err error
	for taken := 0; ; taken++ {
		if ino, err = e.newInode(ctx); err != nil {
			return 0, Attr{}, err
		}
		err = e.mknodTx(ctx, c, parent, name, typ, mode, umask, rdev, target, ino, &attr)
		if !errors.Is(err, errInodeTaken) || taken == 3 {
			break
		}
		e.log.Warn(fmt.Sprintf("inode %d is already in use: the counter %s went back (a failover lost its last increments); reserving a new range", ino, e.keys.NextInode()))
		e.inodes.discard()
	}
	if !applied(err) {
		return 0, Attr{}, err
	}
	return ino, attr, err
}

// mknodTx is the transaction of mknod for the new inode ino.
func (e *Engine) mknodTx(ctx context.Context, c Caller, parent Ino, name string, typ codec.FileType, mode, umask uint16, rdev uint32, target string, ino Ino, out *Attr) error {
	return e.runTx(ctx, func(tx *Tx) error {
		at := e.dirName(parent, name)
		pattr, err := e.txParentDir(ctx, tx, c, at.pkey, dirAddName)
		if err != nil {
			return err
		}
		attr := Attr{Typ: typ, Uid: c.Uid, Gid: c.Gid(), Parent: parent, Rdev: rdev, Tier: pattr.Tier}
		if pattr.Mode&0o2000 != 0 {
			attr.Gid = pattr.Gid
		}
		if err := e.stats.checkGroupQuota(attr.Gid, 4096, 1); err != nil {
			return err
		}
		tx.ExpectFieldAbsent(at.dkey, name)
		if v, present := tx.KnownField(at.dkey, name); present {
			return e.existsError(ctx, tx, at.dkey, name, v, typ, parent)
		}
		if err := e.initNode(ctx, c, &attr, &pattr, mode, umask, target, tx.Now()); err != nil {
			return err
		}
		ikey := e.keys.Inode(ino)
		tx.ExpectNoKey(ikey)
		if present, _ := tx.KnownKey(ikey); present {
			return errInodeTaken
		}
		e.queueCreate(tx, at, &pattr, ino, ikey, &attr, target)
		tx.Account(func() { e.afterCreate(ctx, parent, ino, out) })
		tx.Touches(parent)
		if tx.Logging() {
			tx.Log("CREATE(%d,%s,%d,%d,%d,%d,%d,%s,linux,true):%d", parent, logEscape(name), c.Uid, c.Gid(), typ, mode&0o7777, umask, logEscape(target), ino)
		}
		*out = attr
		return nil
	})
}

// nodeSpace is the space a new node takes in the volume's accounting.
const nodeSpace = 4096

// afterCreate accounts the committed creation of node ino (attribute attr)
// in directory parent.
func (e *Engine) afterCreate(ctx context.Context, parent, ino Ino, attr *Attr) {
	e.stats.volume(nodeSpace, 1)
	e.stats.dirStat(parent, 0, nodeSpace, 1)
	e.stats.dirQuota(ctx, parent, nodeSpace, 1)
	e.stats.userGroup(attr.Uid, attr.Gid, nodeSpace, 1)
	if attr.Typ == codec.TypeDirectory {
		e.stats.rememberParent(ino, parent)
	}
}

// initNode fills the attribute of a new node of type attr.Typ in directory
// pattr: link count, length, device number, inherited flags, permission
// bits (and ACLs) and times.
func (e *Engine) initNode(ctx context.Context, c Caller, attr, pattr *Attr, mode, umask uint16, target string, now time.Time) error {
	switch attr.Typ {
	case codec.TypeDirectory:
		attr.Nlink, attr.Length = 2, codec.DirLength
	case codec.TypeSymlink:
		attr.Nlink, attr.Length = 1, uint64(len(target))
	default:
		attr.Nlink = 1
	}
	if attr.Typ != codec.TypeBlockDev && attr.Typ != codec.TypeCharDev {
		attr.Rdev = 0
	}
	if pattr.Flags&codec.FlagSkipTrash != 0 {
		attr.Flags |= codec.FlagSkipTrash
	}
	if err := e.initialMode(ctx, attr, pattr, mode&0o7777, umask); err != nil {
		return err
	}
	attr.Mode = inheritSetgid(c, attr.Typ, pattr, attr.Mode)
	setTimes(attr, now, true, true, true)
	return nil
}

// dirName is a name in a directory, with the keys of the directory's
// attribute and entries that a transaction on the name uses.
type dirName struct {
	parent     Ino
	name       string
	pkey, dkey string
}

func (e *Engine) dirName(parent Ino, name string) dirName {
	return dirName{parent: parent, name: name, pkey: e.keys.Inode(parent), dkey: e.keys.Entries(parent)}
}

// queueCreate queues the writes of a new node ino (attribute key ikey)
// named at: its attribute, entry, symlink target, empty statistics of a
// directory, the parent's link count and times, and the volume counters.
func (e *Engine) queueCreate(tx *Tx, at dirName, pattr *Attr, ino Ino, ikey string, attr *Attr, target string) {
	tx.Set(ikey, marshalAttr(attr))
	nlinkDelta := 0
	if attr.Typ == codec.TypeDirectory {
		nlinkDelta = 1
	}
	tx.PatchDir(at.pkey, pattr, nlinkDelta)
	if attr.Typ == codec.TypeSymlink {
		tx.Set(e.keys.Symlink(ino), target)
	}
	tx.HSet(at.dkey, at.name, string(codec.Entry{Typ: attr.Typ, Inode: ino}.Marshal()))
	if attr.Typ == codec.TypeDirectory {
		e.queueEmptyDirStats(tx, ino)
	}
	tx.IncrBy(e.keys.UsedSpace(), 4096)
	tx.IncrBy(e.keys.TotalInodes(), 1)
}

// queueEmptyDirStats stores the statistics of a new, empty directory.
func (e *Engine) queueEmptyDirStats(tx *Tx, dir Ino) {
	f := dir.String()
	tx.HSet(e.keys.DirUsedInodes(), f, "0")
	tx.HSet(e.keys.DirDataLength(), f, "0")
	tx.HSet(e.keys.DirUsedSpace(), f, "0")
}

// existsError builds the EEXIST answer of a create-like operation: for files
// and directories it carries the existing node.
func (e *Engine) existsError(ctx context.Context, tx *Tx, dkey, name, v string, typ codec.FileType, parent Ino) error {
	if typ != codec.TypeFile && typ != codec.TypeDirectory {
		return syscall.EEXIST
	}
	ent, err := e.decodeEntry(dkey, name, v)
	if err != nil {
		return err
	}
	ex := &ExistsError{Inode: ent.Inode}
	akey := e.keys.Inode(ent.Inode)
	av, ok, err := tx.Get(akey)
	if err != nil {
		return err
	}
	if ok {
		if ex.Attr, err = e.decodeAttr(akey, av); err != nil {
			return err
		}
	} else {
		ex.Attr = Attr{Typ: ent.Typ, Parent: parent}
	}
	return ex
}

// initialMode sets the permission bits (and ACLs) of a new node: with a
// default ACL on the parent, a directory inherits it and the access rule is
// derived from it (the umask is ignored); otherwise mode &^ umask.
func (e *Engine) initialMode(ctx context.Context, attr, pattr *Attr, mode, umask uint16) error {
	if pattr.DefaultACL == codec.ACLNone || attr.Typ == codec.TypeSymlink {
		attr.Mode = mode &^ umask
		return nil
	}
	if attr.Typ == codec.TypeDirectory {
		attr.DefaultACL = pattr.DefaultACL
	}
	def, err := e.aclRule(ctx, pattr.DefaultACL)
	if err != nil {
		return err
	}
	if def.IsMinimal() {
		attr.Mode = mode & (0o7000 | aclMode(def))
		return nil
	}
	child := childAccessRule(def, mode)
	id, err := e.storeACLRule(ctx, &child)
	if err != nil {
		return err
	}
	attr.AccessACL = id
	attr.Mode = mode&0o7000 | aclMode(&child)
	return nil
}

// inheritSetgid applies the Linux set-group-ID directory rules: a new
// directory under a setgid directory is setgid itself; a new non-directory
// asking for setgid and group-execute loses setgid unless the caller is root
// or a member of the parent's group.
func inheritSetgid(c Caller, typ codec.FileType, pattr *Attr, mode uint16) uint16 {
	if pattr.Mode&0o2000 == 0 {
		return mode
	}
	if typ == codec.TypeDirectory {
		return mode | 0o2000
	}
	if mode&0o2010 == 0o2010 && c.Uid != 0 && !c.inGroup(pattr.Gid) {
		return mode &^ 0o2000
	}
	return mode
}

func setTimes(a *Attr, t time.Time, atime, mtime, ctime bool) {
	s, ns := t.Unix(), uint32(t.Nanosecond())
	if atime {
		a.Atime, a.Atimensec = s, ns
	}
	if mtime {
		a.Mtime, a.Mtimensec = s, ns
	}
	if ctime {
		a.Ctime, a.Ctimensec = s, ns
	}
}

// Link creates a new name for inode in directory parent (not for
// directories). From then on the inode's parents are tracked in p{ino}.
func (e *Engine) Link(ctx context.Context, ino, parent Ino, name string) (Attr, error) {
	if parent == 0 {
		parent = RootInode
	}
	if parent.IsTrash() || (parent == RootInode && name == TrashName) {
		return Attr{}, syscall.EPERM
	}
	if e.readOnly() {
		return Attr{}, syscall.EROFS
	}
	if name == "." || name == ".." {
		return Attr{}, syscall.EEXIST
	}
	if err := validName(name); err != nil {
		return Attr{}, err
	}
	if ino == 0 || ino == RootInode || ino == TrashInode {
		return Attr{}, syscall.EPERM // directories, whose attributes may be synthesized
	}
	c := CallerOf(ctx)
	var (
		attr  Attr
		space int64
	)
	err := e.runTx(ctx, func(tx *Tx) error {
		// The node is read here, not before the transaction: linking it
		// again and again (a backup tool) then finds its attribute among
		// this client's own writes instead of paying a round trip.
		var err error
		ikey := e.keys.Inode(ino)
		if attr, err = e.txAttr(tx, ikey); err != nil {
			return err
		}
		if attr.Typ == codec.TypeDirectory {
			return syscall.EPERM
		}
		space = int64(codec.Align4K(lengthOf(&attr)))
		if err := e.checkLinkQuota(ctx, &attr, parent, space); err != nil {
			return err
		}
		at := e.dirName(parent, name)
		pattr, err := e.txParentDir(ctx, tx, c, at.pkey, dirAddName)
		if err != nil {
			return err
		}
		if attr.Flags&(codec.FlagAppend|codec.FlagImmutable) != 0 {
			return syscall.EPERM
		}
		tx.ExpectFieldAbsent(at.dkey, name)
		if _, present := tx.KnownField(at.dkey, name); present {
			return syscall.EEXIST
		}
		e.queueLink(tx, ino, ikey, &attr, at, &pattr)
		// The official client adds the inode's length to dirDataLength
		// whatever its type; a recount only sums regular files, so we do
		// what the recount (and fsck) expects.
		tx.Account(func() {
			e.stats.dirStat(parent, int64(lengthOf(&attr)), space, 1)
			e.stats.dirQuota(ctx, parent, space, 1)
		})
		tx.Touches(parent)
		return nil
	})
	if !applied(err) {
		return Attr{}, err
	}
	return attr, err
}

// checkLinkQuota checks a new name of the node attr in parent against the
// quotas first, as the official client does: one more inode for its
// owner's user and group quotas, its space and an inode for the directory
// quotas above parent.
func (e *Engine) checkLinkQuota(ctx context.Context, attr *Attr, parent Ino, space int64) error {
	if e.stats.ugExceeded(e.stats.userQ, attr.Uid, 0, 1) || e.stats.ugExceeded(e.stats.groupQ, attr.Gid, 0, 1) {
		return syscall.EDQUOT
	}
	return e.stats.checkDirQuotas(ctx, space, 1, parent)
}

// queueLink queues the writes of a new name at of node ino (attribute key
// ikey; attr, updated here): the entry, the node's link count, ctime and
// parent tracking, the parent's times.
func (e *Engine) queueLink(tx *Tx, ino Ino, ikey string, attr *Attr, at dirName, pattr *Attr) {
	parent, name := at.parent, at.name
	oldParent := attr.Parent
	attr.Parent = 0
	attr.Nlink++
	setTimes(attr, e.now(), false, false, true)
	tx.HSet(at.dkey, name, string(codec.Entry{Typ: attr.Typ, Inode: ino}.Marshal()))
	tx.PatchDir(at.pkey, pattr, 0)
	tx.Set(ikey, marshalAttr(attr))
	pk := e.keys.Parents(ino)
	if oldParent > 0 {
		tx.HIncrBy(pk, oldParent.String(), 1)
	}
	tx.HIncrBy(pk, parent.String(), 1)
	if tx.Logging() {
		tx.Log("LINK(%d,%d,%s,true):%d", ino, parent, logEscape(name), attr.Nlink)
	}
}
