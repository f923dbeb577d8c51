package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindMountIn(t *testing.T) {
	table := `22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:25 / /mnt/jfs rw,nosuid,nodev,relatime shared:7 - fuse.juicefs JuiceFS:myjfs rw,user_id=0,group_id=0
31 30 0:26 / /mnt/jfs/inner rw shared:8 master:2 - tmpfs tmpfs rw
32 22 0:27 / /mnt/with\040space rw - fuse.rueidisfs JuiceFS:other rw
`
	for _, tc := range []struct{ path, mp, fs, rel string }{
		{"/mnt/jfs/a/b", "/mnt/jfs", "fuse.juicefs", "/a/b"},
		{"/mnt/jfs", "/mnt/jfs", "fuse.juicefs", "/"},
		{"/mnt/jfs/inner/x", "/mnt/jfs/inner", "tmpfs", "/x"},
		{"/mnt/jfsx/y", "/", "ext4", "/mnt/jfsx/y"},
		{"/mnt/with space/f", "/mnt/with space", "fuse.rueidisfs", "/f"},
	} {
		m, err := findMountIn(strings.NewReader(table), tc.path)
		if err != nil || m.mountPoint != tc.mp || m.fsType != tc.fs || m.rel != tc.rel {
			t.Errorf("findMountIn(%s) = %+v, %v; want mount point %s, %s, rel %s", tc.path, m, err, tc.mp, tc.fs, tc.rel)
		}
	}
	if _, err := findMountIn(strings.NewReader("garbage\n"), "/x"); err == nil {
		t.Errorf("a table without mounts gave a mount")
	}
}

// fakeMount makes every path look as if it were inside a JuiceFS volume
// mounted at dir, and, with url, resolves it to that volume as a mount
// would: the path inside the volume is the path below dir.
func fakeMount(dir, url string) session {
	return session{how: "paths below " + dir + " are in a mounted volume", setup: func(a *app) {
		a.findMount = func(p string) (mountedPath, error) {
			rel, ok := below(p, dir)
			if !ok {
				return mountedPath{local: p, mountPoint: "/", fsType: "ext4", rel: p}, nil
			}
			return mountedPath{local: p, mountPoint: dir, fsType: "fuse.juicefs", source: "JuiceFS:test", rel: rel}, nil
		}
		if url != "" {
			a.resolveMount = func(_ context.Context, m mountedPath) (string, string, error) { return url, m.rel, nil }
		}
	}}
}

// TestToolsTakeMountPaths: info, summary and rmr take juicefs's form, paths
// inside a mount. Without a way to reach a volume through its mount point
// they say which form to use; with one they work as with META-URL PATH.
func TestToolsTakeMountPaths(t *testing.T) {
	fv := loadFixture(t, "basic", false)
	mnt := t.TempDir() // stands for the mount point: the paths exist here
	for _, d := range []string{"docs", "links"} {
		if err := os.Mkdir(filepath.Join(mnt, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(mnt, "hello.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	in := func(p string) string { return filepath.Join(mnt, p) }

	notYet := fakeMount(mnt, "")
	for _, tc := range []struct{ cmd, path, rel string }{
		{"info", in("hello.txt"), "/hello.txt"},
		{"summary", mnt, "/"},
		{"rmr", in("docs"), "/docs"},
	} {
		notYet.run(t, tc.cmd, tc.path).fails(t, tc.path+" is inside the volume mounted at "+mnt+
			", but that mount does not name its META-URL (juicefs mounts do not); give the volume's META-URL and the path inside the volume instead: rueidisfs "+
			tc.cmd+" META-URL "+tc.rel)
	}
	outside := t.TempDir()
	run(t, "info", outside).fails(t, outside+" is not inside a mounted JuiceFS volume (it is on the ")
	run(t, "summary", "no-such-dir-here").fails(t,
		"no-such-dir-here: no such file or directory; summary takes a path inside a mounted volume, or the volume's META-URL and a path inside it: rueidisfs summary META-URL PATH")

	mounted := fakeMount(mnt, fv.url)
	want := run(t, "info", fv.url, "hello.txt", "docs").ok(t).stdout
	got := mounted.run(t, "info", in("hello.txt"), in("docs")).ok(t).stdout
	if strings.ReplaceAll(got, mnt+"/", "") != want {
		t.Errorf("info through the mount printed:\n%s\nwith META-URL:\n%s", got, want)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	inMount := fakeMount(wd, fv.url) // info -i finds the mount from the current directory
	if got := inMount.run(t, "info", "-i", "2").ok(t).stdout; got != run(t, "info", fv.url, "-i", "2").ok(t).stdout {
		t.Errorf("info -i through the mount printed:\n%s", got)
	}
	want = run(t, "summary", fv.url, "/", "--csv").ok(t).stdout
	if got := mounted.run(t, "summary", mnt, "--csv").ok(t).stdout; got != want {
		t.Errorf("summary through the mount printed:\n%s\nwith META-URL:\n%s", got, want)
	}
	mounted.run(t, "rmr", in("docs")).ok(t)
	if r := run(t, "info", fv.url, "docs").fails(t, "1 of 1 paths could not be found"); !strings.Contains(r.stderr, `lookup inode for "docs": no such file or directory`) {
		t.Errorf("docs is still there after rmr through the mount")
	}
}
