package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

// The tools that work on paths (info, summary, rmr) take them in two forms:
// rueidisfs's META-URL PATH..., paths inside the volume, and juicefs's
// PATH..., paths on this machine inside a mounted volume. This file tells
// the forms apart and turns the second into the first.

// mountedPathsHelp ends the description of the tools that take both forms.
const mountedPathsHelp = `

As with juicefs, the META-URL may be left out and MOUNTED-PATH given instead:
a path on this machine inside a volume mounted by rueidisfs (its .config
names the META-URL, without the password: set META_PASSWORD when Redis needs
one). A path in a juicefs mount gets a message naming the META-URL form to
use.`

// toolPath is one path argument of a tool.
type toolPath struct {
	arg      string // as given: shown in the output and in messages
	inVolume string // the path inside the volume, or the inode number with --inode
}

// toolTarget is where a tool works: the volume and the paths inside it.
type toolTarget struct {
	metaURL string
	paths   []toolPath
	mounted bool // the paths were given inside a mount (juicefs's form)
}

// checkPaths enforces the number of paths a tool takes, counting the
// META-URL among the arguments in its form, as checkArgs does.
func (t *toolTarget) checkPaths(c *cli.Context, min, max int) error {
	if t.mounted {
		return checkArgs(c, min, max)
	}
	return checkArgs(c, min+1, max+1)
}

// mountedPath is a path on this machine inside a mounted file system.
type mountedPath struct {
	local      string // absolute
	mountPoint string
	fsType     string // e.g. "fuse.juicefs"
	source     string // e.g. "JuiceFS:myjfs"
	rel        string // local below mountPoint, from "/"
}

// isVolumeMount tells whether the mount is a JuiceFS volume (mounted by
// juicefs or rueidisfs).
func (m mountedPath) isVolumeMount() bool {
	return m.fsType == "fuse.juicefs" || m.fsType == "fuse.rueidisfs"
}

// mountResolver reaches the volume of a mount: its META-URL and the path
// inside the volume of m.local (which differs from m.rel when a
// sub-directory is mounted). The mount command provides it; until then
// paths inside a mount get a message saying which form to use.
type mountResolver func(ctx context.Context, m mountedPath) (metaURL, inVolume string, err error)

// toolTarget reads the positional arguments of a tool. With inodes the
// paths are inode numbers; juicefs then finds the mount from the current
// directory.
func (a *app) toolTarget(c *cli.Context, inodes bool) (*toolTarget, error) {
	args := c.Args().Slice()
	if len(args) == 0 || !a.isLocalForm(args, inodes) {
		if err := checkArgs(c, 2, -1); err != nil {
			return nil, err
		}
		t := &toolTarget{metaURL: args[0]}
		for _, p := range args[1:] {
			t.paths = append(t.paths, toolPath{arg: p, inVolume: p})
		}
		return t, nil
	}
	t := &toolTarget{mounted: true}
	for _, p := range args {
		local := p
		if inodes {
			local = "."
		}
		url, inVolume, err := a.reachThroughMount(c, local)
		if err != nil {
			return nil, err
		}
		if t.metaURL != "" && url != t.metaURL {
			return nil, fmt.Errorf("%s is in another volume than %s: give the paths of one volume at a time", p, t.paths[0].arg)
		}
		t.metaURL = url
		if inodes {
			inVolume = p
		}
		t.paths = append(t.paths, toolPath{arg: p, inVolume: inVolume})
	}
	return t, nil
}

// isLocalForm tells whether the arguments are juicefs's PATH... (or
// INODE... with inodes): the first one is no META-URL but a path that
// exists here, or the only argument (META-URL PATH needs two), or, with
// inodes, a number.
func (a *app) isLocalForm(args []string, inodes bool) bool {
	first := args[0]
	if strings.Contains(first, "://") {
		return false
	}
	if inodes {
		_, err := strconv.ParseUint(first, 10, 64)
		return err == nil
	}
	if _, err := os.Lstat(first); err == nil {
		return true
	}
	return len(args) == 1
}

// reachThroughMount finds the volume mounted at or above local, and the
// path of local inside it.
func (a *app) reachThroughMount(c *cli.Context, local string) (metaURL, inVolume string, err error) {
	usage := fmt.Sprintf("%s %s META-URL PATH", a.name, c.Command.Name)
	abs, err := filepath.Abs(local)
	if err == nil {
		_, err = os.Lstat(abs)
	}
	if err != nil {
		return "", "", fmt.Errorf("%s: %s; %s takes a path inside a mounted volume, or the volume's META-URL and a path inside it: %s",
			local, errnoText(err), c.Command.Name, usage)
	}
	m, err := a.findMount(abs)
	if err != nil {
		return "", "", fmt.Errorf("find the mount of %s: %w", local, err)
	}
	if !m.isVolumeMount() {
		return "", "", fmt.Errorf("%s is not inside a mounted JuiceFS volume (it is on the %s file system mounted at %s); give the volume's META-URL and a path inside it: %s",
			local, m.fsType, m.mountPoint, usage)
	}
	err = errNoMountAccess
	if a.resolveMount != nil {
		metaURL, inVolume, err = a.resolveMount(c.Context, m)
	}
	if errors.Is(err, errNoMountAccess) {
		return "", "", fmt.Errorf("%s is inside the volume mounted at %s, but %w; give the volume's META-URL and the path inside the volume instead: %s %s META-URL %s",
			local, m.mountPoint, errNoMountAccess, a.name, c.Command.Name, m.rel)
	}
	return metaURL, inVolume, err
}

// findMount finds the mount holding the absolute path p, from the mount
// table of this process.
func findMount(p string) (mountedPath, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return mountedPath{}, err
	}
	defer f.Close()
	return findMountIn(f, p)
}

// findMountIn finds, in a mountinfo table, the innermost mount holding p.
func findMountIn(r io.Reader, p string) (mountedPath, error) {
	best := mountedPath{local: p}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// ID parent major:minor root mount-point options [optional...] - type source super-options
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || sep+2 >= len(fields) {
			continue
		}
		mp := unescapeMountField(fields[4])
		rel, ok := below(p, mp)
		if !ok || len(mp) < len(best.mountPoint) {
			continue
		}
		best.mountPoint, best.rel = mp, rel
		best.fsType, best.source = fields[sep+1], unescapeMountField(fields[sep+2])
	}
	if err := sc.Err(); err != nil {
		return mountedPath{}, err
	}
	if best.mountPoint == "" {
		return mountedPath{}, fmt.Errorf("no mount holds %s", p)
	}
	return best, nil
}

// below tells whether p is dir or inside it, and p's path from dir ("/"
// for dir itself).
func below(p, dir string) (string, bool) {
	if dir == "/" {
		return p, true
	}
	if p == dir {
		return "/", true
	}
	if strings.HasPrefix(p, dir+"/") {
		return p[len(dir):], true
	}
	return "", false
}

// unescapeMountField undoes the octal escapes of mountinfo ("\040" for a
// space).
func unescapeMountField(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
