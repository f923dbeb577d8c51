package meta_test

import (
	"syscall"
	"testing"

	"github.com/rueidisfs/rueidisfs/meta"
)

// TestVolumeLimits: the capacity and inode limits of the format are
// enforced with ENOSPC and reported by StatFS.
func TestVolumeLimits(t *testing.T) {
	v := newVolumeWith(t, volumeOpts{inodes: 3, capacity: 1 << 30})
	e := v.e
	mustMkdir(t, e, bg, meta.RootInode, "a", 0o755)
	mustCreate(t, e, bg, meta.RootInode, "b", 0o644)
	mustCreate(t, e, bg, meta.RootInode, "c", 0o644)
	_, _, err := e.Create(bg, meta.RootInode, "d", 0o644, 0, 0)
	wantErrno(t, err, syscall.ENOSPC)
	_, _, err = e.Mkdir(bg, meta.RootInode, "e", 0o755, 0)
	wantErrno(t, err, syscall.ENOSPC)
	st := e.StatFS(bg, meta.RootInode)
	if st.TotalSpace != 1<<30 || st.AvailSpace != 1<<30-3*4096 || st.UsedInodes != 3 || st.AvailInodes != 0 {
		t.Fatalf("statfs %+v", st)
	}
	// Deleting frees the inode again.
	if err := e.Unlink(bg, meta.RootInode, "c", false); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, e, bg, meta.RootInode, "d", 0o644)
}

// TestStatFSWithoutLimits: a volume without limits reports 1 PiB and 10 Mi
// inodes, as the official client does.
func TestStatFSWithoutLimits(t *testing.T) {
	v := newVolume(t, 0)
	mustCreate(t, v.e, bg, meta.RootInode, "f", 0o644)
	st := v.e.StatFS(bg, meta.RootInode)
	if st.TotalSpace != 1<<50 || st.AvailSpace != 1<<50-4096 || st.UsedInodes != 1 || st.AvailInodes != 10<<20 {
		t.Fatalf("statfs %+v", st)
	}
}

// TestDirQuotaStatFS: a directory quota is enforced with EDQUOT for the
// subtree and defines what statfs reports inside it.
func TestDirQuotaStatFS(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	q := mustMkdir(t, e, bg, meta.RootInode, "q", 0o777)
	sub := mustMkdir(t, e, bg, q, "sub", 0o777)
	if _, err := e.Quotas().Set(bg, meta.QuotaDir, "/q", 1<<20, 3, false, false); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, e, bg, sub, "a", 0o644) // q holds sub and a: 2 inodes
	st := e.StatFS(bg, sub)
	if st.UsedInodes != 2 || st.AvailInodes != 1 || st.TotalSpace != 1<<20 {
		t.Fatalf("statfs inside the quota %+v", st)
	}
	mustCreate(t, e, bg, sub, "b", 0o644)
	_, _, err := e.Create(as(1000), sub, "c", 0o644, 0, 0)
	wantErrno(t, err, syscall.EDQUOT)
	// Outside the quota nothing is limited.
	mustCreate(t, e, bg, meta.RootInode, "outside", 0o644)
	if st := e.StatFS(bg, meta.RootInode); st.TotalSpace != 1<<50 {
		t.Fatalf("statfs of the root %+v", st)
	}
}
